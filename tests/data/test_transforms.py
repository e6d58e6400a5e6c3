from __future__ import annotations

import pytest
import torch

from videofocalnet.data import transforms as T


def gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def random_clip(t=4, h=40, w=60, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=gen(seed))


def test_short_side_resize_shapes_and_dtype():
    clip = random_clip(h=40, w=60)
    out = T.short_side_resize(clip, 20)
    assert out.shape == (4, 3, 20, 30) and out.dtype == torch.uint8
    assert T.short_side_resize(random_clip(h=60, w=40), 20).shape == (4, 3, 30, 20)
    flat = torch.full((2, 3, 40, 60), 77, dtype=torch.uint8)
    assert (T.short_side_resize(flat, 25) == 77).all()  # antialiased resize preserves constants exactly


@pytest.mark.parametrize(("size", "layout"), [((56, 56), "nchw"), ((56, 56), "channels_last"), ((21, 30), "nchw")])
def test_uint8_resize_is_within_one_level_of_the_float_path(size, layout):
    """uint8 goes through interpolate's fixed-point uint8 kernel (torchvision v2's choice); the float path rounded
    is the reference: one level at most, on upscaling (random-resized crops) and downscaling alike."""
    clip = random_clip(t=3, h=44, w=50, seed=3)
    if layout == "channels_last":  # how decoded frames arrive: (T, H, W, C) memory viewed as (T, C, H, W)
        clip = clip.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    out = T.resize(clip, size)
    ref = T.resize(clip.float(), size).round().clamp(0, 255)
    assert out.dtype == torch.uint8 and out.shape == (3, 3, *size)
    assert (out.float() - ref).abs().max() <= 1


def test_resize_is_per_frame():
    clip = random_clip()
    out = T.resize(clip, (16, 24))
    for t in range(clip.shape[0]):
        assert torch.equal(out[t], T.resize(clip[t : t + 1], (16, 24))[0])


def test_random_resized_crop_params_ranges_and_determinism():
    for seed in range(200):
        top, left, h, w = T.random_resized_crop_params(256, 340, (0.08, 1.0), (3 / 4, 4 / 3), gen(seed))
        assert top >= 0 and top + h <= 256 and left >= 0 and left + w <= 340
        area = h * w / (256 * 340)
        assert 0.07 <= area <= 1.0
    assert T.random_resized_crop_params(256, 340, generator=gen(5)) == T.random_resized_crop_params(
        256, 340, generator=gen(5)
    )


def test_resized_crop_takes_the_box():
    clip = torch.zeros((3, 3, 40, 60), dtype=torch.uint8)
    clip[..., 10:20, 30:50] = 200
    out = T.resized_crop(clip, 10, 30, 10, 20, (10, 20))
    assert (out == 200).all()


def test_hflip_exact():
    clip = random_clip()
    flipped = T.hflip(clip)
    assert torch.equal(flipped[..., 0], clip[..., -1]) and torch.equal(T.hflip(flipped), clip)


def test_center_and_three_crop_cover_right_areas():
    # landscape: column index encoded in pixel values
    cols = torch.arange(60, dtype=torch.uint8).view(1, 1, 1, 60).expand(2, 3, 20, 60).contiguous()
    crops = T.three_crop(cols, 20)
    assert crops.shape == (3, 2, 3, 20, 20)
    assert [int(c[0, 0, 0, 0]) for c in crops] == [0, 20, 40]
    assert int(crops[2, 0, 0, 0, -1]) == 59
    assert int(T.center_crop(cols, 20)[0, 0, 0, 0]) == 20
    # portrait: top / centre / bottom
    rows = torch.arange(50, dtype=torch.uint8).view(1, 1, 50, 1).expand(2, 3, 50, 20).contiguous()
    crops = T.three_crop(rows, 20)
    assert [int(c[0, 0, 0, 0]) for c in crops] == [0, 15, 30]
    with pytest.raises(ValueError):
        T.center_crop(rows, 60)


