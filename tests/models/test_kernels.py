"""The training kernels of ``videofocalnet.models.kernels``: same outputs, same gradients as the plain ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from videofocalnet.models import create_model
from videofocalnet.models.kernels import (
    TEMPORAL_GEMM_MIN_CHANNELS,
    DepthwiseConv2d,
    TemporalConvGemmGrad,
    crop_to_reach,
    depthwise_conv2d,
    depthwise_weight_grad,
    patch_merge,
    set_training_kernels,
    takes_patch_merge,
    temporal_conv,
)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


def _conv(channels: int, k: int, *, channels_last_weight: bool = False) -> nn.Conv2d:
    conv = nn.Conv2d(channels, channels, k, padding=k // 2, groups=channels, bias=False)
    if channels_last_weight:  # what engine.train._align_param_strides gives DDP runs
        w = conv.weight
        w.data = w.data.as_strided(w.shape, torch.empty_like(w, memory_format=torch.channels_last).stride())
    return conv


@pytest.mark.parametrize("k", [5, 7, 9])
@pytest.mark.parametrize("shape", [(3, 16, 11, 13), (2, 8, 4, 4), (1, 24, 1, 6)])
def test_weight_grad_matches_the_plain_conv_fp32(k, shape):
    """Odd and tiny spatial sizes (smaller than the kernel) included: the padding arithmetic is the risky part."""
    torch.manual_seed(0)
    N, C, H, W = shape
    conv = _conv(C, k)
    x = torch.randn(N, C, H, W).contiguous(memory_format=torch.channels_last).requires_grad_()
    g = torch.randn(N, C, H, W)
    y_ref = conv(x)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, conv.weight), g)
    y = DepthwiseConv2d.apply(x, conv.weight)
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)  # the same forward call
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=0)  # the same input-gradient call
    assert _rel(gw, gw_ref) < 1e-5  # the same products, summed in another order
    assert gw.dtype == conv.weight.dtype and gw.shape == conv.weight.shape


def test_weight_grad_is_exact_in_float64():
    """gradcheck: the split gradient is the derivative, not an approximation of the plain kernel's output."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(DepthwiseConv2d.apply, (x, w))


def test_weight_grad_formula_against_unfold():
    """depthwise_weight_grad on its own, against the definition dW[c, u, v] = sum g[n, c, i, j] xp[n, c, i+u, j+v]."""
    torch.manual_seed(1)
    x, g = torch.randn(2, 4, 7, 9, dtype=torch.float64), torch.randn(2, 4, 7, 9, dtype=torch.float64)
    cols = F.unfold(x, 5, padding=2).view(2, 4, 25, 7 * 9)  # (N, C, k*k, H*W)
    expected = torch.einsum("nckp,ncp->ck", cols, g.flatten(2)).view(4, 1, 5, 5)
    torch.testing.assert_close(depthwise_weight_grad(g, x, 5, 2), expected)


def test_bf16_autocast_matches_the_plain_op():
    """Under bf16 autocast the forward computes in bf16 like the plain conv, and the weight gradient is as close to
    the fp32 one as the plain op's bf16 gradient is."""
    torch.manual_seed(0)
    conv = _conv(32, 5)
    x = torch.randn(4, 32, 14, 14).contiguous(memory_format=torch.channels_last).requires_grad_()
    g = torch.randn(4, 32, 14, 14)
    gw32 = torch.autograd.grad(conv(x), conv.weight, g)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_ref, y = conv(x), DepthwiseConv2d.apply(x, conv.weight)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, conv.weight), g.bfloat16())
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g.bfloat16())
    assert gw.dtype == torch.float32 and gx.dtype == x.dtype
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=0)
    assert _rel(gw, gw32) <= max(2 * _rel(gw_ref, gw32), 1e-2)


_BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


def test_gradient_keeps_the_parameter_strides():
    """A channels_last-strided weight (DDP runs) gets a gradient with the same strides: no bucket-view copy."""
    conv = _conv(8, 5, channels_last_weight=True)
    x = torch.randn(2, 8, 6, 6).contiguous(memory_format=torch.channels_last)
    with torch.autocast(**_BF16):
        y = depthwise_conv2d(x, conv.weight)
    assert "DepthwiseConv2d" in type(y.grad_fn).__name__
    y.float().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.stride() == conv.weight.stride()


