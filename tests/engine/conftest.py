"""Engine fixtures: a tiny real-video dataset (H.264 mp4 through PyAV) and a tiny-model config writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every in-process engine test runs on one torch thread (see ``tests/conftest.py``)."""


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory) -> Any:
    """3 classes, 4 train + 3 val videos each (12 / 9), 32x32, 8 frames: real encoded files."""
    from videofocalnet.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("tiny_videos")
    return generate_dataset(
        root,
        classes=["moving_left", "moving_right", "static"],
        videos_per_class=4,
        val_per_class=3,
        size=32,
        num_frames=8,
        workers=1,
        progress=False,
    )


def tiny_config_dict(data, **sections: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "DATA": {
            "ROOT": str(data.root),
            "TRAIN_FILE": str(data.train_list),
            "VAL_FILE": str(data.val_list),
            "LABEL_LIST": str(data.label_list),
            "DATASET": "tiny",
            "NUM_FRAMES": 4,
            "NUM_CLASSES": 3,
            "BATCH_SIZE": 2,
            "INPUT_SIZE": 32,
            "NUM_WORKERS": 0,
            "PIN_MEMORY": False,
        },
        "MODEL": {
            "TYPE": "video_focalnet_tiny",
            "NUM_CLASSES": 3,
            "DROP_PATH_RATE": 0.0,
            "FOCAL": {"EMBED_DIM": 8, "DEPTHS": [1, 1, 1, 1]},
        },
        "TRAIN": {
            "EPOCHS": 2,
            "WARMUP_EPOCHS": 1,
            "BASE_LR": 0.5,
            "WARMUP_LR": 0.01,
            "MIN_LR": 0.01,
            "OPTIMIZER": {"NAME": "sgd"},
            "EVAL_FREQ": 0,
            "FINAL_EVAL": False,
        },
        "AUG": {"MIXUP": 0.0, "CUTMIX": 0.0},
        "TEST": {"FINAL_NUM_CLIP": 2, "FINAL_NUM_CROP": 3, "BATCH_SIZE": 2},
        "SAVE_FREQ": 0,
        "TENSORBOARD": False,
        "DEVICE": "cpu",
    }
    for section, values in sections.items():
        node = cfg.setdefault(section, {})
        if isinstance(values, dict):
            for key, value in values.items():
                if isinstance(value, dict):
                    node.setdefault(key, {}).update(value)
                else:
                    node[key] = value
        else:
            cfg[section] = values
    return cfg


@pytest.fixture
def write_tiny_config(tiny_videos, tmp_path):
    """``write_tiny_config(name, TRAIN={...}, ...)`` -> path of a YAML for the tiny model on the tiny videos."""

    def _write(name: str = "tiny.yaml", **sections: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(tiny_config_dict(tiny_videos, **sections), sort_keys=False))
        return path

    return _write


@pytest.fixture
def cli():
    """``cli("train", "--cfg", ...)`` -> CompletedProcess of a fresh ``python -m videofocalnet`` process."""
    return run_cli


@pytest.fixture
def python_process():
    """``python_process("script.py", ...)`` -> CompletedProcess of a fresh one-thread ``python`` process."""
    return run_python


def run_cli(
    *args: str, env_extra: dict[str, str] | None = None, torchrun: int = 0, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m videofocalnet ...`` (or under ``torch.distributed.run``) in a fresh process."""
    if torchrun:
        return run_python(
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(torchrun),
            "--master_port",
            str(_free_port()),
            "-m",
            "videofocalnet",
            *args,
            env_extra=env_extra,
            timeout=timeout,
        )
    return run_python("-m", "videofocalnet", *args, env_extra=env_extra, timeout=timeout)


def run_python(
    *args: str, env_extra: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``python ARGS...`` in a fresh one-thread process from the repository root."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
