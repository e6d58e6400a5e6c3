from __future__ import annotations

import pytest
import torch

from videofocalnet.data.dataset import BadVideoTracker, TooManyBadVideosError, VideoDataset
from videofocalnet.data.loader import (
    ClassBalancedSampler,
    EvalDistributedSampler,
    ResumableDistributedSampler,
    ResumableSampler,
    build_loader,
    set_loader_epoch,
)
from videofocalnet.data.transforms import EvalTransform, TrainTransform, reversal_label_map

SMALL_TRAIN = TrainTransform(short_side=32, size=28)


def make_ds(root, list_file, mode="train", **kw):
    return VideoDataset(
        list_file=list_file,
        root=root,
        num_frames=4,
        mode=mode,
        train_transform=SMALL_TRAIN,
        eval_transform=kw.pop("eval_transform", EvalTransform(short_side=32, crop=32)),
        **kw,
    )


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


def test_training_samplers_share_the_resumable_base():
    """build_loader and the trainer resume any training sampler through ResumableSampler's interface."""
    balanced = ClassBalancedSampler([0, 1, 0, 1], num_classes=2)
    for sampler in (ResumableDistributedSampler(4), balanced):
        assert isinstance(sampler, ResumableSampler)
        sampler.set_start_index(1)
        assert len(sampler) == 3
    assert not isinstance(EvalDistributedSampler(4), ResumableSampler)


def _final_labels(keys, labels, label_map):
    return [label_map[labels[i]] if rev else labels[i] for i, rev in keys]


def test_class_balanced_sampler_balances_after_reversal():
    # 5 classes, very unequal: 40, 3, 10, 1, 6 videos; pairs (0, 1) and (2, 3); class 4 plays the same both ways
    labels = [0] * 40 + [1] * 3 + [2] * 10 + [3] * 1 + [4] * 6
    label_map = reversal_label_map([[0, 1], [2, 3]], 5)
    world = 2
    samplers = [
        ClassBalancedSampler(
            labels, num_classes=5, reverse_label_map=label_map, reverse_prob=0.5, num_replicas=world, rank=k, seed=4
        )
        for k in range(world)
    ]
    for s in samplers:
        s.set_epoch(1)
    per_rank = [list(s) for s in samplers]
    assert [len(o) for o in per_rank] == [30, 30] == [len(s) for s in samplers]  # 60 videos over 2 ranks
    stream = [key for pair in zip(*per_rank) for key in pair]  # rank r holds positions r::world
    final = _final_labels(stream, labels, label_map)
    for start in range(0, 60, 5):  # every run of 5 consecutive samples holds each class once
        assert sorted(final[start : start + 5]) == [0, 1, 2, 3, 4]
    assert all(not rev for i, rev in stream if labels[i] == 4)  # no partner: never reversed
    reversed_share = sum(rev for i, rev in stream if labels[i] != 4) / sum(labels[i] != 4 for i, _ in stream)
    assert 0.3 < reversed_share < 0.7
    # classes are drawn through all their videos before repeating one
    class0 = [i for i, _ in stream if labels[i] == 0]
    assert len(set(class0)) == len(class0)
    # deterministic per (seed, epoch), different across epochs
    again = ClassBalancedSampler(
        labels, num_classes=5, reverse_label_map=label_map, reverse_prob=0.5, num_replicas=world, rank=1, seed=4
    )
    again.set_epoch(1)
    assert list(again) == per_rank[1]
    again.set_epoch(2)
    assert list(again) != per_rank[1]
    # exact mid-epoch resume
    again.set_epoch(1)
    again.set_start_index(7)
    assert list(again) == per_rank[1][7:] and len(again) == 23


