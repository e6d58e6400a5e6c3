"""Config -> model, datasets, loaders and mixup. The only place that maps config keys onto constructor keywords."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from torch import nn

from videofocalnet.data.preprocess import PreprocessConfig
from videofocalnet.engine.config import Config, ConfigError

if TYPE_CHECKING:  # the data package is imported where it is used, so that importing this module stays light
    from videofocalnet.data.loader import ClassBalancedSampler
    from videofocalnet.data.sampling import SamplingMode

__all__ = [
    "resolve_model_name",
    "model_kwargs",
    "build_model",
    "num_classes_from_label_list",
    "parse_auto_augment",
    "train_transform",
    "eval_transform",
    "build_train_dataset",
    "build_eval_dataset",
    "build_mixup",
    "train_short_side",
    "eval_preprocess",
    "class_names",
]

# official config key -> constructor keyword (None-valued keys mean "the registered architecture's value")
_FOCAL_KEYS = {
    "PATCH_SIZE": "patch_size",
    "IN_CHANS": "in_chans",
    "EMBED_DIM": "embed_dim",
    "DEPTHS": "depths",
    "MLP_RATIO": "mlp_ratio",
    "PATCH_NORM": "patch_norm",
    "FOCAL_LEVELS": "focal_levels",
    "FOCAL_WINDOWS": "focal_windows",
    "USE_CONV_EMBED": "use_conv_embed",
    "USE_LAYERSCALE": "use_layerscale",
    "LAYERSCALE_VALUE": "layerscale_value",
    "USE_POSTLN": "use_postln",
    "USE_POSTLN_IN_MODULATION": "use_postln_in_modulation",
    "NORMALIZE_MODULATOR": "normalize_modulator",
}


@runtime_checkable
class _GradCheckpointing(Protocol):
    """A model that can trade compute for memory (every registered one: VideoFocalNet has the method)."""

    def set_grad_checkpointing(self, enable: bool = True) -> None: ...


def _pair(values: Sequence[float]) -> tuple[float, float]:
    """A config list as the ``(lo, hi)`` a transform keyword takes (the transforms read only those two values)."""
    return (values[0], values[1])


def _rgb(values: Sequence[float]) -> tuple[float, float, float]:
    """DATA.MEAN / DATA.STD (3 values: Config.validate checks) as the transforms' per-channel tuple."""
    return (values[0], values[1], values[2])


def _sampling(cfg: Config) -> SamplingMode:
    """DATA.SAMPLING as the dataset's Literal: Config.validate has already checked it is one of SAMPLING_MODES."""
    return cast("SamplingMode", cfg.DATA.SAMPLING)


