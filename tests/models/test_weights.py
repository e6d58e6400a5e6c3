"""Weight loading: released Video-FocalNet .pth, ImageNet FocalNet (Microsoft and timm layouts), our safetensors.

Synthetic ImageNet checkpoints are cut from the reference fixture's non-trivial weights (small_t4), so a tensor that
lands in the wrong place changes numbers; one test runs the real FocalNet-T key set on the meta device.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from videofocalnet.models import VideoFocalNet, create_model
from videofocalnet.models.weights import (
    CheckpointMismatchError,
    UnsafeCheckpointError,
    checkpoint_filter_fn,
    load_model_checkpoint,
    load_pretrained,
    load_state_dict_file,
    read_checkpoint_config,
    save_model_checkpoint,
)

TEMPORAL = re.compile(r"_temporal")


def _reference(reference_dir: Path, name: str):
    from safetensors.torch import load_file

    tensors = load_file(str(reference_dir / f"{name}.safetensors"))
    kwargs = json.loads((reference_dir / f"{name}.json").read_text())["constructor_kwargs"]
    x, y = tensors.pop("__input__"), tensors.pop("__output__")
    return tensors, kwargs, x, y


def _microsoft_from(video_sd: dict[str, torch.Tensor], num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """An ImageNet FocalNet (Microsoft layout) state dict: the video keys minus the temporal branch, 1000-way head."""
    sd = {k: v.clone() for k, v in video_sd.items() if not TEMPORAL.search(k)}
    dim = sd["head.weight"].shape[1]
    g = torch.Generator().manual_seed(3)
    sd["head.weight"] = torch.randn(num_classes, dim, generator=g)
    sd["head.bias"] = torch.randn(num_classes, generator=g)
    return sd


def _timm_from_microsoft(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Written independently of the loader, from timm's focalnet.py: stem.*, downsample moved to the start of the next
    stage, f / proj / mlp as 1x1 convs (4-D weights), head.fc.*."""
    out = {}
    for key, value in sd.items():
        new = key.replace("patch_embed.", "stem.")
        m = re.match(r"layers\.(\d+)\.downsample\.(.*)", key)
        if m:
            new = f"layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}"
        if re.search(r"(modulation\.(f|proj)|mlp\.fc[12])\.weight$", key):
            value = value[:, :, None, None]  # Linear (O, I) -> 1x1 conv (O, I, 1, 1)
        new = re.sub(r"^head\.", "head.fc.", new)
        out[new] = value
    return out


