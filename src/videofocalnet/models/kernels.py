"""Training kernels, behind an explicit switch: :func:`set_training_kernels` (the train recipe turns it on,
``TRAIN.FAST_KERNELS``). Neither changes what the model computes; both change which operations compute it.

* **Taps that only see padding are dropped.** A same-padded stride-1 conv over an axis of n elements reaches data
  with the taps within n - 1 of its centre only; the others multiply zeros. At the demo's 2 frames (8 frames,
  tubelet 4) and 2 x 2 last-stage maps, 5-tap kernels do 3 taps' work. :func:`crop_to_reach` narrows the weight
  (the cropped-off taps get their exact zero gradient, laid out like the parameter). Shape-dependent, so it is off
  under tracing, scripting, export and torch.compile, where a kernel cropped for one input size would be kept for all.
* **A faster bf16 depthwise weight gradient on the CPU.** oneDNN's depthwise-convolution weight gradient has a fast
  path for 3x3 kernels only. For the 5x5 kernels of the second focal level it takes a slow generic one: on
  Video-FocalNet-T's first stage, (8, 96, 56, 56) channels-last, the weight gradient alone takes 29-36 ms in bf16
  against 0.5 ms for a 3x3 kernel, and the 5x5 levels were about a fifth of a bf16 training step.
  :class:`DepthwiseConv2d` keeps the forward and the input gradient (the same oneDNN calls autograd makes) and
  computes the weight gradient of a k x k kernel as ceil(k/3)^2 3x3 weight gradients over shifted windows of the
  padded input: the same products, summed in another order (fp32 gradients agree to ~1e-6 relative; bf16 ones as
  closely as bf16 gradients of the plain op do). In bf16 it was 2.1-6.9x faster on every stage shape of T and of
  the demo model; in fp32 (13 ms for T's first stage) it ranged from 0.35x to 1.5x, so fp32 keeps oneDNN's own,
  except on maps smaller than the kernel. There oneDNN takes its slow generic path in every dtype (fp32, 2 threads,
  AVX2 EPYC: (88, 128, 3, 3) with a 5x5 kernel 8.4 ms against 1.0 ms through 3x3 blocks, (88, 128, 2, 2) with a
  3x3 one 4.4 against 0.24 ms; a 5x5 map with a 5x5 kernel 1.1 against 1.3): the demo's third stage at 56 px is
  3 x 3, and those two weight gradients were 8 % of its fp32 training step.
* **The temporal convolutions' backward as two GEMMs** (:class:`TemporalConvGemmGrad`, fp32 on the CPU, 96 or more
  channels). The dense (k x 1) convolution over time keeps oneDNN's forward; its input and weight gradients are
  computed from the k tap-shifted copies of the output gradient, stacked as one (N, k C') matrix: ``grad_x = G W``
  and ``grad_W = G^T x``. oneDNN's backward for these thin kernels ran at 3x its forward. Forward and backward
  together, 2 threads, AVX2 EPYC, medians of 15 alternated: every temporal conv of Video-FocalNet-T at 8x224
  1.48-2.03x faster (k 3: 84.6 -> 41.6 ms at stage 1), the demo's 128- and 256-channel stages 1.13x and 1.67x; at
  32 and 64 channels (the demo's first stages) the GEMMs' short inner dimension made it 0.76-0.83x, so those keep
  oneDNN's. Not taken in bf16/fp16 (not measured on hardware that computes them; a related GEMM formulation lost to
  oneDNN's bf16 convolution on an AMX Xeon).
* **Patch-merging downsamples as one GEMM** (:func:`patch_merge`, fp32 on the CPU, with a gradient to take). The
  2x2 stride-2 convolution between stages reads (N, H, W, C) channels-last memory, so its 2x2 patches are a
  reshape and one gather copy away from a (N H/2 W/2, 4C) matrix, and the convolution is that matrix times the
  (C', 4C) weight. Forward and backward, same machine: the demo's three downsamples 1.28x, 1.56x and 3.14x, T's
  1.05-1.57x; forward alone it is a wash (0.94-1.95x), so inference keeps the convolution. The stem's 4x4 patches
  in (B, T, 3, H, W) memory are 16-byte runs to gather, and there the convolution stays faster (GEMM 0.84-0.91x).

Plain PyTorch ops only.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "DepthwiseConv2d",
    "TemporalConvGemmGrad",
    "crop_to_reach",
    "depthwise_conv2d",
    "depthwise_weight_grad",
    "patch_merge",
    "takes_patch_merge",
    "temporal_conv",
    "compute_dtype",
    "conv_over_time",
    "running_eager",
    "set_training_kernels",
]

_conv_backward = torch.ops.aten.convolution_backward


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype autocast would run a matmul/conv on ``x`` in (kernels that bypass autocast cast themselves)."""
    device = x.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype


