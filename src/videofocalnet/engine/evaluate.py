"""Multi-view evaluation: softmax scores averaged over clips x crops, top-1/top-5, mean class accuracy, confusion.

Every video is scored exactly once, whatever the number of processes and the batch size: each rank scores the
videos its sampler gives it (no padding, no dropped last batch - the released code dropped it), the per-video
results are gathered and keyed by dataset index, and the count is checked against the dataset size.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from videofocalnet.data.loader import build_loader
from videofocalnet.engine import build
from videofocalnet.engine.config import Config
from videofocalnet.engine.distributed import DistInfo, cleanup, gather_objects, init_distributed
from videofocalnet.engine.precision import autocast_context, eval_precision
from videofocalnet.models.convert import CheckpointMismatchError
from videofocalnet.models.cpu import optimize_for_inference
from videofocalnet.weights import load_pretrained, load_weights

__all__ = [
    "EvalResult",
    "evaluate_dataset",
    "compute_metrics",
    "confusion_matrix",
    "write_predictions",
    "write_confusion",
    "run_evaluation",
]


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(K, K) int64 counts; row = true class, column = predicted class."""
    flat = labels.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


@dataclass
class EvalResult:
    scores: torch.Tensor  # (N, K) softmax averaged over views
    labels: torch.Tensor  # (N,)
    indices: list[int]
    paths: list[str]
    views: tuple[int, int]
    skipped: list[str] = field(default_factory=list)  # unreadable videos (reported, not scored)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def preds(self) -> torch.Tensor:
        return self.scores.argmax(dim=1)

    @property
    def confusion(self) -> torch.Tensor:
        return confusion_matrix(self.preds, self.labels, self.scores.shape[1])

    def summary(self) -> dict[str, Any]:
        return {
            **self.metrics,
            "num_videos": len(self.indices),
            "num_skipped": len(self.skipped),
            "views": f"{self.views[0]}x{self.views[1]}",
        }


