"""``videofocalnet embed PATH... --checkpoint CKPT --out feats.npz``: pooled features per video (or per window).

Keys in the ``.npz`` are the files as given, or, under a folder, their paths relative to it; with ``--window`` each
video's array is (windows, C) and ``<key>#windows`` holds the windows' start/end seconds. An unreadable video is one
``error:`` line and the rest are still written (exit code 1).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files, frame folders, or folders of videos")
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="our .safetensors / last.pt, a released .pth, a URL, an hf-hub: id or a zoo name (weights list)",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the .npz file to write")
    parser.add_argument("--views", default="1x1", help="CLIPSxCROPS views per video (or window), features averaged")
    parser.add_argument("--window", type=float, default=None, metavar="SECONDS", help="one vector per window")
    parser.add_argument("--stride", type=float, default=None, metavar="SECONDS", help="default: the window length")
    parser.add_argument("--fps", type=float, default=None, help="frame rate for frame folders with --window")
    parser.add_argument("--batch-size", type=int, default=8, help="views per forward pass")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from videofocalnet.cli._checks import check_device, check_positive, check_writable_file
    from videofocalnet.data.decode import DecodeError
    from videofocalnet.data.sampling import parse_views
    from videofocalnet.inference.classifier import VideoClassifier
    from videofocalnet.inference.embed import embed_file, embedding_inputs, write_npz

    check_positive(args.batch_size, "--batch-size")
    check_device(args.device)
    check_writable_file(args.out, "--out")
    if args.stride is not None and args.window is None:
        raise ValueError("--stride needs --window")
    parse_views(args.views)
    inputs = list(embedding_inputs(args.paths))
    classifier = VideoClassifier.from_checkpoint(args.checkpoint, device=args.device, batch_size=args.batch_size)
    done, failed = [], 0
    for key, path in tqdm(inputs, desc="embed", unit="video", disable=args.no_progress or len(inputs) < 2):
        try:
            done.append(
                embed_file(
                    classifier,
                    path,
                    key=key,
                    views=args.views,
                    window_s=args.window,
                    stride_s=args.stride,
                    fps=args.fps,
                )
            )
        except (DecodeError, ValueError) as exc:
            failed += 1
            print(f"error: {path}: {exc}" if str(path) not in str(exc) else f"error: {exc}", file=sys.stderr)
    out = write_npz(args.out, done)
    dim = done[0].features.shape[-1] if done else 0
    print(f"wrote {len(done)} embeddings ({dim} features each) to {out}")
    if failed:
        print(f"{failed} of {len(inputs)} videos failed", file=sys.stderr)
        return 1
    return 0
