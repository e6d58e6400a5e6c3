"""CPU inference speed-ups, applied explicitly: ``optimize_for_inference(model)`` (eval, predict, benchmarks use it).

The model's maths has one plain path (``layers``, ``focal_modulation``, ``video_focalnet``). This module swaps three
of its classes, instance by instance, for subclasses that run the same arithmetic through oneDNN's fused kernels
when, and only when, that is safe: eager CPU inference (no autograd, tracing, scripting, ONNX export,
``torch.compile`` or dispatch mode such as FLOP counting), in fp32, or in bf16 where this CPU has bf16 kernels.
Everywhere else the subclasses call the plain code, so an optimised model still trains, exports and runs on GPU
with unchanged numbers. Parameters, buffers and state-dict keys are untouched. What each trick saves (measured on
Video-FocalNet-T, 8x224, 2 threads):

* GELU as a post-op of the linear/conv that feeds it, and the modulator products and residual adds as binary
  post-ops of their projections: each saves a full read and write of an activation.
* the bias inside the GEMM (``addmm`` first copies the broadcast bias into the output);
* in bf16, the linear weights' bf16 copies made once per weight version instead of on every call (casting T's
  28 M fp32 weights took ~10 ms of each ~0.21-0.25 s forward; see :func:`cast_weight`);
* the temporal and depthwise conv weights kept in oneDNN's blocked layout (the per-call reorder was about half of a
  17 ms last-stage temporal conv, ~4 % of the fp32 forward);
* the MLP of large batches in ~6 MB chunks: glibc serves every block over 32 MiB with fresh mmap pages, and
  first-touching them cost as much as the GEMM (first-stage hidden activation 38.5 MB: 22 ms whole, 11 ms reused).

The blocked and bf16 weight copies live on the module that owns the weights. They are re-made when a weight's
version counter or storage changes (``load_state_dict``, EMA, plain optimizer steps) and dropped whenever the module
is put in train mode. Fused optimizers (``torch.optim.AdamW(fused=True)``) and edits through ``.data`` change
weights without a version bump: switch the model to ``train()`` and back, or call :func:`clear_caches`, after such
an update.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from typing import Literal, cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._python_dispatch import _get_current_dispatch_mode

from videofocalnet.models.focal_modulation import ModulatorCollector, SpatioTemporalFocalModulation, autocast_input
from videofocalnet.models.kernels import compute_dtype, running_eager
from videofocalnet.models.layers import Mlp
from videofocalnet.models.video_focalnet import FocalNetBlock

__all__ = ["optimize_for_inference", "is_optimized", "clear_caches", "AVAILABLE"]

AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
# oneDNN's bf16 primitives need AVX-512 (bf16) or AMX; on an AVX2-only CPU they fail to build ("could not create a
# primitive descriptor"), so bf16 inference there takes the plain path.
_BF16 = AVAILABLE and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


# On AVX2-only CPUs the fused fp32 kernels lose: oneDNN's GELU post-op there costs more than a separate GELU (a
# 6272 x 192 -> 768 linear: 19.7 ms fused against 13.1 ms for MKL's GEMM then GELU, 2 threads, AMD EPYC Zen 3), and
# Video-FocalNet-T's forward ran at 0.89x of the plain path's (median of 15 paired runs; the nano model 1.03x).
# There fp32 inference keeps the plain ops; tests and benchmarks may set FUSED_FP32 to True to exercise the fused path.
def fused_fp32_pays() -> bool:
    """The default of ``FUSED_FP32``: oneDNN's fused ops are there and the CPU is not an AVX2-only one."""
    return AVAILABLE and torch.backends.cpu.get_cpu_capability() != "AVX2"


FUSED_FP32 = fused_fp32_pays()

_MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest dynamic mmap threshold on 64-bit
_CHUNK_BYTES = 6 * 2**20


# ---------------------------------------------------------------------------------------------------- kernels
def _fusable(x: torch.Tensor) -> bool:
    """Whether the fused kernels may run on ``x``: eager CPU inference in a dtype this CPU's oneDNN supports."""
    if not (
        AVAILABLE
        and x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and running_eager()
        and _get_current_dispatch_mode() is None  # FLOP counting, fake tensors: they know only the plain ops
    ):
        return False
    dtype = compute_dtype(x)
    return (dtype == torch.float32 and FUSED_FP32) or (dtype == torch.bfloat16 and _BF16)


def _fusable_as_is(x: torch.Tensor, *others: torch.Tensor) -> bool:
    """Fusable in ``x``'s own dtype: autocast (if on) computes in that dtype and every other operand has it too."""
    return _fusable(x) and compute_dtype(x) == x.dtype and all(t.dtype == x.dtype for t in others)


