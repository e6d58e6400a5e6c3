from __future__ import annotations

import logging

import pytest
import torch

from videofocalnet.data.dataset import (
    BadVideoTracker,
    TooManyBadVideosError,
    VideoDataset,
    collate_skip_bad,
    sample_seed,
)
from videofocalnet.data.transforms import EvalTransform, TrainTransform

SMALL_TRAIN = TrainTransform(short_side=32, size=28)


def test_train_sample_shape_label_and_reproducibility(video_dataset_dir):
    root, list_file = video_dataset_dir(n=3)
    ds = VideoDataset(
        list_file=list_file, root=root, num_frames=4, mode="train", train_transform=SMALL_TRAIN, seed=1, num_classes=3
    )
    assert len(ds) == 3
    s = ds[2]
    assert s["video"].shape == (4, 3, 28, 28) and s["video"].dtype == torch.float32
    assert (s["label"], s["index"]) == (2, 2) and s["path"].endswith("class2/v002.mp4")
    assert torch.equal(ds[2]["video"], s["video"])  # same (seed, epoch, index) -> same clip
    ds.set_epoch(1)
    assert not torch.equal(ds[2]["video"], s["video"])  # a new epoch draws new frames/augmentation
    ds.set_epoch(0)
    assert torch.equal(ds[2]["video"], s["video"])


def test_val_and_test_views(video_dataset_dir):
    root, list_file = video_dataset_dir(n=2, size=40)
    val = VideoDataset(
        list_file=list_file, root=root, num_frames=4, mode="val", eval_transform=EvalTransform(short_side=32, crop=32)
    )
    assert val[0]["video"].shape == (4, 3, 32, 32)
    test = VideoDataset(
        list_file=list_file,
        root=root,
        num_frames=4,
        mode="test",
        num_clips=2,
        num_crops=3,
        eval_transform=EvalTransform(short_side=32, crop=32, num_crops=3),
    )
    views = test[1]["video"]
    assert views.shape == (6, 4, 3, 32, 32)
    # view 1 (clip 0, centre crop) differs from view 4 (clip 1, centre crop) only through the frames sampled
    assert not torch.equal(views[1], views[4])
    dense = VideoDataset(
        list_file=list_file,
        root=root,
        num_frames=4,
        frame_interval=2,
        mode="test",
        sampling="dense",
        num_clips=3,
        eval_transform=EvalTransform(short_side=32, crop=32),
    )
    assert dense[0]["video"].shape == (3, 4, 3, 32, 32)


def test_frames_come_from_the_sampled_indices(video_dataset_dir, tmp_path, pattern):
    """Decode the raw clip the dataset would build and check its frames are the TSN centres."""
    root, list_file = video_dataset_dir(n=1, num_frames=16, size=48)
    ds = VideoDataset(list_file=list_file, root=root, num_frames=4, mode="val")
    from videofocalnet.data.decode import open_video

    with open_video(ds.video_path(0)) as reader:
        idx = ds._clip_indices(reader.num_frames, ds.generator_for(0))
        frames = reader.read(idx[0])
    assert idx == [[2, 6, 10, 14]] and pattern(frames) == [2, 6, 10, 14]


def test_bad_video_returns_error_sample(video_dataset_dir):
    root, list_file = video_dataset_dir(n=3, bad=[1])
    ds = VideoDataset(list_file=list_file, root=root, num_frames=4, train_transform=SMALL_TRAIN)
    s = ds[1]
    assert s["video"] is None and "DecodeError" in s["error"] and s["path"].endswith("v001.mp4")
    missing = list_file.parent / "missing.csv"
    missing.write_text("nowhere/x.mp4,0\n")
    s = VideoDataset(list_file=missing, root=root, num_frames=4)[0]
    assert s["video"] is None and "does not exist" in s["error"]


