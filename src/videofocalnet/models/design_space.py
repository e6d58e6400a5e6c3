"""The design space of spatio-temporal focal modulation: where, and in what order, a block looks across time.

Five variants, all built from the published model's parts and trained the same way by ``benchmarks/design_space.py``:

========== ===================================================================================================
spatial    2-D focal modulation per frame only (FocalNet on every frame); frames meet only in the final mean.
joint      one 3-D focal modulation whose context convolutions are depthwise over (T, H, W).
divided    spatial focal modulation, then a separate temporal focal modulation with its own projections, in
           series inside every block.
factorized a per-frame spatial encoder (spatial blocks only), then temporal focal-modulation blocks over the
           pooled per-frame features.
parallel   the published design (``SpatioTemporalFocalModulation``) and the default.
========== ===================================================================================================

``spatial``, ``joint``, ``divided`` and the helper ``temporal`` register themselves in ``MODULATIONS`` when this
module is imported, so ``FocalNetBlock(modulation=name)`` and ``VideoFocalNet(modulation=name)`` find them.
``factorized`` changes the network, not the block, so it is a model class (:class:`FactorizedVideoFocalNet`).
:func:`build_variant` builds any of the five from the ``VideoFocalNet`` constructor keywords.

Every module keeps tensors channels-last, (B, T, H, W, C), like the published one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from videofocalnet.models.focal_modulation import (
    MODULATIONS,
    FocalModulationBase,
    ModulatorCollector,
    SpatialFocalModulation,
    temporal_conv_bthwc,
)
from videofocalnet.models.layers import INIT_SCHEMES
from videofocalnet.models.registry import register_model
from videofocalnet.models.video_focalnet import FocalNetBlock, VideoFocalNet, run_blocks

__all__ = [
    "VARIANTS",
    "SpatialFocalModulation",
    "JointFocalModulation",
    "TemporalFocalModulation",
    "DividedFocalModulation",
    "FactorizedVideoFocalNet",
    "build_variant",
]

# The published design first: it is the default everywhere.
VARIANTS: tuple[str, ...] = ("parallel", "spatial", "joint", "divided", "factorized")


# ------------------------------------------------------------------------------------------------ modulations
def _depthwise_conv3d_bthwc(x: torch.Tensor, level: nn.Module) -> torch.Tensor:
    """``level`` = (depthwise Conv3d, GELU) applied to a (B, T, H, W, C) tensor; returns (B, T, H, W, C).

    (B, T, H, W, C) memory viewed as (B, C, T, H, W) is exactly channels_last_3d, so no copy is made.
    """
    x = x.permute(0, 4, 1, 2, 3)  # (B, T, H, W, C) -> (B, C, T, H, W), channels_last_3d strides
    x = x.contiguous(memory_format=torch.channels_last_3d)  # no-op unless x is a channel slice
    return level(x).permute(0, 2, 3, 4, 1)  # (B, C, T, H, W) -> (B, T, H, W, C)


class JointFocalModulation(FocalModulationBase):
    """3-D focal modulation: the spatial module's ``f``/``h``/``proj``, with the per-level context convolutions
    depthwise (k, k, k) over (T, H, W) and the global context a mean over the whole clip.

    Time and space are mixed by the same cheap depthwise kernels (k times the spatial-only cost in conv weights),
    which is the 3-D counterpart of FocalNet rather than the published split into two branches.
    """

    h: nn.Conv2d

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        self._build(
            lambda: nn.Conv2d(dim, dim, kernel_size=1),
            lambda k: nn.Conv3d(dim, dim, k, padding=k // 2, groups=dim, bias=False),  # depthwise over (T, H, W)
        )

    def _volume_level(self, ctx: torch.Tensor, level: int) -> torch.Tensor:
        return _depthwise_conv3d_bthwc(ctx, self.focal_layers[level])

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C); the modulator sees the whole (T, H, W) volume."""
        C = self.dim
        q, ctx, gates = torch.split(self.f(x), [C, C, self.focal_level + 1], dim=-1)  # (B, T, H, W, 2C+L+1) split
        ctx_all = self._gated_context(ctx, gates, self._volume_level, global_dims=(1, 2, 3))  # mean over T, H, W
        modulator = F.linear(ctx_all, self.h.weight.flatten(1), self.h.bias)  # 1x1 conv as a linear map
        return q, modulator