def test_class_balanced_sampler_both_ways_pairs_each_clip_with_its_reversal():
    labels = [0] * 7 + [1] * 5 + [2] * 4  # pair (0, 1); class 2 has no partner
    label_map = reversal_label_map([[0, 1]], 3)
    sampler = ClassBalancedSampler(
        labels, num_classes=3, reverse_label_map=label_map, reverse_prob=0.5, both_ways=True, seed=1
    )
    keys = list(sampler)
    assert len(keys) == 16
    for (i, r), (j, q) in zip(keys[0::2], keys[1::2]):
        assert i == j and r != q  # the same video, once each way
    final = _final_labels(keys, labels, label_map)
    for start in range(0, 12, 6):  # every run of 2C = 6 holds each class twice
        assert sorted(final[start : start + 6]) == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="both_ways needs reverse_label_map"):
        ClassBalancedSampler(labels, num_classes=3, both_ways=True)
    # Over 3 ranks (5 samples each, an odd count): a pair never straddles ranks, and the pairs of all ranks, in
    # the order the ranks take them (pair k from rank k mod 3), hold each class once per run of C = 3.
    shards = [
        list(
            ClassBalancedSampler(
                labels,
                num_classes=3,
                reverse_label_map=label_map,
                reverse_prob=0.5,
                both_ways=True,
                num_replicas=3,
                rank=k,
                seed=1,
            )
        )
        for k in range(3)
    ]
    assert [len(s) for s in shards] == [5, 5, 5]
    for shard in shards:
        for (i, r), (j, q) in zip(shard[0::2], shard[1::2]):
            assert i == j and r != q
    firsts = [shards[k % 3][2 * (k // 3)] for k in range(9)]  # the first key of every pair, all-rank order
    final = _final_labels(firsts, labels, label_map)
    assert all(sorted(final[k : k + 3]) == [0, 1, 2] for k in range(0, 9, 3))


def test_class_balanced_sampler_without_reversal_and_bad_input():
    labels = [2, 2, 2, 0, 0, 2]  # class 1 has no videos: it is left out, not fabricated
    keys = list(ClassBalancedSampler(labels, num_classes=3, seed=0))
    assert len(keys) == 6 and not any(rev for _, rev in keys)
    final = [labels[i] for i, _ in keys]
    assert all(sorted(final[k : k + 2]) == [0, 2] for k in range(0, 6, 2))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        ClassBalancedSampler([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="reverse_label_map"):
        ClassBalancedSampler([0, 1], num_classes=2, reverse_prob=0.5)
    with pytest.raises(ValueError, match="at least one"):
        ClassBalancedSampler([], num_classes=2)


def test_dataset_honours_the_samplers_reverse_key(video_dataset_dir):
    root, list_file = video_dataset_dir(n=3)
    label_map = reversal_label_map([[0, 1]], 3)
    ds = make_ds(root, list_file, seed=1, reverse_prob=0.5, reverse_label_map=label_map)
    forward, backward = ds[(0, False)], ds[(0, True)]
    assert (forward["label"], backward["label"]) == (0, 1)
    assert torch.equal(backward["video"], forward["video"].flip(0))  # same frames and crop, played backwards
    assert ds[(2, True)]["label"] == 2  # unpaired class keeps its label
    plain = make_ds(root, list_file, seed=1)
    with pytest.raises(ValueError, match="no reverse_label_map"):
        plain[(0, True)]
    # through the loader: batches of 3 hold classes 0, 1, 2 once each
    sampler = ClassBalancedSampler(ds.labels, num_classes=3, reverse_label_map=label_map, reverse_prob=0.5, seed=2)
    loader = build_loader(ds, batch_size=3, train=True, sampler=sampler)
    assert [sorted(b["label"].tolist()) for b in loader] == [[0, 1, 2]]
    with pytest.raises(ValueError, match="for training"):
        build_loader(ds, batch_size=3, train=False, sampler=sampler)


def test_both_ways_partner_is_served_without_a_second_decode(video_dataset_dir):
    root, list_file = video_dataset_dir(n=3)
    label_map = reversal_label_map([[0, 1]], 3)
    ds = make_ds(root, list_file, seed=1, reverse_prob=0.5, reverse_label_map=label_map)
    fresh = make_ds(root, list_file, seed=1, reverse_prob=0.5, reverse_label_map=label_map)
    forward = ds[(0, False)]
    expected_backward = fresh[(0, True)]  # decoded from scratch
    ds.video_path(0).rename(ds.video_path(0).with_suffix(".gone"))  # the file disappears after the first read
    backward = ds[(0, True)]
    assert backward.get("error") is None and torch.equal(backward["video"], expected_backward["video"])
    assert torch.equal(backward["video"], forward["video"].flip(0)) and backward["label"] == 1
    ds.set_epoch(1)  # a new epoch draws new frames and a new crop: the kept clip is not reused
    assert ds[(0, True)]["video"] is None


def test_train_and_test_batches(video_dataset_dir):
    root, list_file = video_dataset_dir(n=5)
    loader = build_loader(make_ds(root, list_file), batch_size=2, train=True)
    batches = list(loader)
    assert len(batches) == 2  # 5 samples, last incomplete batch dropped
    assert batches[0]["video"].shape == (2, 4, 3, 28, 28) and batches[0]["label"].dtype == torch.long
    test_ds = make_ds(
        root,
        list_file,
        mode="test",
        num_clips=2,
        num_crops=3,
        eval_transform=EvalTransform(short_side=32, crop=32, num_crops=3),
    )
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
        loader = build_loader(ds, batch_size=2, train=True, num_workers=num_workers, seed=9, start_index=start_index)
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
