"""Training losses. Mixup/cutmix produce soft targets with label smoothing already folded in."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SoftTargetCrossEntropy", "build_criterion"]


class SoftTargetCrossEntropy(nn.Module):
    """Mean over the batch of ``-sum_c target_c * log_softmax(logits)_c``; targets are (B, num_classes) rows."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if logits.shape != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} and soft targets {tuple(target.shape)} differ in shape")
        # float32 log-softmax: bf16/fp16 logits lose the small target mass of label smoothing otherwise
        return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


class _HardTargetCrossEntropy(nn.Module):
    def __init__(self, label_smoothing: float) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.ndim == 2:  # already soft (e.g. mixup with prob < 1 passed through)
            return SoftTargetCrossEntropy()(logits, target)
        return F.cross_entropy(logits.float(), target, label_smoothing=self.label_smoothing)


def build_criterion(*, mixup_active: bool, label_smoothing: float) -> nn.Module:
    """Official choice: soft-target CE when mixup/cutmix is on (smoothing lives in the targets), otherwise CE with
    MODEL.LABEL_SMOOTHING."""
    return SoftTargetCrossEntropy() if mixup_active else _HardTargetCrossEntropy(label_smoothing)
