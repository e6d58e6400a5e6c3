"""Pure key conversion: ours <-> Microsoft <-> timm round trips, layout detection, unknown keys named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videofocalnet.models.convert import (
    FMT_MICROSOFT,
    FMT_TIMM,
    FMT_VIDEO,
    CheckpointMismatchError,
    checkpoint_filter_fn,
    detect_format,
    from_microsoft,
    from_timm,
    to_microsoft,
    to_timm,
)
from weights_helpers import TEMPORAL, meta_state, microsoft_from, reference, timm_from_microsoft


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].shape == b[key].shape and (a[key].is_meta or torch.equal(a[key], b[key])), key


def test_timm_unknown_key_raises(reference_dir: Path) -> None:
    sd, _kwargs, _x, _y = reference(reference_dir, "small_t4")
    timm = timm_from_microsoft(microsoft_from(sd))
    timm["layers.2.blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError, match=r"layers\.2\.blocks\.0\.attn\.qkv\.weight"):
        checkpoint_filter_fn(timm, None)


def test_timm_to_ours_matches_the_independent_microsoft_layout(reference_dir: Path) -> None:
    sd, _kwargs, _x, _y = reference(reference_dir, "small_t4")
    microsoft = microsoft_from(sd)
    timm = timm_from_microsoft(microsoft)
    assert detect_format(timm) == FMT_TIMM and detect_format(microsoft) == FMT_MICROSOFT
    assert detect_format(sd) == FMT_VIDEO
    converted = checkpoint_filter_fn({"model": timm})
    assert converted.keys() == microsoft.keys()
    for key in microsoft:
        assert torch.equal(converted[key], microsoft[key]), key
    # ours -> timm gives exactly the independently written timm layout (keys, order aside, and 4-D 1x1 convs)
    ours_to_timm = to_timm(microsoft)
    assert ours_to_timm.keys() == timm.keys()
    for key in timm:
        assert torch.equal(ours_to_timm[key], timm[key]), key


@pytest.mark.parametrize("name", ["small_t4", "small_tubelet2"])
def test_round_trips_are_identity(reference_dir: Path, name: str) -> None:
    sd, _kwargs, _x, _y = reference(reference_dir, name)
    spatial = {k: v for k, v in sd.items() if not TEMPORAL.search(k)}
    _assert_same(from_microsoft(to_microsoft(spatial)), spatial)
    _assert_same(from_timm(to_timm(spatial)), spatial)
    _assert_same(from_timm(to_timm(spatial, post_norm=True)), spatial)
    # a video state dict keeps only its spatial part, and only when asked to
    _assert_same(from_timm(to_timm(sd, drop_temporal=True)), spatial)
    _assert_same(from_microsoft(to_microsoft(sd, drop_temporal=True)), spatial)
    _assert_same(checkpoint_filter_fn(sd), sd)  # our layout passes unchanged


def test_round_trip_of_the_real_focalnet_tiny_key_set(reference_dir: Path) -> None:
    spatial = meta_state(reference_dir / "official_keys_tiny.tsv", drop_temporal=True)
    timm = to_timm(spatial)
    assert "stem.proj.weight" in timm and "layers.3.downsample.proj.weight" in timm and "head.fc.weight" in timm
    assert "layers.0.downsample.proj.weight" not in timm
    assert timm["layers.0.blocks.0.mlp.fc1.weight"].shape == (384, 96, 1, 1)
    _assert_same(from_timm(timm), spatial)


def test_layerscale_postnorm_and_modulation_norm_names() -> None:
    ours = {
        "layers.0.blocks.1.gamma_1": torch.ones(4),
        "layers.0.blocks.1.gamma_2": torch.ones(4) * 2,
        "layers.0.blocks.1.norm1.weight": torch.ones(4),
        "layers.0.blocks.1.modulation.ln.bias": torch.zeros(4),
    }
    assert list(to_timm(ours)) == [
        "layers.0.blocks.1.ls1.gamma",
        "layers.0.blocks.1.ls2.gamma",
        "layers.0.blocks.1.norm1.weight",
        "layers.0.blocks.1.modulation.norm.bias",
    ]
    assert "layers.0.blocks.1.norm1_post.weight" in to_timm(ours, post_norm=True)
    _assert_same(from_timm(to_timm(ours, post_norm=True)), ours)


def test_temporal_branch_is_not_dropped_silently(reference_dir: Path) -> None:
    sd, _kwargs, _x, _y = reference(reference_dir, "small_t4")
    for convert in (to_timm, to_microsoft):
        with pytest.raises(CheckpointMismatchError, match=r"drop_temporal=True.*f_temporal"):
            convert(sd)


def test_unknown_keys_are_named_in_every_direction() -> None:
    w = torch.zeros(2, 2)
    with pytest.raises(CheckpointMismatchError, match=r"layers\.1\.blocks\.0\.attn\.qkv\.weight"):
        to_timm({"patch_embed.proj.weight": w, "layers.1.blocks.0.attn.qkv.weight": w})
    with pytest.raises(CheckpointMismatchError, match=r"pos_embed"):
        to_microsoft({"patch_embed.proj.weight": w, "pos_embed": w})
    with pytest.raises(CheckpointMismatchError, match=r"layers\.0\.blocks\.0\.mlp\.fc3\.bias"):
        from_microsoft({"patch_embed.proj.weight": w, "layers.0.blocks.0.mlp.fc3.bias": w})
    with pytest.raises(CheckpointMismatchError, match=r"stage 0 has no downsample"):
        from_timm({"layers.0.downsample.proj.weight": w})
    with pytest.raises(CheckpointMismatchError, match=r"expected a 1x1 conv weight"):
        from_timm({"layers.0.blocks.0.mlp.fc1.weight": torch.zeros(2, 2, 3, 3)})
    with pytest.raises(CheckpointMismatchError, match=r"map twice onto layers\.0\.blocks\.0\.norm1\.weight"):
        from_timm({"layers.0.blocks.0.norm1.weight": w, "layers.0.blocks.0.norm1_post.weight": w})
    with pytest.raises(CheckpointMismatchError, match="unrecognised checkpoint layout"):
        detect_format({"encoder.weight": w})