def test_split_gradient_only_where_it_pays():
    """bf16 (autocast or bf16 tensors) with kernels above 3 and a gradient to take; fp32 keeps oneDNN's own
    (the split was 0.35x-1.5x there) unless the map is smaller than the kernel (oneDNN's slow generic path), as
    do 3x3 kernels on larger maps, no-grad and frozen weights."""
    x = torch.randn(1, 8, 6, 6)

    def uses_split(weight: torch.Tensor, inp: torch.Tensor = x, bf16: bool = True) -> bool:
        with torch.autocast(**_BF16, enabled=bf16):
            y = depthwise_conv2d(inp, weight)
        return y.grad_fn is not None and "DepthwiseConv2d" in type(y.grad_fn).__name__

    assert uses_split(_conv(8, 5).weight)
    assert uses_split(_conv(8, 5).to(torch.bfloat16).weight, x.bfloat16(), bf16=False)
    assert not uses_split(_conv(8, 5).weight, bf16=False)
    assert not uses_split(_conv(8, 3).weight)
    assert not uses_split(_conv(8, 5).weight.detach())
    with torch.no_grad(), torch.autocast(**_BF16):
        assert depthwise_conv2d(x, _conv(8, 5).weight).grad_fn is None
    # fp32, a map smaller than the kernel on either side: the split; as large as the kernel: oneDNN's own
    for shape, k, split in [
        ((1, 8, 3, 3), 5, True),
        ((1, 8, 2, 2), 3, True),
        ((1, 8, 7, 4), 5, True),
        ((1, 8, 5, 5), 5, False),
        ((1, 8, 3, 3), 3, False),
    ]:
        assert uses_split(_conv(8, k).weight, torch.randn(shape), bf16=False) is split, (shape, k)


@pytest.mark.parametrize(("shape", "k"), [((6, 16, 3, 3), 5), ((4, 8, 2, 2), 3), ((3, 8, 4, 6), 5)])
def test_fp32_small_map_path_matches_the_plain_conv(shape, k):
    """The fp32 route (maps smaller than the kernel, the demo's 3 x 3 third stage): same output, same input gradient,
    weight gradient within 1e-5, as the plain op, and the gradient laid out like the parameter."""
    torch.manual_seed(0)
    conv = _conv(shape[1], k, channels_last_weight=True)
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_()
    g = torch.randn(shape)
    y_ref = conv(x)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, conv.weight), g)
    y = depthwise_conv2d(x, conv.weight)
    assert "DepthwiseConv2d" in type(y.grad_fn).__name__
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-6, atol=1e-6)
    assert _rel(gw, gw_ref) < 1e-5
    assert gw.stride() == conv.weight.stride()


