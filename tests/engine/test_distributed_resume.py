"""Real multi-process runs: 2-rank gloo DDP equals one process with the same global batch; a run killed with
SIGKILL mid-epoch and resumed ends bit-identical to an uninterrupted one."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from videofocalnet.engine.run_log import read_jsonl


def _state(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=True)


@pytest.mark.slow
def test_two_process_gloo_equals_one_process(write_tiny_config, tmp_path, cli):
    # same global batch (2 x 2 ranks vs 4 x 1); no drop path / mixup so no randomness depends on the rank
    common = dict(
        MODEL={"DROP_PATH_RATE": 0.0}, AUG={"MIXUP": 0.0, "CUTMIX": 0.0}, TRAIN={"EPOCHS": 2, "CLIP_GRAD": 1.0}
    )
    one = write_tiny_config("one.yaml", DATA={"BATCH_SIZE": 4}, **common)
    two = write_tiny_config("two.yaml", DATA={"BATCH_SIZE": 2}, **common)
    p1 = cli("train", "--cfg", str(one), "--output", str(tmp_path / "one"), "--no-progress")
    assert p1.returncode == 0, p1.stderr[-3000:]
    p2 = cli("train", "--cfg", str(two), "--output", str(tmp_path / "two"), "--no-progress", torchrun=2)
    assert p2.returncode == 0, p2.stderr[-3000:]
    s1, s2 = _state(tmp_path / "one"), _state(tmp_path / "two")
    assert s1["progress"]["global_step"] == s2["progress"]["global_step"] == 6
    assert s2["world_size"] == 2 and len(s2["rng"]) == 2
    for name, w in s1["model"].items():
        assert torch.allclose(w, s2["model"][name], atol=1e-5, rtol=0), name
    # metrics are reduced across ranks: the logged per-step loss is the global-batch mean in both runs
    l1 = [r["loss"] for r in read_jsonl(tmp_path / "one" / "metrics.jsonl") if r["kind"] == "train_step"]
    l2 = [r["loss"] for r in read_jsonl(tmp_path / "two" / "metrics.jsonl") if r["kind"] == "train_step"]
    assert l1 == pytest.approx(l2, abs=1e-5) and len(l1) == 6
    # the comparison is not vacuous: training moved the weights well beyond the tolerance
    from videofocalnet.engine.build import build_model
    from videofocalnet.engine.config import load_config
    from videofocalnet.engine.distributed import seed_everything

    seed_everything(0)
    init = build_model(load_config(one)).state_dict()
    moved = max((s1["model"][k] - init[k]).abs().max().item() for k in init)
    assert moved > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "class_balanced_both_ways"])
def test_sigkill_mid_epoch_then_resume_is_bit_identical(write_tiny_config, tmp_path, cli, python_process, sampler):
    # everything random on: drop path, mixup/cutmix (own generator), EMA, accumulation, a data worker process,
    # time reversal (classes 0 and 1 are moving left / right) and the training sampler
    cfg = write_tiny_config(
        MODEL={"DROP_PATH_RATE": 0.2},
        AUG={
            "MIXUP": 0.8,
            "CUTMIX": 1.0,
            "MIXUP_PROB": 0.7,
            "REVERSE_PROB": 0.5,
            "REVERSE_PAIRS": [[0, 1]],
            "FLIP_RATIO": 0.0,
        },
        DATA={"NUM_WORKERS": 1, "SAMPLER": sampler},
        TRAIN={
            "EPOCHS": 2,
            "CHECKPOINT_EVERY_STEPS": 1,
            "ACCUMULATION_STEPS": 2,
            "EMA": {"ENABLED": True, "DECAY": 0.9},
        },
    )
    ref = cli("train", "--cfg", str(cfg), "--output", str(tmp_path / "ref"), "--no-progress")
    assert ref.returncode == 0, ref.stderr[-3000:]
    # 3 updates per epoch: step 5 is in the middle of the second epoch
    killed = python_process(str(Path(__file__).with_name("train_and_kill.py")), str(cfg), str(tmp_path / "run"), "5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    mid = _state(tmp_path / "run")
    assert mid["progress"]["global_step"] == 5 and mid["progress"]["batch_in_epoch"] == 4
    resumed = cli("train", "--cfg", str(cfg), "--output", str(tmp_path / "run"), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stderr + resumed.stdout
    a, b = _state(tmp_path / "ref"), _state(tmp_path / "run")
    assert a["progress"] == b["progress"]
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
        assert torch.equal(a["ema"][name], b["ema"][name]), name
    for key, value in a["optimizer"]["state"].items():
        assert torch.equal(value["momentum_buffer"], b["optimizer"]["state"][key]["momentum_buffer"])
    # the metrics file of the resumed run equals the uninterrupted one, step by step
    la = [(r["step"], r["loss"]) for r in read_jsonl(tmp_path / "ref" / "metrics.jsonl") if r["kind"] == "train_step"]
    lb = [(r["step"], r["loss"]) for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "train_step"]
    assert la == lb


def test_ctrl_c_writes_last_pt_and_the_same_command_resumes_exactly(write_tiny_config, tmp_path, cli):
    """SIGINT to the whole process group (what a terminal's Ctrl-C does, data worker included): the step in flight
    finishes, last.pt is written, the exit says how to resume, and resuming ends where an uninterrupted run ends."""
    import os
    import subprocess
    import sys
    import time

    cfg = write_tiny_config(DATA={"NUM_WORKERS": 1}, TRAIN={"EPOCHS": 4}, AUG={"MIXUP": 0.8, "CUTMIX": 1.0})
    ref = cli("train", "--cfg", str(cfg), "--output", str(tmp_path / "ref"), "--no-progress")
    assert ref.returncode == 0, ref.stderr[-3000:]

    run = tmp_path / "run"
    command = [sys.executable, "-m", "videofocalnet", "train", "--cfg", str(cfg), "--output", str(run), "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        metrics = run / "metrics.jsonl"
        if metrics.is_file() and metrics.read_text().count('"train_step"') >= 2:
            os.killpg(proc.pid, signal.SIGINT)
            break
        time.sleep(0.01)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    stopped = [line for line in err.splitlines() if line.startswith("stopped: ")]
    assert len(stopped) == 1 and "last.pt" in stopped[0] and "Traceback" not in err, err[-3000:]
    step = _state(run)["progress"]["global_step"]
    assert f"after step {step};" in stopped[0] and 2 <= step < 24

    stale = run / ".last.pt.killed.tmp"  # what a write killed mid-way leaves
    stale.write_bytes(b"partial")
    resumed = cli("train", *command[4:])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not stale.exists() and "removed .last.pt.killed.tmp" in resumed.stderr + resumed.stdout
    a, b = _state(tmp_path / "ref"), _state(run)
    assert a["progress"] == b["progress"]
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
