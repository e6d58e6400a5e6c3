"""Evaluation metrics: accuracy inside time-reversal pairs on hand-made score matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from videofocalnet.engine.metrics import pair_accuracy


def test_pair_accuracy_exact_cases():
    pairs = ((0, 1), (2, 3))
    scores = np.array(
        [
            [2.0, 1.0, 0.0, 0.0, 9.0],  # label 0 beats its partner 1 (class 4 wins top-1, irrelevant here)
            [2.0, 1.0, 0.0, 0.0, 0.0],  # label 1 loses to 0
            [0.0, 0.0, 1.0, 1.0, 0.0],  # tie counts as wrong
            [0.0, 0.0, 0.0, 5.0, 0.0],  # label 3 beats 2
            [0.0, 0.0, 0.0, 0.0, 1.0],  # label 4 has no partner: ignored
        ]
    )
    labels = np.array([0, 1, 2, 3, 4])
    assert pair_accuracy(scores, labels, pairs) == pytest.approx(0.5)
    assert pair_accuracy(torch.tensor(scores, requires_grad=True), torch.tensor(labels), pairs) == pytest.approx(0.5)
    assert math.isnan(pair_accuracy(scores[4:], labels[4:], pairs))
    with pytest.raises(ValueError, match="outside"):
        pair_accuracy(scores, labels, ((0, 7),))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        pair_accuracy(scores[:, 0], labels, pairs)
