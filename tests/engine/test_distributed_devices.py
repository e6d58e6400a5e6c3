"""Device-correct collectives and failure on one rank, in real 2-process gloo runs (``torchrun_worker.py``).

On GPU the process group is NCCL for device tensors and gloo for host ones, and NCCL rejects a CPU tensor; this
machine has no GPU, so the checks here are what holds on every device: every tensor the engine hands to a
collective is on the training device (recorded in the worker, and asserted inside ``all_reduce_sum``), the losses
are synced once per logging interval, and a rank that raises ends every rank within seconds with its message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO_ROOT, _free_port  # tests/engine/conftest.py (pytest puts its folder on sys.path)
from videofocalnet.engine.distributed import all_reduce_sum, init_distributed, process_group_backend

WORKER = str(Path(__file__).with_name("torchrun_worker.py"))


def _torchrun(nproc: int, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """``torchrun --nproc_per_node nproc WORKER args`` -> (process, wall-clock time it ended)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    command += ["--master_port", str(_free_port()), WORKER, *args]
    proc = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.time()


@pytest.mark.parametrize(
    ("backend", "cuda", "expected"),
    [
        ("auto", False, "gloo"),
        ("gloo", False, "gloo"),
        ("auto", True, "cpu:gloo,cuda:nccl"),  # NCCL for the GPU tensors, gloo for host objects and flags
        ("nccl", True, "cpu:gloo,cuda:nccl"),
        ("gloo", True, "gloo"),  # several ranks on one GPU: NCCL refuses, gloo reduces CUDA tensors too
    ],
)
def test_process_group_backend_pairs_nccl_with_gloo_for_host_tensors(backend, cuda, expected):
    assert process_group_backend(backend, cuda=cuda) == expected


def test_nccl_on_cpu_is_a_one_line_error():
    with pytest.raises(ValueError, match="DIST_BACKEND is 'nccl' but training runs on the CPU.*gloo or auto"):
        process_group_backend("nccl", cuda=False)


def test_a_tensor_on_another_device_handed_to_a_reduction_is_an_assertion_naming_it():
    init_distributed(device="cpu")  # a world of one: no group, but the training device is known
    assert all_reduce_sum(torch.ones(2)).tolist() == [1.0, 1.0]
    with pytest.raises(AssertionError, match=r"\(2,\) torch.float64 tensor on meta .* training device is cpu"):
        all_reduce_sum(torch.zeros(2, dtype=torch.float64, device="meta"))


def test_the_engine_calls_collectives_only_through_engine_distributed():
    """Every collective in the package goes through the checked functions of ``engine/distributed.py``."""
    package = REPO_ROOT / "src" / "videofocalnet"
    pattern = re.compile(r"\bdist\.(all_|broadcast|reduce|barrier|gather|scatter|send|recv|isend|irecv)")
    offenders = [
        f"{path.relative_to(package)}:{n}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "distributed.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


@pytest.mark.slow
def test_two_rank_collectives_get_training_device_tensors_and_losses_sync_once_per_interval(
    write_tiny_config, tmp_path
):
    # 12 videos, batch 1 x 2 ranks, 2 micro-batches per update: 3 updates an epoch, 6 micro-batches per rank;
    # the logging points are every PRINT_FREQ (2) steps and each epoch's end
    cfg = write_tiny_config(
        DATA={"BATCH_SIZE": 1},
        TRAIN={"ACCUMULATION_STEPS": 2, "EVAL_FREQ": 2},
        PRINT_FREQ=2,
    )
    record = tmp_path / "calls"
    record.mkdir()
    proc, _ = _torchrun(2, str(cfg), str(tmp_path / "run"), "--record-collectives", str(record))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Grad strides do not match bucket view strides" not in proc.stderr  # the depthwise weights' layout
    assert "deprecated" not in proc.stderr, proc.stderr[-3000:]  # broadcast_buffers
    for rank in (0, 1):
        log = json.loads((record / f"rank{rank}.json").read_text())
        assert log["device"] == "cpu"
        tensors = [c["tensor"] for c in log["calls"] if c["tensor"] is not None]
        assert tensors and all(t["device"] == log["device"] for t in tensors), tensors
        loss_syncs = [t["shape"] for t in tensors if t["dtype"] == "torch.float64"]
        # one all-reduce per logging interval, each carrying the interval's steps: epoch 1 = steps 1-2 | 3,
        # epoch 2 = steps 4 | 5-6 (PRINT_FREQ 2 and the epoch ends); not one per micro-batch (12) or step (6)
        assert loss_syncs == [[2, 2], [1, 2], [1, 2], [2, 2]], loss_syncs
        objects = [c["fn"] for c in log["calls"] if c["fn"].endswith("_object")]
        assert objects.count("all_gather_object") == 3  # last.pt's RNG states twice, the evaluation rows once
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps if r["kind"] == "train_step"] == [1, 2, 3, 4, 5, 6]


def _bare_ranks(*args: str, world: int = 2) -> list[tuple[int, float, str]]:
    """Start ``world`` ranks as plain processes (no torchrun agent to stop the others) -> (exit code, end time,
    stderr) per rank."""
    port = str(_free_port())
    procs = []
    for rank in range(world):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world))
        procs.append(
            subprocess.Popen([sys.executable, WORKER, *args], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True)
        )
    results = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, time.time(), err))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "bare"])
def test_one_rank_raises_and_every_rank_ends_within_seconds_with_its_message(write_tiny_config, tmp_path, launcher):
    """Rank 1 raises after step 2 while rank 0 goes on into the next step's collectives. Under torchrun the agent
    stops the group; launched bare, rank 0 has nothing but the closed connection to end it."""
    cfg = write_tiny_config(PRINT_FREQ=1, TRAIN={"EPOCHS": 3})
    args = (str(cfg), str(tmp_path / "run"), "--raise-at", "1:2")
    if launcher == "torchrun":
        proc, ended = _torchrun(2, *args)
        codes, stderr = [proc.returncode], proc.stderr
    else:
        ranks = _bare_ranks(*args)
        codes, ended, stderr = [r[0] for r in ranks], max(r[1] for r in ranks), "".join(r[2] for r in ranks)
    raised = float(re.search(r"raising at ([0-9.]+)", stderr).group(1))
    print(f"{launcher}: every rank ended {ended - raised:.2f} s after rank 1 raised")
    assert ended - raised < 30, stderr[-3000:]
    assert all(code != 0 for code in codes), (codes, stderr[-3000:])
    assert "rank 1/2 failed: RuntimeError: injected failure on rank 1 at step 2" in stderr, stderr[-3000:]
    assert not (tmp_path / "run" / "result.json").exists()