def test_label_validation_names_file_and_line(video_dataset_dir, tmp_path):
    root, _ = video_dataset_dir(n=1)
    lst = tmp_path / "bad_labels.txt"
    lst.write_text("class0/v000.mp4 0\nclass0/v000.mp4 7\n")  # mmaction format
    with pytest.raises(ValueError, match=r"bad_labels.txt:2.*7"):
        VideoDataset(list_file=lst, root=root, num_classes=3)
    assert len(VideoDataset(list_file=lst, root=root)) == 2  # without num_classes any label >= 0 is fine


def test_argument_validation(video_dataset_dir):
    root, list_file = video_dataset_dir(n=1)
    with pytest.raises(ValueError):
        VideoDataset(list_file=list_file, root=root, mode="eval")
    with pytest.raises(ValueError):
        VideoDataset(list_file=list_file, root=root, mode="train", num_clips=4)
    with pytest.raises(ValueError):
        VideoDataset(list_file=list_file, root=root, mode="test", num_crops=3, eval_transform=EvalTransform())


def test_collate_skip_bad():
    good = dict(video=torch.zeros(2, 3, 4, 4), label=1, index=0, path="a.mp4")
    bad = dict(video=None, label=2, index=1, path="b.mp4", error="DecodeError: broken")
    out = collate_skip_bad([good, bad, dict(good, index=2, label=0, path="c.mp4")])
    assert out["video"].shape == (2, 2, 3, 4, 4)
    assert out["label"].tolist() == [1, 0] and out["label"].dtype == torch.long
    assert out["index"].tolist() == [0, 2] and out["path"] == ["a.mp4", "c.mp4"]
    assert out["bad"] == [("b.mp4", "DecodeError: broken")]
    all_bad = collate_skip_bad([bad])
    assert all_bad["video"] is None and all_bad["label"].numel() == 0 and len(all_bad["bad"]) == 1


def test_bad_video_tracker(caplog):
    tracker = BadVideoTracker(max_bad_fraction=0.1, min_seen=20)
    with caplog.at_level(logging.WARNING):
        tracker.update(9, [("x.mp4", "broken")])  # 10% bad, but only 10 seen: no decision yet
        tracker.update(10, [("x.mp4", "broken")])  # same path again: counted, logged once
    assert [r.getMessage().count("x.mp4") for r in caplog.records] == [1]
    assert tracker.summary() == dict(seen=21, bad=2, bad_fraction=2 / 21, bad_paths=["x.mp4"])
    with pytest.raises(TooManyBadVideosError, match="y.mp4"):
        tracker.update(0, [("y.mp4", "truncated")])  # 3 / 22 > 10%


