"""Mixup / CutMix for video batches (timm ``Mixup`` semantics: batch, pair and elem modes, CutMix by alpha or by a
min/max box-size range) with label smoothing folded in.

Element ``i`` of a batch is mixed with element ``B - 1 - i`` (the batch's own reverse, ``x.flip(0)``), as timm does.
CutMix pastes the *same* box into every frame of a clip, so the mixed clip stays temporally coherent, and the mixing
weight ``lam`` is corrected to the box's true area after clipping at the border.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["MIXUP_MODES", "Mixup", "cutmix_box", "cutmix_box_minmax", "one_hot_smooth"]

# AUG.MIXUP_MODE: one draw of (lam, mixup-or-cutmix, box) per batch, per mirrored pair (i, B-1-i) or per element
MIXUP_MODES: tuple[str, ...] = ("batch", "pair", "elem")

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1)


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


def cutmix_box(height: int, width: int, lam: float, generator: torch.Generator | None = None) -> Box:
    """(y0, y1, x0, x1) of a box with area about ``(1 - lam) * H * W`` centred uniformly in the frame and
    clipped at the border (timm ``rand_bbox``)."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(height * cut), int(width * cut)
    cy = int(torch.randint(0, height, (1,), generator=generator))
    cx = int(torch.randint(0, width, (1,), generator=generator))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, height)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, width)
    return y0, y1, x0, x1


def cutmix_box_minmax(
    height: int, width: int, minmax: tuple[float, float], generator: torch.Generator | None = None
) -> Box:
    """(y0, y1, x0, x1) of a box whose height and width are each a uniform fraction in ``[min, max)`` of the frame's,
    placed uniformly inside it (timm ``rand_bbox_minmax``, the Darknet-style CutMix that AUG.CUTMIX_MINMAX selects:
    the box size, not a Beta draw, sets ``lam``)."""
    lo, hi = minmax

    def side(size: int) -> int:
        small = min(size, int(size * lo))
        return int(torch.randint(small, max(small + 1, min(size, int(size * hi))), (1,), generator=generator))

    ch, cw = side(height), side(width)
    y0 = int(torch.randint(0, height - ch + 1, (1,), generator=generator))
    x0 = int(torch.randint(0, width - cw + 1, (1,), generator=generator))
    return y0, y0 + ch, x0, x0 + cw


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    # torch's Beta sampler cannot take a Generator; seed numpy from the torch generator to stay reproducible.
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


