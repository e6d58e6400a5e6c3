"""Reading torch pickles without executing anything from them: an allowlist unpickler for released checkpoints.

The official ``save_checkpoint`` writes ``{'model', 'optimizer', 'lr_scheduler', 'max_accuracy', 'epoch', 'config'}``
(plus ``'amp'`` under apex), where ``config`` is a yacs ``CfgNode``. ``torch.load(weights_only=True)`` refuses it
(a dict subclass from a third-party module), and ``weights_only=False`` would run whatever the file names: a pickle
is a program whose ``GLOBAL`` opcodes import any callable and whose ``REDUCE`` opcodes call it.

:func:`load_torch_file` hands ``torch.load`` an unpickler whose ``find_class`` resolves an explicit list only: torch's
tensor and parameter rebuild functions, ``collections.OrderedDict``, the builtins plain containers need, numpy
scalars (metrics saved as numpy floats) and ``yacs.config.CfgNode``, which is mapped to :class:`ConfigNode`, a
plain ``dict`` subclass defined here (so yacs need not be installed and none of its code runs). Storages are
resolved by torch before ``find_class`` is consulted. Anything else (``os.system``, ``builtins.eval``,
``subprocess.Popen``, a pickled ``nn.Module``) raises :class:`UnsafePickleError` naming the global, before it is
called.
"""

from __future__ import annotations

import _compat_pickle
import collections
import os
import pickle
import warnings
from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["ConfigNode", "UnsafePickleError", "load_torch_file", "to_plain"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allowlist; nothing it names has been called."""

    def __init__(self, module: str, name: str) -> None:
        self.global_name = f"{module}.{name}"
        super().__init__(
            f"it references {self.global_name}, which is not a tensor, a plain container or the official yacs "
            "config; unpickling it could execute code"
        )


class ConfigNode(dict):
    """Stand-in for ``yacs.config.CfgNode``: the pickle's ``NEWOBJ`` creates it, ``SETITEMS`` fills it and ``BUILD``
    sets the yacs bookkeeping attributes (``__immutable__``, ...) as plain instance attributes."""


def _torch_globals() -> dict[tuple[str, str], Any]:
    import torch._utils as tu

    allowed: dict[tuple[str, str], Any] = {
        ("torch._utils", name): getattr(tu, name)
        for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state")
        if hasattr(tu, name)
    }
    allowed[("torch", "Size")] = torch.Size
    allowed[("torch", "device")] = torch.device
    for name in dir(torch):  # dtypes: torch.float32, torch.bfloat16, ... (pickled by name)
        value = getattr(torch, name, None)
        if isinstance(value, torch.dtype):
            allowed[("torch", name)] = value
    return allowed


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy scalars and dtypes (``max_accuracy`` may be a ``numpy.float64``): both rebuild from bytes only."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        return {}
    from numpy.core import multiarray  # numpy 2 keeps numpy.core as an alias of numpy._core

    return {
        ("numpy.core.multiarray", "scalar"): multiarray.scalar,
        ("numpy._core.multiarray", "scalar"): multiarray.scalar,
        ("numpy", "dtype"): np.dtype,
    }


def _allowed_globals() -> dict[tuple[str, str], Any]:
    import _codecs

    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("builtins", "complex"): complex,
        ("builtins", "bytearray"): bytearray,
        ("_codecs", "encode"): _codecs.encode,  # protocol-2 pickles spell bytes as _codecs.encode(str, 'latin1')
        ("yacs.config", "CfgNode"): ConfigNode,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core is deprecated in numpy 2
        allowed.update(_numpy_globals())
    allowed.update(_torch_globals())
    return allowed


_ALLOWED: dict[tuple[str, str], Any] | None = None


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if _ALLOWED is None:
            _ALLOWED = _allowed_globals()
        # protocol-2 pickles spell Python 3 modules by their Python 2 names (__builtin__.set): map them back as
        # pickle's own find_class does
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(module, name) from None


class _RestrictedPickleModule:
    """What ``torch.load(pickle_module=...)`` needs: ``Unpickler`` (subclassed by torch to resolve storages and
    persistent ids) and ``load`` (the legacy format's header records)."""

    Unpickler = _RestrictedUnpickler
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


def load_torch_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` of ``path`` onto the CPU through the allowlist unpickler; yacs nodes come back as
    :class:`ConfigNode`. Raises :class:`UnsafePickleError` for anything outside the allowlist."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch's notice about weights_only=False: our unpickler is safe
        return torch.load(path, map_location="cpu", pickle_module=_RestrictedPickleModule, weights_only=False)


def to_plain(obj: Any) -> Any:
    """ConfigNode trees (and tuples inside them) -> plain dicts and lists, as a YAML or JSON file would hold them."""
    if isinstance(obj, Mapping) and not isinstance(obj, torch.Tensor):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj
