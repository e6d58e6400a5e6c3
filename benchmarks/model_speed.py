"""Model speed and memory on CPU: forward (no_grad) and train-step (forward + backward + optimizer step) latency,
medians of repeated runs after warm-up, and peak resident memory, for fp32 and bf16 autocast.

Forward rows: ``ours`` is the model after ``videofocalnet.models.cpu.optimize_for_inference`` (what eval and predict
run), ``ours-plain`` the plain maths path (what training, export and GPUs run).

Train rows: ``ours`` is the training path the engine runs (``TRAIN.FAST_KERNELS``: the training kernels of
``videofocalnet.models.kernels``), ``ours-plain`` the plain autograd path. The engine's other CPU
switch, glibc keeping freed memory (``engine/cpu_memory.py``), is process-wide: with ``--keep-freed-memory`` (the
default) every row of the process gets it, the official model's included.

The optimizer (``--optimizer``) is the recipe's AdamW as each code base runs it: fused for ``ours`` (the engine's
``TRAIN.OPTIMIZER.FUSED`` default), PyTorch's default for ``ours-plain`` and ``official`` (the official code builds
``torch.optim.AdamW``, which on the CPU loops over the tensors: ~120 ms a step for T against ~37 ms fused);
``--optimizer sgd`` gives every row the same momentum SGD instead.

Every timing is put against the machine's GEMM roofline: the best of a few large oneDNN GEMMs (fp32 and bf16) timed
at start-up, and the model's FLOPs (forward = 2 x MACs; a train step counted as 3 x forward). "roof %" is the
roofline time of the phase divided by the measured time. Ratios against the official fp32 row are medians of the
per-iteration paired ratios (the two models' iterations alternate).

Configurations: Video-FocalNet-T at 8x224 batch 1 (the published setting) and a small one (T at 4x112 batch 1).

With ``--official PATH`` (the official repo's ``classification/videofocalnet.py``), the official model is imported
with small in-memory stand-ins for its timm / torchvision / einops imports (none of which work or are needed here),
given the same weights as ours (same state-dict keys), checked for equal outputs, and timed side by side: within one
process, iterations of the two models alternate, so machine noise hits both alike. Peak memory is measured in a
fresh child process per (model, precision, phase), because ``ru_maxrss`` cannot be reset.

    python benchmarks/model_speed.py [--official /path/to/videofocalnet.py] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
import types
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from videofocalnet.engine.cpu_memory import keep_freed_memory
from videofocalnet.engine.precision import native_bf16
from videofocalnet.models.cpu import optimize_for_inference
from videofocalnet.models.flops import count_flops
from videofocalnet.models.kernels import set_training_kernels

CONFIGS = {  # name -> (model kwargs, batch, frames, size)
    "T-8x224-b1": (dict(embed_dim=96, depths=(2, 2, 6, 2), drop_path_rate=0.2), 1, 8, 224),
    "T-4x112-b1": (dict(embed_dim=96, depths=(2, 2, 6, 2), drop_path_rate=0.2), 1, 4, 112),
}
PRECISIONS = ("fp32", "bf16")


# ----------------------------------------------------------------------------------------- official model import
def _install_shims() -> dict[str, types.ModuleType | None]:
    """Stand-ins for exactly what the official file imports; returns what they displaced, to restore later."""
    from videofocalnet.models.layers import drop_path

    class DropPath(nn.Module):  # timm: one draw per row of the leading axis (B*T in the official model)
        def __init__(self, drop_prob: float = 0.0) -> None:
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return drop_path(x, self.drop_prob, self.training, mode="video")

    def to_2tuple(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x, x)

    def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
        return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)

    def rearrange(x: torch.Tensor, pattern: str, **sizes) -> torch.Tensor:
        """The two patterns the official modulation uses."""
        t, h, w = sizes["t"], sizes["h"], sizes["w"]
        if pattern == "(b t) h w c -> (b h w) t c":
            c = x.shape[-1]
            return x.reshape(-1, t, h, w, c).permute(0, 2, 3, 1, 4).reshape(-1, t, c)
        if pattern == "(b h w) c t -> (b t) c h w":
            c = x.shape[1]
            return x.reshape(-1, h, w, c, t).permute(0, 4, 3, 1, 2).reshape(-1, c, h, w)
        raise NotImplementedError(pattern)

    def module(name: str, **attrs) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        return mod

    shims = {
        "timm": module("timm"),
        "timm.models": module("timm.models"),
        "timm.models.layers": module(
            "timm.models.layers", DropPath=DropPath, to_2tuple=to_2tuple, trunc_normal_=trunc_normal_
        ),
        "timm.models.registry": module("timm.models.registry", register_model=lambda fn: fn),
        "timm.data": module("timm.data", create_transform=None),
        "timm.data.constants": module(
            "timm.data.constants",
            IMAGENET_DEFAULT_MEAN=(0.485, 0.456, 0.406),
            IMAGENET_DEFAULT_STD=(0.229, 0.224, 0.225),
        ),
        "timm.data.transforms": module("timm.data.transforms", str_to_pil_interp=lambda s: s),
        "torchvision": module("torchvision"),
        "torchvision.transforms": module("torchvision.transforms"),
    }
    try:
        import einops  # noqa: F401  (the real one when installed)
    except ImportError:
        shims["einops"] = module("einops", rearrange=rearrange)
    displaced = {name: sys.modules.get(name) for name in shims}
    sys.modules.update(shims)
    return displaced


def import_official(path: str | Path) -> types.ModuleType:
    displaced = _install_shims()
    try:
        spec = importlib.util.spec_from_file_location("official_videofocalnet", str(path))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        for name, old in displaced.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return mod


def build_pair(config: str, official_path: str | None, *, seed: int = 0):
    """(ours, official or None) with identical weights: the official model's init is copied into ours. ``ours`` is
    the plain model; ``optimize_for_inference`` makes the "ours" rows from a copy of it."""
    from videofocalnet.models import VideoFocalNet

    kwargs, _batch, frames, size = CONFIGS[config]
    kwargs = dict(kwargs, num_classes=400, num_frames=frames, img_size=size)
    torch.manual_seed(seed)
    ours = VideoFocalNet(**kwargs)
    official = None
    if official_path:
        mod = import_official(official_path)
        torch.manual_seed(seed)
        official = mod.VideoFocalNet(**{**kwargs, "depths": list(kwargs["depths"])})
        ours.load_state_dict(official.state_dict(), strict=True)
    return ours, official


# ----------------------------------------------------------------------------------------- measurement
def _autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


OPTIMIZERS = ("adamw", "sgd")


def make_optimizer(model: nn.Module, name: str, *, fused: bool) -> torch.optim.Optimizer:
    """AdamW (the paper's recipe: the official code builds ``torch.optim.AdamW``, which on CPU loops over tensors
    with ~10 small ops each; the engine's default ``TRAIN.OPTIMIZER.FUSED`` updates each tensor in one kernel) or
    SGD with momentum (the same for every model)."""
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05, fused=fused or None)
    return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)


def make_step(
    model: nn.Module,
    phase: str,
    precision: str,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    optimizer: str = "adamw",
    fused: bool = False,
):
    if phase == "forward":
        model.eval()

        def step() -> None:
            with torch.no_grad(), _autocast(precision):
                model(x)
    else:
        model.train()
        opt = make_optimizer(model, optimizer, fused=fused)

        def step() -> None:
            with _autocast(precision):
                loss = F.cross_entropy(model(x).float(), target)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

    return step


def time_side_by_side(steps: dict[str, callable], *, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Alternate the steps (a, b, a, b, ...) so that load on the machine affects every model alike."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return times


def _training_path(model: nn.Module) -> nn.Module:
    """What the engine trains on CPU with TRAIN.FAST_KERNELS."""
    set_training_kernels(model)
    return model


def gemm_roofline(precision: str, *, repeats: int = 5) -> float:
    """GFLOP/s of oneDNN's GEMM here: the best median over a few large shapes (fp32 and bf16 both through oneDNN,
    which is what the fused CPU paths call; MKL's sgemm behind ``torch.mm`` can be slower)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32

    def onednn(a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "none")

    gemm = onednn
    try:
        onednn(torch.ones(8, 8, dtype=dtype), torch.ones(8, 8, dtype=dtype))
    except RuntimeError:  # no oneDNN kernel for this dtype here (bf16 on AVX2 CPUs): the matmul torch falls back to
        gemm = lambda a, w: a @ w.t()  # noqa: E731

    best = 0.0
    for m, k, n in ((4096, 4096, 4096), (25088, 384, 384), (6272, 768, 768)):
        a, w = torch.randn(m, k, dtype=dtype), torch.randn(n, k, dtype=dtype)
        for _ in range(2):
            gemm(a, w)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            gemm(a, w)
            times.append(time.perf_counter() - t0)
        best = max(best, 2 * m * k * n / statistics.median(times) / 1e9)
    return best


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def child_memory(
    impl: str, config: str, precision: str, phase: str, official_path: str | None, optimizer: str = "adamw"
) -> dict:
    """Run in a fresh process: peak RSS of two steps of one (model, precision, phase)."""
    ours, official = build_pair(config, official_path if impl == "official" else None)
    if impl == "official":
        model = official
    elif impl == "ours":
        model = optimize_for_inference(ours) if phase == "forward" else _training_path(ours)
    else:
        model = ours
    _kwargs, batch, frames, size = CONFIGS[config]
    x = torch.randn(batch, frames, 3, size, size)
    target = torch.randint(0, 400, (batch,))
    if impl != "official":
        del official
    else:
        del ours
    import gc

    gc.collect()
    base = _rss_mb()
    try:  # Linux: writing 5 resets the peak RSS (VmHWM), so model construction does not count as the step's peak
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = True
    except OSError:
        reset = False
    step = make_step(model, phase, precision, x, target, optimizer=optimizer, fused=impl == "ours")
    for _ in range(2):
        step()
    if reset:
        peak = _vm_hwm_mb()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    return {"peak_rss_mb": peak, "base_rss_mb": base, "peak_over_base_mb": peak - base}


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError("VmHWM not in /proc/self/status")


def measure_memory(
    impl: str, config: str, precision: str, phase: str, official_path: str | None, keep_freed: bool, optimizer: str
) -> dict:
    child = [impl, config, precision, phase, official_path, optimizer]
    cmd = [sys.executable, __file__, "--child", json.dumps(child)]
    cmd.append("--keep-freed-memory" if keep_freed else "--no-keep-freed-memory")  # as in the timed process
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------- correctness checks
def check_agreement(ours: nn.Module, official: nn.Module, config: str) -> dict:
    """fp32 outputs of both models, and bf16-autocast top-1 against fp32, on a seeded clip batch."""
    _kwargs, _batch, frames, size = CONFIGS[config]
    x = torch.randn(2, frames, 3, size, size, generator=torch.Generator().manual_seed(1))
    ours.eval(), official.eval()
    with torch.no_grad():
        y_off, y_ours = official(x), ours(x)
        with _autocast("bf16"):
            y_bf16 = ours(x).float()
    return {
        "max_abs_diff_fp32": (y_off - y_ours).abs().max().item(),
        "top1_bf16_equals_fp32": bool((y_bf16.argmax(-1) == y_off.argmax(-1)).all()),
    }


def check_reference_top1(reference_dir: Path, official_path: str | None) -> dict:
    """On the reference fixtures (official weights, inputs and logits): bf16 autocast top-1 == official fp32 top-1."""
    from safetensors.torch import load_file

    from videofocalnet.models import VideoFocalNet

    out = {}
    mod = import_official(official_path) if official_path else None
    for name in ("small_t4", "small_tubelet2"):
        st = reference_dir / f"{name}.safetensors"
        if not st.is_file():
            continue
        tensors = load_file(str(st))
        kwargs = json.loads((reference_dir / f"{name}.json").read_text())["constructor_kwargs"]
        x, y = tensors.pop("__input__"), tensors.pop("__output__")
        model = VideoFocalNet(**kwargs).eval()
        model.load_state_dict(tensors, strict=True)
        with torch.no_grad():
            fp32 = model(x)
            with _autocast("bf16"):
                bf16 = model(x).float()
            entry = {
                "max_abs_diff_fp32_vs_reference": (fp32 - y).abs().max().item(),
                "top1_bf16_equals_reference": bool((bf16.argmax(-1) == y.argmax(-1)).all()),
            }
            if mod is not None:
                off = mod.VideoFocalNet(**kwargs).eval()
                off.load_state_dict(tensors, strict=True)
                entry["official_max_abs_diff_vs_reference"] = (off(x) - y).abs().max().item()
        out[name] = entry
    return out


# ----------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", default=None, help="path to the official classification/videofocalnet.py")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=None,
        choices=list(PRECISIONS),
        help="default: fp32, and bf16 where the CPU computes it natively (AVX512-BF16 or AMX)",
    )
    parser.add_argument("--phases", nargs="+", default=["forward", "train"], choices=["forward", "train"])
    parser.add_argument(
        "--optimizer",
        default="adamw",
        choices=OPTIMIZERS,
        help="train rows' optimizer: adamw (the recipe's; fused for 'ours', as the engine's TRAIN.OPTIMIZER.FUSED "
        "default, torch's default loop for 'ours-plain' and 'official') or sgd (momentum, the same for all)",
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument(
        "--reference-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "reference")
    )
    parser.add_argument("--json", default=None, help="also write all results to this JSON file")
    parser.add_argument(
        "--keep-freed-memory",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="glibc keeps freed memory (the engine's CPU setting; process-wide, so every row gets it)",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        if args.keep_freed_memory:
            keep_freed_memory()
        print(json.dumps(child_memory(*json.loads(args.child))))
        return 0
    if args.repeats < 5:
        print(f"note: --repeats {args.repeats} < 5; medians are less reliable", file=sys.stderr)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; medians of {args.repeats} runs after "
        f"{args.warmup} warm-up; ours and official alternate within one process; train steps with {args.optimizer}"
    )
    results: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "runs": []}
    ref_dir = Path(args.reference_dir)
    if ref_dir.is_dir():
        results["reference_top1"] = check_reference_top1(ref_dir, args.official)
        print("reference fixtures:", json.dumps(results["reference_top1"]))

    if args.keep_freed_memory:
        keep_freed_memory()
    if args.precisions is None:
        args.precisions = ["fp32", "bf16"] if native_bf16(torch.device("cpu")) else ["fp32"]
        if len(args.precisions) == 1:
            print("bf16 skipped: no AVX512-BF16 or AMX on this CPU (bf16 is emulated; --precisions bf16 forces it)")
    roof = {p: gemm_roofline(p) for p in args.precisions}
    results["roofline_gflops"] = roof
    print("oneDNN GEMM roofline: " + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in roof.items()))
    baseline_key = ("official", "fp32")
    for config in args.configs:
        ours, official = build_pair(config, args.official)
        fast = optimize_for_inference(ours, inplace=False)
        train_fast = _training_path(copy.deepcopy(ours))
        _kwargs, batch, frames, size = CONFIGS[config]
        gflop = {"forward": 2 * count_flops(ours, num_frames=frames, img_size=size, batch_size=batch).macs / 1e9}
        gflop["train"] = 3 * gflop["forward"]
        if official is not None:
            agreement = check_agreement(ours, official, config)
            results.setdefault("agreement", {})[config] = agreement
            print(f"[{config}] ours vs official: {json.dumps(agreement)}")
        x = torch.randn(batch, frames, 3, size, size)
        target = torch.randint(0, 400, (batch,))
        print(f"\n[{config}] batch {batch}, {frames} frames, {size}x{size}, {gflop['forward']:.1f} GFLOP forward")
        print(
            f"{'phase':<8}{'model':<12}{'prec':<6}{'median s':>10}{'min s':>9}{'vs off fp32':>13}{'roof s':>8}"
            f"{'roof %':>8}{'peak RSS MB':>13}{'+ over base':>13}"
        )
        for phase in args.phases:
            steps = {}
            for precision in args.precisions:
                # "ours": forward optimize_for_inference'd, train the engine's CPU training path; "ours-plain": the
                # plain maths path in both phases
                steps[("ours", precision)] = make_step(
                    fast if phase == "forward" else train_fast,
                    phase,
                    precision,
                    x,
                    target,
                    optimizer=args.optimizer,
                    fused=True,
                )
                steps[("ours-plain", precision)] = make_step(
                    ours, phase, precision, x, target, optimizer=args.optimizer
                )
                if official is not None:
                    steps[("official", precision)] = make_step(
                        official, phase, precision, x, target, optimizer=args.optimizer
                    )
            times = time_side_by_side(steps, warmup=args.warmup, repeats=args.repeats)
            for (impl, precision), ts in times.items():
                med = statistics.median(ts)
                base = times.get(baseline_key)
                ratio = statistics.median(b / t for b, t in zip(base, ts)) if base else float("nan")
                roof_s = gflop[phase] / roof[precision]
                mem = (
                    {}
                    if args.no_memory
                    else measure_memory(
                        impl, config, precision, phase, args.official, args.keep_freed_memory, args.optimizer
                    )
                )
                row = {
                    "config": config,
                    "phase": phase,
                    "impl": impl,
                    "precision": precision,
                    "median_s": med,
                    "min_s": min(ts),
                    "times_s": ts,
                    "speedup_vs_official_fp32": ratio,
                    "roofline_s": roof_s,
                    "roofline_fraction": roof_s / med,
                    **mem,
                }
                results["runs"].append(row)
                peak = (
                    f"{mem['peak_rss_mb']:>13.0f}{mem['peak_over_base_mb']:>13.0f}"
                    if "peak_rss_mb" in mem
                    else (f"{'-':>13}{'-':>13}" if not mem else f"  {mem.get('error', '')}")
                )
                print(
                    f"{phase:<8}{impl:<12}{precision:<6}{med:>10.3f}{row['min_s']:>9.3f}{ratio:>12.2f}x"
                    f"{roof_s:>8.3f}{100 * roof_s / med:>7.0f}%{peak}",
                    flush=True,
                )
        del ours, fast, train_fast, official
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
