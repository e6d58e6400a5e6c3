"""TRAIN.PRECISION auto: bf16 where the hardware computes it, fp32 elsewhere, resolved where it is used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from videofocalnet.engine.config import load_config
from videofocalnet.engine.precision import (
    autocast_context,
    check_precision,
    eval_precision,
    native_bf16,
    resolve_precision,
)

CPU = torch.device("cpu")


def _cpu_flags() -> set[str] | None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return None
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return None


def test_native_bf16_matches_the_cpu_flags():
    flags = _cpu_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags line on this system to compare with")
    assert native_bf16(CPU) == bool({"avx512_bf16", "amx_bf16"} & flags)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_explicit_precisions_pass_through(precision):
    assert resolve_precision(precision, CPU) == precision


def test_auto_is_bf16_exactly_where_the_cpu_has_it():
    expected = "bf16" if native_bf16(CPU) else "fp32"
    assert resolve_precision("auto", CPU) == expected
    assert eval_precision("auto", CPU) == expected
    check_precision("auto", CPU)  # a valid setting on every device
    with autocast_context("auto", CPU):
        out = F.linear(torch.randn(2, 4), torch.randn(3, 4))
    assert out.dtype == (torch.bfloat16 if expected == "bf16" else torch.float32)


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"), [(True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")]
)
def test_auto_follows_the_cpu_probes(monkeypatch, avx512_bf16, amx, expected):
    """Both answers on any CI CPU: the probes are what a CPU without (or with) the instructions reports."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert resolve_precision("auto", CPU) == expected
    assert eval_precision("auto", CPU) == expected


def test_auto_is_fp32_where_torch_has_no_cpu_probes(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert resolve_precision("auto", CPU) == "fp32"


@pytest.mark.parametrize(
    ("capability", "expected"), [((7, 0), "fp32"), ((7, 5), "fp32"), ((8, 0), "bf16"), ((9, 0), "bf16")]
)
def test_auto_on_nvidia_gpus_takes_bf16_from_ampere_on(monkeypatch, capability, expected):
    """V100 (7.0) and T4 (7.5) emulate bf16, which ``torch.cuda.is_bf16_supported()`` counts as support."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_precision("auto", torch.device("cuda", 0)) == expected


def test_auto_without_cuda_is_fp32():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert resolve_precision("auto", torch.device("cuda")) == "fp32"


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="fp32, bf16, fp16, auto, got 'fp64'"):
        check_precision("fp64", CPU)


def test_a_run_with_auto_records_what_it_resolved_to(write_tiny_config, tmp_path):
    from videofocalnet.engine.train import train

    opts = ["TRAIN.PRECISION", "auto", "TRAIN.EPOCHS", "1", "TRAIN.WARMUP_EPOCHS", "0", "DATA.BATCH_SIZE", "6"]
    cfg = load_config(write_tiny_config(), opts)
    train(cfg, output=tmp_path / "run", progress=False)
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["precision"] == resolve_precision("auto", CPU)
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "PRECISION: auto" in saved  # the setting, not this machine's answer: a resume elsewhere resolves again
