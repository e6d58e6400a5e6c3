"""Name -> factory registry, in the spirit of timm's ``register_model`` / ``create_model``, and reading the
architecture (registered name + constructor kwargs) off a state dict."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import torch
import torch.nn as nn

from videofocalnet.models.convert import FMT_VIDEO, CheckpointMismatchError, checkpoint_filter_fn, detect_format

_MODELS: dict[str, Callable[..., nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(fn: F) -> F:
    """Register a factory under its function name. Re-registering a name is a programming error."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models(filter: str = "") -> list[str]:
    """Registered model names, sorted; ``filter`` keeps names containing that text."""
    return sorted(name for name in _MODELS if filter in name)


def is_model(name: str) -> bool:
    return name in _MODELS


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    try:
        return _MODELS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (registered: {', '.join(list_models())})") from None


def create_model(
    name: str,
    *,
    features_only: bool = False,
    out_indices: int | Sequence[int] | None = None,
    output_fmt: str = "NCTHW",
    feature_norm: bool = False,
    **overrides,
) -> nn.Module:
    """Build a registered model; keyword overrides replace the factory's defaults (e.g. ``num_classes=174``).

    ``features_only=True`` (timm's switch) returns a :class:`~videofocalnet.models.features.FeatureVideoFocalNet`
    whose forward gives the stage maps ``out_indices`` names (None: all), in ``output_fmt``, with ``feature_info``;
    ``feature_norm`` applies the final LayerNorm to the last stage's map.
    """
    model = model_entrypoint(name)(**overrides)
    if not features_only:
        return model
    return as_features(model, out_indices, output_fmt=output_fmt, norm=feature_norm)


def as_features(
    model: nn.Module, out_indices: int | Sequence[int] | None = None, *, output_fmt: str = "NCTHW", norm: bool = False
) -> nn.Module:
    """Wrap a built (and perhaps weight-loaded) model as its ``features_only`` module."""
    from videofocalnet.models.features import FeatureVideoFocalNet

    return FeatureVideoFocalNet(model, out_indices, norm=norm, output_fmt=output_fmt)


# ------------------------------------------------------------------------------------------------ architecture
_PUBLISHED: dict[tuple[int, tuple[int, ...]], str] = {  # (embed_dim, depths) -> registered name
    (96, (2, 2, 6, 2)): "video_focalnet_tiny",
    (96, (2, 2, 18, 2)): "video_focalnet_small",
    (128, (2, 2, 18, 2)): "video_focalnet_base",
}
_STEM_WEIGHT = "patch_embed.proj.weight"


def _stage_shapes(sd: Mapping[str, torch.Tensor]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(depths, focal_levels, focal_windows) from the block indices and the first block's focal convs."""
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
    return depths, focal_levels, focal_windows


def infer_model_config(
    state_dict: Mapping[str, torch.Tensor],
    *,
    num_classes: int | None = None,
    num_frames: int = 8,
    tubelet_size: int | None = None,
) -> tuple[str, dict[str, Any]]:
    """Read the architecture off a state dict in any supported layout: (registered name, constructor kwargs).

    The embed dim comes from the stem, depths from the block indices, focal levels/windows from the focal convs,
    the tubelet from the stem's ndim. Architectures that are not T/S/B are built from the tiny factory with every
    architectural keyword given explicitly.
    """
    fmt = detect_format(state_dict)
    sd = checkpoint_filter_fn(state_dict)
    stem = sd.get(_STEM_WEIGHT)
    if stem is None:
        raise CheckpointMismatchError(f"cannot infer the architecture: no {_STEM_WEIGHT}")
    embed_dim = int(stem.shape[0])
    depths, focal_levels, focal_windows = _stage_shapes(sd)
    inferred_tubelet = int(stem.shape[2]) if stem.ndim == 5 else 1
    tubelet = tubelet_size if tubelet_size is not None else inferred_tubelet
    if num_classes is None:
        num_classes = int(sd["head.weight"].shape[0]) if "head.weight" in sd and fmt == FMT_VIDEO else 400
    name = _PUBLISHED.get((embed_dim, depths))
    kwargs: dict[str, Any] = {"num_classes": num_classes, "num_frames": num_frames, "tubelet_size": tubelet}
    if name is None or focal_levels != (2,) * 4 or focal_windows != (3,) * 4:
        name = name or "video_focalnet_tiny"
        kwargs.update(
            embed_dim=embed_dim, depths=list(depths), focal_levels=list(focal_levels), focal_windows=list(focal_windows)
        )
    if any(k.endswith(".gamma_1") for k in sd):
        kwargs["use_layerscale"] = True
    if any(".modulation.ln." in k for k in sd):
        kwargs["use_postln_in_modulation"] = True
    return name, kwargs
