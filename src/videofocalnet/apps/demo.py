"""The ``videofocalnet demo`` application: synthetic videos -> training -> multi-view evaluation -> prediction, report.

Every step is the real pipeline a Kinetics user runs (H.264 files decoded by PyAV, TSN sampling, the training engine,
multi-view evaluation, the checkpoint-borne preprocessing of ``predict``), only smaller, so that a laptop CPU shows in
minutes that the model learns what it exists for: the order of frames. Re-running the demo reuses the dataset and a
finished (or interrupted) training run in the same output folder. Its training config ships inside the package
(``videofocalnet/configs/demo.yaml``), so an installed wheel runs the demo without a source checkout.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videofocalnet.atomic import atomic_write_text

if TYPE_CHECKING:  # imported on use: `videofocalnet --help` stays fast
    from videofocalnet.data.synthetic import SyntheticDatasetInfo
    from videofocalnet.engine.config import Config

DEMO_CONFIG = resources.files("videofocalnet") / "configs" / "demo.yaml"  # package data (pyproject.toml)


@dataclass(frozen=True)
class DemoSettings:
    """Knobs of the demo; the defaults are what the README's Quick start runs."""

    out_dir: Path = Path("videofocalnet_demo")
    config: Path | None = None  # None: the packaged DEMO_CONFIG
    # Many small videos rather than a few large ones: with 40 per class the model memorised the training videos'
    # backgrounds (train loss falling, validation at chance); with 600 per class it generalises. 56x56x8 is exactly
    # what the demo model reads (8 frames at 56 px): rendering is per frame, so the 6,820 videos take 35 s on two
    # cores (16 frames at 48 px took 61), and each clip shows the whole motion, twice as fast per frame.
    videos_per_class: int = 600
    val_per_class: int = 20
    video_size: int = 56
    video_frames: int = 8
    seed: int = 0
    workers: int = 2
    epochs: int | None = None  # TRAIN.EPOCHS override; the warm-up is shortened to fit a shorter run
    opts: list[str] = field(default_factory=list)  # extra KEY VALUE config overrides
    progress: bool = True


def _log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _final_weights(run_dir: Path, epochs: int) -> Path:
    path = run_dir / f"epoch_{epochs:04d}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"training finished but {path} was not written; see {run_dir / 'metrics.jsonl'}")
    return path


@contextlib.contextmanager
def demo_config_file(config: Path | None = None) -> Iterator[Path]:
    """``config``, or the packaged demo config as a real file (``as_file`` extracts it if the package is zipped)."""
    if config is not None:
        yield Path(config)
        return
    with resources.as_file(DEMO_CONFIG) as path:
        yield path


def _held_out_video(out_dir: Path, settings: DemoSettings, class_names: tuple[str, ...]) -> tuple[Path, str]:
    """A fresh video drawn with a seed the dataset never used, so the prediction is on truly unseen data."""
    import numpy as np

    from videofocalnet.data.synthetic import render_video, write_video

    rng = np.random.default_rng(settings.seed + 10_007)
    name = class_names[int(rng.integers(len(class_names) - 1))]  # a class with motion, not `static`
    path = out_dir / f"held_out_{name}.mp4"
    if not path.is_file():
        frames = render_video(name, rng, size=settings.video_size, num_frames=settings.video_frames)
        write_video(path, frames, fps=16)
    return path, name


def _demo_config(settings: DemoSettings, info: SyntheticDatasetInfo) -> Config:
    """The demo config (packaged, or ``settings.config``) pointed at the generated dataset."""
    from videofocalnet.engine.config import load_config

    opts = {
        "DATA.ROOT": info.root, "DATA.TRAIN_FILE": info.train_list, "DATA.VAL_FILE": info.val_list,
        "DATA.LABEL_LIST": info.label_list, "DATA.NUM_CLASSES": info.num_classes,
        "MODEL.NUM_CLASSES": info.num_classes, "SEED": settings.seed,
        # the dataset's time-reversal pairs, for AUG.REVERSE_PROB (time reversal with label swap)
        "AUG.REVERSE_PAIRS": json.dumps([list(p) for p in info.pairs]),
    }  # fmt: skip
    overrides = [*(str(v) for kv in opts.items() for v in kv), *settings.opts]
    with demo_config_file(settings.config) as config_path:
        if settings.epochs is None:
            return load_config(config_path, overrides)
        # A shorter run (`--epochs 1`) keeps the config's warm-up only as far as it fits.
        warmup = load_config(config_path, overrides).TRAIN.WARMUP_EPOCHS
        epochs = int(settings.epochs)
        return load_config(
            config_path, [*overrides, "TRAIN.EPOCHS", str(epochs), "TRAIN.WARMUP_EPOCHS", str(min(warmup, epochs))]
        )


def run_demo(settings: DemoSettings = DemoSettings()) -> dict[str, Any]:
    """Run every stage and write ``metrics.json`` plus the pictures under ``settings.out_dir``; returns the metrics."""
    from videofocalnet.data.synthetic import generate_dataset
    from videofocalnet.engine.evaluate import run_evaluation
    from videofocalnet.engine.metrics import pair_accuracy
    from videofocalnet.engine.train import train
    from videofocalnet.inference.classifier import VideoClassifier
    from videofocalnet.inference.visualize import visualize_video

    start = time.perf_counter()
    out = Path(settings.out_dir)
    if settings.config is not None and not Path(settings.config).is_file():  # before the dataset, not after
        raise FileNotFoundError(f"demo config {settings.config} not found")
    out.mkdir(parents=True, exist_ok=True)

    _log(f"1/5 synthetic dataset -> {out / 'data'}")
    info = generate_dataset(
        out / "data",
        videos_per_class=settings.videos_per_class,
        val_per_class=settings.val_per_class,
        seed=settings.seed,
        size=settings.video_size,
        num_frames=settings.video_frames,
        workers=settings.workers,
        progress=settings.progress,
    )
    data_seconds = time.perf_counter() - start

    cfg = _demo_config(settings, info)
    # The last epoch's weights are what we evaluate (no selection on the validation set).
    cfg.SAVE_FREQ = cfg.TRAIN.EPOCHS
    cfg.TRAIN.FINAL_EVAL = False
    run_dir = out / "run"
    _log(f"2/5 training {cfg.MODEL.TYPE} for {cfg.TRAIN.EPOCHS} epochs on {info.num_train} videos -> {run_dir}")
    t = time.perf_counter()
    train(cfg, output=run_dir, auto_resume=True, progress=settings.progress)
    train_seconds = time.perf_counter() - t
    weights = _final_weights(run_dir, cfg.TRAIN.EPOCHS)

    views = (cfg.TEST.FINAL_NUM_CLIP, cfg.TEST.FINAL_NUM_CROP)
    _log(f"3/5 {views[0]}x{views[1]}-view evaluation on {info.num_val} held-out videos")
    result = run_evaluation(cfg, weights, views=views, output_dir=out / "eval", progress=settings.progress)
    pair_acc = pair_accuracy(result.scores, result.labels, info.pairs)

    _log("4/5 predicting a video generated with an unseen seed")
    video, true_class = _held_out_video(out, settings, info.class_names)
    classifier = VideoClassifier.from_checkpoint(weights, labels=list(info.class_names))
    prediction = classifier.predict(str(video), views=f"{views[0]}x{views[1]}", topk=3)

    _log("5/5 modulator visualisation")
    picture = visualize_video(classifier, str(video), layers="first,last", out_dir=out / "report")

    metrics = {
        "top1": result.metrics["top1"] / 100.0,
        "top5": result.metrics["top5"] / 100.0,
        "mean_class_accuracy": result.metrics["mean_class_acc"] / 100.0,
        "pair_accuracy": pair_acc,
        "num_val_videos": len(result.indices),
        "views": f"{views[0]}x{views[1]}",
        "wall_seconds": time.perf_counter() - start,
        "data_seconds": data_seconds,
        "train_seconds": train_seconds,
        "held_out": {"video": str(video), "true_class": true_class, **prediction.to_dict()},
        "files": {
            "checkpoint": str(weights),
            "training_curves": str(run_dir / "curves.png"),
            "confusion_matrix": str(out / "eval" / "confusion.png"),
            "modulators": str(picture.png),
            "predictions": str(out / "eval" / "predictions.csv"),
        },
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2, default=str) + "\n")
    return metrics
