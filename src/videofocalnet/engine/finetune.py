"""Fine-tuning controls: freezing parts of the network and layer-wise learning-rate decay.

Fine-tuning a pretrained video model on a small dataset (UCF-101: 9.5k clips) overfits when every layer moves at
the full rate. The two usual remedies, both config keys here:

* ``TRAIN.FREEZE`` takes parts out of training altogether (``requires_grad`` False, and so absent from the
  optimizer): ``"stem"``, ``"stages:N"`` (the stem and the first N stages, each with its downsample), or
  ``"all_but_head"`` (a linear probe). Frozen parts still run in train mode (dropout and drop path act) unless
  ``TRAIN.FREEZE_NORM_EVAL`` puts their norm layers in eval mode: that matters for BatchNorm (the 3-D CNN
  yardsticks of the design-space benchmark), whose running statistics would otherwise drift on the new data;
  LayerNorm, the only norm of the Video-FocalNets, has no running statistics and computes the same in both modes.
* ``TRAIN.LAYER_DECAY`` scales each layer's rate by ``decay ** (num_layers - layer_id)`` as BEiT and ConvNeXt do
  (stem 0, blocks numbered through the stages, head last at full rate; ``param_layer_ids`` of the model says which
  parameter is which layer). The scale rides on each optimizer group as ``lr_scale`` and the schedule multiplies
  it in, so warm-up and cosine act on every layer alike.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable

from torch import nn

__all__ = ["FREEZE_FORMS", "parse_freeze", "apply_freeze", "frozen_norms_eval", "layer_ids_of"]

FREEZE_FORMS = ('""', '"stem"', '"stages:N"', '"all_but_head"')  # the values TRAIN.FREEZE accepts (docs, errors)
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


@runtime_checkable
class _HasLayerIds(Protocol):
    """A model that numbers its parameters' layers (every registered Video-FocalNet)."""

    def param_layer_ids(self) -> dict[str, int]: ...


def parse_freeze(spec: str) -> tuple[str, int]:
    """TRAIN.FREEZE -> (kind, stages): ("", 0), ("stem", 0), ("stages", N) or ("all_but_head", 0); anything else
    is a ValueError naming the forms."""
    text = spec.strip()
    if text in ("", "stem", "all_but_head"):
        return text, 0
    match = re.fullmatch(r"stages:(\d+)", text)
    if match is None:
        raise ValueError(f"TRAIN.FREEZE must be {', '.join(FREEZE_FORMS)} (N >= 0), got {spec!r}")
    return "stages", int(match.group(1))


def _frozen(name: str, kind: str, stages: int) -> bool:
    if kind == "all_but_head":
        return not name.startswith("head.")
    if name.startswith("patch_embed."):
        return kind in ("stem", "stages")
    match = re.match(r"layers\.(\d+)\.", name)
    return kind == "stages" and match is not None and int(match.group(1)) < stages


def apply_freeze(model: nn.Module, spec: str) -> list[str]:
    """Set ``requires_grad`` False on the parameters TRAIN.FREEZE names; returns their names. Call before the
    optimizer is built (it takes trainable parameters only). The parts are found by the official module names
    (``patch_embed``, ``layers.i``, ``head``), so a model without them is a ValueError rather than a silent no-op."""
    kind, stages = parse_freeze(spec)
    if not kind:
        return []
    names = [name for name, _ in model.named_parameters()]
    num_stages = len({m.group(1) for n in names if (m := re.match(r"layers\.(\d+)\.", n))})
    if kind != "all_but_head" and not any(n.startswith("patch_embed.") for n in names):
        raise ValueError(f"TRAIN.FREEZE {spec!r}: {type(model).__name__} has no patch_embed stem to freeze")
    if kind == "stages" and stages > num_stages:
        raise ValueError(f"TRAIN.FREEZE {spec!r}: the model has {num_stages} stages")
    if kind == "all_but_head" and not any(n.startswith("head.") for n in names):
        raise ValueError(f"TRAIN.FREEZE {spec!r}: {type(model).__name__} has no head, so nothing would train")
    frozen = []
    for name, param in model.named_parameters():
        if _frozen(name, kind, stages):
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def frozen_norms_eval(model: nn.Module) -> list[str]:
    """Put every norm layer whose parameters are all frozen in eval mode (call after ``model.train()``); returns
    their names. BatchNorm then keeps its pretrained running statistics; LayerNorm is unaffected either way."""
    names = []
    for name, module in model.named_modules():
        params = list(module.parameters(recurse=False))
        if isinstance(module, _NORMS) and params and not any(p.requires_grad for p in params):
            module.eval()
            names.append(name)
    return names


def layer_ids_of(model: nn.Module) -> dict[str, int]:
    """The model's parameter -> layer-id map, or a ValueError saying layer decay needs one."""
    if not isinstance(model, _HasLayerIds):
        raise ValueError(
            f"TRAIN.LAYER_DECAY: {type(model).__name__} has no param_layer_ids() numbering its layers; "
            "set TRAIN.LAYER_DECAY 1.0"
        )
    return model.param_layer_ids()
