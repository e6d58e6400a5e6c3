"""Writing a synthetic dataset to disk: video files, annotation lists, ``dataset.json`` and reading it back.

``generate_dataset`` renders every video from its own RNG stream (``render.video_rng``) in spawned worker processes,
so the files depend only on the parameters recorded in ``dataset.json``, and a re-run with the same ones is a no-op.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from videofocalnet.atomic import atomic_write_text
from videofocalnet.data.synthetic.classes import CLASS_NAMES, DEFAULT_STYLE, REVERSAL_PAIRS, SyntheticStyle
from videofocalnet.data.synthetic.encode import X264_OPTIONS, write_video
from videofocalnet.data.synthetic.render import render_video, video_rng

GENERATOR_VERSION = 4  # 2: nuisance factors in SyntheticStyle; 3: larger, egg-shaped objects, rotation in the style;
# 4: elongated (bean-shaped) outlines, so that a turn is visible


@dataclasses.dataclass(frozen=True)
class SyntheticDatasetInfo:
    """Where a generated dataset lives and what its labels mean; ``pairs`` index into ``class_names``."""

    root: Path
    train_list: Path
    val_list: Path
    label_list: Path
    class_names: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    num_train: int
    num_val: int
    seed: int
    size: int
    num_frames: int
    fps: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def resolve_classes(classes: str | Sequence[str] | None) -> tuple[str, ...]:
    """``None`` / ``"all"`` / comma list / sequence -> class names in canonical (CLASS_NAMES) order."""
    if classes is None or classes == "all":
        return CLASS_NAMES
    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else [str(c).strip() for c in classes]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in CLASS_NAMES]
    if unknown or not names:
        raise ValueError(f"unknown synthetic class(es) {unknown or names!r}; choose from all, {', '.join(CLASS_NAMES)}")
    return tuple(n for n in CLASS_NAMES if n in set(names))


def _subset_pairs(class_names: Sequence[str]) -> tuple[tuple[int, int], ...]:
    index = {name: i for i, name in enumerate(class_names)}
    out = []
    for a, b in REVERSAL_PAIRS:
        if CLASS_NAMES[a] in index and CLASS_NAMES[b] in index:
            out.append((index[CLASS_NAMES[a]], index[CLASS_NAMES[b]]))
    return tuple(out)


# (output path, class name, id in CLASS_NAMES, split, index, seed, size, num_frames, fps, style)
_Job = tuple[str, str, int, str, int, int, int, int, int, SyntheticStyle]


def _render_and_write(job: _Job) -> str:
    path, class_name, canonical_id, split, index, seed, size, num_frames, fps, style = job
    frames = render_video(
        class_name, video_rng(seed, split, canonical_id, index), size=size, num_frames=num_frames, style=style
    )
    write_video(path, frames, fps)
    return path


def _params(
    class_names: Sequence[str],
    videos_per_class: int,
    val_per_class: int,
    seed: int,
    size: int,
    num_frames: int,
    fps: int,
    style: SyntheticStyle,
) -> dict[str, Any]:
    return {
        "generator_version": GENERATOR_VERSION,
        "classes": list(class_names),
        "pairs": [list(p) for p in _subset_pairs(class_names)],
        "videos_per_class": videos_per_class,
        "val_per_class": val_per_class,
        "seed": seed,
        "size": size,
        "num_frames": num_frames,
        "fps": fps,
        "style": style.to_dict(),
        "codec": {"name": "libx264", "pix_fmt": "yuv420p", "options": dict(X264_OPTIONS)},
        "train_list": "train.csv",
        "val_list": "val.csv",
        "label_list": "labels.csv",
    }


def load_dataset_info(out_dir: str | os.PathLike[str]) -> SyntheticDatasetInfo:
    """Read ``OUT/dataset.json`` written by :func:`generate_dataset`."""
    root = Path(out_dir)
    meta_path = root / "dataset.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{meta_path}: no synthetic dataset here (run `videofocalnet make-synthetic {root}`)"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    missing = [k for k in ("classes", "pairs", "seed", "size", "num_frames", "fps") if k not in meta]
    if missing:
        raise ValueError(f"{meta_path}: missing keys {missing}")
    return SyntheticDatasetInfo(
        root=root,
        train_list=root / meta.get("train_list", "train.csv"),
        val_list=root / meta.get("val_list", "val.csv"),
        label_list=root / meta.get("label_list", "labels.csv"),
        class_names=tuple(meta["classes"]),
        pairs=tuple((int(a), int(b)) for a, b in meta["pairs"]),
        num_train=int(meta.get("num_train", meta.get("videos_per_class", 0) * len(meta["classes"]))),
        num_val=int(meta.get("num_val", meta.get("val_per_class", 0) * len(meta["classes"]))),
        seed=int(meta["seed"]),
        size=int(meta["size"]),
        num_frames=int(meta["num_frames"]),
        fps=int(meta["fps"]),
    )


def _is_complete(root: Path, params: dict[str, Any]) -> bool:
    meta_path = root / "dataset.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if any(meta.get(k) != v for k, v in params.items()):
        return False
    for name in (params["train_list"], params["val_list"], params["label_list"]):
        if not (root / name).is_file():
            return False
    for name in (params["train_list"], params["val_list"]):
        for line in (root / name).read_text().splitlines():
            if line.strip() and not (root / line.rsplit(",", 1)[0]).is_file():
                return False
    return True


def _run_jobs(jobs: list[_Job], *, workers: int, desc: str, progress: bool) -> None:
    """Render and write every video, in ``workers`` spawned processes (one: in this one), with a progress bar."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc=desc, unit="video", disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                _render_and_write(job)
                bar.update(1)
        else:
            import multiprocessing

            # spawn: the caller may already hold torch/OpenMP threads, which fork would copy in a broken state.
            with multiprocessing.get_context("spawn").Pool(processes=int(workers)) as pool:
                for _ in pool.imap_unordered(_render_and_write, jobs, chunksize=4):
                    bar.update(1)
    finally:
        bar.close()


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    classes: str | Sequence[str] | None = None,
    videos_per_class: int = 40,
    val_per_class: int = 10,
    seed: int = 0,
    size: int = 96,
    num_frames: int = 32,
    fps: int = 16,
    workers: int = 2,
    progress: bool = True,
    style: SyntheticStyle = DEFAULT_STYLE,
) -> SyntheticDatasetInfo:
    """Render and encode the dataset under ``out_dir``; a no-op when a complete identical one is already there.

    Layout: ``videos/<class>/<split>_<index>.mp4``, ``train.csv`` / ``val.csv`` (``path,label``, no header, paths
    relative to ``out_dir``), ``labels.csv`` (``id,name``) and ``dataset.json``, written last so that an interrupted
    run is never mistaken for a finished one.
    """
    class_names = resolve_classes(classes)
    for name, value, low in (
        ("videos_per_class", videos_per_class, 1),
        ("val_per_class", val_per_class, 0),
        ("size", size, 16),
        ("num_frames", num_frames, 4),
        ("fps", fps, 1),
    ):
        if int(value) != value or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if size % 2:
        raise ValueError(f"size must be even (yuv420p), got {size}")
    root = Path(out_dir)
    params = _params(class_names, videos_per_class, val_per_class, seed, size, num_frames, fps, style)
    if _is_complete(root, params):
        return load_dataset_info(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").unlink(missing_ok=True)  # stale or different: invalid until this run finishes

    jobs: list[_Job] = []
    lists: dict[str, list[str]] = {"train": [], "val": []}
    for label, name in enumerate(class_names):
        canonical_id = CLASS_NAMES.index(name)
        for split, count in (("train", videos_per_class), ("val", val_per_class)):
            for index in range(count):
                rel = f"videos/{name}/{split}_{index:05d}.mp4"
                lists[split].append(f"{rel},{label}")
                job = (str(root / rel), name, canonical_id, split, index, int(seed), int(size), int(num_frames))
                jobs.append((*job, int(fps), style))

    _run_jobs(jobs, workers=workers, desc=f"synthetic videos -> {root}", progress=progress)
    atomic_write_text(root / "train.csv", "".join(line + "\n" for line in lists["train"]))
    atomic_write_text(root / "val.csv", "".join(line + "\n" for line in lists["val"]))
    atomic_write_text(root / "labels.csv", "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(class_names)))
    meta = dict(params, num_train=len(lists["train"]), num_val=len(lists["val"]))
    atomic_write_text(root / "dataset.json", json.dumps(meta, indent=2) + "\n")
    return load_dataset_info(root)
