"""``check-data`` and ``predict`` as real processes on files that lie about themselves (issue 19).

Before the fix: check-data passed a truncated mp4 as OK; ``predict --window`` on ``a/clip.mp4`` and ``b/clip.mp4``
wrote both timelines to ``clip.timeline.*``, the second silently replacing the first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_helpers import save_tiny_checkpoint  # noqa: E402

from hostile_videos import DROPPED_SLOTS, dropped_frame_avi, overcounting_avi, truncated_mp4  # noqa: E402


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "videofocalnet", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_check_data_flags_truncated_files_with_both_figures(tmp_path: Path) -> None:
    truncated_mp4(tmp_path / "cut.mp4")
    overcounting_avi(tmp_path / "over.avi")
    dropped_frame_avi(tmp_path / "dropped.avi", DROPPED_SLOTS)
    listing = tmp_path / "list.csv"
    listing.write_text("cut.mp4,0\nover.avi,1\ndropped.avi,0\n")
    result = cli("check-data", listing, "--root", tmp_path, "--num-classes", "2", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    cut = next(line for line in lines if line.startswith(f"{listing}:1:"))
    assert "truncated-video" in cut and "150 frames / 5.00 s" in cut and "decodable frames /" in cut
    over = next(line for line in lines if line.startswith(f"{listing}:2:"))
    assert "truncated-video" in over and "100 frames / 4.00 s" in over and "40 decodable frames / 1.60 s" in over
    assert not any(line.startswith(f"{listing}:3:") for line in lines)  # dropped frames are not truncation
    assert "2 problems (2 truncated-video)" in lines[-1]


def test_timelines_of_same_named_videos_keep_their_folders(checkpoint: Path, tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        dropped_frame_avi(tmp_path / folder / "clip.avi", DROPPED_SLOTS if folder == "a" else DROPPED_SLOTS[:10])
    out = tmp_path / "tl"
    args = ("--checkpoint", checkpoint, "--window", "2", "--out-dir", out, "--no-progress")
    result = cli("predict", "a/clip.avi", "b/clip.avi", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    a = json.loads((out / "a" / "clip.timeline.json").read_text())
    b = json.loads((out / "b" / "clip.timeline.json").read_text())
    assert (a["path"], b["path"]) == ("a/clip.avi", "b/clip.avi")
    assert a["duration_s"] == pytest.approx(302 / 15, abs=1e-4) and b["duration_s"] == pytest.approx(91 / 15, abs=1e-4)
    assert a["windows"][-1]["end_s"] == pytest.approx(302 / 15, abs=1 / 15)
    assert not (out / "clip.timeline.json").exists()
    # a folder argument: paths under it, relative to it
    result = cli("predict", tmp_path, *args[:-3], "--out-dir", tmp_path / "tl2", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "tl2" / "a" / "clip.timeline.csv").exists() and (
        tmp_path / "tl2" / "b" / "clip.timeline.png"
    ).exists()


def test_inputs_that_would_write_the_same_timeline_are_refused_before_work(checkpoint: Path, tmp_path: Path) -> None:
    dropped_frame_avi(tmp_path / "clip.avi", DROPPED_SLOTS[:5])
    (tmp_path / "clip.mp4").write_bytes((tmp_path / "clip.avi").read_bytes())
    result = cli("predict", "clip.avi", "clip.mp4", "--checkpoint", checkpoint, "--window", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "clip.avi and clip.mp4 would both write clip.timeline.json" in result.stderr
    assert not (tmp_path / "timelines").exists()


def test_predict_warns_on_a_truncated_file_and_uses_what_decodes(checkpoint: Path, tmp_path: Path) -> None:
    truncated_mp4(tmp_path / "cut.mp4")
    result = cli("predict", "cut.mp4", "--checkpoint", checkpoint, "--views", "4x3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: cut.mp4: truncated: the header promises 150 frames / 5.00 s" in result.stderr
    assert result.stdout.startswith("cut.mp4\n")
