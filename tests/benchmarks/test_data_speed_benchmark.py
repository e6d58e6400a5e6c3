"""benchmarks/data_speed.py end to end on one generated video: both pipelines, ours and the whole-decode baseline.

The baseline subclasses ``VideoDataset``; when the dataset's internals changed under it, every sample came back bad
and the script raised. This runs it the way a user does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "data_speed.py"


@pytest.mark.slow
def test_data_speed_runs_both_pipelines_against_the_baseline(tmp_path):
    out = tmp_path / "rows.json"
    argv = ["--num-videos", "1", "--repeats", "1", "--workers", "0", "--batch-size", "1"]
    argv += ["--cache-dir", str(tmp_path / "videos"), "--json", str(out)]
    proc = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["results"]
    assert {row["pipeline"] for row in rows} == {"train", "test"}
    for row in rows:
        assert row["sparse_clips_per_s"] > 0 and row["whole_decode_clips_per_s"] > 0, row
