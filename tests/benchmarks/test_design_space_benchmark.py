"""benchmarks/design_space.py end to end on a tiny setting: squares written as videos, trained through the engine."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "design_space.py"
ROW_FIELDS = {"variant", "params", "gmacs", "top1", "pair_acc", "final_loss", "train_s", "wall_s", "cpu_s", "threads"}


@pytest.fixture(scope="module")
def design_space():
    """The benchmark script as a module (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("design_space_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script is executed
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_squares_benchmark_trains_each_variant_through_the_engine(design_space, tmp_path, one_torch_thread):
    out = tmp_path / "rows.json"
    argv = ["--dataset", "squares", "--data", str(tmp_path / "squares"), "--runs", str(tmp_path / "runs")]
    argv += ["--variants", "parallel", "cnn3d-bn", "--epochs", "1", "--videos-per-class", "4", "--val-per-class", "2"]
    argv += ["--batch-size", "4", "--frames", "4", "--quiet", "--json", str(out)]
    assert design_space.main(argv) == 0

    rows = json.loads(out.read_text())["rows"]
    assert [r["variant"] for r in rows] == ["parallel", "cnn3d-bn"]
    for row in rows:
        assert set(row) >= ROW_FIELDS
        assert row["steps"] == 4 and row["epochs"] == 1  # 16 training videos / batch 4, one epoch
        assert 0.0 <= row["top1"] <= 1.0 and 0.0 <= row["pair_acc"] <= 1.0
        assert row["final_loss"] > 0 and row["params"] > 0 and row["gmacs"] > 0
    assert rows[0]["params"] == 1_405_138  # the 24-wide 1-1-2-1 Video-FocalNet of the README's squares table

    squares = sorted(p.name for p in (tmp_path / "squares" / "videos").iterdir())
    assert len(squares) == 16 + 8 and all(name.endswith(".mp4") for name in squares)
    runs = tmp_path / "runs"
    for variant in ("parallel", "cnn3d-bn"):
        epochs = [json.loads(line) for line in (runs / variant / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in epochs if r["kind"] == "train_epoch"] == [0]
    assert (runs / "parallel" / "epoch_0001.safetensors").is_file()  # scored from its export, as `eval` would
    assert not list((runs / "cnn3d-bn").glob("*.safetensors"))  # handed to the recipe, scored in process


def test_squares_are_reused_when_complete(design_space, tmp_path):
    kwargs = dict(videos_per_class=1, val_per_class=1, size=16, frames=4, seed=0)
    first = design_space.write_squares(tmp_path, **kwargs)
    stamp = (tmp_path / "train.csv").stat().st_mtime_ns
    again = design_space.write_squares(tmp_path, **kwargs)
    assert again == first and (tmp_path / "train.csv").stat().st_mtime_ns == stamp
    assert first.num_train == 4 and first.num_val == 4 and first.pairs == ((0, 1), (2, 3))
    assert len((tmp_path / "val.csv").read_text().splitlines()) == 4
