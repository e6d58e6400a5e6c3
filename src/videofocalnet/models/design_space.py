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

import torch
import torch.nn as nn
import torch.nn.functional as F

from videofocalnet.models.focal_modulation import (
    MODULATIONS,
    ModulatorCollector,
    SpatioTemporalFocalModulation,
    _init_focal_attributes,
    _temporal_conv_gelu_bthwc,
)
from videofocalnet.models.layers import DropPathMode, init_weights_official
from videofocalnet.models.registry import register_model
from videofocalnet.models.video_focalnet import FocalNetBlock, VideoFocalNet

__all__ = [
    "VARIANTS", "SpatialFocalModulation", "JointFocalModulation", "TemporalFocalModulation",
    "DividedFocalModulation", "FactorizedVideoFocalNet", "build_variant",
]

# The published design first: it is the default everywhere.
VARIANTS: tuple[str, ...] = ("parallel", "spatial", "joint", "divided", "factorized")

_TEMPORAL_KEYS = ("f_temporal", "h_temporal", "focal_layers_temporal")


# ------------------------------------------------------------------------------------------------ modulations
class SpatialFocalModulation(SpatioTemporalFocalModulation):
    """FocalNet's 2-D focal modulation applied to each frame on its own: the published module minus its temporal branch.

    out = proj(q * h(spatial context)). Parameter names (``f``, ``h``, ``proj``, ``focal_layers``, ``ln``) are those of
    the image FocalNet, so image checkpoints load into it. The temporal branch the parent builds is removed right after
    construction, so it owns no parameter that would never receive a gradient.
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        for name in _TEMPORAL_KEYS:
            delattr(self, name)

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C). Overridden by the joint variant."""
        return self.spatial_modulator(x)

    def forward(
        self, x: torch.Tensor, collector: ModulatorCollector | None = None, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C), plus ``residual`` when given. The collector gets
        ``{"spatial": modulator, "temporal": None}``."""
        q, modulator = self.context(x)
        out = q * modulator
        if collector is not None:
            collector.append({"spatial": modulator.detach(), "temporal": None})
        if self.use_postln_in_modulation:
            out = self.ln(out)
        return self.project(out, residual)


def _depthwise_conv_bthwc(x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
    """Depthwise 3-D conv of a (B, T, H, W, C) tensor; returns (B, T, H, W, C).

    (B, T, H, W, C) memory viewed as (B, C, T, H, W) is exactly channels_last_3d, so no copy is made.
    """
    x = x.permute(0, 4, 1, 2, 3)  # (B, T, H, W, C) -> (B, C, T, H, W), channels_last_3d strides
    x = x.contiguous(memory_format=torch.channels_last_3d)  # no-op unless x is a channel slice
    y = F.conv3d(x, conv.weight, None, 1, conv.padding, 1, conv.groups)
    return y.permute(0, 2, 3, 4, 1)  # (B, C, T, H, W) -> (B, T, H, W, C)


class JointFocalModulation(SpatialFocalModulation):
    """3-D focal modulation: the spatial module's ``f``/``h``/``proj``, with the per-level context convolutions made
    depthwise (k, k, k) over (T, H, W) and the global context a mean over the whole clip.

    Time and space are mixed by the same cheap depthwise kernels (k times the spatial-only cost in conv weights), which
    is the 3-D counterpart of FocalNet rather than the published split into two branches.
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        self.focal_layers = nn.ModuleList(
            nn.Sequential(nn.Conv3d(dim, dim, k, padding=k // 2, groups=dim, bias=False), nn.GELU())
            for k in self.kernel_sizes
        )

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C); the modulator sees the whole (T, H, W) volume."""
        C = self.dim
        q, ctx, gates = torch.split(self.f(x), (C, C, self.focal_level + 1), dim=-1)  # (B, T, H, W, 2C+L+1) split

        def conv(t: torch.Tensor, level: int) -> torch.Tensor:
            seq = self.focal_layers[level]
            return seq[1](_depthwise_conv_bthwc(t, seq[0]))

        ctx_all = self._gated_context(ctx, gates, conv, global_dims=(1, 2, 3))  # global = mean over T, H, W
        modulator = F.linear(ctx_all, self.h.weight.flatten(1), self.h.bias)  # 1x1 conv as a linear map
        return q, modulator


class TemporalFocalModulation(nn.Module):
    """Focal modulation along time only, with its own query: out = proj(q * h(temporal context)).

    The published temporal branch (``f_temporal``/``h_temporal``/dense ``focal_layers_temporal``) has no query and no
    output projection of its own, because it only multiplies the spatial branch. Standing alone (divided and
    factorized variants) it needs both, so ``f`` here produces q, ctx and L+1 gates like the spatial ``f`` does. The
    temporal convolutions stay dense C -> C (not depthwise), exactly as in the published temporal branch, so the
    comparison isolates the *arrangement* of the branches rather than the convolution type. Works for any (H, W),
    including the (1, 1) of pooled per-frame features.
    """

    # The gated cascade and the output projection are the published ones; they only read attributes set here.
    _gated_context = SpatioTemporalFocalModulation._gated_context
    project = SpatioTemporalFocalModulation.project

    def __init__(
        self,
        dim: int,
        *,
        focal_window: int,
        focal_level: int,
        focal_factor: int = 2,
        proj_drop: float = 0.0,
        use_postln_in_modulation: bool = False,
        normalize_modulator: bool = False,
    ) -> None:
        super().__init__()
        _init_focal_attributes(self, dim, focal_window=focal_window, focal_level=focal_level,
                               focal_factor=focal_factor, normalize_modulator=normalize_modulator,
                               use_postln_in_modulation=use_postln_in_modulation)
        self.f = nn.Linear(dim, 2 * dim + focal_level + 1)
        self.h = nn.Linear(dim, dim)
        self.act = nn.GELU()
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.focal_layers = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, k, padding=k // 2, bias=False), nn.GELU()) for k in self.kernel_sizes
        )
        if use_postln_in_modulation:
            self.ln = nn.LayerNorm(dim)

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C): context along time at each spatial location."""
        C = self.dim
        q, ctx, gates = torch.split(self.f(x), (C, C, self.focal_level + 1), dim=-1)  # (B, T, H, W, 2C+L+1) split

        def conv(t: torch.Tensor, level: int) -> torch.Tensor:
            return _temporal_conv_gelu_bthwc(t, self.focal_layers[level][0])

        ctx_all = self._gated_context(ctx, gates, conv, global_dims=(1,))  # global = mean over T
        return q, self.h(ctx_all)

    def forward(
        self, x: torch.Tensor, collector: ModulatorCollector | None = None, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C), plus ``residual`` when given. The collector gets
        ``{"spatial": None, "temporal": modulator}``."""
        q, modulator = self.context(x)
        out = q * modulator
        if collector is not None:
            collector.append({"spatial": None, "temporal": modulator.detach()})
        if self.use_postln_in_modulation:
            out = self.ln(out)
        return self.project(out, residual)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, focal_level={self.focal_level}, kernel_sizes={self.kernel_sizes}"


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

    def forward(
        self, x: torch.Tensor, collector: ModulatorCollector | None = None, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C), plus ``residual`` when given. The collector gets one entry with both
        modulators."""
        parts: ModulatorCollector | None = [] if collector is not None else None
        s = self.spatial(x, parts)
        t = self.temporal(self.norm_temporal(x + s), parts, residual=s)  # s + t, the sum fused into t's projection
        if collector is not None:
            collector.append({"spatial": parts[0]["spatial"], "temporal": parts[1]["temporal"]})
        return t if residual is None else residual + t


for _name, _cls in (("spatial", SpatialFocalModulation), ("joint", JointFocalModulation),
                    ("divided", DividedFocalModulation), ("temporal", TemporalFocalModulation)):
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
        dim = self.num_features
        mlp_ratio = kwargs.get("mlp_ratio", 4.0)
        drop = kwargs.get("drop_rate", 0.0)
        drop_path_rate = kwargs.get("drop_path_rate", 0.1)
        drop_path_mode: DropPathMode = kwargs.get("drop_path_mode", "frame")
        self.temporal_depth = temporal_depth
        # The temporal blocks are the deepest ones, so they get the end of the stochastic-depth schedule.
        self.temporal_blocks = nn.ModuleList(
            FocalNetBlock(
                dim, mlp_ratio=mlp_ratio, drop=drop, drop_path=drop_path_rate, drop_path_mode=drop_path_mode,
                focal_level=temporal_focal_level, focal_window=temporal_focal_window,
                use_layerscale=kwargs.get("use_layerscale", False),
                layerscale_value=kwargs.get("layerscale_value", 1e-4),
                use_postln=kwargs.get("use_postln", False),
                use_postln_in_modulation=kwargs.get("use_postln_in_modulation", False),
                normalize_modulator=kwargs.get("normalize_modulator", False),
                modulation="temporal",
            )
            for _ in range(temporal_depth)
        )
        self.temporal_norm = nn.LayerNorm(dim)
        self.temporal_blocks.apply(init_weights_official)
        self.temporal_norm.apply(init_weights_official)

    def forward_frame_features(
        self, x: torch.Tensor, collector: ModulatorCollector | None = None
    ) -> torch.Tensor:
        """(B, T, 3, H, W) -> temporally mixed frame features (B, T', C) after ``temporal_norm``."""
        tokens = self.forward_tokens(x, collector)  # (B, T', h, w, C), spatial stages only
        frames = tokens.mean(dim=(2, 3), keepdim=True)  # (B, T', 1, 1, C)
        for blk in self.temporal_blocks:
            frames = blk(frames, collector)  # (B, T', 1, 1, C)
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


_TINY = dict(num_classes=400, embed_dim=96, depths=(2, 2, 6, 2), focal_levels=(2, 2, 2, 2),
             focal_windows=(3, 3, 3, 3), num_frames=8, drop_path_rate=0.2)
# Demo size: trains in minutes on a laptop CPU on 64x64 clips (the synthetic dataset of benchmarks/design_space.py).
_XS = dict(num_classes=11, img_size=64, embed_dim=24, depths=(1, 1, 2, 1), focal_levels=(2, 2, 2, 2),
           focal_windows=(3, 3, 3, 3), num_frames=8, drop_path_rate=0.1)


def _factory(variant: str, defaults: dict, name: str, doc: str):
    def factory(**kwargs) -> VideoFocalNet:
        return build_variant(variant, **{**defaults, **kwargs})

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc
    return register_model(factory)


for _variant in VARIANTS:
    if _variant != "parallel":  # video_focalnet_tiny is the parallel one
        _factory(_variant, _TINY, f"video_focalnet_tiny_{_variant}",
                 f"Video-FocalNet-T widths and depths with the {_variant!r} design.")
    _factory(_variant, _XS, f"video_focalnet_xs_{_variant}",
             f"Demo-size (24 wide, depths 1-1-2-1, 64 px, 11 classes) model with the {_variant!r} design.")