# ------------------------------------------------------------------------------------------- unsafe pickles
class _Exploit:
    """A yacs-CfgNode-like config object whose unpickling would write a marker file."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_object_is_refused_without_running_code(tmp_path: Path, reference_dir: Path) -> None:
    sd, _kwargs, _x, _y = _reference(reference_dir, "small_t4")
    marker = tmp_path / "PWNED"
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "released.pth"
    torch.save({"model": sd, "config": exploit, "epoch": 119}, path)

    with pytest.raises(UnsafeCheckpointError) as info:
        load_state_dict_file(path)
    message = str(info.value)
    assert str(path) in message and "weights_only=False" in message and "convert-weights" in message
    with pytest.raises(UnsafeCheckpointError):
        load_pretrained(VideoFocalNet(**_kwargs), path)
    assert not marker.exists()


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="notes.pth"):
        load_state_dict_file(path)


# ------------------------------------------------------------------------------------------- released format
@pytest.mark.parametrize("name", ["small_t4", "small_tubelet2"])
def test_released_pth_loads_strictly_and_reproduces_reference(tmp_path: Path, reference_dir: Path, name: str) -> None:
    sd, kwargs, x, y = _reference(reference_dir, name)
    wrapped, bare = tmp_path / "wrapped.pth", tmp_path / "bare.pth"
    torch.save({"model": sd, "epoch": 119, "max_accuracy": 79.8}, wrapped)
    torch.save(sd, bare)
    for path in (wrapped, bare):
        model = VideoFocalNet(**kwargs).eval()
        report = load_pretrained(model, path)
        assert report.format == "video-focalnet" and report.loaded == len(sd)
        assert not (report.missing or report.unexpected or report.reinitialised or report.inflated)
        with torch.no_grad():
            torch.testing.assert_close(model(x), y, atol=1e-5, rtol=0)


def test_key_mismatch_is_reported_readably(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = _reference(reference_dir, "small_t4")
    sd = dict(sd)
    del sd["layers.2.blocks.1.mlp.fc2.bias"]
    sd["layers.2.blocks.1.mlp.fc3.bias"] = torch.zeros(3)
    sd["norm.weight"] = torch.ones(7)
    with pytest.raises(CheckpointMismatchError) as info:
        load_pretrained(VideoFocalNet(**kwargs), sd)
    message = str(info.value)
    assert "layers.2.blocks.1.mlp.fc2.bias" in message  # missing
    assert "layers.2.blocks.1.mlp.fc3.bias" in message  # unexpected
    assert "norm.weight: checkpoint (7,) vs model (128,)" in message


def test_head_with_other_class_count_is_reinitialised(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = _reference(reference_dir, "small_t4")
    model = VideoFocalNet(**{**kwargs, "num_classes": 300})
    with torch.no_grad():
        model.head.weight.fill_(5.0)
    with pytest.warns(UserWarning, match="head has 5 classes, the model 300"):
        report = load_pretrained(model, sd)
    assert report.reinitialised == ["head.weight", "head.bias"]
    state = model.state_dict()
    for key, value in sd.items():
        if not key.startswith("head."):
            assert torch.equal(state[key], value), key
    assert abs(model.head.weight.std().item() - 0.02) < 0.002  # trunc-normal(0.02), as the official init
    assert torch.count_nonzero(model.head.bias) == 0
    with pytest.raises(CheckpointMismatchError, match="strict_head"):
        load_pretrained(VideoFocalNet(**{**kwargs, "num_classes": 300}), sd, strict_head=True)


# ------------------------------------------------------------------------------------------- ImageNet FocalNets
def _assert_imagenet_load(model: VideoFocalNet, microsoft: dict[str, torch.Tensor], report) -> None:
    state = model.state_dict()
    for key, value in microsoft.items():
        if not key.startswith("head."):
            assert torch.equal(state[key], value), key
    temporal = [k for k in state if TEMPORAL.search(k)]
    assert sorted(report.reinitialised) == sorted(temporal + ["head.weight", "head.bias"])
    for name, module in model.named_modules():
        if name.endswith("f_temporal"):
            assert abs(module.weight.std().item() - 0.02) < 0.004, name  # trunc-normal(0.02)
            assert torch.count_nonzero(module.bias) == 0, name
        elif re.search(r"(h_temporal|focal_layers_temporal\.\d+\.0)$", name):
            bound = 1 / math.sqrt(module.weight[0].numel())  # kaiming_uniform(a=sqrt(5)), PyTorch's default
            w = module.weight
            assert w.abs().max() <= bound and w.std() > 0.8 * bound / math.sqrt(3), name
    assert model.head.weight.shape == (model.num_classes, model.num_features)
    assert abs(model.head.weight.std().item() - 0.02) < 0.004 and torch.count_nonzero(model.head.bias) == 0


def _poison(model: VideoFocalNet) -> None:
    """Fill everything with a sentinel, so a tensor the loader forgets to set stays visible."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)


def test_microsoft_layout_imagenet_checkpoint(tmp_path: Path, reference_dir: Path) -> None:
    sd, kwargs, _x, _y = _reference(reference_dir, "small_t4")
    microsoft = _microsoft_from(sd)
    path = tmp_path / "focalnet_tiny_srf.pth"
    torch.save({"model": microsoft}, path)
    model = VideoFocalNet(**kwargs)
    _poison(model)
    report = load_pretrained(model, path)
    assert report.format == "focalnet-microsoft" and not report.inflated
    assert not any((p == 7.0).all() for p in model.parameters())
    _assert_imagenet_load(model, microsoft, report)


def test_timm_layout_imagenet_checkpoint_matches_microsoft(reference_dir: Path) -> None:
    sd, kwargs, x, _y = _reference(reference_dir, "small_t4")
    microsoft = _microsoft_from(sd)
    timm = _timm_from_microsoft(microsoft)
    assert "stem.proj.weight" in timm and "layers.1.downsample.proj.weight" in timm and "head.fc.weight" in timm

    converted = checkpoint_filter_fn(timm, None)
    assert converted.keys() == microsoft.keys()
    for key in microsoft:
        assert torch.equal(converted[key], microsoft[key]), key

    models = []
    for state in (microsoft, timm):
        model = VideoFocalNet(**kwargs).eval()
        _poison(model)
        torch.manual_seed(1)  # same temporal-branch and head draws for both
        report = load_pretrained(model, state)
        _assert_imagenet_load(model, microsoft, report)
        models.append(model)
    assert report.format == "focalnet-timm"
    with torch.no_grad():
        torch.testing.assert_close(models[0](x), models[1](x), atol=0, rtol=0)


def test_timm_unknown_key_raises(reference_dir: Path) -> None:
    sd, _kwargs, _x, _y = _reference(reference_dir, "small_t4")
    timm = _timm_from_microsoft(_microsoft_from(sd))
    timm["layers.2.blocks.0.attn.qkv.weight"] = torch.zeros(3, 3)
    with pytest.raises(CheckpointMismatchError, match=r"layers\.2\.blocks\.0\.attn\.qkv\.weight"):
        checkpoint_filter_fn(timm, None)


