"""Spatio-temporal focal modulation, the published (parallel) design, and the focal-modulation base all variants share.

Every tensor here is channels-last, (B, T, H, W, C), which is the layout the linear layers want. The depthwise
spatial convolutions and the dense temporal convolutions read the same memory as channels_last 4-D tensors, so the
whole module runs without the layout round-trips of the official code (clone, permute-contiguous, einops and back).

Parameters keep the official names and shapes (``f``, ``h``, ``proj``, ``focal_layers.{l}.0``, ``f_temporal``,
``h_temporal``, ``focal_layers_temporal.{l}.0``, ``ln``) so released checkpoints load strictly. The 1x1 ``h`` conv and
the kernel-1 ``h_temporal`` conv are applied as linear maps on the channels-last tensor, which is the same arithmetic.

This is the one plain path (autograd, export, any device). :mod:`videofocalnet.models.cpu` overrides the three hooks
``_linear``, ``_spatial_level`` and ``_temporal_level`` (and fuses the products) for CPU inference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from videofocalnet.models.kernels import (
    conv_over_time,
    crop_to_reach,
    depthwise_conv2d,
    running_eager,
    temporal_conv,
)

ModulatorCollector = list  # list[dict[str, torch.Tensor]]: filled on request, never stored on the module


def depthwise_conv_nhwc(x: torch.Tensor, level: nn.Module, *, training_kernels: bool = False) -> torch.Tensor:
    """``level`` = (depthwise Conv2d, GELU) applied to a (N, H, W, C) tensor; returns (N, H, W, C).

    (N, H, W, C) memory viewed as (N, C, H, W) is exactly channels_last, which the convolution reads directly.
    ``training_kernels``: the kernels of :mod:`videofocalnet.models.kernels` (taps that only see padding dropped,
    the faster CPU weight gradient); the same output.
    """
    x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W), channels_last strides
    x = x.contiguous(memory_format=torch.channels_last)  # no-op unless x is a channel slice
    if training_kernels and running_eager():
        conv, act = cast(nn.Conv2d, cast(nn.Sequential, level)[0]), cast(nn.Sequential, level)[1]
        y = act(depthwise_conv2d(x, crop_to_reach(conv.weight, (x.shape[2], x.shape[3]))))
    else:
        y = level(x)
    return y.permute(0, 2, 3, 1)  # (N, C, H, W) channels_last -> (N, H, W, C), a free view


def temporal_conv_bthwc(x: torch.Tensor, level: nn.Module, *, training_kernels: bool = False) -> torch.Tensor:
    """``level`` = (dense Conv1d C -> C over T, GELU) applied to a (B, T, H, W, C) tensor; returns (B, T, H, W, C).

    Treating H*W as a width-like axis turns the Conv1d into a (k x 1) Conv2d over (B, C, T, H*W), whose channels_last
    memory is our (B, T, H*W, C) layout: no transpose to (B*H*W, C, T) is needed
    (:func:`~videofocalnet.models.kernels.conv_over_time`). Same arithmetic as the Conv1d.
    ``training_kernels``: taps that reach past the clip's T frames (only padding) are dropped, and on the CPU the
    backward of wide fp32 convolutions runs as GEMMs (:func:`~videofocalnet.models.kernels.temporal_conv`); the
    same output.
    """
    conv, act = cast(nn.Conv1d, cast(nn.Sequential, level)[0]), cast(nn.Sequential, level)[1]
    B, T, H, W, C = x.shape
    x = x.reshape(B, T, H * W, C)  # (B, T, HW, C)
    if training_kernels and running_eager():
        y = act(temporal_conv(x, crop_to_reach(conv.weight, (T,))))  # (B, T, HW, C)
    else:
        y = act(conv_over_time(x, conv.weight)).permute(0, 2, 3, 1)  # (B, C, T, HW) channels_last -> (B, T, HW, C)
    return y.reshape(B, T, H, W, C)  # (B, T, HW, C) -> (B, T, H, W, C)


def autocast_input(x: torch.Tensor) -> torch.Tensor:
    """Cast the (fp32, LayerNorm-produced) input to the autocast dtype once, instead of once per projection."""
    device = x.device.type
    if device in ("cpu", "cuda", "xpu", "mps") and torch.is_autocast_enabled(device):
        return x.to(torch.get_autocast_dtype(device))
    return x


class FocalModulationBase(nn.Module):
    """What every focal modulation shares: its hyper-parameters, the gated cascade of contexts, the output projection.

    Subclasses build their modules in their ``__init__``, the single-query designs through :meth:`_build`.
    """

    f: nn.Linear
    h: nn.Module
    focal_layers: nn.ModuleList  # one (conv, GELU) nn.Sequential per level
    act: nn.GELU
    proj: nn.Linear
    proj_drop: nn.Dropout
    ln: nn.LayerNorm
    # the switch of videofocalnet.models.kernels.set_training_kernels (other kernels, the same output)
    training_kernels: bool = False

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
        if focal_window % 2 == 0:
            # The official model builds even kernels with length-changing padding and crashes in forward.
            raise ValueError(f"focal_window must be odd, got {focal_window}")
        if focal_level < 1:
            raise ValueError(f"focal_level must be >= 1, got {focal_level}")
        self.dim = dim
        self.focal_level = focal_level
        self.focal_window = focal_window
        self.focal_factor = focal_factor
        self.normalize_modulator = normalize_modulator
        self.use_postln_in_modulation = use_postln_in_modulation
        self.kernel_sizes = [focal_factor * k + focal_window for k in range(focal_level)]
        self.proj_drop_rate = proj_drop

    def _build(self, h: Callable[[], nn.Module], context_conv: Callable[[int], nn.Module]) -> None:
        """Every single-query design's modules, in the official state-dict (and init-draw) order: ``f`` (q, ctx and
        L+1 gates from one projection), ``h()``, ``act``, ``proj``, ``proj_drop``, ``focal_layers`` (one
        ``context_conv(kernel)`` + GELU per level) and, with ``use_postln_in_modulation``, ``ln``."""
        self.f = nn.Linear(self.dim, 2 * self.dim + self.focal_level + 1)
        self.h = h()
        self.act = nn.GELU()
        self.proj = nn.Linear(self.dim, self.dim)
        self.proj_drop = nn.Dropout(self.proj_drop_rate)
        self.focal_layers = nn.ModuleList(nn.Sequential(context_conv(k), nn.GELU()) for k in self.kernel_sizes)
        if self.use_postln_in_modulation:
            self.ln = nn.LayerNorm(self.dim)

    def _linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """The input projection's GEMM (one hook for the CPU inference kernels to replace)."""
        return F.linear(x, weight, bias)

    def _project_in(self, x: torch.Tensor, layer: nn.Linear, sizes: tuple[int, ...]) -> list[torch.Tensor]:
        """``torch.split(layer(x), sizes, -1)``, computed as one GEMM per piece.

        Each piece comes out contiguous, so the convolutions need no copy, and (C, C, L+1)-wide GEMMs run markedly
        faster on CPU than one 2C+L+1-wide GEMM (e.g. 195 columns for C=96), which blocks badly. That is a CPU
        choice: elsewhere (GPU) one wide GEMM, split into views, is what the hardware wants.
        """
        if x.device.type != "cpu":
            return list(torch.split(self._linear(x, layer.weight, layer.bias), list(sizes), -1))
        outs, start = [], 0
        for size in sizes:
            stop = start + size
            bias = layer.bias[start:stop] if layer.bias is not None else None
            outs.append(self._linear(x, layer.weight[start:stop], bias))
            start = stop
        return outs

    def _gated_context(
        self,
        ctx: torch.Tensor,
        gates: torch.Tensor,
        conv_gelu: Callable[[torch.Tensor, int], torch.Tensor],
        global_dims: tuple[int, ...],
    ) -> torch.Tensor:
        """Cascade of ``focal_level`` conv+GELU levels, each output weighted by its gate, plus a gated global context.

        ``ctx`` and ``gates`` are channels-last; gates have L+1 channels and broadcast over C. The running sum is
        updated in place (``addcmul_``): autograd never needs its old value, and it saves a full-size temporary per
        level.
        """
        ctx_all = None
        for level in range(self.focal_level):
            ctx = conv_gelu(ctx, level)
            gate = gates[..., level : level + 1]
            ctx_all = ctx * gate if ctx_all is None else ctx_all.addcmul_(ctx, gate)
        assert ctx_all is not None  # focal_level >= 1 (checked in __init__)
        ctx_global = self.act(ctx.mean(global_dims, keepdim=True))
        ctx_all = ctx_all.addcmul_(ctx_global, gates[..., self.focal_level :])
        if self.normalize_modulator:
            ctx_all = ctx_all / (self.focal_level + 1)
        return ctx_all

    def _spatial_level(self, ctx: torch.Tensor, level: int) -> torch.Tensor:
        """One level of the spatial cascade on (N, H, W, C)."""
        return depthwise_conv_nhwc(ctx, self.focal_layers[level], training_kernels=self.training_kernels)

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C). Every single-modulator design defines it."""
        raise NotImplementedError

    # which entry of the collector's {"spatial", "temporal"} record the single modulator of ``context`` fills
    collector_key = "spatial"

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C): ``proj(q * modulator)``. With ``collector``, appends the detached
        modulator under ``collector_key`` (the other entry is None)."""
        q, modulator = self.context(autocast_input(x))
        if collector is not None:
            collector.append({"spatial": None, "temporal": None, self.collector_key: modulator.detach()})
        return self._output(q * modulator)

    def _output(self, out: torch.Tensor) -> torch.Tensor:
        """Optional post-LayerNorm, then ``proj_drop(proj(out))``."""
        if self.use_postln_in_modulation:
            out = self.ln(out)
        return self.proj_drop(self.proj(out))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, focal_level={self.focal_level}, kernel_sizes={self.kernel_sizes}"


