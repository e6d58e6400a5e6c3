"""Small building blocks shared by the Video-FocalNet variants: stochastic depth, the MLP, weight init."""

from __future__ import annotations

import contextlib
import weakref
from typing import Iterator, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook

DropPathMode = Literal["frame", "video"]


def drop_path(x: torch.Tensor, drop_prob: float, training: bool, mode: DropPathMode = "frame") -> torch.Tensor:
    """Stochastic depth on a (B, T, ...) residual branch.

    ``mode="frame"`` reproduces the official model, whose leading axis is B*T: every frame of every video is kept or
    dropped on its own. ``mode="video"`` drops a whole clip at once, which is what stochastic depth means for a
    video model; it is offered as an option because the published numbers were trained with the frame mode.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    if mode == "frame":
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)  # one draw per (video, frame)
    elif mode == "video":
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per video
    else:
        raise ValueError(f"drop_path mode must be 'frame' or 'video', got {mode!r}")
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class DropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0, *, mode: DropPathMode = "frame") -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training, self.mode)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}, mode={self.mode!r}"


_HAS_ONEDNN_POINTWISE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
_FUSION = {"enabled": True}


@contextlib.contextmanager
def fused_cpu_kernels(enabled: bool) -> Iterator[None]:
    """Switch the oneDNN "op + GELU" inference kernels on or off (e.g. to count FLOPs with plain aten ops)."""
    previous = _FUSION["enabled"]
    _FUSION["enabled"] = enabled
    try:
        yield
    finally:
        _FUSION["enabled"] = previous


def _cpu_fusion_enabled(x: torch.Tensor) -> bool:
    """oneDNN's fused "op + GELU" kernels have no autograd formula and no ONNX/TorchScript/export form: use them for
    eager CPU inference only."""
    return (
        _FUSION["enabled"]
        and _HAS_ONEDNN_POINTWISE
        and x.device.type == "cpu"
        and not torch.is_grad_enabled()
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
    )


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype autocast would run a matmul/conv in (the fused kernels bypass autocast, so we cast ourselves)."""
    return torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype


