"""Numeric precision of training and evaluation: the autocast context and the grad scaler for ``TRAIN.PRECISION``."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["PRECISIONS", "autocast_context", "check_precision", "eval_precision", "grad_scaler"]

PRECISIONS = ("fp32", "bf16", "fp16")


def check_precision(precision: str, device: torch.device) -> None:
    """fp16 needs a grad scaler on a GPU; on the CPU bf16 is the reduced precision that trains."""
    if precision not in PRECISIONS:
        raise ValueError(f"TRAIN.PRECISION must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("TRAIN.PRECISION fp16 needs a CUDA device (a grad scaler on GPU); use bf16 on CPU")


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` in bf16/fp16, or a no-op for fp32."""
    check_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def eval_precision(precision: str, device: torch.device) -> str:
    """Evaluation runs in the training precision, except fp16 on a CPU (no fp16 autocast there), which runs in fp32."""
    return precision if device.type == "cuda" or precision == "bf16" else "fp32"


def grad_scaler(precision: str) -> torch.amp.GradScaler:
    """Enabled only for fp16 (bf16 has fp32's exponent range and needs no loss scaling)."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16")
