"""Key conversion between our layout (the official Video-FocalNet names) and the ImageNet FocalNet layouts.

Pure functions, state dict in -> state dict out, in both directions, in the style of torchtune's
``models/convert_weights.py``: explicit tables, and a key that no rule knows raises an error naming it (silently
dropping a tensor is how a half-loaded model happens). No file I/O and no ``nn.Module`` here: reading files lives in
``videofocalnet.weights``, applying a state dict to a model (stem inflation, temporal init, head re-draw) in
``videofocalnet.models.pretrained``.

Layouts:

* ours = released Video-FocalNet = the official key names (``patch_embed.*``, ``layers.i.blocks.j.*``, ``norm.*``,
  ``head.*``), including the temporal branch (``f_temporal``, ``h_temporal``, ``focal_layers_temporal``);
* Microsoft ImageNet FocalNet: the same names without the temporal branch;
* timm FocalNet: ``stem.*``, ``head.fc.*``, ``ls{1,2}.gamma``, ``modulation.norm``, 1x1 convs for ``f``/``proj``/
  ``mlp``, ``norm{1,2}_post`` in post-norm models, and the downsample at the START of stage i + 1 instead of the end
  of stage i.

:func:`checkpoint_filter_fn` (timm's name and signature) is the one entry point: any supported layout -> ours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "FMT_MICROSOFT",
    "FMT_TIMM",
    "FMT_VIDEO",
    "CheckpointMismatchError",
    "checkpoint_filter_fn",
    "detect_format",
    "from_microsoft",
    "from_timm",
    "is_temporal_key",
    "summarise_keys",
    "to_microsoft",
    "to_timm",
]

# Layout names (detect_format, LoadReport.format).
FMT_VIDEO = "video-focalnet"  # released Video-FocalNet state dict (our layout)
FMT_MICROSOFT = "focalnet-microsoft"  # ImageNet FocalNet, Microsoft layout
FMT_TIMM = "focalnet-timm"  # ImageNet FocalNet, timm layout

_TEMPORAL = re.compile(r"\.modulation\.(f_temporal|h_temporal|focal_layers_temporal)\.")
# Integer path components that vary with the architecture; a table key holds "{}" in their place.
_INDEX = re.compile(r"(focal_layers|layers|blocks)\.(\d+)(?=\.)")


class CheckpointMismatchError(ValueError):
    """The checkpoint's keys or shapes do not fit the model (or no conversion rule knows a key)."""


