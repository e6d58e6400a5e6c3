"""``videofocalnet visualize VIDEO --checkpoint CKPT``: spatial and temporal modulators over the sampled frames,
as a PNG grid and an animated GIF (or MP4)."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", metavar="VIDEO", help="video file or frame folder")
    parser.add_argument("--checkpoint", required=True, help="any checkpoint: file, URL, hf-hub: id or zoo name")
    parser.add_argument("--labels", default=None, help="label list overriding the checkpoint's names")
    parser.add_argument(
        "--layers",
        default="first,last",
        help="blocks to draw: 'first', 'last', 'all' or 0-based block indices, comma separated",
    )
    parser.add_argument("--out", default="modulators", metavar="DIR", help="output folder")
    parser.add_argument("--animation", choices=("gif", "mp4"), default="gif")
    parser.add_argument("--device", default="cpu")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.cli._checks import check_device, check_writable_dir
    from videofocalnet.data.decode import DecodeError
    from videofocalnet.inference.classifier import VideoClassifier
    from videofocalnet.inference.visualize import visualize_video

    check_device(args.device)
    check_writable_dir(args.out, "--out")
    classifier = VideoClassifier.from_checkpoint(args.checkpoint, labels=args.labels, device=args.device)
    try:
        result = visualize_video(classifier, args.video, layers=args.layers, out_dir=args.out, animation=args.animation)
    except (DecodeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"grid:      {result.png}")
    print(f"animation: {result.animation}")
    print(json.dumps(result.to_dict()))
    return 0