CastCache = dict  # dict[tuple, tuple[tuple, torch.Tensor]]: (data_ptr, shape, strides) -> (validity key, copy)
PackedCache = dict  # dict[str, tuple[tuple, torch.Tensor]]: weight name -> (validity key, blocked copy)


def _cached(cache: dict, name: Hashable, key: tuple, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``cache[name]``'s copy if it was made under ``key``, else ``make()``, stored under ``key``."""
    entry = cache.get(name)
    if entry is not None and entry[0] == key:
        return entry[1]
    made = make()
    cache[name] = (key, made)
    return made


def cast_weight(cache: CastCache | None, t: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """``t.to(dtype)``, made once per (version, storage, dtype) of ``t`` where a cache is given.

    Casting every fp32 weight to bf16 on every call took ~10 ms of a bf16 Video-FocalNet-T forward, and the casts
    made the last stages' GEMMs slower still (cold weights): (392 x 768) @ (768 x 768) 0.47 ms with the cast against
    0.29 ms on a ready bf16 copy. Weight slices (the split input projection) get entries of their own.
    """
    if t is None or t.dtype == dtype:
        return t
    if cache is None:
        return t.to(dtype)
    return _cached(cache, (t.data_ptr(), tuple(t.shape), t.stride()), (t._version, dtype), lambda: t.detach().to(dtype))


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, cache: CastCache | None = None
) -> torch.Tensor:
    """``F.linear``, as oneDNN's linear where fusable (the bias added inside the GEMM)."""
    if not _fusable_as_is(x):
        return F.linear(x, weight, bias)
    w, b = cast_weight(cache, weight, x.dtype), cast_weight(cache, bias, x.dtype)
    return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "none")


def linear_gelu(x: torch.Tensor, layer: nn.Linear, cache: CastCache | None = None) -> torch.Tensor:
    """``gelu(layer(x))`` (exact erf GELU), one oneDNN kernel with GELU as a post-op where fusable."""
    if not _fusable(x):
        return F.gelu(layer(x))
    dtype = compute_dtype(x)
    w, b = cast_weight(cache, layer.weight, dtype), cast_weight(cache, layer.bias, dtype)
    return torch.ops.mkldnn._linear_pointwise(x.to(dtype), w, b, "gelu", [], "none")


def _linear_binary(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    other: torch.Tensor,
    op: Literal["add", "mul"],
    cache: CastCache | None,
) -> torch.Tensor:
    """``F.linear(x, weight, bias) <op> other`` as one oneDNN kernel (a binary post-op) where fusable; the arithmetic
    is the same as the plain ops (IEEE sums and products commute)."""
    if not _fusable_as_is(x, other):
        out = F.linear(x, weight, bias)
        return other + out if op == "add" else out * other
    w, b = cast_weight(cache, weight, x.dtype), cast_weight(cache, bias, x.dtype)
    return torch.ops.mkldnn._linear_pointwise.binary(x, other, w, b, op)


def linear_add(
    x: torch.Tensor, layer: nn.Linear, residual: torch.Tensor, cache: CastCache | None = None
) -> torch.Tensor:
    """``residual + layer(x)``."""
    return _linear_binary(x, layer.weight, layer.bias, residual, "add", cache)


def linear_mul(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    other: torch.Tensor,
    cache: CastCache | None = None,
) -> torch.Tensor:
    """``F.linear(x, weight, bias) * other`` (the modulator products)."""
    return _linear_binary(x, weight, bias, other, "mul", cache)


def packed_conv_weight(
    cache: PackedCache, name: str, weight: torch.Tensor, x: torch.Tensor, padding: tuple[int, int], groups: int
) -> torch.Tensor:
    """oneDNN's blocked layout of a conv weight, made once per (version, storage, dtype) and reused; a blocked copy
    works for any input shape. A 3-D (C_out, C_in, k) weight is packed as a (k, 1) kernel."""

    def pack() -> torch.Tensor:
        plain = weight.detach().to(x.dtype)
        if plain.ndim == 3:  # Conv1d over T applied as a (k, 1) Conv2d
            plain = plain.unsqueeze(-1)
        return torch.ops.mkldnn._reorder_convolution_weight(plain, list(padding), [1, 1], [1, 1], groups, list(x.shape))

    return _cached(cache, name, (weight._version, weight.data_ptr(), x.dtype, tuple(padding), groups), pack)