def summarise_keys(keys: list[str], limit: int = 8) -> str:
    """Group keys that differ only in block/level indices so a 60-key temporal branch reads as a few patterns."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        pattern = re.sub(r"\.\d+\.", ".*.", re.sub(r"\.\d+\.", ".*.", key))
        groups.setdefault(pattern, []).append(key)
    parts = [f"{p} (x{len(ks)})" if len(ks) > 1 else ks[0] for p, ks in groups.items()]
    more = f", ... ({len(parts) - limit} more patterns)" if len(parts) > limit else ""
    return ", ".join(parts[:limit]) + more


def is_temporal_key(key: str) -> bool:
    """A parameter of the temporal branch, which ImageNet FocalNets do not have."""
    return _TEMPORAL.search(key) is not None


# ------------------------------------------------------------------------------------------------ tables
# Our module -> timm module; each has a .weight and a .bias.
_TIMM_MODULES = {
    "patch_embed.proj": "stem.proj",
    "patch_embed.norm": "stem.norm",
    "layers.{}.downsample.proj": "layers.{}.downsample.proj",  # stage index + 1, see _shift_downsample
    "layers.{}.downsample.norm": "layers.{}.downsample.norm",
    "layers.{}.blocks.{}.norm1": "layers.{}.blocks.{}.norm1",  # norm1_post in post-norm models
    "layers.{}.blocks.{}.norm2": "layers.{}.blocks.{}.norm2",  # norm2_post in post-norm models
    "layers.{}.blocks.{}.modulation.f": "layers.{}.blocks.{}.modulation.f",  # Linear here, 1x1 conv in timm
    "layers.{}.blocks.{}.modulation.h": "layers.{}.blocks.{}.modulation.h",
    "layers.{}.blocks.{}.modulation.proj": "layers.{}.blocks.{}.modulation.proj",  # Linear here, 1x1 conv in timm
    "layers.{}.blocks.{}.modulation.ln": "layers.{}.blocks.{}.modulation.norm",
    "layers.{}.blocks.{}.mlp.fc1": "layers.{}.blocks.{}.mlp.fc1",  # Linear here, 1x1 conv in timm
    "layers.{}.blocks.{}.mlp.fc2": "layers.{}.blocks.{}.mlp.fc2",  # Linear here, 1x1 conv in timm
    "norm": "norm",
    "head": "head.fc",
}
_FOCAL_CONV = "layers.{}.blocks.{}.modulation.focal_layers.{}.0.weight"
# Our key -> timm key, every spatial parameter of a FocalNet (pre-norm names; see _POST_NORM).
_OURS_TO_TIMM: dict[str, str] = {
    **{f"{ours}.{p}": f"{timm}.{p}" for ours, timm in _TIMM_MODULES.items() for p in ("weight", "bias")},
    "layers.{}.blocks.{}.gamma_1": "layers.{}.blocks.{}.ls1.gamma",
    "layers.{}.blocks.{}.gamma_2": "layers.{}.blocks.{}.ls2.gamma",
    _FOCAL_CONV: _FOCAL_CONV,  # the depthwise context convs (no bias) keep their names
}
# Post-norm timm models name the block norms norm{1,2}_post (their norm{1,2} are Identity).
_POST_NORM = {
    f"layers.{{}}.blocks.{{}}.norm{i}.{p}": f"layers.{{}}.blocks.{{}}.norm{i}_post.{p}"
    for i in (1, 2)
    for p in ("weight", "bias")
}
_TIMM_TO_OURS: dict[str, str] = {
    **{timm: ours for ours, timm in _OURS_TO_TIMM.items()},
    **{timm: ours for ours, timm in _POST_NORM.items()},
}
# Our Linear weights (O, I) that timm holds as 1x1 conv weights (O, I, 1, 1).
_CONV_IN_TIMM = {
    f"layers.{{}}.blocks.{{}}.{m}.weight" for m in ("modulation.f", "modulation.proj", "mlp.fc1", "mlp.fc2")
}
_DOWNSAMPLE = "layers.{}.downsample."
# Our spatial keys: exactly the table's left side (the Microsoft layout uses them unchanged).
_OURS_SPATIAL = frozenset(_OURS_TO_TIMM)


def _template(key: str) -> tuple[str, list[int]]:
    """``layers.2.blocks.0.modulation.focal_layers.1.0.weight`` -> (``layers.{}.blocks.{}...focal_layers.{}.0.weight``,
    [2, 0, 1])."""
    indices = [int(m.group(2)) for m in _INDEX.finditer(key)]
    return _INDEX.sub(r"\1.{}", key), indices


def _unknown(keys: list[str], layout: str) -> CheckpointMismatchError:
    return CheckpointMismatchError(f"{layout} keys that no conversion rule knows: {summarise_keys(keys)}")


def _split_temporal(
    state_dict: Mapping[str, torch.Tensor], target: str, drop_temporal: bool
) -> dict[str, torch.Tensor]:
    """Our state dict without its temporal branch: an ImageNet layout has no place for it, so dropping it must be
    asked for."""
    temporal = [k for k in state_dict if is_temporal_key(k)]
    if temporal and not drop_temporal:
        raise CheckpointMismatchError(
            f"the {target} layout (an image model) has no temporal branch; pass "
            "drop_temporal=True to keep only the spatial weights: "
            f"{summarise_keys(temporal)}"
        )
    return {k: v for k, v in state_dict.items() if not is_temporal_key(k)}


def _check_spatial(state_dict: Mapping[str, torch.Tensor], layout: str) -> None:
    unknown = [k for k in state_dict if _template(k)[0] not in _OURS_SPATIAL]
    if unknown:
        raise _unknown(unknown, layout)


# ------------------------------------------------------------------------------------------------ Microsoft
def to_microsoft(state_dict: Mapping[str, torch.Tensor], *, drop_temporal: bool = False) -> dict[str, torch.Tensor]:
    """Ours -> Microsoft ImageNet FocalNet: the same names, without the temporal branch."""
    out = _split_temporal(state_dict, "Microsoft FocalNet", drop_temporal)
    _check_spatial(out, "Video-FocalNet")
    return out


def from_microsoft(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Microsoft ImageNet FocalNet -> ours: names unchanged; the temporal branch is the loader's to initialise."""
    _check_spatial(state_dict, "Microsoft FocalNet")
    return dict(state_dict)


