"""Every config key does something or is refused: a table over ``all_keys()`` gives each key a non-default value and
the builder that must behave differently with it (model keywords, transform outputs on a fixed clip, the mixup of a
fixed batch, the training dataset, a two-epoch training run, an evaluation, the run folder), or marks it rejected
with a ConfigError. Adding a key without an entry fails the table test. Also: every official YAML and the complete
official config (as released checkpoints embed it) load, and bad values are ConfigErrors naming the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from conftest import tiny_config_dict  # tests/engine/conftest.py (pytest puts its folder on sys.path)
from videofocalnet.engine import build
from videofocalnet.engine.config import Config, ConfigError, all_keys, config_from_dict, get_value, load_config

REJECT = "reject"  # the probe name of keys that only load at their official default

# key -> (non-default value, probe, context applied to both runs). Values starting with "@" name a file the fixture
# makes. The probes are below; "run" trains the tiny model for two epochs of two steps.
TABLE: dict[str, tuple[Any, str, dict[str, Any]]] = {
    "BASE": (["@base.yaml"], "base", {}),
    "DATA.ROOT": ("@root_link", "dataset", {}),
    "DATA.TRAIN_FILE": ("@train_half.csv", "dataset", {}),
    "DATA.VAL_FILE": ("@val_half.csv", "run", {"TRAIN.EVAL_FREQ": 1}),
    "DATA.TEST_FILE": ("@val_half.csv", "eval", {}),
    "DATA.NUM_FRAMES": (8, "dataset", {}),
    "DATA.NUM_CLASSES": (5, "model", {"MODEL.NUM_CLASSES": 0}),
    "DATA.LABEL_LIST": ("@labels_other.csv", "eval", {}),
    "DATA.BATCH_SIZE": (4, "run", {}),
    "DATA.DATA_PATH": ("/data", REJECT, {}),
    "DATA.DATASET": ("k400", "run_dir", {}),
    "DATA.IMG_SIZE": (112, REJECT, {}),
    "DATA.INPUT_SIZE": (64, "model", {}),
    "DATA.INTERPOLATION": ("bilinear", REJECT, {}),
    "DATA.ZIP_MODE": (True, REJECT, {}),
    "DATA.CACHE_MODE": ("full", REJECT, {}),
    "DATA.PIN_MEMORY": (False, "cuda_only", {}),
    "DATA.NUM_WORKERS": (1, "run", {}),
    "DATA.SAMPLING": ("dense", "dataset", {}),
    "DATA.BACKEND": ("torchcodec", "dataset", {}),
    "DATA.SAMPLER": ("class_balanced", "sampler", {}),
    "DATA.SHORT_SIDE": (48, "train_transform", {}),
    "DATA.MEAN": ([100.0, 100.0, 100.0], "train_transform", {}),
    "DATA.STD": ([30.0, 30.0, 30.0], "train_transform", {}),
    "DATA.MAX_BAD_FRACTION": (0.5, "run", {}),
    "DATA.CACHE_DECODED_MB": (16, "dataset", {}),
    "MODEL.TYPE": ("video_focalnet_small", "model", {}),
    "MODEL.NAME": ("mine", "run_dir", {}),
    "MODEL.RESUME": ("@last.pt", "resume", {}),
    "MODEL.NUM_CLASSES": (5, "model", {"DATA.NUM_CLASSES": 0}),
    "MODEL.DROP_RATE": (0.3, "model", {}),
    "MODEL.DROP_PATH_RATE": (0.3, "model", {}),
    "MODEL.DROP_PATH_MODE": ("video", "model", {}),
    "MODEL.LABEL_SMOOTHING": (0.4, "run", {}),
    "MODEL.PRETRAINED": (True, REJECT, {}),
    "MODEL.SPEC": ({"X": 1}, REJECT, {}),
    "MODEL.FOCAL.PATCH_SIZE": (2, "model", {}),
    "MODEL.FOCAL.IN_CHANS": (1, "model", {}),
    "MODEL.FOCAL.EMBED_DIM": (16, "model", {}),
    "MODEL.FOCAL.DEPTHS": ([1, 1, 2, 1], "model", {}),
    "MODEL.FOCAL.MLP_RATIO": (2.0, "model", {}),
    "MODEL.FOCAL.PATCH_NORM": (False, "model", {}),
    "MODEL.FOCAL.FOCAL_LEVELS": ([1, 1, 1, 1], "model", {}),
    "MODEL.FOCAL.FOCAL_WINDOWS": ([5, 5, 5, 5], "model", {}),
    "MODEL.FOCAL.FOCAL_FACTORS": ([3, 3, 3, 3], REJECT, {}),
    "MODEL.FOCAL.USE_CONV_EMBED": (True, "model", {}),
    "MODEL.FOCAL.USE_LAYERSCALE": (True, "model", {}),
    "MODEL.FOCAL.LAYERSCALE_VALUE": (0.5, "model", {}),
    "MODEL.FOCAL.USE_POSTLN": (True, "model", {}),
    "MODEL.FOCAL.USE_POSTLN_IN_MODULATION": (True, "model", {}),
    "MODEL.FOCAL.NORMALIZE_MODULATOR": (True, "model", {}),
    "MODEL.TUBELET_SIZE": (2, "model", {}),
    "MODEL.VARIANT": ("spatial", "model", {}),
    "MODEL.INIT": ("fan_in", "model", {}),
    "TRAIN.START_EPOCH": (1, "run", {}),
    "TRAIN.EPOCHS": (3, "run", {}),
    "TRAIN.WARMUP_EPOCHS": (0, "run", {}),
    "TRAIN.WEIGHT_DECAY": (0.5, "run", {}),
    "TRAIN.BASE_LR": (2.0, "run", {}),
    "TRAIN.WARMUP_LR": (0.05, "run", {}),
    "TRAIN.MIN_LR": (0.05, "run", {}),
    "TRAIN.CLIP_GRAD": (1e-3, "run", {}),
    "TRAIN.AUTO_RESUME": (False, "resume", {}),
    "TRAIN.ACCUMULATION_STEPS": (2, "run", {"DATA.BATCH_SIZE": 3}),
    "TRAIN.USE_CHECKPOINT": (True, "model", {}),
    "TRAIN.LR_SCHEDULER.NAME": ("linear", "run", {}),
    "TRAIN.LR_SCHEDULER.DECAY_EPOCHS": (1, "run", {"TRAIN.LR_SCHEDULER.NAME": "step"}),
    "TRAIN.LR_SCHEDULER.DECAY_RATE": (
        0.5,
        "run",
        {"TRAIN.LR_SCHEDULER.NAME": "step", "TRAIN.LR_SCHEDULER.DECAY_EPOCHS": 1},
    ),
    "TRAIN.OPTIMIZER.NAME": ("sgd", "run", {"TRAIN.OPTIMIZER.NAME": "adamw"}),
    "TRAIN.OPTIMIZER.EPS": (0.1, "run", {"TRAIN.OPTIMIZER.NAME": "adamw"}),
    "TRAIN.OPTIMIZER.BETAS": ([0.5, 0.9], "run", {"TRAIN.OPTIMIZER.NAME": "adamw"}),
    "TRAIN.OPTIMIZER.MOMENTUM": (0.5, "run", {}),
    "TRAIN.OPTIMIZER.NESTEROV": (False, "run", {}),
    "TRAIN.OPTIMIZER.FUSED": (False, "run", {"TRAIN.OPTIMIZER.NAME": "adamw"}),
    "TRAIN.PRETRAINED_PATH": ("@weights.safetensors", "run", {}),
    "TRAIN.OFFICIAL_NO_WEIGHT_DECAY_BUG": (True, "run", {}),
    "TRAIN.SCALE_LR": (False, "run", {}),
    "TRAIN.PRECISION": ("bf16", "run", {}),
    "TRAIN.EMA.ENABLED": (True, "run", {}),
    "TRAIN.EMA.DECAY": (0.5, "run", {"TRAIN.EMA.ENABLED": True, "TRAIN.EVAL_FREQ": 1}),
    "TRAIN.EMA.EVAL": (False, "run", {"TRAIN.EMA.ENABLED": True, "TRAIN.EVAL_FREQ": 1}),
    "TRAIN.CHECKPOINT_EVERY_STEPS": (1, "run", {}),
    "TRAIN.EVAL_FREQ": (2, "run", {}),
    "TRAIN.FINAL_EVAL": (False, "run", {"TRAIN.FINAL_EVAL": True}),
    "TRAIN.LAYER_DECAY": (0.5, "run", {}),
    "TRAIN.FREEZE": ("stages:2", "run", {}),
    "TRAIN.FREEZE_NORM_EVAL": (True, "run", {"TRAIN.FREEZE": "stem"}),
    "TRAIN.FAST_KERNELS": (False, "setup", {}),
    "TRAIN.COMPILE": (True, "setup", {}),
    "AUG.COLOR_JITTER": (1.0, "train_transform", {}),
    "AUG.AUTO_AUGMENT": ("rand-m9-n2-mstd0.5", "train_transform", {}),
    "AUG.REPROB": (1.0, "train_transform", {}),
    "AUG.REMODE": ("const", "train_transform", {"AUG.REPROB": 1.0}),
    "AUG.RECOUNT": (3, "train_transform", {"AUG.REPROB": 1.0}),
    "AUG.MIXUP": (0.4, "mixup", {}),
    "AUG.CUTMIX": (0.5, "mixup", {}),
    "AUG.CUTMIX_MINMAX": ([0.2, 0.8], "mixup", {}),
    "AUG.MIXUP_PROB": (0.5, "mixup", {"AUG.MIXUP": 0.8, "AUG.CUTMIX": 1.0}),
    "AUG.MIXUP_SWITCH_PROB": (0.0, "mixup", {"AUG.MIXUP": 0.8, "AUG.CUTMIX": 1.0}),
    "AUG.MIXUP_MODE": ("elem", "mixup", {"AUG.MIXUP": 0.8, "AUG.CUTMIX": 1.0}),
    "AUG.GRAY_SCALE": (1.0, "train_transform", {}),
    "AUG.FLIP_RATIO": (1.0, "train_transform", {}),
    "AUG.REVERSE_PROB": (1.0, "dataset", {"AUG.REVERSE_PAIRS": [[0, 1]]}),
    "AUG.REVERSE_PAIRS": ([[0, 2]], "dataset", {"AUG.REVERSE_PAIRS": [[0, 1]], "AUG.REVERSE_PROB": 1.0}),
    "AUG.FRAME_INTERVAL": (1, "dataset", {"DATA.SAMPLING": "dense"}),
    "AUG.LABEL_SMOOTH": (0.3, "mixup", {"AUG.MIXUP": 0.8, "AUG.CUTMIX": 1.0}),
    "AUG.BRIGHTNESS": (0.9, "train_transform", {"AUG.COLOR_JITTER": 1.0}),
    "AUG.CONTRAST": (0.9, "train_transform", {"AUG.COLOR_JITTER": 1.0}),
    "AUG.SATURATION": (0.9, "train_transform", {"AUG.COLOR_JITTER": 1.0}),
    "AUG.HUE": (0.4, "train_transform", {"AUG.COLOR_JITTER": 1.0}),
    "AUG.SCALE": ([0.5, 1.0], "train_transform", {}),
    "AUG.RATIO": ([0.5, 2.0], "train_transform", {}),
    "TEST.CROP": (False, REJECT, {}),
    "TEST.NUM_CLIP": (2, "run", {"TRAIN.EVAL_FREQ": 1}),
    "TEST.NUM_CROP": (3, "run", {"TRAIN.EVAL_FREQ": 1}),
    "TEST.ONLY_TEST": (True, REJECT, {}),
    "TEST.FINAL_NUM_CLIP": (1, "eval", {}),
    "TEST.FINAL_NUM_CROP": (1, "eval", {}),
    "TEST.BATCH_SIZE": (3, "eval", {}),
    "TEST.SHORT_SIDE": (48, "eval_transform", {}),
    "AMP_OPT_LEVEL": ("O1", "run", {}),
    "OUTPUT": ("elsewhere", "run_dir", {}),
    "TAG": ("lr0.1", "run_dir", {}),
    "SAVE_FREQ": (2, "run", {}),
    "PRINT_FREQ": (1, "run", {}),
    "SEED": (7, "dataset", {}),
    "EVAL_MODE": (True, REJECT, {}),
    "THROUGHPUT_MODE": (True, REJECT, {}),
    "DEBUG_MODE": (True, REJECT, {}),
    "LOCAL_RANK": (1, REJECT, {}),
    "DEVICE": ("cuda", "run", {}),
    "DIST_BACKEND": ("nccl", "multi_process", {}),
    "TENSORBOARD": (False, "needs_tensorboard", {"TENSORBOARD": True}),
}

# Keys whose effect only shows where something this machine may lack exists; each has its own test below.
CONDITIONAL = {
    "cuda_only": "test_pin_memory_reaches_the_loader_on_cuda",
    "multi_process": "test_dist_backend_chooses_the_process_group_backend",
    "needs_tensorboard": "test_tensorboard_key_writes_event_files",
}


def test_every_key_has_an_entry():
    missing = sorted(set(all_keys()) - set(TABLE))
    stale = sorted(set(TABLE) - set(all_keys()))
    assert not missing, f"config keys without an entry in TABLE (give each a probe or reject it): {missing}"
    assert not stale, f"TABLE names keys the schema no longer has: {stale}"
    defaults = Config()
    same = [k for k, (value, _, _) in TABLE.items() if value == get_value(defaults, k)]
    assert not same, f"TABLE values must differ from the schema default: {same}"
    for probe, test_name in CONDITIONAL.items():
        assert test_name in globals(), (probe, test_name)


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures: the tiny real-video dataset plus the files the table's "@" values name
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tiny_videos, tmp_path_factory) -> dict[str, Path]:
    """``@name`` -> a real file or folder: half lists, a second label list, a base YAML, weights and a last.pt."""
    from videofocalnet.engine.train import train

    root = tmp_path_factory.mktemp("keys")
    out = {"root_link": root / "root_link"}
    os.symlink(tiny_videos.root, out["root_link"])
    for name, src in (("train_half.csv", tiny_videos.train_list), ("val_half.csv", tiny_videos.val_list)):
        lines = Path(src).read_text().splitlines()
        out[name] = root / name
        out[name].write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    out["labels_other.csv"] = root / "labels_other.csv"
    out["labels_other.csv"].write_text("id,name\n0,a\n1,b\n2,c\n")
    out["base.yaml"] = root / "base.yaml"
    out["base.yaml"].write_text("TRAIN:\n  EPOCHS: 50\n")
    run = root / "trained"
    with contextlib.redirect_stdout(io.StringIO()):
        train(_cfg(tiny_videos, {"SAVE_FREQ": 1}, None, out), output=run, progress=False)
    out["last.pt"], out["weights.safetensors"] = run / "last.pt", run / "epoch_0002.safetensors"
    return out


def _cfg(data, context: dict[str, Any], change: tuple[str, Any] | None, files: dict[str, Path]) -> Config:
    """The tiny config (12 training videos, batch 6: two steps an epoch) + context + the one change; validated."""
    d = tiny_config_dict(data, DATA={"BATCH_SIZE": 6})
    items = list(context.items()) + ([change] if change else [])
    for key, value in items:
        node = d
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _resolve(value, files)
    return config_from_dict(d)


def _resolve(value: Any, files: dict[str, Path]) -> Any:
    if isinstance(value, str) and value.startswith("@"):
        return str(files[value[1:]])
    if isinstance(value, list):
        return [_resolve(v, files) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------------------
# Probes: cfg -> a comparable record of what the builders made of it
# ----------------------------------------------------------------------------------------------------------------------


def _sig(t: torch.Tensor) -> tuple[tuple[int, ...], str]:
    return tuple(t.shape), hashlib.sha1(t.detach().float().contiguous().numpy().tobytes()).hexdigest()


def _clip() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (4, 3, 40, 56), generator=g, dtype=torch.uint8)  # (T, C, H, W)


def probe_model(cfg: Config, ctx: dict) -> Any:
    with torch.device("meta"):
        model = build.build_model(cfg)
    return build.resolve_model_name(cfg.MODEL.TYPE), build.model_kwargs(cfg), sum(p.numel() for p in model.parameters())


def probe_train_transform(cfg: Config, ctx: dict) -> Any:
    transform = build.train_transform(cfg)
    return [_sig(transform(_clip(), torch.Generator().manual_seed(seed))) for seed in range(6)]


def probe_eval_transform(cfg: Config, ctx: dict) -> Any:
    return [_sig(build.eval_transform(cfg, crops)(_clip())) for crops in (1, 3)]


def probe_mixup(cfg: Config, ctx: dict) -> Any:
    mixup = build.build_mixup(cfg)
    if mixup is None:
        return None
    x = torch.randn(6, 2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    out = [mixup(x, y, torch.Generator().manual_seed(seed)) for seed in range(6)]
    return [(_sig(mixed), _sig(target)) for mixed, target in out]


def probe_dataset(cfg: Config, ctx: dict) -> Any:
    dataset = build.build_train_dataset(cfg)
    try:
        items = [dataset[i] for i in (0, 5)]
    except Exception as exc:  # a setup problem the dataset raises (a decoder backend that is not installed)
        return "error", type(exc).__name__
    return (
        len(dataset),
        [str(dataset.video_path(i)) for i in (0, 5)],
        [(it["label"], it.get("error"), None if it["video"] is None else _sig(it["video"])) for it in items],
        dataset.decoded_cache is not None,
    )


def probe_sampler(cfg: Config, ctx: dict) -> Any:
    dataset = build.build_train_dataset(cfg)
    sampler = build.build_train_sampler(cfg, dataset, num_replicas=1, rank=0)
    return type(sampler).__name__


def probe_run_dir(cfg: Config, ctx: dict) -> Any:
    from videofocalnet.engine.train import resolve_run_dir

    return str(resolve_run_dir(cfg, None))


def probe_resume(cfg: Config, ctx: dict) -> Any:
    """Where training would resume from, with a previous run's last.pt in the run folder."""
    from videofocalnet.engine.train import _resume_path

    run = ctx["tmp"] / "resume_run"
    run.mkdir(exist_ok=True)
    shutil.copy(ctx["files"]["last.pt"], run / "last.pt")
    return str(_resume_path(cfg, run, None, None))