def running_eager() -> bool:
    """Whether ops run eagerly: not while tracing, scripting, exporting to ONNX or compiling. Kernels outside the
    plain ops (``models.cpu``) and kernels chosen from the input's sizes (here) are taken only then: a graph would
    not know the former and would keep the choice made for the example input of the latter."""
    return not (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    )


def _empty_like_parameter(like: torch.Tensor, device: torch.device) -> torch.Tensor:
    """An uninitialised gradient for the parameter ``like`` (a meta copy) stands for: its shape, dtype and strides."""
    return torch.empty_strided(like.shape, like.stride(), dtype=like.dtype, device=device)


def depthwise_weight_grad(grad: torch.Tensor, x: torch.Tensor, kernel_size: int, padding: int) -> torch.Tensor:
    """Weight gradient (C, 1, k, k) of a stride-1 depthwise conv from its output gradient and input, both
    (N, C, H, W) of equal size (``padding = k // 2``), through 3x3 weight gradients.

    With xp the padded input, dW[u, v] = sum_{n,i,j} grad[n, i, j] * xp[n, i + u, j + v]. Splitting u = 3a + u' and
    v = 3b + v' makes each (a, b) block the weight gradient of a 3x3 valid conv over the window of xp that starts at
    (3a, 3b); the kernel is zero-padded to a multiple of 3 and cropped back.
    """
    N, C, H, W = x.shape
    blocks = math.ceil(kernel_size / 3)
    extra = 3 * blocks - 1 - 2 * padding  # rows/columns the last window needs beyond the conv's own padding
    xp = F.pad(x, (padding, padding + extra, padding, padding + extra))  # (N, C, H + 3 blocks - 1, W + 3 blocks - 1)
    w3 = x.new_empty(C, 1, 3, 3)  # only its shape is read
    out = x.new_zeros(C, 1, 3 * blocks, 3 * blocks)
    for a in range(blocks):
        for b in range(blocks):
            window = xp[:, :, 3 * a : 3 * a + H + 2, 3 * b : 3 * b + W + 2]  # (N, C, H + 2, W + 2)
            window = window.contiguous(memory_format=torch.channels_last)
            block = _conv_backward(
                grad, window, w3, None, [1, 1], [0, 0], [1, 1], False, [0, 0], C, [False, True, False]
            )[1]
            out[:, :, 3 * a : 3 * a + 3, 3 * b : 3 * b + 3] = block
    return out[:, :, :kernel_size, :kernel_size]


