"""Skipping is exact (issue 19): a batch in which no video decodes is replaced by the next one and counted in the
sampler position, so a resume after it is bit-identical to an uninterrupted run; an all-broken list stops in its
first batch with an error naming DATA.MAX_BAD_FRACTION.

Before the fix: the position advanced by one batch per micro-batch whatever was consumed, so a resume after a
replaced batch replayed an already-used batch, and an epoch with one replaced batch ended with "ran out of training
batches"; the bad-fraction check waited for 100 samples, so an all-broken list died with "ran out of training
batches" and never named the setting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videofocalnet.data.dataset import BadVideoTracker, TooManyBadVideosError
from videofocalnet.data.loader import ResumableDistributedSampler
from videofocalnet.engine.config import load_config
from videofocalnet.engine.train import TrainCallback, train

BROKEN = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4  # an mp4 signature followed by garbage


class _Stop(Exception):
    pass


class _StopAfter(TrainCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_checkpoint(self, recipe) -> None:
        if recipe.state.global_step == self.step:
            raise _Stop


def _list_with_a_broken_batch(tiny_videos, tmp_path: Path, seed: int) -> tuple[Path, list[int]]:
    """The 12 tiny training videos plus 2 broken files placed where epoch 0's shuffled order puts them together,
    as the second batch of 2."""
    good = [line for line in tiny_videos.train_list.read_text().splitlines() if line.strip()]
    order = ResumableDistributedSampler(len(good) + 2, seed=seed).rank_indices()  # epoch 0
    bad_at = [order[2], order[3]]
    lines, rest = [], iter(good)
    for i in range(len(good) + 2):
        if i in bad_at:
            path = tmp_path / f"broken{i}.mp4"
            path.write_bytes(BROKEN)
            lines.append(f"{path},0")
        else:
            lines.append(next(rest))
    listing = tmp_path / "train_with_broken.csv"
    listing.write_text("\n".join(lines) + "\n")
    return listing, bad_at


def test_resume_after_an_all_unreadable_batch_is_bit_identical(write_tiny_config, tiny_videos, tmp_path):
    path = write_tiny_config()
    seed = load_config(path).SEED
    listing, _ = _list_with_a_broken_batch(tiny_videos, tmp_path, seed)
    opts = ["DATA.TRAIN_FILE", str(listing), "DATA.MAX_BAD_FRACTION", "0.5", "TRAIN.CHECKPOINT_EVERY_STEPS", "1"]
    cfg = load_config(path, opts)
    whole = train(cfg, output=tmp_path / "whole", progress=False)
    # 7 batches in epoch 0, one replaced: 6 updates (it ended with "ran out of training batches" before the fix)
    assert whole["global_step"] in (12, 13)
    with pytest.raises(_Stop):  # stopped right after the update that took the replaced batch and its replacement
        train(cfg, output=tmp_path / "split", progress=False, callbacks=[_StopAfter(2)])
    state = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert (state["progress"]["batch_in_epoch"], state["progress"]["skipped_in_epoch"]) == (3, 1)
    resumed = train(cfg, output=tmp_path / "split", progress=False)
    assert resumed["global_step"] == whole["global_step"]
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_an_all_broken_list_stops_in_the_first_batch_naming_the_setting(write_tiny_config, tmp_path, cli):
    lines = []
    for i in range(8):
        (tmp_path / f"b{i}.mp4").write_bytes(BROKEN)
        lines.append(f"{tmp_path / f'b{i}.mp4'},{i % 3}")
    listing = tmp_path / "all_broken.csv"
    listing.write_text("\n".join(lines) + "\n")
    path = write_tiny_config()
    with pytest.raises(TooManyBadVideosError) as err:
        train(load_config(path, ["DATA.TRAIN_FILE", str(listing)]), output=tmp_path / "run", progress=False)
    message = str(err.value)
    assert message.startswith("2 of 2 samples unreadable") and "DATA.MAX_BAD_FRACTION allows 1.00%" in message
    assert "check-data" in message and "b" in message.split("first: ")[1]
    result = cli(
        "train", "--cfg", str(path), "--output", str(tmp_path / "cli"), "--opts", "DATA.TRAIN_FILE", str(listing)
    )
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "2 of 2 samples unreadable" in errors[0] and "DATA.MAX_BAD_FRACTION" in errors[0]


def test_small_sample_rule():
    tracker = BadVideoTracker(max_bad_fraction=0.01)
    tracker.update(7, [("a.mp4", "broken")])  # 1 bad of 8 at 1 % allowed: p = 0.077, no decision
    tracker.update(9, [("b.mp4", "broken")])  # 2 of 18: p = 0.014, still plausible
    assert not tracker.too_many()
    early = BadVideoTracker(max_bad_fraction=0.01)
    with pytest.raises(TooManyBadVideosError, match=r"2 of 4 samples unreadable .*first: c.mp4 \(broken\); d.mp4"):
        early.update(2, [("c.mp4", "broken"), ("d.mp4", "cut")])  # p = 6e-4
    strict = BadVideoTracker(max_bad_fraction=0.0)
    with pytest.raises(TooManyBadVideosError, match="DATA.MAX_BAD_FRACTION allows 0.00%"):
        strict.update(100, [("e.mp4", "broken")])
    lenient = BadVideoTracker(max_bad_fraction=0.5, setting="max_bad_fraction")
    lenient.update(0, [("f.mp4", "x"), ("g.mp4", "y")])  # all bad, but half may be: p = 0.25
    assert lenient.summary()["bad"] == 2 and not lenient.too_many()
