"""Typed experiment configuration with the official Video-FocalNets key names.

The official repository keeps its settings in a yacs tree (``config.py`` of TalalWasim/Video-FocalNets); its YAML
files must load here unchanged, so every section and key name is the official upper-case one and the defaults
mirror the official ones. Where an official default was never honoured by the released code (RandAugment, random
erasing) the default here is the *effective* official value (off), so that loading an official YAML reproduces what
the official code actually did. Keys that only this project has are marked "ours" in the comments.

Why dataclasses rather than yacs: types are checked when a file or an ``--opts`` override is merged (``1e-4``,
which PyYAML reads as a string, becomes a float; ``[2, 2]`` for an int field is an error naming the key), and an
unknown key is an error that suggests the closest valid key instead of a silent typo.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from videofocalnet.atomic import atomic_write_text

__all__ = [
    "ConfigError",
    "Config",
    "DataConfig",
    "ModelConfig",
    "FocalConfig",
    "TrainConfig",
    "AugConfig",
    "TestConfig",
    "load_config",
    "list_configs",
    "merge_dict",
    "apply_opts",
    "config_to_dict",
    "config_from_dict",
    "config_from_official",
    "save_config",
    "all_keys",
    "get_value",
]


class ConfigError(ValueError):
    """A config file or override names an unknown key or a value of the wrong type."""


# ----------------------------------------------------------------------------------------------------------------------
# Schema
# ----------------------------------------------------------------------------------------------------------------------

AMP_OPT_LEVELS = ("", "O0", "O1", "O2")  # official apex levels; Config.precision reads O1/O2 as fp16


def _choices() -> dict[str, tuple[str, ...]]:
    """Allowed values of the enumerated keys, read from the modules that implement them, so that validation cannot
    drift from what they accept.

    Imported at the first validation, not at the top of this module: they import torch (1-4 s), and ``import
    videofocalnet.engine.config`` stays at 0.07 s for code that only needs the schema (every caller of
    ``load_config`` in this package imports torch next anyway).
    """
    from videofocalnet.data.decode import BACKENDS
    from videofocalnet.data.loader import SAMPLERS
    from videofocalnet.data.mixup import MIXUP_MODES
    from videofocalnet.data.sampling import SAMPLING_MODES
    from videofocalnet.data.transforms import ERASING_MODES
    from videofocalnet.engine.distributed import DEVICES, DIST_BACKENDS
    from videofocalnet.engine.optim import OPTIMIZERS
    from videofocalnet.engine.precision import PRECISIONS
    from videofocalnet.engine.schedule import SCHEDULES
    from videofocalnet.models.design_space import VARIANTS
    from videofocalnet.models.layers import INIT_SCHEMES, DropPathMode

    return {
        "DATA.SAMPLING": SAMPLING_MODES,
        "DATA.SAMPLER": SAMPLERS,
        "DATA.BACKEND": BACKENDS,
        "MODEL.INIT": tuple(INIT_SCHEMES),
        # the factorized design is a network of its own, selected by MODEL.TYPE (e.g. video_focalnet_tiny_factorized)
        "MODEL.VARIANT": tuple(v for v in VARIANTS if v != "factorized"),
        "MODEL.DROP_PATH_MODE": typing.get_args(DropPathMode),
        "TRAIN.OPTIMIZER.NAME": OPTIMIZERS,
        "TRAIN.LR_SCHEDULER.NAME": SCHEDULES,
        "TRAIN.PRECISION": PRECISIONS,
        "AMP_OPT_LEVEL": AMP_OPT_LEVELS,
        "DEVICE": DEVICES,
        "DIST_BACKEND": DIST_BACKENDS,
        "AUG.MIXUP_MODE": MIXUP_MODES,
        "AUG.REMODE": ERASING_MODES,
    }


def _either(names: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"'a', 'b' or 'c'"``, the wording of the validation messages."""
    quoted = [repr(name) for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


@dataclass
class DataConfig:
    ROOT: str = ""  # prefix joined to every path in the list files
    TRAIN_FILE: str = ""  # "<path>,<label>" per line, no header (official format)
    VAL_FILE: str = ""
    TEST_FILE: str = ""  # ours: list used by `videofocalnet eval`; empty -> VAL_FILE
    NUM_FRAMES: int = 32
    NUM_CLASSES: int = 0  # 0 -> MODEL.NUM_CLASSES (official default 101 contradicted MODEL's 1000)
    LABEL_LIST: str = ""  # CSV "id,name" with header; relative paths resolve against the config file's folder too
    BATCH_SIZE: int = 128  # per process (per GPU), as in the official code
    DATA_PATH: str = ""  # official, unused there too: any other value than "" is a ConfigError
    DATASET: str = "imagenet"  # free-form name, used for the run directory and logs
    # official: the size passed to the model. Here the model is built for INPUT_SIZE, so IMG_SIZE must be left at 224
    # or equal INPUT_SIZE (validate() rejects anything else rather than ignore it)
    IMG_SIZE: int = 224
    INPUT_SIZE: int = 224  # crop size fed to the network
    # official, unused by the official video pipeline too (bilinear resize, as here): only "bicubic" loads
    INTERPOLATION: str = "bicubic"
    ZIP_MODE: bool = False  # official, unused there too: only False loads
    CACHE_MODE: str = "part"  # official, unused there too: only "part" loads (see CACHE_DECODED_MB)
    PIN_MEMORY: bool = True
    NUM_WORKERS: int = 8
    # ours
    SAMPLING: str = "tsn"  # "tsn" (official: one frame per segment) or "dense" (FRAME_INTERVAL apart)
    BACKEND: str = "pyav"  # video decoder
    # "random" (shuffled, as the official code) or "class_balanced": every batch holds each class equally often,
    # counted after AUG.REVERSE_PROB time reversal (data.loader.ClassBalancedSampler); for from-scratch training on
    # small class-structured sets, where uniform batches' label-count noise keeps the model at the class prior.
    # "class_balanced_both_ways": the same, and every clip is followed by itself played backwards (needs
    # AUG.REVERSE_PAIRS), so that within a batch only frame order separates the two classes of a pair
    SAMPLER: str = "random"
    SHORT_SIDE: int = 0  # train/val short-side resize; 0 -> int(256 / 224 * INPUT_SIZE) as the official pipeline
    MEAN: list[float] = field(default_factory=lambda: [123.675, 116.28, 103.53])  # 0-255 scale (official)
    STD: list[float] = field(default_factory=lambda: [58.395, 57.12, 57.375])
    MAX_BAD_FRACTION: float = 0.01  # abort when more than this fraction of decoded videos is unreadable
    # Keep whole decoded training videos in memory up to this many MiB per process (each DataLoader worker fills its
    # own): from the second epoch on, clips are indexed instead of decoded. 0 = off. For small datasets on few cores
    # (the demo: 6,600 16-frame 64-px videos are 1.3 GB); the clips are the same as without it.
    CACHE_DECODED_MB: int = 0


@dataclass
class FocalConfig:
    # None means "the registered architecture's value": the official build.py never passes EMBED_DIM/DEPTHS/
    # PATCH_SIZE/MLP_RATIO to the constructor either, so a YAML that sets them to the published values and one that
    # omits them build the same network.
    PATCH_SIZE: int | None = None
    IN_CHANS: int | None = None
    EMBED_DIM: int | None = None
    DEPTHS: list[int] | None = None
    MLP_RATIO: float | None = None
    PATCH_NORM: bool | None = None
    FOCAL_LEVELS: list[int] | None = None
    FOCAL_WINDOWS: list[int] | None = None
    # official, never used by the official model either (its factor is always 2): only [2, 2, 2, 2] loads
    FOCAL_FACTORS: list[int] = field(default_factory=lambda: [2, 2, 2, 2])
    USE_CONV_EMBED: bool | None = None
    USE_LAYERSCALE: bool | None = None
    LAYERSCALE_VALUE: float | None = None  # ours (official hard-codes 1e-4)
    USE_POSTLN: bool | None = None
    USE_POSTLN_IN_MODULATION: bool | None = None
    NORMALIZE_MODULATOR: bool | None = None


@dataclass
class ModelConfig:
    TYPE: str = "videofocalnet_tiny"  # official names (videofocalnet_tiny) or registered ones (video_focalnet_tiny)
    NAME: str = ""  # free-form run name: the run folder output/<DATASET>/<NAME or TYPE>[/<TAG>]
    RESUME: str = ""  # official: checkpoint to resume from (same as --resume)
    NUM_CLASSES: int = 0  # 0 -> DATA.NUM_CLASSES; one of the two must be set
    DROP_RATE: float = 0.0
    DROP_PATH_RATE: float = 0.1
    DROP_PATH_MODE: str = "frame"  # ours: "frame" drops frames independently (official), "video" whole clips
    LABEL_SMOOTHING: float = 0.1  # used only when mixup/cutmix is off (official behaviour)
    PRETRAINED: bool = False  # official, unused there too: True is a ConfigError (use TRAIN.PRETRAINED_PATH)
    SPEC: dict[str, Any] = field(default_factory=dict)  # official free-form node nothing reads: must stay empty
    FOCAL: FocalConfig = field(default_factory=FocalConfig)
    TUBELET_SIZE: int = 1
    # ours: the design-space modulation ("parallel" is the published one; "spatial", "joint", "divided"). The
    # factorized design is a different network: select it by name, e.g. MODEL.TYPE video_focalnet_tiny_factorized.
    VARIANT: str = "parallel"
    INIT: str = "official"  # ours: "official" or "fan_in" (N(0, 1/fan_in): makes the modulation visible from
    # scratch; see videofocalnet.models.layers.init_weights_fan_in). Pretrained weights overwrite either.


@dataclass
class SchedulerConfig:
    NAME: str = "cosine"  # "cosine", "linear" or "step", all per-iteration with linear warm-up
    DECAY_EPOCHS: int = 30  # step schedule only
    DECAY_RATE: float = 0.1  # step schedule only


@dataclass
class OptimizerConfig:
    NAME: str = "adamw"  # "sgd" (official recipe: momentum 0.9, Nesterov) or "adamw"
    EPS: float = 1e-8
    BETAS: list[float] = field(default_factory=lambda: [0.9, 0.999])
    MOMENTUM: float = 0.9
    NESTEROV: bool = True  # ours: the official SGD is always Nesterov
    FUSED: bool = True  # ours: AdamW updates each tensor in one kernel (engine.optim.build_optimizer); SGD ignores it


@dataclass
class EMAConfig:  # ours
    ENABLED: bool = False
    DECAY: float = 0.9998
    EVAL: bool = True  # validate and keep "best" with the EMA weights when enabled


@dataclass
class TrainConfig:
    START_EPOCH: int = 0
    EPOCHS: int = 300
    WARMUP_EPOCHS: int = 20
    WEIGHT_DECAY: float = 0.05
    BASE_LR: float = 5e-4  # for a total batch of 512 when SCALE_LR is on (official linear scaling)
    WARMUP_LR: float = 5e-7
    MIN_LR: float = 5e-6
    CLIP_GRAD: float | None = 5.0  # max global grad norm; 0 or null disables clipping
    AUTO_RESUME: bool = True
    ACCUMULATION_STEPS: int = 0  # 0 and 1 both mean "no accumulation" (official)
    USE_CHECKPOINT: bool = False  # gradient checkpointing (reaches the model here, unlike the official code)
    LR_SCHEDULER: SchedulerConfig = field(default_factory=SchedulerConfig)
    OPTIMIZER: OptimizerConfig = field(default_factory=OptimizerConfig)
    PRETRAINED_PATH: str = ""  # ImageNet FocalNet or Video-FocalNet weights loaded non-strictly, head re-drawn
    # ours
    OFFICIAL_NO_WEIGHT_DECAY_BUG: bool = False  # True reproduces the released code: every parameter in the
    # no-decay group (its keyword list holds '' which matches every name), i.e. effective weight decay 0
    SCALE_LR: bool = True  # multiply BASE/WARMUP/MIN_LR by total batch (batch x world x accumulation) / 512
    PRECISION: str = "fp32"  # "fp32", "bf16" (CPU or GPU autocast), "fp16" (GPU autocast + grad scaler) or "auto"
    # (bf16 where the hardware computes it natively: Ampere-or-newer GPUs, CPUs with AVX512-BF16 or AMX; else fp32)
    EMA: EMAConfig = field(default_factory=EMAConfig)
    CHECKPOINT_EVERY_STEPS: int = 0  # also write the resumable "last" checkpoint every N optimizer steps
    EVAL_FREQ: int = 1  # validate every N epochs (and after the last); 0 disables per-epoch validation
    FINAL_EVAL: bool = True  # multi-view evaluation (TEST.FINAL_NUM_CLIP x FINAL_NUM_CROP) after training
    # ours, fine-tuning (videofocalnet.engine.finetune): layer-wise lr decay, each layer's rate times
    # LAYER_DECAY ** (num_layers - layer_id) (stem 0, blocks through the stages, head last; 1.0 = off, BEiT/ConvNeXt
    # fine-tune with 0.65-0.9); FREEZE: "" (none), "stem", "stages:N" (the stem and the first N stages) or
    # "all_but_head" (linear probe), frozen parameters get no gradient and are not in the optimizer;
    # FREEZE_NORM_EVAL: frozen norm layers stay in eval mode while training (BatchNorm keeps its running statistics;
    # LayerNorm, the Video-FocalNets' only norm, has none, so it changes nothing there)
    LAYER_DECAY: float = 1.0
    FREEZE: str = ""
    FREEZE_NORM_EVAL: bool = False
    # ours, speed (no number changes beyond summation order): FAST_KERNELS: the training kernels of
    # videofocalnet.models.kernels (conv taps that only see padding dropped; on CPU the split depthwise weight
    # gradient) and, on CPU, glibc keeping freed memory for reuse instead of unmapping it (engine/cpu_memory.py);
    # COMPILE: torch.compile the model (the first step compiles; its time is logged as a "compile" record)
    FAST_KERNELS: bool = True
    COMPILE: bool = False


@dataclass
class AugConfig:
    COLOR_JITTER: float = 0.4  # probability of applying colour jitter (official meaning)
    # official default 'rand-m9-mstd0.5-inc1' was never applied; "none" disables. Parts: m (magnitude), n (ops),
    # mstd (magnitude noise), inc1 (accepted: the operations are timm's increasing set); any other part is an error
    AUTO_AUGMENT: str = "none"
    REPROB: float = 0.0  # random erasing probability; the official 0.25 default was never applied
    # random erasing fill as timm's RandomErasing: "const" (zeros = the mean), "rand" (a random colour per box) or
    # "pixel" (per-pixel noise); RECOUNT: up to this many boxes per clip (1 to RECOUNT, uniformly). Implemented here
    # (the released code never erased at all); the box is the same on every frame
    REMODE: str = "pixel"
    RECOUNT: int = 1
    MIXUP: float = 0.8  # mixup alpha, mixup/cutmix enabled if > 0
    CUTMIX: float = 1.0
    # [min, max] CutMix box side as a fraction of the frame's (timm): switches CutMix on with the box size drawn
    # from this range instead of a Beta(CUTMIX) area; implemented here (the released code never passed it on)
    CUTMIX_MINMAX: list[float] | None = None
    MIXUP_PROB: float = 1.0  # NB: the released code ignores this key (every batch is mixed); we honour it
    MIXUP_SWITCH_PROB: float = 0.5
    # timm's modes: one mixup/cutmix draw per "batch", per mirrored "pair" of clips, or per "elem"ent; implemented
    # here (the released code always mixed per batch)
    MIXUP_MODE: str = "batch"
    GRAY_SCALE: float = 0.2
    FLIP_RATIO: float = 0.5
    # ours: time reversal with label swap inside reversal pairs (Something-Something style datasets); classes
    # outside REVERSE_PAIRS keep their label, so use it only where those look the same played backwards
    REVERSE_PROB: float = 0.0
    REVERSE_PAIRS: list[list[int]] = field(default_factory=list)
    FRAME_INTERVAL: int = 2
    LABEL_SMOOTH: float = 0.1  # label smoothing folded into the mixup targets
    # ours: the official pipeline hard-codes these
    BRIGHTNESS: float = 0.4
    CONTRAST: float = 0.4
    SATURATION: float = 0.2
    HUE: float = 0.1
    SCALE: list[float] = field(default_factory=lambda: [0.08, 1.0])  # RandomResizedCrop area range
    RATIO: list[float] = field(default_factory=lambda: [3.0 / 4.0, 4.0 / 3.0])


@dataclass
class TestConfig:
    CROP: bool = True  # official, unused there too (evaluation always crops: NUM_CROP): False is a ConfigError
    NUM_CLIP: int = 1  # views used by per-epoch validation (official: 1 clip x 1 centre crop)
    NUM_CROP: int = 1
    ONLY_TEST: bool = False  # official, unused there too: True is a ConfigError (use `videofocalnet eval`)
    # ours
    FINAL_NUM_CLIP: int = 4  # views of `videofocalnet eval` and of the end-of-training evaluation (official 4x3)
    FINAL_NUM_CROP: int = 3
    BATCH_SIZE: int = 0  # videos per eval batch; 0 -> DATA.BATCH_SIZE
    SHORT_SIDE: int = 0  # eval short side; 0 -> INPUT_SIZE for 3 crops, int(256/224*INPUT_SIZE) for 1 crop


@dataclass
class Config:
    BASE: list[str] = field(default_factory=lambda: [""])  # files merged first, relative to the file naming them
    DATA: DataConfig = field(default_factory=DataConfig)
    MODEL: ModelConfig = field(default_factory=ModelConfig)
    TRAIN: TrainConfig = field(default_factory=TrainConfig)
    AUG: AugConfig = field(default_factory=AugConfig)
    TEST: TestConfig = field(default_factory=TestConfig)
    AMP_OPT_LEVEL: str = ""  # official apex level; "O1"/"O2" with TRAIN.PRECISION fp32 means fp16 on GPU
    OUTPUT: str = ""  # run folder (--output wins); empty -> output/<DATA.DATASET>/<MODEL.NAME or MODEL.TYPE>[/<TAG>]
    TAG: str = "default"  # run-folder suffix when not "default" (the official code names the run folder with it too)
    SAVE_FREQ: int = 1  # also keep a weights snapshot every N epochs (0: only last and best)
    PRINT_FREQ: int = 100  # progress-log lines every N steps (JSONL gets every step)
    SEED: int = 0  # process seed is SEED + rank (official)
    # official switches of its main.py that are subcommands here: only the default False loads (True is a ConfigError
    # naming what to use instead: `videofocalnet eval`, benchmarks/model_speed.py)
    EVAL_MODE: bool = False
    THROUGHPUT_MODE: bool = False
    DEBUG_MODE: bool = False
    LOCAL_RANK: int = 0  # official; torchrun's LOCAL_RANK environment variable sets the device: only 0 loads
    # ours
    DEVICE: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    DIST_BACKEND: str = "auto"  # "auto" (nccl on GPU, gloo on CPU), "gloo" or "nccl"
    TENSORBOARD: bool = True  # write TensorBoard scalars when the tensorboard package is installed

    def validate(self) -> Config:
        """Every value checked when the config is built, so that a bad one is a one-line ConfigError naming the key,
        the value and what is allowed, not NaN losses or a traceback deep inside training.

        Groups run in order, each only after the previous passed (the cross-field checks divide by
        MODEL.TUBELET_SIZE, for instance): finite numbers, single-key ranges, cross-field rules, enumerated values,
        then keys that are accepted only at their official default because nothing here implements them.
        """
        if self.MODEL.NUM_CLASSES == 0:
            self.MODEL.NUM_CLASSES = self.DATA.NUM_CLASSES
        if self.DATA.NUM_CLASSES == 0:
            self.DATA.NUM_CLASSES = self.MODEL.NUM_CLASSES
        for group in (_finite_checks, _range_checks, _cross_checks, _choice_checks, _unsupported_checks):
            for ok, message in group(self):
                if not ok:
                    raise ConfigError(message)
        return self

    @property
    def accumulation_steps(self) -> int:
        return max(1, self.TRAIN.ACCUMULATION_STEPS)

    @property
    def precision(self) -> str:
        """TRAIN.PRECISION, with the official AMP_OPT_LEVEL O1/O2 read as fp16 when PRECISION is left at fp32 (an
        explicit setting, ``auto`` included, wins over the apex level)."""
        if self.TRAIN.PRECISION == "fp32" and self.AMP_OPT_LEVEL in ("O1", "O2"):
            return "fp16"
        return self.TRAIN.PRECISION


# ----------------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------------

Check = tuple[bool, str]  # (passes, the one-line message when it does not)


def _finite_checks(cfg: Config) -> list[Check]:
    """NaN/inf in any float key or float list (``--opts TRAIN.BASE_LR nan`` parses as a float)."""
    out: list[Check] = []
    for key in all_keys():
        value = get_value(cfg, key)
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if isinstance(v, float) and not math.isfinite(v)]
        out.append((not bad, f"{key} must be a finite number, got {value!r}"))
    return out


