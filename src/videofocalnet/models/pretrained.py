"""Applying a converted state dict (our layout) to a model: strict key checks, stem inflation, temporal and head init.

An ImageNet FocalNet initialises a video model as the official recipe does: spatial weights copied, temporal branch
at the model's own (official) init, head re-drawn, and for ``tubelet_size > 1`` the 2-D stem kernel repeated over
time and divided by the tubelet size. A Video-FocalNet state dict loads strictly, except that a head with another
class count is re-drawn with a warning. Takes a model and a state dict already in our layout
(``videofocalnet.models.convert``); files are read by ``videofocalnet.weights``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from videofocalnet.models.convert import (
    FMT_MICROSOFT,
    FMT_TIMM,
    CheckpointMismatchError,
    is_temporal_key,
    summarise_keys,
)
from videofocalnet.models.layers import init_weights_official

__all__ = ["LoadReport", "apply_pretrained", "find_mismatches", "mismatch_message"]

_STEM_WEIGHT = "patch_embed.proj.weight"
_HEAD_KEYS = ("head.weight", "head.bias")
_IMAGENET = (FMT_MICROSOFT, FMT_TIMM)


@dataclass
class LoadReport:
    """What :func:`apply_pretrained` did. ``missing``/``unexpected`` are empty after a successful (strict) load;
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
        for title, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("re-initialised", self.reinitialised),
            ("inflated over time", self.inflated),
        ):
            if keys:
                lines.append(f"{title} ({len(keys)}): {summarise_keys(keys)}")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ checks
def find_mismatches(
    target: Mapping[str, torch.Tensor],
    state_dict: Mapping[str, torch.Tensor],
    allowed_missing: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, shape mismatches) of ``state_dict`` against the model's ``target`` state dict."""
    missing = [k for k in target if k not in state_dict and k not in allowed_missing]
    unexpected = [k for k in state_dict if k not in target]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(target[k].shape)}"
        for k in state_dict
        if k in target and state_dict[k].shape != target[k].shape
    ]
    return missing, unexpected, shapes


def mismatch_message(source: str, fmt: str, missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    lines = [f"{source}: checkpoint ({fmt}) does not fit the model"]
    if missing:
        lines.append(f"  missing from the checkpoint ({len(missing)}): {summarise_keys(missing)}")
    if unexpected:
        lines.append(f"  not in the model ({len(unexpected)}): {summarise_keys(unexpected)}")
    if shapes:
        lines.append(f"  shape mismatches ({len(shapes)}): " + "; ".join(shapes[:8]))
    lines.append("  (is --model / the architecture the one the checkpoint was trained with?)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ surgery
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


def _drop_head(
    sd: dict[str, torch.Tensor], target: Mapping[str, torch.Tensor], fmt: str, source: str, strict_head: bool
) -> bool:
    """Remove the checkpoint's head when it cannot be used; True if the model's head must be re-drawn.

    An ImageNet head (1000 / 21k classes) means nothing for video: always re-drawn. A video head with another class
    count is re-drawn with a warning, or refused when ``strict_head``.
    """
    if fmt not in _IMAGENET:
        if "head.weight" not in sd or "head.weight" not in target:
            return False
        if sd["head.weight"].shape == target["head.weight"].shape:
            return False
        msg = (
            f"{source}: head has {sd['head.weight'].shape[0]} classes, the model {target['head.weight'].shape[0]}"
            "; the head is re-initialised"
        )
        if strict_head:
            raise CheckpointMismatchError(msg.replace("; the head is re-initialised", " (strict_head=True)"))
        warnings.warn(msg, stacklevel=4)  # the caller of videofocalnet.weights.load_pretrained
    for key in _HEAD_KEYS:
        sd.pop(key, None)
    return True


def apply_pretrained(
    model: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    fmt: str,
    source: str = "a state dict",
    strict_head: bool = False,
) -> LoadReport:
    """Load ``state_dict`` (our layout; ``fmt`` is the layout it came from) into ``model`` in place.

    Keys are checked strictly: every model tensor must come from the checkpoint (save those the format cannot hold:
    the head and, for ImageNet FocalNets, the temporal branch) and every checkpoint tensor must land in the model.
    """
    sd = dict(state_dict)
    imagenet = fmt in _IMAGENET
    target = model.state_dict()
    report = LoadReport(format=fmt, source=source)
    reinit_head = _drop_head(sd, target, fmt, source, strict_head)

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
        allowed_missing |= {k for k in target if is_temporal_key(k)}
    missing, unexpected, shapes = find_mismatches(target, sd, allowed_missing)
    if missing or unexpected or shapes:
        raise CheckpointMismatchError(mismatch_message(source, fmt, missing, unexpected, shapes))

    result = model.load_state_dict(sd, strict=False)
    assert not result.unexpected_keys and set(result.missing_keys) <= allowed_missing, result
    report.loaded = len(sd)
    if imagenet:
        report.reinitialised += _reinit_temporal(model)
    if reinit_head:
        report.reinitialised += _reinit_head(model)
    return report
