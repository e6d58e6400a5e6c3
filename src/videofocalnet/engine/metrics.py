"""Evaluation metrics computed from a score matrix: accuracy inside time-reversal pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from videofocalnet.data.synthetic.classes import REVERSAL_PAIRS
from videofocalnet.data.transforms import reversal_label_map


def pair_accuracy(scores: Any, labels: Any, pairs: Sequence[Sequence[int]] = REVERSAL_PAIRS) -> float:
    """Fraction of samples from paired classes whose true class scores strictly above its time-reversed partner.

    This is the number that says whether a model uses time order: a frame-bag model is at 50 % here no matter how
    good its top-1 is on the other classes. Returns nan when no sample belongs to a pair.
    """
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores must be (N, C) with N = len(labels); got {scores.shape} and {labels.shape}")
    num_classes = scores.shape[1]
    partner = reversal_label_map(pairs, num_classes)  # validates the pairs; unpaired classes map to themselves
    keep = np.array([0 <= label < num_classes and partner[label] != label for label in labels], dtype=bool)
    if not keep.any():
        return float("nan")
    rows = np.nonzero(keep)[0]
    own = scores[rows, labels[rows]]
    other = scores[rows, [partner[label] for label in labels[rows]]]
    return float(np.mean(own > other))
