"""Decodability and time on real files that lie about themselves (issue 19): a truncated moov-first mp4, an AVI
whose header over-counts, a dropped-frame AVI and a VFR mp4.

Before the fix: ``probe_video`` trusted the header of the truncated mp4 (150 frames, 5 s: OK) where 41 packets exist
and 38 decode; a read near its end raised DecodeError; the dropped-frame AVI (20 frames over 20.1 s) sampled as if its
20 frames were 1.3 s of video, and clips on the VFR file did not span the seconds they claimed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hostile_videos import (  # noqa: E402
    DROPPED_SLOTS,
    dropped_frame_avi,
    frame_indices,
    overcounting_avi,
    truncated_mp4,
    vfr_mp4,
    vfr_pts_ms,
)
from videofocalnet.data.dataset import VideoDataset  # noqa: E402
from videofocalnet.data.decode import open_video, probe_video, read_frames  # noqa: E402
from videofocalnet.data.sampling import FrameTimes, view_indices  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    return {
        "truncated": truncated_mp4(root / "truncated.mp4"),
        "overcount": overcounting_avi(root / "overcount.avi"),
        "dropped": dropped_frame_avi(root / "dropped.avi", DROPPED_SLOTS),
        "vfr": vfr_mp4(root / "vfr.mp4", vfr_pts_ms(40)),
    }


def test_truncated_mp4_is_reported_with_both_figures(files):
    info = probe_video(files["truncated"])
    assert (info.promised_frames, info.promised_duration_s) == (150, pytest.approx(5.0))
    assert 0 < info.num_frames < 60 and info.duration_s < 2.0  # what decodes: about 38 frames, 1.3 s
    assert info.truncation is not None
    assert "150 frames / 5.00 s" in info.truncation
    assert f"{info.num_frames} decodable frames / {info.duration_s:.2f} s" in info.truncation
    with open_video(files["truncated"]) as reader:
        stored = reader.num_frames
        assert reader.truncation is not None and reader.decodable_frames() == info.num_frames < stored
        # reads past the cut end the video instead of raising (it raised DecodeError before)
        got = reader.read([0, info.num_frames - 1, stored - 1])
    assert frame_indices(got, noise_rows=16)[:2] == [0, info.num_frames - 1]


def test_header_that_over_counts_frames_is_truncated(files):
    info = probe_video(files["overcount"])
    assert (info.num_frames, info.promised_frames) == (40, 100)
    assert (
        info.truncation is not None and "100 frames / 4.00 s" in info.truncation and "40 decodable" in info.truncation
    )


def test_dropped_frame_avi_and_vfr_are_not_truncated_and_keep_their_timestamps(files):
    dropped = probe_video(files["dropped"])
    assert dropped.truncation is None and dropped.num_frames == 20 and dropped.promised_frames == 302
    assert dropped.duration_s == pytest.approx(302 / 15)
    with open_video(files["dropped"]) as reader:
        times = reader.frame_times
    assert times is not None and not times.uniform and times.grid_length == 302
    assert times.times == pytest.approx([slot / 15 for slot in DROPPED_SLOTS])
    vfr = probe_video(files["vfr"])
    assert vfr.truncation is None and vfr.num_frames == 40
    with open_video(files["vfr"]) as reader:
        assert reader.frame_times is not None
        assert reader.frame_times.times == pytest.approx([ms / 1000 for ms in vfr_pts_ms(40)], abs=1e-3)


@pytest.mark.parametrize("name", ["dropped", "vfr"])
@pytest.mark.parametrize("sampling,interval", [("tsn", 1), ("dense", 4)])
def test_clip_times_match_the_frames_pts(files, name, sampling, interval):
    """Every sampled frame is the decodable frame nearest to the time its grid slot stands for, the views cover
    the whole duration, and the read returns exactly those frames."""
    with open_video(files[name]) as reader:
        times = reader.frame_times
        assert times is not None
        n = reader.num_frames
        for train in (False, True):
            g = torch.Generator().manual_seed(3)
            clips = view_indices(sampling, n, 8, interval, num_views=3, train=train, generator=g, times=times)
            g = torch.Generator().manual_seed(3)
            slots = view_indices(sampling, times.grid_length, 8, interval, num_views=3, train=train, generator=g)
            for clip, grid in zip(clips, slots):
                for index, slot in zip(clip, grid):
                    wanted = slot / times.rate
                    gap = abs(times.times[index] - wanted)
                    assert all(gap <= abs(t - wanted) + 1e-9 for t in times.times), (index, slot)
            got = reader.read([i for clip in clips for i in clip])
            assert frame_indices(got) == [i for clip in clips for i in clip]
        eval_clip = view_indices(sampling, n, 8, interval, times=times)[0]
    if sampling == "tsn":  # eval TSN centres: the clip spans the file's seconds, not its first frames
        span = times.times[eval_clip[-1]] - times.times[eval_clip[0]]
        assert span > 0.7 * times.end_s
        assert sorted(set(eval_clip)) != list(range(len(set(eval_clip))))


def test_constant_rate_files_keep_index_sampling_exactly(make_video):
    path = make_video("cfr.mp4", num_frames=50)
    with open_video(path) as reader:
        times = reader.frame_times
    assert times is not None and times.uniform and times.grid_length == 50
    for sampling, interval in (("tsn", 1), ("dense", 2), ("dense", 8)):
        for train in (False, True):
            for views in (1, 3):
                a = view_indices(sampling, 50, 8, interval, num_views=views, train=train,
                                 generator=torch.Generator().manual_seed(5))  # fmt: skip
                b = view_indices(sampling, 50, 8, interval, num_views=views, train=train,
                                 generator=torch.Generator().manual_seed(5), times=times)  # fmt: skip
                assert a == b


def test_frame_times_validate_and_map():
    times = FrameTimes((0.0, 0.1, 1.0), 1.1, 10.0)
    assert times.grid_length == 11 and not times.uniform
    assert times.to_frames([0, 1, 4, 6, 10]) == [0, 1, 1, 2, 2]
    assert times.first_frame_at(0.5) == 2 and times.first_frame_at(2.0) == 3
    assert times.head(2) == FrameTimes((0.0, 0.1), 1.0, 10.0)
    assert FrameTimes.constant(4, 2.0).uniform
    for bad in (lambda: FrameTimes((), 1.0, 1.0), lambda: FrameTimes((0.0,), 1.0, 0.0),
                lambda: FrameTimes((0.0, 1.0, 0.5), 2.0, 1.0)):  # fmt: skip
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="times hold 3 frames"):
        view_indices("tsn", 4, 2, 1, times=times)


def test_datasets_skip_and_count_truncated_files_and_sample_in_time(files, tmp_path):
    root = files["dropped"].parent
    listing = tmp_path / "list.csv"
    listing.write_text("truncated.mp4,0\novercount.avi,1\ndropped.avi,0\n")
    for mode in ("train", "val"):
        dataset = VideoDataset(list_file=listing, root=root, num_frames=4, mode=mode, sampling="tsn")
        for index in (0, 1):
            sample = dataset[index]
            assert sample["video"] is None and "truncated: the header promises" in sample["error"]
        assert dataset[2]["video"] is not None
    # the val clip of the dropped-frame AVI takes the frames nearest to the TSN centres in seconds (2.5, 7.5, 12.6,
    # 17.6 s): frames at 2.1, 8.0, 13.3, 16.7 s; index-based sampling took frames [2, 7, 12, 17] of 20, at 0.1, 2.1,
    # 10.0 and 16.7 s
    dataset = VideoDataset(list_file=listing, root=root, num_frames=4, mode="val", sampling="tsn")
    with open_video(files["dropped"]) as reader:
        clip = dataset._clip_indices(reader.num_frames, dataset.generator_for(2), reader.frame_times)[0]
        assert clip == [reader.frame_times.nearest_frame(s / 15) for s in (37, 113, 188, 264)] == [7, 11, 15, 17]
        assert frame_indices(read_frames(files["dropped"], clip)) == clip