def test_tubelet_stem_inflation(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = _reference(reference_dir, "small_t4")
    microsoft = _microsoft_from(sd)
    model = VideoFocalNet(**{**kwargs, "tubelet_size": 2}).eval()
    report = load_pretrained(model, microsoft)
    assert report.inflated == ["patch_embed.proj.weight"]
    assert model.patch_embed.proj.weight.shape == (16, 3, 2, 4, 4)

    frame = torch.randn(1, 3, 64, 64)
    clip = frame.unsqueeze(1).repeat(1, 2, 1, 1, 1)  # (1, 3, H, W) -> (1, 2, 3, H, W): two identical frames
    with torch.no_grad():
        tokens = model.patch_embed(clip)  # (1, 1, 16, 16, C)
        ref = F.conv2d(frame, microsoft["patch_embed.proj.weight"], microsoft["patch_embed.proj.bias"], stride=4)
        ref = F.layer_norm(ref.permute(0, 2, 3, 1), (16,), microsoft["patch_embed.norm.weight"],
                           microsoft["patch_embed.norm.bias"])  # (1, C, 16, 16) -> (1, 16, 16, C)
    torch.testing.assert_close(tokens[:, 0], ref, atol=1e-5, rtol=1e-5)


def _meta_state(tsv: Path, *, drop_temporal: bool) -> dict[str, torch.Tensor]:
    state = {}
    for line in tsv.read_text().splitlines():
        key, shape = line.split("\t")
        if drop_temporal and TEMPORAL.search(key):
            continue
        state[key] = torch.empty(tuple(int(s) for s in shape.split("x")), device="meta")
    return state


@pytest.mark.parametrize("layout", ["microsoft", "timm"])
def test_real_focalnet_tiny_key_set_on_meta(reference_dir: Path, layout: str) -> None:
    """FocalNet-T's real key set (official T keys minus the temporal ones, 1000-way head) into T and T-tubelet-2."""
    microsoft = _meta_state(reference_dir / "official_keys_tiny.tsv", drop_temporal=True)
    microsoft["head.weight"] = torch.empty(1000, 768, device="meta")
    microsoft["head.bias"] = torch.empty(1000, device="meta")
    state = microsoft if layout == "microsoft" else _timm_from_microsoft(microsoft)
    for tubelet in (1, 2):
        with torch.device("meta"):
            model = create_model("video_focalnet_tiny", tubelet_size=tubelet)
        report = load_pretrained(model, state)
        assert report.loaded == len(microsoft) - 2
        assert len(report.reinitialised) == 2 + sum(1 for k in model.state_dict() if TEMPORAL.search(k))
        assert report.inflated == (["patch_embed.proj.weight"] if tubelet == 2 else [])
        assert "focalnet-" + layout == report.format and "re-initialised" in str(report)


# ------------------------------------------------------------------------------------------- our format
def test_safetensors_roundtrip_with_embedded_config(tmp_path: Path, reference_dir: Path) -> None:
    sd, kwargs, x, y = _reference(reference_dir, "small_t4")
    model = VideoFocalNet(**kwargs)
    load_pretrained(model, sd)
    arch = {k: v for k, v in kwargs.items() if k != "img_size"}
    extra = {"preprocessing": {"num_frames": 4, "input_size": 64, "mean": [123.675, 116.28, 103.53]},
             "labels": ["a", "b", "c", "d", "e"]}
    path = save_model_checkpoint(tmp_path / "ckpt" / "model.safetensors", model,
                                 model_name="video_focalnet_tiny", model_kwargs=arch, extra=extra)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.safetensors"]  # no temp files

    config = read_checkpoint_config(path)
    assert config == json.loads((tmp_path / "ckpt" / "model.json").read_text())
    assert config["format_version"] == 1 and config["model_name"] == "video_focalnet_tiny"
    assert config["labels"] == extra["labels"] and config["model_kwargs"]["depths"] == [1, 1, 2, 1]

    rebuilt, config2 = load_model_checkpoint(path)
    assert config2 == config
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), y, atol=1e-5, rtol=0)

    fresh = VideoFocalNet(**kwargs).eval()
    report = load_pretrained(fresh, path)
    assert report.format == "videofocalnet"
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), y, atol=1e-5, rtol=0)

    with pytest.raises(ValueError, match="model_name"):
        save_model_checkpoint(tmp_path / "x.safetensors", model, model_name="video_focalnet_tiny",
                              model_kwargs=arch, extra={"model_name": "other"})


def test_load_model_checkpoint_rejects_foreign_safetensors(tmp_path: Path, reference_dir: Path) -> None:
    with pytest.raises(CheckpointMismatchError, match="metadata"):
        load_model_checkpoint(reference_dir / "small_t4.safetensors")
    with pytest.raises(FileNotFoundError):
        read_checkpoint_config(tmp_path / "absent.safetensors")