def test_grayscale_and_normalize():
    clip = random_clip()
    g = T.grayscale(clip)
    assert g.shape == clip.shape and torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
    expected = (0.299 * clip[:, 0].float() + 0.587 * clip[:, 1].float() + 0.114 * clip[:, 2].float()).round()
    assert (g[:, 0].float() - expected).abs().max() <= 1
    mean = torch.tensor(T.IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(T.normalize(mean.clone()), torch.zeros(1, 3, 2, 2), atol=1e-5)
    assert T.IMAGENET_MEAN == (123.675, 116.28, 103.53) and T.IMAGENET_STD == (58.395, 57.12, 57.375)


def test_color_jitter_same_params_every_frame_and_deterministic():
    frame = random_clip(t=1)
    clip = frame.expand(5, -1, -1, -1).contiguous()  # five identical frames
    out = T.color_jitter(clip, 0.4, 0.4, 0.2, 0.1, gen(0))
    assert not torch.equal(out, clip)
    for t in range(1, 5):
        assert torch.equal(out[t], out[0])
    assert torch.equal(out, T.color_jitter(clip, 0.4, 0.4, 0.2, 0.1, gen(0)))
    assert not torch.equal(out, T.color_jitter(clip, 0.4, 0.4, 0.2, 0.1, gen(1)))


def test_hue_shift_roundtrip_and_direction():
    # zero hue shift leaves colours (up to rounding) unchanged; a pure red shifted by 1/3 becomes green
    clip = random_clip(t=1)
    assert (T._adjust_hue(clip.float(), 0.0) - clip.float()).abs().max() < 1e-3
    red = torch.zeros((1, 3, 2, 2))
    red[:, 0] = 255
    green = T._adjust_hue(red, 1 / 3)
    assert torch.allclose(green[:, 1], torch.full((1, 2, 2), 255.0), atol=1e-3) and green[:, 0].abs().max() < 1e-3


def test_rand_augment_really_changes_and_keeps_frames_consistent():
    frame = random_clip(t=1, h=32, w=32)
    clip = frame.expand(3, -1, -1, -1).contiguous()
    changed = 0
    for seed in range(10):
        out = T.rand_augment(clip, 2, 9, gen(seed))
        assert out.shape == clip.shape and out.dtype == torch.uint8
        assert torch.equal(out[1], out[0]) and torch.equal(out[2], out[0])
        changed += not torch.equal(out, clip)
        assert torch.equal(out, T.rand_augment(clip, 2, 9, gen(seed)))
    assert changed >= 7
    for name, op in T._RAND_AUGMENT_OPS.items():  # every op runs and keeps the layout
        assert op(clip.float(), 0.9, gen(0)).shape == clip.shape, name


def test_random_erasing_same_box_every_frame():
    clip = torch.zeros((4, 3, 32, 32))
    out = T.random_erasing(clip, 1.0, gen(0))
    erased = out != 0
    assert erased.any()
    for t in range(1, 4):
        assert torch.equal(erased[t], erased[0]) and torch.equal(out[t], out[0])
    assert torch.equal(T.random_erasing(clip, 0.0, gen(0)), clip)
    with pytest.raises(ValueError):
        T.random_erasing(clip.to(torch.uint8), 1.0, gen(0))


def test_train_transform_shape_determinism_and_frame_consistency():
    frame = random_clip(t=1, h=68, w=120)
    clip = frame.expand(4, -1, -1, -1).contiguous()
    tf = T.TrainTransform(short_side=64, size=56)
    out = tf(clip, gen(0))
    assert out.shape == (4, 3, 56, 56) and out.dtype == torch.float32
    for t in range(1, 4):
        assert torch.equal(out[t], out[0])  # same crop/flip/jitter on every frame
    assert torch.equal(out, tf(clip, gen(0)))
    assert not torch.equal(out, tf(clip, gen(1)))
    # with every random step off except the crop, a constant clip stays exactly the normalised constant
    flat = torch.full((2, 3, 68, 120), 100, dtype=torch.uint8)
    plain = T.TrainTransform(short_side=64, size=56, flip_prob=0, color_jitter_prob=0, grayscale_prob=0)
    expected = (100 - torch.tensor(T.IMAGENET_MEAN)) / torch.tensor(T.IMAGENET_STD)
    assert torch.allclose(plain(flat, gen(3)), expected.view(1, 3, 1, 1).expand(2, 3, 56, 56), atol=1e-5)


def test_train_transform_flip_probability():
    clip = torch.arange(64, dtype=torch.uint8).view(1, 1, 1, 64).expand(1, 3, 64, 64).contiguous()
    tf = T.TrainTransform(
        short_side=64, size=64, scale=(1.0, 1.0), ratio=(1.0, 1.0), color_jitter_prob=0, grayscale_prob=0
    )
    flips = sum(bool(tf(clip, gen(s))[0, 0, 0, 0] > tf(clip, gen(s))[0, 0, 0, -1]) for s in range(200))
    assert 70 < flips < 130


def test_eval_transform_views():
    clip = random_clip(t=3, h=40, w=60)
    one = T.EvalTransform(short_side=32, crop=32, num_crops=1)(clip)
    three = T.EvalTransform(short_side=32, crop=32, num_crops=3)(clip)
    assert one.shape == (1, 3, 3, 32, 32) and three.shape == (3, 3, 3, 32, 32)
    assert torch.equal(three[1], one[0])  # middle crop is the centre crop
    with pytest.raises(ValueError):
        T.EvalTransform(num_crops=2)


def test_reversal_label_map_swaps_pairs_and_keeps_the_rest():
    from videofocalnet.data.transforms import reversal_label_map

    assert reversal_label_map([(0, 1), (3, 2)], 5) == [1, 0, 3, 2, 4]
    assert reversal_label_map([], 2) == [0, 1]
    for bad in ([(0, 5)], [(0, 1), (1, 2)], [(1, 1)], [(0, 1, 2)]):
        with pytest.raises(ValueError):
            reversal_label_map(bad, 5)


def test_time_reverse_plays_the_clip_backwards_under_the_partner_label():
    from videofocalnet.data.transforms import time_reverse

    clip = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)  # frame t is filled with t
    out, label = time_reverse(clip, 2, [1, 0, 2])
    assert label == 2 and out[:, 0, 0, 0].tolist() == [3.0, 2.0, 1.0, 0.0]
    assert time_reverse(clip, 0, [1, 0, 2])[1] == 1
    with pytest.raises(ValueError, match="label 3"):
        time_reverse(clip, 3, [1, 0, 2])