@pytest.mark.parametrize(("k", "sizes"), [(5, (2, 2)), (5, (1, 3)), (5, (2, 7)), (3, (1, 1)), (7, (2, 3))])
def test_cropped_depthwise_kernel_gives_the_same_output_and_gradients(k, sizes):
    """Taps that reach only padding are dropped: the output and both gradients are the plain conv's, and the
    cropped-off taps get an exact zero gradient."""
    torch.manual_seed(0)
    conv = _conv(6, k)
    x = torch.randn(3, 6, *sizes).contiguous(memory_format=torch.channels_last).requires_grad_()
    g = torch.randn(3, 6, *sizes)
    y_ref = conv(x)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, conv.weight), g)
    cropped = crop_to_reach(conv.weight, sizes)
    assert cropped.shape[-2:] == tuple(min(k, 2 * n - 1) for n in sizes)
    y = depthwise_conv2d(x, cropped)
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-6)
    reach = torch.zeros(k, k, dtype=torch.bool)
    rh, rw = (min(k, 2 * n - 1) for n in sizes)
    reach[(k - rh) // 2 : (k + rh) // 2, (k - rw) // 2 : (k + rw) // 2] = True
    assert (gw[:, 0][:, ~reach] == 0).all()


@pytest.mark.parametrize(("k", "T"), [(5, 2), (5, 1), (3, 1), (5, 3)])
def test_cropped_temporal_kernel_gives_the_same_output_and_gradients(k, T):
    torch.manual_seed(0)
    conv = nn.Conv1d(6, 6, k, padding=k // 2, bias=False)
    x = torch.randn(4, 6, T, requires_grad=True)
    g = torch.randn(4, 6, T)
    y_ref = conv(x)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, conv.weight), g)
    w = crop_to_reach(conv.weight, (T,))
    y = F.conv1d(x, w, None, 1, w.shape[-1] // 2)
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
    torch.testing.assert_close(y, y_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-6)


_MODELS = {  # name -> (constructor overrides, clip (T, size)): short clips and small maps make the crops happen
    "video_focalnet_nano": (dict(tubelet_size=4, num_frames=8, img_size=64), (8, 64)),  # the demo: T' = 2
    "video_focalnet_tiny": (dict(depths=(1, 1, 1, 1), embed_dim=16, num_frames=4, img_size=32), (4, 32)),
}


@pytest.mark.parametrize("name", sorted(_MODELS))
def test_model_gradients_match_the_plain_path(name):
    """The switch on a whole model: the same logits, every gradient within fp32 1e-5 (relative to its scale)."""
    torch.manual_seed(0)
    kwargs, (T, size) = _MODELS[name]
    plain = create_model(name, num_classes=5, **kwargs).train()
    fast = create_model(name, num_classes=5, **kwargs).train()
    fast.load_state_dict(plain.state_dict())
    # one per block (its focal modulation) and one per patch embedding (the stem and each downsample)
    assert set_training_kernels(fast) == sum(len(stage.blocks) for stage in fast.layers) + len(fast.layers)
    x = torch.randn(2, T, 3, size, size)
    outs = []
    for model in (plain, fast):
        torch.manual_seed(1)  # the same drop-path draws
        y = model(x)
        y.square().mean().backward()
        outs.append(y)
    # the fast graph really takes the GEMM kernels: wide temporal convs (the last stages) and the downsamples
    fast_nodes, plain_nodes = _graph_nodes(outs[1]), _graph_nodes(outs[0])
    assert "TemporalConvGemmGradBackward" in fast_nodes and "TemporalConvGemmGradBackward" not in plain_nodes
    # every convolution of the plain graph is still one in the fast graph unless a kernel of this module took it
    taken = len(fast.layers) - 1  # the downsamples
    taken += fast_nodes.count("TemporalConvGemmGradBackward") + fast_nodes.count("DepthwiseConv2dBackward")
    assert fast_nodes.count("ConvolutionBackward0") == plain_nodes.count("ConvolutionBackward0") - taken
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    for (name_p, p), (_, q) in zip(plain.named_parameters(), fast.named_parameters()):
        assert _rel(q.grad, p.grad) < 1e-5, name_p
    set_training_kernels(fast, False)
    assert not any(getattr(m, "training_kernels", False) for m in fast.modules())


def _graph_nodes(y: torch.Tensor) -> list[str]:
    """The names of every autograd node behind ``y``."""
    seen, todo, names = set(), [y.grad_fn], []
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        todo.extend(next_fn for next_fn, _ in node.next_functions)
    return names


def _temporal_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The Conv1d over T that ``temporal_conv`` computes, on (B, T, S, C) -> (B, T, S, C'), through F.conv1d."""
    B, T, S, C = x.shape
    y = F.conv1d(x.permute(0, 2, 3, 1).reshape(B * S, C, T), weight, None, 1, weight.shape[-1] // 2)  # (B S, C', T)
    return y.view(B, S, -1, T).permute(0, 3, 1, 2)  # -> (B, T, S, C')


@pytest.mark.parametrize(
    ("B", "T", "S", "C", "k"), [(2, 8, 6, 96, 3), (3, 2, 5, 128, 3), (1, 3, 4, 96, 5), (2, 1, 3, 96, 5)]
)
def test_temporal_gemm_backward_matches_the_plain_conv(B, T, S, C, k):
    """The same forward call; both gradients within fp32 1e-5 of F.conv1d's, clips shorter than the kernel
    included (taps past both ends); the weight gradient laid out like the Conv1d parameter."""
    torch.manual_seed(0)
    conv = nn.Conv1d(C, C, k, padding=k // 2, bias=False)
    x = torch.randn(B, T, S, C, requires_grad=True)
    g = torch.randn(B, T, S, C)
    y_ref = _temporal_reference(x, conv.weight)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, conv.weight), g)
    y = temporal_conv(x, conv.weight)
    assert type(y.grad_fn).__name__ == "TemporalConvGemmGradBackward"
    gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    assert _rel(gx, gx_ref) < 1e-5 and _rel(gw, gw_ref) < 1e-5
    assert gw.shape == conv.weight.shape and gw.stride() == conv.weight.stride()


def test_temporal_gemm_backward_is_exact_in_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 2, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(TemporalConvGemmGrad.apply, (x, w))


def test_temporal_gemm_only_where_it_pays():
    """fp32 on the CPU with 96 or more input channels and a gradient to take; narrower maps, bf16 autocast, no-grad
    and a frozen layer on a frozen input keep the convolution (whose output is the same)."""

    def uses_gemm(C: int, *, bf16: bool = False, grad: bool = True, frozen: bool = False) -> bool:
        x = torch.randn(2, 2, 3, C, requires_grad=not frozen)
        w = torch.randn(C, C, 3, requires_grad=not frozen)
        with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = temporal_conv(x, w)
        return y.grad_fn is not None and type(y.grad_fn).__name__ == "TemporalConvGemmGradBackward"

    assert uses_gemm(TEMPORAL_GEMM_MIN_CHANNELS) and uses_gemm(256)
    assert not uses_gemm(TEMPORAL_GEMM_MIN_CHANNELS - 32)
    assert not uses_gemm(128, bf16=True) and not uses_gemm(128, grad=False) and not uses_gemm(128, frozen=True)


@pytest.mark.parametrize(("N", "H", "W", "C"), [(3, 14, 14, 8), (2, 7, 7, 16), (2, 3, 5, 4), (1, 2, 2, 32)])
def test_patch_merge_matches_the_strided_conv(N, H, W, C):
    """Odd sizes floored as the strided convolution floors them; output and gradients within fp32 1e-5."""
    torch.manual_seed(0)
    conv = nn.Conv2d(C, 2 * C, 2, stride=2)
    x = torch.randn(N, H, W, C, requires_grad=True)  # channels-last maps, as between stages
    g = torch.randn(N, H // 2, W // 2, 2 * C)
    y_ref = conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    grads_ref = torch.autograd.grad(y_ref, (x, conv.weight, conv.bias), g)
    y = patch_merge(x, conv.weight, conv.bias)
    grads = torch.autograd.grad(y, (x, conv.weight, conv.bias), g)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for got, ref in zip(grads, grads_ref):
        assert _rel(got, ref) < 1e-5
    assert (grads[0][:, 2 * (H // 2) :] == 0).all() and (grads[0][:, :, 2 * (W // 2) :] == 0).all()


def test_patch_merge_only_with_a_gradient_in_fp32():
    x, w = torch.randn(1, 4, 4, 8, requires_grad=True), torch.randn(16, 8, 2, 2, requires_grad=True)
    assert takes_patch_merge(x, w)
    with torch.no_grad():
        assert not takes_patch_merge(x, w)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not takes_patch_merge(x, w)
    assert not takes_patch_merge(x.detach(), w.detach())


def test_a_trace_never_keeps_a_kernel_cropped_for_its_example_input():
    """Cropping depends on the input's size, so it is off while tracing: a model traced on a 2-frame, 32 px clip
    still computes the full kernels for an 8-frame, 64 px one."""
    torch.manual_seed(0)
    kwargs = dict(num_classes=5, depths=(1, 1, 1, 1), embed_dim=16, num_frames=2, img_size=32)
    model = create_model("video_focalnet_tiny", **kwargs).eval()
    set_training_kernels(model)
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 2, 3, 32, 32), check_trace=False)
        x = torch.randn(1, 8, 3, 64, 64)
        set_training_kernels(model, False)
        torch.testing.assert_close(traced(x), model(x), rtol=1e-5, atol=1e-6)


def test_cropped_kernel_gradient_keeps_the_parameter_strides():
    """A 1x1 map crops a 5x5 kernel to its centre tap; the gradient still has the parameter's channels_last strides
    (autograd's own narrow would give contiguous ones, and DDP would copy through its bucket views every step)."""
    conv = _conv(8, 5, channels_last_weight=True)
    x = torch.randn(2, 8, 1, 1).contiguous(memory_format=torch.channels_last)
    cropped = crop_to_reach(conv.weight, (1, 1))
    assert cropped.shape == (8, 1, 1, 1)
    depthwise_conv2d(x, cropped).square().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.stride() == conv.weight.stride()
    expected = torch.zeros(8, 1, 5, 5)
    expected[:, 0, 2, 2] = (2 * x.squeeze() ** 2 * conv.weight[:, 0, 2, 2]).sum(0).detach()
    torch.testing.assert_close(conv.weight.grad, expected)
