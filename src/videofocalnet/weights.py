"""Weight files: the only place that reads or writes them (released .pth, ImageNet FocalNets, our safetensors).

Three sources of weights reach a Video-FocalNet:

* released Video-FocalNet ``.pth`` files, ``{"model": state_dict, "config": <yacs CfgNode>, ...}`` with the official
  key names (a bare state dict is accepted too);
* ImageNet FocalNet checkpoints (Microsoft or timm layout), converted by ``videofocalnet.models.convert`` and applied
  by ``videofocalnet.models.pretrained`` (temporal branch and head initialised, stem inflated over time);
* our own format: one ``.safetensors`` file whose metadata embeds the model config (``create_model(model_name,
  **model_kwargs)`` plus extras such as preprocessing, class names, metrics and the run's config), and a readable
  JSON sidecar with the same text. :func:`save_weights` is its one writer; :func:`read_metadata` and
  :func:`load_weights` read it (or a ``last.pt`` training state). ``videofocalnet.hub`` turns any of these into a
  model with its preprocessing.

Nothing here executes pickled code: torch files go through the allowlist unpickler of ``videofocalnet.safe_pickle``
(tensors, plain containers and the official yacs config only). Writes are atomic (``videofocalnet.atomic``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from videofocalnet.atomic import atomic_write, atomic_write_text
from videofocalnet.engine.checkpoint import load_training_state
from videofocalnet.models.convert import FMT_VIDEO, CheckpointMismatchError, checkpoint_filter_fn, detect_format
from videofocalnet.models.pretrained import LoadReport, apply_pretrained
from videofocalnet.safe_pickle import UnsafePickleError, load_torch_file

__all__ = [
    "FMT_OURS",
    "UnsafeCheckpointError",
    "load_pretrained",
    "load_safetensors_file",
    "load_state_dict_file",
    "load_torch_object",
    "load_weights",
    "read_metadata",
    "save_weights",
]

FORMAT_VERSION = 1
METADATA_KEY = "videofocalnet"
FMT_OURS = "videofocalnet"  # our safetensors (official key names + embedded config), as LoadReport.format


class UnsafeCheckpointError(ValueError):
    """The file needs more than tensors and plain containers to unpickle; loading it could execute code."""


# ------------------------------------------------------------------------------------------------ reading any file
def _is_safetensors(path: Path) -> bool:
    """safetensors files start with an 8-byte little-endian header length followed by a JSON object."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """``{"model": sd, ...}`` / ``{"state_dict": sd}`` / bare sd -> sd, with a DDP ``module.`` prefix removed."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointMismatchError(
            f"{path}: expected a state dict or {{'model': state_dict, ...}}, got {type(obj).__name__}"
        )
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointMismatchError(f"{path}: state dict entries that are not tensors: {bad[:5]}")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def load_torch_object(path: str | os.PathLike) -> Any:
    """Unpickle a torch file (zip or legacy) through the allowlist unpickler (``videofocalnet.safe_pickle``):
    released training checkpoints with their yacs config load, anything that would execute code is refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch zip archive / legacy pickle (protocol >= 2)
        raise CheckpointMismatchError(f"{path}: not a safetensors file or a torch checkpoint (starts with {magic!r})")
    from safetensors import SafetensorError

    try:
        return load_torch_file(path)
    except UnsafePickleError as exc:
        raise UnsafeCheckpointError(f"{path}: refusing to load it: {exc}") from None
    # Found by tests/test_fuzz.py: torch.load hands a file that looks like safetensors to safetensors itself (so a
    # safetensors file whose 8-byte header length starts with 0x80 and whose JSON is not an object raises
    # SafetensorError here), and checks a corrupt archive's pickle with asserts (AssertionError: "Unknown typename
    # for persistent_load"); TypeError/IndexError/OverflowError come from pickles whose opcodes got wrong arguments,
    # MemoryError from a corrupt length field asking for terabytes (the file's claim, not the machine running out).
    except (
        pickle.UnpicklingError,
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        AttributeError,
        SafetensorError,
        AssertionError,
        TypeError,
        IndexError,
        OverflowError,
        MemoryError,
    ) as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointMismatchError(
            f"{path}: not a readable torch checkpoint (truncated or corrupt: {reason})"
        ) from None


def load_safetensors_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointMismatchError(
            f"{path}: not a readable safetensors file (truncated or corrupt: {exc})"
        ) from None


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without executing pickled code: safetensors directly, torch files through the
    allowlist unpickler (:func:`load_torch_object`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if _is_safetensors(path):
        return load_safetensors_file(path)
    return _unwrap(load_torch_object(path), path)


def load_pretrained(
    model: nn.Module,
    path: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict_head: bool = False,
) -> LoadReport:
    """Load any supported checkpoint (a file, or a state dict in any layout) into ``model`` in place and say what
    happened; see :func:`videofocalnet.models.pretrained.apply_pretrained` for the rules. A head whose class count
    differs is re-drawn with a warning, or raises when ``strict_head``."""
    if isinstance(path, Mapping):
        source, raw, ours = "a state dict", _unwrap(path, Path("<state dict>")), False
    else:
        source, raw = str(path), load_state_dict_file(path)
        ours = _is_safetensors(Path(path)) and read_metadata(Path(path)) is not None
    fmt = detect_format(raw)
    sd = checkpoint_filter_fn(raw)
    fmt = FMT_OURS if (ours and fmt == FMT_VIDEO) else fmt
    return apply_pretrained(model, sd, fmt=fmt, source=source, strict_head=strict_head)


# ------------------------------------------------------------------------------------------------ our format
def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    return obj


def save_weights(
    path: str | os.PathLike,
    weights: nn.Module | Mapping[str, torch.Tensor],
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model's (or a state dict's) weights as one ``.safetensors`` file whose metadata embeds the config
    needed to rebuild it (``create_model(model_name, **model_kwargs)``, plus ``extra`` at the top level), and
    ``<stem>.json`` with the same JSON for humans."""
    path = Path(path)
    config = {"format_version": FORMAT_VERSION, "model_name": model_name, "model_kwargs": _jsonable(dict(model_kwargs))}
    if extra:
        clash = set(extra) & set(config)
        if clash:
            raise ValueError(f"extra metadata may not override {sorted(clash)}")
        config.update(_jsonable(dict(extra)))
    text = json.dumps(config, indent=1, sort_keys=False)
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    # safetensors refuses shared or non-contiguous storage: give every tensor its own contiguous copy
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    atomic_write(path, lambda tmp: _save_safetensors(tensors, tmp, {METADATA_KEY: text}))
    atomic_write_text(path.with_suffix(".json"), text + "\n")
    return path


