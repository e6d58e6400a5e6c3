"""``videofocalnet flops`` and ``videofocalnet convert-weights`` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from videofocalnet.hub import load_model_checkpoint
from videofocalnet.models import VideoFocalNet


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "videofocalnet", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def _reference(reference_dir: Path):
    from safetensors.torch import load_file

    tensors = load_file(str(reference_dir / "small_t4.safetensors"))
    kwargs = json.loads((reference_dir / "small_t4.json").read_text())["constructor_kwargs"]
    return tensors, kwargs


def test_flops_json_tiny() -> None:
    proc = _cli("flops", "--model", "video_focalnet_tiny", "--json")
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    report = json.loads(line)
    assert report["params"] == 49_553_272
    assert abs(report["gmacs"] - 63.14) / 63.14 < 0.005
    assert report["gflops"] == pytest.approx(2 * report["gmacs"])


def test_flops_table_lists_published_models() -> None:
    proc = _cli("flops", "--num-classes", "174")
    assert proc.returncode == 0, proc.stderr
    for name, params in (
        ("video_focalnet_tiny", "49,379,478"),
        ("video_focalnet_small", "88,561,374"),
        ("video_focalnet_base", "157,157,566"),
    ):
        (row,) = [line for line in proc.stdout.splitlines() if line.startswith(name)]
        assert params in row
    bad = _cli("flops", "--model", "video_focalnet_tinny")
    assert bad.returncode == 2 and "unknown model" in bad.stderr


def test_convert_released_checkpoint(tmp_path: Path, reference_dir: Path) -> None:
    tensors, kwargs = _reference(reference_dir)
    x, y = tensors.pop("__input__"), tensors.pop("__output__")
    src = tmp_path / "video-focalnet_small.pth"
    torch.save({"model": tensors, "epoch": 119}, src)
    out = tmp_path / "converted.safetensors"
    proc = _cli("convert-weights", str(src), str(out))
    assert proc.returncode == 0, proc.stderr
    assert "video-focalnet" in proc.stdout
    model, config = load_model_checkpoint(out)
    assert config["model_kwargs"]["embed_dim"] == 16 and config["model_kwargs"]["num_classes"] == 5
    assert config["source"]["format"] == "video-focalnet"
    assert json.loads(out.with_suffix(".json").read_text()) == config
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), y, atol=1e-5, rtol=0)


def test_convert_timm_imagenet_checkpoint_with_tubelet(tmp_path: Path, reference_dir: Path) -> None:
    tensors, _kwargs = _reference(reference_dir)
    timm = {}
    for key, value in tensors.items():
        if "_temporal" in key or key.startswith("__") or key.startswith("head."):
            continue
        key = key.replace("patch_embed.", "stem.")
        if ".downsample." in key:
            stage = int(key.split(".")[1])
            key = key.replace(f"layers.{stage}.", f"layers.{stage + 1}.", 1)
        if key.endswith(("modulation.f.weight", "modulation.proj.weight", "fc1.weight", "fc2.weight")):
            value = value[:, :, None, None]
        timm[key] = value
    timm["head.fc.weight"], timm["head.fc.bias"] = torch.zeros(1000, 128), torch.zeros(1000)
    src = tmp_path / "pytorch_model.bin"
    torch.save(timm, src)
    out = tmp_path / "init.safetensors"
    proc = _cli("convert-weights", str(src), str(out), "--num-classes", "174", "--tubelet", "2")
    assert proc.returncode == 0, proc.stderr
    assert "focalnet-timm" in proc.stdout and "inflated" in proc.stdout
    model, config = load_model_checkpoint(out)
    assert config["model_kwargs"]["tubelet_size"] == 2 and model.head.out_features == 174
    torch.testing.assert_close(model.patch_embed.proj.weight.sum(2), tensors["patch_embed.proj.weight"])


class _Exploit:
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_convert_refuses_pickled_objects(tmp_path: Path) -> None:
    model = VideoFocalNet(embed_dim=8, depths=(1, 1, 1, 1), num_classes=3, num_frames=2)
    marker = tmp_path / "PWNED"
    exploit = _Exploit()
    exploit.marker = str(marker)
    src = tmp_path / "ckpt_epoch_9.pth"
    torch.save({"model": model.state_dict(), "config": exploit}, src)
    proc = _cli("convert-weights", str(src), str(tmp_path / "out.safetensors"))
    assert proc.returncode == 2
    assert "posix.system" in proc.stderr and "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()
