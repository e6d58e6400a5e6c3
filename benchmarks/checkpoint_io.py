"""Reading weights: what the allowlist unpickler and the one loader cost against the unsafe ``torch.load``.

Writes Video-FocalNet-T and -B with 400 classes the way the official ``save_checkpoint`` does (state dict, SGD
momentum, scheduler, ``max_accuracy``, ``epoch`` and a yacs ``CfgNode``: ``pip install yacs``, in the test extra),
then times, medians of repeated runs, in one process:

* ``torch.load(weights_only=False)``: the unsafe baseline the official code uses;
* ``safe_pickle.load_torch_file``: the allowlist unpickler (what every command uses for .pth files);
* ``hub.read_checkpoint``: the above plus building the config, preprocessing and class names;
* ``read_checkpoint`` of the converted safetensors file (``convert-weights`` output).

    python benchmarks/checkpoint_io.py [--models tiny base] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def _official_like(model: torch.nn.Module, size: str) -> dict:
    from yacs.config import CfgNode

    def node(d: dict) -> CfgNode:
        out = CfgNode()
        for k, v in d.items():
            out[k] = node(v) if isinstance(v, dict) else v
        return out

    config = node({
        "DATA": {"NUM_FRAMES": 8, "NUM_CLASSES": 400, "DATASET": "kinetics400", "IMG_SIZE": 224, "INPUT_SIZE": 224,
                 "LABEL_LIST": "labels/kinetics_400_labels.csv"},
        "MODEL": {"TYPE": f"videofocalnet_{size}", "NAME": f"video-focalnet_{size}", "NUM_CLASSES": 400},
    })  # fmt: skip
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": {"t_initial": 120},
        "max_accuracy": 79.8,
        "epoch": 119,
        "config": config,
    }


def _median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tiny", "base"], choices=["tiny", "small", "base"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from videofocalnet.hub import read_checkpoint
    from videofocalnet.models import create_model
    from videofocalnet.safe_pickle import load_torch_file

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.repeats} runs")
    print(f"{'model':<6} {'file MB':>8} {'torch.load unsafe':>18} {'allowlist':>10} {'read_checkpoint':>16} "
          f"{'safetensors':>12}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.models:
            model = create_model(f"video_focalnet_{size}", num_classes=400)
            path = Path(tmp) / f"video-focalnet_{size}_k400.pth"
            torch.save(_official_like(model, size), path)
            converted = read_checkpoint(path).save(Path(tmp) / f"{size}.safetensors")
            unsafe = _median(lambda p=path: torch.load(p, map_location="cpu", weights_only=False), args.repeats)
            allow = _median(lambda p=path: load_torch_file(p), args.repeats)
            full = _median(lambda p=path: read_checkpoint(p), args.repeats)
            st = _median(lambda p=converted: read_checkpoint(p), args.repeats)
            mb = path.stat().st_size / 2**20
            print(f"{size:<6} {mb:8.0f} {unsafe:17.3f}s {allow:9.3f}s {full:15.3f}s {st:11.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
