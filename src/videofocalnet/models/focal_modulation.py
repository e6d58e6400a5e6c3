"""Spatio-temporal focal modulation: the published (parallel) design.

Every tensor here is channels-last, (B, T, H, W, C), which is the layout the linear layers want. The depthwise
spatial convolutions and the dense temporal convolutions read the same memory as channels_last 4-D tensors, so the
whole module runs without the layout round-trips of the official code (clone, permute-contiguous, einops and back).

Parameters keep the official names and shapes (``f``, ``h``, ``proj``, ``focal_layers.{l}.0``, ``f_temporal``,
``h_temporal``, ``focal_layers_temporal.{l}.0``, ``ln``) so released checkpoints load strictly. The 1x1 ``h`` conv and
the kernel-1 ``h_temporal`` conv are applied as linear maps on the channels-last tensor, which is the same arithmetic.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from videofocalnet.models.layers import conv2d_gelu, linear, linear_add, linear_mul

ModulatorCollector = list  # list[dict[str, torch.Tensor]]: filled on request, never stored on the module


def _depthwise_conv_gelu_nhwc(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """GELU(depthwise conv) of a (N, H, W, C) tensor; returns (N, H, W, C).

    (N, H, W, C) memory viewed as (N, C, H, W) is exactly channels_last, which oneDNN convolves directly.
    """
    x = x.permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W), channels_last strides
    x = x.contiguous(memory_format=torch.channels_last)  # no-op unless x is a channel slice
    y = conv2d_gelu(x, conv.weight, padding=conv.padding, groups=conv.groups)
    return y.permute(0, 2, 3, 1)  # (N, C, H, W) channels_last -> (N, H, W, C), a free view


def _temporal_conv_gelu_bthwc(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """GELU(dense temporal conv) (C -> C, kernel k over T, zero padding k//2) of a (B, T, H, W, C) tensor.

    Treating H*W as a width-like axis turns the Conv1d into a (k x 1) Conv2d over (B, C, T, H*W), whose channels_last
    memory is our (B, T, H*W, C) layout: no transpose to (B*H*W, C, T) is needed.
    """
    B, T, H, W, C = x.shape
    x = x.reshape(B, T, H * W, C).permute(0, 3, 1, 2)  # (B, T, HW, C) -> (B, C, T, HW), channels_last strides
    x = x.contiguous(memory_format=torch.channels_last)
    y = conv2d_gelu(x, conv.weight, padding=(conv.padding[0], 0))  # (C, C, k) weight as a (k, 1) kernel
    return y.permute(0, 2, 3, 1).reshape(B, T, H, W, C)  # (B, C, T, HW) -> (B, T, HW, C) -> (B, T, H, W, C)


def _autocast_input(x: torch.Tensor) -> torch.Tensor:
    """Cast the (fp32, LayerNorm-produced) input to the autocast dtype once, instead of once per projection."""
    device = x.device.type
    if device in ("cpu", "cuda", "xpu", "mps") and torch.is_autocast_enabled(device):
        return x.to(torch.get_autocast_dtype(device))
    return x


def _split_linear(x: torch.Tensor, layer: nn.Linear, sizes: tuple[int, ...]) -> list[torch.Tensor]:
    """``torch.split(linear(x), sizes, -1)``, computed as one GEMM per piece.

    Each piece comes out contiguous, so the convolutions need no copy, and (C, C, L+1)-wide GEMMs run markedly faster
    on CPU than one 2C+L+1-wide GEMM (e.g. 195 columns for C=96), which blocks badly.
    """
    outs, start = [], 0
    for size in sizes:
        stop = start + size
        bias = layer.bias[start:stop] if layer.bias is not None else None
        outs.append(linear(x, layer.weight[start:stop], bias))
        start = stop
    return outs


def _init_focal_attributes(
    module: nn.Module,
    dim: int,
    *,
    focal_window: int,
    focal_level: int,
    focal_factor: int,
    normalize_modulator: bool,
    use_postln_in_modulation: bool,
) -> None:
    """Validate and set the hyper-parameters every focal modulation shares (``_gated_context`` reads them)."""
    if focal_window % 2 == 0:
        # The official model builds even kernels with length-changing padding and crashes in forward.
        raise ValueError(f"focal_window must be odd, got {focal_window}")
    if focal_level < 1:
        raise ValueError(f"focal_level must be >= 1, got {focal_level}")
    module.dim = dim
    module.focal_level = focal_level
    module.focal_window = focal_window
    module.focal_factor = focal_factor
    module.normalize_modulator = normalize_modulator
    module.use_postln_in_modulation = use_postln_in_modulation
    module.kernel_sizes = [focal_factor * k + focal_window for k in range(focal_level)]


class SpatioTemporalFocalModulation(nn.Module):
    """Focal modulation with parallel spatial and temporal context branches (Video-FocalNet, ICCV 2023).

    out = proj(q * h(spatial context) * h_temporal(temporal context)); both contexts are gated sums over a cascade of
    ``focal_level`` convolutions plus a global average. Gates are raw linear outputs, as in the official model.
    """

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

        # Spatial branch: q, ctx and L+1 gates from one projection.
        self.f = nn.Linear(dim, 2 * dim + focal_level + 1)
        self.h = nn.Conv2d(dim, dim, kernel_size=1)
        self.act = nn.GELU()
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.focal_layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim, bias=False), nn.GELU())
            for k in self.kernel_sizes
        )
        if use_postln_in_modulation:
            self.ln = nn.LayerNorm(dim)
        # Temporal branch: ctx and L+1 gates; dense (not depthwise) convolutions over time.
        self.f_temporal = nn.Linear(dim, dim + focal_level + 1)
        self.h_temporal = nn.Conv1d(dim, dim, kernel_size=1)
        self.focal_layers_temporal = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, k, padding=k // 2, bias=False), nn.GELU()) for k in self.kernel_sizes
        )

    def _gated_context(
        self,
        ctx: torch.Tensor,
        gates: torch.Tensor,
        conv_gelu: Callable[[torch.Tensor, int], torch.Tensor],
        global_dims: tuple[int, ...],
    ) -> torch.Tensor:
        """Cascade of ``focal_level`` conv+GELU levels, each output weighted by its gate, plus a gated global context.

        ``ctx`` and ``gates`` are channels-last; gates have L+1 channels and broadcast over C. The running sum is
        updated in place (``addcmul_``): autograd never needs its old value, and it saves a full-size temporary per level.
        """
        ctx_all = None
        for level in range(self.focal_level):
            ctx = conv_gelu(ctx, level)
            gate = gates[..., level : level + 1]
            ctx_all = ctx * gate if ctx_all is None else ctx_all.addcmul_(ctx, gate)
        ctx_global = self.act(ctx.mean(global_dims, keepdim=True))
        ctx_all = ctx_all.addcmul_(ctx_global, gates[..., self.focal_level :])
        if self.normalize_modulator:
            ctx_all = ctx_all / (self.focal_level + 1)
        return ctx_all

    def temporal_context(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, C) -> gated temporal context (B, T, H, W, C), before ``h_temporal``."""
        ctx, gates = _split_linear(x, self.f_temporal, (self.dim, self.focal_level + 1))

        def conv_gelu(t: torch.Tensor, level: int) -> torch.Tensor:
            return _temporal_conv_gelu_bthwc(t, self.focal_layers_temporal[level][0])

        return self._gated_context(ctx, gates, conv_gelu, global_dims=(1,))  # global = mean over T

    def temporal_modulator(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C): context along time at each spatial location."""
        return F.linear(self.temporal_context(x), self.h_temporal.weight.squeeze(-1), self.h_temporal.bias)

    def spatial_context(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, gated spatial context before ``h``), both (B, T, H, W, C)."""
        B, T, H, W, C = x.shape
        q, ctx, gates = _split_linear(x.reshape(B * T, H, W, C), self.f, (C, C, self.focal_level + 1))

        def conv_gelu(t: torch.Tensor, level: int) -> torch.Tensor:
            return _depthwise_conv_gelu_nhwc(t, self.focal_layers[level][0])

        ctx_all = self._gated_context(ctx, gates, conv_gelu, global_dims=(1, 2))  # global = mean over H, W
        return q.reshape(B, T, H, W, C), ctx_all.reshape(B, T, H, W, C)

    def spatial_modulator(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, H, W, C) -> (q, modulator), both (B, T, H, W, C): context over each frame's plane."""
        q, ctx_all = self.spatial_context(x)
        return q, F.linear(ctx_all, self.h.weight.flatten(1), self.h.bias)

    def project(self, out: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
        """``proj_drop(proj(out))``, plus ``residual`` when given: fused with ``proj`` where dropout is inactive, which
        saves a full read and write of the block's residual stream."""
        if residual is not None and (not self.training or self.proj_drop.p == 0.0):
            return linear_add(out, self.proj, residual)
        out = self.proj_drop(self.proj(out))
        return out if residual is None else residual + out

    def forward(
        self, x: torch.Tensor, collector: ModulatorCollector | None = None, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C), plus ``residual`` when given. With ``collector``, appends the detached
        modulators for visualisation."""
        x = _autocast_input(x)
        if collector is None:
            # q * h(ctx) * h_temporal(ctx_t), each product fused into its 1x1 projection where possible; the same
            # products in the same order as below.
            ctx_t = self.temporal_context(x)
            q, ctx = self.spatial_context(x)
            out = linear_mul(ctx, self.h.weight.flatten(1), self.h.bias, q)
            out = linear_mul(ctx_t, self.h_temporal.weight.squeeze(-1), self.h_temporal.bias, out)
        else:
            modulator_t = self.temporal_modulator(x)
            q, modulator = self.spatial_modulator(x)
            out = q * modulator * modulator_t
            collector.append({"spatial": modulator.detach(), "temporal": modulator_t.detach()})
        if self.use_postln_in_modulation:
            out = self.ln(out)
        return self.project(out, residual)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, focal_level={self.focal_level}, kernel_sizes={self.kernel_sizes}"


# Modulation designs selectable by name (see the design-space module for the non-published ones).
MODULATIONS: dict[str, type[nn.Module]] = {"parallel": SpatioTemporalFocalModulation}
