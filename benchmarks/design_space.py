"""Train every spatio-temporal focal-modulation design with the same budget on the synthetic dataset and compare.

The synthetic classes come in time-reversal pairs (moving left / right, growing / shrinking, ...) whose members share
every per-frame statistic, so ``pair accuracy`` (does the true class beat its reversed partner?) sits at 50 % for a
model that cannot see frame order, whatever its top-1. That makes it the number that separates the designs:

    python benchmarks/design_space.py                     # all five variants, default budget (<= 25 min on 2 cores)
    python benchmarks/design_space.py --epochs 2 --variants spatial parallel --json out.json
    python benchmarks/design_space.py --dataset squares    # the same comparison on moving squares (~2 min)

``--variants cnn3d-bn cnn3d-ln cnn3d-none`` adds yardsticks that are not Video-FocalNets: one small 3-D CNN (four
3x3x3 conv layers, 0.24 M parameters) with BatchNorm, with per-position LayerNorm over channels (the normalisation
every Video-FocalNet block applies to each token) or with none. They say how learnable a dataset is from scratch at
this budget, and whether LayerNorm alone is what stops a model learning it.

The earlier demo recipe (600 small videos per class, class-balanced batches with every clip also played backwards; see
the README) is one command. It keeps tubelet 1, so that `spatial` sees every frame on its own, and 4 frames per clip
(with 8, `parallel`, `joint` and `divided` had not left the class prior after these 2,100 steps). The five variants
took about 30 minutes on 2 cores, two one-thread jobs at a time (measured with the earlier hand-written loop: 499 to
869 s each):

    python benchmarks/design_space.py --videos-per-class 600 --val-per-class 20 --video-size 64 --video-frames 16 \
        --embed-dim 24 --batch-size 22 --epochs 7 --sampler class_balanced_both_ways --reverse-prob 0.5 --frames 4 \
        --jobs 2

``--dataset squares`` swaps the photographic videos for 4x4 squares moving left / right / up / down (left and up are
right and down played backwards), which isolates the use of time from appearance nuisances. The squares are written
as small H.264 files with list files too (``write_squares``), so both datasets take the same path.

Every variant is one run of the library's training recipe (``videofocalnet.engine.train.train``) from a ``Config``
built from these flags (``variant_config``: each flag is the config key of the same meaning), so every variant gets
the same data, the same sample order and augmentation draws (functions of SEED, epoch and index), the same initial
seed and the same AdamW with cosine schedule, linear warm-up and gradient clipping at 5.0. Decoded training videos
stay in memory (DATA.CACHE_DECODED_MB), so from the second epoch on the budget is spent on the models, not on
re-decoding. No horizontal flip: it would turn "moving left" into "moving right" without changing the label. A
Video-FocalNet variant is the registered ``video_focalnet_xs_<variant>`` with MODEL.FOCAL's widths and depths; its
last-epoch weights are scored like ``videofocalnet eval`` does (``run_evaluation``, one centre view). A 3-D CNN is not a
registered architecture: it is handed to the recipe (``train(cfg, model=...)``) and scored in process by
``evaluate_dataset``. Each run directory (``--runs DIR`` keeps them; a temporary one otherwise) holds the engine's
``metrics.jsonl`` with one record per step and per epoch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from videofocalnet.atomic import atomic_write_text
from videofocalnet.data.loader import SAMPLERS
from videofocalnet.data.synthetic import SQUARE_CLASS_NAMES, SQUARE_PAIRS, generate_dataset, moving_squares, write_video
from videofocalnet.engine import build
from videofocalnet.engine.config import Config, merge_dict
from videofocalnet.engine.distributed import init_distributed
from videofocalnet.engine.evaluate import EvalResult, evaluate_dataset, run_evaluation
from videofocalnet.engine.metrics import pair_accuracy
from videofocalnet.engine.run_log import read_jsonl
from videofocalnet.engine.train import train
from videofocalnet.models.design_space import VARIANTS
from videofocalnet.models.flops import count_flops


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at every (t, h, w) of a (B, C, T, H, W) tensor: per token, as in Video-FocalNet."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.movedim(1, -1)).movedim(-1, 1)  # (B, C, T, H, W) -> (B, T, H, W, C) -> back


_NORMS = {"bn": nn.BatchNorm3d, "ln": ChannelLayerNorm, "none": lambda channels: nn.Identity()}


class ReferenceCNN3d(nn.Module):
    """A yardstick, not a Video-FocalNet: (B, T, 3, H, W) -> logits through four conv3d-norm-ReLU layers (time is
    downsampled in the last two), global average pooling and a linear head."""

    def __init__(self, *, num_classes: int, norm: str) -> None:
        super().__init__()
        layers, c_in = [], 3
        for c_out, stride in ((16, (1, 2, 2)), (32, (1, 2, 2)), (64, (2, 2, 2)), (96, (2, 2, 2))):
            layers += [nn.Conv3d(c_in, c_out, 3, stride, 1, bias=norm == "none"), _NORMS[norm](c_out), nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x.transpose(1, 2))  # (B, T, 3, H, W) -> (B, 3, T, H, W) -> (B, 96, T/4, H/16, W/16)
        return self.head(x.mean(dim=(2, 3, 4)))


REFERENCE_CNNS = {"cnn3d-bn": "bn", "cnn3d-ln": "ln", "cnn3d-none": "none"}


# ---------------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class BenchData:
    """A dataset on disk as the engine reads it: list files of ``<path>,<label>`` lines under ``root``."""

    name: str  # "synthetic" or "squares"
    root: Path
    train_list: Path
    val_list: Path
    label_list: Path
    num_classes: int
    pairs: tuple[tuple[int, int], ...]  # time-reversal pairs, for pair accuracy and AUG.REVERSE_PAIRS
    num_train: int
    num_val: int
    decoded_mb: int  # decoded training videos, uint8 (T, H, W, 3) each: what DATA.CACHE_DECODED_MB must hold


def _decoded_mb(num_videos: int, frames: int, size: int) -> int:
    return math.ceil(num_videos * frames * size * size * 3 / 2**20) + 1


def write_squares(
    out_dir: str | os.PathLike[str], *, videos_per_class: int, val_per_class: int, size: int, frames: int, seed: int
) -> BenchData:
    """Moving-squares clips (``moving_squares``, the same draws as the tensors) as H.264 mp4 files plus list files.

    ``squares.json`` is written last and names the parameters, so an existing complete set is reused (``--jobs``
    children find the one their parent wrote) and a different or interrupted one is rewritten.
    """
    root = Path(out_dir)
    params = dict(videos_per_class=videos_per_class, val_per_class=val_per_class, size=size, frames=frames, seed=seed)
    meta = root / "squares.json"
    counts = {"train": videos_per_class * 4, "val": val_per_class * 4}  # labels are drawn uniformly, as the tensors
    if not (meta.is_file() and json.loads(meta.read_text()) == params):
        meta.unlink(missing_ok=True)
        g = torch.Generator().manual_seed(seed)
        for split, count in counts.items():
            clips, labels = moving_squares(count, generator=g, size=size, num_frames=frames)  # (N, T, 3, H, W)
            lines = []
            for i in range(count):
                rel = f"videos/{split}_{i:05d}.mp4"
                # [-1, 1] -> {0, 255}; (T, 3, H, W) -> (T, H, W, 3)
                rgb = ((clips[i] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
                write_video(root / rel, rgb.numpy(), fps=8)
                lines.append(f"{rel},{int(labels[i])}\n")
            atomic_write_text(root / f"{split}.csv", "".join(lines))
        names = "".join(f"{i},{n}\n" for i, n in enumerate(SQUARE_CLASS_NAMES))
        atomic_write_text(root / "labels.csv", "id,name\n" + names)
        atomic_write_text(meta, json.dumps(params))
    return BenchData(
        name="squares",
        root=root,
        train_list=root / "train.csv",
        val_list=root / "val.csv",
        label_list=root / "labels.csv",
        num_classes=len(SQUARE_CLASS_NAMES),
        pairs=SQUARE_PAIRS,
        num_train=counts["train"],
        num_val=counts["val"],
        decoded_mb=_decoded_mb(counts["train"], frames, size),
    )


def prepare_data(args: argparse.Namespace) -> BenchData:
    """Generate (or reuse) the dataset ``--dataset`` names under ``--data``."""
    if args.dataset == "squares":
        return write_squares(
            args.data,
            videos_per_class=args.videos_per_class,
            val_per_class=args.val_per_class,
            size=args.size,
            frames=args.frames,
            seed=args.seed,
        )
    info = generate_dataset(
        args.data,
        videos_per_class=args.videos_per_class,
        val_per_class=args.val_per_class,
        seed=args.seed,
        size=args.video_size,
        num_frames=args.video_frames,
        progress=not args.quiet,
    )
    return BenchData(
        name="synthetic",
        root=info.root,
        train_list=info.train_list,
        val_list=info.val_list,
        label_list=info.label_list,
        num_classes=info.num_classes,
        pairs=info.pairs,
        num_train=info.num_train,
        num_val=info.num_val,
        decoded_mb=_decoded_mb(info.num_train, args.video_frames, args.video_size),
    )


# ---------------------------------------------------------------------------------------------------- one run
def variant_config(args: argparse.Namespace, data: BenchData, variant: str) -> Config:
    """The training config of one variant: every flag becomes the config key of the same meaning."""
    cnn = variant in REFERENCE_CNNS
    # squares: no augmentation (a 1.0-area, square crop of a square frame is the frame), values mapped to [-1, 1];
    # synthetic: random-resized crop from the source straight to the model size. Colour jitter is off on both: it
    # costs more CPU than the model at this size and the classes are defined by motion, not colour.
    squares = data.name == "squares"
    crop = {"SCALE": [1.0, 1.0], "RATIO": [1.0, 1.0]} if squares else {"SCALE": [0.5, 1.0]}
    norm = {"MEAN": [127.5] * 3, "STD": [127.5] * 3} if squares else {}
    settings: dict[str, Any] = {
        "DATA": {
            **{"ROOT": str(data.root), "TRAIN_FILE": str(data.train_list), "VAL_FILE": str(data.val_list)},
            **{"LABEL_LIST": str(data.label_list), "DATASET": data.name, "NUM_CLASSES": data.num_classes},
            **{"NUM_FRAMES": args.frames, "INPUT_SIZE": args.size, "IMG_SIZE": args.size, "SHORT_SIDE": args.size},
            **{"BATCH_SIZE": args.batch_size, "SAMPLER": args.sampler, "NUM_WORKERS": 0, "PIN_MEMORY": False},
            **{"CACHE_DECODED_MB": data.decoded_mb, **norm},
        },
        "MODEL": {
            # a CNN is handed to the recipe; MODEL.TYPE then only has to be valid
            "TYPE": f"video_focalnet_xs_{'parallel' if cnn else variant}",
            **{"NAME": variant, "NUM_CLASSES": data.num_classes, "DROP_PATH_RATE": 0.0, "TUBELET_SIZE": args.tubelet},
            # fan-in: from scratch, at the official init frame order is learned very slowly
            **{"INIT": args.init, "LABEL_SMOOTHING": args.label_smoothing},
            "FOCAL": {"EMBED_DIM": args.embed_dim, "DEPTHS": list(args.depths)},
        },
        "TRAIN": {
            **{"EPOCHS": args.epochs, "WARMUP_EPOCHS": args.warmup_epochs, "BASE_LR": args.lr, "SCALE_LR": False},
            **{"WARMUP_LR": 0.0, "MIN_LR": 0.0, "WEIGHT_DECAY": args.weight_decay, "CLIP_GRAD": 5.0},
            **{"OPTIMIZER": {"NAME": "adamw"}, "PRECISION": "fp32", "AUTO_RESUME": False},
            **{"EVAL_FREQ": 0, "FINAL_EVAL": False},  # scored once, after the last epoch (score_variant)
        },
        "AUG": {
            **{"FLIP_RATIO": 0.0, "COLOR_JITTER": 0.0, "GRAY_SCALE": 0.0, "MIXUP": 0.0, "CUTMIX": 0.0, **crop},
            **{"REVERSE_PROB": args.reverse_prob, "REVERSE_PAIRS": [list(p) for p in data.pairs]},
        },
        "TEST": {"SHORT_SIDE": args.size, "NUM_CLIP": 1, "NUM_CROP": 1, "FINAL_NUM_CLIP": 1, "FINAL_NUM_CROP": 1},
        # the registered variants export their last epoch's weights, which score_variant evaluates
        "SAVE_FREQ": 0 if cnn else args.epochs,
        **{"PRINT_FREQ": 0 if args.quiet else 100, "SEED": args.seed, "DEVICE": "cpu", "TENSORBOARD": False},
    }
    return merge_dict(Config(), settings, source="benchmarks/design_space.py").validate()


def reference_cnn(variant: str, *, num_classes: int, seed: int) -> ReferenceCNN3d:
    torch.manual_seed(seed)  # the recipe seeds itself only after the model exists
    return ReferenceCNN3d(num_classes=num_classes, norm=REFERENCE_CNNS[variant])


def score_variant(cfg: Config, run_dir: Path, model: nn.Module | None, *, progress: bool) -> EvalResult:
    """One centre view per validation video: a registered variant from its exported last-epoch weights (as
    ``videofocalnet eval``), a handed-in model in process."""
    if model is None:
        weights = run_dir / f"epoch_{cfg.TRAIN.EPOCHS:04d}.safetensors"
        return run_evaluation(cfg, weights, views=(1, 1), progress=progress)
    dataset = build.build_eval_dataset(cfg, cfg.DATA.VAL_FILE, num_clips=1, num_crops=1)
    return evaluate_dataset(model, dataset, cfg=cfg, info=init_distributed(device=cfg.DEVICE), progress=progress)


def run_variant(variant: str, args: argparse.Namespace, data: BenchData, runs: Path) -> dict[str, Any]:
    """Train one variant through the engine, score it, and return its table row."""
    cfg = variant_config(args, data, variant)
    model = reference_cnn(variant, num_classes=data.num_classes, seed=args.seed) if variant in REFERENCE_CNNS else None
    report = count_flops(
        model if model is not None else build.build_model(cfg), num_frames=args.frames, img_size=args.size
    )
    run_dir = runs / variant
    start, cpu_start = time.perf_counter(), time.process_time()
    result = train(cfg, output=run_dir, auto_resume=False, progress=not args.quiet, model=model)
    train_s = time.perf_counter() - start
    scored = score_variant(cfg, run_dir, model, progress=not args.quiet)
    wall_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start  # all threads; what wall time would be on an idle single core
    epochs = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r["kind"] == "train_epoch"]
    return dict(
        variant=variant,
        params=report.params,
        gmacs=report.gmacs,
        top1=scored.metrics["top1"] / 100.0,
        pair_acc=pair_accuracy(scored.scores, scored.labels, data.pairs),
        final_loss=epochs[-1]["loss"],
        train_s=train_s,
        wall_s=wall_s,
        cpu_s=cpu_s,
        threads=torch.get_num_threads(),
        epochs=args.epochs,
        steps=result["global_step"],
    )


def run_variants(args: argparse.Namespace, data: BenchData, runs: Path) -> list[dict[str, Any]]:
    """``run_variant`` for each of ``args.variants`` in this process, one JSON line per finished variant."""
    rows = []
    for variant in args.variants:
        rows.append(run_variant(variant, args, data, runs))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------------- report
def format_table(rows: list[dict]) -> str:
    head = (
        f"| {'variant':<10} | {'params (M)':>10} | {'GMACs':>7} | {'top-1 %':>7} | {'pair acc %':>10} "
        f"| {'wall (s)':>8} | {'CPU (s)':>7} |"
    )
    sep = "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['variant']:<10} | {r['params'] / 1e6:>10.3f} | {r['gmacs']:>7.3f} | {100 * r['top1']:>7.1f} "
            f"| {100 * r['pair_acc']:>10.1f} | {r['wall_s']:>8.0f} | {r['cpu_s']:>7.0f} |"
        )
    return "\n".join(lines)


def print_table(args: argparse.Namespace, rows: list[dict], data: BenchData) -> None:
    threads = sorted({r["threads"] for r in rows})
    print(
        f"\n{data.num_train} train / {data.num_val} val clips, {args.frames}x{args.size}x{args.size}, "
        f"{args.epochs} epochs, batch {args.batch_size}, sampler {args.sampler}, tubelet {args.tubelet}, "
        f"torch threads {threads}, {args.jobs} job(s) at once; "
        f"chance: top-1 {100 / data.num_classes:.1f} %, pair accuracy 50 %"
    )
    print(format_table(rows))
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        Path(args.json).write_text(json.dumps(dict(settings=settings, rows=rows), indent=2) + "\n")


# ---------------------------------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data",
        default=None,
        help="dataset directory, generated there if missing or different (default: videofocalnet_synthetic or "
        "videofocalnet_squares under $TMPDIR)",
    )
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=[*VARIANTS, *REFERENCE_CNNS])
    p.add_argument("--epochs", type=int, default=18, help="TRAIN.EPOCHS")
    p.add_argument("--warmup-epochs", type=int, default=1, help="TRAIN.WARMUP_EPOCHS (linear from 0)")
    p.add_argument("--batch-size", type=int, default=8, help="DATA.BATCH_SIZE")
    p.add_argument("--dataset", choices=("synthetic", "squares"), default="synthetic")
    p.add_argument("--init", choices=("fan_in", "official"), default="fan_in", help="MODEL.INIT")
    p.add_argument("--lr", type=float, default=3e-4, help="TRAIN.BASE_LR; from scratch, >= 1e-3 collapses to the prior")
    p.add_argument("--weight-decay", type=float, default=0.05, help="TRAIN.WEIGHT_DECAY")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="MODEL.LABEL_SMOOTHING")
    p.add_argument("--embed-dim", type=int, default=24, help="MODEL.FOCAL.EMBED_DIM")
    p.add_argument("--depths", type=int, nargs=4, default=[1, 1, 2, 1], help="MODEL.FOCAL.DEPTHS")
    p.add_argument("--frames", type=int, default=8, help="DATA.NUM_FRAMES")
    p.add_argument("--size", type=int, default=None, help="DATA.INPUT_SIZE (default 64; 32 for squares)")
    p.add_argument("--videos-per-class", type=int, default=40)
    p.add_argument("--video-size", type=int, default=96, help="side of the generated videos (synthetic)")
    p.add_argument("--video-frames", type=int, default=32, help="frames of the generated videos (synthetic)")
    p.add_argument("--tubelet", type=int, default=1, help="MODEL.TUBELET_SIZE; > 1 lets even `spatial` see time")
    p.add_argument("--sampler", choices=SAMPLERS, default="random", help="DATA.SAMPLER")
    p.add_argument(
        "--reverse-prob",
        type=float,
        default=0.0,
        help="AUG.REVERSE_PROB, with the class-balanced samplers (a reversed clip takes its partner's label)",
    )
    p.add_argument("--val-per-class", type=int, default=10)
    p.add_argument("--seed", type=int, default=0, help="SEED")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--json", default=None, help="also write the rows (and settings) to this JSON file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="train this many variants at once, each in its own process with --threads (default 1) "
        "threads; the table then comes from their --json files",
    )
    p.add_argument(
        "--runs",
        default=None,
        help="keep each variant's run directory (config, metrics.jsonl with per-step and per-epoch records, "
        "weights) under DIR/<variant>; default: a temporary directory, removed at the end",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.size is None:
        args.size = 32 if args.dataset == "squares" else 64
    if args.data is None:
        args.data = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"videofocalnet_{args.dataset}")
    data = prepare_data(args)  # before any --jobs child starts, so that they find it complete
    with _runs_dir(args.runs) as runs:
        if args.jobs > 1 and len(args.variants) > 1:
            rows = run_in_processes(args, runs)
        else:
            rows = run_variants(args, data, runs)
    print_table(args, rows, data)
    return 0


@contextlib.contextmanager
def _runs_dir(runs: str | None) -> Iterator[Path]:
    if runs is not None:
        yield Path(runs)
        return
    with tempfile.TemporaryDirectory(prefix="design_space_runs_") as tmp:
        yield Path(tmp)


def run_in_processes(args: argparse.Namespace, runs: Path) -> list[dict]:
    """One child process per variant (``args.jobs`` at a time): on a shared machine several single-threaded
    trainings finish sooner than one two-threaded run after another. Rows come back in ``args.variants`` order."""
    import subprocess

    flags = ("data", "dataset", "init", "epochs", "warmup_epochs", "batch_size", "lr", "weight_decay")
    flags += ("label_smoothing", "embed_dim", "frames", "size", "videos_per_class", "val_per_class", "video_size")
    flags += ("video_frames", "tubelet", "sampler", "reverse_prob", "seed")
    forwarded = [item for flag in flags for item in (f"--{flag.replace('_', '-')}", getattr(args, flag))]
    forwarded += ["--depths", *args.depths, "--threads", args.threads or 1, "--runs", runs, "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        pending, running, rows = list(args.variants), [], {}
        while pending or running:
            while pending and len(running) < args.jobs:
                variant = pending.pop(0)
                out = Path(tmp) / f"{variant}.json"
                cmd = [sys.executable, __file__, "--variants", variant, "--json", str(out), *map(str, forwarded)]
                running.append((variant, out, subprocess.Popen(cmd, stdout=subprocess.DEVNULL)))
            time.sleep(1)
            for item in [r for r in running if r[2].poll() is not None]:
                variant, out, proc = item
                running.remove(item)
                if proc.returncode != 0:
                    raise RuntimeError(f"training variant {variant!r} failed (exit {proc.returncode})")
                rows[variant] = json.loads(out.read_text())["rows"][0]
                print(json.dumps(rows[variant]), file=sys.stderr, flush=True)
    return [rows[v] for v in args.variants]


if __name__ == "__main__":
    raise SystemExit(main())
