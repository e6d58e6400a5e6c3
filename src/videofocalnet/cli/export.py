"""``videofocalnet export --checkpoint CKPT --format onnx|torchscript|exported-program``.

The exported graph takes (B, FRAMES, 3, SIZE, SIZE) with a dynamic batch; the file is reloaded and compared with
the eager model (max abs difference <= --atol at batch 1 and 2) before the command succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from videofocalnet.inference.export import FORMATS

    parser.add_argument("--checkpoint", required=True, help="any checkpoint: file, URL, hf-hub: id or zoo name")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default: the checkpoint's)")
    parser.add_argument("--size", type=int, default=None, help="frame size (default: the checkpoint's crop size)")
    parser.add_argument("--out", default=None, help="output file (default: beside the checkpoint)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17)")
    parser.add_argument("--atol", type=float, default=1e-4, help="allowed max abs difference from eager")
    parser.add_argument("--no-verify", action="store_true", help="skip the reload-and-compare check")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.cli._checks import check_positive, check_writable_file
    from videofocalnet.inference.export import ExportVerificationError, export_checkpoint

    check_positive(args.frames, "--frames")
    check_positive(args.size, "--size")
    check_writable_file(args.out, "--out")

    try:
        result = export_checkpoint(
            args.checkpoint,
            args.out,
            format=args.format,
            num_frames=args.frames,
            input_size=args.size,
            opset=args.opset,
            verify=not args.no_verify,
            atol=args.atol,
        )
    except (ImportError, ExportVerificationError) as exc:  # a bad checkpoint or value: one line and exit 2 (cli)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict()))
    return 0