def _bound(cfg: Config, key: str, low: float | None = None, high: float | None = None, *, open_: str = "") -> Check:
    """``key``'s value (each element of a list; None passes: "the architecture's value") within [low, high];
    ``open_`` holds "l" and/or "h" for an open end."""
    value = get_value(cfg, key)
    items = value if isinstance(value, list) else [] if value is None else [value]
    ok = all(
        (low is None or (v > low if "l" in open_ else v >= low))
        and (high is None or (v < high if "h" in open_ else v <= high))
        for v in items
    )
    lo, hi = (f"{x:g}" if isinstance(x, float) else str(x) for x in (low, high))
    if low is not None and high is not None:
        allowed = f"in {'(' if 'l' in open_ else '['}{lo}, {hi}{')' if 'h' in open_ else ']'}"
    elif low is not None:
        allowed = f"{'>' if 'l' in open_ else '>='} {lo}"
    else:
        allowed = f"{'<' if 'h' in open_ else '<='} {hi}"
    return ok, f"{key} must be {'all ' if isinstance(value, list) else ''}{allowed}, got {value!r}"


# (keys, low, high, open ends): single-key ranges; "where 0 is meaningful" is spelled out in the field comments
_RANGES: list[tuple[tuple[str, ...], float | None, float | None, str]] = [
    (
        (
            "AUG.COLOR_JITTER",
            "AUG.REPROB",
            "AUG.MIXUP_PROB",
            "AUG.MIXUP_SWITCH_PROB",
            "AUG.GRAY_SCALE",
            "AUG.FLIP_RATIO",
            "AUG.REVERSE_PROB",
            "DATA.MAX_BAD_FRACTION",
        ),
        0.0,
        1.0,
        "",
    ),  # probabilities
    (
        (
            "MODEL.LABEL_SMOOTHING",
            "AUG.LABEL_SMOOTH",
            "MODEL.DROP_RATE",
            "MODEL.DROP_PATH_RATE",
            "TRAIN.EMA.DECAY",
            "TRAIN.OPTIMIZER.MOMENTUM",
            "TRAIN.OPTIMIZER.BETAS",
        ),
        0.0,
        1.0,
        "h",
    ),  # 1 would leave no signal (smoothing, dropping) or never move (EMA, momentum)
    (
        (
            "TRAIN.OPTIMIZER.EPS",
            "TRAIN.LR_SCHEDULER.DECAY_RATE",
            "DATA.STD",
            "MODEL.FOCAL.MLP_RATIO",
            "MODEL.FOCAL.LAYERSCALE_VALUE",
            "AUG.RATIO",
        ),
        0.0,
        None,
        "l",
    ),
    (
        (
            "TRAIN.BASE_LR",  # 0 is meaningful: a run that only measures (or a frozen-weights check)
            "TRAIN.WARMUP_LR",
            "TRAIN.MIN_LR",
            "TRAIN.WEIGHT_DECAY",
            "TRAIN.CLIP_GRAD",
            "AUG.MIXUP",
            "AUG.CUTMIX",
            "AUG.BRIGHTNESS",
            "AUG.CONTRAST",
            "AUG.SATURATION",
        ),
        0.0,
        None,
        "",
    ),
    (("AUG.HUE",), 0.0, 0.5, ""),
    (("TRAIN.LAYER_DECAY",), 0.0, 1.0, "l"),
    (("AUG.SCALE",), 0.0, 1.0, "l"),
    (("AUG.CUTMIX_MINMAX",), 0.0, 1.0, ""),
    (
        (
            "DATA.NUM_FRAMES",
            "DATA.BATCH_SIZE",
            "DATA.INPUT_SIZE",
            "DATA.IMG_SIZE",
            "MODEL.TUBELET_SIZE",
            "TRAIN.EPOCHS",
            "TRAIN.LR_SCHEDULER.DECAY_EPOCHS",
            "AUG.FRAME_INTERVAL",
            "AUG.RECOUNT",
            "MODEL.FOCAL.PATCH_SIZE",
            "MODEL.FOCAL.IN_CHANS",
            "MODEL.FOCAL.EMBED_DIM",
            "MODEL.FOCAL.DEPTHS",
            "MODEL.FOCAL.FOCAL_LEVELS",
            "MODEL.FOCAL.FOCAL_WINDOWS",
        ),
        1,
        None,
        "",
    ),
    (
        (
            "DATA.NUM_CLASSES",
            "MODEL.NUM_CLASSES",
            "DATA.NUM_WORKERS",
            "DATA.SHORT_SIDE",
            "DATA.CACHE_DECODED_MB",
            "TRAIN.START_EPOCH",
            "TRAIN.WARMUP_EPOCHS",
            "TRAIN.ACCUMULATION_STEPS",
            "TRAIN.CHECKPOINT_EVERY_STEPS",
            "TRAIN.EVAL_FREQ",
            "TEST.BATCH_SIZE",
            "TEST.SHORT_SIDE",
            "SAVE_FREQ",
            "PRINT_FREQ",
        ),
        0,
        None,
        "",
    ),
    (("SEED",), 0, 2**32 - 1, ""),
]

