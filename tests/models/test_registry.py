"""The registry's architecture inference: registered name + constructor kwargs read off a state dict."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videofocalnet.models.convert import CheckpointMismatchError
from videofocalnet.models.registry import infer_model_config
from weights_helpers import meta_state, microsoft_from, reference, timm_from_microsoft


@pytest.mark.parametrize(
    ("tsv", "name", "tubelet"),
    [
        ("official_keys_tiny.tsv", "video_focalnet_tiny", 1),
        ("official_keys_small.tsv", "video_focalnet_small", 1),
        ("official_keys_base.tsv", "video_focalnet_base", 1),
        ("official_keys_tiny_tubelet2.tsv", "video_focalnet_tiny", 2),
    ],
)
def test_published_sizes_are_recognised(reference_dir: Path, tsv: str, name: str, tubelet: int) -> None:
    state = meta_state(reference_dir / tsv, drop_temporal=False)
    assert infer_model_config(state) == (name, {"num_classes": 400, "num_frames": 8, "tubelet_size": tubelet})


def test_other_architectures_spell_out_their_shape(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = reference(reference_dir, "small_t4")
    name, inferred = infer_model_config(sd, num_frames=4)
    assert name == "video_focalnet_tiny"
    assert inferred == {
        "num_classes": 5,
        "num_frames": 4,
        "tubelet_size": 1,
        "embed_dim": 16,
        "depths": kwargs["depths"],
        "focal_levels": kwargs["focal_levels"],
        "focal_windows": kwargs["focal_windows"],
    }
    # an ImageNet head says nothing about the video classes: 400 unless told; the tubelet can be asked for
    timm = timm_from_microsoft(microsoft_from(sd))
    _name, from_timm = infer_model_config(timm, num_frames=4, tubelet_size=2)
    assert from_timm == {**inferred, "num_classes": 400, "tubelet_size": 2}
    assert infer_model_config(timm, num_classes=174)[1]["num_classes"] == 174


def test_layerscale_and_modulation_norm_are_detected() -> None:
    sd = {
        "patch_embed.proj.weight": torch.zeros(96, 3, 4, 4),
        "layers.0.blocks.0.gamma_1": torch.zeros(96),
        "layers.0.blocks.0.modulation.ln.weight": torch.zeros(96),
    }
    _name, kwargs = infer_model_config(sd)
    assert kwargs["use_layerscale"] and kwargs["use_postln_in_modulation"]
    with pytest.raises(CheckpointMismatchError, match="stage indices"):
        infer_model_config({"patch_embed.proj.weight": torch.zeros(96, 3, 4, 4)})
