"""Parameter and FLOP counts, built on ``torch.utils.flop_counter``.

Conventions (``../shared/spec/recipe.md``): the field's "GFLOPs" are multiply-accumulates of convolutions and matrix
products, as fvcore/thop count them; ``FlopCounterMode`` counts 2 FLOPs per MAC, so ``macs = flops / 2``. Only
convolution and matmul ops are counted (the counter's registry: convolution, mm, addmm, bmm, ...); elementwise work
(GELU, gating products, means) is not. fvcore also counts LayerNorm as 5 ops per element; that share is reported
separately as ``layernorm_macs`` (0.138 G for T) so ``fvcore_gmacs`` reproduces the published 63.14 / 124.54 /
220.93, while ``gmacs`` is the pure conv + matmul figure (63.00 for T, 0.22% below fvcore).

Counting runs on the meta device: no memory is allocated and no arithmetic is done, so the base model takes
seconds. The model's 1x1 ``h``, kernel-1 ``h_temporal`` (applied as ``F.linear``) and dense temporal Conv1d (applied
as a (k, 1) Conv2d) all reach the counter as addmm / mm / convolution ops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["FlopReport", "count_flops", "count_params", "model_flops"]

_LN_OPS_PER_ELEMENT = 5  # fvcore's norm_flop_counter with affine parameters


def count_params(model: nn.Module) -> int:
    """All parameters (trainable or not), counted once even if shared."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


@dataclass
class FlopReport:
    params: int
    macs: int  # conv + matmul multiply-accumulates
    flops: int  # = 2 * macs, torch.utils.flop_counter's convention
    layernorm_macs: int  # what fvcore adds for LayerNorm (5 per element)
    num_frames: int
    img_size: int
    batch_size: int
    by_op: dict[str, int] = field(default_factory=dict)  # MACs per aten op
    by_module: dict[str, int] = field(default_factory=dict)  # MACs per top-level module (stem, stages, head)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def gflops(self) -> float:
        return self.flops / 1e9

    @property
    def fvcore_gmacs(self) -> float:
        """conv + matmul + LayerNorm, the number fvcore (and the paper) report."""
        return (self.macs + self.layernorm_macs) / 1e9

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(gmacs=self.gmacs, gflops=self.gflops, fvcore_gmacs=self.fvcore_gmacs)
        return out


def _layer_norm_flops(
    input_shape, normalized_shape, weight_shape=None, bias_shape=None, *args, out_shape=None, **kwargs
) -> int:
    """native_layer_norm: fvcore's 5 ops per element with an affine transform (4 without), doubled so that the
    counter's flops/2 convention yields fvcore's units."""
    per_element = _LN_OPS_PER_ELEMENT if weight_shape is not None else 4
    return 2 * per_element * math.prod(input_shape)


def _top_module(name: str) -> str | None:
    """'VideoFocalNet.layers.2.blocks.0.mlp' -> 'layers.2'; 'VideoFocalNet.patch_embed' -> 'patch_embed'."""
    parts = name.split(".")
    if len(parts) < 2:
        return None
    if parts[1] == "layers":
        return ".".join(parts[1:3]) if len(parts) == 3 else None
    return parts[1] if len(parts) == 2 else None


def count_flops(
    model: nn.Module, *, num_frames: int = 8, img_size: int = 224, batch_size: int = 1, in_chans: int | None = None
) -> FlopReport:
    """Count MACs of one forward pass of a (B, T, 3, H, W) clip. Runs on the model's device (use meta for speed)."""
    param = next(model.parameters())
    in_chans = in_chans if in_chans is not None else getattr(model, "in_chans", 3)
    x = torch.empty(batch_size, num_frames, in_chans, img_size, img_size, device=param.device, dtype=param.dtype)
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.native_layer_norm: _layer_norm_flops})
    was_training = model.training
    model.eval()
    try:
        # Under the counter (a dispatch mode) even an optimize_for_inference'd model runs the plain, countable ops.
        with counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    counts = counter.get_flop_counts()
    by_op_flops = {str(op): int(n) for op, n in counts.get("Global", {}).items()}
    ln_flops = sum(n for op, n in by_op_flops.items() if "layer_norm" in op)
    flops = sum(by_op_flops.values()) - ln_flops
    by_module: dict[str, int] = {}
    for mod_name, ops in counts.items():
        top = _top_module(mod_name)
        if top is not None:
            by_module[top] = sum(int(n) for op, n in ops.items() if "layer_norm" not in str(op)) // 2
    return FlopReport(
        params=count_params(model),
        macs=flops // 2,
        flops=flops,
        layernorm_macs=ln_flops // 2,
        num_frames=num_frames,
        img_size=img_size,
        batch_size=batch_size,
        by_op={op: n // 2 for op, n in by_op_flops.items() if "layer_norm" not in op},
        by_module=by_module,
    )


def model_flops(
    name: str, *, num_frames: int = 8, img_size: int = 224, batch_size: int = 1, **overrides: Any
) -> FlopReport:
    """Build a registered model on the meta device (no memory) and count it."""
    from videofocalnet.models.registry import create_model

    overrides.setdefault("num_frames", num_frames)
    overrides.setdefault("img_size", img_size)
    with torch.device("meta"):
        model = create_model(name, **overrides)
    return count_flops(model, num_frames=num_frames, img_size=img_size, batch_size=batch_size)
