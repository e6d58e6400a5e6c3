"""The wheel, installed into a fresh virtualenv (no editable install, no source tree), runs the demo from an empty
folder, resolves the packaged configs by name and loads the shipped class names.

Why a real wheel: an editable install or ``PYTHONPATH=src`` finds files by walking the source tree, so a config or
class-name file missing from the package data goes unnoticed until a user's ``pip install`` (the demo once stopped
with "demo config .../lib/python3.11/configs/... not found"). The venv gets the wheel with the ``demo`` extra under
``constraints.txt``, which pins the local CPU torch: a CUDA build must never be pulled.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.test_demo import _short_demo_args  # tests/apps/test_demo.py: the shortened demo's arguments
from videofocalnet.engine.config import list_configs

REPO_ROOT = Path(__file__).resolve().parents[1]

CHECK_PACKAGE = """
import json, videofocalnet
from videofocalnet.data.label_sets import class_names, find_label_set
from videofocalnet.engine.config import load_config
cfg = load_config("k400/video_focalnet_tiny_8x224")
label_set = find_label_set(dataset=cfg.DATA.DATASET, label_list=cfg.DATA.LABEL_LIST, num_classes=cfg.MODEL.NUM_CLASSES)
names = class_names(label_set)
print(json.dumps({"file": videofocalnet.__file__, "type": cfg.MODEL.TYPE, "set": label_set, "names": names}))
"""


def _run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run, and fail with the command's output tail, so a broken install says why."""
    result = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n{(result.stdout + result.stderr)[-4000:]}")
    return result


def _clean_env() -> dict[str, str]:
    """This process's environment without what would let the venv see the source tree or another environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["OMP_NUM_THREADS"] = "1"  # tiny model on shared cores: thread synchronisation would dominate
    return env


def _build_wheel(work: Path, env: dict[str, str]) -> Path:
    """Build from a clean copy of what the build reads: building in the checkout would leave build/ and egg-info
    there, and a stale build/lib would put deleted modules into the wheel."""
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO_ROOT / "src", source / "src", ignore=ignore)
    wheels = work / "wheels"
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, source]
    _run(pip_wheel, cwd=work, env=env, timeout=300)
    (wheel,) = wheels.glob("videofocalnet-*.whl")
    return wheel


def _check_report(cwd: Path, out: Path) -> dict:
    """The demo's metrics.json is complete and every file it names exists (relative names: from the demo's cwd)."""
    metrics = json.loads((cwd / out / "metrics.json").read_text(encoding="utf-8"))
    for key in ("top1", "top5", "pair_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["num_val_videos"] == 11 and metrics["views"] == "4x1"
    assert metrics["held_out"]["true_class"] != "static" and len(metrics["held_out"]["topk"]) == 3
    for name, path in metrics["files"].items():
        assert (cwd / path).is_file() and (cwd / path).stat().st_size > 0, name
    return metrics


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_demo_from_an_empty_folder(tmp_path):
    env, seconds = _clean_env(), {}
    start = time.perf_counter()
    wheel = _build_wheel(tmp_path, env)
    seconds["build"] = time.perf_counter() - start

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path, env=env, timeout=120)
    python, script = venv / "bin" / "python", venv / "bin" / "videofocalnet"
    install = [python, "-m", "pip", "install", "-q", "--no-compile", "-c", REPO_ROOT / "constraints.txt"]
    _run([*install, f"{wheel}[demo]"], cwd=tmp_path, env=env, timeout=600)
    seconds["venv+install"] = time.perf_counter() - start - seconds["build"]
    listing = _run([python, "-m", "pip", "list", "--format", "json"], cwd=tmp_path, env=env, timeout=60).stdout
    installed = {p["name"].lower(): p for p in json.loads(listing)}
    assert installed["torch"]["version"] == "2.13.0+cpu", installed["torch"]
    cuda = sorted(n for n in installed if n.startswith("nvidia") or n == "triton")
    assert not cuda, f"a CUDA build of torch was pulled in: {cuda}"
    package = installed["videofocalnet"]
    assert package["version"] == "0.1.0" and "editable_project_location" not in package, package

    empty = tmp_path / "empty"
    empty.mkdir()
    t = time.perf_counter()
    demo = _run([script, *_short_demo_args(Path("demo"))], cwd=empty, env=env, timeout=600)
    seconds["demo"] = time.perf_counter() - t
    assert "accuracy inside time-reversal pairs" in demo.stdout
    assert sorted(os.listdir(empty)) == ["demo"]  # everything under --out, nothing beside it
    _check_report(empty, Path("demo"))

    checked = json.loads(_run([python, "-c", CHECK_PACKAGE], cwd=empty, env=env, timeout=120).stdout)
    assert Path(checked["file"]).is_relative_to(venv), checked["file"]  # the installed copy, not src/
    assert checked["type"] == "videofocalnet_tiny" and checked["set"] == "kinetics400"
    assert len(checked["names"]) == 400 and checked["names"][:2] == ["abseiling", "air drumming"]
    listed = _run([script, "list-configs"], cwd=empty, env=env, timeout=120).stdout.split()
    assert listed == list_configs()
    seconds["total"] = time.perf_counter() - start
    print("wheel test seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
