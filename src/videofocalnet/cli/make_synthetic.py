"""``videofocalnet make-synthetic OUT``: write the embedded time-reversal action dataset as real H.264 videos."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "out", metavar="OUT", help="output folder (videos/, train.csv, val.csv, labels.csv, dataset.json)"
    )
    parser.add_argument("--classes", default="all", help="'all' or a comma list of class names (see --list-classes)")
    parser.add_argument("--videos-per-class", type=int, default=40, help="training videos per class (default 40)")
    parser.add_argument("--val-per-class", type=int, default=10, help="validation videos per class (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed; same seed -> identical files")
    parser.add_argument("--size", type=int, default=96, help="frame height = width in pixels, even (default 96)")
    parser.add_argument("--frames", type=int, default=32, help="frames per video (default 32)")
    parser.add_argument("--fps", type=int, default=16, help="frame rate written in the container (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="render/encode processes (default 2; 1 = in-process)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-classes", action="store_true", help="print the class names and reversal pairs, exit")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from videofocalnet.data.synthetic import CLASS_NAMES, REVERSAL_PAIRS, generate_dataset

    if args.list_classes:
        for i, name in enumerate(CLASS_NAMES):
            partner = [CLASS_NAMES[b if a == i else a] for a, b in REVERSAL_PAIRS if i in (a, b)]
            print(f"{i}\t{name}" + (f"\treverse of {partner[0]}" if partner else ""))
        return 0
    start = time.perf_counter()
    try:
        info = generate_dataset(
            args.out,
            classes=args.classes,
            videos_per_class=args.videos_per_class,
            val_per_class=args.val_per_class,
            seed=args.seed,
            size=args.size,
            num_frames=args.frames,
            fps=args.fps,
            workers=args.workers,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = {
        "event": "synthetic_dataset",
        "root": str(info.root),
        "classes": info.num_classes,
        "pairs": [list(p) for p in info.pairs],
        "train": info.num_train,
        "val": info.num_val,
        "seconds": round(time.perf_counter() - start, 2),
    }
    print(json.dumps(summary))
    return 0
