"""Training throughput (clips/s) of the engine's train step on CPU: forward, soft-target loss, backward, gradient
clipping and the config's optimizer, for the demo config and for Video-FocalNet-T at 8x224, in fp32 and bf16; the
engine's ``TRAIN.FAST_KERNELS`` path (``fast``) and the plain autograd path (``plain``) side by side.

Inputs are random tensors of the config's shape, so the figure is the model + optimizer cost without video decoding
(use `videofocalnet train` and its clips/s in metrics.jsonl for the end-to-end number). The two paths' steps
alternate in one process (glibc's keep-freed-memory setting, process-wide, applies to both); printed are the
medians of ``--repeats`` timed steps after ``--warmup`` untimed ones, and the median of the paired ratios.

    python benchmarks/train_speed.py                       # demo config + T 8x224, fp32 and bf16
    python benchmarks/train_speed.py --cfg k400/video_focalnet_tiny_8x224 --batch-size 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_speed import time_side_by_side  # noqa: E402  (alternating timing, shared with model_speed.py)

REPO = Path(__file__).resolve().parents[1]


def _step_fn(cfg, precision: str, batch_size: int, *, fast: bool):
    from videofocalnet.engine.build import build_model
    from videofocalnet.engine.losses import SoftTargetCrossEntropy
    from videofocalnet.engine.optim import build_optimizer
    from videofocalnet.engine.precision import autocast_context
    from videofocalnet.models.kernels import set_training_kernels

    torch.manual_seed(0)
    model = build_model(cfg).train()
    set_training_kernels(model, fast)
    # the config's optimizer as the engine builds it (fused AdamW by default), the same for both paths
    opt = build_optimizer(
        model, name=cfg.TRAIN.OPTIMIZER.NAME, lr=1e-4, weight_decay=1e-4, fused=cfg.TRAIN.OPTIMIZER.FUSED
    )
    criterion = SoftTargetCrossEntropy()
    size, frames, classes = cfg.DATA.INPUT_SIZE, cfg.DATA.NUM_FRAMES, cfg.MODEL.NUM_CLASSES
    x = torch.randn(batch_size, frames, 3, size, size)  # (B, T, C, H, W)
    y = torch.softmax(torch.randn(batch_size, classes), dim=-1)
    amp = autocast_context(precision, torch.device("cpu"))

    def step() -> None:
        with amp:
            loss = criterion(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def measure(cfg, precision: str, batch_size: int, repeats: int, warmup: int) -> dict:
    steps = {name: _step_fn(cfg, precision, batch_size, fast=name == "fast") for name in ("fast", "plain")}
    times = time_side_by_side(steps, warmup=warmup, repeats=repeats)
    out = {f"{name}_clips_per_s": round(batch_size / statistics.median(ts), 2) for name, ts in times.items()}
    out |= {f"{name}_step_ms": round(1e3 * statistics.median(ts), 1) for name, ts in times.items()}
    out["fast_over_plain"] = round(statistics.median(p / f for p, f in zip(times["plain"], times["fast"])), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", action="append", default=None, help="config files or names (repeatable)")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 2 for 224 px, DATA.BATCH_SIZE else")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()

    from videofocalnet.engine.config import load_config
    from videofocalnet.engine.cpu_memory import keep_freed_memory

    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # what the engine does on CPU
    configs = args.cfg or ["demo", "k400/video_focalnet_tiny_8x224"]  # packaged config names, or files
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for path in configs:
        # Sampler and reversal do not change the model's cost; these settings need no dataset metadata (reversal pairs).
        cfg = load_config(path, ["TRAIN.USE_CHECKPOINT", "false", "DATA.SAMPLER", "random", "AUG.REVERSE_PROB", "0"])
        bs = args.batch_size or (2 if cfg.DATA.INPUT_SIZE >= 224 else cfg.DATA.BATCH_SIZE)
        repeats = args.repeats if cfg.DATA.INPUT_SIZE < 224 else max(5, args.repeats // 3)
        for precision in args.precision:
            res = measure(cfg, precision, bs, repeats, args.warmup)
            print(
                json.dumps(
                    {
                        "config": str(Path(path).relative_to(REPO)) if Path(path).is_relative_to(REPO) else path,
                        "model": cfg.MODEL.TYPE,
                        "input": f"{cfg.DATA.NUM_FRAMES}x{cfg.DATA.INPUT_SIZE}",
                        "batch": bs,
                        "precision": precision,
                        "repeats": repeats,
                        **res,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
