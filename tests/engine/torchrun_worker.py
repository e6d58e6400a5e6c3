"""``python torchrun_worker.py CFG OUTPUT [options]``: one rank of a real multi-process training run, with test hooks
injected from outside the engine (as training callbacks and wrappers), so the engine itself has none.

--raise-at RANK:STEP     raise RuntimeError on that rank once step STEP's record is delivered (after printing the time)
--kill-at RANK:STEP      SIGKILL that rank right after step STEP's checkpoint, on torchrun's first attempt only
--record-collectives DIR write DIR/rank<R>.json: every torch.distributed collective the run called, with the device,
                         dtype and shape of its tensor (the calls still run: a recorder, not a stand-in)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from videofocalnet.engine.config import load_config
from videofocalnet.engine.distributed import training_device
from videofocalnet.engine.train import TrainCallback, TrainRecipe, train

COLLECTIVES = (
    "all_reduce",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_to_all",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "gather",
    "gather_object",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
)


def _rank_step(text: str) -> tuple[int, int]:
    rank, step = text.split(":")
    return int(rank), int(step)


class RaiseAt(TrainCallback):
    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_step_end(self, recipe: TrainRecipe, record: dict[str, Any]) -> None:
        if recipe.info.rank == self.rank and recipe.state.global_step >= self.step:
            print(f"raising at {time.time():.3f}", file=sys.stderr, flush=True)
            raise RuntimeError(f"injected failure on rank {self.rank} at step {self.step}")


class KillAfterCheckpoint(TrainCallback):
    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_checkpoint(self, recipe: TrainRecipe) -> None:
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        if first_attempt and recipe.info.rank == self.rank and recipe.state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def record_collectives(calls: list[dict[str, Any]]) -> None:
    """Wrap every public collective of torch.distributed so each call is appended to ``calls``, then run as usual."""

    def describe(value: Any) -> dict[str, Any] | None:
        if isinstance(value, torch.Tensor):
            return {"device": str(value.device), "dtype": str(value.dtype), "shape": list(value.shape)}
        if isinstance(value, list) and value and isinstance(value[0], torch.Tensor):
            return describe(value[0])
        return None

    for name in COLLECTIVES:
        original = getattr(dist, name)

        @functools.wraps(original)
        def wrapper(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            tensors = [d for d in map(describe, [*args, *kwargs.values()]) if d is not None]
            calls.append({"fn": _name, "tensor": tensors[0] if tensors else None})
            return _original(*args, **kwargs)

        setattr(dist, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("cfg")
    parser.add_argument("output")
    parser.add_argument("--raise-at", type=_rank_step)
    parser.add_argument("--kill-at", type=_rank_step)
    parser.add_argument("--record-collectives", type=Path)
    args = parser.parse_args()
    callbacks: list[TrainCallback] = []
    if args.raise_at:
        callbacks.append(RaiseAt(*args.raise_at))
    if args.kill_at:
        callbacks.append(KillAfterCheckpoint(*args.kill_at))
    calls: list[dict[str, Any]] = []
    if args.record_collectives:
        record_collectives(calls)
    cfg = load_config(args.cfg)
    train(cfg, output=args.output, progress=False, callbacks=callbacks)
    if args.record_collectives:
        rank = int(os.environ.get("RANK", "0"))
        out = args.record_collectives / f"rank{rank}.json"
        out.write_text(json.dumps({"device": str(training_device()), "calls": calls}), encoding="utf-8")


if __name__ == "__main__":
    main()