@pytest.mark.parametrize("mode", ["const", "rand", "pixel"])
def test_random_erasing_modes_fill_as_timm(mode):
    clip = torch.full((3, 3, 32, 32), 5.0)
    out = T.random_erasing(clip, 1.0, gen(0), mode=mode)
    erased = out != 5.0
    assert erased.any() and torch.equal(erased[0], erased[1])  # one box, the same on every frame
    values = out[0][erased[0]].view(3, -1)  # (C, pixels of the box)
    if mode == "const":
        assert torch.all(values == 0)
    elif mode == "rand":
        assert torch.all(values == values[:, :1]) and not torch.all(values == 0)  # one colour per channel
    else:
        assert values.unique().numel() > 100  # noise per pixel
    assert torch.equal(out, T.random_erasing(clip, 1.0, gen(0), mode=mode))  # seeded


def test_random_erasing_count_draws_several_smaller_boxes():
    clip = torch.full((2, 3, 64, 64), 5.0)
    counts = set()
    for seed in range(12):
        out = T.random_erasing(clip, 1.0, gen(seed), mode="const", count=4)
        mask = (out[0, 0] == 0).float()
        # one rectangle starts at one column; two distinct left edges mean at least two boxes
        counts.add(int((mask.diff(dim=1) == 1).any(dim=0).sum() + mask[:, 0].any()))
    assert max(counts) > 1
    with pytest.raises(ValueError, match="mode must be one of const, rand, pixel"):
        T.random_erasing(clip, 1.0, gen(0), mode="zeros")
