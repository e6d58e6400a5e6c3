"""Weights by name and in the Hub's layout: ``create_model(pretrained=...)`` from the zoo cache and from a URL,
``save_pretrained`` / ``from_pretrained`` through a folder and through a Hub endpoint on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "inference"))
from inference_helpers import LABELS, TINY_KWARGS, moving_shapes, save_tiny_checkpoint, write_h264  # noqa: E402

from http_helpers import FileServer  # noqa: E402
from videofocalnet.hub import create_model, from_pretrained, read_checkpoint  # noqa: E402
from videofocalnet.inference import VideoClassifier  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("VIDEOFOCALNET_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "checkpoints"


def test_save_pretrained_folder_round_trip(tmp_path: Path) -> None:
    video = write_h264(tmp_path / "clip.mp4", moving_shapes(20, 64, 80, seed=1))
    classifier = VideoClassifier.from_checkpoint(save_tiny_checkpoint(tmp_path / "tiny.safetensors"))
    folder = classifier.save_pretrained(tmp_path / "hub_folder")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_name"] == "video_focalnet_tiny" and config["labels"] == LABELS
    assert config["preprocess"] == classifier.preprocess.to_dict()
    again = VideoClassifier.from_pretrained(folder)
    assert again.labels == LABELS and again.preprocess == classifier.preprocess
    torch.testing.assert_close(again.predict(video).probs, classifier.predict(video).probs, atol=0, rtol=0)
    model, cfg = from_pretrained(folder)
    assert cfg["labels"] == LABELS and sum(p.numel() for p in model.parameters()) > 0


def test_from_pretrained_through_a_hub_endpoint(tmp_path: Path) -> None:
    classifier = VideoClassifier.from_checkpoint(save_tiny_checkpoint(tmp_path / "tiny.safetensors"))
    folder = classifier.save_pretrained(tmp_path / "hub_folder")
    files = {f"someone/tiny-videofocalnet/{p.name}": p.read_bytes() for p in folder.iterdir()}
    code = (
        "import json\nfrom videofocalnet.hub import from_pretrained\nfrom videofocalnet.inference import "
        "VideoClassifier\nmodel, config = from_pretrained('someone/tiny-videofocalnet')\n"
        "clf = VideoClassifier.from_checkpoint('hf-hub:someone/tiny-videofocalnet')\n"
        "print(json.dumps({'labels': config['labels'], 'same': clf.labels == config['labels']}))\n"
    )
    with FileServer(files, hub=True) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
        env.update(
            PYTHONPATH=str(SRC), HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=hub.base, HF_HUB_DISABLE_TELEMETRY="1"
        )
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"labels": LABELS, "same": True}


def test_create_model_pretrained_from_a_url_with_sha256(tmp_path: Path, cache: Path) -> None:
    path = save_tiny_checkpoint(tmp_path / "tiny.safetensors", seed=4)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with FileServer({"/tiny.safetensors": data}) as server:
        model = create_model("video_focalnet_tiny", pretrained=f"{server.url('/tiny.safetensors')}#sha256={digest}")
        gets = [p for m, p in server.requests if m == "GET"]
        create_model("video_focalnet_tiny", pretrained=f"{server.url('/tiny.safetensors')}#sha256={digest}")
        assert [p for m, p in server.requests if m == "GET"] == gets == ["/tiny.safetensors"]  # cached once
    expected = read_checkpoint(path).state_dict
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
    assert model.num_classes == TINY_KWARGS["num_classes"]  # the checkpoint's config, not the factory default
    assert (cache / "tiny.safetensors").read_bytes() == data


def test_zoo_name_from_the_cache_offline(tmp_path: Path, cache: Path, official_dir: Path, capsys) -> None:
    """What the README says to do offline: put the released file in the cache under the zoo's file name."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from official_checkpoint import official_config, save_released
    from videofocalnet.cli import main
    from videofocalnet.data.label_sets import class_names
    from videofocalnet.models import create_model as create_registered

    pytest.importorskip("yacs", reason="yacs (test extra) writes the official config object")
    cfg = official_config(
        official_dir / "configs/kinetics400/video-focalnet_tiny.yaml",
        ["DATA.NUM_FRAMES", "4", "DATA.IMG_SIZE", "64", "DATA.INPUT_SIZE", "64"],
    )
    source = create_registered("video_focalnet_tiny", num_classes=400, num_frames=4, img_size=64).eval()
    cache.mkdir(parents=True)
    save_released(cache / "video-focalnet_tiny_k400.pth", source, cfg)

    x = torch.randn(1, 4, 3, 64, 64)
    for pretrained in ("k400", True, "video_focalnet_tiny.k400"):
        model = create_model("video_focalnet_tiny", pretrained=pretrained).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(x), source(x), atol=0, rtol=0)
    video = write_h264(tmp_path / "clip.mp4", moving_shapes(16, 64, 64, seed=2))
    assert main(["predict", str(video), "--checkpoint", "video_focalnet_tiny.k400", "--topk", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 2 and all(line.split("  ", 2)[-1].strip() in class_names("kinetics400") for line in lines)
    assert main(["predict", str(video), "--checkpoint", "video_focalnet_tiny.k4OO"]) == 2
    assert "did you mean video_focalnet_tiny.k400" in capsys.readouterr().err


def test_torch_hub_load_from_a_checkout(tmp_path: Path) -> None:
    path = save_tiny_checkpoint(tmp_path / "tiny.safetensors", seed=6)
    repo = Path(__file__).resolve().parents[1]
    model = torch.hub.load(str(repo), "video_focalnet_tiny", source="local", pretrained=str(path), trust_repo=True)
    expected = read_checkpoint(path).state_dict
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())