class DepthwiseConv2d(torch.autograd.Function):
    """``F.conv2d(x, weight, padding=k // 2, groups=C)`` (stride 1, no bias, square odd kernel) with the weight
    gradient of :func:`depthwise_weight_grad`. Under autocast it computes in the autocast dtype, as the plain op."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        dtype = compute_dtype(x)
        xc, wc = x.to(dtype), weight.to(dtype)
        ctx.save_for_backward(xc, wc)
        ctx.weight_like = torch.empty_like(weight, device="meta")  # the parameter's dtype and strides, for the grad
        ctx.x_dtype = x.dtype
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(xc, wc, None, 1, weight.shape[-1] // 2, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xc, wc = ctx.saved_tensors
        C, k = wc.shape[0], wc.shape[-1]
        grad = grad.to(wc.dtype).contiguous(memory_format=torch.channels_last)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = _conv_backward(
                grad, xc, wc, None, [1, 1], [k // 2, k // 2], [1, 1], False, [0, 0], C, [True, False, False]
            )[0].to(ctx.x_dtype)
        if ctx.needs_input_grad[1]:
            grad_w = _empty_like_parameter(ctx.weight_like, wc.device)
            grad_w.copy_(depthwise_weight_grad(grad, xc, k, k // 2))
        return grad_x, grad_w


def crop_to_reach(weight: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """A same-padded stride-1 conv weight narrowed, on its last ``len(sizes)`` (odd) kernel axes, to the taps that
    can reach data in an input of ``sizes``: a tap at offset d from the centre touches an element only if |d| < n.
    The conv with the cropped weight and padding ``k' // 2`` gives the same output."""
    kernel = weight.shape[weight.ndim - len(sizes) :]
    window = tuple(((k - min(k, 2 * n - 1)) // 2, min(k, 2 * n - 1)) for k, n in zip(kernel, sizes))
    if all(keep == k for (_, keep), k in zip(window, kernel)):
        return weight
    return _CropTaps.apply(weight, window)


class _CropTaps(torch.autograd.Function):
    """``weight`` narrowed to ``window`` ((start, length) per trailing axis), whose gradient is laid out like the
    parameter (autograd's own narrow gives a contiguous one, which DDP's channels_last bucket views would copy)."""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, window: tuple[tuple[int, int], ...]) -> torch.Tensor:
        ctx.window = window
        ctx.weight_like = torch.empty_like(weight, device="meta")
        return _narrow(weight, window)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        full = _empty_like_parameter(ctx.weight_like, grad.device).zero_()
        _narrow(full, ctx.window).copy_(grad)
        return full, None


def _narrow(t: torch.Tensor, window: tuple[tuple[int, int], ...]) -> torch.Tensor:
    for axis, (start, length) in enumerate(window, start=t.ndim - len(window)):
        t = t.narrow(axis, start, length)
    return t


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Stride-1, same-padded (odd kernel), bias-free depthwise conv of (N, C, H, W) with ``weight`` (C, 1, kh, kw):
    through :class:`DepthwiseConv2d` where its weight gradient pays (on the CPU, with a gradient to take: square
    kernels above 3 computing in bf16 or fp16, or a map smaller than the kernel in any dtype), else the plain op."""
    kh, kw = weight.shape[-2:]
    if kh == kw > 1 and x.device.type == "cpu" and torch.is_grad_enabled() and weight.requires_grad:
        low_precision = compute_dtype(x) in (torch.bfloat16, torch.float16)
        if (low_precision and kh > 3) or min(x.shape[-2:]) < kh:
            return DepthwiseConv2d.apply(x, weight)
    return F.conv2d(x, weight, None, 1, (kh // 2, kw // 2), 1, weight.shape[0])


def _cpu_fp32_with_grad(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """On the CPU, computing in fp32, with a gradient to take: where the GEMM kernels below were measured to pay."""
    takes_grad = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    return takes_grad and x.device.type == "cpu" and compute_dtype(x) == torch.float32


TEMPORAL_GEMM_MIN_CHANNELS = 96  # below, the GEMMs' inner dimension is too short to beat oneDNN (see module docs)


def _tap_shifted(grad: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T, S, C') output gradient -> (B, T, S, k, C'): slot j holds the gradient of tap j's product at each input
    frame, i.e. ``grad`` moved by j - k // 2 frames, zero where that leaves the clip."""
    B, T, S, C = grad.shape
    p = k // 2
    out = grad.new_empty(B, T, S, k, C)
    for j in range(k):
        d = j - p  # y[t] += W_j x[t + d], so tap j's product at input frame u feeds output frame u - d
        slot = out[:, :, :, j]  # (B, T, S, C') view
        if abs(d) >= T:
            slot.zero_()
        elif d >= 0:
            slot[:, d:] = grad[:, : T - d]
            slot[:, :d].zero_()
        else:
            slot[:, : T + d] = grad[:, -d:]
            slot[:, T + d :].zero_()
    return out


class TemporalConvGemmGrad(torch.autograd.Function):
    """The same-padded dense convolution over T of a (B, T, S, C) tensor with a (C', C, k) weight (what
    ``focal_modulation.temporal_conv_bthwc`` computes): oneDNN's forward, and a backward of two GEMMs over the
    tap-shifted output gradient (see the module docstring). Returns (B, T, S, C'), contiguous. fp32 only."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        # (B, C', T, S) channels_last -> (B, T, S, C'): contiguous() makes no copy here
        return conv_over_time(x, weight).permute(0, 2, 3, 1).contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        C_out, C, k = weight.shape
        # G: (N, k C'), N = B T S; the weight's taps stacked the same way: (C', C, k) -> (k, C', C) -> (k C', C)
        shifted = _tap_shifted(grad.contiguous(), k).view(-1, k * C_out)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            taps = weight.permute(2, 0, 1).reshape(k * C_out, C)
            grad_x = (shifted @ taps).view(x.shape)  # (N, C) -> (B, T, S, C)
        if ctx.needs_input_grad[1]:
            # (k C', N) @ (N, C) -> (k, C', C) -> (C', C, k), laid out like the (contiguous) Conv1d parameter
            grad_w = (shifted.t() @ x.reshape(-1, C)).view(k, C_out, C).permute(1, 2, 0).contiguous()
        return grad_x, grad_w


def conv_over_time(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Same-padded, bias-free dense convolution over T of (B, T, S, C) with ``weight`` (C', C, k), as the (k x 1)
    conv2d of its (B, C, T, S) view: (B, T, S, C) memory viewed so is channels_last, which the convolution reads
    directly. Returns (B, C', T, S), channels_last; ``.permute(0, 2, 3, 1)`` is the (B, T, S, C') layout, a free view.
    (Callers choose where element-wise ops run: PyTorch's GELU rounds differently in the last bit on the
    channels_last tensor and on its permuted view.) Plain ops (autograd, export, any device)."""
    x = x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)  # a view unless x is a channel slice
    return F.conv2d(x, weight.unsqueeze(-1), None, 1, (weight.shape[-1] // 2, 0))  # (C', C, k) as a (k, 1) kernel


def temporal_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """:func:`conv_over_time` in the (B, T, S, C') layout, through :class:`TemporalConvGemmGrad` where its
    backward pays (the CPU, fp32, C >= 96, a gradient to take)."""
    if _cpu_fp32_with_grad(x, weight) and x.shape[-1] >= TEMPORAL_GEMM_MIN_CHANNELS:
        return TemporalConvGemmGrad.apply(x.contiguous(), weight)
    return conv_over_time(x, weight).permute(0, 2, 3, 1)  # (B, C', T, S) -> (B, T, S, C'), a free view


def patch_merge(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The k x k, stride-k convolution of (N, H, W, C) channels-last maps -> (N, H // k, W // k, C') as one GEMM
    over the gathered patches (odd sizes floored, as the strided convolution does). Plain autograd ops."""
    N, H, W, C = x.shape
    C_out, k = weight.shape[0], weight.shape[-1]
    Ho, Wo = H // k, W // k
    x = x[:, : Ho * k, : Wo * k]  # (N, Ho k, Wo k, C)
    # (N, Ho, k, Wo, k, C) -> (N, Ho, Wo, k, k, C) -> (N Ho Wo, k k C): each row one patch, (row, column, channel)
    patches = x.reshape(N, Ho, k, Wo, k, C).permute(0, 1, 3, 2, 4, 5).reshape(N * Ho * Wo, k * k * C)
    w = weight.permute(0, 2, 3, 1).reshape(C_out, k * k * C)  # (C', C, k, k) -> (C', k, k, C) -> (C', k k C)
    return F.linear(patches, w, bias).view(N, Ho, Wo, C_out)


def takes_patch_merge(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether a downsample should run as :func:`patch_merge`: the CPU, fp32, a gradient to take (forward alone it
    is no faster), eager ops (see :func:`running_eager`)."""
    return _cpu_fp32_with_grad(x, weight) and running_eager()


def set_training_kernels(model: nn.Module, enable: bool = True) -> int:
    """Switch every module of ``model`` that has a choice of kernels (each focal modulation, each patch embedding)
    to (or back from) the kernels of this module; returns how many."""
    count = 0
    for module in model.modules():
        if hasattr(type(module), "training_kernels"):  # the class attribute marks the modules with a choice
            module.training_kernels = enable  # type: ignore[assignment]  # nn.Module.__setattr__ types
            count += 1
    return count
