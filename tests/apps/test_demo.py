"""A shortened `videofocalnet demo`: every stage runs on real generated videos and the report is complete."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from PIL import Image

from videofocalnet.apps.demo import DEMO_CONFIG, DemoSettings, demo_config_file
from videofocalnet.cli import main
from videofocalnet.data.synthetic.classes import CLASS_NAMES
from videofocalnet.engine.config import load_config


def test_the_demo_config_ships_inside_the_package():
    """Found through importlib.resources, not by walking up to a source checkout: a wheel runs the demo too."""
    assert DEMO_CONFIG.is_file()
    assert DemoSettings().config is None
    with demo_config_file() as path:
        cfg = load_config(path, ["AUG.REVERSE_PAIRS", "[[0, 1]]"])  # the demo fills the pairs from the dataset
    assert cfg.MODEL.TYPE == "video_focalnet_nano" and cfg.DATA.SAMPLER == "class_balanced_both_ways"
    with demo_config_file(Path("elsewhere.yaml")) as path:
        assert path == Path("elsewhere.yaml")


def test_the_demo_renders_the_videos_its_model_reads():
    """No resize and no unused frames: the generated videos are the training input's size and length (rendering,
    encoding and decoding are per pixel and per frame, so anything larger is paid three times for nothing)."""
    settings = DemoSettings()
    with demo_config_file() as path:
        cfg = load_config(path, ["AUG.REVERSE_PAIRS", "[[0, 1]]"])
    assert settings.video_size == cfg.DATA.INPUT_SIZE == cfg.DATA.SHORT_SIDE
    assert settings.video_frames == cfg.DATA.NUM_FRAMES
    assert cfg.DATA.BATCH_SIZE % len(CLASS_NAMES) == 0  # whole groups of the classes for the class-balanced sampler


def _short_demo_args(out) -> list[str]:
    """A one-epoch demo on 2 videos per class, in this process (no data workers)."""
    rest = "--videos-per-class 2 --val-per-class 1 --epochs 1 --no-progress --opts DATA.NUM_WORKERS 0 DATA.BATCH_SIZE 4"
    return ["demo", "--out", str(out), *rest.split()]


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_short_demo_writes_a_complete_report(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(_short_demo_args(out))
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("top1", "top5", "pair_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["top1"] <= metrics["top5"]
    assert metrics["wall_seconds"] > 0 and math.isfinite(metrics["wall_seconds"])
    assert metrics["num_val_videos"] == 11 and metrics["views"] == "4x1"
    held = metrics["held_out"]
    assert held["true_class"] != "static" and len(held["topk"]) == 3
    assert abs(sum(p["prob"] for p in held["topk"])) <= 1.0 + 1e-6
    for name in ("training_curves", "confusion_matrix", "modulators"):
        with Image.open(metrics["files"][name]) as image:
            assert image.width > 100 and image.height > 100, name
    assert (out / "eval" / "predictions.csv").read_text().count("\n") == 12  # header + one row per video
    printed = capsys.readouterr().out
    assert "accuracy inside time-reversal pairs" in printed

    # A second run reuses the dataset and the finished training run.
    before = (out / "run" / "epoch_0001.safetensors").stat().st_mtime_ns
    assert main(_short_demo_args(out)) == 0
    assert (out / "run" / "epoch_0001.safetensors").stat().st_mtime_ns == before
