"""Per-iteration learning-rate schedules with linear warm-up (what the official code gets from timm).

The schedule is a pure function of the optimizer-update counter, so resuming only needs that counter:
``LRSchedule.state_dict()`` holds it plus the constants, and a mismatch on load is reported rather than ignored.
Formulas follow timm's ``CosineLRScheduler(t_in_epochs=False, cycle_limit=1)`` used by the official repo: the cosine
runs over the *whole* run (warm-up included), i.e. after warm-up ``lr = min + (base - min) * (1 + cos(pi t / T)) / 2``.
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = ["SCHEDULES", "LRSchedule"]

SCHEDULES = ("cosine", "linear", "step")  # TRAIN.LR_SCHEDULER.NAME (LRSchedule.lr_at)


class LRSchedule:
    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        base_lr: float,
        total_steps: int,
        warmup_steps: int = 0,
        warmup_lr: float = 0.0,
        min_lr: float = 0.0,
        name: str = "cosine",
        decay_steps: int = 1,
        decay_rate: float = 0.1,
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if name not in SCHEDULES:
            raise ValueError(f"unknown schedule {name!r}; choose cosine, linear or step")
        self.optimizer = optimizer
        self.base_lr, self.total_steps, self.warmup_steps = base_lr, total_steps, warmup_steps
        self.warmup_lr, self.min_lr, self.name = warmup_lr, min_lr, name
        self.decay_steps, self.decay_rate = max(1, decay_steps), decay_rate
        self.step_count = 0  # optimizer updates done so far
        self.apply()

    def lr_at(self, t: int) -> float:
        """Learning rate used by optimizer update number ``t`` (0-based)."""
        if t < self.warmup_steps:
            return self.warmup_lr + t * (self.base_lr - self.warmup_lr) / self.warmup_steps
        if self.name == "cosine":
            if t >= self.total_steps:
                return self.min_lr
            return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * t / self.total_steps))
        if self.name == "linear":  # official LinearLRScheduler: decays to 1% of base after warm-up
            frac = min(1.0, (t - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
            return self.base_lr - (self.base_lr - self.base_lr * 0.01) * frac
        return self.base_lr * self.decay_rate ** (t // self.decay_steps)

    def apply(self) -> float:
        """Set every group's rate to the schedule's, times the group's ``lr_scale`` (layer decay) if it has one."""
        lr = self.lr_at(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        return lr

    def step(self) -> float:
        """Call after each optimizer update: advances the counter and sets the next update's rate."""
        self.step_count += 1
        return self.apply()

    @property
    def lr(self) -> float:
        return self.lr_at(self.step_count)

    def state_dict(self) -> dict:
        return {
            "step_count": self.step_count,
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_lr": self.warmup_lr,
            "min_lr": self.min_lr,
            "name": self.name,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore the update counter. Constants that differ (e.g. more EPOCHS to extend a run, another world size)
        are reported with a warning and this run's values are kept: the resume is then no longer exact."""
        changed = [
            f"{key} {state[key]!r} -> {getattr(self, key)!r}"
            for key in ("base_lr", "total_steps", "warmup_steps", "warmup_lr", "min_lr", "name")
            if key in state and state[key] != getattr(self, key)
        ]
        if changed:
            warnings.warn(
                "resuming with a different learning-rate schedule (" + ", ".join(changed) + "); the "
                "counter is restored and this run's schedule continues from it",
                stacklevel=2,
            )
        self.step_count = int(state["step_count"])
        self.apply()