class TemporalFocalModulation(FocalModulationBase):
    """Focal modulation along time only, with its own query: out = proj(q * h(temporal context)).

    The published temporal branch (``f_temporal``/``h_temporal``/dense ``focal_layers_temporal``) has no query and no
    output projection of its own, because it only multiplies the spatial branch. Standing alone (divided and
    factorized variants) it needs both, so ``f`` here produces q, ctx and L+1 gates like the spatial ``f`` does. The
    temporal convolutions stay dense C -> C (not depthwise), exactly as in the published temporal branch, so the
    comparison isolates the *arrangement* of the branches rather than the convolution type. Works for any (H, W),
    including the (1, 1) of pooled per-frame features.
    """

    collector_key = "temporal"
    h: nn.Linear

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        self._build(
            lambda: nn.Linear(dim, dim),
            lambda k: nn.Conv1d(dim, dim, k, padding=k // 2, bias=False),  # dense C -> C over T
        )

    def _temporal_level(self, ctx: torch.Tensor, level: int) -> torch.Tensor:
        return temporal_conv_bthwc(ctx, self.focal_layers[level], training_kernels=self.training_kernels)

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C): context along time at each spatial location."""
        C = self.dim
        q, ctx, gates = torch.split(self.f(x), [C, C, self.focal_level + 1], dim=-1)  # (B, T, H, W, 2C+L+1) split
        ctx_all = self._gated_context(ctx, gates, self._temporal_level, global_dims=(1,))  # global = mean over T
        return q, self.h(ctx_all)


class DividedFocalModulation(nn.Module):
    """Spatial focal modulation, then temporal focal modulation, in series inside one block (TimeSformer-style
    divided space-time, with focal modulation in place of attention).

    The block hands this module ``u = norm1(x)`` and adds its output back onto ``x``. Inside::

        s = spatial(u)                            # FocalNet modulation per frame (f, h, proj, focal_layers)
        t = temporal(norm_temporal(u + s))        # own f_t/h_t/proj_t, dense temporal convs; sees the spatial result
        return s + t

    so the block computes ``x + s + t``: the spatial step is a residual update of the normalised input, and the
    temporal step reads that update (through its own LayerNorm) and adds a second residual update. The block's
    layerscale and drop path act on ``s + t`` together. Both sub-modules have the constructor arguments of the block.
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__()
        self.spatial = SpatialFocalModulation(dim, **kwargs)
        self.norm_temporal = nn.LayerNorm(dim)
        self.temporal = TemporalFocalModulation(dim, **kwargs)

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C). The collector gets one entry with both modulators."""
        parts: ModulatorCollector | None = [] if collector is not None else None
        s = self.spatial(x, parts)
        t = self.temporal(self.norm_temporal(x + s), parts)
        if collector is not None and parts is not None:
            collector.append({"spatial": parts[0]["spatial"], "temporal": parts[1]["temporal"]})
        return s + t


for _name, _cls in (
    ("spatial", SpatialFocalModulation),
    ("joint", JointFocalModulation),
    ("divided", DividedFocalModulation),
    ("temporal", TemporalFocalModulation),
):
    if MODULATIONS.get(_name, _cls) is not _cls:
        raise RuntimeError(f"modulation {_name!r} is already registered as {MODULATIONS[_name]!r}")
    MODULATIONS[_name] = _cls


# ----------------------------------------------------------------------------------------------- factorized
class FactorizedVideoFocalNet(VideoFocalNet):
    """Factorized encoder: a per-frame FocalNet (every stage's blocks use ``modulation``, spatial by default), then
    ``temporal_depth`` temporal focal-modulation blocks over the frame features, then the mean over frames and the head.

    Layout: stem and stages as in :class:`VideoFocalNet` -> tokens (B, T', h, w, C) after ``norm`` -> mean over (h, w)
    -> frame features (B, T', 1, 1, C) -> ``temporal_blocks`` (pre-norm ``FocalNetBlock`` with the ``temporal``
    modulation and an MLP) -> ``temporal_norm`` -> mean over T' -> ``head``. Time is only seen after space has been
    summarised, as in ViViT's factorised encoder; it is the cheapest way to add order to a frame model.
    """

    def __init__(
        self,
        *,
        modulation: str = "spatial",
        temporal_depth: int = 2,
        temporal_focal_level: int = 2,
        temporal_focal_window: int = 3,
        **kwargs,
    ) -> None:
        super().__init__(modulation=modulation, **kwargs)
        if temporal_depth < 1:
            raise ValueError(f"temporal_depth must be >= 1, got {temporal_depth}")
        self.temporal_depth = temporal_depth
        self.temporal_grad_checkpointing = bool(kwargs.get("use_checkpoint", False))
        block_kwargs = {  # the spatial blocks' settings (VideoFocalNet's defaults where not given)
            "mlp_ratio": kwargs.get("mlp_ratio", 4.0),
            "drop": kwargs.get("drop_rate", 0.0),
            "drop_path_mode": kwargs.get("drop_path_mode", "frame"),
            "use_layerscale": kwargs.get("use_layerscale", False),
            "layerscale_value": kwargs.get("layerscale_value", 1e-4),
            "use_postln": kwargs.get("use_postln", False),
            "use_postln_in_modulation": kwargs.get("use_postln_in_modulation", False),
            "normalize_modulator": kwargs.get("normalize_modulator", False),
        }
        # The temporal blocks are the deepest ones, so they get the end of the stochastic-depth schedule.
        self.temporal_blocks = nn.ModuleList(
            FocalNetBlock(
                self.num_features,
                drop_path=kwargs.get("drop_path_rate", 0.1),
                focal_level=temporal_focal_level,
                focal_window=temporal_focal_window,
                modulation="temporal",
                **block_kwargs,
            )
            for _ in range(temporal_depth)
        )
        self.temporal_norm = nn.LayerNorm(self.num_features)
        self.temporal_blocks.apply(INIT_SCHEMES[self.init_mode])
        self.temporal_norm.apply(INIT_SCHEMES[self.init_mode])

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        super().set_grad_checkpointing(enable)
        self.temporal_grad_checkpointing = enable

    def forward_frame_features(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, 3, H, W) -> temporally mixed frame features (B, T', C) after ``temporal_norm``."""
        tokens = self.forward_tokens(x, collector)  # (B, T', h, w, C), spatial stages only
        frames = tokens.mean(dim=(2, 3), keepdim=True)  # (B, T', 1, 1, C)
        frames = run_blocks(self.temporal_blocks, frames, collector, checkpointing=self.temporal_grad_checkpointing)
        return self.temporal_norm(frames.flatten(1, 3))  # (B, T', 1, 1, C) -> (B, T', C)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, C): mean of the temporally mixed frame features."""
        return self.forward_frame_features(x).mean(dim=1)

    def forward_with_modulators(self, x: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Logits plus one modulator entry per block: spatial blocks first, then the temporal blocks, whose temporal
        modulators are (B, T', 1, 1, C)."""
        collector: ModulatorCollector = []
        features = self.forward_frame_features(x, collector).mean(dim=1)
        return self.forward_head(features), collector

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """As the published model's, and the temporal blocks go too: they read only the pooled last stage, which
        ``forward_intermediates`` (the spatial stages' maps) never needs."""
        take = super().prune_intermediate_layers(indices, prune_norm=prune_norm, prune_head=prune_head)
        self.temporal_blocks = nn.ModuleList()
        self.temporal_norm = nn.Identity()  # type: ignore[assignment]
        return take

    def _layer_id(self, name: str, offsets: list[int]) -> int:
        """Temporal blocks continue the numbering after the spatial ones (the final spatial norm shares the first
        temporal block's id); temporal_norm and head take the last."""
        parts = name.split(".")
        if parts[0] == "temporal_blocks":
            return offsets[-1] + int(parts[1]) + 1
        if parts[0] in ("temporal_norm", "head"):
            return offsets[-1] + len(self.temporal_blocks) + 1
        return super()._layer_id(name, offsets)


# --------------------------------------------------------------------------------------------------- builders
def build_variant(variant: str, **model_kwargs) -> VideoFocalNet:
    """Build one design-space variant from ``VideoFocalNet`` constructor keywords (plus, for ``factorized``, the
    ``temporal_*`` keywords of :class:`FactorizedVideoFocalNet`).

    ``build_variant("parallel", **kw)`` is exactly ``VideoFocalNet(**kw)``: same modules, same init draws.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown design-space variant {variant!r}; choose from {', '.join(VARIANTS)}")
    if "modulation" in model_kwargs:
        raise ValueError(f"pass the design through variant=, not modulation={model_kwargs['modulation']!r}")
    if variant == "factorized":
        return FactorizedVideoFocalNet(**model_kwargs)
    extra = sorted(k for k in model_kwargs if k.startswith("temporal_"))
    if extra:
        raise ValueError(f"{', '.join(extra)} only apply to the 'factorized' variant, not {variant!r}")
    return VideoFocalNet(modulation=variant, **model_kwargs)


_TINY = dict(
    num_classes=400,
    embed_dim=96,
    depths=(2, 2, 6, 2),
    focal_levels=(2, 2, 2, 2),
    focal_windows=(3, 3, 3, 3),
    num_frames=8,
    drop_path_rate=0.2,
)
# Demo size: trains in minutes on a laptop CPU on 64x64 clips (the synthetic dataset of benchmarks/design_space.py).
_XS = dict(
    num_classes=11,
    img_size=64,
    embed_dim=24,
    depths=(1, 1, 2, 1),
    focal_levels=(2, 2, 2, 2),
    focal_windows=(3, 3, 3, 3),
    num_frames=8,
    drop_path_rate=0.1,
)


def _factory(variant: str, defaults: dict, name: str, doc: str):
    def factory(**kwargs) -> VideoFocalNet:
        return build_variant(variant, **{**defaults, **kwargs})

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return register_model(factory)


for _variant in VARIANTS:
    if _variant != "parallel":  # video_focalnet_tiny is the parallel one
        _factory(
            _variant,
            _TINY,
            f"video_focalnet_tiny_{_variant}",
            f"Video-FocalNet-T widths and depths with the {_variant!r} design.",
        )
    _factory(
        _variant,
        _XS,
        f"video_focalnet_xs_{_variant}",
        f"Demo-size (24 wide, depths 1-1-2-1, 64 px, 11 classes) model with the {_variant!r} design.",
    )
