"""Synthetic checkpoints for the weight tests (tests/models/test_convert.py, test_pretrained.py, tests/test_weights.py).

They are cut from the reference fixture's non-trivial weights (small_t4), so a tensor that lands in the wrong place
changes numbers. The timm layout is written here independently of ``videofocalnet.models.convert``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch
import torch.nn as nn

TEMPORAL = re.compile(r"_temporal")


def reference(reference_dir: Path, name: str):
    """(state dict, constructor kwargs, input, output) of a reference fixture."""
    from safetensors.torch import load_file

    tensors = load_file(str(reference_dir / f"{name}.safetensors"))
    kwargs = json.loads((reference_dir / f"{name}.json").read_text())["constructor_kwargs"]
    x, y = tensors.pop("__input__"), tensors.pop("__output__")
    return tensors, kwargs, x, y


def microsoft_from(video_sd: dict[str, torch.Tensor], num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """An ImageNet FocalNet (Microsoft layout) state dict: the video keys minus the temporal branch, 1000-way head."""
    sd = {k: v.clone() for k, v in video_sd.items() if not TEMPORAL.search(k)}
    dim = sd["head.weight"].shape[1]
    g = torch.Generator().manual_seed(3)
    sd["head.weight"] = torch.randn(num_classes, dim, generator=g)
    sd["head.bias"] = torch.randn(num_classes, generator=g)
    return sd


def timm_from_microsoft(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Written independently of the loader, from timm's focalnet.py: stem.*, downsample moved to the start of the next
    stage, f / proj / mlp as 1x1 convs (4-D weights), head.fc.*."""
    out = {}
    for key, value in sd.items():
        new = key.replace("patch_embed.", "stem.")
        m = re.match(r"layers\.(\d+)\.downsample\.(.*)", key)
        if m:
            new = f"layers.{int(m.group(1)) + 1}.downsample.{m.group(2)}"
        if re.search(r"(modulation\.(f|proj)|mlp\.fc[12])\.weight$", key):
            value = value[:, :, None, None]  # Linear (O, I) -> 1x1 conv (O, I, 1, 1)
        new = re.sub(r"^head\.", "head.fc.", new)
        out[new] = value
    return out


def meta_state(tsv: Path, *, drop_temporal: bool) -> dict[str, torch.Tensor]:
    """A real key set (``official_keys_*.tsv``: key TAB shape) as meta tensors."""
    state = {}
    for line in tsv.read_text().splitlines():
        key, shape = line.split("\t")
        if drop_temporal and TEMPORAL.search(key):
            continue
        state[key] = torch.empty(tuple(int(s) for s in shape.split("x")), device="meta")
    return state


def assert_imagenet_load(model: nn.Module, microsoft: dict[str, torch.Tensor], report) -> None:
    state = model.state_dict()
    for key, value in microsoft.items():
        if not key.startswith("head."):
            assert torch.equal(state[key], value), key
    temporal = [k for k in state if TEMPORAL.search(k)]
    assert sorted(report.reinitialised) == sorted(temporal + ["head.weight", "head.bias"])
    for name, module in model.named_modules():
        if name.endswith("f_temporal"):
            assert abs(module.weight.std().item() - 0.02) < 0.004, name  # trunc-normal(0.02)
            assert torch.count_nonzero(module.bias) == 0, name
        elif re.search(r"(h_temporal|focal_layers_temporal\.\d+\.0)$", name):
            bound = 1 / math.sqrt(module.weight[0].numel())  # kaiming_uniform(a=sqrt(5)), PyTorch's default
            w = module.weight
            assert w.abs().max() <= bound and w.std() > 0.8 * bound / math.sqrt(3), name
    assert model.head.weight.shape == (model.num_classes, model.num_features)
    assert abs(model.head.weight.std().item() - 0.02) < 0.004 and torch.count_nonzero(model.head.bias) == 0


def poison(model: nn.Module) -> None:
    """Fill everything with a sentinel, so a tensor the loader forgets to set stays visible."""
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
