"""The model against the official reference: fixtures, key lists, and the behaviour the official code lacks."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from videofocalnet.models import VideoFocalNet, create_model, list_models

PUBLISHED = ["video_focalnet_tiny", "video_focalnet_small", "video_focalnet_base"]
TINY = dict(embed_dim=8, depths=(1, 1, 2, 1), img_size=64, num_frames=4, num_classes=7)


def tiny_model(name: str, **overrides) -> torch.nn.Module:
    return create_model(name, **{**TINY, **overrides})


def clip(batch: int = 2, frames: int = 4, size: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def load_reference(reference_dir, name: str) -> tuple[VideoFocalNet, torch.Tensor, torch.Tensor]:
    cfg = json.loads((reference_dir / f"{name}.json").read_text())
    tensors = load_file(str(reference_dir / f"{name}.safetensors"))
    x, expected = tensors.pop("__input__"), tensors.pop("__output__")
    model = VideoFocalNet(**cfg["constructor_kwargs"])
    model.load_state_dict(tensors, strict=True)
    return model.eval(), x, expected


# --------------------------------------------------------------------------------------------- golden outputs
@pytest.mark.parametrize("name", ["small_t4", "small_tubelet2"])
def test_reference_fixture_logits(reference_dir, name):
    model, x, expected = load_reference(reference_dir, name)
    with torch.no_grad():
        out = model(x)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["small_t4", "small_tubelet2"])
def test_reference_fixture_bf16_keeps_top1(reference_dir, name):
    model, x, expected = load_reference(reference_dir, name)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x).float()
    assert torch.equal(out.argmax(-1), expected.argmax(-1))


@pytest.mark.parametrize(
    "tsv, name, overrides",
    [
        ("official_keys_tiny.tsv", "video_focalnet_tiny", {}),
        ("official_keys_small.tsv", "video_focalnet_small", {}),
        ("official_keys_base.tsv", "video_focalnet_base", {}),
        ("official_keys_tiny_tubelet2.tsv", "video_focalnet_tiny", {"tubelet_size": 2}),
    ],
)
def test_state_dict_keys_and_shapes_match_official(reference_dir, tsv, name, overrides):
    with torch.device("meta"):
        model = create_model(name, **overrides)
    ours = [(k, "x".join(map(str, v.shape))) for k, v in model.state_dict().items()]
    official = [tuple(line.split("\t")) for line in (reference_dir / tsv).read_text().splitlines() if line]
    assert ours == official


@pytest.mark.parametrize(
    "name, classes, params",
    [
        ("video_focalnet_tiny", 400, 49_553_272),
        ("video_focalnet_tiny", 174, 49_379_478),
        ("video_focalnet_tiny", 600, 49_707_072),
        ("video_focalnet_small", 400, 88_735_168),
        ("video_focalnet_base", 400, 157_389_216),
        ("video_focalnet_base", 174, 157_157_566),
        ("video_focalnet_base", 600, 157_594_216),
    ],
)
def test_published_parameter_counts(name, classes, params):
    with torch.device("meta"):
        model = create_model(name, num_classes=classes)
    assert sum(p.numel() for p in model.parameters()) == params


# --------------------------------------------------------------------------------------------- grid over registry
@pytest.fixture(params=list_models())
def model_name(request) -> str:
    return request.param


def test_registry_has_published_models():
    assert set(PUBLISHED) <= set(list_models())
    with pytest.raises(ValueError, match="did you mean"):
        create_model("video_focalnet_tiy")


def test_grid_shapes_finite_deterministic(model_name):
    torch.manual_seed(0)
    model = tiny_model(model_name).eval()
    x = clip()
    with torch.no_grad():
        out1, out2 = model(x), model(x)
        feats = model.forward_features(x)
    assert out1.shape == (2, TINY["num_classes"])
    assert feats.shape == (2, model.num_features)
    assert torch.isfinite(out1).all()
    assert torch.equal(out1, out2)


def test_grid_every_parameter_gets_gradient(model_name):
    torch.manual_seed(0)
    model = tiny_model(model_name, drop_path_rate=0.0).train()
    model(clip()).logsumexp(-1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert not zero, f"parameters with an all-zero gradient: {zero}"


def test_grid_gradient_checkpointing_changes_nothing(model_name):
    torch.manual_seed(0)
    model = tiny_model(model_name, drop_path_rate=0.3).train()
    x = clip()

    def run(checkpointing: bool):
        model.set_grad_checkpointing(checkpointing)
        model.zero_grad(set_to_none=True)
        torch.manual_seed(123)  # same drop-path draws in both runs
        out = model(x)
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    out_plain, grads_plain = run(False)
    out_ckpt, grads_ckpt = run(True)
    assert torch.equal(out_plain, out_ckpt)
    for name, grad in grads_plain.items():
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=0, atol=0, msg=name)


def test_use_checkpoint_constructor_flag_reaches_stages():
    model = tiny_model("video_focalnet_tiny", use_checkpoint=True)
    assert all(stage.grad_checkpointing for stage in model.layers)


# --------------------------------------------------------------------------------------------- run-time frame count
def test_frame_count_comes_from_input(reference_dir):
    model8, _, _ = load_reference(reference_dir, "small_t4")  # built with num_frames=4
    cfg = json.loads((reference_dir / "small_t4.json").read_text())["constructor_kwargs"]
    model16 = VideoFocalNet(**{**cfg, "num_frames": 16}).eval()
    model16.load_state_dict(model8.state_dict())
    x = clip(batch=2, frames=16, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(model8(x), model16(x), rtol=0, atol=0)
        # and videos in a batch never mix: each row equals the clip run alone
        torch.testing.assert_close(model8(x)[1:], model8(x[1:]), rtol=1e-5, atol=1e-6)


def test_temporal_order_matters_and_frames_do_not_mix_across_videos():
    torch.manual_seed(0)
    model = tiny_model("video_focalnet_tiny", drop_path_rate=0.0).eval()
    for p in model.parameters():  # make the (tiny at init) temporal branch visible
        torch.nn.init.normal_(p, std=0.3)
    x = clip(batch=1, frames=4)
    with torch.no_grad():
        assert not torch.allclose(model(x), model(x.flip(1)), atol=1e-4)


@pytest.mark.parametrize("size", [(32, 32), (80, 80), (64, 96), (33, 47)])
def test_spatial_sizes_floor_like_official(size):
    model = tiny_model("video_focalnet_tiny").eval()
    x = torch.randn(1, 4, 3, *size)
    with torch.no_grad():
        tokens = model.forward_tokens(x)
    h, w = size[0] // 4, size[1] // 4
    for _ in range(3):
        h, w = h // 2, w // 2
    assert tokens.shape == (1, 4, h, w, model.num_features)


# --------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "shape, match",
    [
        ((4, 3, 64, 64), "shape"),
        ((1, 4, 4, 64, 64), "channels"),
        ((1, 3, 4, 64, 64), "channels"),
        ((1, 4, 3, 16, 16), "32x32"),
    ],
)
def test_bad_input_shapes_raise(shape, match):
    model = tiny_model("video_focalnet_tiny")
    with pytest.raises(ValueError, match=match):
        model(torch.randn(*shape))


def test_frames_not_divisible_by_tubelet_raise():
    model = tiny_model("video_focalnet_tiny", tubelet_size=2)
    with pytest.raises(ValueError, match="tubelet_size"):
        model(torch.randn(1, 5, 3, 64, 64))


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match="odd"):
        tiny_model("video_focalnet_tiny", focal_windows=(4, 3, 3, 3))
    with pytest.raises(ValueError, match="tubelet"):
        tiny_model("video_focalnet_tiny", tubelet_size=2, use_conv_embed=True)
    with pytest.raises(ValueError, match="one entry per stage"):
        tiny_model("video_focalnet_tiny", focal_levels=(2, 2))


# --------------------------------------------------------------------------------------------- the rest of the API
def test_no_activations_stored_on_modules():
    model = tiny_model("video_focalnet_tiny").train()
    before = {name: set(vars(m)) for name, m in model.named_modules()}
    model(clip()).sum().backward()
    after = {name: set(vars(m)) for name, m in model.named_modules()}
    assert before == after


def test_forward_with_modulators_returns_every_block():
    model = tiny_model("video_focalnet_tiny").eval()
    x = clip(batch=1)
    with torch.no_grad():
        logits, mods = model.forward_with_modulators(x)
        torch.testing.assert_close(logits, model(x))
    assert len(mods) == sum(TINY["depths"])
    assert mods[0]["spatial"].shape == (1, 4, 16, 16, 8)
    assert mods[-1]["temporal"].shape == (1, 4, 2, 2, 64)


def test_reset_classifier():
    model = tiny_model("video_focalnet_tiny")
    model.reset_classifier(3)
    assert model(clip()).shape == (2, 3)
    model.reset_classifier(0)
    assert model(clip()).shape == (2, model.num_features)


@pytest.mark.parametrize("mode", ["frame", "video"])
def test_drop_path_modes(mode):
    torch.manual_seed(0)
    model = tiny_model("video_focalnet_tiny", drop_path_rate=0.9, drop_path_mode=mode).train()
    block = model.layers[2].blocks[1]
    x = torch.ones(64, 4, 2, 2, 8)
    torch.manual_seed(1)
    y = block.drop_path(x)
    kept = (y != 0).flatten(2).all(-1)  # (B, T): whole (video, frame) slices are either kept or dropped
    assert ((y == 0) | (y > 1)).all()
    if mode == "video":
        assert (kept == kept[:, :1]).all()  # every frame of a video shares the draw
    else:
        assert not (kept == kept[:, :1]).all()  # frames are dropped independently, as in the official model


def test_postln_and_layerscale_variants_run():
    for kwargs in (
        {"use_postln": True},
        {"use_layerscale": True},
        {"use_postln_in_modulation": True},
        {"normalize_modulator": True},
        {"use_conv_embed": True},
        {"patch_norm": False},
    ):
        model = tiny_model("video_focalnet_tiny", **kwargs).eval()
        assert torch.isfinite(model(clip())).all(), kwargs
    assert "layers.0.blocks.0.gamma_1" in tiny_model("video_focalnet_tiny", use_layerscale=True).state_dict()
    assert (
        "layers.0.blocks.0.modulation.ln.weight"
        in tiny_model("video_focalnet_tiny", use_postln_in_modulation=True).state_dict()
    )


def test_fused_inference_path_equals_autograd_path(reference_dir):
    """Optimised for CPU inference, no_grad fuses conv/linear with GELU (oneDNN post-ops); with autograd it does not."""
    from videofocalnet.models.cpu import optimize_for_inference

    model, x, expected = load_reference(reference_dir, "small_t4")
    optimize_for_inference(model)
    with torch.no_grad():
        fused = model(x)
    unfused = model(x).detach()
    torch.testing.assert_close(fused, unfused, rtol=0, atol=1e-5)
    torch.testing.assert_close(unfused, expected, rtol=0, atol=1e-5)


def test_fan_in_init_makes_the_temporal_branch_visible():
    """At the official init frame order barely moves the logits; the fan-in init (training from scratch) fixes it."""
    x = clip(batch=2, frames=4, seed=5)
    gaps = {}
    for mode in ("official", "fan_in"):
        torch.manual_seed(0)
        model = tiny_model("video_focalnet_tiny", init_mode=mode).eval()
        with torch.no_grad():
            gaps[mode] = (model(x) - model(x.flip(1))).abs().max().item()
    assert gaps["fan_in"] > 100 * gaps["official"]
    with pytest.raises(ValueError, match="init_mode"):
        tiny_model("video_focalnet_tiny", init_mode="xavier")