# keys whose value is a fixed-length list: the transforms and optimizer read exactly these many values
_LENGTHS = {"DATA.MEAN": 3, "DATA.STD": 3, "AUG.SCALE": 2, "AUG.RATIO": 2, "TRAIN.OPTIMIZER.BETAS": 2}


def _range_checks(cfg: Config) -> list[Check]:
    out: list[Check] = []
    for key, n in _LENGTHS.items():
        value = get_value(cfg, key)
        out.append((len(value) == n, f"{key} needs {n} values, got {value!r}"))
    for keys, low, high, open_ in _RANGES:
        out.extend(_bound(cfg, key, low, high, open_=open_) for key in keys)
    minmax = cfg.AUG.CUTMIX_MINMAX
    out.append(
        (
            minmax is None or (len(minmax) == 2 and minmax[0] < minmax[1]),
            f"AUG.CUTMIX_MINMAX must be null or [min, max] box-size ratios with 0 <= min < max <= 1, got {minmax!r}",
        )
    )
    for key in ("AUG.SCALE", "AUG.RATIO"):
        lo, hi = get_value(cfg, key)
        out.append((lo <= hi, f"{key} must be [min, max] with min <= max, got {[lo, hi]}"))
    return out


def _views_check(key: str, clips: int, crops: int) -> Check:
    """TEST.NUM_CLIP x NUM_CROP and the FINAL_ pair obey the bound ``--views`` does (data.sampling.parse_views)."""
    from videofocalnet.data.sampling import parse_views

    try:
        parse_views(f"{clips}x{crops}")
    except ValueError as exc:
        return False, f"{key}_CLIP x {key}_CROP: {exc}"
    return True, ""


