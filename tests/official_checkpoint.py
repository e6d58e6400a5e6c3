"""Released Video-FocalNet checkpoints written the way the official code writes them, for the weight tests.

``official_config`` builds a real yacs ``CfgNode`` with the official schema and defaults (transcribed from the
official ``config.py``: every key, at its official default) and merges an official YAML and ``--opts`` into it as
the official ``update_config`` does. ``save_released`` then writes what the official ``save_checkpoint`` writes:
``{'model', 'optimizer', 'lr_scheduler', 'max_accuracy', 'epoch', 'config'}`` plus ``'amp'`` (apex).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

_DEFAULTS = {
    "BASE": [""],
    "DATA": {
        "ROOT": "/PATH/TO/videos", "TRAIN_FILE": "/PATH/TO/train.txt", "VAL_FILE": "/PATH/TO/val.txt",
        "NUM_FRAMES": 32, "NUM_CLASSES": 101, "LABEL_LIST": "labels/ucf_101_labels.csv", "BATCH_SIZE": 128,
        "DATA_PATH": "", "DATASET": "imagenet", "IMG_SIZE": 224, "INPUT_SIZE": 224, "INTERPOLATION": "bicubic",
        "ZIP_MODE": False, "CACHE_MODE": "part", "PIN_MEMORY": True, "NUM_WORKERS": 8,
    },
    "MODEL": {
        "TYPE": "focal", "NAME": "", "RESUME": "", "NUM_CLASSES": 1000, "DROP_RATE": 0.0, "DROP_PATH_RATE": 0.1,
        "LABEL_SMOOTHING": 0.1, "PRETRAINED": False, "SPEC": {},
        "FOCAL": {
            "PATCH_SIZE": 4, "IN_CHANS": 3, "EMBED_DIM": 96, "DEPTHS": [2, 2, 6, 2], "MLP_RATIO": 4.0,
            "PATCH_NORM": True, "FOCAL_LEVELS": [2, 2, 2, 2], "FOCAL_WINDOWS": [3, 3, 3, 3],
            "FOCAL_FACTORS": [2, 2, 2, 2], "USE_CONV_EMBED": False, "USE_LAYERSCALE": False, "USE_POSTLN": False,
            "USE_POSTLN_IN_MODULATION": False, "NORMALIZE_MODULATOR": False,
        },
        "TUBELET_SIZE": 1,
    },
    "TRAIN": {
        "START_EPOCH": 0, "EPOCHS": 300, "WARMUP_EPOCHS": 20, "WEIGHT_DECAY": 0.05, "BASE_LR": 5e-4,
        "WARMUP_LR": 5e-7, "MIN_LR": 5e-6, "CLIP_GRAD": 5.0, "AUTO_RESUME": True, "ACCUMULATION_STEPS": 0,
        "USE_CHECKPOINT": False,
        "LR_SCHEDULER": {"NAME": "cosine", "DECAY_EPOCHS": 30, "DECAY_RATE": 0.1},
        "OPTIMIZER": {"NAME": "adamw", "EPS": 1e-8, "BETAS": (0.9, 0.999), "MOMENTUM": 0.9},
        "PRETRAINED_PATH": "",
    },
    "AUG": {
        "COLOR_JITTER": 0.4, "AUTO_AUGMENT": "rand-m9-mstd0.5-inc1", "REPROB": 0.25, "REMODE": "pixel", "RECOUNT": 1,
        "MIXUP": 0.8, "CUTMIX": 1.0, "CUTMIX_MINMAX": None, "MIXUP_PROB": 1.0, "MIXUP_SWITCH_PROB": 0.5,
        "MIXUP_MODE": "batch", "GRAY_SCALE": 0.2, "FLIP_RATIO": 0.5, "FRAME_INTERVAL": 2, "LABEL_SMOOTH": 0.1,
    },
    "TEST": {"CROP": True, "NUM_CLIP": 1, "NUM_CROP": 1, "ONLY_TEST": False},
    "AMP_OPT_LEVEL": "", "OUTPUT": "", "TAG": "default", "SAVE_FREQ": 1, "PRINT_FREQ": 100, "SEED": 0,
    "EVAL_MODE": False, "THROUGHPUT_MODE": False, "DEBUG_MODE": False, "LOCAL_RANK": 0,
}  # fmt: skip


def official_config(yaml_path: Path | None = None, opts: list[str] | None = None):
    """A frozen yacs CfgNode as the official ``get_config`` returns it (run-name and output as it sets them)."""
    from yacs.config import CfgNode

    def node(d: dict) -> CfgNode:
        out = CfgNode(new_allowed=False)
        for key, value in d.items():
            out[key] = node(value) if isinstance(value, dict) else value
        return out

    cfg = node(_DEFAULTS)
    cfg.MODEL.SPEC = CfgNode(new_allowed=True)
    if yaml_path is not None:
        cfg.merge_from_file(str(yaml_path))
    if opts:
        cfg.merge_from_list(opts)
    cfg.LOCAL_RANK = 0
    cfg.TAG = (
        f"LR_{cfg.TRAIN.BASE_LR}_EP_{cfg.TRAIN.EPOCHS}_OPT_{cfg.TRAIN.OPTIMIZER.NAME}_FRAMES_{cfg.DATA.NUM_FRAMES}"
    )
    cfg.OUTPUT = str(Path(cfg.OUTPUT) / cfg.DATA.DATASET / cfg.MODEL.NAME / cfg.TAG)
    cfg.freeze()
    return cfg


def save_released(path: Path, model: nn.Module, cfg, *, epoch: int = 119, max_accuracy: float = 79.8) -> Path:
    """What the official ``save_checkpoint`` writes (SGD state after one step, a timm scheduler state, apex amp)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": {"t_initial": 120, "lr_min": 1e-3, "warmup_t": 20, "t_in_epochs": False},
        "max_accuracy": max_accuracy,
        "epoch": epoch,
        "config": cfg,
        "amp": {"loss_scaler0": {"loss_scale": 65536.0, "unskipped": 0}},
    }
    torch.save(state, path)
    return path
