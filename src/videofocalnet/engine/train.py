"""The training recipe: set up, restore, train one epoch, validate and save, finish (torchtune's fixed lifecycle).

Exact resume. The resumable state after optimizer update ``s`` of epoch ``e`` is: weights, optimizer, schedule
counter, grad scaler, EMA, ``(e, micro-batches done in e, s)``, every rank's RNG states (Python, NumPy, torch CPU/CUDA
and the mixup generator) and the best accuracy so far. Data order and augmentation are functions of
``(SEED, epoch, sample index)`` inside the data pipeline, so restarting the sampler at the saved position replays the
same batches. Creating a DataLoader iterator draws a seed from the *global* torch RNG; every loader here therefore
gets its own generator, so nothing between a checkpoint and the next update touches the global RNG, and a run killed
at any point (SIGKILL included) and resumed ends with bit-identical weights on CPU.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm

from videofocalnet.atomic import remove_stale_temp_files
from videofocalnet.data.dataset import BadVideoTracker, TooManyBadVideosError
from videofocalnet.data.loader import ResumableSampler, build_loader
from videofocalnet.download import resolve_weights
from videofocalnet.engine import build
from videofocalnet.engine.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    capture_rng_state,
    find_resume_checkpoint,
    load_training_state,
    restore_rng_state,
    save_training_state,
)
from videofocalnet.engine.config import Config, config_to_dict, save_config
from videofocalnet.engine.cpu_memory import keep_freed_memory
from videofocalnet.engine.distributed import (
    DistInfo,
    all_reduce_sum,
    any_rank,
    barrier,
    cleanup,
    gather_objects,
    init_distributed,
    min_over_ranks,
    seed_everything,
    shutdown_after_error,
)
from videofocalnet.engine.ema import ModelEMA
from videofocalnet.engine.evaluate import evaluate_dataset
from videofocalnet.engine.finetune import apply_freeze, frozen_norms_eval
from videofocalnet.engine.losses import build_criterion
from videofocalnet.engine.optim import build_optimizer, scaled_lrs
from videofocalnet.engine.precision import autocast_context, check_precision, grad_scaler, resolve_precision
from videofocalnet.engine.run_log import MetricsLogger, plot_curves
from videofocalnet.engine.schedule import LRSchedule
from videofocalnet.models.kernels import set_training_kernels
from videofocalnet.weights import load_pretrained, save_weights

__all__ = [
    "train",
    "resolve_run_dir",
    "TrainRecipe",
    "TrainState",
    "TrainCallback",
    "CheckpointKey",
    "TrainingInterrupted",
]


class CheckpointKey:
    """The entries of ``last.pt`` (torchtune names its checkpoint keys the same way)."""

    MODEL = "model"
    OPTIMIZER = "optimizer"
    SCHEDULE = "schedule"
    SCALER = "scaler"
    EMA = "ema"
    PROGRESS = "progress"  # TrainState as a dict
    RNG = "rng"  # one {"global": ..., "mixup": ...} per rank
    WORLD_SIZE = "world_size"
    CONFIG = "config"
    LABELS = "labels"  # class names (not the label file's path, which may not travel with the checkpoint)


@dataclass
class TrainState:
    """Where the run is; everything the loop needs to resume besides the modules' own states."""

    epoch: int = 0  # epoch being trained
    batch_in_epoch: int = 0  # loader batches of this epoch already consumed (per rank), replaced ones included
    skipped_in_epoch: int = 0  # of those, batches with no readable video (replaced by the next one)
    global_step: int = 0  # optimizer updates done
    best_top1: float = -1.0
    best_epoch: int = -1


@dataclass
class _PendingStep:
    """A finished optimizer update whose loss has not been synced yet (see ``TrainRecipe._flush_steps``)."""

    step: int
    epoch: int
    lr: float
    loss: torch.Tensor  # (2,) float64 on the training device: (sum of per-clip losses, clips) on this rank
    grad_norm: torch.Tensor  # 0-d, on the training device


class TrainCallback:
    """Hooks into the recipe (tests use them to kill a run at a chosen point). Every method is a no-op by default."""

    def on_step_end(self, recipe: TrainRecipe, record: dict[str, Any]) -> None:
        """After every optimizer update, with its logged ``train_step`` record. Records are synced across ranks
        once per logging interval (PRINT_FREQ steps, and before every checkpoint), so this runs then, for each of
        the interval's steps in order."""

    def on_checkpoint(self, recipe: TrainRecipe) -> None:
        """After ``last.pt`` was written (on every rank, after the barrier)."""