def _cross_checks(cfg: Config) -> list[Check]:
    data, model, train = cfg.DATA, cfg.MODEL, cfg.TRAIN
    return [
        (
            data.NUM_CLASSES == model.NUM_CLASSES,
            f"DATA.NUM_CLASSES ({data.NUM_CLASSES}) != MODEL.NUM_CLASSES ({model.NUM_CLASSES})",
        ),
        (
            data.NUM_FRAMES % model.TUBELET_SIZE == 0,
            f"DATA.NUM_FRAMES ({data.NUM_FRAMES}) must be a multiple of MODEL.TUBELET_SIZE ({model.TUBELET_SIZE})",
        ),
        (
            train.WARMUP_EPOCHS <= train.EPOCHS,
            f"TRAIN.WARMUP_EPOCHS ({train.WARMUP_EPOCHS}) > TRAIN.EPOCHS ({train.EPOCHS})",
        ),
        (
            train.START_EPOCH < train.EPOCHS,
            f"TRAIN.START_EPOCH ({train.START_EPOCH}) must be < TRAIN.EPOCHS ({train.EPOCHS}): nothing would train",
        ),
        (
            data.IMG_SIZE in (224, data.INPUT_SIZE),
            f"DATA.IMG_SIZE ({data.IMG_SIZE}) must equal DATA.INPUT_SIZE ({data.INPUT_SIZE}): the model is built "
            "for the crop size; set DATA.INPUT_SIZE only",
        ),
        (
            cfg.TEST.SHORT_SIDE == 0 or cfg.TEST.SHORT_SIDE >= data.INPUT_SIZE,
            f"TEST.SHORT_SIDE ({cfg.TEST.SHORT_SIDE}) must be 0 (automatic) or >= DATA.INPUT_SIZE "
            f"({data.INPUT_SIZE}): the eval crops are cut from the resized frame",
        ),
        _views_check("TEST.NUM", cfg.TEST.NUM_CLIP, cfg.TEST.NUM_CROP),
        _views_check("TEST.FINAL_NUM", cfg.TEST.FINAL_NUM_CLIP, cfg.TEST.FINAL_NUM_CROP),
        (
            data.SAMPLER != "class_balanced_both_ways" or bool(cfg.AUG.REVERSE_PAIRS),
            "DATA.SAMPLER class_balanced_both_ways needs AUG.REVERSE_PAIRS (the dataset's time-reversal class pairs)",
        ),
        (
            cfg.AUG.REVERSE_PROB == 0.0 or bool(cfg.AUG.REVERSE_PAIRS),
            "AUG.REVERSE_PROB > 0 needs AUG.REVERSE_PAIRS (the dataset's time-reversal class pairs)",
        ),
        _freeze_check(cfg),
        (
            not train.FREEZE_NORM_EVAL or bool(train.FREEZE.strip()),
            "TRAIN.FREEZE_NORM_EVAL true needs TRAIN.FREEZE (it keeps the frozen parts' norm layers in eval mode)",
        ),
    ]


