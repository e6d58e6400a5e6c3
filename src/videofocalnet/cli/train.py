"""``videofocalnet train --cfg FILE|NAME [--opts KEY VALUE ...] [--output DIR] [--resume CKPT]``.

Runs as one process or under ``torchrun --nproc_per_node N -m videofocalnet train ...`` (DDP: gloo on CPU, nccl on
GPU). The run directory gets config.yaml (resolved), run_info.json, metrics.jsonl, curves.png, last.pt (resumable),
best.safetensors/.json and epoch snapshots; an existing last.pt there is resumed automatically.

Multi-node: run the same command on every node with torchrun's rendezvous options, e.g.
``torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 -m videofocalnet train ...``.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cfg",
        required=True,
        metavar="FILE|NAME",
        help="YAML config (official or ours), or a packaged config name such as k400/video_focalnet_tiny_8x224 "
        "(see `videofocalnet list-configs`)",
    )
    parser.add_argument(
        "--opts",
        nargs="+",
        default=None,
        metavar="KEY VALUE",
        help="dotted overrides, e.g. --opts TRAIN.EPOCHS 30 DATA.BATCH_SIZE 16",
    )
    parser.add_argument(
        "--output", default=None, metavar="DIR", help="run directory (default: OUTPUT or output/<DATASET>/<MODEL.NAME>)"
    )
    parser.add_argument(
        "--resume", default=None, metavar="CKPT", help="resume from this last.pt (wins over auto-resume)"
    )
    parser.add_argument(
        "--no-auto-resume",
        action="store_true",
        help="start fresh even if the run directory has a last.pt (it will be overwritten)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="per-process batch (DATA.BATCH_SIZE)")
    parser.add_argument("--accumulation-steps", type=int, default=None, help="TRAIN.ACCUMULATION_STEPS")
    parser.add_argument("--use-checkpoint", action="store_true", help="gradient checkpointing (TRAIN.USE_CHECKPOINT)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"], default=None, help="TRAIN.PRECISION")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (log lines instead)")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.engine.config import load_config
    from videofocalnet.engine.train import train

    opts = list(args.opts or [])
    for flag, key in (
        (args.batch_size, "DATA.BATCH_SIZE"),
        (args.accumulation_steps, "TRAIN.ACCUMULATION_STEPS"),
        (args.precision, "TRAIN.PRECISION"),
    ):
        if flag is not None:
            opts += [key, str(flag)]
    if args.use_checkpoint:
        opts += ["TRAIN.USE_CHECKPOINT", "true"]
    cfg = load_config(args.cfg, opts)  # a bad file or value: one line, exit 2 (videofocalnet.cli.main)
    train(
        cfg,
        output=args.output,
        resume=args.resume,
        auto_resume=False if args.no_auto_resume else None,
        progress=not args.no_progress,
    )
    return 0
