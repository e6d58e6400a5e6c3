"""The training loop: short and linear on purpose (nanoGPT style); the parts live in their own modules.

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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

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
from videofocalnet.engine.distributed import DistInfo, all_reduce_sum, barrier, cleanup, init_distributed, seed_everything
from videofocalnet.engine.ema import ModelEMA
from videofocalnet.engine.run_log import MetricsLogger, plot_curves
from videofocalnet.engine.losses import build_criterion
from videofocalnet.engine.optim import build_optimizer, scaled_lrs
from videofocalnet.engine.schedule import LRSchedule

__all__ = ["train", "resolve_run_dir", "autocast_context", "KILL_ENV"]

KILL_ENV = "VIDEOFOCALNET_TEST_KILL_AFTER_STEP"  # test hook: SIGKILL self right after the checkpoint of this step


def resolve_run_dir(cfg: Config, output: str | os.PathLike[str] | None) -> Path:
    """``--output`` > ``OUTPUT`` > ``output/<DATASET>/<MODEL.NAME or MODEL.TYPE>``."""
    if output:
        return Path(output)
    if cfg.OUTPUT:
        return Path(cfg.OUTPUT)
    return Path("output") / cfg.DATA.DATASET / (cfg.MODEL.NAME or cfg.MODEL.TYPE)


def autocast_context(precision: str, device: torch.device):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("TRAIN.PRECISION fp16 needs a CUDA device (a grad scaler on GPU); use bf16 on CPU")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


@dataclass
class _Progress:
    epoch: int = 0  # epoch being trained
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed (per rank)
    global_step: int = 0  # optimizer updates done
    best_top1: float = -1.0
    best_epoch: int = -1


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _export_weights(path: Path, module: nn.Module, cfg: Config, *, epoch: int, step: int,
                    metrics: dict[str, Any] | None, ema: bool) -> Path:
    """Weights in the project's safetensors format (``videofocalnet.weights``: the embedded model name and
    kwargs let ``predict``/``export`` rebuild the model without a config), with the run's config and metrics."""
    from videofocalnet.weights import save_weights

    extra = {
        "num_classes": cfg.MODEL.NUM_CLASSES,
        "num_frames": cfg.DATA.NUM_FRAMES,
        "input_size": cfg.DATA.INPUT_SIZE,
        "mean": list(cfg.DATA.MEAN),
        "std": list(cfg.DATA.STD),
        "label_list": cfg.DATA.LABEL_LIST,
        "epoch": epoch,
        "global_step": step,
        "ema_weights": ema,
        "metrics": metrics or {},
        "config": config_to_dict(cfg),
    }
    return save_weights(path, module, model_name=build.resolve_model_name(cfg.MODEL.TYPE),
                        model_kwargs=build.model_kwargs(cfg), extra=extra)


def _load_pretrained(model: nn.Module, path: str, log) -> None:
    try:
        from videofocalnet.weights import load_pretrained
    except ImportError as exc:  # pragma: no cover - depends on another module being present
        raise NotImplementedError(
            f"TRAIN.PRETRAINED_PATH={path!r} needs videofocalnet.weights.load_pretrained, which is not "
            f"available ({exc})"
        ) from exc
    report = load_pretrained(model, path, strict_head=False)
    log(f"loaded pretrained weights from {path}: {report}")


