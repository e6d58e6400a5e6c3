"""``videofocalnet demo``: the whole pipeline on the embedded synthetic dataset, on the CPU, in minutes."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from videofocalnet.apps.demo import DemoSettings

    defaults = DemoSettings()
    parser.add_argument("--out", type=Path, default=defaults.out_dir, help="output folder (default: %(default)s)")
    parser.add_argument(
        "--cfg",
        type=Path,
        default=defaults.config,
        help="demo training config (default: the packaged videofocalnet/configs/demo.yaml)",
    )
    parser.add_argument("--videos-per-class", type=int, default=defaults.videos_per_class)
    parser.add_argument("--val-per-class", type=int, default=defaults.val_per_class)
    parser.add_argument("--epochs", type=int, default=None, help="override TRAIN.EPOCHS (the warm-up is cut to fit)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="processes for video generation")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--opts", nargs="+", default=[], metavar="KEY VALUE", help="config overrides")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.apps.demo import DemoSettings, run_demo

    settings = DemoSettings(
        out_dir=args.out,
        config=args.cfg,
        videos_per_class=args.videos_per_class,
        val_per_class=args.val_per_class,
        seed=args.seed,
        workers=args.workers,
        epochs=args.epochs,
        opts=list(args.opts),
        progress=not args.no_progress,
    )
    m = run_demo(settings)
    held = m["held_out"]
    best = held["topk"][0]
    print()
    print(
        f"top-1 {m['top1']:.1%}   top-5 {m['top5']:.1%}   accuracy inside time-reversal pairs "
        f"{m['pair_accuracy']:.1%}   ({m['num_val_videos']} videos, {m['views']} views)"
    )
    print(f"held-out video ({held['true_class']}): predicted {best['label']} ({best['prob']:.1%})")
    print(f"wall time {m['wall_seconds']:.0f} s (training {m['train_seconds']:.0f} s)")
    print(f"report: {args.out / 'metrics.json'}")
    for name, path in m["files"].items():
        print(f"  {name}: {path}")
    return 0