def test_sample_seed_mixes_all_parts():
    seeds = {sample_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27


def test_frame_folder_entries(make_frame_folder, tmp_path, pattern):
    folder = make_frame_folder(num_frames=12, ext="jpg", name="root/clip_a")
    lst = tmp_path / "frames.txt"
    lst.write_text("clip_a 1\n")
    ds = VideoDataset(
        list_file=lst,
        root=folder.parent,
        num_frames=4,
        mode="val",
        eval_transform=EvalTransform(short_side=32, crop=32),
    )
    s = ds[0]
    assert s["video"].shape == (4, 3, 32, 32) and s["label"] == 1


def test_time_reversal_augmentation_flips_frames_and_swaps_the_label(video_dataset_dir):
    root, list_file = video_dataset_dir(n=3)
    common = dict(
        list_file=list_file, root=root, num_frames=4, mode="train", train_transform=SMALL_TRAIN, seed=1, num_classes=3
    )
    plain = VideoDataset(**common)
    always = VideoDataset(**common, reverse_prob=1.0, reverse_label_map=[1, 0, 2])
    for i in range(3):
        a, b = plain[i], always[i]
        assert torch.equal(b["video"], a["video"].flip(0))  # same frames and crop, played backwards
        assert b["label"] == [1, 0, 2][a["label"]]
    half = VideoDataset(**common, reverse_prob=0.5, reverse_label_map=[1, 0, 2])
    flips = []
    for epoch in range(8):
        half.set_epoch(epoch)
        plain.set_epoch(epoch)
        flips.append(not torch.equal(half[0]["video"], plain[0]["video"]))
    assert 0 < sum(flips) < 8  # drawn per (seed, epoch, index)
    with pytest.raises(ValueError, match="reverse_label_map"):
        VideoDataset(**common, reverse_prob=0.5)
    with pytest.raises(ValueError, match="reverse_prob"):
        VideoDataset(**common, reverse_prob=1.5, reverse_label_map=[0, 1, 2])


def test_decoded_cache_serves_the_same_clips_without_reopening_files(video_dataset_dir):
    root, list_file = video_dataset_dir(n=4, num_frames=12)
    common = dict(list_file=list_file, root=root, num_frames=4, train_transform=SMALL_TRAIN, seed=3, num_classes=3)
    plain = VideoDataset(**common, mode="train")
    cached = VideoDataset(**common, mode="train", cache_decoded_bytes=2**20)
    multi = dict(mode="test", num_clips=2, eval_transform=EvalTransform(short_side=32, crop=32))
    plain_test = VideoDataset(**common, **multi)
    cached_test = VideoDataset(**common, **multi, cache_decoded_bytes=2**20)
    expected = {}
    for epoch in range(2):
        plain.set_epoch(epoch)
        for i in range(4):
            expected[epoch, i] = plain[i]["video"]
    expected_test = [plain_test[i]["video"] for i in range(4)]
    cached.set_epoch(0)
    for i in range(4):  # the first epoch decodes every video whole ...
        assert torch.equal(cached[i]["video"], expected[0, i])
        assert torch.equal(cached_test[i]["video"], expected_test[i])
    assert len(cached.decoded_cache) == 4 and cached.decoded_cache.bytes == 4 * 12 * 32 * 32 * 3
    for path in root.rglob("*.mp4"):  # ... and later ones never open a file again
        path.rename(path.with_suffix(".moved"))
    assert plain[0]["video"] is None and "does not exist" in plain[0]["error"]
    cached.set_epoch(1)
    for i in range(4):
        assert torch.equal(cached[i]["video"], expected[1, i])
        assert torch.equal(cached_test[i]["video"], expected_test[i])


def test_decoded_cache_stops_growing_at_its_budget(video_dataset_dir):
    root, list_file = video_dataset_dir(n=5, num_frames=8)
    one_video = 8 * 32 * 32 * 3
    common = dict(list_file=list_file, root=root, num_frames=4, train_transform=SMALL_TRAIN, seed=3, num_classes=3)
    plain = VideoDataset(**common)
    cached = VideoDataset(**common, cache_decoded_bytes=2 * one_video + 100)
    for i in range(5):
        assert torch.equal(cached[i]["video"], plain[i]["video"])  # past the budget: read sparsely, same clips
    cache = cached.decoded_cache
    assert (len(cache), cache.bytes, cache.full) == (2, 2 * one_video, True)
    assert cache.get(root / "class0/v000.mp4") is not None and cache.get(root / "class2/v002.mp4") is None
    with pytest.raises(ValueError, match="cache_decoded_bytes"):
        VideoDataset(**common, cache_decoded_bytes=-1)


def test_decoded_cache_keeps_the_readers_frame_count_and_reports_bad_files(video_dataset_dir):
    from videofocalnet.data.decode import DecodedVideoCache, open_video

    root, list_file = video_dataset_dir(n=2, bad=[1], num_frames=6)
    cache = DecodedVideoCache(2**20)
    with open_video(root / "class0/v000.mp4") as reader:
        num_frames, frames = cache.load(reader)
        assert num_frames == reader.num_frames == 6 and torch.equal(frames, reader.read(range(6)))
    ds = VideoDataset(
        list_file=list_file,
        root=root,
        num_frames=4,
        train_transform=SMALL_TRAIN,
        num_classes=3,
        cache_decoded_bytes=2**20,
    )
    assert ds[1]["video"] is None and "v001.mp4" in ds[1]["error"]  # an unreadable file is a bad sample, as before
    with pytest.raises(ValueError, match="max_bytes"):
        DecodedVideoCache(-1)
