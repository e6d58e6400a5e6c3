"""Keep freed activation memory in the process on CPU training runs (part of ``TRAIN.FAST_KERNELS``).

glibc serves every allocation above its mmap threshold (at most 32 MiB) with fresh pages from the kernel and unmaps
them on free, so each training step first-touches its large activations again: on Video-FocalNet-T at 8x224 that
was ~60,000-85,000 page faults and ~0.22 s of system time per step (2 threads, measured with
``getrusage`` over 5 steps). ``mallopt(M_MMAP_MAX, 0)`` serves them from the heap instead and ``M_TRIM_THRESHOLD``
keeps freed heap memory for the next step: ~300 faults and ~0.01 s per step, the same peak RSS.

Process-wide and only ever switched on, by the train recipe, for CPU runs; a no-op where glibc is not the C library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_TRIM_THRESHOLD = 2**31 - 1  # an int parameter: the largest keeps up to 2 GiB of free heap top mapped

_applied = False


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep large blocks on the heap and freed memory in the process; returns whether it took.

    Idempotent. Memory stays mapped for the rest of the process, so call it in processes that train, not in
    libraries' import paths.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1
    _applied = ok
    return ok
