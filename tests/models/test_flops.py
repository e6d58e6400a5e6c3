"""Parameter and MAC counts against the published figures (../shared/spec/recipe.md) and an analytic count."""

from __future__ import annotations

import pytest
import torch

from videofocalnet.models import VideoFocalNet, create_model
from videofocalnet.models.flops import count_flops, count_params, model_flops

# recipe.md: params at 400 / 174 / 600 classes, fvcore GMACs (conv + matmul + LayerNorm) at 8x224.
PUBLISHED = {
    "video_focalnet_tiny": ((49_553_272, 49_379_478, 49_707_072), 63.14),
    "video_focalnet_small": ((88_735_168, 88_561_374, 88_888_968), 124.54),
    "video_focalnet_base": ((157_389_216, 157_157_566, 157_594_216), 220.93),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_params_match_published_exactly(name: str) -> None:
    for num_classes, expected in zip((400, 174, 600), PUBLISHED[name][0]):
        with torch.device("meta"):
            model = create_model(name, num_classes=num_classes)
        assert count_params(model) == expected, (name, num_classes)


def test_tubelet2_params() -> None:
    with torch.device("meta"):
        model = create_model("video_focalnet_tiny", tubelet_size=2)
    assert count_params(model) == 49_557_880


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_gmacs_match_published(name: str) -> None:
    report = model_flops(name)
    published = PUBLISHED[name][1]
    assert report.params == PUBLISHED[name][0][0]
    assert abs(report.gmacs - published) / published < 0.005  # conv + matmul alone: within 0.5%
    assert abs(report.fvcore_gmacs - published) < 0.006  # with fvcore's LayerNorm term: to the published 2 decimals
    assert report.flops == 2 * report.macs
    assert sum(report.by_module.values()) == report.macs


def test_base_16_frames() -> None:
    assert abs(model_flops("video_focalnet_base", num_frames=16).fvcore_gmacs - 441.85) < 0.006


def _analytic_macs(model: VideoFocalNet, B: int, T: int, size: int) -> int:
    """Conv + matmul MACs from the architecture, written out layer by layer (model.md)."""
    C0 = model.embed_dim[0]
    h = size // 4
    N = B * T * h * h  # tokens in stage 0
    macs = N * C0 * 3 * 4 * 4  # stem
    for i, stage in enumerate(model.layers):
        C = model.embed_dim[i]
        for block in stage.blocks:
            mod = block.modulation
            L, ks = mod.focal_level, mod.kernel_sizes
            macs += N * C * (2 * C + L + 1)  # f
            macs += N * C * (C + L + 1)  # f_temporal
            macs += 3 * N * C * C  # h, h_temporal, proj
            macs += sum(N * C * k * k for k in ks)  # depthwise spatial convs
            macs += sum(N * C * C * k for k in ks)  # dense temporal convs
            macs += 2 * N * C * 4 * C  # mlp
        if stage.downsample is not None:
            h //= 2
            N = B * T * h * h
            macs += N * model.embed_dim[i + 1] * C * 2 * 2
    return macs + B * model.num_features * model.num_classes  # head


def test_counter_sees_every_conv_and_matmul_on_cpu_and_meta() -> None:
    """The model runs h / h_temporal as F.linear and the temporal Conv1d as a (k, 1) Conv2d: all must be counted."""
    kwargs = dict(embed_dim=16, depths=(1, 1, 2, 1), num_classes=5, num_frames=4)
    cpu = VideoFocalNet(**kwargs)
    with torch.device("meta"):
        meta = VideoFocalNet(**kwargs)
    expected = _analytic_macs(cpu, B=2, T=4, size=64)
    for model in (cpu, meta):
        report = count_flops(model, num_frames=4, img_size=64, batch_size=2)
        assert report.macs == expected
        assert report.params == count_params(cpu)