def resolve_run_dir(cfg: Config, output: str | os.PathLike[str] | None) -> Path:
    """``--output`` > ``OUTPUT`` > ``output/<DATASET>/<MODEL.NAME or MODEL.TYPE>[/<TAG>]`` (TAG when not "default")."""
    if output:
        return Path(output)
    if cfg.OUTPUT:
        return Path(cfg.OUTPUT)
    run = Path("output") / cfg.DATA.DATASET / (cfg.MODEL.NAME or cfg.MODEL.TYPE)
    return run if cfg.TAG == "default" else run / cfg.TAG


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run after an optimizer step; ``last.pt`` holds that step and resumes it exactly."""

    def __init__(self, run_dir: Path, global_step: int) -> None:
        self.run_dir, self.global_step = run_dir, global_step
        super().__init__(
            f"interrupted after step {global_step}; wrote {run_dir / LAST_NAME}: run the same command again (or "
            f"--resume {run_dir / LAST_NAME}) to continue exactly where it stopped"
        )


class _StopOnInterrupt:
    """The first SIGINT asks the loop to stop after the current optimizer step (and checkpoint it); a second one
    stops at once. Only the main thread can own signal handlers; elsewhere Ctrl-C keeps Python's behaviour."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step to write last.pt (Ctrl-C again to stop at once)", file=sys.stderr)

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def everywhere(self, info: DistInfo) -> bool:
        """Whether any rank was interrupted: all ranks must stop (and gather for last.pt) at the same step."""
        return any_rank(self.requested) if info.distributed else self.requested


def train(
    cfg: Config,
    *,
    output: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    auto_resume: bool | None = None,
    progress: bool = True,
    callbacks: Sequence[TrainCallback] = (),
    model: nn.Module | None = None,
) -> dict[str, Any]:
    """Train (and evaluate) a model as configured; returns the final metrics. Works under torchrun.

    ``model`` replaces the one ``MODEL`` describes (see ``TrainRecipe``); the caller keeps it, trained in place.
    """
    info = init_distributed(device=cfg.DEVICE, backend=cfg.DIST_BACKEND)
    try:
        run_dir = resolve_run_dir(cfg, output)
        recipe = TrainRecipe(cfg, info, run_dir=run_dir, progress=progress, callbacks=callbacks, model=model)
        recipe.setup(resume_path=_resume_path(cfg, recipe.run_dir, resume, auto_resume))
        try:
            with _StopOnInterrupt() as recipe.interrupt:
                for epoch in range(recipe.state.epoch, cfg.TRAIN.EPOCHS):
                    epoch_loss = recipe.train_epoch(epoch)
                    recipe.validate_and_save(epoch, epoch_loss)
            return recipe.finish()
        except BaseException:
            recipe.metrics.close()  # a failed run does not hold its log files open
            raise
    except BaseException as exc:  # this rank failed: end every rank now, with this rank's message (no hang)
        if not isinstance(exc, TrainingInterrupted):  # every rank stops at the same step for that one
            shutdown_after_error(exc, info)
        raise
    finally:
        cleanup()


