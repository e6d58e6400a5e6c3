"""Building blocks every Video-FocalNet variant shares: stochastic depth, the MLP, the two weight inits.

Plain PyTorch only; the CPU inference kernels live in :mod:`videofocalnet.models.cpu` and are applied explicitly.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn

DropPathMode = Literal["frame", "video"]


def drop_path(x: torch.Tensor, drop_prob: float, training: bool, mode: DropPathMode = "frame") -> torch.Tensor:
    """Stochastic depth on a (B, T, ...) residual branch.

    ``mode="frame"`` reproduces the official model, whose leading axis is B*T: every frame of every video is kept or
    dropped on its own. ``mode="video"`` drops a whole clip at once, which is what stochastic depth means for a
    video model; it is offered as an option because the published numbers were trained with the frame mode.
    """
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    if mode == "frame":
        shape = (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)  # one draw per (video, frame)
    elif mode == "video":
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per video
    else:
        raise ValueError(f"drop_path mode must be 'frame' or 'video', got {mode!r}")
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class DropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0, *, mode: DropPathMode = "frame") -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training, self.mode)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}, mode={self.mode!r}"


class Mlp(nn.Module):
    """Linear -> exact GELU -> Dropout -> Linear -> Dropout (keys ``fc1``/``fc2`` as in the official model)."""

    def __init__(self, in_features: int, *, hidden_features: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., C)."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def trunc_normal_(tensor: torch.Tensor, std: float = 0.02) -> torch.Tensor:
    """timm's ``trunc_normal_(std=.02)``: the cut is at +-2 in absolute units, i.e. 100 sigma, so effectively
    untruncated."""
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0, b=2.0)


def init_weights_fan_in(module: nn.Module) -> None:
    """Every Linear/Conv weight ~ N(0, 1/fan_in), biases 0, LayerNorm 1/0.

    For training from scratch. At the official init the modulation output is ~1e-4 of the MLP's (q, the gates and
    both modulators all start tiny and multiply), so the temporal branch barely moves the logits and a model trained
    from scratch takes a long time to discover frame order: on a toy left/right task a 64x64 nano model stayed at
    chance for 200+ steps with the official init and solved it in ~50 with this one. The published models start
    from ImageNet FocalNet weights, where this does not arise.
    """
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        nn.init.normal_(module.weight, std=module.weight[0].numel() ** -0.5)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def init_weights_official(module: nn.Module) -> None:
    """The official ``_init_weights``: Linear trunc-normal(0.02)/zero bias, LayerNorm 1/0; convolutions keep PyTorch's
    default (kaiming-uniform a=sqrt(5)), exactly as the released model does."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


INIT_SCHEMES = {"official": init_weights_official, "fan_in": init_weights_fan_in}
