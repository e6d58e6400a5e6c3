"""Argument checks shared by the subcommands, so that a mistake is reported before any work starts, in one line
that names the flag (``videofocalnet.cli.main`` prints a ``ValueError`` as ``error: ...`` with exit code 2)."""

from __future__ import annotations

import os
from pathlib import Path


def check_device(device: str, flag: str = "--device") -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` that this machine has."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"{flag} {device!r} is not a device; use cpu, cuda or cuda:N") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{flag} {device}: CUDA is not available on this machine; use {flag} cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif parsed.type != "cpu":
        raise ValueError(f"{flag} {device}: only cpu and cuda are supported")
    return device


def check_positive(value: int | None, flag: str) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{flag} must be >= 1, got {value}")


def check_writable_file(path: str | None, flag: str) -> None:
    """The file can be created: its nearest existing folder is a writable folder (checked now, not after the
    run has done its work)."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; give a file name")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is not a folder; choose another path")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"{flag} {path}: {parent} is not writable (read-only or no permission); choose another path")


def check_writable_dir(path: str | None, flag: str) -> None:
    if not path:
        return
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise ValueError(f"{flag} {path}: exists and is not a folder; choose another path")
    check_writable_file(str(target / "x"), flag)
