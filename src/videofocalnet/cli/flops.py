"""``videofocalnet flops``: parameters, GMACs and FLOPs of the published models (or one model), counted on the meta
device so even the base model takes seconds and no memory."""

from __future__ import annotations

import argparse
import json
import sys

PUBLISHED = ("video_focalnet_tiny", "video_focalnet_small", "video_focalnet_base")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="registered model name (default: the three published models)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (default 8)")
    parser.add_argument("--size", type=int, default=224, help="frame height = width in pixels (default 224)")
    parser.add_argument("--num-classes", type=int, default=400, help="classifier outputs (default 400)")
    parser.add_argument("--tubelet", type=int, default=1, help="tubelet size of the stem (default 1)")
    parser.add_argument("--batch-size", type=int, default=1, help="clips per forward pass (default 1)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per model (params, gmacs, gflops, fvcore_gmacs, ...)"
    )


def run(args: argparse.Namespace) -> int:
    from videofocalnet.models import is_model, list_models
    from videofocalnet.models.flops import model_flops

    names = [args.model] if args.model else list(PUBLISHED)
    for name in names:
        if not is_model(name):
            print(f"error: unknown model {name!r}; registered: {', '.join(list_models())}", file=sys.stderr)
            return 2
    if args.frames < 1 or args.frames % args.tubelet:
        print(
            f"error: --frames ({args.frames}) must be a positive multiple of --tubelet ({args.tubelet})",
            file=sys.stderr,
        )
        return 2
    if args.size < 32:
        print(f"error: --size must be at least 32, got {args.size}", file=sys.stderr)
        return 2
    reports = []
    for name in names:
        report = model_flops(
            name,
            num_frames=args.frames,
            img_size=args.size,
            batch_size=args.batch_size,
            num_classes=args.num_classes,
            tubelet_size=args.tubelet,
        )
        reports.append((name, report))
    if args.json:
        for name, report in reports:
            print(json.dumps({"model": name, **report.to_dict()}))
        return 0
    clip = f"{args.batch_size}x{args.frames}x{args.size}x{args.size}"
    header = f"{'model':<24}{'params':>14}{'GMACs':>10}{'GFLOPs':>10}{'GMACs+LN':>10}"
    print(f"input {clip} (B x T x H x W), {args.num_classes} classes, tubelet {args.tubelet}")
    print(header)
    print("-" * len(header))
    for name, r in reports:
        print(f"{name:<24}{r.params:>14,}{r.gmacs:>10.2f}{r.gflops:>10.2f}{r.fvcore_gmacs:>10.2f}")
    print(
        "GMACs: conv + matmul multiply-accumulates (the field's 'GFLOPs'); GFLOPs = 2 x GMACs "
        "(torch.utils.flop_counter); GMACs+LN adds LayerNorm as fvcore counts it (the published figures)."
    )
    return 0
