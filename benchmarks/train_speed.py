"""Training throughput (clips/s) of the engine's train step on CPU: forward, soft-target loss, backward, gradient
clipping and an SGD-Nesterov update, for the demo config and for Video-FocalNet-T at 8x224, in fp32 and bf16.

Inputs are random tensors of the config's shape, so the figure is the model + optimizer cost without video decoding
(use `videofocalnet train` and its clips/s in metrics.jsonl for the end-to-end number). Prints the median of
``--repeats`` timed runs of ``--steps`` steps each, after ``--warmup`` untimed steps.

    python benchmarks/train_speed.py                       # demo config + T 8x224, fp32 and bf16
    python benchmarks/train_speed.py --cfg k400/video_focalnet_tiny_8x224 --batch-size 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def _step_fn(cfg, precision: str, batch_size: int):
    from videofocalnet.engine.build import build_model
    from videofocalnet.engine.losses import SoftTargetCrossEntropy
    from videofocalnet.engine.optim import build_optimizer
    from videofocalnet.engine.precision import autocast_context

    torch.manual_seed(0)
    model = build_model(cfg).train()
    opt = build_optimizer(model, name="sgd", lr=1e-3, weight_decay=1e-4)
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


def measure(cfg, precision: str, batch_size: int, steps: int, repeats: int, warmup: int) -> dict:
    step = _step_fn(cfg, precision, batch_size)
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch_size / (time.perf_counter() - t0))
    return {"clips_per_s": statistics.median(rates), "runs": [round(r, 3) for r in rates]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", action="append", default=None, help="config files or names (repeatable)")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=int, default=None, help="default: 2 for 224 px, DATA.BATCH_SIZE else")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()

    from videofocalnet.engine.config import load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    configs = args.cfg or ["demo", "k400/video_focalnet_tiny_8x224"]  # packaged config names, or files
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for path in configs:
        # Sampler and reversal do not change the model's cost; these settings need no dataset metadata (reversal pairs).
        cfg = load_config(path, ["TRAIN.USE_CHECKPOINT", "false", "DATA.SAMPLER", "random", "AUG.REVERSE_PROB", "0"])
        bs = args.batch_size or (2 if cfg.DATA.INPUT_SIZE >= 224 else cfg.DATA.BATCH_SIZE)
        for precision in args.precision:
            res = measure(cfg, precision, bs, args.steps, args.repeats, args.warmup)
            print(
                json.dumps(
                    {
                        "config": str(Path(path).relative_to(REPO)) if Path(path).is_relative_to(REPO) else path,
                        "model": cfg.MODEL.TYPE,
                        "input": f"{cfg.DATA.NUM_FRAMES}x{cfg.DATA.INPUT_SIZE}",
                        "batch": bs,
                        "precision": precision,
                        **res,
                    }
                )
            )


if __name__ == "__main__":
    main()
