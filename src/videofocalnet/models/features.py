"""Feature extraction, timm style: which stages to take, what they hold, and a ``features_only`` wrapper module.

A detection, localisation or retrieval head needs the backbone's per-stage maps, not its logits. timm answers with
``forward_intermediates`` on the model and ``create_model(..., features_only=True)`` returning a module whose forward
gives the list of maps and whose ``feature_info`` says each map's channels and stride; the same API here means code
written against timm's 2-D backbones carries over to these video ones (maps are 3-D: (B, C, T', H', W')).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
import torch.nn as nn

__all__ = ["OUTPUT_FORMATS", "FeatureInfo", "FeatureVideoFocalNet", "feature_take_indices"]

OUTPUT_FORMATS = ("NCTHW", "NTHWC")  # channels-first 3-D maps (the conv convention) or the model's channels-last


def feature_take_indices(num_stages: int, indices: int | Sequence[int] | None = None) -> tuple[list[int], int]:
    """timm's rule: None = every stage, an int n = the last n stages, a sequence = those stages (negative ones count
    from the end) -> (sorted-as-given non-negative indices, the largest). Out-of-range values are a ValueError."""
    if indices is None:
        indices = num_stages
    if isinstance(indices, int):
        if not 0 < indices <= num_stages:
            raise ValueError(f"take the last n of {num_stages} stages with 1 <= n <= {num_stages}, got {indices}")
        take = list(range(num_stages - indices, num_stages))
    else:
        take = []
        for i in indices:
            if not -num_stages <= int(i) < num_stages:
                raise ValueError(f"stage index {i} is out of range for {num_stages} stages (0..{num_stages - 1})")
            take.append(int(i) % num_stages)
        if not take:
            raise ValueError("indices is empty: name at least one stage")
    return take, max(take)


class FeatureInfo:
    """What each returned map holds (timm's ``FeatureInfo`` methods): ``channels()``, ``reduction()`` (spatial
    stride), ``temporal_reduction()``, ``module_name()``, each for all maps or one index; ``get_dicts()``."""

    def __init__(self, info: Sequence[dict[str, Any]], out_indices: Sequence[int]) -> None:
        self.info = [dict(info[i]) for i in out_indices]
        self.out_indices = list(out_indices)

    def get(self, key: str, idx: int | None = None) -> Any:
        return [d[key] for d in self.info] if idx is None else self.info[idx][key]

    def channels(self, idx: int | None = None) -> Any:
        return self.get("num_chs", idx)

    def reduction(self, idx: int | None = None) -> Any:
        return self.get("reduction", idx)

    def temporal_reduction(self, idx: int | None = None) -> Any:
        return self.get("temporal_reduction", idx)

    def module_name(self, idx: int | None = None) -> Any:
        return self.get("module", idx)

    def get_dicts(self) -> list[dict[str, Any]]:
        return [dict(d) for d in self.info]

    def __getitem__(self, idx: int) -> dict[str, Any]:
        return self.info[idx]

    def __len__(self) -> int:
        return len(self.info)


class _HasIntermediates(Protocol):
    """A backbone with timm's feature methods (every registered Video-FocalNet)."""

    feature_info: list[dict[str, Any]]

    def forward_intermediates(self, x: torch.Tensor, **kwargs: Any) -> Any: ...

    def prune_intermediate_layers(self, indices: Any, prune_norm: bool = ..., prune_head: bool = ...) -> list[int]: ...


class FeatureVideoFocalNet(nn.Module):
    """``create_model(name, features_only=True)``: forward (B, T, 3, H, W) -> the list of stage maps (timm's
    ``FeatureGetterNet``). The backbone is pruned to what the maps need (later stages, head, final norm unless
    ``norm``), so its state-dict keys stay the backbone's under ``model.``."""

    def __init__(
        self,
        model: nn.Module,
        out_indices: int | Sequence[int] | None = None,
        *,
        norm: bool = False,
        output_fmt: str = "NCTHW",
    ) -> None:
        super().__init__()
        if not hasattr(model, "forward_intermediates"):
            raise TypeError(f"{type(model).__name__} has no forward_intermediates, so it cannot be features_only")
        if output_fmt not in OUTPUT_FORMATS:
            raise ValueError(f"output_fmt must be one of {', '.join(OUTPUT_FORMATS)}, got {output_fmt!r}")
        backbone: _HasIntermediates = model  # type: ignore[assignment]
        info = list(backbone.feature_info)
        self.out_indices = backbone.prune_intermediate_layers(out_indices, prune_norm=not norm, prune_head=True)
        self.model = model
        self.norm = norm
        self.output_fmt = output_fmt
        self.feature_info = FeatureInfo(info, self.out_indices)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, T, 3, H, W) -> one map per out index, (B, C_i, T', H_i, W_i) (or channels-last for "NTHWC")."""
        return self.model.forward_intermediates(  # type: ignore[operator]
            x,
            indices=self.out_indices,
            norm=self.norm,
            stop_early=True,
            output_fmt=self.output_fmt,
            intermediates_only=True,
        )
