from __future__ import annotations

import pytest
import torch

from videofocalnet.data.sampling import dense_indices, multi_view_tsn_indices, parse_views, tsn_indices, view_indices


def gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def test_tsn_eval_exact_centres():
    # 80 frames / 8 segments of 10: centres 5, 15, ...
    assert tsn_indices(80, 8, train=False) == [5, 15, 25, 35, 45, 55, 65, 75]
    # 30 frames / 8 segments of 3.75: floor((i + 0.5) * 3.75) (mmaction test-mode offsets)
    assert tsn_indices(30, 8, train=False) == [1, 5, 9, 13, 16, 20, 24, 28]
    assert tsn_indices(8, 8, train=False) == list(range(8))


def test_tsn_train_one_frame_per_segment_and_uniform():
    n, s = 30, 8
    bounds = [int(i * n / s) for i in range(s)] + [n]
    counts = torch.zeros(n)
    g = gen(0)
    for _ in range(4000):
        idx = tsn_indices(n, s, train=True, generator=g)
        assert len(idx) == s
        for i, f in enumerate(idx):
            assert bounds[i] <= f < bounds[i + 1]
            counts[f] += 1
    # each frame is drawn with probability 1 / (its segment's size): 4000/3 or 4000/4 times
    for i in range(s):
        seg = counts[bounds[i] : bounds[i + 1]]
        expected = 4000 / len(seg)
        assert ((seg - expected).abs() < 0.15 * expected).all(), (i, seg)


def test_tsn_train_deterministic_per_generator():
    a = tsn_indices(300, 8, train=True, generator=gen(3))
    assert a == tsn_indices(300, 8, train=True, generator=gen(3))
    assert a != tsn_indices(300, 8, train=True, generator=gen(4))


def test_tsn_short_videos_loop():
    assert tsn_indices(3, 8, train=False) == [0, 1, 2, 0, 1, 2, 0, 1]
    assert tsn_indices(3, 8, train=True, generator=gen(0)) == [0, 1, 2, 0, 1, 2, 0, 1]
    assert tsn_indices(1, 4, train=False) == [0, 0, 0, 0]


def test_multi_view_tsn():
    assert multi_view_tsn_indices(80, 8, 1) == [tsn_indices(80, 8, train=False)]
    assert multi_view_tsn_indices(37, 8, 1) == [tsn_indices(37, 8, train=False)]
    views = multi_view_tsn_indices(80, 8, 4)
    # segment of 10, offsets (k + 0.5) / 4 * 10 = 1.25, 3.75, 6.25, 8.75
    assert [v[0] for v in views] == [1, 3, 6, 8]
    assert views[2] == [6 + 10 * i for i in range(8)]
    for v in multi_view_tsn_indices(13, 8, 4):
        assert all(0 <= f < 13 for f in v)
    assert multi_view_tsn_indices(5, 8, 2) == [[0, 1, 2, 3, 4, 0, 1, 2]] * 2


def test_dense_eval_and_train():
    # window 8 x 4 = 32 over 100 frames: slack 68; one view -> centred start 34
    assert dense_indices(100, 8, 4, train=False) == [[34 + 4 * j for j in range(8)]]
    views = dense_indices(100, 8, 4, train=False, num_views=4)
    assert [v[0] for v in views] == [8, 25, 42, 59]  # floor((k + 0.5) / 4 * 68)
    for _ in range(50):
        (clip,) = dense_indices(100, 8, 4, train=True)
        assert 0 <= clip[0] <= 68 and clip == [clip[0] + 4 * j for j in range(8)]
    assert dense_indices(100, 8, 4, train=True, generator=gen(1)) == dense_indices(
        100, 8, 4, train=True, generator=gen(1)
    )


def test_dense_short_video_loops():
    assert dense_indices(10, 8, 2, train=False) == [[0, 2, 4, 6, 8, 0, 2, 4]]
    (clip,) = dense_indices(10, 8, 2, train=True, generator=gen(0))
    assert all(0 <= f < 10 for f in clip) and all((b - a) % 10 == 2 for a, b in zip(clip, clip[1:]))


@pytest.mark.parametrize("bad", [dict(num_video_frames=0), dict(num_segments=0)])
def test_invalid_arguments(bad):
    kwargs = dict(num_video_frames=10, num_segments=8, **{})
    kwargs.update(bad)
    with pytest.raises(ValueError):
        tsn_indices(kwargs["num_video_frames"], kwargs["num_segments"], train=False)


def test_view_indices_dispatches_each_mode_to_its_sampler():
    """The one mode -> sampler choice of datasets and inference: same calls, same generator draws."""
    assert view_indices("tsn", 48, 4, 7, num_views=2) == multi_view_tsn_indices(48, 4, 2)
    assert view_indices("tsn", 48, 4, 7, train=True, generator=gen(3)) == [
        tsn_indices(48, 4, train=True, generator=gen(3))
    ]
    assert view_indices("dense", 48, 4, 3, num_views=3) == dense_indices(48, 4, 3, train=False, num_views=3)
    assert view_indices("dense", 48, 4, 3, train=True, generator=gen(5)) == dense_indices(
        48, 4, 3, train=True, generator=gen(5)
    )
    with pytest.raises(ValueError, match="sampling must be one of tsn, dense, got 'uniform'"):
        view_indices("uniform", 48, 4, 1)


def test_parse_views() -> None:
    assert parse_views("4x3") == (4, 3)
    assert parse_views("1X1") == (1, 1)
    for bad in ("4", "4x2", "0x1", "axb"):
        with pytest.raises(ValueError):
            parse_views(bad)
    assert parse_views("32x1") == (32, 1) and parse_views("16x3") == (16, 3)
    with pytest.raises(ValueError, match=r"clips must be in \[1, 32\], got 2000"):
        parse_views("2000x1")  # used to hold 8 GB of views
    with pytest.raises(ValueError, match="at most 48 views"):
        parse_views("17x3")