def conv2d_gelu(
    x: torch.Tensor,
    weight: torch.Tensor,
    *,
    padding: tuple[int, int],
    groups: int = 1,
    cache: PackedCache | None = None,
    name: str = "",
) -> torch.Tensor:
    """``gelu(conv2d(x, weight))`` without bias, stride 1; a 3-D ``weight`` (C_out, C_in, k) is a (k, 1) kernel.

    Where fusable: one oneDNN kernel with GELU as a post-op, on a blocked copy of the weight kept in ``cache``.
    """
    if not _fusable(x):
        kernel = weight.unsqueeze(-1) if weight.ndim == 3 else weight
        return F.gelu(F.conv2d(x, kernel, None, 1, padding, 1, groups))
    x = x.to(compute_dtype(x))
    if cache is None:
        cache = {}
    return torch.ops.mkldnn._convolution_pointwise(
        x,
        packed_conv_weight(cache, name, weight, x, padding, groups),
        None,
        list(padding),
        [1, 1],
        [1, 1],
        groups,
        "gelu",
        [],
        "none",
    )


def chunk_rows(x: torch.Tensor, hidden_features: int) -> int:
    """Rows per chunk for the MLP of a large CPU inference batch, or 0 to run it whole (see the module docstring)."""
    if not _fusable(x):
        return 0
    rows = x.numel() // x.shape[-1]
    itemsize = compute_dtype(x).itemsize
    if rows * hidden_features * itemsize <= _MMAP_THRESHOLD_BYTES:
        return 0
    return max(256, _CHUNK_BYTES // (hidden_features * itemsize))


# ---------------------------------------------------------------------------------------------------- modules
class _WeightCopies(nn.Module):
    """A swapped module that keeps copies of its own weights (bf16 casts, and what ``_copy_caches`` adds), made by
    :func:`optimize_for_inference` and dropped in train mode, when the weights are about to change, possibly
    without a version bump."""

    _casts: CastCache
    _copy_caches: tuple[str, ...] = ("_casts",)

    def _new_weight_copies(self) -> None:
        for name in self._copy_caches:
            setattr(self, name, {})

    def _drop_weight_copies(self) -> None:
        for name in self._copy_caches:
            getattr(self, name).clear()

    def train(self, mode: bool = True):
        if mode:
            self._drop_weight_copies()
        return super().train(mode)


class InferenceMlp(_WeightCopies, Mlp):
    """``Mlp`` with fc1+GELU fused, and ``forward_add`` fusing the residual into fc2 (chunked for large batches)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _fusable(x) or not _exact_gelu(self.act):
            return super().forward(x)
        return self.drop(self.fc2(self.drop(linear_gelu(x, self.fc1, self._casts))))

    def forward_add(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """``residual + self(x)``."""
        if not _fusable(x) or not _exact_gelu(self.act) or (self.training and self.drop.p > 0.0):
            return residual + super().forward(x)
        rows = chunk_rows(x, self.fc1.out_features)
        if rows:
            return self.forward_add_chunked(x, residual, rows)
        return linear_add(linear_gelu(x, self.fc1, self._casts), self.fc2, residual, self._casts)

    def forward_add_chunked(self, x: torch.Tensor, residual: torch.Tensor, rows: int) -> torch.Tensor:
        """``residual + fc2(gelu(fc1(x)))`` over blocks of ``rows`` tokens; same arithmetic per token."""
        x2 = x.reshape(-1, x.shape[-1])  # (..., C) -> (N, C), a view of the LayerNorm output
        r2 = residual.reshape(-1, residual.shape[-1])
        out = torch.empty_like(r2)
        for start in range(0, x2.shape[0], rows):
            stop = start + rows
            hidden = linear_gelu(x2[start:stop], self.fc1, self._casts)
            out[start:stop] = linear_add(hidden, self.fc2, r2[start:stop], self._casts)
        return out.view(residual.shape)  # (N, C) -> (..., C)


def _pair(padding: tuple[int, ...] | str) -> tuple[int, int]:
    """A Conv2d's numeric padding as the (h, w) pair the oneDNN ops take."""
    assert not isinstance(padding, str), "string paddings are never built here"
    return int(padding[0]), int(padding[1])


def _exact_gelu(act: nn.Module) -> bool:
    return isinstance(act, nn.GELU) and act.approximate == "none"


class InferenceFocalModulation(_WeightCopies, SpatioTemporalFocalModulation):
    """The published modulation with fused projections, blocked conv weights and fused modulator products."""

    _packed: PackedCache
    _copy_caches = ("_packed", "_casts")

    def _linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return linear(x, weight, bias, self._casts)

    def _spatial_level(self, ctx: torch.Tensor, level: int) -> torch.Tensor:
        conv = cast(nn.Conv2d, cast(nn.Sequential, self.focal_layers[level])[0])
        x = ctx.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)  # (N, H, W, C) -> (N, C, H, W)
        y = conv2d_gelu(
            x, conv.weight, padding=_pair(conv.padding), groups=conv.groups, cache=self._packed, name=f"s{level}"
        )
        return y.permute(0, 2, 3, 1)  # (N, C, H, W) channels_last -> (N, H, W, C)

    def _temporal_level(self, ctx: torch.Tensor, level: int) -> torch.Tensor:
        conv = cast(nn.Conv1d, cast(nn.Sequential, self.focal_layers_temporal[level])[0])
        B, T, H, W, C = ctx.shape
        x = ctx.reshape(B, T, H * W, C).permute(0, 3, 1, 2)  # (B, T, HW, C) -> (B, C, T, HW), channels_last
        x = x.contiguous(memory_format=torch.channels_last)
        y = conv2d_gelu(x, conv.weight, padding=(int(conv.padding[0]), 0), cache=self._packed, name=f"t{level}")
        return y.permute(0, 2, 3, 1).reshape(B, T, H, W, C)  # (B, C, T, HW) -> (B, T, HW, C) -> (B, T, H, W, C)

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        if collector is not None or not _fusable(x):
            return super().forward(x, collector)
        return self._fused(x, None)

    def forward_add(self, x: torch.Tensor, residual: torch.Tensor, collector: ModulatorCollector | None = None):
        """``residual + self(x)``, the sum fused into ``proj``."""
        if collector is not None or not _fusable(x) or (self.training and self.proj_drop.p > 0.0):
            return residual + super().forward(x, collector)
        return self._fused(x, residual)

    def _fused(self, x: torch.Tensor, residual: torch.Tensor | None) -> torch.Tensor:
        """q * h(ctx) * h_temporal(ctx_t), each product fused into its 1x1 projection, then ``proj`` (+ residual):
        the same products in the same order as the plain forward."""
        x = autocast_input(x)
        ctx_t = self.temporal_context(x)
        q, ctx = self.spatial_context(x)
        out = linear_mul(ctx, self.h.weight.flatten(1), self.h.bias, q, self._casts)
        out = linear_mul(ctx_t, self.h_temporal.weight.squeeze(-1), self.h_temporal.bias, out, self._casts)
        if self.use_postln_in_modulation:
            out = self.ln(out)
        if residual is None:
            return self.proj_drop(linear(out, self.proj.weight, self.proj.bias, self._casts))
        return linear_add(out, self.proj, residual, self._casts)