def _freeze_check(cfg: Config) -> Check:
    from videofocalnet.engine.finetune import parse_freeze

    try:
        parse_freeze(cfg.TRAIN.FREEZE)
    except ValueError as exc:
        return False, str(exc)
    return True, ""


def _choice_checks(cfg: Config) -> list[Check]:
    allowed = _choices()

    def choice(key: str, extra: str = "", *, lower: bool = False) -> Check:
        value = get_value(cfg, key)
        ok = (value.lower() if lower else value) in allowed[key]
        return ok, f"{key} must be {_either(allowed[key])}, got {value!r}{extra}"

    from videofocalnet.data.transforms import parse_rand_augment

    try:
        parse_rand_augment(cfg.AUG.AUTO_AUGMENT)
        augment: Check = (True, "")
    except ValueError as exc:
        augment = (False, str(exc))
    factorized = cfg.MODEL.VARIANT == "factorized"
    return [
        choice("DATA.SAMPLING"),
        choice("DATA.BACKEND"),
        (
            cfg.DATA.SAMPLER in allowed["DATA.SAMPLER"],
            f"DATA.SAMPLER must be one of {', '.join(allowed['DATA.SAMPLER'])}, got {cfg.DATA.SAMPLER!r}",
        ),
        choice("MODEL.INIT"),
        choice(
            "MODEL.VARIANT",
            " (the factorized design is a model of its own: set MODEL.TYPE to e.g. video_focalnet_tiny_factorized)"
            if factorized
            else "",
        ),
        choice("MODEL.DROP_PATH_MODE"),
        choice("TRAIN.OPTIMIZER.NAME", lower=True),
        choice("TRAIN.LR_SCHEDULER.NAME"),
        choice("TRAIN.PRECISION"),
        choice("AMP_OPT_LEVEL"),
        choice("DEVICE"),
        choice("DIST_BACKEND"),
        choice("AUG.MIXUP_MODE"),
        choice("AUG.REMODE"),
        augment,
    ]