# ------------------------------------------------------------------------------------------------ timm
def _shift_downsample(template: str, indices: list[int], step: int, key: str) -> list[int]:
    """timm downsamples at the START of stage i + 1; the official model at the END of stage i."""
    if not template.startswith(_DOWNSAMPLE):
        return indices
    stage = indices[0] + step
    if stage < 0:
        raise CheckpointMismatchError(f"timm key {key} has no official counterpart (stage 0 has no downsample)")
    return [stage, *indices[1:]]


def to_timm(
    state_dict: Mapping[str, torch.Tensor], *, post_norm: bool = False, drop_temporal: bool = False
) -> dict[str, torch.Tensor]:
    """Ours -> timm FocalNet. ``post_norm`` names the block norms as a ``use_post_norm`` timm model does (our
    ``use_postln``); the state dict alone cannot tell."""
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in _split_temporal(state_dict, "timm FocalNet", drop_temporal).items():
        template, indices = _template(key)
        new = (_POST_NORM.get(template) if post_norm else None) or _OURS_TO_TIMM.get(template)
        if new is None:
            unknown.append(key)
            continue
        if template in _CONV_IN_TIMM and value.ndim == 2:
            value = value.reshape(*value.shape, 1, 1)  # Linear (O, I) -> 1x1 conv (O, I, 1, 1)
        out[new.format(*_shift_downsample(template, indices, +1, key))] = value
    if unknown:
        raise _unknown(unknown, "Video-FocalNet")
    return out


def from_timm(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm FocalNet -> ours. 1x1-conv weights (O, I, 1, 1) become Linear weights (O, I)."""
    out: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        template, indices = _template(key)
        ours = _TIMM_TO_OURS.get(template)
        if ours is None:
            unknown.append(key)
            continue
        if ours in _CONV_IN_TIMM and value.ndim == 4:
            if value.shape[2:] != (1, 1):
                raise CheckpointMismatchError(f"timm key {key}: expected a 1x1 conv weight, got {tuple(value.shape)}")
            value = value.reshape(value.shape[:2])  # (O, I, 1, 1) -> (O, I)
        new_key = ours.format(*_shift_downsample(template, indices, -1, key))
        if new_key in out:
            raise CheckpointMismatchError(f"timm keys map twice onto {new_key} (pre- and post-norm both present?)")
        out[new_key] = value
    if unknown:
        raise CheckpointMismatchError(
            f"timm FocalNet checkpoint has keys with no official counterpart: {summarise_keys(unknown)}"
        )
    return out


# ------------------------------------------------------------------------------------------------ entry point
def detect_format(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Which layout a state dict uses: ``focalnet-timm``, ``video-focalnet`` or ``focalnet-microsoft``."""
    if "stem.proj.weight" in state_dict:
        return FMT_TIMM
    if any(is_temporal_key(k) for k in state_dict):
        return FMT_VIDEO
    if "patch_embed.proj.weight" in state_dict:
        return FMT_MICROSOFT
    raise CheckpointMismatchError(
        "unrecognised checkpoint layout: expected Video-FocalNet / FocalNet keys such as 'patch_embed.proj.weight' "
        f"or timm's 'stem.proj.weight'; first keys: {list(state_dict)[:6]}"
    )


def checkpoint_filter_fn(state_dict: Mapping[str, Any], model: Any = None) -> dict[str, torch.Tensor]:
    """Any supported layout -> ours (official key names and shapes); ``{"model": sd}`` is unwrapped.

    A Video-FocalNet state dict passes unchanged (the loader checks its keys against the model, which reports all
    mismatches at once). ``model`` is accepted for timm's signature; shapes are checked later, by the loader.
    """
    if isinstance(state_dict.get("model"), Mapping):
        state_dict = state_dict["model"]
    fmt = detect_format(state_dict)
    if fmt == FMT_TIMM:
        return from_timm(state_dict)
    if fmt == FMT_MICROSOFT:
        return from_microsoft(state_dict)
    return dict(state_dict)