class TrainRecipe:
    """One training run. ``setup`` builds everything (restoring ``last.pt`` if given), then ``train_epoch`` and
    ``validate_and_save`` alternate, then ``finish`` runs the final multi-view evaluation.

    ``model``: train this module instead of ``build.build_model(cfg)`` (a network that is not a registered
    architecture, such as the 3-D CNN yardsticks of ``benchmarks/design_space.py``); it must take (B, T, C, H, W)
    clips and return (B, MODEL.NUM_CLASSES) logits. Exported weight files name their architecture by ``MODEL.TYPE``,
    which would misdescribe it, so such a run writes none (SAVE_FREQ and TRAIN.EVAL_FREQ must be 0): ``last.pt``
    holds its state, and the caller scores it with ``evaluate.evaluate_dataset``.
    """

    def __init__(
        self,
        cfg: Config,
        info: DistInfo,
        *,
        run_dir: Path,
        progress: bool = True,
        callbacks: Sequence[TrainCallback] = (),
        model: nn.Module | None = None,
    ) -> None:
        if model is not None and (cfg.SAVE_FREQ or (cfg.TRAIN.EVAL_FREQ and cfg.DATA.VAL_FILE)):
            raise ValueError(
                "a model passed to the training recipe is not the architecture MODEL.TYPE names, so its weights "
                "cannot be exported: set SAVE_FREQ 0 and TRAIN.EVAL_FREQ 0 and score it with evaluate_dataset"
            )
        build.num_classes_from_label_list(cfg)
        self.cfg, self.info, self.run_dir, self.progress = cfg, info, run_dir, progress
        self.injected_model = model
        self.callbacks = list(callbacks)
        self.interrupt: _StopOnInterrupt | None = None  # set by train(); a recipe driven by hand has none
        self.device = info.device
        self.precision = resolve_precision(cfg.precision, self.device)  # auto: bf16 where the hardware has it
        self.accum = cfg.accumulation_steps
        self.state = TrainState(epoch=cfg.TRAIN.START_EPOCH)
        self.last_val: dict[str, Any] = {}
        self._pending: list[_PendingStep] = []  # steps not yet synced and logged (``_flush_steps``)
        self._epoch_loss = [0.0, 0.0]  # this epoch's synced (sum of per-clip losses, clips)
        self._interval_start = time.perf_counter()
        self._bar: Any = None

    def log(self, msg: str) -> None:
        if self.info.is_main:
            tqdm.write(msg)

    # ------------------------------------------------------------------------------------------------ set up
    def setup(self, resume_path: Path | None) -> None:
        seed_everything(self.cfg.SEED + self.info.rank)
        check_precision(self.precision, self.device)
        self._setup_data()
        self._setup_model(pretrained=resume_path is None)
        self._setup_optimization()
        saved_rng, ema_state = self.restore(resume_path) if resume_path is not None else (None, None)
        # DDP broadcasts rank 0's weights; the EMA is built after that so every rank starts from the same copy
        self.ddp_model: nn.Module = self.model
        if self.info.distributed:
            _align_param_strides(self.model)  # before DDP makes its bucket views from the parameters' strides
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=device_ids, forward_sync_buffers=False
            )
        self._compile_pending = False
        if self.cfg.TRAIN.COMPILE:  # compiled lazily by the first step, which train_epoch times and logs
            self.ddp_model = cast(nn.Module, torch.compile(self.ddp_model))
            self._compile_pending = True
        self.ema = ModelEMA(self.model, self.cfg.TRAIN.EMA.DECAY) if self.cfg.TRAIN.EMA.ENABLED else None
        if self.ema is not None and ema_state is not None:
            self.ema.load_state_dict(ema_state)
        if saved_rng is not None:
            restore_rng_state(saved_rng["global"])
            self.mix_gen.set_state(saved_rng["mixup"])
            if "position" in saved_rng:  # this rank's own sampler position (see save_last)
                self.state.batch_in_epoch, self.state.skipped_in_epoch = map(int, saved_rng["position"])
        self._setup_run_dir(resumed=resume_path is not None)

    def _setup_data(self) -> None:
        cfg, info = self.cfg, self.info
        self.train_set = build.build_train_dataset(cfg)
        sampler = build.build_train_sampler(cfg, self.train_set, num_replicas=info.world_size, rank=info.rank)
        self.loader = build_loader(
            self.train_set,
            batch_size=cfg.DATA.BATCH_SIZE,
            train=True,
            num_workers=cfg.DATA.NUM_WORKERS,
            seed=cfg.SEED,
            num_replicas=info.world_size,
            rank=info.rank,
            sampler=sampler,
            drop_last=True,
            pin_memory=cfg.DATA.PIN_MEMORY and self.device.type == "cuda",
        )
        self.loader.generator = torch.Generator()  # keep iterator creation off the global RNG (see module docstring)
        self.updates_per_epoch = len(self.loader) // self.accum
        if self.updates_per_epoch < 1:
            raise ValueError(
                f"{cfg.DATA.TRAIN_FILE}: {len(self.train_set)} videos give no full optimizer step with batch "
                f"{cfg.DATA.BATCH_SIZE} x {info.world_size} processes x {self.accum} accumulation steps"
            )
        self.tracker = BadVideoTracker(max_bad_fraction=cfg.DATA.MAX_BAD_FRACTION)

    def _setup_model(self, *, pretrained: bool) -> None:
        self.model = self.injected_model if self.injected_model is not None else build.build_model(self.cfg)
        path = self.cfg.TRAIN.PRETRAINED_PATH
        if path and pretrained:  # a resumed run takes its weights from last.pt instead
            # a URL, hf-hub: id or zoo name: rank 0 downloads it once into the cache, the others read the cached file
            if self.info.is_main:
                resolve_weights(path, progress=self.progress)
            barrier()
            report = load_pretrained(self.model, resolve_weights(path, progress=False), strict_head=False)
            self.log(f"loaded pretrained weights from {path}: {report}")
        self.frozen = apply_freeze(self.model, self.cfg.TRAIN.FREEZE)
        if self.frozen:
            total = sum(1 for _ in self.model.parameters())
            self.log(f"TRAIN.FREEZE {self.cfg.TRAIN.FREEZE!r}: froze {len(self.frozen)} of {total} parameter tensors")
        self.model.to(self.device)
        if self.cfg.TRAIN.FAST_KERNELS:
            set_training_kernels(self.model)
            if self.device.type == "cpu":
                keep_freed_memory()

    def _setup_optimization(self) -> None:
        cfg, tr = self.cfg, self.cfg.TRAIN
        self.total_batch = cfg.DATA.BATCH_SIZE * self.info.world_size * self.accum
        self.lrs = scaled_lrs(tr.BASE_LR, tr.WARMUP_LR, tr.MIN_LR, total_batch=self.total_batch, scale=tr.SCALE_LR)
        base_lr, warmup_lr, min_lr = self.lrs
        opt = tr.OPTIMIZER
        self.optimizer = build_optimizer(
            self.model,
            name=opt.NAME,
            lr=base_lr,
            weight_decay=tr.WEIGHT_DECAY,
            momentum=opt.MOMENTUM,
            nesterov=opt.NESTEROV,
            betas=(opt.BETAS[0], opt.BETAS[1]),
            eps=opt.EPS,
            official_no_weight_decay_bug=tr.OFFICIAL_NO_WEIGHT_DECAY_BUG,
            fused=opt.FUSED,
            layer_decay=tr.LAYER_DECAY,
        )
        per_epoch = self.updates_per_epoch
        self.schedule = LRSchedule(
            self.optimizer,
            base_lr=base_lr,
            total_steps=tr.EPOCHS * per_epoch,
            warmup_steps=tr.WARMUP_EPOCHS * per_epoch,
            warmup_lr=warmup_lr,
            min_lr=min_lr,
            name=tr.LR_SCHEDULER.NAME,
            decay_steps=tr.LR_SCHEDULER.DECAY_EPOCHS * per_epoch,
            decay_rate=tr.LR_SCHEDULER.DECAY_RATE,
        )
        self.scaler = grad_scaler(self.precision)
        self.mixup = build.build_mixup(cfg)
        self.criterion = build_criterion(mixup_active=self.mixup is not None, label_smoothing=cfg.MODEL.LABEL_SMOOTHING)
        self.mix_gen = torch.Generator().manual_seed(cfg.SEED * 1000 + self.info.rank + 7)

    def _setup_run_dir(self, *, resumed: bool) -> None:
        info = self.info
        self.metrics = MetricsLogger(
            self.run_dir,
            enabled=info.is_main,
            tensorboard=self.cfg.TENSORBOARD,
            resume_step=self.state.global_step if resumed else None,
        )
        if not info.is_main:
            return
        for stale in remove_stale_temp_files(self.run_dir):
            self.log(f"removed {stale.name}, left by a write that was killed")
        save_config(self.cfg, self.run_dir / "config.yaml")
        base_lr, warmup_lr, min_lr = self.lrs
        injected = self.injected_model is not None
        run_info = {
            "model_name": type(self.model).__qualname__ if injected else build.resolve_model_name(self.cfg.MODEL.TYPE),
            "model_kwargs": None if injected else build.model_kwargs(self.cfg),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "world_size": info.world_size,
            "backend": info.backend,
            "device": str(self.device),
            "precision": self.precision,
            "total_batch": self.total_batch,
            "scaled_lr": {"base": base_lr, "warmup": warmup_lr, "min": min_lr},
            "updates_per_epoch": self.updates_per_epoch,
            "train_videos": len(self.train_set),
        }
        (self.run_dir / "run_info.json").write_text(json.dumps(run_info, indent=2) + "\n", encoding="utf-8")
        self.log(
            f"run dir {self.run_dir}: {run_info['parameters']:,} parameters, total batch {self.total_batch}, "
            f"lr {base_lr:.3g} (warm-up {warmup_lr:.3g}, min {min_lr:.3g}), {self.precision}, "
            f"world {info.world_size}"
        )

    # ------------------------------------------------------------------------------------------------ restore
    def restore(self, path: Path) -> tuple[dict[str, Any] | None, dict[str, torch.Tensor] | None]:
        """Load ``last.pt`` into model, optimizer, schedule, scaler and state; returns (this rank's RNG, EMA)."""
        K = CheckpointKey
        ckpt = load_training_state(path, map_location=self.device)
        try:
            self.model.load_state_dict(ckpt[K.MODEL])
        except RuntimeError as exc:  # missing/unexpected keys or other shapes: another model's run folder
            first = str(exc).strip().splitlines()[1:2] or [""]
            raise ValueError(
                f"{path} holds another model than MODEL.TYPE {self.cfg.MODEL.TYPE!r} builds ({first[0].strip()[:120]}"
                "...): choose another --output, or pass --no-auto-resume only if you mean to overwrite that run"
            ) from None
        self.optimizer.load_state_dict(ckpt[K.OPTIMIZER])
        self.schedule.load_state_dict(ckpt[K.SCHEDULE])
        if ckpt.get(K.SCALER):
            self.scaler.load_state_dict(ckpt[K.SCALER])
        self.state = TrainState(**ckpt[K.PROGRESS])
        saved_rng = None
        if len(ckpt[K.RNG]) == self.info.world_size:
            saved_rng = ckpt[K.RNG][self.info.rank]
        else:
            self.log(
                f"checkpoint was written by {len(ckpt[K.RNG])} processes, this run has {self.info.world_size}: "
                "data order is kept, random streams are re-seeded"
            )
        self.log(f"resumed from {path} at epoch {self.state.epoch}, step {self.state.global_step}")
        return saved_rng, ckpt.get(K.EMA)

    def save_last(self) -> None:
        """Write the resumable state (rank 0), after gathering every rank's RNG states."""
        K = CheckpointKey
        self._flush_steps()  # the metrics file holds every step the checkpoint holds
        # each rank's sampler position travels with its RNG: ranks skip different bad batches
        position = (self.state.batch_in_epoch, self.state.skipped_in_epoch)
        rng = gather_objects(
            {"global": capture_rng_state(), "mixup": self.mix_gen.get_state(), "position": position}, self.info
        )
        if self.info.is_main:
            save_training_state(
                self.run_dir / LAST_NAME,
                {
                    K.MODEL: self.model.state_dict(),
                    K.OPTIMIZER: self.optimizer.state_dict(),
                    K.SCHEDULE: self.schedule.state_dict(),
                    K.SCALER: self.scaler.state_dict() if self.scaler.is_enabled() else {},
                    K.EMA: self.ema.state_dict() if self.ema is not None else None,
                    K.PROGRESS: vars(self.state).copy(),
                    K.RNG: rng,
                    K.WORLD_SIZE: self.info.world_size,
                    K.CONFIG: config_to_dict(self.cfg),
                    K.LABELS: build.class_names(self.cfg),
                },
            )
        barrier()
        self._interval_start = time.perf_counter()  # the write is not part of the next interval's throughput
        for callback in self.callbacks:
            callback.on_checkpoint(self)

    # ------------------------------------------------------------------------------------------------ train
    def train_epoch(self, epoch: int) -> torch.Tensor:
        """One epoch from the saved position; returns (sum of per-clip losses, clips) over all ranks."""
        cfg, state = self.cfg, self.state
        state.epoch = epoch
        self.train_set.set_epoch(epoch)
        sampler = cast(ResumableSampler, self.loader.sampler)  # build_loader(train=True) gives one
        sampler.set_epoch(epoch)
        sampler.set_start_index(state.batch_in_epoch * cfg.DATA.BATCH_SIZE)
        self.loader.generator.manual_seed(cfg.SEED * 100003 + epoch)
        self.ddp_model.train()
        if cfg.TRAIN.FREEZE_NORM_EVAL:
            frozen_norms_eval(self.model)
        batches = iter(self.loader)
        first_update = (state.batch_in_epoch - state.skipped_in_epoch) // self.accum
        epoch_batches = sampler.num_samples // cfg.DATA.BATCH_SIZE
        self._bar = tqdm(
            total=self.updates_per_epoch,
            initial=first_update,
            desc=f"epoch {epoch + 1}/{cfg.TRAIN.EPOCHS}",
            unit="step",
            disable=not (self.progress and self.info.is_main),
            dynamic_ncols=True,
        )
        self._epoch_loss, self._pending = [0.0, 0.0], []
        t_epoch = self._interval_start = time.perf_counter()
        for _update in range(first_update, self.updates_per_epoch):
            if _batches_left_everywhere(epoch_batches - state.batch_in_epoch, self.info) < self.accum:
                break  # replaced batches used up the epoch's tail (on some rank): the epoch ends one update early
            t_step = time.perf_counter()
            try:
                step_loss, grad_norm, lr = self.train_step(batches)
            except _EpochExhausted:
                break
            if self._compile_pending:
                self._compile_pending = False
                seconds = time.perf_counter() - t_step
                self.metrics.log("compile", state.global_step, seconds=seconds)
                self.log(f"TRAIN.COMPILE: the first step, which compiles the model, took {seconds:.1f} s")
            self._pending.append(_PendingStep(state.global_step, epoch, lr, step_loss, grad_norm))
            self._bar.update(1)
            if cfg.PRINT_FREQ and state.global_step % cfg.PRINT_FREQ == 0:
                self._flush_steps()
            if self.interrupt is not None and self.interrupt.everywhere(self.info):
                self._bar.close()
                self.save_last()
                raise TrainingInterrupted(self.run_dir, state.global_step)
            every = cfg.TRAIN.CHECKPOINT_EVERY_STEPS
            if every and state.global_step % every == 0 and state.batch_in_epoch < self.updates_per_epoch * self.accum:
                self.save_last()
        self._flush_steps()
        self._bar.close()
        total, clips = self._epoch_loss
        self.metrics.log(
            "train_epoch",
            state.global_step,
            epoch=epoch,
            loss=total / clips if clips > 0 else float("nan"),
            seconds=time.perf_counter() - t_epoch,
        )
        return torch.tensor(self._epoch_loss, dtype=torch.float64)

    def _flush_steps(self) -> None:
        """Sync the steps held since the last logging point and log them: one all-reduce of their stacked loss sums
        and one device-to-host copy per interval (PRINT_FREQ steps, and before every checkpoint) instead of two host
        syncs and a collective per micro-batch. Every rank reaches the same flush points (they depend on the step
        count only), so the collective always pairs up. ``on_step_end`` runs here, once per step, in step order."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        sums = all_reduce_sum(torch.stack([p.loss for p in pending])).tolist()  # (steps, 2) summed over ranks
        norms = torch.stack([p.grad_norm for p in pending]).tolist()  # equal on every rank after DDP's all-reduce
        now = time.perf_counter()
        clips_s = sum(clips for _, clips in sums) / max(now - self._interval_start, 1e-9)  # the interval's mean
        self._interval_start = now
        for p, (total, clips), norm in zip(pending, sums, norms):
            self._epoch_loss[0] += total
            self._epoch_loss[1] += clips
            mean_loss = total / clips
            record = {"epoch": p.epoch, "loss": mean_loss, "lr": p.lr, "grad_norm": norm, "clips_per_s": clips_s}
            self.metrics.log("train_step", p.step, **record)
            if self.cfg.PRINT_FREQ and p.step % self.cfg.PRINT_FREQ == 0 and not self.progress:
                self.log(f"epoch {p.epoch + 1} step {p.step} loss {mean_loss:.4f} lr {p.lr:.3g}")
            for callback in self.callbacks:
                callback.on_step_end(self, record)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{p.lr:.3g}", clips_s=f"{clips_s:.1f}", refresh=False)

    def train_step(self, batches: Iterator[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor, float]:
        """One optimizer update over ``accum`` micro-batches -> (this rank's (loss sum, clips), grad norm, lr).

        The loss sums and the norm stay on the training device: nothing here waits for it (``_flush_steps`` syncs).
        """
        step_loss = torch.zeros(2, dtype=torch.float64, device=self.device)  # (sum of per-clip losses, clips)
        amp = autocast_context(self.precision, self.device)
        ddp = self.ddp_model if isinstance(self.ddp_model, nn.parallel.DistributedDataParallel) else None
        consumed = 0
        for micro in range(self.accum):
            got = _next_good_batch(batches, self.tracker)
            if got is None:
                if micro == 0 and not self.info.distributed:
                    raise _EpochExhausted  # only bad batches were left: nothing of this update has run
                raise TooManyBadVideosError(
                    f"ran out of training batches inside an optimizer step: {self.tracker.bad} of "
                    f"{self.tracker.seen} videos seen were unreadable (DATA.MAX_BAD_FRACTION "
                    f"{self.tracker.max_bad_fraction}; run videofocalnet check-data on the training list)"
                )
            x, y, taken = got
            consumed += taken
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)  # pinned on CUDA
            if self.mixup is not None:
                x, y = self.mixup(x, y, generator=self.mix_gen)
            last_micro = micro == self.accum - 1
            with ddp.no_sync() if ddp is not None and not last_micro else contextlib.nullcontext():
                with amp:
                    loss = self.criterion(self.ddp_model(x), y)
                self.scaler.scale(loss / self.accum).backward()
            step_loss[0] += loss.detach().double() * x.shape[0]
            step_loss[1] += x.shape[0]
        self.scaler.unscale_(self.optimizer)
        clip = self.cfg.TRAIN.CLIP_GRAD if self.cfg.TRAIN.CLIP_GRAD else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        lr = self.schedule.lr
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        if self.ema is not None:
            self.ema.update(self.model)
        self.state.global_step += 1
        self.state.batch_in_epoch += consumed  # the sampler position, replaced batches included
        self.state.skipped_in_epoch += consumed - self.accum
        return step_loss, grad_norm.detach(), lr

    # ------------------------------------------------------------------------------------------------ validate
    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if (self.ema is not None and self.cfg.TRAIN.EMA.EVAL) else self.model

    def validate(self, *, num_clips: int, num_crops: int) -> dict[str, Any]:
        dataset = build.build_eval_dataset(self.cfg, self.cfg.DATA.VAL_FILE, num_clips=num_clips, num_crops=num_crops)
        return evaluate_dataset(
            self.eval_model, dataset, cfg=self.cfg, info=self.info, progress=self.progress
        ).summary()

    def validate_and_save(self, epoch: int, epoch_loss: torch.Tensor) -> None:
        """End of epoch: validate, keep the best weights, snapshot, then the resumable state (after everything)."""
        cfg, state = self.cfg, self.state
        last_epoch = epoch == cfg.TRAIN.EPOCHS - 1
        if cfg.TRAIN.EVAL_FREQ and cfg.DATA.VAL_FILE and ((epoch + 1) % cfg.TRAIN.EVAL_FREQ == 0 or last_epoch):
            self.last_val = self.validate(num_clips=cfg.TEST.NUM_CLIP, num_crops=cfg.TEST.NUM_CROP)
            self.metrics.log("val", state.global_step, epoch=epoch, **self.last_val)
            epoch_mean = (epoch_loss[0] / epoch_loss[1]).item() if epoch_loss[1] > 0 else float("nan")
            self.log(
                f"epoch {epoch + 1}: train loss {epoch_mean:.4f}, val top-1 {self.last_val['top1']:.2f} "
                f"top-5 {self.last_val['top5']:.2f} ({self.last_val['num_videos']} videos)"
            )
            if self.last_val["top1"] > state.best_top1:
                state.best_top1, state.best_epoch = self.last_val["top1"], epoch
                if self.info.is_main:
                    self.export_weights(self.run_dir / BEST_NAME, epoch)
        if self.info.is_main and cfg.SAVE_FREQ and ((epoch + 1) % cfg.SAVE_FREQ == 0 or last_epoch):
            self.export_weights(self.run_dir / f"epoch_{epoch + 1:04d}.safetensors", epoch)
        state.epoch, state.batch_in_epoch, state.skipped_in_epoch = epoch + 1, 0, 0
        self.save_last()
        if self.info.is_main:
            plot_curves(self.metrics.path, self.run_dir / "curves.png")

    def export_weights(self, path: Path, epoch: int) -> Path:
        """The evaluation weights in the project's safetensors format, with the run's config and last metrics."""
        cfg, module = self.cfg, self.eval_model
        extra = {
            "preprocess": build.eval_preprocess(cfg).to_dict(),
            "labels": build.class_names(cfg),
            "epoch": epoch,
            "global_step": self.state.global_step,
            "ema_weights": module is not self.model,
            "metrics": self.last_val,
            "config": config_to_dict(cfg),
        }
        return save_weights(
            path,
            module,
            model_name=build.resolve_model_name(cfg.MODEL.TYPE),
            model_kwargs=build.model_kwargs(cfg),
            extra=extra,
        )

    # ------------------------------------------------------------------------------------------------ finish
    def finish(self) -> dict[str, Any]:
        """Final multi-view evaluation, curves and ``result.json``; returns the result."""
        cfg, state = self.cfg, self.state
        result: dict[str, Any] = {
            "best_top1": state.best_top1,
            "best_epoch": state.best_epoch,
            "global_step": state.global_step,
            "run_dir": str(self.run_dir),
        }
        if cfg.TRAIN.FINAL_EVAL and cfg.DATA.VAL_FILE:
            clips, crops = cfg.TEST.FINAL_NUM_CLIP, cfg.TEST.FINAL_NUM_CROP
            final = self.validate(num_clips=clips, num_crops=crops)
            self.metrics.log("final_eval", state.global_step, **final)
            self.log(
                f"final {clips}x{crops}-view evaluation: top-1 {final['top1']:.2f} "
                f"top-5 {final['top5']:.2f} mean-class {final['mean_class_acc']:.2f}"
            )
            result["final"] = final
        self.metrics.close()
        if self.info.is_main:
            plot_curves(self.metrics.path, self.run_dir / "curves.png")
            (self.run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return result


# ---------------------------------------------------------------------------------------------------- helpers
def _resume_path(
    cfg: Config, run_dir: Path, resume: str | os.PathLike[str] | None, auto_resume: bool | None
) -> Path | None:
    """An explicit ``--resume``/``MODEL.RESUME`` wins over auto-resume (the official code had it the other way)."""
    explicit = resume or cfg.MODEL.RESUME
    if explicit:
        return Path(explicit)
    if auto_resume if auto_resume is not None else cfg.TRAIN.AUTO_RESUME:
        return find_resume_checkpoint(run_dir)
    return None


def _align_param_strides(model: nn.Module) -> None:
    """Give each depthwise conv weight, (C, 1, k, k), the channels_last strides: the same bytes, another stride
    on the size-1 dim.

    The depthwise convolutions run channels-last (``focal_modulation.depthwise_conv_nhwc``), so their weight
    gradients come with those strides; DDP makes its bucket views from the parameters' strides and compares them
    exactly, so without this it warns ("Grad strides do not match bucket view strides") and copies through
    mismatched views on every step. Other weights keep theirs (a 1x1 conv applied as a linear map gets plain
    gradients).
    """
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, nn.Conv2d) and module.groups > 1 and weight is not None and weight.shape[1] == 1:
            strides = torch.empty_like(weight, memory_format=torch.channels_last).stride()
            weight.data = weight.data.as_strided(weight.shape, strides)


class _EpochExhausted(Exception):
    """The loader ended before an update's first readable batch: replaced batches used up the epoch."""


def _batches_left_everywhere(left: int, info: DistInfo) -> int:
    """The fewest loader batches any rank has left in this epoch (ranks skip different bad batches, and all must
    run the same number of updates)."""
    return min_over_ranks(left) if info.distributed else left


def _next_good_batch(
    batches: Iterator[dict[str, Any]], tracker: BadVideoTracker
) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    """Next batch from ``collate_skip_bad`` -> (video (B, T, C, H, W), label (B,), loader batches taken), or None
    when the loader is exhausted. Unreadable videos are counted (the tracker stops the run past
    DATA.MAX_BAD_FRACTION); a batch with no readable video is replaced by the next one, and the count of batches
    taken lets the caller keep the sampler position exact, so a resume replays from the right batch."""
    taken = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return None
        taken += 1
        tracker.update(int(batch["label"].shape[0]), batch.get("bad", []))
        if batch["video"] is not None:
            return batch["video"], batch["label"], taken
