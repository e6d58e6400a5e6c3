"""The CPU inference kernels in ``videofocalnet.models.layers``: same numbers as the plain PyTorch ops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from videofocalnet.models import create_model, layers
from videofocalnet.models.layers import Mlp, conv2d_gelu

needs_onednn = pytest.mark.skipif(not layers._HAS_ONEDNN_POINTWISE, reason="this torch build has no oneDNN fused ops")


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 24, 8, 49), (2, 24, 4, 7), (3, 24, 16, 5)])
def test_packed_temporal_weight_works_for_any_input_shape(shape):
    """The blocked weight copy is made once (for the first shape) and reused for others."""
    conv = torch.nn.Conv1d(24, 24, 5, padding=2, bias=False)
    layers.clear_packed_weights()
    with torch.no_grad():
        conv2d_gelu(torch.randn(1, 8, 49, 24).permute(0, 3, 1, 2), conv.weight, padding=(2, 0))  # pack for another shape
        x = torch.randn(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2)  # (B, C, T, HW) channels_last
        fused = conv2d_gelu(x, conv.weight, padding=(2, 0))
    expected = F.gelu(F.conv2d(x, conv.weight.detach().unsqueeze(-1), padding=(2, 0)))
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-5)


@needs_onednn
def test_packed_weights_follow_weight_updates():
    """An optimizer step or load_state_dict must never leave a stale packed copy behind."""
    torch.manual_seed(0)
    model = create_model("video_focalnet_nano", num_classes=5, num_frames=4, img_size=32).eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    model(x).square().mean().backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        after_step = model(x)
    reference = model(x).detach()  # autograd path: no fused kernel, no cache
    assert (after_step - before).abs().max() > 1e-3
    torch.testing.assert_close(after_step, reference, rtol=0, atol=1e-5)

    fresh = create_model("video_focalnet_nano", num_classes=5, num_frames=4, img_size=32).eval()
    with torch.no_grad():
        fresh(x)  # packs fresh's own weights
        fresh.load_state_dict(model.state_dict())
        torch.testing.assert_close(fresh(x), reference, rtol=0, atol=1e-5)


@needs_onednn
def test_packed_weight_cache_forgets_dead_weights():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    with torch.no_grad():
        conv2d_gelu(torch.randn(1, 8, 6, 6).contiguous(memory_format=torch.channels_last), conv.weight,
                    padding=(1, 1), groups=8)
    key = id(conv.weight)
    assert key in layers._PACKED_WEIGHTS
    del conv
    assert key not in layers._PACKED_WEIGHTS


@needs_onednn
def test_chunked_mlp_equals_whole(monkeypatch):
    """Large inference batches run the MLP in chunks (see ``_chunk_rows``); each token's arithmetic is unchanged."""
    torch.manual_seed(0)
    mlp = Mlp(16, hidden_features=64).eval()
    x, residual = torch.randn(2, 3, 9, 7, 16), torch.randn(2, 3, 9, 7, 16)
    with torch.no_grad():
        assert layers._chunk_rows(x, 64) == 0  # small: whole
        whole = mlp(x, residual=residual)
        monkeypatch.setattr(layers, "_MMAP_THRESHOLD_BYTES", 1024)
        monkeypatch.setattr(layers, "_CHUNK_BYTES", 64 * 4 * 5)  # 5 rows per chunk, the minimum is 256
        assert layers._chunk_rows(x, 64) == 256
        via_forward = mlp(x, residual=residual)  # 378 tokens: chunks of 256 and 122
        chunked = mlp._forward_chunked(x, residual, rows=37)  # 11 chunks, the last one short
    torch.testing.assert_close(via_forward, whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(whole, residual + mlp.fc2(F.gelu(mlp.fc1(x))), rtol=0, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("built_by", ["torch", "engine"])
def test_any_optimizer_step_drops_the_packed_weights(built_by):
    """Fused optimizer kernels do not bump version counters; neither our engine's optimizer nor a plain torch one may
    leave CPU inference on stale blocked conv weights."""
    from videofocalnet.engine.optim import build_optimizer

    torch.manual_seed(0)
    model = create_model("video_focalnet_nano", num_classes=3, img_size=32, num_frames=4)
    x = torch.randn(2, 4, 3, 32, 32)
    if built_by == "torch":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    else:
        opt = build_optimizer(model, name="adamw", lr=1e-2, weight_decay=0.05, fused=True)
    with torch.inference_mode():
        model.eval()(x)  # fills the cache
    F.cross_entropy(model.train()(x), torch.tensor([0, 1])).backward()
    opt.step()
    fresh = create_model("video_focalnet_nano", num_classes=3, img_size=32, num_frames=4)
    fresh.load_state_dict(model.state_dict())
    with torch.inference_mode():
        torch.testing.assert_close(model.eval()(x), fresh.eval()(x), rtol=0, atol=1e-5)
