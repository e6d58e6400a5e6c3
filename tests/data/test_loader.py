from __future__ import annotations

import pytest
import torch

from videofocalnet.data.dataset import BadVideoTracker, TooManyBadVideosError, VideoDataset
from videofocalnet.data.loader import (
    EvalDistributedSampler,
    ResumableDistributedSampler,
    build_loader,
    set_loader_epoch,
)
from videofocalnet.data.transforms import EvalTransform, TrainTransform

SMALL_TRAIN = TrainTransform(short_side=32, size=28)


def make_ds(root, list_file, mode="train", **kw):
    return VideoDataset(list_file=list_file, root=root, num_frames=4, mode=mode, train_transform=SMALL_TRAIN,
                        eval_transform=kw.pop("eval_transform", EvalTransform(short_side=32, crop=32)), **kw)


def test_eval_sampler_covers_every_index_once():
    for n, r in [(7, 3), (2, 4), (10, 1), (0, 2)]:
        shards = [list(EvalDistributedSampler(n, num_replicas=r, rank=k)) for k in range(r)]
        assert sorted(i for s in shards for i in s) == list(range(n))
        assert sum(len(EvalDistributedSampler(n, num_replicas=r, rank=k)) for k in range(r)) == n


def test_resumable_sampler_matches_distributed_semantics_and_resumes():
    n, r = 23, 3
    samplers = [ResumableDistributedSampler(n, num_replicas=r, rank=k, seed=5) for k in range(r)]
    for s in samplers:
        s.set_epoch(2)
    orders = [list(s) for s in samplers]
    assert all(len(o) == 7 for o in orders)
    flat = [i for o in orders for i in o]
    assert len(set(flat)) == 21  # drop_last: disjoint, 2 samples trimmed
    g = torch.Generator()
    g.manual_seed(5 + 2)
    perm = torch.randperm(n, generator=g).tolist()
    assert orders[1] == perm[1:21:3]  # the torch DistributedSampler recipe

    s = samplers[1]
    s.set_start_index(4)
    assert list(s) == orders[1][4:] and len(s) == 3
    s.set_epoch(2)  # same epoch: the resume point holds
    assert list(s) == orders[1][4:]
    s.set_epoch(3)  # next epoch starts from the beginning
    assert len(list(s)) == 7 and list(s) != orders[1]

    padded = ResumableDistributedSampler(7, num_replicas=3, rank=2, shuffle=False, drop_last=False)
    assert list(padded) == [2, 5, 1]
    with pytest.raises(ValueError):
        s.set_start_index(8)


def test_train_and_test_batches(video_dataset_dir):
    root, list_file = video_dataset_dir(n=5)
    loader = build_loader(make_ds(root, list_file), batch_size=2, train=True)
    batches = list(loader)
    assert len(batches) == 2  # 5 samples, last incomplete batch dropped
    assert batches[0]["video"].shape == (2, 4, 3, 28, 28) and batches[0]["label"].dtype == torch.long
    test_ds = make_ds(root, list_file, mode="test", num_clips=2, num_crops=3,
                      eval_transform=EvalTransform(short_side=32, crop=32, num_crops=3))
    batches = list(build_loader(test_ds, batch_size=2, train=False))
    assert [b["video"].shape[0] for b in batches] == [2, 2, 1]  # eval never drops
    assert batches[0]["video"].shape == (2, 6, 4, 3, 32, 32)
    assert torch.cat([b["index"] for b in batches]).tolist() == [0, 1, 2, 3, 4]


def test_corrupt_file_skipped_counted_named(video_dataset_dir):
    root, list_file = video_dataset_dir(n=6, bad=[2])
    loader = build_loader(make_ds(root, list_file, mode="val"), batch_size=3, train=False)
    tracker = BadVideoTracker(max_bad_fraction=0.5, min_seen=1)
    seen = []
    for batch in loader:
        tracker.update(len(batch["path"]), batch["bad"])
        seen += batch["index"].tolist()
    assert seen == [0, 1, 3, 4, 5]
    summary = tracker.summary()
    assert summary["bad"] == 1 and summary["seen"] == 6 and summary["bad_paths"][0].endswith("class2/v002.mp4")

    strict = BadVideoTracker(max_bad_fraction=0.1, min_seen=3)
    with pytest.raises(TooManyBadVideosError, match="v002.mp4"):
        for batch in build_loader(make_ds(root, list_file, mode="val"), batch_size=3, train=False):
            strict.update(len(batch["path"]), batch["bad"])


def test_workers_give_same_batches_and_resume(video_dataset_dir):
    root, list_file = video_dataset_dir(n=6)
    ds = make_ds(root, list_file, seed=3)

    def run(num_workers, start_index=0, epochs=(0, 1)):
        loader = build_loader(ds, batch_size=2, train=True, num_workers=num_workers, seed=9,
                              start_index=start_index)
        out = []
        for epoch in epochs:
            set_loader_epoch(loader, epoch)
            out.append([(b["index"].tolist(), b["video"]) for b in loader])
        return out

    serial = run(0)
    parallel = run(2)  # persistent workers: set_epoch must still reach them
    for e in range(2):
        assert [i for i, _ in serial[e]] == [i for i, _ in parallel[e]]
        for (_, a), (_, b) in zip(serial[e], parallel[e]):
            assert torch.equal(a, b)
    assert not torch.equal(serial[0][0][1], serial[1][0][1])
    # resuming two samples (one batch) into epoch 0 reproduces the tail exactly
    resumed = build_loader(ds, batch_size=2, train=True, seed=9)
    set_loader_epoch(resumed, 0)
    resumed.sampler.set_start_index(2)
    tail = [(b["index"].tolist(), b["video"]) for b in resumed]
    assert [i for i, _ in tail] == [i for i, _ in serial[0][1:]]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(tail, serial[0][1:]))