class InferenceBlock(FocalNetBlock):
    """Pre-norm block whose two branches add their residual inside their last projection."""

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        no_scale = isinstance(self.gamma_1, float) and self.gamma_1 == 1.0 and self.gamma_2 == 1.0
        if self.use_postln or not no_scale or (self.training and not isinstance(self.drop_path, nn.Identity)):
            return super().forward(x, collector)
        mod = self.modulation
        if isinstance(mod, InferenceFocalModulation):
            x = mod.forward_add(self.norm1(x), x, collector)
        else:  # a design-space modulation: plain, with a plain residual add
            x = x + mod(self.norm1(x), collector)
        if isinstance(self.mlp, InferenceMlp):
            return self.mlp.forward_add(self.norm2(x), x)
        return x + self.mlp(self.norm2(x))


# exact type -> its inference subclass; subclasses of these (design-space variants) stay plain
_SWAPS: dict[type[nn.Module], type[nn.Module]] = {
    Mlp: InferenceMlp,
    SpatioTemporalFocalModulation: InferenceFocalModulation,
    FocalNetBlock: InferenceBlock,
}


def optimize_for_inference(model: nn.Module, *, inplace: bool = True) -> nn.Module:
    """Switch ``model``'s blocks to the CPU inference kernels (see the module docstring); returns the model.

    The swap changes the class of each matching submodule, nothing else: parameters, buffers, hooks and state-dict
    keys stay, and outside eager CPU inference every swapped module runs the plain code. Without oneDNN it is a
    no-op. ``inplace=False`` works on a deep copy.
    """
    if not inplace:
        model = copy.deepcopy(model)
    if not AVAILABLE:
        return model
    for module in model.modules():
        new_cls = _SWAPS.get(type(module))
        if new_cls is not None:
            module.__class__ = new_cls
            if isinstance(module, _WeightCopies):
                module._new_weight_copies()
    return model


def is_optimized(model: nn.Module) -> bool:
    """Whether :func:`optimize_for_inference` has been applied to any block of ``model``."""
    return any(type(m) in _SWAPS.values() for m in model.modules())


def clear_caches(model: nn.Module) -> None:
    """Drop every blocked conv-weight and bf16 weight copy in ``model`` (after a weight update that bumps no version
    counter)."""
    for module in model.modules():
        if isinstance(module, _WeightCopies):
            module._drop_weight_copies()