def resolve_model_name(model_type: str) -> str:
    """Official ``MODEL.TYPE`` values (``videofocalnet_tiny``, ``video-focalnet_tiny``) or registered names."""
    from videofocalnet.models import is_model, list_models

    if is_model(model_type):
        return model_type
    normalised = model_type.strip().lower().replace("-", "_")
    normalised = re.sub(r"^videofocalnet", "video_focalnet", normalised)
    if is_model(normalised):
        return normalised
    import difflib

    close = difflib.get_close_matches(normalised, list_models(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"MODEL.TYPE {model_type!r} is not a registered model{hint} (registered: {', '.join(list_models())})"
    )


def model_kwargs(cfg: Config) -> dict[str, Any]:
    """Constructor keywords taken from the config (the rest come from the registered factory)."""
    kwargs: dict[str, Any] = {
        "img_size": cfg.DATA.INPUT_SIZE,
        "num_classes": cfg.MODEL.NUM_CLASSES,
        "drop_rate": cfg.MODEL.DROP_RATE,
        "drop_path_rate": cfg.MODEL.DROP_PATH_RATE,
        "drop_path_mode": cfg.MODEL.DROP_PATH_MODE,
        "num_frames": cfg.DATA.NUM_FRAMES,
        "tubelet_size": cfg.MODEL.TUBELET_SIZE,
        "use_checkpoint": cfg.TRAIN.USE_CHECKPOINT,
    }
    if cfg.MODEL.VARIANT != "parallel":
        kwargs["modulation"] = cfg.MODEL.VARIANT
    if cfg.MODEL.INIT != "official":
        kwargs["init_mode"] = cfg.MODEL.INIT
    for key, kw in _FOCAL_KEYS.items():
        value = getattr(cfg.MODEL.FOCAL, key)
        if value is not None:
            kwargs[kw] = list(value) if isinstance(value, list) else value
    return kwargs


def num_classes_from_label_list(cfg: Config) -> Config:
    """With neither DATA.NUM_CLASSES nor MODEL.NUM_CLASSES set, take the class count (and so the head's size) from
    DATA.LABEL_LIST when it is readable: a fine-tuning config then needs only the label list of the new data."""
    if cfg.MODEL.NUM_CLASSES > 0 or not cfg.DATA.LABEL_LIST or not Path(cfg.DATA.LABEL_LIST).is_file():
        return cfg
    from videofocalnet.data.annotations import read_label_list

    cfg.MODEL.NUM_CLASSES = cfg.DATA.NUM_CLASSES = len(read_label_list(cfg.DATA.LABEL_LIST))
    return cfg


def build_model(cfg: Config) -> nn.Module:
    from videofocalnet.models import create_model

    if cfg.MODEL.NUM_CLASSES < 1:
        raise ConfigError(
            "set DATA.NUM_CLASSES (or MODEL.NUM_CLASSES) to the number of classes, or DATA.LABEL_LIST to a readable "
            "label list"
        )
    model = create_model(resolve_model_name(cfg.MODEL.TYPE), **model_kwargs(cfg))
    if cfg.TRAIN.USE_CHECKPOINT:  # the official flag never reached the model; here it does
        if not isinstance(model, _GradCheckpointing):
            raise ConfigError(f"TRAIN.USE_CHECKPOINT: {type(model).__name__} has no set_grad_checkpointing")
        model.set_grad_checkpointing(True)
    return model


def parse_auto_augment(spec: str) -> tuple[int, float, float] | None:
    """AUG.AUTO_AUGMENT (timm-style ``rand-m9-n2-mstd0.5-inc1``) -> (num_ops, magnitude, magnitude_std); ``none``
    -> None. Config.validate has checked it with the same parser; a ConfigError here means it was skipped."""
    from videofocalnet.data.transforms import parse_rand_augment

    try:
        return parse_rand_augment(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def train_short_side(cfg: Config) -> int:
    return cfg.DATA.SHORT_SIDE or int(256 / 224 * cfg.DATA.INPUT_SIZE)


def eval_preprocess(cfg: Config) -> PreprocessConfig:
    """The test-time preprocessing of this config: what validation, ``videofocalnet eval`` and every exported
    checkpoint use, so that ``predict`` and ``VideoClassifier`` see exactly what evaluation saw."""
    return PreprocessConfig(
        num_frames=cfg.DATA.NUM_FRAMES,
        input_size=cfg.DATA.INPUT_SIZE,
        short_side=cfg.TEST.SHORT_SIDE or None,  # None: the official rule by crop count
        mean=_rgb(cfg.DATA.MEAN),
        std=_rgb(cfg.DATA.STD),
        sampling=cfg.DATA.SAMPLING,
        frame_interval=cfg.AUG.FRAME_INTERVAL,
        tubelet_size=cfg.MODEL.TUBELET_SIZE,
    )


def train_transform(cfg: Config):
    from videofocalnet.data.transforms import TrainTransform

    aug = cfg.AUG
    return TrainTransform(
        short_side=train_short_side(cfg),
        scale=_pair(aug.SCALE),
        ratio=_pair(aug.RATIO),
        size=cfg.DATA.INPUT_SIZE,
        flip_prob=aug.FLIP_RATIO,
        color_jitter_prob=aug.COLOR_JITTER,
        color_jitter=(aug.BRIGHTNESS, aug.CONTRAST, aug.SATURATION, aug.HUE),
        grayscale_prob=aug.GRAY_SCALE,
        randaugment=parse_auto_augment(aug.AUTO_AUGMENT),
        erasing_prob=aug.REPROB,
        erasing_mode=aug.REMODE,
        erasing_count=aug.RECOUNT,
        mean=_rgb(cfg.DATA.MEAN),
        std=_rgb(cfg.DATA.STD),
    )


def class_names(cfg: Config, *, config_path: str | None = None) -> list[str] | None:
    """The names of the config's classes: DATA.LABEL_LIST when readable (relative to the working directory, then to
    the config file) and of the right length, else the shipped names of a published dataset that DATA.DATASET or
    DATA.LABEL_LIST names with that many classes; None when unknown."""
    from videofocalnet.data import label_sets
    from videofocalnet.data.annotations import read_label_list

    path = cfg.DATA.LABEL_LIST
    candidates = [Path(path)] if path else []
    if path and config_path:
        candidates.append(Path(config_path).parent / path)
    for cand in candidates:
        if cand.is_file():
            names = read_label_list(cand)
            if len(names) == cfg.MODEL.NUM_CLASSES:
                return list(names)
    shipped = label_sets.find_label_set(
        dataset=cfg.DATA.DATASET, label_list=cfg.DATA.LABEL_LIST, num_classes=cfg.MODEL.NUM_CLASSES
    )
    return label_sets.class_names(shipped) if shipped else None


def eval_transform(cfg: Config, num_crops: int):
    return eval_preprocess(cfg).eval_transform(num_crops)


def _require_file(path: str, key: str) -> str:
    if not path:
        raise ConfigError(f"{key} is empty: set it in the config or with --opts {key} PATH")
    if Path(path).is_dir():
        raise ConfigError(f"{key}: {path} is a folder; give the annotation list file inside it")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{key}: list file not found: {path}")
    return path


def build_train_dataset(cfg: Config):
    from videofocalnet.data.dataset import VideoDataset
    from videofocalnet.data.transforms import reversal_label_map

    return VideoDataset(
        list_file=_require_file(cfg.DATA.TRAIN_FILE, "DATA.TRAIN_FILE"),
        root=cfg.DATA.ROOT,
        num_frames=cfg.DATA.NUM_FRAMES,
        mode="train",
        sampling=_sampling(cfg),
        frame_interval=cfg.AUG.FRAME_INTERVAL,
        train_transform=train_transform(cfg),
        seed=cfg.SEED,
        backend=cfg.DATA.BACKEND,
        num_classes=cfg.DATA.NUM_CLASSES,
        reverse_prob=cfg.AUG.REVERSE_PROB,
        # the both-ways sampler reverses every other clip itself, whatever AUG.REVERSE_PROB says
        reverse_label_map=reversal_label_map(cfg.AUG.REVERSE_PAIRS, cfg.DATA.NUM_CLASSES)
        if cfg.AUG.REVERSE_PROB > 0 or cfg.DATA.SAMPLER == "class_balanced_both_ways"
        else None,
        cache_decoded_bytes=cfg.DATA.CACHE_DECODED_MB * 2**20,
    )


def build_train_sampler(cfg: Config, dataset, *, num_replicas: int, rank: int) -> ClassBalancedSampler | None:
    """The training sampler ``DATA.SAMPLER`` names; None means the loader's default shuffling one."""
    if cfg.DATA.SAMPLER == "random":
        return None
    from videofocalnet.data.loader import ClassBalancedSampler

    return ClassBalancedSampler(
        dataset.labels,
        num_classes=cfg.DATA.NUM_CLASSES,
        reverse_label_map=dataset.reverse_label_map,
        reverse_prob=dataset.reverse_prob,
        both_ways=cfg.DATA.SAMPLER == "class_balanced_both_ways",
        num_replicas=num_replicas,
        rank=rank,
        seed=cfg.SEED,
    )


def build_eval_dataset(cfg: Config, list_file: str, *, num_clips: int, num_crops: int, key: str = "DATA.VAL_FILE"):
    """Single view -> mode 'val' (segment centres); several views -> mode 'test' with (V, T, C, H, W) items."""
    from videofocalnet.data.dataset import VideoDataset

    multi = num_clips * num_crops > 1
    return VideoDataset(
        list_file=_require_file(list_file, key),
        root=cfg.DATA.ROOT,
        num_frames=cfg.DATA.NUM_FRAMES,
        mode="test" if multi else "val",
        sampling=_sampling(cfg),
        frame_interval=cfg.AUG.FRAME_INTERVAL,
        num_clips=num_clips,
        num_crops=num_crops,
        eval_transform=eval_transform(cfg, num_crops),
        seed=cfg.SEED,
        backend=cfg.DATA.BACKEND,
        num_classes=cfg.DATA.NUM_CLASSES,
    )


def build_mixup(cfg: Config):
    """Mixup/cutmix with label smoothing folded into the targets, or None when both alphas are 0 and no
    AUG.CUTMIX_MINMAX is set (a box-size range switches CutMix on, as in timm)."""
    aug = cfg.AUG
    if aug.MIXUP <= 0 and aug.CUTMIX <= 0 and aug.CUTMIX_MINMAX is None:
        return None
    from videofocalnet.data.mixup import Mixup

    return Mixup(
        mixup_alpha=aug.MIXUP,
        cutmix_alpha=aug.CUTMIX,
        prob=aug.MIXUP_PROB,
        switch_prob=aug.MIXUP_SWITCH_PROB,
        label_smoothing=aug.LABEL_SMOOTH,
        num_classes=cfg.MODEL.NUM_CLASSES,
        cutmix_minmax=None if aug.CUTMIX_MINMAX is None else _pair(aug.CUTMIX_MINMAX),
        mode=aug.MIXUP_MODE,
    )