# Official keys nothing here implements, accepted only at their official default (every official YAML and the
# complete official config stored in released checkpoints keep loading); any other value is an error, not ignored.
_UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "DATA.DATA_PATH": ("", "the official code ignores it too; the videos are DATA.ROOT + the list files' paths"),
    "DATA.INTERPOLATION": ("bicubic", "the official code ignores it too; frames are resized bilinearly"),
    "DATA.ZIP_MODE": (False, "the official code ignores it too; videos are read from files"),
    "DATA.CACHE_MODE": ("part", "the official code ignores it too; DATA.CACHE_DECODED_MB caches decoded videos"),
    "MODEL.PRETRAINED": (False, "the official code ignores it too; set TRAIN.PRETRAINED_PATH to a weights file"),
    "MODEL.SPEC": ({}, "the official code ignores it too"),
    "MODEL.FOCAL.FOCAL_FACTORS": ([2, 2, 2, 2], "the official model ignores it too (the factor is always 2)"),
    "TEST.CROP": (True, "the official code ignores it too; evaluation always crops, see TEST.NUM_CROP"),
    "TEST.ONLY_TEST": (False, "the official code ignores it too; test with `videofocalnet eval`"),
    "EVAL_MODE": (False, "evaluate with `videofocalnet eval --checkpoint FILE` instead"),
    "THROUGHPUT_MODE": (False, "measure speed with benchmarks/model_speed.py instead"),
    "DEBUG_MODE": (False, "the official code ignores it too"),
    "LOCAL_RANK": (0, "torchrun's LOCAL_RANK environment variable sets the device"),
}