def probe_base(cfg: Config, ctx: dict) -> Any:
    """BASE acts while a file is read: a child YAML with this BASE list, loaded."""
    child = ctx["files"]["base.yaml"].parent / "child.yaml"
    child.write_text(yaml.safe_dump({"BASE": cfg.BASE, "DATA": {"NUM_CLASSES": 3}}))
    return load_config(child).TRAIN.EPOCHS


class _Capture:
    """Training callback: the recipe's built parts at the first step, and how many checkpoints were written."""

    def __init__(self) -> None:
        self.parts: Any = None
        self.checkpoints = 0

    def on_step_end(self, recipe, record) -> None:
        if self.parts is None:
            groups = [
                {k: v for k, v in g.items() if k not in ("params", "initial_lr")} | {"n": len(g["params"])}
                for g in recipe.optimizer.param_groups
            ]
            loader = recipe.loader
            self.parts = (groups, loader.num_workers, loader.pin_memory, recipe.tracker.max_bad_fraction, recipe.ema)
            self.parts = (*self.parts[:-1], recipe.ema is not None)
            self.parts += ([name for name, m in recipe.model.named_modules() if not m.training],)

    def on_checkpoint(self, recipe) -> None:
        self.checkpoints += 1


# what differs between two identical runs: wall-clock fields, and the run folder (each probe run has its own)
_TIMING = {"time", "clips_per_s", "seconds", "videos_per_s", "elapsed", "run_dir"}


