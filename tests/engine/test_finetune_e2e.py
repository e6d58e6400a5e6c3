"""Fine-tune on your own videos, end to end on real files: a class-folder tree of H.264 videos (the synthetic
generator, classes other than the stand-in "demo" model's), list files, a model trained on other classes, one
fine-tuning epoch from its epoch safetensors with a new head, layer decay and a frozen stem, then ``eval`` and
``embed`` in fresh processes. Which parameters moved, and by how much, is checked against the stand-in's weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import tiny_config_dict  # noqa: E402
from videofocalnet.engine.config import config_from_dict  # noqa: E402
from videofocalnet.engine.train import train  # noqa: E402
from videofocalnet.weights import load_weights  # noqa: E402

PRETRAIN_CLASSES = ["moving_left", "moving_right", "moving_up", "moving_down"]
USER_CLASSES = ["growing", "shrinking", "static"]  # the user's own class folders


def write_folder_lists(videos: Path, out: Path) -> dict[str, Path]:
    """``videofocalnet prepare-data folder`` on a ``<class>/<clip>.mp4`` tree: labels sorted by name, a seeded split
    stratified by class."""
    from videofocalnet.cli import main

    argv = ["prepare-data", "folder", "--videos", str(videos), "--out", str(out), "--val-fraction", "0.25"]
    assert main(argv) == 0
    return {"root": videos, "labels": out / "labels.csv", "train": out / "train.csv", "val": out / "val.csv"}


def _config(lists: dict[str, Path], **sections) -> dict:
    class Data:  # the tiny config reads these attributes off a generate_dataset result
        root, train_list, val_list, label_list = lists["root"], lists["train"], lists["val"], lists["labels"]

    d = tiny_config_dict(Data, **sections)
    d["DATA"]["NUM_CLASSES"] = d["MODEL"]["NUM_CLASSES"] = 0  # sized from the label list
    return d


def test_finetune_on_a_class_folder_tree_with_a_new_head(tmp_path, cli):
    from videofocalnet.data.synthetic import generate_dataset

    kwargs = dict(videos_per_class=4, val_per_class=2, size=32, num_frames=8, workers=1, progress=False)
    pre = generate_dataset(tmp_path / "pretrain_data", classes=PRETRAIN_CLASSES, **kwargs)
    user = generate_dataset(tmp_path / "user_data", classes=USER_CLASSES, seed=5, **kwargs)
    lists = write_folder_lists(user.root / "videos", tmp_path / "lists")
    assert (tmp_path / "lists" / "labels.csv").read_text().splitlines()[1:] == ["0,growing", "1,shrinking", "2,static"]

    # the stand-in for a demo-trained checkpoint: one epoch on other classes (4 of them)
    pre_lists = {"root": pre.root, "train": pre.train_list, "val": pre.val_list, "labels": pre.label_list}
    with contextlib.redirect_stdout(io.StringIO()):
        train(
            config_from_dict(_config(pre_lists, TRAIN={"EPOCHS": 1}, SAVE_FREQ=1)),
            output=tmp_path / "demo",
            progress=False,
        )
    source = tmp_path / "demo" / "epoch_0001.safetensors"
    start, _ = load_weights(source)
    assert start["head.weight"].shape[0] == 4

    # fine-tune: new 3-class head, layer decay, frozen stem, the user's lists
    finetune = _config(
        lists,
        TRAIN={
            "EPOCHS": 1,
            "WARMUP_EPOCHS": 0,
            "PRETRAINED_PATH": str(source),
            "LAYER_DECAY": 0.5,
            "FREEZE": "stem",
            "EVAL_FREQ": 1,
        },
        SAVE_FREQ=1,
    )
    log = io.StringIO()
    with contextlib.redirect_stdout(log), pytest.warns(UserWarning, match="head has 4 classes, the model 3"):
        result = train(config_from_dict(finetune), output=tmp_path / "ft", progress=False)
    assert "re-initialised (2): head.weight, head.bias" in log.getvalue()
    assert "TRAIN.FREEZE 'stem': froze" in log.getvalue()
    tuned, meta = load_weights(tmp_path / "ft" / "epoch_0001.safetensors")
    assert tuned["head.weight"].shape[0] == 3 and meta["labels"] == USER_CLASSES
    assert result["best_epoch"] == 0

    moved = {k: (tuned[k] - start[k]).abs().max().item() for k in start if not k.startswith("head.")}
    assert all(moved[k] == 0 for k in moved if k.startswith("patch_embed.")), moved  # frozen stem: bit-identical
    assert all(moved[k] > 0 for k in moved if k.endswith("mlp.fc1.weight")), moved  # every block trained
    # layer decay: the last stage (rate x 0.5) moves more than the first (x 0.5**4), the head learnt from scratch
    first = np.mean([moved[k] for k in moved if k.startswith("layers.0.blocks") and k.endswith("weight")])
    last = np.mean([moved[k] for k in moved if k.startswith("layers.3.blocks") and k.endswith("weight")])
    assert last > 2 * first, (first, last)

    # eval and embed in fresh processes, on the real files
    proc = cli(
        "eval",
        "--checkpoint",
        str(tmp_path / "ft" / "epoch_0001.safetensors"),
        "--views",
        "1x1",
        "--output",
        str(tmp_path / "eval"),
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_videos"] == 6 and 0 <= metrics["top1"] <= 100
    proc = cli(
        "embed",
        str(lists["root"]),
        "--checkpoint",
        str(tmp_path / "ft" / "epoch_0001.safetensors"),
        "--out",
        str(tmp_path / "feats.npz"),
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "feats.npz") as feats:
        assert sorted(feats.files) == sorted(
            p.relative_to(lists["root"]).as_posix() for p in lists["root"].rglob("*.mp4")
        )
        assert all(feats[k].shape == (64,) for k in feats.files)
