"""``videofocalnet eval --cfg FILE|NAME --checkpoint CKPT [--views CLIPSxCROPS]``: multi-view evaluation.

Defaults to the config's TEST.FINAL_NUM_CLIP x TEST.FINAL_NUM_CROP (4x3, the official protocol, for the published
configs). Writes metrics.json, predictions (CSV or JSON), confusion.csv and confusion.png to --output. Works under
torchrun too; every video is scored exactly once.
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cfg",
        default=None,
        metavar="FILE|NAME",
        help="YAML config or packaged config name, e.g. k400/video_focalnet_tiny_8x224 (see `videofocalnet "
        "list-configs`; default: the config stored with the checkpoint)",
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="CKPT",
        help="best.safetensors / epoch_N.safetensors / last.pt of a run, a released .pth, a URL or a zoo name",
    )
    parser.add_argument("--views", default=None, metavar="CLIPSxCROPS", help="e.g. 4x3 (default from the config)")
    parser.add_argument(
        "--list", default=None, metavar="FILE", help="annotation list (default DATA.TEST_FILE, else DATA.VAL_FILE)"
    )
    parser.add_argument("--opts", nargs="+", default=None, metavar="KEY VALUE", help="dotted config overrides")
    parser.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="report directory (default: <checkpoint dir>/eval_<CLIPS>x<CROPS>)",
    )
    parser.add_argument("--predictions", default="predictions.csv", help="file name; .csv or .json")
    parser.add_argument("--batch-size", type=int, default=None, help="videos per batch per process")
    parser.add_argument("--ema", action="store_true", help="use the EMA weights of a last.pt")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import os

    from videofocalnet.cli._checks import check_positive, check_writable_dir
    from videofocalnet.data.sampling import parse_views
    from videofocalnet.engine.config import apply_opts, config_from_dict, load_config
    from videofocalnet.engine.evaluate import run_evaluation
    from videofocalnet.hub import local_path, read_checkpoint

    check_positive(args.batch_size, "--batch-size")
    check_writable_dir(args.output, "--output")
    checkpoint = local_path(args.checkpoint, progress=not args.no_progress)  # a zoo name or URL: downloaded once
    if args.cfg:
        cfg = load_config(args.cfg, args.opts)
    else:
        stored = read_checkpoint(checkpoint).config.get("config")
        if not isinstance(stored, dict):
            raise ValueError(f"{checkpoint} carries no training config; pass --cfg")
        cfg = apply_opts(config_from_dict(stored, source=str(checkpoint)), args.opts).validate()
    views = parse_views(args.views) if args.views else None
    clips, crops = views or (cfg.TEST.FINAL_NUM_CLIP, cfg.TEST.FINAL_NUM_CROP)
    output = args.output or str(checkpoint.parent / f"eval_{clips}x{crops}")
    result = run_evaluation(
        cfg,
        checkpoint,
        views=(clips, crops),
        list_file=args.list,
        output_dir=output,
        predictions=args.predictions,
        batch_size=args.batch_size,
        use_ema=args.ema,
        config_path=args.cfg,
        progress=not args.no_progress,
    )
    if int(os.environ.get("RANK", "0")) == 0:  # one report under torchrun
        print(json.dumps({**result.summary(), "output": output}, indent=2))
    return 0