def _untimed(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if k not in _TIMING and "second" not in k}
    if isinstance(obj, list):
        return [_untimed(v) for v in obj]
    return obj


def probe_setup(cfg: Config, ctx: dict) -> Any:
    """The recipe after ``setup``: which model wrapper steps run through, and the focal modulations' kernel switch."""
    from videofocalnet.engine.distributed import init_distributed
    from videofocalnet.engine.train import TrainRecipe

    ctx["setups"] = ctx.get("setups", 0) + 1
    info = init_distributed(device=cfg.DEVICE, backend=cfg.DIST_BACKEND)
    recipe = TrainRecipe(cfg, info, run_dir=ctx["tmp"] / f"setup{ctx['setups']}", progress=False)
    recipe.setup(None)
    flags = {getattr(m, "training_kernels", None) for m in recipe.model.modules()} - {None}
    return type(recipe.ddp_model).__name__, sorted(flags)


def probe_run(cfg: Config, ctx: dict) -> Any:
    from videofocalnet.engine.run_log import read_jsonl
    from videofocalnet.engine.train import train

    ctx["runs"] = ctx.get("runs", 0) + 1
    run = ctx["tmp"] / f"run{ctx['runs']}"
    capture, stdout = _Capture(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            result = train(cfg, output=run, progress=False, callbacks=[capture])
    except Exception as exc:  # a key that makes training fail (DEVICE cuda on a CPU machine) changes behaviour too
        return "error", type(exc).__name__, str(exc).replace(str(run), "RUN")
    info = json.loads((run / "run_info.json").read_text())
    return (
        _untimed(read_jsonl(run / "metrics.jsonl")),
        _untimed(result),
        _untimed(info),
        sorted(str(p.relative_to(run)) for p in run.rglob("*")),
        capture.parts,
        capture.checkpoints,
        len(stdout.getvalue().splitlines()),
    )


def probe_eval(cfg: Config, ctx: dict) -> Any:
    """``videofocalnet eval``'s engine on the trained weights: metrics, predictions file, and the batches scored."""
    from videofocalnet.engine.evaluate import run_evaluation

    ctx["evals"] = ctx.get("evals", 0) + 1
    out = ctx["tmp"] / f"eval{ctx['evals']}"
    batches: list[tuple[int, ...]] = []

    def record(module, args):
        if hasattr(module, "head") and hasattr(module, "layers") and args:
            batches.append(tuple(args[0].shape))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        result = run_evaluation(cfg, ctx["files"]["weights.safetensors"], output_dir=out, progress=False)
    finally:
        handle.remove()
    return _untimed(result.summary()), (out / "predictions.csv").read_text(), batches


PROBES: dict[str, Callable[[Config, dict], Any]] = {
    name.removeprefix("probe_"): fn for name, fn in globals().items() if name.startswith("probe_")
}


_BASELINES: dict[tuple[str, str], Any] = {}


def test_probes_are_deterministic(tiny_videos, files, tmp_path):
    """The table compares one run with another, so the same config must give the same record every time."""
    ctx = {"tmp": tmp_path, "files": files}
    for probe in ("run", "train_transform", "mixup", "dataset"):
        context = {"AUG.MIXUP": 0.8, "AUG.CUTMIX": 1.0} if probe == "mixup" else {}
        cfg = _cfg(tiny_videos, context, None, files)
        first, second = PROBES[probe](cfg, ctx), PROBES[probe](cfg, ctx)
        if isinstance(first, tuple):
            assert [a == b for a, b in zip(first, second)] == [True] * len(first), (probe, first, second)
        assert first == second, probe


@pytest.mark.parametrize("key", sorted(TABLE))
def test_key_changes_behaviour_or_is_rejected(key, tiny_videos, files, tmp_path):
    value, probe, context = TABLE[key]
    if probe in CONDITIONAL:
        pytest.skip(f"{key}: its effect needs what {CONDITIONAL[probe]} checks")
    if probe == REJECT:
        with pytest.raises(ConfigError, match=rf"^{key} .* is not supported by videofocalnet .*; remove it$|^{key}"):
            _cfg(tiny_videos, context, (key, value), files)
        return
    ctx = {"tmp": tmp_path, "files": files}
    base_cfg = _cfg(tiny_videos, context, None, files)
    changed_cfg = _cfg(tiny_videos, context, (key, value), files)
    assert get_value(changed_cfg, key) != get_value(base_cfg, key), "the context already sets this value"
    cache_key = (probe, json.dumps(context, sort_keys=True))  # the unchanged run is shared by keys with one context
    if cache_key not in _BASELINES:
        _BASELINES[cache_key] = PROBES[probe](base_cfg, ctx)
    before = _BASELINES[cache_key]
    after = PROBES[probe](changed_cfg, ctx)
    assert before != after, f"{key}={value!r} changed nothing that {probe!r} builds"


# ----------------------------------------------------------------------------------------------------------------------
# The keys whose effect needs CUDA, several processes or an optional package
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="DATA.PIN_MEMORY only pins on CUDA (CPU tensors need none)")
def test_pin_memory_reaches_the_loader_on_cuda(tiny_videos, files, tmp_path):
    ctx = {"tmp": tmp_path, "files": files}
    runs = [
        probe_run(_cfg(tiny_videos, {"DEVICE": "cuda", "DATA.PIN_MEMORY": pin}, None, files), ctx) for pin in (1, 0)
    ]
    assert [run[4][2] for run in runs] == [True, False]


