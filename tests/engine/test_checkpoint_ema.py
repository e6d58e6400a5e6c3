"""Atomic writes, weights_only-readable training state, RNG round trips, EMA (weights files: tests/test_weights.py)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from videofocalnet.atomic import atomic_write
from videofocalnet.engine.checkpoint import (
    capture_rng_state,
    load_training_state,
    restore_rng_state,
    save_training_state,
)
from videofocalnet.engine.ema import ModelEMA


def test_atomic_write_keeps_old_file_when_writer_dies(tmp_path):
    target = tmp_path / "last.pt"
    save_training_state(target, {"model": {"w": torch.ones(3)}})

    def broken(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert torch.equal(load_training_state(target)["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_training_state_is_weights_only_and_restores_rng(tmp_path):
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    random.random(), np.random.rand(), torch.rand(1), np.random.randn()  # leave a cached gaussian around
    rng = capture_rng_state()
    expected = (random.random(), np.random.randn(3).tolist(), torch.rand(3).tolist(), random.gauss(0, 1))
    save_training_state(
        tmp_path / "s.pt",
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "rng": [rng],
            "progress": {"epoch": 1, "global_step": 7},
        },
    )
    # the file holds no pickled objects: torch.load with weights_only=True must accept it
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    restore_rng_state(state["rng"][0])
    again = (random.random(), np.random.randn(3).tolist(), torch.rand(3).tolist(), random.gauss(0, 1))
    assert again == expected
    opt2 = torch.optim.SGD(torch.nn.Linear(4, 2).parameters(), lr=0.1, momentum=0.9, nesterov=True)
    opt2.load_state_dict(state["optimizer"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"]
    )


def test_load_training_state_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not a resumable last.pt"):
        load_training_state(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_training_state(tmp_path / "missing.pt")


def test_ema_update_formula_and_state():
    model = torch.nn.Linear(2, 2)
    ema = ModelEMA(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert torch.allclose(ema.module.weight, 0.9 * start + 0.1 * (start + 1.0))
    assert not ema.module.weight.requires_grad
    other = ModelEMA(model, decay=0.9)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.module.weight, ema.module.weight)
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(model, decay=1.0)
