"""Features out of every registered model, timm style: ``forward_intermediates`` shapes and semantics, the final
tokens equal to ``forward_tokens``, ``features_only=True`` modules with ``feature_info``, pruning, and the layer ids
that layer-wise lr decay reads."""

from __future__ import annotations

import pytest
import torch

from videofocalnet.models import create_model, list_models
from videofocalnet.models.features import feature_take_indices

TINY = dict(embed_dim=8, depths=[1, 1, 1, 1], num_classes=3, img_size=64, drop_path_rate=0.0)
B, T, H, W = 2, 4, 64, 96


def _clip() -> torch.Tensor:
    return torch.randn(B, T, 3, H, W, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list_models())
def test_forward_intermediates_gives_every_stage_map(name):
    model = create_model(name, **TINY).eval()
    x = _clip()
    with torch.no_grad():
        final, maps = model.forward_intermediates(x)
        tokens = model.forward_tokens(x)
    assert [tuple(m.shape) for m in maps] == [(B, 8 * 2**i, T, H // (4 * 2**i), W // (4 * 2**i)) for i in range(4)]
    torch.testing.assert_close(final, tokens, rtol=0, atol=0)  # the final tokens are forward_tokens'
    assert model.feature_info == [
        {"num_chs": 8 * 2**i, "reduction": 4 * 2**i, "temporal_reduction": 1, "module": f"layers.{i}"} for i in range(4)
    ]
    with torch.no_grad():
        last = model.forward_intermediates(x, indices=[-1], norm=True, intermediates_only=True)
        channels_last = model.forward_intermediates(x, indices=2, output_fmt="NTHWC", intermediates_only=True)
    # the normed last map is the final tokens; channels-last maps are the same numbers without the permute
    torch.testing.assert_close(last[0], tokens.permute(0, 4, 1, 2, 3), rtol=0, atol=0)
    torch.testing.assert_close(channels_last[1], maps[3].permute(0, 2, 3, 4, 1), rtol=0, atol=0)
    assert len(channels_last) == 2 and tuple(channels_last[0].shape) == (B, T, H // 16, W // 16, 32)


@pytest.mark.parametrize("name", list_models())
def test_features_only_module_returns_the_asked_stages(name):
    full = create_model(name, **TINY).eval()
    torch.manual_seed(0)
    feats = create_model(name, features_only=True, out_indices=(0, 2), **TINY).eval()
    feats.model.load_state_dict({k: v for k, v in full.state_dict().items() if k in feats.model.state_dict()})
    x = _clip()
    with torch.no_grad():
        out = feats(x)
        _, reference = full.forward_intermediates(x, indices=[0, 2])
    assert feats.feature_info.channels() == [8, 32] and feats.feature_info.reduction() == [4, 16]
    assert feats.feature_info.module_name() == ["layers.0", "layers.2"] and len(feats.feature_info) == 2
    assert [tuple(o.shape) for o in out] == [(B, 8, T, H // 4, W // 4), (B, 32, T, H // 16, W // 16)]
    for got, want in zip(out, reference):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    # pruned: stage 3, the last kept downsample, the head (and the factorized temporal blocks) are gone
    keys = set(feats.model.state_dict())
    assert not any(k.startswith(("layers.3.", "layers.2.downsample", "head.", "temporal_")) for k in keys)
    assert any(k.startswith("layers.2.blocks") for k in keys)


def test_tubelet_models_report_their_temporal_stride():
    model = create_model("video_focalnet_tiny", tubelet_size=2, **TINY).eval()
    maps = model.forward_intermediates(_clip(), intermediates_only=True)
    assert all(m.shape[2] == T // 2 for m in maps) and model.feature_info[0]["temporal_reduction"] == 2


def test_stop_early_skips_later_stages_and_gives_the_same_maps():
    model = create_model("video_focalnet_tiny", **TINY).eval()
    calls = []
    model.layers[3].blocks[0].register_forward_pre_hook(lambda m, a: calls.append(3))
    model.layers[2].blocks[0].register_forward_pre_hook(lambda m, a: calls.append(2))
    x = _clip()
    with torch.no_grad():
        early = model.forward_intermediates(x, indices=[1, 2], stop_early=True, intermediates_only=True)
        assert calls == [2]  # stage 3 never ran
        late = model.forward_intermediates(x, indices=[1, 2], intermediates_only=True)
    assert calls == [2, 2, 3]
    for a, b in zip(early, late):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_pretrained_features_only_loads_the_weights_first(tmp_path):
    from videofocalnet.hub import create_model as hub_create_model
    from videofocalnet.weights import save_weights

    torch.manual_seed(3)
    source = create_model("video_focalnet_tiny", **TINY)
    path = save_weights(tmp_path / "w.safetensors", source, model_name="video_focalnet_tiny", model_kwargs=TINY)
    feats = hub_create_model("video_focalnet_tiny", pretrained=str(path), features_only=True, out_indices=1)
    assert feats.feature_info.channels() == [64]
    with torch.no_grad():
        want = source.eval().forward_intermediates(_clip(), indices=1, intermediates_only=True)
        torch.testing.assert_close(feats.eval()(_clip())[0], want[0], rtol=0, atol=0)


def test_take_indices_follow_timm_and_refuse_what_does_not_exist():
    assert feature_take_indices(4, None) == ([0, 1, 2, 3], 3)
    assert feature_take_indices(4, 2) == ([2, 3], 3)
    assert feature_take_indices(4, [0, -1]) == ([0, 3], 3)
    for bad in (0, 5, [4], [-5], []):
        with pytest.raises(ValueError):
            feature_take_indices(4, bad)
    model = create_model("video_focalnet_tiny", **TINY)
    with pytest.raises(ValueError, match="output_fmt must be one of NCTHW, NTHWC"):
        model.forward_intermediates(_clip(), output_fmt="NCHW")


@pytest.mark.parametrize("name", ["video_focalnet_tiny", "video_focalnet_xs_factorized", "video_focalnet_xs_divided"])
def test_layer_ids_number_stem_blocks_and_head(name):
    model = create_model(name, **{**TINY, "depths": [1, 2, 1, 1]})
    ids = model.param_layer_ids()
    assert set(ids) == {n for n, _ in model.named_parameters()}
    temporal = len(getattr(model, "temporal_blocks", ()))
    top = 5 + temporal + 1
    assert ids["patch_embed.proj.weight"] == 0 and ids["head.weight"] == top and max(ids.values()) == top
    assert ids["layers.1.blocks.0.norm1.weight"] == 2 and ids["layers.1.blocks.1.norm1.weight"] == 3
    assert ids["layers.1.downsample.proj.weight"] == ids["layers.2.blocks.0.norm1.weight"] == 4
    assert sorted(set(ids.values())) == list(range(top + 1))
