"""Weight files: pickle safety, released .pth, ImageNet checkpoints from disk, our safetensors format, last.pt."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from videofocalnet.engine.checkpoint import save_training_state
from videofocalnet.hub import load_model_checkpoint, read_checkpoint_config
from videofocalnet.models import VideoFocalNet
from videofocalnet.models.convert import CheckpointMismatchError
from videofocalnet.weights import (
    UnsafeCheckpointError,
    load_pretrained,
    load_state_dict_file,
    load_weights,
    save_weights,
)
from weights_helpers import assert_imagenet_load, microsoft_from, poison, reference, timm_from_microsoft


# ------------------------------------------------------------------------------------------- unsafe pickles
class _Exploit:
    """A yacs-CfgNode-like config object whose unpickling would write a marker file."""

    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_object_is_refused_without_running_code(tmp_path: Path, reference_dir: Path) -> None:
    sd, _kwargs, _x, _y = reference(reference_dir, "small_t4")
    marker = tmp_path / "PWNED"
    exploit = _Exploit()
    exploit.marker = str(marker)
    path = tmp_path / "released.pth"
    torch.save({"model": sd, "config": exploit, "epoch": 119}, path)

    with pytest.raises(UnsafeCheckpointError) as info:
        load_state_dict_file(path)
    message = str(info.value)
    assert str(path) in message and "system" in message and "could execute code" in message
    assert "\n" not in message
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
    sd, kwargs, x, y = reference(reference_dir, name)
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


# ------------------------------------------------------------------------------------------- ImageNet FocalNets
def test_microsoft_layout_imagenet_checkpoint(tmp_path: Path, reference_dir: Path) -> None:
    sd, kwargs, _x, _y = reference(reference_dir, "small_t4")
    microsoft = microsoft_from(sd)
    path = tmp_path / "focalnet_tiny_srf.pth"
    torch.save({"model": microsoft}, path)
    model = VideoFocalNet(**kwargs)
    poison(model)
    report = load_pretrained(model, path)
    assert report.format == "focalnet-microsoft" and not report.inflated
    assert not any((p == 7.0).all() for p in model.parameters())
    assert_imagenet_load(model, microsoft, report)


def test_load_pretrained_takes_a_state_dict_in_any_layout(reference_dir: Path) -> None:
    sd, kwargs, _x, _y = reference(reference_dir, "small_t4")
    microsoft = microsoft_from(sd)
    timm = {f"module.{k}": v for k, v in timm_from_microsoft(microsoft).items()}  # DDP prefix, wrapped
    model = VideoFocalNet(**kwargs)
    report = load_pretrained(model, {"state_dict": timm})
    assert report.format == "focalnet-timm" and report.source == "a state dict"
    assert_imagenet_load(model, microsoft, report)
    with pytest.warns(UserWarning, match="head has 5 classes, the model 300"):
        load_pretrained(VideoFocalNet(**{**kwargs, "num_classes": 300}), sd)


# ------------------------------------------------------------------------------------------- our format
def test_safetensors_roundtrip_with_embedded_config(tmp_path: Path, reference_dir: Path) -> None:
    sd, kwargs, x, y = reference(reference_dir, "small_t4")
    model = VideoFocalNet(**kwargs)
    load_pretrained(model, sd)
    arch = {k: v for k, v in kwargs.items() if k != "img_size"}
    extra = {
        "preprocessing": {"num_frames": 4, "input_size": 64, "mean": [123.675, 116.28, 103.53]},
        "labels": ["a", "b", "c", "d", "e"],
    }
    path = save_weights(
        tmp_path / "ckpt" / "model.safetensors", model, model_name="video_focalnet_tiny", model_kwargs=arch, extra=extra
    )
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

    weights, meta = load_weights(path)
    assert meta == config and weights.keys() == model.state_dict().keys()

    with pytest.raises(ValueError, match="model_name"):
        save_weights(
            tmp_path / "x.safetensors",
            model,
            model_name="video_focalnet_tiny",
            model_kwargs=arch,
            extra={"model_name": "other"},
        )


def test_load_model_checkpoint_rejects_foreign_safetensors(tmp_path: Path, reference_dir: Path) -> None:
    with pytest.raises(CheckpointMismatchError, match="__input__"):  # not ours: its extra tensors do not fit a model
        load_model_checkpoint(reference_dir / "small_t4.safetensors")
    with pytest.raises(FileNotFoundError):
        read_checkpoint_config(tmp_path / "absent.safetensors")


def test_safetensors_weights_with_json_sidecar(tmp_path):
    lin = torch.nn.Linear(3, 2)
    shared = {"a.weight": lin.weight, "b.weight": lin.weight, "bias": lin.bias}  # shared storage is handled
    save_weights(
        tmp_path / "best.safetensors", shared, model_name="x", model_kwargs={}, extra={"metrics": {"top1": 50.0}}
    )
    weights, meta = load_weights(tmp_path / "best.safetensors")
    assert torch.equal(weights["a.weight"], lin.weight) and torch.equal(weights["b.weight"], lin.weight)
    assert meta["metrics"]["top1"] == 50.0
    assert json.loads((tmp_path / "best.json").read_text())["model_name"] == "x"


def test_training_state_weights_keep_the_ema_apart(tmp_path: Path) -> None:
    lin = torch.nn.Linear(3, 2)
    ema = {k: v + 1 for k, v in lin.state_dict().items()}
    save_training_state(
        tmp_path / "last.pt",
        {
            "model": lin.state_dict(),
            "ema": ema,
            "epoch": 3,
            "optimizer": {"state": {}},
            "config": {"MODEL": {"TYPE": "x"}},
        },
    )
    weights, meta = load_weights(tmp_path / "last.pt")
    assert torch.equal(weights["weight"], lin.weight) and torch.equal(meta["ema_state_dict"]["bias"], lin.bias + 1)
    assert meta["epoch"] == 3 and meta["config"] == {"MODEL": {"TYPE": "x"}} and "optimizer" not in meta
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "absent.pt")