class Mixup:
    """With probability ``prob`` mix, choosing CutMix with probability ``switch_prob`` when both are enabled (else
    whichever is); targets are smoothed one-hots mixed with the same ``lam``.

    ``mode`` (timm's): ``"batch"`` draws once for the whole batch; ``"pair"`` draws once per mirrored pair
    ``(i, B-1-i)``, which swap the same box or blend with the same ``lam`` (an odd batch's middle clip stays
    unmixed); ``"elem"`` draws for every clip, each mixed with its mirror's original. ``cutmix_minmax`` (lo, hi)
    enables CutMix (alpha forced to 1, as timm does) and draws box sides as fractions in [lo, hi) of the frame's.

    ``__call__(x (B, T, C, H, W) float, target (B,) long, generator=None) -> (x, soft_target (B, num_classes))``.
    The input tensor is not modified. ``last_lams`` (B,) and ``last_boxes`` record the latest draw per clip;
    ``last_lam`` and ``last_box`` are the first clip's (every clip's in batch mode).
    """

    def __init__(
        self,
        mixup_alpha: float = 0.8,
        cutmix_alpha: float = 1.0,
        prob: float = 1.0,
        switch_prob: float = 0.5,
        label_smoothing: float = 0.1,
        num_classes: int = 400,
        *,
        cutmix_minmax: tuple[float, float] | None = None,
        mode: str = "batch",
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ValueError(f"alphas must be >= 0, got mixup {mixup_alpha}, cutmix {cutmix_alpha}")
        if mode not in MIXUP_MODES:
            raise ValueError(f"mode must be one of {', '.join(MIXUP_MODES)}, got {mode!r}")
        if cutmix_minmax is not None:
            if len(cutmix_minmax) != 2 or not 0.0 <= cutmix_minmax[0] < cutmix_minmax[1] <= 1.0:
                raise ValueError(f"cutmix_minmax must be (lo, hi) with 0 <= lo < hi <= 1, got {cutmix_minmax}")
            cutmix_alpha = 1.0  # timm: the box range replaces the alpha, and switches CutMix on
        self.mixup_alpha = mixup_alpha
        self.cutmix_alpha = cutmix_alpha
        self.cutmix_minmax = None if cutmix_minmax is None else (float(cutmix_minmax[0]), float(cutmix_minmax[1]))
        self.prob = prob
        self.switch_prob = switch_prob
        self.label_smoothing = label_smoothing
        self.num_classes = num_classes
        self.mode = mode
        self.last_lam: float = 1.0
        self.last_box: Box | None = None
        self.last_lams = torch.ones(0)
        self.last_boxes: list[Box | None] = []

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

    def _draw_view(self, height: int, width: int, generator: torch.Generator | None) -> tuple[float, Box | None]:
        """One (lam, box) draw; ``lam`` is exact for the box (its clipped area), box None means a blend."""
        lam, use_cutmix = self._draw(generator)
        if lam >= 1.0 or not use_cutmix:
            return lam, None
        if self.cutmix_minmax is not None:
            box = cutmix_box_minmax(height, width, self.cutmix_minmax, generator)
        else:
            box = cutmix_box(height, width, lam, generator)
        y0, y1, x0, x1 = box
        return 1.0 - (y1 - y0) * (x1 - x0) / float(height * width), box

    def _draws(self, batch: int, height: int, width: int, g: torch.Generator | None) -> list[tuple[float, Box | None]]:
        """One draw per clip, shared as the mode says (clip ``i`` and its mirror ``B-1-i`` share in pair mode)."""
        if self.mode == "batch":
            return [self._draw_view(height, width, g)] * batch
        if self.mode == "elem":
            return [self._draw_view(height, width, g) for _ in range(batch)]
        half = [self._draw_view(height, width, g) for _ in range(batch // 2)]
        middle: list[tuple[float, Box | None]] = [(1.0, None)] * (batch % 2)
        return half + middle + half[::-1]

    def __call__(
        self, x: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 5:
            raise ValueError(f"expected x laid out (B, T, C, H, W), got shape {tuple(x.shape)}")
        if target.shape != (x.shape[0],):
            raise ValueError(f"target must be (B,) = ({x.shape[0]},), got {tuple(target.shape)}")
        b, (h, w) = x.shape[0], x.shape[-2:]
        draws = self._draws(b, h, w, generator)
        mirror = x.flip(0)  # clip i's partner is B-1-i, in its original (unmixed) state
        if self.mode == "batch":
            lam, box = draws[0]
            if box is not None:
                y0, y1, x0, x1 = box
                x = x.clone()
                # one (y0:y1, x0:x1) box for every frame: slices over (B, T, C, H, W)
                x[..., y0:y1, x0:x1] = mirror[..., y0:y1, x0:x1]
            elif lam < 1.0:
                x = x * lam + mirror * (1.0 - lam)
        else:
            x = x.clone()
            for i, (lam, box) in enumerate(draws):
                if box is not None:
                    y0, y1, x0, x1 = box
                    x[i, ..., y0:y1, x0:x1] = mirror[i, ..., y0:y1, x0:x1]  # (T, C, h, w) box of clip i
                elif lam < 1.0:
                    x[i] = x[i] * lam + mirror[i] * (1.0 - lam)
        lams = torch.tensor([lam for lam, _ in draws], dtype=torch.float32, device=target.device)
        self.last_lams, self.last_boxes = lams, [box for _, box in draws]
        self.last_lam, self.last_box = draws[0] if draws else (1.0, None)
        y1h = one_hot_smooth(target, self.num_classes, self.label_smoothing)
        weight = lams.unsqueeze(1)  # (B, 1) broadcasts over classes
        soft = y1h * weight + y1h.flip(0) * (1.0 - weight)
        return x, soft