def _unsupported_checks(cfg: Config) -> list[Check]:
    out: list[Check] = []
    for key, (default, why) in _UNSUPPORTED.items():
        value = get_value(cfg, key)
        out.append((value == default, f"{key} {value!r} is not supported by videofocalnet ({why}); remove it"))
    return out


# ----------------------------------------------------------------------------------------------------------------------
# Merging and coercion
# ----------------------------------------------------------------------------------------------------------------------


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def all_keys(node: Any = None, prefix: str = "") -> list[str]:
    """Every dotted leaf key of the schema (``DATA.ROOT``, ``TRAIN.OPTIMIZER.NAME``, ...)."""
    node = Config() if node is None else node
    keys: list[str] = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            keys.extend(all_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def _suggest(key: str, candidates: list[str]) -> str:
    upper = key.upper()
    if upper in candidates:
        return f" (keys are upper-case: did you mean {upper!r}?)"
    close = difflib.get_close_matches(upper, candidates, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown_key(path: str, key: str, node: Any, source: str) -> ConfigError:
    full = f"{path}{key}"
    candidates = [f"{path}{f.name}" for f in dataclasses.fields(node)]
    hint = _suggest(full, candidates)
    if not hint:  # a key in the wrong section: search the whole tree
        hint = _suggest(full, all_keys() + [k.rsplit(".", 1)[0] for k in all_keys() if "." in k])
    return ConfigError(f"{source}: unknown config key {full!r}{hint}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Convert a YAML/CLI value to the annotated type, or raise naming the key and the value."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        errors = []
        for arg in non_none:
            try:
                return _coerce(value, arg, key, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{source}: {key} cannot be {value!r}")
    bad = ConfigError(f"{source}: {key} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # PyYAML reads "1e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad
        (inner, *_rest) = args or (Any,)
        return [_coerce(v, inner, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    raise ConfigError(f"{source}: {key} has an unsupported type {tp}")  # pragma: no cover - schema bug


def merge_dict(node: Any, data: dict[str, Any], *, source: str = "<dict>", path: str = "") -> Any:
    """Merge a nested mapping into a dataclass node in place; unknown keys and bad types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {path.rstrip('.') or 'top level'} must be a mapping, got {data!r}")
    names = {f.name for f in dataclasses.fields(node)}
    hints = _hints(type(node))
    for key, value in data.items():
        if not isinstance(key, str) or key not in names:
            raise _unknown_key(path, str(key), node, source)
        current = getattr(node, key)
        if dataclasses.is_dataclass(current):
            if value is None:
                continue  # an empty section in YAML
            merge_dict(current, value, source=source, path=f"{path}{key}.")
        else:
            setattr(node, key, _coerce(value, hints[key], f"{path}{key}", source))
    return node


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{line} ({reason}); fix the file or pass another --cfg") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a YAML text file (byte {exc.start} is not UTF-8); pass the config's .yaml file"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _merge_file(cfg: Config, path: Path, seen: tuple[Path, ...]) -> None:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: BASE inheritance cycle through {[str(p) for p in seen]}")
    data = _read_yaml(path)
    bases = data.get("BASE", [""])
    if isinstance(bases, str):
        bases = [bases]
    for base in bases or []:
        if base:
            _merge_file(cfg, path.parent / base, seen + (path,))
    merge_dict(cfg, data, source=str(path))


def _parse_cli_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def get_value(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def apply_opts(cfg: Config, opts: list[str] | None) -> Config:
    """Apply ``KEY VALUE`` pairs (``TRAIN.BASE_LR 0.05 DATA.DEPTHS [1,1,1,1]``); values are parsed as YAML."""
    if not opts:
        return cfg
    if len(opts) % 2:
        raise ConfigError(f"--opts needs KEY VALUE pairs, got an odd number of items: {opts}")
    keys = all_keys()
    dict_prefixes = [k for k in keys if isinstance(get_value(Config(), k), dict)]
    for key, text in zip(opts[0::2], opts[1::2]):
        if key not in keys and not any(key.startswith(p + ".") for p in dict_prefixes):
            hint = _suggest(key, keys)
            raise ConfigError(f"--opts: unknown config key {key!r}{hint}")
        *parents, leaf = key.split(".")
        nested: Any = {leaf: _parse_cli_value(text)}
        for parent in reversed(parents):
            nested = {parent: nested}
        if any(key.startswith(p + ".") for p in dict_prefixes):  # free-form MODEL.SPEC.<anything>
            prefix = next(p for p in dict_prefixes if key.startswith(p + "."))
            get_value(cfg, prefix)[key[len(prefix) + 1 :]] = _parse_cli_value(text)
            continue
        merge_dict(cfg, nested, source="--opts")
    return cfg


def list_configs() -> list[str]:
    """Names of the configs shipped in the package (``demo``, ``k400/video_focalnet_tiny_8x224``, ...), sorted.

    Read from the package data (importlib.resources), not a source checkout, so an installed wheel lists and loads
    the same configs as a clone does.
    """
    root = resources.files("videofocalnet") / "configs"
    names = []
    for entry in root.iterdir():
        entries = [(entry.name, sub) for sub in entry.iterdir()] if entry.is_dir() else [("", entry)]
        for folder, item in entries:
            if item.is_file() and item.name.endswith(".yaml"):
                names.append(f"{folder}/{item.name[:-5]}" if folder else item.name[:-5])
    return sorted(names)


def _config_name(text: str) -> str:
    """``configs/k400/x.yaml`` (the layout of a source checkout, typed in another folder) -> ``k400/x``."""
    name = text.replace("\\", "/").strip()
    for prefix in ("./", "configs/"):
        name = name[len(prefix) :] if name.startswith(prefix) else name
    for suffix in (".yaml", ".yml"):
        name = name[: -len(suffix)] if name.endswith(suffix) else name
    return name


def _unknown_config(text: str, names: list[str]) -> ConfigError:
    close = difflib.get_close_matches(_config_name(text), names, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    what = "is a directory, not a YAML file" if Path(text).is_dir() else "not found: no such file"
    return ConfigError(
        f"config {text!r} {what}, and no packaged config has that name{hint} "
        f"(packaged: {', '.join(names)}; see `videofocalnet list-configs`)"
    )


@contextlib.contextmanager
def _config_file(path_or_name: str | Path) -> Iterator[Path]:
    """An existing file first (a user's own config wins over a packaged one of the same name), else a packaged
    config by name, as a real file (``as_file`` extracts it when the package is zipped), else ConfigError."""
    path = Path(path_or_name)
    if path.is_file():
        yield path
        return
    names = list_configs()
    name = _config_name(str(path_or_name))
    if name not in names:
        raise _unknown_config(str(path_or_name), names)
    with resources.as_file(resources.files("videofocalnet") / "configs" / f"{name}.yaml") as packaged:
        yield packaged


def load_config(
    path_or_name: str | Path | None = None, opts: list[str] | None = None, *, validate: bool = True
) -> Config:
    """Defaults <- YAML file (with official ``BASE`` inheritance) <- ``--opts`` overrides.

    ``path_or_name`` is a file, or the name of a packaged config (``k400/video_focalnet_tiny_8x224``, ``.yaml``
    optional; see ``list_configs``), so ``--cfg`` works the same from a wheel install in any folder.
    """
    cfg = Config()
    if path_or_name is not None:
        with _config_file(path_or_name) as path:
            _merge_file(cfg, path, ())
    apply_opts(cfg, opts)
    return cfg.validate() if validate else cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(data: dict[str, Any], *, source: str = "<dict>", validate: bool = True) -> Config:
    cfg = merge_dict(Config(), data, source=source)
    return cfg.validate() if validate else cfg


# keys of the official tree that describe the process that saved it, not the experiment
_OFFICIAL_RUN_STATE = ("EVAL_MODE", "THROUGHPUT_MODE", "DEBUG_MODE", "LOCAL_RANK", "OUTPUT")


def _known_only(node: Any, data: dict[str, Any], path: str, dropped: list[str]) -> dict[str, Any]:
    names = {f.name: getattr(node, f.name) for f in dataclasses.fields(node)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            dropped.append(path + str(key))
        elif dataclasses.is_dataclass(names[key]) and isinstance(value, dict):
            out[key] = _known_only(names[key], value, f"{path}{key}.", dropped)
        else:
            out[key] = value
    return out


def config_from_official(data: dict[str, Any], *, source: str = "<official config>") -> Config:
    """The experiment an official yacs tree describes (the ``config`` a released checkpoint pickles, as plain
    dicts), as our Config.

    Keys of later or forked official versions that this schema lacks are dropped with a warning rather than refused
    (the tree was written by the official code, not by a user who could fix a typo); the saving process's own
    state (EVAL_MODE, LOCAL_RANK, OUTPUT, ...) and MODEL.RESUME are reset; RandAugment and random erasing, configured
    by the official defaults but never applied by the released code, are switched off as the official YAMLs load
    here; a DATA/MODEL class-count disagreement is settled by MODEL.NUM_CLASSES, which sized the head.
    """
    import warnings

    dropped: list[str] = []
    data = _known_only(Config(), dict(data), "", dropped)
    if dropped:
        warnings.warn(f"{source}: ignoring official config keys unknown here: {', '.join(dropped)}", stacklevel=2)
    for key in _OFFICIAL_RUN_STATE:
        data.pop(key, None)
    data.get("MODEL", {}).pop("RESUME", None)
    aug = data.setdefault("AUG", {})
    aug["AUTO_AUGMENT"], aug["REPROB"] = "none", 0.0
    model_classes = data.get("MODEL", {}).get("NUM_CLASSES")
    if model_classes:
        data.setdefault("DATA", {})["NUM_CLASSES"] = model_classes
    return config_from_dict(data, source=source)


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config as YAML (atomic), so a run directory documents exactly what ran."""
    data = config_to_dict(cfg)
    data["BASE"] = [""]  # already merged: the saved file stands alone
    return atomic_write_text(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
