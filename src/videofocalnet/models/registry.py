"""Name -> factory registry, in the spirit of timm's ``register_model`` / ``create_model``."""

from __future__ import annotations

from typing import Callable, TypeVar

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(fn: F) -> F:
    """Register a factory under its function name. Re-registering a name is a programming error."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models(filter: str = "") -> list[str]:
    """Registered model names, sorted; ``filter`` keeps names containing that text."""
    return sorted(name for name in _MODELS if filter in name)


def is_model(name: str) -> bool:
    return name in _MODELS


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    try:
        return _MODELS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (registered: {', '.join(list_models())})") from None


def create_model(name: str, **overrides) -> nn.Module:
    """Build a registered model; keyword overrides replace the factory's defaults (e.g. ``num_classes=174``)."""
    return model_entrypoint(name)(**overrides)