class SpatialFocalModulation(FocalModulationBase):
    """FocalNet's 2-D focal modulation applied to each frame on its own: out = proj(q * h(spatial context)).

    Parameter names (``f``, ``h``, ``proj``, ``focal_layers``, ``ln``) are those of the image FocalNet, so image
    checkpoints load into it; it is the spatial half of the published module and the ``spatial`` design-space variant.
    """

    h: nn.Conv2d

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(dim, **kwargs)
        self._build(
            lambda: nn.Conv2d(dim, dim, kernel_size=1),
            lambda k: nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim, bias=False),  # depthwise over (H, W)
        )

    def spatial_context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, gated spatial context before ``h``), both (B, T, H, W, C)."""
        B, T, H, W, C = x.shape
        q, ctx, gates = self._project_in(x.reshape(B * T, H, W, C), self.f, (C, C, self.focal_level + 1))
        ctx_all = self._gated_context(ctx, gates, self._spatial_level, global_dims=(1, 2))  # mean over H, W
        return q.reshape(B, T, H, W, C), ctx_all.reshape(B, T, H, W, C)  # (B*T, H, W, C) -> (B, T, H, W, C)

    def spatial_modulator(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C): context over each frame's plane."""
        q, ctx_all = self.spatial_context(x)
        return q, F.linear(ctx_all, self.h.weight.flatten(1), self.h.bias)  # the 1x1 conv as a linear map

    def context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.spatial_modulator(x)


class SpatioTemporalFocalModulation(SpatialFocalModulation):
    """Focal modulation with parallel spatial and temporal context branches (Video-FocalNet, ICCV 2023).

    out = proj(q * h(spatial context) * h_temporal(temporal context)); both contexts are gated sums over a cascade of
    ``focal_level`` convolutions plus a global average. Gates are raw linear outputs, as in the official model.
    """

    def __init__(self, dim: int, **kwargs) -> None:
        super().__init__(dim, **kwargs)  # the spatial branch
        # Temporal branch: ctx and L+1 gates; dense (not depthwise) convolutions over time.
        self.f_temporal = nn.Linear(dim, dim + self.focal_level + 1)
        self.h_temporal = nn.Conv1d(dim, dim, kernel_size=1)
        self.focal_layers_temporal = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, k, padding=k // 2, bias=False), nn.GELU()) for k in self.kernel_sizes
        )

    def _temporal_level(self, ctx: torch.Tensor, level: int) -> torch.Tensor:
        """One level of the temporal cascade on (B, T, H, W, C)."""
        return temporal_conv_bthwc(ctx, self.focal_layers_temporal[level], training_kernels=self.training_kernels)

    def temporal_context(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, C) -> gated temporal context (B, T, H, W, C), before ``h_temporal``."""
        ctx, gates = self._project_in(x, self.f_temporal, (self.dim, self.focal_level + 1))
        return self._gated_context(ctx, gates, self._temporal_level, global_dims=(1,))  # global = mean over T

    def temporal_modulator(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C): context along time at each spatial location."""
        return F.linear(self.temporal_context(x), self.h_temporal.weight.squeeze(-1), self.h_temporal.bias)

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C). With ``collector``, appends the detached modulators."""
        x = autocast_input(x)
        modulator_t = self.temporal_modulator(x)
        q, modulator = self.spatial_modulator(x)
        out = q * modulator * modulator_t
        if collector is not None:
            collector.append({"spatial": modulator.detach(), "temporal": modulator_t.detach()})
        return self._output(out)


# Modulation designs selectable by name (see the design-space module for the non-published ones).
MODULATIONS: dict[str, type[nn.Module]] = {"parallel": SpatioTemporalFocalModulation}