def _fusable_as_is(x: torch.Tensor, *others: torch.Tensor) -> bool:
    """Whether a fused kernel may run in ``x``'s own dtype: CPU inference, autocast (if on) computing in that dtype,
    and every other tensor operand of that dtype too."""
    return _cpu_fusion_enabled(x) and _compute_dtype(x) == x.dtype and all(t.dtype == x.dtype for t in others)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``F.linear``. For CPU inference it is oneDNN's linear, which adds the bias inside the GEMM; ``addmm`` first
    copies the broadcast bias into the output (a full extra write of it)."""
    if not _fusable_as_is(x):
        return F.linear(x, weight, bias)
    bias = bias.to(x.dtype) if bias is not None else None
    return torch.ops.mkldnn._linear_pointwise(x, weight.to(x.dtype), bias, "none", [], "none")


def linear_gelu(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """``gelu(linear(x))`` (exact erf GELU). For CPU inference it is one oneDNN kernel with GELU as a post-op, which
    saves a full read and write of the (often largest) activation; the arithmetic is the same."""
    if not _cpu_fusion_enabled(x):
        return F.gelu(linear(x))
    dtype = _compute_dtype(x)
    bias = linear.bias.to(dtype) if linear.bias is not None else None
    return torch.ops.mkldnn._linear_pointwise(x.to(dtype), linear.weight.to(dtype), bias, "gelu", [], "none")


def _linear_binary(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, other: torch.Tensor, op: Literal["add", "mul"]
) -> torch.Tensor:
    """``F.linear(x, weight, bias) <op> other`` as one oneDNN kernel (a binary post-op) where fusable; it saves a full
    read and write of the result, and the arithmetic is the same (IEEE sums and products commute)."""
    if not _fusable_as_is(x, other):
        out = F.linear(x, weight, bias)
        return other + out if op == "add" else out * other
    bias = bias.to(x.dtype) if bias is not None else None
    return torch.ops.mkldnn._linear_pointwise.binary(x, other, weight.to(x.dtype), bias, op)


def linear_add(x: torch.Tensor, linear: nn.Linear, residual: torch.Tensor) -> torch.Tensor:
    """``residual + linear(x)``: fused for CPU inference, which saves a read and write of the residual stream."""
    return _linear_binary(x, linear.weight, linear.bias, residual, "add")


def linear_mul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, other: torch.Tensor) -> torch.Tensor:
    """``F.linear(x, weight, bias) * other``: fused for CPU inference (the modulator products)."""
    return _linear_binary(x, weight, bias, other, "mul")


# id(weight) -> (weakref to it, (version, data_ptr, dtype, padding, groups), oneDNN-blocked copy)
_PACKED_WEIGHTS: dict[int, tuple[weakref.ref, tuple, torch.Tensor]] = {}


def _packed_conv_weight(
    weight: torch.Tensor, x: torch.Tensor, padding: tuple[int, int], groups: int
) -> torch.Tensor:
    """oneDNN's blocked layout of a conv weight, made once and reused while the weight is unchanged.

    Given a plain weight, oneDNN reorders it on every call: for the last-stage temporal convolution of
    Video-FocalNet-T (768 channels, kernel 5) that was about half of a 17 ms call here, ~13 % of all temporal
    convolution time over the model, and ~4 % of its fp32 forward. The copy is
    re-made whenever the weight's version counter or storage changes, which every in-place update through the
    parameter does (``load_state_dict``, EMA, most optimizer steps). Fused optimizer kernels
    (``torch.optim.AdamW(fused=True)``) do not bump it, so every optimizer step, of any optimizer, also drops the
    cache (:func:`_forget_packed_weights_after_step`); edits through ``.data`` bypass the version counter too: call
    :func:`clear_packed_weights` after those. A blocked copy works for any input shape (checked in the tests).
    """
    key = (weight._version, weight.data_ptr(), x.dtype, tuple(padding), groups)
    entry = _PACKED_WEIGHTS.get(id(weight))
    if entry is not None and entry[0]() is weight and entry[1] == key:
        return entry[2]
    plain = weight.detach().to(x.dtype)
    if plain.ndim == 3:  # Conv1d over T applied as a (k, 1) Conv2d
        plain = plain.unsqueeze(-1)
    packed = torch.ops.mkldnn._reorder_convolution_weight(plain, list(padding), [1, 1], [1, 1], groups, list(x.shape))
    wid = id(weight)
    _PACKED_WEIGHTS[wid] = (weakref.ref(weight, lambda _ref, wid=wid: _PACKED_WEIGHTS.pop(wid, None)), key, packed)
    return packed


def clear_packed_weights() -> None:
    """Drop every cached blocked conv weight (needed only after editing weights through ``.data``)."""
    _PACKED_WEIGHTS.clear()


def _forget_packed_weights_after_step(optimizer: torch.optim.Optimizer, args, kwargs) -> None:
    """A global optimizer step hook: the weights may have changed without a version bump (fused kernels), and
    without this, validation between epochs ran on the weights packed at the first validation (demo: 78.2 % top-1
    at epoch 10 where the same weights score 89.1 % loaded fresh). Costs a repack on the next inference only."""
    _PACKED_WEIGHTS.clear()


register_optimizer_step_post_hook(_forget_packed_weights_after_step)


def conv2d_gelu(
    x: torch.Tensor, weight: torch.Tensor, *, padding: tuple[int, int], groups: int = 1
) -> torch.Tensor:
    """``gelu(conv2d(x, weight))`` without bias, stride 1; a 3-D ``weight`` (C_out, C_in, k) is a (k, 1) kernel.

    For CPU inference it is one oneDNN kernel with GELU as a post-op, on a cached blocked copy of the weight.
    """
    if not _cpu_fusion_enabled(x):
        kernel = weight.unsqueeze(-1) if weight.ndim == 3 else weight
        return F.gelu(F.conv2d(x, kernel, None, 1, padding, 1, groups))
    x = x.to(_compute_dtype(x))
    return torch.ops.mkldnn._convolution_pointwise(
        x, _packed_conv_weight(weight, x, padding, groups), None, list(padding), [1, 1], [1, 1], groups, "gelu", [],
        "none",
    )


_MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest dynamic mmap threshold on 64-bit
_CHUNK_BYTES = 6 * 2**20


def _chunk_rows(x: torch.Tensor, hidden_features: int) -> int:
    """Rows per chunk for the MLP of a large CPU inference batch, or 0 to run it whole.

    glibc serves every block above 32 MiB with fresh ``mmap`` pages, and first-touching them costs about as much as
    the GEMM that fills them: Video-FocalNet-T's first-stage hidden activation (25088 x 384 fp32, 38.5 MB) took 22 ms
    to produce whole and 11 ms into reused memory here. In chunks of ~6 MB the hidden activation stays in the heap
    (and in cache on its way from fc1 to fc2).
    """
    if not _cpu_fusion_enabled(x):
        return 0
    rows = x.numel() // x.shape[-1]
    itemsize = _compute_dtype(x).itemsize
    if rows * hidden_features * itemsize <= _MMAP_THRESHOLD_BYTES:
        return 0
    return max(256, _CHUNK_BYTES // (hidden_features * itemsize))


class Mlp(nn.Module):
    """Linear -> exact GELU -> Dropout -> Linear -> Dropout (keys ``fc1``/``fc2`` as in the official model)."""

    def __init__(self, in_features: int, *, hidden_features: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """``fc2(act(fc1(x)))``, plus ``residual`` when given (fused with fc2 where dropout is inactive)."""
        exact_gelu = isinstance(self.act, nn.GELU) and self.act.approximate == "none"
        if residual is not None and exact_gelu and (not self.training or self.drop.p == 0.0):
            rows = _chunk_rows(x, self.fc1.out_features)
            if rows:
                return self._forward_chunked(x, residual, rows)
        if exact_gelu:
            hidden = linear_gelu(x, self.fc1)
        else:
            hidden = self.act(self.fc1(x))
        if residual is not None and (not self.training or self.drop.p == 0.0):
            return linear_add(hidden, self.fc2, residual)
        out = self.drop(self.fc2(self.drop(hidden)))
        return out if residual is None else residual + out

    def _forward_chunked(self, x: torch.Tensor, residual: torch.Tensor, rows: int) -> torch.Tensor:
        """``residual + fc2(gelu(fc1(x)))`` over blocks of ``rows`` tokens; same arithmetic per token."""
        x2 = x.reshape(-1, x.shape[-1])  # (..., C) -> (N, C), a view of the LayerNorm output
        r2 = residual.reshape(-1, residual.shape[-1])
        out = torch.empty_like(r2)
        for start in range(0, x2.shape[0], rows):
            stop = start + rows
            out[start:stop] = linear_add(linear_gelu(x2[start:stop], self.fc1), self.fc2, r2[start:stop])
        return out.view(residual.shape)


def trunc_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """timm's ``trunc_normal_(std=.02)``: the cut is at +-2 in absolute units, i.e. 100 sigma, so effectively untruncated."""
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0, b=2.0)


def init_weights_fan_in(module: nn.Module) -> None:
    """Every Linear/Conv weight ~ N(0, 1/fan_in), biases 0, LayerNorm 1/0.

    For training from scratch. At the official init the modulation output is ~1e-4 of the MLP's (q, the gates and
    both modulators all start tiny and multiply), so the temporal branch barely moves the logits and a model trained
    from scratch takes a long time to discover frame order: on a toy left/right task a 64x64 nano model stayed at
    chance for 200+ steps with the official init and solved it in ~50 with this one. The published models start
    from ImageNet FocalNet weights, where this does not arise.
    """
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        nn.init.normal_(module.weight, std=module.weight[0].numel() ** -0.5)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def init_weights_official(module: nn.Module) -> None:
    """The official ``_init_weights``: Linear trunc-normal(0.02)/zero bias, LayerNorm 1/0; convolutions keep PyTorch's
    default (kaiming-uniform a=sqrt(5)), exactly as the released model does."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


INIT_SCHEMES = {"official": init_weights_official, "fan_in": init_weights_fan_in}
