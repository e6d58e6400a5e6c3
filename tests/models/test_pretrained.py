"""Applying converted state dicts to a model: strict key checks, head re-draw, ImageNet init, stem inflation.

Synthetic ImageNet checkpoints are cut from the reference fixture's non-trivial weights (small_t4), so a tensor that
lands in the wrong place changes numbers; one test runs the real FocalNet-T key set on the meta device.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from videofocalnet.models import VideoFocalNet, create_model
from videofocalnet.models.convert import CheckpointMismatchError, checkpoint_filter_fn, detect_format
from videofocalnet.models.pretrained import LoadReport, apply_pretrained
from weights_helpers import (
    TEMPORAL,
    assert_imagenet_load,
    meta_state,
    microsoft_from,
    poison,
    reference,
    timm_from_microsoft,
)


def _load(model: VideoFocalNet, state_dict: dict[str, torch.Tensor], **kwargs) -> LoadReport:
    """Any layout -> ours -> the model: what ``videofocalnet.weights.load_pretrained`` does after reading a file."""
    return apply_pretrained(model, checkpoint_filter_fn(state_dict), fmt=detect_format(state_dict), **kwargs)


def test_key_mismatch_is_reported_readably(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = reference(reference_dir, "small_t4")
    sd = dict(sd)
    del sd["layers.2.blocks.1.mlp.fc2.bias"]
    sd["layers.2.blocks.1.mlp.fc3.bias"] = torch.zeros(3)
    sd["norm.weight"] = torch.ones(7)
    with pytest.raises(CheckpointMismatchError) as info:
        _load(VideoFocalNet(**kwargs), sd)
    message = str(info.value)
    assert "layers.2.blocks.1.mlp.fc2.bias" in message  # missing
    assert "layers.2.blocks.1.mlp.fc3.bias" in message  # unexpected
    assert "norm.weight: checkpoint (7,) vs model (128,)" in message


def test_head_with_other_class_count_is_reinitialised(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = reference(reference_dir, "small_t4")
    model = VideoFocalNet(**{**kwargs, "num_classes": 300})
    with torch.no_grad():
        model.head.weight.fill_(5.0)
    with pytest.warns(UserWarning, match="head has 5 classes, the model 300"):
        report = _load(model, sd)
    assert report.reinitialised == ["head.weight", "head.bias"]
    state = model.state_dict()
    for key, value in sd.items():
        if not key.startswith("head."):
            assert torch.equal(state[key], value), key
    assert abs(model.head.weight.std().item() - 0.02) < 0.002  # trunc-normal(0.02), as the official init
    assert torch.count_nonzero(model.head.bias) == 0
    with pytest.raises(CheckpointMismatchError, match="strict_head"):
        _load(VideoFocalNet(**{**kwargs, "num_classes": 300}), sd, strict_head=True)


# ------------------------------------------------------------------------------------------- ImageNet FocalNets
def test_timm_layout_imagenet_checkpoint_matches_microsoft(reference_dir: Path) -> None:
    sd, kwargs, x, _y = reference(reference_dir, "small_t4")
    microsoft = microsoft_from(sd)
    timm = timm_from_microsoft(microsoft)
    assert "stem.proj.weight" in timm and "layers.1.downsample.proj.weight" in timm and "head.fc.weight" in timm

    converted = checkpoint_filter_fn(timm, None)
    assert converted.keys() == microsoft.keys()
    for key in microsoft:
        assert torch.equal(converted[key], microsoft[key]), key

    models = []
    for state in (microsoft, timm):
        model = VideoFocalNet(**kwargs).eval()
        poison(model)
        torch.manual_seed(1)  # same temporal-branch and head draws for both
        report = _load(model, state)
        assert_imagenet_load(model, microsoft, report)
        models.append(model)
    assert report.format == "focalnet-timm"
    with torch.no_grad():
        torch.testing.assert_close(models[0](x), models[1](x), atol=0, rtol=0)


def test_tubelet_stem_inflation(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = reference(reference_dir, "small_t4")
    microsoft = microsoft_from(sd)
    model = VideoFocalNet(**{**kwargs, "tubelet_size": 2}).eval()
    report = _load(model, microsoft)
    assert report.inflated == ["patch_embed.proj.weight"]
    assert model.patch_embed.proj.weight.shape == (16, 3, 2, 4, 4)

    frame = torch.randn(1, 3, 64, 64)
    clip = frame.unsqueeze(1).repeat(1, 2, 1, 1, 1)  # (1, 3, H, W) -> (1, 2, 3, H, W): two identical frames
    with torch.no_grad():
        tokens = model.patch_embed(clip)  # (1, 1, 16, 16, C)
        ref = F.conv2d(frame, microsoft["patch_embed.proj.weight"], microsoft["patch_embed.proj.bias"], stride=4)
        ref = F.layer_norm(
            ref.permute(0, 2, 3, 1), (16,), microsoft["patch_embed.norm.weight"], microsoft["patch_embed.norm.bias"]
        )  # (1, C, 16, 16) -> (1, 16, 16, C)
    torch.testing.assert_close(tokens[:, 0], ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layout", ["microsoft", "timm"])
def test_real_focalnet_tiny_key_set_on_meta(reference_dir: Path, layout: str) -> None:
    """FocalNet-T's real key set (official T keys minus the temporal ones, 1000-way head) into T and T-tubelet-2."""
    microsoft = meta_state(reference_dir / "official_keys_tiny.tsv", drop_temporal=True)
    microsoft["head.weight"] = torch.empty(1000, 768, device="meta")
    microsoft["head.bias"] = torch.empty(1000, device="meta")
    state = microsoft if layout == "microsoft" else timm_from_microsoft(microsoft)
    for tubelet in (1, 2):
        with torch.device("meta"):
            model = create_model("video_focalnet_tiny", tubelet_size=tubelet)
        report = _load(model, state)
        assert report.loaded == len(microsoft) - 2
        assert len(report.reinitialised) == 2 + sum(1 for k in model.state_dict() if TEMPORAL.search(k))
        assert report.inflated == (["patch_embed.proj.weight"] if tubelet == 2 else [])
        assert "focalnet-" + layout == report.format and "re-initialised" in str(report)
