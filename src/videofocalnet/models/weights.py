"""Weight loading: released Video-FocalNet checkpoints, ImageNet FocalNets (Microsoft and timm layouts), our format.

Three sources of weights reach a Video-FocalNet:

* released Video-FocalNet ``.pth`` files, ``{"model": state_dict, ...}`` with the official key names (a bare state
  dict is accepted too); loaded strictly, except that a head with another class count is re-drawn with a warning;
* ImageNet FocalNet checkpoints, which initialise a video model as the official recipe does: spatial weights copied,
  temporal branch at the model's own (official) init, head re-drawn, and for ``tubelet_size > 1`` the 2-D stem kernel
  repeated over time and divided by the tubelet size. Both the Microsoft layout (the official key names minus the
  temporal ones) and the timm layout (``stem.*``, ``head.fc.*``, 1x1 convs for ``f``/``proj``/``mlp``, downsample at
  the start of the next stage) are understood; timm keys go through :func:`checkpoint_filter_fn`;
* our own checkpoints: one ``.safetensors`` file whose metadata embeds the model config, plus a readable JSON sidecar.

Nothing here executes pickled code: ``.pth`` files are read with ``torch.load(weights_only=True)``, and a file that
needs more (the released training checkpoints pickle their yacs config) is refused with instructions to convert it.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from videofocalnet.atomic import atomic_write
from videofocalnet.models.layers import init_weights_official

__all__ = [
    "CheckpointMismatchError", "LoadReport", "UnsafeCheckpointError", "checkpoint_filter_fn", "detect_format",
    "infer_model_config", "load_model_checkpoint", "load_pretrained", "load_state_dict_file",
    "read_checkpoint_config", "save_model_checkpoint", "to_official_layout",
]

FORMAT_VERSION = 1
METADATA_KEY = "videofocalnet"

# Format names (LoadReport.format, detect_format).
FMT_OURS = "videofocalnet"  # our safetensors (official key names + embedded config)
FMT_VIDEO = "video-focalnet"  # released Video-FocalNet state dict
FMT_MICROSOFT = "focalnet-microsoft"  # ImageNet FocalNet, Microsoft layout
FMT_TIMM = "focalnet-timm"  # ImageNet FocalNet, timm layout

_TEMPORAL = re.compile(r"\.modulation\.(f_temporal|h_temporal|focal_layers_temporal)\.")
_STEM_WEIGHT = "patch_embed.proj.weight"
_HEAD_KEYS = ("head.weight", "head.bias")


class UnsafeCheckpointError(RuntimeError):
    """The file needs more than tensors and plain containers to unpickle; loading it could execute code."""


class CheckpointMismatchError(ValueError):
    """The checkpoint's keys or shapes do not fit the model."""


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did. ``missing``/``unexpected`` are empty after a successful (strict) load;
    ``reinitialised`` lists model keys drawn fresh instead of loaded (head, ImageNet-absent temporal branch);
    ``inflated`` lists keys whose checkpoint tensor was inflated over time (the tubelet stem)."""

    format: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reinitialised: list[str] = field(default_factory=list)
    inflated: list[str] = field(default_factory=list)
    loaded: int = 0
    source: str = ""

    def __str__(self) -> str:
        lines = [f"loaded {self.loaded} tensors from {self.source or 'a state dict'} (format: {self.format})"]
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected),
                            ("re-initialised", self.reinitialised), ("inflated over time", self.inflated)):
            if keys:
                lines.append(f"{title} ({len(keys)}): {_summarise_keys(keys)}")
        return "\n".join(lines)


def _summarise_keys(keys: list[str], limit: int = 8) -> str:
    """Group keys that differ only in block/level indices so a 60-key temporal branch reads as a few patterns."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        pattern = re.sub(r"\.\d+\.", ".*.", re.sub(r"\.\d+\.", ".*.", key))
        groups.setdefault(pattern, []).append(key)
    parts = [f"{p} (x{len(ks)})" if len(ks) > 1 else ks[0] for p, ks in groups.items()]
    more = f", ... ({len(parts) - limit} more patterns)" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


