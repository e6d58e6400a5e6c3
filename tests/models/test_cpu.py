"""The CPU inference kernels of ``videofocalnet.models.cpu``: applied explicitly, same numbers as the plain path."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from videofocalnet.models import cpu, create_model
from videofocalnet.models.cpu import conv2d_gelu, optimize_for_inference
from videofocalnet.models.layers import Mlp

needs_onednn = pytest.mark.skipif(not cpu.AVAILABLE, reason="this torch build has no oneDNN fused ops")


@pytest.fixture(autouse=True)
def _fused_fp32_everywhere(monkeypatch):
    """The fused fp32 kernels are tested on every CPU, also on AVX2 ones where inference leaves them off."""
    monkeypatch.setattr(cpu, "FUSED_FP32", cpu.AVAILABLE)


def test_fused_fp32_is_off_by_default_only_on_avx2(monkeypatch):
    """Where fp32 fusion loses (AVX2), an optimised model runs the plain ops: no packed weight copies are made."""
    assert cpu.fused_fp32_pays() == (cpu.AVAILABLE and torch.backends.cpu.get_cpu_capability() != "AVX2")
    x = torch.randn(1, 4, 3, 32, 32)
    for fused in (False, True):
        monkeypatch.setattr(cpu, "FUSED_FP32", fused and cpu.AVAILABLE)
        model = optimize_for_inference(create_model("video_focalnet_nano", num_classes=3, num_frames=4).eval())
        with torch.no_grad():
            model(x)
        packed = [m for m in model.modules() if getattr(m, "_packed", None)]
        assert bool(packed) == (fused and cpu.AVAILABLE)


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 24, 8, 49), (2, 24, 4, 7), (3, 24, 16, 5)])
def test_packed_temporal_weight_works_for_any_input_shape(shape):
    """The blocked weight copy is made once (for the first shape) and reused for others."""
    conv = torch.nn.Conv1d(24, 24, 5, padding=2, bias=False)
    cache: dict = {}
    with torch.no_grad():
        # pack for another shape first
        conv2d_gelu(torch.randn(1, 8, 49, 24).permute(0, 3, 1, 2), conv.weight, padding=(2, 0), cache=cache, name="w")
        x = torch.randn(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2)  # (B, C, T, HW) channels_last
        fused = conv2d_gelu(x, conv.weight, padding=(2, 0), cache=cache, name="w")
    assert len(cache) == 1
    expected = F.gelu(F.conv2d(x, conv.weight.detach().unsqueeze(-1), padding=(2, 0)))
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)


needs_bf16 = pytest.mark.skipif(not cpu._BF16, reason="oneDNN has no bf16 kernels on this CPU")
PRECISIONS = ["fp32", pytest.param("bf16", marks=needs_bf16)]


def _autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def _assert_follows(fused: torch.Tensor, reference: torch.Tensor, stale: torch.Tensor, precision: str) -> None:
    """``fused`` is ``reference`` (within fp32 1e-5, or bf16 rounding far below the update's size), not ``stale``."""
    change = (reference - stale).abs().max().item()
    assert change > 1e-3
    tol = 1e-5 if precision == "fp32" else 0.05 * change
    torch.testing.assert_close(fused.float(), reference.float(), rtol=0, atol=tol)


@needs_onednn
@pytest.mark.parametrize("precision", PRECISIONS)
def test_packed_weights_follow_weight_updates(precision):
    """An optimizer step or load_state_dict must never leave a stale packed (or bf16) weight copy behind."""
    torch.manual_seed(0)
    model = optimize_for_inference(create_model("video_focalnet_nano", num_classes=5, num_frames=4, img_size=32).eval())
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad(), _autocast(precision):
        before = model(x)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    model(x).square().mean().backward()
    opt.step()
    model.eval()
    with torch.no_grad(), _autocast(precision):
        after_step = model(x)
    with _autocast(precision):
        reference = model(x).detach()  # autograd path: no fused kernel, no cache
    _assert_follows(after_step, reference, before, precision)

    fresh = optimize_for_inference(create_model("video_focalnet_nano", num_classes=5, num_frames=4, img_size=32).eval())
    with torch.no_grad(), _autocast(precision):
        stale = fresh(x)  # packs (and casts) fresh's own weights
    # outside autocast: its own cast cache would keep the old weights' bf16 copies until the region ends
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad(), _autocast(precision):
        _assert_follows(fresh(x), reference, stale, precision)


@needs_onednn
def test_packed_weights_live_on_their_module_and_train_mode_drops_them():
    """No process-wide state: the blocked copies belong to the modulation that owns the weights, the bf16 copies to
    the modulation or MLP that owns them."""
    model = optimize_for_inference(create_model("video_focalnet_nano", num_classes=3, num_frames=4, img_size=32))
    block = model.layers[0].blocks[0]
    modulation, mlp = block.modulation, block.mlp
    with torch.no_grad():
        model.eval()(torch.randn(1, 4, 3, 32, 32))
    assert set(modulation._packed) == {"s0", "s1", "t0", "t1"}
    assert modulation._casts == {} and mlp._casts == {}  # fp32: nothing to cast
    if cpu._BF16:
        with torch.no_grad(), _autocast("bf16"):
            model(torch.randn(1, 4, 3, 32, 32))
        # f (3 slices) and f_temporal (2), h, h_temporal, proj: a weight and a bias each; fc1, fc2 likewise
        assert len(modulation._casts) == 2 * (3 + 2 + 3) and len(mlp._casts) == 2 * 2
        assert all(copy_.dtype == torch.bfloat16 for _key, copy_ in modulation._casts.values())
    model.train()
    assert modulation._packed == {} and modulation._casts == {} and mlp._casts == {}
    with torch.no_grad(), _autocast("bf16" if cpu._BF16 else "fp32"):
        model.eval()(torch.randn(1, 4, 3, 32, 32))
    cpu.clear_caches(model)
    assert modulation._packed == {} and modulation._casts == {} and mlp._casts == {}


@needs_onednn
def test_chunked_mlp_equals_whole(monkeypatch):
    """Large inference batches run the MLP in chunks (see ``_chunk_rows``); each token's arithmetic is unchanged."""
    torch.manual_seed(0)
    mlp = optimize_for_inference(Mlp(16, hidden_features=64).eval())
    assert type(mlp) is cpu.InferenceMlp
    x, residual = torch.randn(2, 3, 9, 7, 16), torch.randn(2, 3, 9, 7, 16)
    with torch.no_grad():
        assert cpu.chunk_rows(x, 64) == 0  # small: whole
        whole = mlp.forward_add(x, residual)
        monkeypatch.setattr(cpu, "_MMAP_THRESHOLD_BYTES", 1024)
        monkeypatch.setattr(cpu, "_CHUNK_BYTES", 64 * 4 * 5)  # 5 rows per chunk, the minimum is 256
        assert cpu.chunk_rows(x, 64) == 256
        via_forward = mlp.forward_add(x, residual)  # 378 tokens: chunks of 256 and 122
        chunked = mlp.forward_add_chunked(x, residual, rows=37)  # 11 chunks, the last one short
    torch.testing.assert_close(via_forward, whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(whole, residual + mlp.fc2(F.gelu(mlp.fc1(x))), rtol=0, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("built_by", ["torch", "engine"])
def test_any_optimizer_step_drops_the_packed_weights(built_by, precision):
    """Fused optimizer kernels do not bump version counters; training (which puts the model in train mode) with our
    engine's optimizer or a plain torch one must not leave CPU inference on stale blocked conv weights."""
    from videofocalnet.engine.optim import build_optimizer

    torch.manual_seed(0)
    model = optimize_for_inference(create_model("video_focalnet_nano", num_classes=3, img_size=32, num_frames=4))
    x = torch.randn(2, 4, 3, 32, 32)
    if built_by == "torch":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    else:
        opt = build_optimizer(model, name="adamw", lr=1e-2, weight_decay=0.05, fused=True)
    with torch.inference_mode(), _autocast(precision):
        stale = model.eval()(x)  # fills the caches
    F.cross_entropy(model.train()(x), torch.tensor([0, 1])).backward()
    opt.step()
    fresh = create_model("video_focalnet_nano", num_classes=3, img_size=32, num_frames=4)
    fresh.load_state_dict(model.state_dict())
    with torch.inference_mode(), _autocast(precision):
        _assert_follows(model.eval()(x), fresh.eval()(x), stale, precision)


def test_optimize_for_inference_is_explicit_and_keeps_the_state_dict(reference_dir=None):
    """Nothing changes until asked; the swap keeps every key, and no optimizer-step hook is registered anywhere."""
    from torch.optim.optimizer import _global_optimizer_post_hooks

    model = create_model("video_focalnet_nano", num_classes=3, img_size=32, num_frames=4)
    assert not cpu.is_optimized(model)
    keys = list(model.state_dict())
    copy_ = optimize_for_inference(model, inplace=False)
    assert not cpu.is_optimized(model) and cpu.is_optimized(copy_) == cpu.AVAILABLE
    assert list(copy_.state_dict()) == keys
    assert not _global_optimizer_post_hooks


@needs_onednn
@pytest.mark.parametrize(
    "model_name", ["video_focalnet_nano", "video_focalnet_xs_divided", "video_focalnet_xs_factorized"]
)
def test_optimized_model_equals_plain_in_inference_training_and_bf16(model_name):
    torch.manual_seed(0)
    plain = create_model(model_name, num_classes=3, img_size=32, num_frames=4, init_mode="fan_in")
    fast = optimize_for_inference(plain, inplace=False)
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        reference = plain.eval()(x)
        torch.testing.assert_close(fast.eval()(x), reference, rtol=0, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = {"fast": fast(x).float(), "plain": plain(x).float()}
    # bf16 stays near fp32 on both paths; the top-1 must agree wherever fp32's top-2 margin exceeds bf16's error (an
    # argmax over a near-tie is decided by rounding: sample 0 of nano here has a 0.005 margin, and on a CPU with AMX
    # the fused path's bf16 GEMMs picked the other class)
    top2 = reference.topk(2, dim=-1).values
    decided = (top2[:, 0] - top2[:, 1]) > 0.2
    assert decided.any(), "no clear top-1 in the fp32 reference: change the input seed"
    for name, out in outputs.items():
        torch.testing.assert_close(out, reference, rtol=0, atol=0.1, msg=name)
        assert torch.equal(out.argmax(-1)[decided], reference.argmax(-1)[decided]), name
    for model in (fast, plain):
        torch.manual_seed(1)  # the same drop-path draws
        model.train()(x).sum().backward()
    for (name, a), b in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0, msg=name)
