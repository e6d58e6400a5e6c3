"""Numeric precision of training and evaluation: the autocast context and the grad scaler for ``TRAIN.PRECISION``."""

from __future__ import annotations

import contextlib

import torch

__all__ = [
    "PRECISIONS",
    "autocast_context",
    "check_precision",
    "eval_precision",
    "grad_scaler",
    "native_bf16",
    "resolve_precision",
]

PRECISIONS = ("fp32", "bf16", "fp16", "auto")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 in hardware: an NVIDIA GPU of compute capability 8.0 (Ampere) or newer, a
    ROCm GPU with bf16, or a CPU with AVX512-BF16 or AMX.

    ``torch.cuda.is_bf16_supported()`` alone also says yes on older GPUs (V100, T4), where bf16 is emulated. On CPUs
    without those instructions oneDNN emulates bf16 (plain AVX-512), slower than fp32, or has no bf16 kernels at all
    (AVX2).
    """
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        if torch.version.hip:
            return bool(torch.cuda.is_bf16_supported())
        return torch.cuda.get_device_capability(device) >= (8, 0)
    if device.type == "cpu":
        cpu = torch.cpu  # these private probes exist since torch 2.1; without them, no bf16
        return bool(getattr(cpu, "_is_avx512_bf16_supported", bool)() or getattr(cpu, "_is_amx_tile_supported", bool)())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` is bf16 where :func:`native_bf16`, else fp32; any other value is returned as it is.

    Resolved where it is used, never written back: a run whose config says auto resumes in the precision of the
    machine it resumes on.
    """
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs a grad scaler on a GPU; on the CPU bf16 is the reduced precision that trains."""
    if precision not in PRECISIONS:
        raise ValueError(f"TRAIN.PRECISION must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("TRAIN.PRECISION fp16 needs a CUDA device (a grad scaler on GPU); use bf16 on CPU")


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` in bf16/fp16, or a no-op for fp32 (``auto`` resolved for ``device``)."""
    check_precision(precision, device)
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def eval_precision(precision: str, device: torch.device) -> str:
    """Evaluation runs in the training precision, except fp16 on a CPU (no fp16 autocast there), which runs in fp32."""
    precision = resolve_precision(precision, device)
    return precision if device.type == "cuda" or precision == "bf16" else "fp32"


def grad_scaler(precision: str) -> torch.amp.GradScaler:
    """Enabled only for fp16 (bf16 has fp32's exponent range and needs no loss scaling)."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16")
