"""Run logging: JSONL records (one per step and per epoch), optional TensorBoard scalars, PNG curves.

Only rank 0 writes. JSONL is the machine-readable record; every line is one JSON object with a ``kind`` field
(``train_step``, ``train_epoch``, ``val``, ``final_eval``) and the global step, so a run can be plotted or compared
without parsing text logs. After a resume the records beyond the resumed step are dropped, so a killed-and-resumed
run has the same metrics file as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "plot_curves", "read_jsonl"]


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line from a killed process
                if lineno == 1 or fh.readline():
                    raise ValueError(f"{path}:{lineno}: invalid JSON line {line[:80]!r}") from None
    return records


class MetricsLogger:
    def __init__(self, run_dir: str | Path, *, enabled: bool, tensorboard: bool = True, resume_step: int | None = None):
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.tb = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            # records written after the checkpoint we resume from belong to the lost future: drop them
            kept = [
                r for r in read_jsonl(self.path) if r.get("step", 0) <= resume_step and r.get("kind") != "final_eval"
            ]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held for the run, closed by close()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # needs the optional tensorboard package

                self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))
            except ImportError:
                self.tb = None

    def log(self, kind: str, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        record = {"kind": kind, "step": int(step), "time": round(time.time(), 3), **values}
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self.tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if not self.enabled:
            return
        self._fh.close()
        if self.tb is not None:
            self.tb.close()


def plot_curves(metrics_path: str | Path, out_png: str | Path) -> Path | None:
    """Loss (per step, and per epoch) and validation accuracy curves in one PNG; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    records = read_jsonl(metrics_path)
    steps = [r for r in records if r["kind"] == "train_step"]
    epochs = [r for r in records if r["kind"] == "train_epoch"]
    vals = [r for r in records if r["kind"] == "val"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    if steps:
        ax_loss.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=0.8, alpha=0.6, label="step loss")
    if epochs:
        ax_loss.plot([r["step"] for r in epochs], [r["loss"] for r in epochs], "o-", label="epoch mean loss")
    if vals:
        ax_loss.plot([r["step"] for r in vals], [r["loss"] for r in vals], "s-", label="val loss")
        ax_acc.plot([r["epoch"] for r in vals], [r["top1"] for r in vals], "o-", label="val top-1")
        ax_acc.plot([r["epoch"] for r in vals], [r["top5"] for r in vals], "s--", label="val top-5")
    ax_loss.set_xlabel("optimizer step")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("training loss")
    if steps or epochs or vals:
        ax_loss.legend()
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("validation accuracy")
    if vals:
        ax_acc.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png