# ------------------------------------------------------------------------------------------------ reading files
_CONVERT_HINT = (
    "Convert it once, in an environment where you trust the file:\n"
    "  python -c \"import torch; ck = torch.load('{path}', map_location='cpu', weights_only=False); "
    "torch.save({{'model': ck.get('model', ck)}}, '{stem}.weights.pth')\"\n"
    "then  videofocalnet convert-weights {stem}.weights.pth {stem}.safetensors"
)


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
        raise CheckpointMismatchError(f"{path}: expected a state dict or {{'model': state_dict, ...}}, "
                                      f"got {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointMismatchError(f"{path}: state dict entries that are not tensors: {bad[:5]}")
    sd = dict(obj)
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors without executing pickled code.

    safetensors files are read directly; anything else goes through ``torch.load(weights_only=True)``. A pickle that
    needs other globals (a training checkpoint holding its config object, say) raises :class:`UnsafeCheckpointError`
    explaining how to convert it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if _is_safetensors(path):
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04" and magic[:1] != b"\x80":  # torch zip archive / legacy pickle (protocol >= 2)
        raise CheckpointMismatchError(f"{path}: not a safetensors file or a torch checkpoint (starts with {magic!r})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc)
        if "Weights only load failed" not in reason:
            raise CheckpointMismatchError(f"{path}: corrupt torch checkpoint ({reason.strip()[:200]})") from None
        match = re.search(r"(Unsupported global: GLOBAL [^\s]+|unsupported GLOBAL [^\s]+[^\n]*|"
                          r"Can only [^\n]*)", reason)
        detail = match.group(0) if match else reason.strip().splitlines()[-1]
        stem = str(path.with_suffix(""))
        raise UnsafeCheckpointError(
            f"{path}: refusing to unpickle it, because it holds more than tensors ({detail}); loading it with "
            "weights_only=False could execute arbitrary code.\n" + _CONVERT_HINT.format(path=path, stem=stem)
        ) from None
    except (RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointMismatchError(f"{path}: not a readable safetensors or torch checkpoint ({exc})") from None
    return _unwrap(obj, path)


# ------------------------------------------------------------------------------------------------ formats
def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Which layout a state dict uses: ``focalnet-timm``, ``video-focalnet`` or ``focalnet-microsoft``."""
    if "stem.proj.weight" in state_dict:
        return FMT_TIMM
    if any(_TEMPORAL.search(k) for k in state_dict):
        return FMT_VIDEO
    if _STEM_WEIGHT in state_dict:
        return FMT_MICROSOFT
    raise CheckpointMismatchError(
        "unrecognised checkpoint layout: expected Video-FocalNet / FocalNet keys such as 'patch_embed.proj.weight' "
        f"or timm's 'stem.proj.weight'; first keys: {list(state_dict)[:6]}"
    )


# timm FocalNet -> official names, as (pattern, replacement) pairs tried in order. A key that matches none is an
# error: silently dropping a tensor is how a half-loaded model happens.
def _shift_stage(match: re.Match) -> str:
    """timm downsamples at the START of stage i (i > 0); the official model at the END of stage i - 1."""
    stage = int(match.group(1))
    if stage == 0:
        raise CheckpointMismatchError("timm key layers.0.downsample.* has no official counterpart (stage 0 has none)")
    return f"layers.{stage - 1}.downsample.{match.group(2)}"


_TIMM_TO_OFFICIAL: list[tuple[re.Pattern, str | Callable[[re.Match], str]]] = [
    (re.compile(r"^stem\.(proj|norm)\.(weight|bias)$"), r"patch_embed.\1.\2"),
    (re.compile(r"^layers\.(\d+)\.downsample\.((?:proj|norm)\.(?:weight|bias))$"), _shift_stage),
    (re.compile(r"^(layers\.\d+\.blocks\.\d+)\.(norm1|norm2)(?:_post)?\.(weight|bias)$"), r"\1.\2.\3"),
    (re.compile(r"^(layers\.\d+\.blocks\.\d+)\.ls([12])\.gamma$"), r"\1.gamma_\2"),
    (re.compile(r"^(layers\.\d+\.blocks\.\d+\.modulation)\.(f|h|proj)\.(weight|bias)$"), r"\1.\2.\3"),
    (re.compile(r"^(layers\.\d+\.blocks\.\d+\.modulation)\.focal_layers\.(\d+)\.0\.weight$"),
     r"\1.focal_layers.\2.0.weight"),
    (re.compile(r"^(layers\.\d+\.blocks\.\d+\.modulation)\.norm\.(weight|bias)$"), r"\1.ln.\2"),
    (re.compile(r"^(layers\.\d+\.blocks\.\d+\.mlp)\.(fc1|fc2)\.(weight|bias)$"), r"\1.\2.\3"),
    (re.compile(r"^norm\.(weight|bias)$"), r"norm.\1"),
    (re.compile(r"^head\.fc\.(weight|bias)$"), r"head.\1"),
]
# Official parameters that are Linear (2-D) where timm uses 1x1 convs (4-D).
_LINEAR_IN_OFFICIAL = re.compile(r"\.(modulation\.(f|proj)|mlp\.(fc1|fc2))\.weight$")


def checkpoint_filter_fn(state_dict: Mapping[str, torch.Tensor], model: nn.Module | None = None
                         ) -> dict[str, torch.Tensor]:
    """timm-layout FocalNet state dict -> official (Microsoft / Video-FocalNet) key names and shapes.

    Unknown keys raise :class:`CheckpointMismatchError`. 1x1-conv weights (O, I, 1, 1) become Linear weights (O, I).
    ``model`` is accepted for timm's signature; shapes are checked later, against the model, by the loader.
    """
    state_dict = state_dict.get("model", state_dict) if isinstance(state_dict.get("model"), Mapping) else state_dict
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        for pattern, repl in _TIMM_TO_OFFICIAL:
            if pattern.match(key):
                new_key = pattern.sub(repl, key)
                break
        else:
            unknown.append(key)
            continue
        if _LINEAR_IN_OFFICIAL.search(new_key) and value.ndim == 4:
            if value.shape[2:] != (1, 1):
                raise CheckpointMismatchError(f"timm key {key}: expected a 1x1 conv weight, got {tuple(value.shape)}")
            value = value.reshape(value.shape[:2])  # (O, I, 1, 1) -> (O, I)
        if new_key in out:
            raise CheckpointMismatchError(f"timm keys map twice onto {new_key} (pre- and post-norm both present?)")
        out[new_key] = value
    if unknown:
        raise CheckpointMismatchError(f"timm FocalNet checkpoint has keys with no official counterpart: "
                                      f"{_summarise_keys(unknown)}")
    return out


def to_official_layout(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Any supported layout -> (state dict with official key names, detected format)."""
    fmt = detect_format(state_dict)
    if fmt == FMT_TIMM:
        return checkpoint_filter_fn(state_dict), fmt
    return dict(state_dict), fmt


# ------------------------------------------------------------------------------------------------ loading
def _inflate_stem(weight: torch.Tensor, tubelet: int) -> torch.Tensor:
    """(C, 3, p, p) -> (C, 3, k, p, p): repeat over time and divide by k, so a clip of k identical frames gives the
    2-D stem's output (the official recipe's inflation)."""
    return weight.unsqueeze(2).repeat(1, 1, tubelet, 1, 1) / tubelet  # (C, 3, p, p) -> (C, 3, k, p, p)


def _reinit_temporal(model: nn.Module) -> list[str]:
    """Draw the temporal branch as the official model does (Linear trunc-normal 0.02 / zero bias, convs PyTorch
    default) so an ImageNet start does not depend on what the model held before."""
    touched: list[str] = []
    for name, module in model.named_modules():
        if re.search(r"\.modulation\.(f_temporal|h_temporal|focal_layers_temporal\.\d+\.0)$", name):
            if isinstance(module, nn.Linear):
                init_weights_official(module)
            else:
                module.reset_parameters()
            touched += [f"{name}.{p}" for p, _ in module.named_parameters(recurse=False)]
    return touched


def _reinit_head(model: nn.Module) -> list[str]:
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        init_weights_official(head)
        return list(_HEAD_KEYS)
    return []


def _mismatch_message(source: str, fmt: str, missing: list[str], unexpected: list[str],
                      shapes: list[str]) -> str:
    lines = [f"{source}: checkpoint ({fmt}) does not fit the model"]
    if missing:
        lines.append(f"  missing from the checkpoint ({len(missing)}): {_summarise_keys(missing)}")
    if unexpected:
        lines.append(f"  not in the model ({len(unexpected)}): {_summarise_keys(unexpected)}")
    if shapes:
        lines.append(f"  shape mismatches ({len(shapes)}): " + "; ".join(shapes[:8]))
    lines.append("  (is --model / the architecture the one the checkpoint was trained with?)")
    return "\n".join(lines)


def load_pretrained(
    model: nn.Module,
    path: str | os.PathLike | Mapping[str, torch.Tensor],
    *,
    strict_head: bool = False,
) -> LoadReport:
    """Load any supported checkpoint into ``model`` (in place) and say what happened.

    Keys are checked strictly: every model tensor must come from the checkpoint (save those the format cannot hold:
    the head and, for ImageNet FocalNets, the temporal branch) and every checkpoint tensor must land in the model.
    A head whose class count differs is re-drawn with a warning, or raises when ``strict_head``.
    """
    source = "a state dict" if isinstance(path, Mapping) else str(path)
    if isinstance(path, Mapping):
        raw = _unwrap(path, Path("<state dict>"))
        fmt_hint = None
    else:
        raw = load_state_dict_file(path)
        fmt_hint = FMT_OURS if _is_safetensors(Path(path)) and _read_metadata(Path(path)) is not None else None
    sd, fmt = to_official_layout(raw)
    fmt = fmt_hint if (fmt_hint and fmt == FMT_VIDEO) else fmt
    imagenet = fmt in (FMT_MICROSOFT, FMT_TIMM)

    target = model.state_dict()
    report = LoadReport(format=fmt, source=source)
    reinit_head = False

    if imagenet:
        # An ImageNet head (1000 / 21k classes) means nothing for video: always re-drawn.
        for key in _HEAD_KEYS:
            sd.pop(key, None)
        reinit_head = True
    elif "head.weight" in sd and "head.weight" in target and sd["head.weight"].shape != target["head.weight"].shape:
        msg = (f"{source}: head has {sd['head.weight'].shape[0]} classes, the model {target['head.weight'].shape[0]}"
               "; the head is re-initialised")
        if strict_head:
            raise CheckpointMismatchError(msg.replace("; the head is re-initialised", " (strict_head=True)"))
        warnings.warn(msg, stacklevel=2)
        for key in _HEAD_KEYS:
            sd.pop(key, None)
        reinit_head = True

    # Stem inflation: a 2-D stem (C, 3, p, p) into a tubelet model (C, 3, k, p, p).
    if _STEM_WEIGHT in sd and _STEM_WEIGHT in target:
        src, dst = sd[_STEM_WEIGHT], target[_STEM_WEIGHT]
        if src.ndim == 4 and dst.ndim == 5 and src.shape == dst.shape[:2] + dst.shape[3:]:
            sd[_STEM_WEIGHT] = _inflate_stem(src, dst.shape[2])
            report.inflated.append(_STEM_WEIGHT)

    allowed_missing = set()
    if reinit_head:
        allowed_missing |= {k for k in _HEAD_KEYS if k in target}
    if imagenet:
        allowed_missing |= {k for k in target if _TEMPORAL.search(k)}
    missing = [k for k in target if k not in sd and k not in allowed_missing]
    unexpected = [k for k in sd if k not in target]
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(target[k].shape)}"
              for k in sd if k in target and sd[k].shape != target[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(_mismatch_message(source, fmt, missing, unexpected, shapes))

    result = model.load_state_dict(sd, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= allowed_missing, result
    report.loaded = len(sd)
    if imagenet:
        report.reinitialised += _reinit_temporal(model)
    if reinit_head:
        report.reinitialised += _reinit_head(model)
    return report


# ------------------------------------------------------------------------------------------------ our format
def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    return obj


def save_model_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights as one ``.safetensors`` file whose metadata embeds the config needed to rebuild it
    (``create_model(model_name, **model_kwargs)``), plus ``<stem>.json`` with the same JSON for humans."""
    from safetensors.torch import save_file

    path = Path(path)
    config = {"format_version": FORMAT_VERSION, "model_name": model_name, "model_kwargs": _jsonable(dict(model_kwargs))}
    if extra:
        clash = set(extra) & set(config)
        if clash:
            raise ValueError(f"extra metadata may not override {sorted(clash)}")
        config.update(_jsonable(dict(extra)))
    text = json.dumps(config, indent=1, sort_keys=False)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={METADATA_KEY: text}))
    atomic_write(_sidecar(path), lambda tmp: Path(tmp).write_text(text + "\n"))
    return path


def _read_metadata(path: Path) -> dict | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if METADATA_KEY not in meta:
        return None
    try:
        return json.loads(meta[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointMismatchError(f"{path}: metadata '{METADATA_KEY}' is not valid JSON ({exc})") from None


def read_checkpoint_config(path: str | os.PathLike) -> dict:
    """The config embedded in one of our checkpoints (format_version, model_name, model_kwargs, extras)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not _is_safetensors(path):
        raise CheckpointMismatchError(f"{path}: not a safetensors file; convert it with `videofocalnet convert-weights`")
    config = _read_metadata(path)
    if config is None:
        raise CheckpointMismatchError(f"{path}: safetensors file without '{METADATA_KEY}' metadata (not written by "
                                      "videofocalnet); load it with load_pretrained(model, path) instead")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointMismatchError(f"{path}: format_version {version!r}, this version reads {FORMAT_VERSION}")
    for key in ("model_name", "model_kwargs"):
        if key not in config:
            raise CheckpointMismatchError(f"{path}: metadata lacks {key!r}")
    return config


def load_model_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu"
                          ) -> tuple[nn.Module, dict]:
    """Rebuild the model from the embedded config and load the weights strictly. Returns (model, config)."""
    from safetensors.torch import load_file

    from videofocalnet.models.registry import create_model

    config = read_checkpoint_config(path)
    model = create_model(config["model_name"], **config["model_kwargs"])
    state = load_file(str(path), device=str(map_location))
    target = model.state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
              for k in state if k in target and state[k].shape != target[k].shape]
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(_mismatch_message(str(path), FMT_OURS, missing, unexpected, shapes))
    model.load_state_dict(state, strict=True)
    return model.to(map_location), config


# ------------------------------------------------------------------------------------------------ inference
_PUBLISHED = {  # (embed_dim, depths) -> registered name
    (96, (2, 2, 6, 2)): "video_focalnet_tiny",
    (96, (2, 2, 18, 2)): "video_focalnet_small",
    (128, (2, 2, 18, 2)): "video_focalnet_base",
}


def infer_model_config(state_dict: Mapping[str, torch.Tensor], *, num_classes: int | None = None,
                       num_frames: int = 8, tubelet_size: int | None = None) -> tuple[str, dict[str, Any]]:
    """Read the architecture off an official-layout state dict: (registered name, constructor kwargs).

    The embed dim comes from the stem, depths from the block indices, focal levels/windows from the focal convs,
    the tubelet from the stem's ndim. Architectures that are not T/S/B are built from the tiny factory with every
    architectural keyword given explicitly.
    """
    sd, _fmt = to_official_layout(state_dict)
    stem = sd.get(_STEM_WEIGHT)
    if stem is None:
        raise CheckpointMismatchError(f"cannot infer the architecture: no {_STEM_WEIGHT}")
    embed_dim = int(stem.shape[0])
    blocks: dict[int, set[int]] = {}
    levels: dict[int, set[int]] = {}
    windows: dict[int, int] = {}
    for key, value in sd.items():
        m = re.match(r"layers\.(\d+)\.blocks\.(\d+)\.", key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
        m = re.match(r"layers\.(\d+)\.blocks\.0\.modulation\.focal_layers\.(\d+)\.0\.weight$", key)
        if m:
            stage, level = int(m.group(1)), int(m.group(2))
            levels.setdefault(stage, set()).add(level)
            if level == 0:
                windows[stage] = int(value.shape[-1])
    stages = sorted(blocks)
    if stages != list(range(len(stages))) or not stages:
        raise CheckpointMismatchError(f"cannot infer the architecture: stage indices {stages}")
    depths = tuple(max(blocks[i]) + 1 for i in stages)
    focal_levels = tuple(len(levels.get(i, ())) for i in stages)
    focal_windows = tuple(windows.get(i, 3) for i in stages)
    inferred_tubelet = int(stem.shape[2]) if stem.ndim == 5 else 1
    tubelet = tubelet_size if tubelet_size is not None else inferred_tubelet
    if num_classes is None:
        num_classes = int(sd["head.weight"].shape[0]) if "head.weight" in sd and _fmt == FMT_VIDEO else 400
    name = _PUBLISHED.get((embed_dim, depths))
    kwargs: dict[str, Any] = {"num_classes": num_classes, "num_frames": num_frames, "tubelet_size": tubelet}
    if name is None or focal_levels != (2,) * 4 or focal_windows != (3,) * 4:
        name = name or "video_focalnet_tiny"
        kwargs.update(embed_dim=embed_dim, depths=list(depths), focal_levels=list(focal_levels),
                      focal_windows=list(focal_windows))
    if any(k.endswith(".gamma_1") for k in sd):
        kwargs["use_layerscale"] = True
    if any(".modulation.ln." in k for k in sd):
        kwargs["use_postln_in_modulation"] = True
    return name, kwargs
