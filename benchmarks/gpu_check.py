"""One GPU check, ready to run on any CUDA machine (at most ~8 minutes on one H200), printing one table.

No line of the engine had run on a GPU when this was written, so it checks what only a GPU can show:

* parity: the model on the GPU vs the same weights on the CPU (fp32 max |diff| <= 1e-4; bf16 autocast keeps the fp32
  top-1), on the reference fixtures (``../shared/reference``) when present, else on a seeded Video-FocalNet-T;
* train clips/s and peak GPU memory, T and B at 8x224, bf16, batch 8, ours and (``--official PATH``) the official
  model side by side, and inference clips/s;
* fp16 training with the grad scaler (finite loss, the scale it settled on);
* a 2-rank ``torchrun`` of the real training command on the one GPU, gloo with CUDA tensors (NCCL refuses two ranks
  on one device), for 20 optimizer steps: exit code, steps logged, any DDP stride warning.

``--device cpu`` (``--cpu-smoke``) runs every section on the CPU at toy sizes: it checks the script, not a GPU.

    python benchmarks/gpu_check.py [--official /path/to/classification/videofocalnet.py] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_speed  # noqa: E402  (the official-model import and its shims live there)

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
SIZES = {  # name -> (model kwargs, frames, size, batch) on GPU; the smoke run shrinks them
    "T": (dict(embed_dim=96, depths=(2, 2, 6, 2)), 8, 224, 8),
    "B": (dict(embed_dim=128, depths=(2, 2, 18, 2)), 8, 224, 8),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def _build(name: str, official_path: str | None, smoke: bool, seed: int = 0):
    """(ours, official or None, (frames, size, batch)) with the same weights (the official init copied into ours)."""
    from videofocalnet.models import VideoFocalNet

    kwargs, frames, size, batch = SIZES[name]
    if smoke:
        frames, size, batch = 2, 32, 2
    kwargs = dict(kwargs, num_classes=400, num_frames=frames, img_size=size, drop_path_rate=0.1)
    torch.manual_seed(seed)
    ours = VideoFocalNet(**kwargs)
    official = None
    if official_path:
        torch.manual_seed(seed)
        official = model_speed.import_official(official_path).VideoFocalNet(
            **{**kwargs, "depths": list(kwargs["depths"])}
        )
        ours.load_state_dict(official.state_dict(), strict=True)
    return ours, official, (frames, size, batch)


def check_parity(device: torch.device, smoke: bool) -> list[dict[str, Any]]:
    """GPU vs CPU on the same weights and inputs: fp32 max |diff| and whether bf16 keeps the fp32 top-1."""
    cases = []
    for name in ("small_t4", "small_tubelet2"):
        st = REFERENCE / f"{name}.safetensors"
        if st.is_file():
            from safetensors.torch import load_file

            from videofocalnet.models import VideoFocalNet

            tensors = load_file(str(st))
            kwargs = json.loads((REFERENCE / f"{name}.json").read_text())["constructor_kwargs"]
            x, _y = tensors.pop("__input__"), tensors.pop("__output__")
            model = VideoFocalNet(**kwargs)
            model.load_state_dict(tensors, strict=True)
            cases.append((f"reference {name}", model, x))
    if not cases:
        model, _, (frames, size, batch) = _build("T", None, smoke)
        cases.append((f"seeded T {frames}x{size}", model, torch.randn(batch, frames, 3, size, size)))
    rows = []
    for label, model, x in cases:
        model.eval()
        with torch.no_grad():
            cpu = model(x)
            model.to(device)
            gpu = model(x.to(device)).cpu()
            with _autocast(device, torch.bfloat16):
                bf16 = model(x.to(device)).float().cpu()
        diff = (gpu - cpu).abs().max().item()
        same_top1 = bool((bf16.argmax(-1) == cpu.argmax(-1)).all())
        rows.append(
            {
                "check": f"parity {label}",
                "fp32 max|diff|": f"{diff:.2e}",
                "bf16 top-1 kept": same_top1,
                "ok": diff <= 1e-4 and same_top1,
            }
        )
    return rows


def _timed(step, device: torch.device, warmup: int, repeats: int) -> float:
    """Median seconds per call of ``step`` after ``warmup`` calls, the device synced around each."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_speed(name: str, impl: str, device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """Train-step and inference clips/s, and peak device memory of the train step, bf16 autocast."""
    ours, official, (frames, size, batch) = _build(name, args.official if impl == "official" else None, args.smoke)
    model = (official if impl == "official" else ours).to(device)
    del ours
    x = torch.randn(batch, frames, 3, size, size, device=device)
    target = torch.randint(0, 400, (batch,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    bf16 = torch.bfloat16

    def train_step() -> None:
        with _autocast(device, bf16):
            loss = F.cross_entropy(model(x).float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer() -> None:
        with torch.no_grad(), _autocast(device, bf16):
            model(x)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    train_s = _timed(train_step, device, args.warmup, args.repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    model.eval()
    infer_s = _timed(infer, device, args.warmup, args.repeats)
    return {
        "check": f"speed {name} {frames}x{size} b{batch} bf16 {impl}",
        "train clips/s": f"{batch / train_s:.1f}",
        "peak GiB": f"{peak:.2f}",
        "infer clips/s": f"{batch / infer_s:.1f}",
        "ok": True,
    }


def check_fp16(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """A few fp16 train steps through the grad scaler: the loss stays finite, the scale settles."""
    model, _, (frames, size, batch) = _build("T", None, args.smoke)
    model.to(device).train()
    x = torch.randn(batch, frames, 3, size, size, device=device)
    target = torch.randint(0, 400, (batch,), device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type)
    losses = []
    for _ in range(args.repeats + args.warmup):
        with torch.autocast(device.type, dtype=torch.float16):
            loss = F.cross_entropy(model(x).float(), target)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    finite = all(torch.isfinite(torch.tensor(losses)).tolist())
    return {
        "check": "fp16 + grad scaler",
        "last loss": f"{losses[-1]:.3f}",
        "scale": f"{scaler.get_scale():.0f}",
        "ok": finite,
    }


def check_two_ranks(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    """The real training command, 2 ranks on the one device (gloo), 20 steps; stride warnings and errors caught."""
    from videofocalnet.data.synthetic import generate_dataset

    steps = 4 if args.smoke else 20
    with tempfile.TemporaryDirectory() as tmp:
        data = generate_dataset(
            Path(tmp) / "data",
            classes=["moving_left", "moving_right", "static"],
            videos_per_class=2 * steps // 3 + 2,
            val_per_class=1,
            size=64,
            num_frames=8,
            workers=1,
            progress=False,
        )
        cfg = {
            "DATA": {
                "ROOT": str(data.root),
                "TRAIN_FILE": str(data.train_list),
                "VAL_FILE": str(data.val_list),
                "LABEL_LIST": str(data.label_list),
                "DATASET": "gpucheck",
                "NUM_FRAMES": 4,
                "NUM_CLASSES": 3,
                "BATCH_SIZE": 1,
                "INPUT_SIZE": 32,
                "NUM_WORKERS": 1,
            },
            "MODEL": {"TYPE": "video_focalnet_tiny", "NUM_CLASSES": 3, "FOCAL": {"EMBED_DIM": 32}},
            "TRAIN": {
                "EPOCHS": 1,
                "WARMUP_EPOCHS": 0,
                "EVAL_FREQ": 0,
                "FINAL_EVAL": False,
                "PRECISION": "fp32" if args.smoke else "bf16",
            },
            "AUG": {"MIXUP": 0.0, "CUTMIX": 0.0},
            "SAVE_FREQ": 0,
            "TENSORBOARD": False,
            "PRINT_FREQ": 5,
            "DEVICE": device.type,
            "DIST_BACKEND": "gloo",
        }
        path = Path(tmp) / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        run = Path(tmp) / "run"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29533",
            "-m",
            "videofocalnet",
            "train",
            "--cfg",
            str(path),
            "--output",
            str(run),
            "--no-progress",
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="2")
        )
        seconds = time.perf_counter() - t0
        logged = (
            [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            if (run / "metrics.jsonl").is_file()
            else []
        )
    done = sum(r["kind"] == "train_step" for r in logged)
    warned = "Grad strides do not match" in proc.stderr
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
    return {
        "check": f"torchrun 2 ranks on one {device.type} (gloo)",
        "exit": proc.returncode,
        "steps": done,
        "stride warning": warned,
        "seconds": f"{seconds:.0f}",
        "ok": proc.returncode == 0 and done >= steps and not warned,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        detail = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("check", "ok"))
        print(f"| {row['check']:<44} | {'ok' if row['ok'] else 'FAIL':<4} | {detail} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--cpu-smoke", action="store_true", help="same as --device cpu: toy sizes, no GPU needed")
    parser.add_argument("--official", default=None, help="the official repo's classification/videofocalnet.py")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    args.smoke = args.cpu_smoke or args.device == "cpu"
    device = torch.device("cpu" if args.smoke else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device here; run with --cpu-smoke to check the script on the CPU", file=sys.stderr)
        return 2
    if args.smoke:
        args.warmup, args.repeats = 1, 2
    print(
        f"# GPU check on {torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU (smoke)'}, "
        f"torch {torch.__version__}"
    )
    rows = check_parity(device, args.smoke)
    for name in ("T", "B"):
        for impl in ("ours", "official") if args.official else ("ours",):
            rows.append(measure_speed(name, impl, device, args))
            if device.type == "cuda":
                torch.cuda.empty_cache()  # the model and optimizer of that row are gone
    rows.append(check_fp16(device, args))
    rows.append(check_two_ranks(device, args))
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
