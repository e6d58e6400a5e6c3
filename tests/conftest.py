"""Shared fixtures. ``../shared`` (spec, reference fixtures, official configs) sits beside the checkout; tests that
need it skip with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("VIDEOFOCALNET_SHARED", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"../shared not found at {SHARED_DIR} (set VIDEOFOCALNET_SHARED to point elsewhere)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    path = shared_dir / "reference"
    if not path.is_dir():
        pytest.skip(f"reference fixtures not found at {path}")
    return path


@pytest.fixture(scope="session")
def official_dir(shared_dir: Path) -> Path:
    path = shared_dir / "official"
    if not path.is_dir():
        pytest.skip(f"official configs/labels not found at {path}")
    return path


@pytest.fixture
def one_torch_thread():
    """Tiny models spend their time in thread synchronisation when the 2 cores are shared with other work
    (6 s instead of 20 ms a step): run in-process training tests on one thread, as the subprocesses do."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield
