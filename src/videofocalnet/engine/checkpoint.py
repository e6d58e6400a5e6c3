"""Training state: ``last.pt`` (weights_only-readable) save/load, RNG capture/restore, resume lookup, file names.

Two kinds of file live in a run directory:

* ``last.pt`` - the full training state (model, optimizer, schedule, grad scaler, EMA, epoch, step, sampler
  position and every RNG state). It holds only tensors and plain Python values so that
  ``torch.load(weights_only=True)`` reads it: loading never executes pickled code.
* ``best.safetensors`` (+ ``best.json``) and ``epoch_<N>.safetensors`` - weights only, with the resolved config,
  the model name/arguments and metrics in the JSON beside them: what ``eval``, ``predict`` and ``export`` consume.
  They are written and read by ``videofocalnet.weights``; this module only names ``best.safetensors``.

Every write goes to a temporary file in the same directory, is fsync'ed, then renamed over the target, and the
directory is fsync'ed (``videofocalnet.atomic``): a process killed at any instant leaves either the old or the new
file, never a torn one.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from videofocalnet.atomic import atomic_write

__all__ = [
    "BEST_NAME",
    "LAST_NAME",
    "capture_rng_state",
    "find_resume_checkpoint",
    "load_training_state",
    "restore_rng_state",
    "save_training_state",
]

LAST_NAME = "last.pt"
BEST_NAME = "best.safetensors"


# ----------------------------------------------------------------------------------------------------------------------
# RNG states as tensors / primitives (weights_only-loadable)
# ----------------------------------------------------------------------------------------------------------------------


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, encoded without pickled objects."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": int(py_version),
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss_next"]))
    npst = state["numpy"]
    np.random.set_state(
        (npst["name"], npst["keys"].numpy().astype(np.uint32), npst["pos"], npst["has_gauss"], npst["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------------------------------
# Full training state
# ----------------------------------------------------------------------------------------------------------------------


def _torch_save(state: dict[str, Any], tmp: str) -> None:
    """``torch.save``, whose zip writer reports a failed write as RuntimeError("[enforce fail at inline_container.cc]
    ... unexpected pos"): turned back into the OSError it was (a full disk, usually), so it reads as one."""
    try:
        torch.save(state, tmp)
    except RuntimeError as exc:
        if "inline_container" not in str(exc) and "file write failed" not in str(exc):
            raise
        import errno
        import shutil

        full = shutil.disk_usage(Path(tmp).parent).free < 1024 * 1024
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, os.strerror(code), tmp) from None


def save_training_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Atomically ``torch.save`` a dict of tensors and primitives (checked: it must reload with weights_only)."""
    return atomic_write(path, lambda tmp: _torch_save(state, tmp))


def load_training_state(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError or RuntimeError variants
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        if "Weights only load failed" in reason:
            reason = "it holds more than tensors, or is not a torch file"
        raise ValueError(
            f"{path}: not a resumable last.pt ({reason}); to start from released or exported weights set "
            "TRAIN.PRETRAINED_PATH instead"
        ) from None
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path}: training checkpoint lacks a 'model' entry")
    return state


def find_resume_checkpoint(run_dir: str | Path) -> Path | None:
    """``<run_dir>/last.pt`` if it exists (auto-resume); stray ``.tmp`` files from a killed write are ignored."""
    candidate = Path(run_dir) / LAST_NAME
    return candidate if candidate.is_file() else None