def compute_metrics(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1/top-5 and mean per-class accuracy in percent, and the NLL of the view-averaged probabilities."""
    n, k = scores.shape
    if n == 0:
        return {"top1": float("nan"), "top5": float("nan"), "mean_class_acc": float("nan"), "loss": float("nan")}
    topk = scores.topk(min(5, k), dim=1).indices  # (N, 5)
    hit5 = (topk == labels[:, None]).any(dim=1)
    hit1 = topk[:, 0] == labels
    per_class = [hit1[labels == c].double().mean().item() for c in labels.unique().tolist()]
    nll = F.nll_loss(scores.clamp_min(1e-12).log(), labels).item()
    return {
        "top1": 100.0 * hit1.double().mean().item(),
        "top5": 100.0 * hit5.double().mean().item(),
        "mean_class_acc": 100.0 * sum(per_class) / len(per_class),
        "loss": nll,
    }


@torch.no_grad()
def _score_batch(model: nn.Module, video: torch.Tensor, amp) -> torch.Tensor:
    """(B, T, C, H, W) or (B, V, T, C, H, W) -> (B, K) mean softmax over views; one view at a time (memory)."""
    if video.ndim == 5:
        video = video.unsqueeze(1)  # (B, T, C, H, W) -> (B, 1, T, C, H, W)

    def view_probs(v: int) -> torch.Tensor:
        with amp:
            logits = model(video[:, v])  # (B, K)
        return logits.float().softmax(dim=-1)

    total = view_probs(0)
    for v in range(1, video.shape[1]):
        total = total + view_probs(v)
    return total / video.shape[1]


def evaluate_dataset(
    model: nn.Module,
    dataset,
    *,
    cfg: Config,
    info: DistInfo,
    batch_size: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """Score ``dataset`` (a VideoDataset in 'val' or 'test' mode) on all ranks; every rank returns the full result."""
    device = info.device
    bs = batch_size or cfg.TEST.BATCH_SIZE or cfg.DATA.BATCH_SIZE
    loader = build_loader(
        dataset,
        batch_size=bs,
        train=False,
        num_workers=cfg.DATA.NUM_WORKERS,
        seed=cfg.SEED,
        num_replicas=info.world_size,
        rank=info.rank,
        pin_memory=cfg.DATA.PIN_MEMORY and device.type == "cuda",
    )
    loader.generator = torch.Generator().manual_seed(cfg.SEED)  # iterator creation must not touch the global RNG
    views = (getattr(dataset, "num_clips", 1), getattr(dataset, "num_crops", 1))
    amp = autocast_context(eval_precision(cfg.precision, device), device)
    was_training = model.training
    model.eval()
    meta: list[tuple[int, int, str]] = []  # (dataset index, label, path) per scored video
    device_scores: list[torch.Tensor] = []  # (B, K) per batch, left on the device until the loop ends
    skipped: list[str] = []
    for batch in tqdm(
        loader,
        desc=f"eval {views[0]}x{views[1]} views",
        unit="batch",
        disable=not (progress and info.is_main),
        dynamic_ncols=True,
        leave=False,
    ):
        skipped.extend(str(path) for path, _error in batch.get("bad", []))
        if batch["video"] is None or batch["label"].numel() == 0:
            continue
        device_scores.append(_score_batch(model, batch["video"].to(device, non_blocking=True), amp))
        meta.extend((int(i), int(y), str(p)) for i, y, p in zip(batch["index"], batch["label"], batch["path"]))
    model.train(was_training)
    # one device-to-host copy for the whole pass (a .cpu() per batch would wait for the GPU every batch)
    host_scores = torch.cat(device_scores).cpu() if device_scores else torch.zeros(0, cfg.MODEL.NUM_CLASSES)
    rows = [(*m, host_scores[i].clone()) for i, m in enumerate(meta)]  # own storage: a view pickles all of it

    if info.distributed:  # host-side rows: through gloo on CUDA as well (see engine.distributed)
        gathered = cast(list[tuple[list[Any], list[str]]], gather_objects((rows, skipped), info))
        rows = [r for part in gathered for r in part[0]]
        skipped = sorted({s for part in gathered for s in part[1]})
    by_index: dict[int, tuple[int, int, str, torch.Tensor]] = {}
    for row in rows:
        by_index.setdefault(row[0], row)  # a padded duplicate (if a sampler ever pads) is counted once
    ordered = [by_index[i] for i in sorted(by_index)]
    expected = len(dataset) - len(skipped)
    if len(ordered) != expected:
        raise RuntimeError(
            f"evaluation scored {len(ordered)} videos, expected {expected} "
            f"({len(dataset)} listed, {len(skipped)} unreadable)"
        )
    k = cfg.MODEL.NUM_CLASSES
    scores = torch.stack([r[3] for r in ordered]) if ordered else torch.zeros(0, k)
    labels = torch.tensor([r[1] for r in ordered], dtype=torch.long)
    result = EvalResult(
        scores=scores,
        labels=labels,
        indices=[r[0] for r in ordered],
        paths=[r[2] for r in ordered],
        views=views,
        skipped=skipped,
    )
    result.metrics = compute_metrics(scores, labels)
    return result


def _class_names(cfg: Config, num_classes: int, config_path: str | None = None) -> list[str]:
    """Names from DATA.LABEL_LIST when readable, else the class ids."""
    return build.class_names(cfg, config_path=config_path) or [str(i) for i in range(num_classes)]


def write_predictions(result: EvalResult, path: str | os.PathLike[str], class_names: list[str]) -> Path:
    """Per-video predictions: CSV (``.csv``) or JSON (anything else), scores of the top-5 classes included."""
    path = Path(path)
    k = result.scores.shape[1]
    top = result.scores.topk(min(5, k), dim=1)
    records: list[dict[str, Any]] = []
    for i, idx in enumerate(result.indices):
        pred = int(top.indices[i, 0])
        records.append(
            {
                "index": idx,
                "path": result.paths[i],
                "label": int(result.labels[i]),
                "label_name": class_names[int(result.labels[i])],
                "pred": pred,
                "pred_name": class_names[pred],
                "correct": pred == int(result.labels[i]),
                "score": float(top.values[i, 0]),
                "top5": [int(c) for c in top.indices[i]],
                "top5_scores": [round(float(s), 6) for s in top.values[i]],
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(records[0]) if records else ["index"])
            writer.writeheader()
            for r in records:
                writer.writerow(
                    {**r, "top5": " ".join(map(str, r["top5"])), "top5_scores": " ".join(map(str, r["top5_scores"]))}
                )
    else:
        path.write_text(
            json.dumps({"metrics": result.summary(), "skipped": result.skipped, "predictions": records}, indent=1)
            + "\n",
            encoding="utf-8",
        )
    return path


def write_confusion(
    result: EvalResult,
    csv_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str] | None,
    class_names: list[str],
) -> None:
    """Confusion matrix as CSV (rows true, columns predicted, with names) and, with matplotlib, as a PNG."""
    cm = result.confusion
    csv_path = Path(csv_path)
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true \\ pred", *class_names])
        for name, row in zip(class_names, cm.tolist()):
            writer.writerow([name, *row])
    if png_path is None:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    k = cm.shape[0]
    norm = cm.float() / cm.sum(dim=1, keepdim=True).clamp_min(1)
    size = min(24.0, max(5.0, 0.35 * k))
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
    if k <= 60:
        ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(k), class_names, fontsize=7)
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if cm[i, j]:
                        ax.text(
                            j,
                            i,
                            str(int(cm[i, j])),
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black",
                        )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    m = result.metrics
    ax.set_title(
        f"top-1 {m.get('top1', float('nan')):.1f}%  mean-class {m.get('mean_class_acc', float('nan')):.1f}%"
        f"  ({len(result.indices)} videos, {result.views[0]}x{result.views[1]} views)"
    )
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def _load_eval_weights(model: nn.Module, checkpoint: str | os.PathLike[str], *, use_ema: bool) -> str:
    """Our safetensors/last.pt strictly; anything else (released .pth) through the weight converters."""
    path = Path(checkpoint)
    loaded = None
    if path.suffix == ".safetensors" and path.with_suffix(".json").is_file():
        loaded = load_weights(path)
    elif path.suffix in (".pt", ".pth"):
        try:
            loaded = load_weights(path)  # our last.pt carries its config; a released .pth does not
        except ValueError:
            loaded = None
        if loaded is not None and "config" not in loaded[1]:
            loaded = None
    if loaded is not None:
        weights, meta = loaded
        if use_ema:
            if "ema_state_dict" not in meta:
                raise ValueError(f"{path}: --ema asked for EMA weights but the checkpoint has none")
            weights = meta["ema_state_dict"]
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:  # missing/unexpected keys or other shapes
            detail = (str(exc).strip().splitlines()[1:2] or [""])[0].strip()[:160]
            raise CheckpointMismatchError(
                f"{path} does not fit the model the config builds ({detail}); pass the run's own --cfg"
            ) from None
        return "ema" if use_ema else "model"
    load_pretrained(model, path, strict_head=True)
    return "converted"


def run_evaluation(
    cfg: Config,
    checkpoint: str | os.PathLike[str],
    *,
    views: tuple[int, int] | None = None,
    list_file: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    predictions: str = "predictions.csv",
    batch_size: int | None = None,
    use_ema: bool = False,
    config_path: str | None = None,
    progress: bool = True,
) -> EvalResult:
    """Build the model from ``cfg``, load ``checkpoint``, score the test (or val) list, write reports on rank 0."""
    info = init_distributed(device=cfg.DEVICE, backend=cfg.DIST_BACKEND)
    try:
        clips, crops = views or (cfg.TEST.FINAL_NUM_CLIP, cfg.TEST.FINAL_NUM_CROP)
        model = build.build_model(cfg)
        _load_eval_weights(model, checkpoint, use_ema=use_ema)
        optimize_for_inference(model.to(info.device))
        key = "DATA.TEST_FILE" if (list_file or cfg.DATA.TEST_FILE) else "DATA.VAL_FILE"
        dataset = build.build_eval_dataset(
            cfg, list_file or cfg.DATA.TEST_FILE or cfg.DATA.VAL_FILE, num_clips=clips, num_crops=crops, key=key
        )
        result = evaluate_dataset(model, dataset, cfg=cfg, info=info, batch_size=batch_size, progress=progress)
        if info.is_main and output_dir is not None:
            out = Path(output_dir)
            out.mkdir(parents=True, exist_ok=True)
            names = _class_names(cfg, cfg.MODEL.NUM_CLASSES, config_path)
            write_predictions(result, out / predictions, names)
            write_confusion(result, out / "confusion.csv", out / "confusion.png", names)
            (out / "metrics.json").write_text(
                json.dumps({**result.summary(), "checkpoint": str(checkpoint)}, indent=2) + "\n", encoding="utf-8"
            )
        return result
    finally:
        cleanup()
