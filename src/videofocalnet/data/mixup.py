"""Mixup / CutMix for video batches (timm ``Mixup`` semantics, batch mode) with label smoothing folded in.

A batch is mixed with its own reverse (``x.flip(0)``), as timm does. CutMix pastes the *same* box into every
frame of a clip, so the mixed clip stays temporally coherent, and the mixing weight ``lam`` is corrected to the
box's true area after clipping at the border.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["Mixup", "cutmix_box", "one_hot_smooth"]


def one_hot_smooth(target: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """(B,) long -> (B, num_classes) float: ``1 - smoothing + smoothing/num_classes`` on the label,
    ``smoothing/num_classes`` elsewhere (timm convention; rows sum to 1)."""
    if target.dim() != 1:
        raise ValueError(f"target must be (B,), got shape {tuple(target.shape)}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got range [{int(target.min())}, {int(target.max())}]")
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    out = torch.full((target.shape[0], num_classes), off, dtype=torch.float32, device=target.device)
    return out.scatter_(1, target.long().unsqueeze(1), on)


def cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator | None = None
) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a box with area about ``(1 - lam) * H * W`` centred uniformly in the frame and
    clipped at the border (timm ``rand_bbox``)."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(height * cut), int(width * cut)
    cy = int(torch.randint(0, height, (1,), generator=generator))
    cx = int(torch.randint(0, width, (1,), generator=generator))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, height)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, width)
    return y0, y1, x0, x1


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    # torch's Beta sampler cannot take a Generator; seed numpy from the torch generator to stay reproducible.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


class Mixup:
    """Per batch: with probability ``prob`` mix, choosing CutMix with probability ``switch_prob`` when both
    alphas are > 0 (else whichever is enabled); targets are smoothed one-hots mixed with the same ``lam``.

    ``__call__(x (B, T, C, H, W) float, target (B,) long, generator=None) -> (x, soft_target (B, num_classes))``.
    The input tensor is not modified. ``last_lam`` and ``last_box`` record the latest draw (for logging/tests).
    """

    def __init__(
        self,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        num_classes: int = 400,
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(f"alphas must be >= 0, got mixup {mixup_alpha}, cutmix {cutmix_alpha}")
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.prob = prob
        self.switch_prob = switch_prob
        self.label_smoothing = label_smoothing
        self.num_classes = num_classes
        self.last_lam: float = 1.0
        self.last_box: tuple[int, int, int, int] | None = None

    def _draw(self, generator: torch.Generator | None) -> tuple[float, bool]:
        if self.prob <= 0 or (self.mixup_alpha <= 0 and self.cutmix_alpha <= 0):
            return 1.0, False
        if float(torch.rand((), generator=generator)) >= self.prob:
            return 1.0, False
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = float(torch.rand((), generator=generator)) < self.switch_prob
        else:
            use_cutmix = self.cutmix_alpha > 0
        lam = _beta(self.cutmix_alpha if use_cutmix else self.mixup_alpha, generator)
        return lam, use_cutmix

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 5:
            raise ValueError(f"expected x laid out (B, T, C, H, W), got shape {tuple(x.shape)}")
        if target.shape != (x.shape[0],):
            raise ValueError(f"target must be (B,) = ({x.shape[0]},), got {tuple(target.shape)}")
        lam, use_cutmix = self._draw(generator)
        self.last_box = None
        if lam < 1.0:
            if use_cutmix:
                h, w = x.shape[-2:]
                y0, y1, x0, x1 = cutmix_box(h, w, lam, generator)
                lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)  # exact area of the clipped box
                x = x.clone()
                # one (y0:y1, x0:x1) box for every frame: slices over (B, T, C, H, W)
                x[..., y0:y1, x0:x1] = x.flip(0)[..., y0:y1, x0:x1]
                self.last_box = (y0, y1, x0, x1)
            else:
                x = x * lam + x.flip(0) * (1.0 - lam)
        self.last_lam = lam
        y1h = one_hot_smooth(target, self.num_classes, self.label_smoothing)
        soft = y1h * lam + y1h.flip(0) * (1.0 - lam)
        return x, soft