def train(
    cfg: Config,
    *,
    output: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
    auto_resume: bool | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train (and evaluate) a model as configured; returns the final metrics. Works under torchrun."""
    info = init_distributed(device=cfg.DEVICE, backend=cfg.DIST_BACKEND)
    try:
        return _train(cfg, info, output=output, resume=resume, auto_resume=auto_resume, progress=progress)
    finally:
        cleanup()


def _train(cfg: Config, info: DistInfo, *, output, resume, auto_resume, progress) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from videofocalnet.data.loader import build_loader

    device = info.device
    run_dir = resolve_run_dir(cfg, output)
    log = (lambda msg: tqdm.write(msg)) if info.is_main else (lambda msg: None)
    seed_everything(cfg.SEED + info.rank)
    precision = cfg.precision
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("TRAIN.PRECISION fp16 needs a CUDA device (a grad scaler on GPU); use bf16 on CPU")

    # ---------------------------------------------------------------- data
    accum = cfg.accumulation_steps
    batch_size = cfg.DATA.BATCH_SIZE
    train_set = build.build_train_dataset(cfg)
    loader = build_loader(
        train_set, batch_size=batch_size, train=True, num_workers=cfg.DATA.NUM_WORKERS, seed=cfg.SEED,
        num_replicas=info.world_size, rank=info.rank, pin_memory=cfg.DATA.PIN_MEMORY and device.type == "cuda",
        drop_last=True, sampler=build.build_train_sampler(cfg, train_set, num_replicas=info.world_size, rank=info.rank),
    )
    loader.generator = torch.Generator()  # keep iterator creation off the global RNG (see module docstring)
    updates_per_epoch = len(loader) // accum
    if updates_per_epoch < 1:
        raise ValueError(
            f"{cfg.DATA.TRAIN_FILE}: {len(train_set)} videos give no full optimizer step with batch {batch_size} x "
            f"{info.world_size} processes x {accum} accumulation steps"
        )
    total_batch = batch_size * info.world_size * accum
    base_lr, warmup_lr, min_lr = scaled_lrs(
        cfg.TRAIN.BASE_LR, cfg.TRAIN.WARMUP_LR, cfg.TRAIN.MIN_LR, total_batch=total_batch, scale=cfg.TRAIN.SCALE_LR
    )

    # ---------------------------------------------------------------- model, optimizer, schedule
    model = build.build_model(cfg)
    resume_path = _resume_path(cfg, run_dir, resume, auto_resume)
    if cfg.TRAIN.PRETRAINED_PATH and resume_path is None:
        _load_pretrained(model, cfg.TRAIN.PRETRAINED_PATH, log)
    model.to(device)
    opt = cfg.TRAIN.OPTIMIZER
    optimizer = build_optimizer(
        model, name=opt.NAME, lr=base_lr, weight_decay=cfg.TRAIN.WEIGHT_DECAY, momentum=opt.MOMENTUM,
        nesterov=opt.NESTEROV, betas=tuple(opt.BETAS), eps=opt.EPS,
        official_no_weight_decay_bug=cfg.TRAIN.OFFICIAL_NO_WEIGHT_DECAY_BUG, fused=opt.FUSED,
    )
    schedule = LRSchedule(
        optimizer, base_lr=base_lr, total_steps=cfg.TRAIN.EPOCHS * updates_per_epoch,
        warmup_steps=cfg.TRAIN.WARMUP_EPOCHS * updates_per_epoch, warmup_lr=warmup_lr, min_lr=min_lr,
        name=cfg.TRAIN.LR_SCHEDULER.NAME, decay_steps=cfg.TRAIN.LR_SCHEDULER.DECAY_EPOCHS * updates_per_epoch,
        decay_rate=cfg.TRAIN.LR_SCHEDULER.DECAY_RATE,
    )
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    mixup = build.build_mixup(cfg)
    criterion = build_criterion(mixup_active=mixup is not None, label_smoothing=cfg.MODEL.LABEL_SMOOTHING)
    mix_gen = torch.Generator().manual_seed(cfg.SEED * 1000 + info.rank + 7)

    # ---------------------------------------------------------------- resume
    state = _Progress(epoch=cfg.TRAIN.START_EPOCH)
    saved_rng = None
    ema_state = None
    if resume_path is not None:
        ckpt = load_training_state(resume_path, map_location=device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        schedule.load_state_dict(ckpt["schedule"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        ema_state = ckpt.get("ema")
        p = ckpt["progress"]
        state = _Progress(p["epoch"], p["batch_in_epoch"], p["global_step"], p["best_top1"], p["best_epoch"])
        if len(ckpt["rng"]) == info.world_size:
            saved_rng = ckpt["rng"][info.rank]
        else:
            log(f"checkpoint was written by {len(ckpt['rng'])} processes, this run has {info.world_size}: "
                "data order is kept, random streams are re-seeded")
        log(f"resumed from {resume_path} at epoch {state.epoch}, step {state.global_step}")
        del ckpt

    # DDP broadcasts rank 0's weights; the EMA is built after that so every rank starts from the same copy
    ddp_model: nn.Module = model
    if info.distributed:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False
        )
    ema = ModelEMA(model, cfg.TRAIN.EMA.DECAY) if cfg.TRAIN.EMA.ENABLED else None
    if ema is not None and ema_state is not None:
        ema.load_state_dict(ema_state)
    if saved_rng is not None:
        restore_rng_state(saved_rng["global"])
        mix_gen.set_state(saved_rng["mixup"])

    # ---------------------------------------------------------------- run directory
    metrics = MetricsLogger(
        run_dir, enabled=info.is_main, tensorboard=cfg.TENSORBOARD,
        resume_step=state.global_step if resume_path is not None else None,
    )
    if info.is_main:
        save_config(cfg, run_dir / "config.yaml")
        run_info = {
            "model_name": build.resolve_model_name(cfg.MODEL.TYPE), "model_kwargs": build.model_kwargs(cfg),
            "parameters": sum(p.numel() for p in model.parameters()), "world_size": info.world_size,
            "backend": info.backend, "device": str(device), "precision": precision, "total_batch": total_batch,
            "scaled_lr": {"base": base_lr, "warmup": warmup_lr, "min": min_lr},
            "updates_per_epoch": updates_per_epoch, "train_videos": len(train_set),
        }
        (run_dir / "run_info.json").write_text(json.dumps(run_info, indent=2) + "\n", encoding="utf-8")
        log(f"run dir {run_dir}: {run_info['parameters']:,} parameters, total batch {total_batch}, "
            f"lr {base_lr:.3g} (warm-up {warmup_lr:.3g}, min {min_lr:.3g}), {precision}, world {info.world_size}")

    kill_after = int(os.environ.get(KILL_ENV, "0") or 0)

    def save_last() -> None:
        rng = {"global": capture_rng_state(), "mixup": mix_gen.get_state()}
        all_rng = _gather_objects(rng, info)
        if info.is_main:
            save_training_state(run_dir / LAST_NAME, {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                "ema": ema.state_dict() if ema is not None else None,
                "progress": vars(state).copy(),
                "rng": all_rng,
                "world_size": info.world_size,
                "config": config_to_dict(cfg),
            })
        barrier()
        if kill_after and state.global_step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    # ---------------------------------------------------------------- loop
    amp = autocast_context(precision, device)
    clip = cfg.TRAIN.CLIP_GRAD if cfg.TRAIN.CLIP_GRAD else math.inf
    tracker = _bad_tracker(cfg)
    last_val: dict[str, Any] = {}
    for epoch in range(state.epoch, cfg.TRAIN.EPOCHS):
        state.epoch = epoch
        train_set.set_epoch(epoch)
        loader.sampler.set_epoch(epoch)
        loader.sampler.set_start_index(state.batch_in_epoch * batch_size)
        loader.generator.manual_seed(cfg.SEED * 100003 + epoch)
        ddp_model.train()
        batches = iter(loader)
        first_update = state.batch_in_epoch // accum
        bar = tqdm(total=updates_per_epoch, initial=first_update, desc=f"epoch {epoch + 1}/{cfg.TRAIN.EPOCHS}",
                   unit="step", disable=not (progress and info.is_main), dynamic_ncols=True)
        epoch_loss = torch.zeros(2, dtype=torch.float64)
        t_epoch = time.perf_counter()
        for _update in range(first_update, updates_per_epoch):
            t0 = time.perf_counter()
            step_loss = torch.zeros(2, dtype=torch.float64)  # (sum of per-clip losses, clips) on this rank
            for micro in range(accum):
                x, y = _next_good_batch(batches, tracker)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if mixup is not None:
                    x, y = mixup(x, y, generator=mix_gen)
                sync = micro == accum - 1
                no_sync = ddp_model.no_sync() if info.distributed and not sync else contextlib.nullcontext()
                with no_sync:
                    with amp:
                        loss = criterion(ddp_model(x), y)
                    scaler.scale(loss / accum).backward()
                step_loss += torch.tensor([loss.item() * x.shape[0], x.shape[0]], dtype=torch.float64)
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            lr = schedule.lr
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            if ema is not None:
                ema.update(model)
            state.global_step += 1
            state.batch_in_epoch += accum

            all_reduce_sum(step_loss)
            epoch_loss += step_loss
            mean_loss = (step_loss[0] / step_loss[1]).item()
            clips_s = step_loss[1].item() / max(time.perf_counter() - t0, 1e-9)
            metrics.log("train_step", state.global_step, epoch=epoch, loss=mean_loss, lr=lr,
                        grad_norm=float(grad_norm), clips_per_s=clips_s)
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr:.3g}", clips_s=f"{clips_s:.1f}", refresh=False)
            bar.update(1)
            if cfg.PRINT_FREQ and state.global_step % cfg.PRINT_FREQ == 0 and not progress:
                log(f"epoch {epoch + 1} step {state.global_step} loss {mean_loss:.4f} lr {lr:.3g}")
            every = cfg.TRAIN.CHECKPOINT_EVERY_STEPS
            if every and state.global_step % every == 0 and state.batch_in_epoch < updates_per_epoch * accum:
                save_last()
        bar.close()
        epoch_mean = (epoch_loss[0] / epoch_loss[1]).item() if epoch_loss[1] > 0 else float("nan")
        metrics.log("train_epoch", state.global_step, epoch=epoch, loss=epoch_mean,
                    seconds=time.perf_counter() - t_epoch)

        # end of epoch: validate, keep best, snapshot, then the resumable state (after everything else)
        last_epoch = epoch == cfg.TRAIN.EPOCHS - 1
        eval_model = ema.module if (ema is not None and cfg.TRAIN.EMA.EVAL) else model
        if cfg.TRAIN.EVAL_FREQ and cfg.DATA.VAL_FILE and ((epoch + 1) % cfg.TRAIN.EVAL_FREQ == 0 or last_epoch):
            last_val = _validate(cfg, eval_model, info, num_clips=cfg.TEST.NUM_CLIP, num_crops=cfg.TEST.NUM_CROP,
                                 progress=progress)
            metrics.log("val", state.global_step, epoch=epoch, **last_val)
            log(f"epoch {epoch + 1}: train loss {epoch_mean:.4f}, val top-1 {last_val['top1']:.2f} "
                f"top-5 {last_val['top5']:.2f} ({last_val['num_videos']} videos)")
            if last_val["top1"] > state.best_top1:
                state.best_top1, state.best_epoch = last_val["top1"], epoch
                if info.is_main:
                    _export_weights(run_dir / BEST_NAME, eval_model, cfg, epoch=epoch, step=state.global_step,
                                    metrics=last_val, ema=eval_model is not model)
        if info.is_main and cfg.SAVE_FREQ and ((epoch + 1) % cfg.SAVE_FREQ == 0 or last_epoch):
            _export_weights(run_dir / f"epoch_{epoch + 1:04d}.safetensors", eval_model, cfg, epoch=epoch,
                            step=state.global_step, metrics=last_val, ema=eval_model is not model)
        state.epoch, state.batch_in_epoch = epoch + 1, 0
        save_last()
        if info.is_main:
            plot_curves(metrics.path, run_dir / "curves.png")

    # ---------------------------------------------------------------- final multi-view evaluation
    result: dict[str, Any] = {"best_top1": state.best_top1, "best_epoch": state.best_epoch,
                              "global_step": state.global_step, "run_dir": str(run_dir)}
    if cfg.TRAIN.FINAL_EVAL and cfg.DATA.VAL_FILE:
        eval_model = ema.module if (ema is not None and cfg.TRAIN.EMA.EVAL) else model
        final = _validate(cfg, eval_model, info, num_clips=cfg.TEST.FINAL_NUM_CLIP,
                          num_crops=cfg.TEST.FINAL_NUM_CROP, progress=progress)
        metrics.log("final_eval", state.global_step, **final)
        log(f"final {cfg.TEST.FINAL_NUM_CLIP}x{cfg.TEST.FINAL_NUM_CROP}-view evaluation: top-1 {final['top1']:.2f} "
            f"top-5 {final['top5']:.2f} mean-class {final['mean_class_acc']:.2f}")
        result["final"] = final
    metrics.close()
    if info.is_main:
        plot_curves(metrics.path, run_dir / "curves.png")
        (run_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _resume_path(cfg: Config, run_dir: Path, resume, auto_resume) -> Path | None:
    """An explicit ``--resume``/``MODEL.RESUME`` wins over auto-resume (the official code had it the other way)."""
    explicit = resume or cfg.MODEL.RESUME
    if explicit:
        return Path(explicit)
    if auto_resume if auto_resume is not None else cfg.TRAIN.AUTO_RESUME:
        return find_resume_checkpoint(run_dir)
    return None


def _bad_tracker(cfg: Config):
    try:
        from videofocalnet.data.dataset import BadVideoTracker
    except ImportError:  # pragma: no cover
        return None
    return BadVideoTracker(max_bad_fraction=cfg.DATA.MAX_BAD_FRACTION)


def _next_good_batch(batches, tracker) -> tuple[torch.Tensor, torch.Tensor]:
    """Next batch from ``collate_skip_bad`` -> (video (B, T, C, H, W), label (B,)); unreadable videos are counted
    (the tracker stops the run past DATA.MAX_BAD_FRACTION) and a batch with no readable video is replaced by the
    next one, so every rank still runs the same number of backward passes."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            raise RuntimeError("ran out of training batches: too many unreadable videos at the end of the epoch") from None
        if tracker is not None:
            tracker.update(int(batch["label"].shape[0]), batch.get("bad", []))
        if batch["video"] is not None:
            return batch["video"], batch["label"]


def _validate(cfg: Config, model: nn.Module, info: DistInfo, *, num_clips: int, num_crops: int,
              progress: bool) -> dict[str, Any]:
    from videofocalnet.engine.evaluate import evaluate_dataset

    dataset = build.build_eval_dataset(cfg, cfg.DATA.VAL_FILE, num_clips=num_clips, num_crops=num_crops)
    res = evaluate_dataset(model, dataset, cfg=cfg, info=info, progress=progress)
    return res.summary()