@pytest.mark.slow
def test_dist_backend_chooses_the_process_group_backend(tmp_path, python_process):
    """Two torchrun processes: DIST_BACKEND auto gives gloo on CPU; nccl is what they then try (an error without
    CUDA, a nccl group with it): either way not what auto did."""
    script = tmp_path / "backend.py"
    script.write_text(
        "import sys\n"
        "from videofocalnet.engine.config import load_config\n"
        "from videofocalnet.engine.distributed import cleanup, init_distributed\n"
        "cfg = load_config(None, ['DATA.NUM_CLASSES', '3', 'DEVICE', 'cpu', 'DIST_BACKEND', sys.argv[1]])\n"
        "info = init_distributed(device=cfg.DEVICE, backend=cfg.DIST_BACKEND)\n"
        "from pathlib import Path\n"
        "Path(sys.argv[2], f'rank{info.rank}').write_text(f'{info.backend} {info.world_size}')\n"
        "cleanup()\n"
    )
    outcomes = []
    for backend in ("auto", "nccl"):
        out = tmp_path / backend
        out.mkdir()
        port = str(_free_port())
        args = ("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port, str(script))
        proc = python_process(*args, backend, str(out), timeout=120)
        outcomes.append((proc.returncode, sorted(p.read_text() for p in out.iterdir())))
    assert outcomes[0] == (0, ["gloo 2", "gloo 2"]), outcomes
    assert outcomes[1] != outcomes[0]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_key_writes_event_files(tiny_videos, files, tmp_path):
    pytest.importorskip("tensorboard", reason="TENSORBOARD only acts where the optional tensorboard package is")
    ctx = {"tmp": tmp_path, "files": files}
    runs = [probe_run(_cfg(tiny_videos, {"TENSORBOARD": flag}, None, files), ctx)[3] for flag in (True, False)]
    assert any(name.startswith("tensorboard") for name in runs[0]) and not any(
        n.startswith("tensorboard") for n in runs[1]
    )


# ----------------------------------------------------------------------------------------------------------------------
# Official configs keep loading; bad values are one-line ConfigErrors naming the key
# ----------------------------------------------------------------------------------------------------------------------

# The official config.py's defaults (TalalWasim/Video-FocalNets), as its get_config() leaves them in every run's config:
# a released checkpoint embeds these, overlaid with the run's YAML and the values main.py sets.
OFFICIAL_DEFAULTS: dict[str, Any] = {
    "BASE": [""],
    "DATA": {
        "ROOT": "/PATH/TO/videos",
        "TRAIN_FILE": "/PATH/TO/train.txt",
        "VAL_FILE": "/PATH/TO/val.txt",
        "NUM_FRAMES": 32,
        "NUM_CLASSES": 101,
        "LABEL_LIST": "labels/ucf_101_labels.csv",
        "BATCH_SIZE": 128,
        "DATA_PATH": "",
        "DATASET": "imagenet",
        "IMG_SIZE": 224,
        "INPUT_SIZE": 224,
        "INTERPOLATION": "bicubic",
        "ZIP_MODE": False,
        "CACHE_MODE": "part",
        "PIN_MEMORY": True,
        "NUM_WORKERS": 8,
    },
    "MODEL": {
        "TYPE": "focal",
        "NAME": "",
        "RESUME": "",
        "NUM_CLASSES": 1000,
        "DROP_RATE": 0.0,
        "DROP_PATH_RATE": 0.1,
        "LABEL_SMOOTHING": 0.1,
        "PRETRAINED": False,
        "SPEC": {},
        "FOCAL": {
            "PATCH_SIZE": 4,
            "IN_CHANS": 3,
            "EMBED_DIM": 96,
            "DEPTHS": [2, 2, 6, 2],
            "MLP_RATIO": 4.0,
            "PATCH_NORM": True,
            "FOCAL_LEVELS": [2, 2, 2, 2],
            "FOCAL_WINDOWS": [3, 3, 3, 3],
            "FOCAL_FACTORS": [2, 2, 2, 2],
            "USE_CONV_EMBED": False,
            "USE_LAYERSCALE": False,
            "USE_POSTLN": False,
            "USE_POSTLN_IN_MODULATION": False,
            "NORMALIZE_MODULATOR": False,
        },
        "TUBELET_SIZE": 1,
    },
    "TRAIN": {
        "START_EPOCH": 0,
        "EPOCHS": 300,
        "WARMUP_EPOCHS": 20,
        "WEIGHT_DECAY": 0.05,
        "BASE_LR": 5e-4,
        "WARMUP_LR": 5e-7,
        "MIN_LR": 5e-6,
        "CLIP_GRAD": 5.0,
        "AUTO_RESUME": True,
        "ACCUMULATION_STEPS": 0,
        "USE_CHECKPOINT": False,
        "LR_SCHEDULER": {"NAME": "cosine", "DECAY_EPOCHS": 30, "DECAY_RATE": 0.1},
        "OPTIMIZER": {"NAME": "adamw", "EPS": 1e-8, "BETAS": (0.9, 0.999), "MOMENTUM": 0.9},
        "PRETRAINED_PATH": "",
    },
    "AUG": {
        "COLOR_JITTER": 0.4,
        "AUTO_AUGMENT": "rand-m9-mstd0.5-inc1",
        "REPROB": 0.25,
        "REMODE": "pixel",
        "RECOUNT": 1,
        "MIXUP": 0.8,
        "CUTMIX": 1.0,
        "CUTMIX_MINMAX": None,
        "MIXUP_PROB": 1.0,
        "MIXUP_SWITCH_PROB": 0.5,
        "MIXUP_MODE": "batch",
        "GRAY_SCALE": 0.2,
        "FLIP_RATIO": 0.5,
        "FRAME_INTERVAL": 2,
        "LABEL_SMOOTH": 0.1,
    },
    "TEST": {"CROP": True, "NUM_CLIP": 1, "NUM_CROP": 1, "ONLY_TEST": False},
    "AMP_OPT_LEVEL": "",
    "OUTPUT": "",
    "TAG": "default",
    "SAVE_FREQ": 1,
    "PRINT_FREQ": 100,
    "SEED": 0,
    "EVAL_MODE": False,
    "THROUGHPUT_MODE": False,
    "DEBUG_MODE": False,
    "LOCAL_RANK": 0,
}


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _overlay(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def test_official_yamls_and_the_full_official_config_load(official_dir):
    for path in sorted((official_dir / "configs").glob("*/*.yaml")):
        load_config(path)
        run = _overlay(OFFICIAL_DEFAULTS, yaml.safe_load(path.read_text()))
        # what the official main.py then writes into the config it saves (scaled lrs, apex O1, rank 0, run folder)
        tag = f"LR_{run['TRAIN']['BASE_LR']}_EP_{run['TRAIN']['EPOCHS']}_OPT_sgd_FRAMES_{run['DATA']['NUM_FRAMES']}"
        run = _overlay(run, {"TAG": tag, "OUTPUT": f"output/{run['DATA']['DATASET']}/{run['MODEL']['NAME']}/{tag}"})
        run = _overlay(run, {"AMP_OPT_LEVEL": "O1", "LOCAL_RANK": 0, "TRAIN": {"BASE_LR": 0.0016, "MIN_LR": 1.6e-5}})
        cfg = config_from_dict(run, source=str(path))
        assert cfg.AUG.REPROB == 0.25 and cfg.precision == "fp16" and tag == cfg.TAG, path
        build.train_transform(cfg)  # the official RandAugment spec parses too


@pytest.mark.parametrize(
    "key, text",
    [
        ("TRAIN.BASE_LR", "nan"),
        ("TRAIN.BASE_LR", "-0.1"),
        ("TRAIN.MIN_LR", "-inf"),
        ("DATA.STD", "[0, 0, 0]"),
        ("DATA.STD", "[58.4, .nan, 57.4]"),
        ("DATA.MEAN", "[.inf, 116.3, 103.5]"),
        ("TRAIN.WEIGHT_DECAY", "-0.1"),
        ("MODEL.DROP_PATH_RATE", "1.0"),
        ("AUG.MIXUP", "nan"),
        ("AUG.REPROB", "1.5"),
        ("AUG.MIXUP_PROB", "-0.5"),
        ("MODEL.LABEL_SMOOTHING", "1.0"),
        ("AUG.LABEL_SMOOTH", "-0.1"),
        ("DATA.INPUT_SIZE", "0"),
        ("DATA.BATCH_SIZE", "0"),
        ("DATA.NUM_FRAMES", "0"),
        ("MODEL.TUBELET_SIZE", "0"),
        ("TRAIN.EPOCHS", "0"),
        ("TRAIN.WARMUP_EPOCHS", "400"),
        ("TEST.NUM_CLIP", "2000"),
        ("TEST.FINAL_NUM_CROP", "2"),
        ("TEST.SHORT_SIDE", "100"),
        ("AUG.CUTMIX_MINMAX", "[0.8, 0.2]"),
        ("AUG.MIXUP_MODE", "row"),
        ("AUG.REMODE", "zeros"),
        ("AUG.AUTO_AUGMENT", "rand-m9-w0"),
        ("TRAIN.OPTIMIZER.BETAS", "[0.9, 1.0]"),
        ("SEED", "-1"),
        ("DATA.BACKEND", "decord"),
    ],
)
def test_bad_values_are_one_line_config_errors_naming_the_key(key, text):
    with pytest.raises(ConfigError) as info:
        load_config(None, ["DATA.NUM_CLASSES", "3", key, text])
    message = str(info.value)
    assert key.split(".")[-1] in message and "\n" not in message, message


def test_nan_std_and_lr_stop_the_cli_before_training(write_tiny_config, cli):
    """The issue's two cases: ``--opts DATA.STD '[0,0,0]'`` used to train on NaN loss and exit 0, ``TRAIN.BASE_LR
    nan`` to end in a traceback."""
    proc = cli("train", "--cfg", str(write_tiny_config()), "--opts", "DATA.STD", "[0,0,0]", "TRAIN.BASE_LR", "nan")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "TRAIN.BASE_LR must be a finite number, got nan" in proc.stderr, proc.stderr[-2000:]
    with pytest.raises(ConfigError, match=r"DATA.STD must be all > 0, got \[0.0, 0.0, 0.0\]"):
        load_config(write_tiny_config(), ["DATA.STD", "[0,0,0]"])