def _save_safetensors(tensors: dict[str, torch.Tensor], tmp: str, metadata: dict[str, str]) -> None:
    """safetensors reports I/O failures as SafetensorError("... (os error 28)"): give them back their errno, so a
    full disk or a read-only folder reads as one (``videofocalnet.cli`` names both)."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, tmp, metadata=metadata)
    except SafetensorError as exc:
        match = re.search(r"os error (\d+)", str(exc))
        if match is None:
            raise
        code = int(match.group(1))
        raise OSError(code, os.strerror(code), tmp) from None


def read_metadata(path: str | os.PathLike) -> dict | None:
    """Our JSON config from a safetensors header, or None for a safetensors file that videofocalnet did not write."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointMismatchError(
            f"{path}: not a readable safetensors file (truncated or corrupt: {exc})"
        ) from None
    if METADATA_KEY not in meta:
        return None
    try:
        return json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointMismatchError(f"{path}: metadata '{METADATA_KEY}' is not valid JSON ({exc})") from None


def load_weights(
    path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read our weights and their metadata: a ``.safetensors`` file (the embedded config, else the JSON sidecar,
    else ``{}``) or a ``last.pt`` training state.

    For a training state the EMA weights are not chosen silently: ``model`` is returned and the EMA (if any) is in
    ``meta['ema_state_dict']``.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        meta = read_metadata(path) if _is_safetensors(path) else None
        sidecar = path.with_suffix(".json")
        if meta is None:
            meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        return load_file(str(path), device=str(map_location)), meta
    state = load_training_state(path, map_location=map_location)
    meta = {k: v for k, v in state.items() if k in ("config", "epoch", "global_step", "model_name", "model_kwargs")}
    if state.get("ema") is not None:
        meta["ema_state_dict"] = state["ema"]
    return state["model"], meta
