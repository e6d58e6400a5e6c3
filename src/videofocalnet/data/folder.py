"""Class-per-subfolder video trees (``ROOT/<class>/<clip>.mp4``, the torchvision ImageFolder / Hugging Face
video-folder layout) -> the list files the official converters write (``train.csv``, ``val.csv``, ``labels.csv``).

Here the disk *is* the annotation, so every entry under ROOT is accounted for: a file that is not a video, a video
that does not decode, a name the ``path,label`` format cannot hold and a class left without videos each end up in
:attr:`Conversion.skipped <videofocalnet.data.converters.Conversion>` with the reason, never dropped silently (a
class that quietly vanishes shifts every class id after it).

Two layouts: one class tree that is split here (stratified by class, a pure function of the file names and the
seed), or the split the user already made, ``ROOT/train/<class>/``, ``ROOT/val/<class>/`` (or ``validation/``,
the Hugging Face name) and optionally ``ROOT/test/<class>/``. A video is a file with one of
:data:`~videofocalnet.data.formats.VIDEO_EXTENSIONS` or a folder of frame images (the raw-frame layout).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from videofocalnet.data.annotations import AnnotationEntry
from videofocalnet.data.converters import Conversion, Skipped
from videofocalnet.data.formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

__all__ = ["SPLIT_FOLDERS", "convert_folder", "find_split_folders", "stratified_split"]

# Folder name (lower case) -> the split it holds, for trees that come already split.
SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}

_Tree = dict[str, list[str]]  # class name -> video paths relative to the list root


def _entries(folder: Path) -> tuple[list[str], list[str]]:
    """Sorted (file names, folder names) of ``folder``; hidden entries (``.DS_Store``, ``.git``) are not data."""
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(folder) as it:
        for item in it:
            if item.name.startswith("."):
                continue
            (dirs if item.is_dir() else files).append(item.name)
    return sorted(files), sorted(dirs)


def find_split_folders(root: str | os.PathLike[str]) -> dict[str, str] | None:
    """``{split: folder name}`` when ``root`` holds an existing split (``train/`` + ``val/``, optional
    ``test/``), ``None`` when it is one class tree to split.

    Half a split (``train/`` alone, ``train/`` + ``test/``) is an error rather than a tree with a class called
    ``train``: that reading is never what the user meant.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder not found: {root}")
    by_lower = {name.lower(): name for name in _entries(root)[1]}
    present = sorted(name for name in by_lower if name in SPLIT_FOLDERS)
    if not present:
        return None
    if "val" in present and "validation" in present:
        raise ValueError(f"{root}: has both val/ and validation/; keep one of them")
    if "train" not in present or not {"val", "validation"} & set(present):
        raise ValueError(
            f"{root}: has {', '.join(by_lower[n] + '/' for n in present)} but an existing split needs train/ and "
            "val/ (test/ optional); add the missing folder, or put the class folders directly in it to split them"
        )
    return {SPLIT_FOLDERS[name]: by_lower[name] for name in present}


def _unwritable(relative: str) -> str | None:
    """Why ``relative`` cannot be a line of a ``path,label`` list (``None`` when it can)."""
    if "," in relative:
        return "the name holds a comma, which a 'path,label' list cannot; rename it"
    if "\n" in relative or "\r" in relative:
        return "the name holds a line break; rename it"
    if relative != relative.strip():
        return "the name starts or ends with a space; rename it"
    return None


def _scan_class(folder: Path, relative: str, extensions: frozenset[str], split: str) -> tuple[list[str], list[Skipped]]:
    """The videos under one class folder, at any depth: video files, and folders holding frame images (one video
    each; their other files are the frame extractor's business)."""
    videos: list[str] = []
    skipped: list[Skipped] = []
    pending = [(folder, relative, True)]
    while pending:
        current, rel, is_class_folder = pending.pop()
        files, dirs = _entries(current)
        images = [f for f in files if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
        if images and not is_class_folder:
            videos.append(rel)
            continue
        for name in files:
            ext = os.path.splitext(name)[1].lower()
            if ext in extensions:
                videos.append(f"{rel}/{name}")
            elif name in images:
                reason = "a frame image directly in a class folder; put each video's frames in a folder of their own"
                skipped.append(Skipped(f"{rel}/{name}", reason, split))
            else:
                reason = f"not a video ({ext or 'no extension'} is not a video extension) nor a frame folder"
                skipped.append(Skipped(f"{rel}/{name}", reason, split))
        pending.extend((current / d, f"{rel}/{d}", False) for d in reversed(dirs))
    return sorted(videos), skipped


def _scan_tree(folder: Path, prefix: str, extensions: frozenset[str], split: str) -> tuple[_Tree, list[Skipped]]:
    """Every class folder of ``folder`` with its candidate videos (empty classes included, so they can be
    reported); files outside class folders are skipped."""
    tree: _Tree = {}
    skipped: list[Skipped] = []
    files, dirs = _entries(folder)
    for name in files:
        skipped.append(Skipped(f"{prefix}{name}", "not inside a class folder", split))
    for name in dirs:
        tree[name], class_skipped = _scan_class(folder / name, f"{prefix}{name}", extensions, split)
        skipped.extend(class_skipped)
    return tree, skipped


def _probe_problem(path: Path) -> str | None:
    """Why the video at ``path`` cannot be trained on (``None`` when it decodes): the same probe as
    ``check-data``, which is what catches truncated downloads."""
    from videofocalnet.data.decode import DecodeError, probe_video

    try:
        info = probe_video(path)
    except DecodeError as err:
        return f"unreadable: {err.reason}"
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    return None if info.num_frames > 0 else "unreadable: no decodable frames"


def _usable(root: Path, tree: _Tree, prefix: str, split: str, *, decode: bool) -> tuple[_Tree, list[Skipped]]:
    """``tree`` without the videos that cannot be listed or decoded, and without classes left empty; every removal
    is returned as a :class:`Skipped` (an empty class as its folder, ``<class>/``)."""
    from tqdm import tqdm

    skipped: list[Skipped] = []
    kept: _Tree = {}
    total = sum(len(v) for v in tree.values())
    with tqdm(
        total=total, desc=f"checking {prefix or 'the'} videos", unit="video", disable=None if decode else True
    ) as bar:
        for name, videos in tree.items():
            folder = f"{prefix}{name}/"
            problem = _unwritable(name)
            if problem is not None:
                why = f"class folder name: {problem} (its {len(videos)} videos are left out)"
                skipped.append(Skipped(folder, why, split))
                bar.update(len(videos))
                continue
            good: list[str] = []
            for rel in videos:
                problem = _unwritable(rel) or (_probe_problem(root / rel) if decode else None)
                if problem is None:
                    good.append(rel)
                else:
                    skipped.append(Skipped(rel, problem, split))
                bar.update()
            if good:
                kept[name] = good
            elif videos:
                why = f"empty class: none of its {len(videos)} videos can be used (each is listed)"
                skipped.append(Skipped(folder, why, split))
            else:
                skipped.append(Skipped(folder, "empty class: no videos or frame folders in it", split))
    return kept, skipped


def _val_count(n: int, val_fraction: float) -> int:
    """Round half up (not to even, so 5 videos at 0.1 and 15 at 0.1 behave alike), then keep at least one video
    on each side of a class that has two."""
    if n < 2:
        return 0
    return min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))


def stratified_split(
    videos_by_class: Mapping[str, Sequence[str]], *, val_fraction: float, seed: int
) -> dict[str, _Tree]:
    """``{"train": {class: paths}, "val": {class: paths}}``, each class split on its own.

    Each class shuffles its sorted paths with a generator seeded by ``(seed, class name)``, so the split does not
    depend on the order of the scan, and adding videos to one class leaves every other class's split as it was.
    A class with two or more videos gets at least one validation video and keeps at least one training video.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction {val_fraction} must be between 0 and 1 (exclusive)")
    out: dict[str, _Tree] = {"train": {}, "val": {}}
    for name in sorted(videos_by_class):
        paths = sorted(videos_by_class[name])
        random.Random(f"{seed}:{name}").shuffle(paths)
        count = _val_count(len(paths), val_fraction)
        out["val"][name] = sorted(paths[:count])
        out["train"][name] = sorted(paths[count:])
    return out


def _entries_of(tree: _Tree, class_id: Mapping[str, int]) -> list[AnnotationEntry]:
    pairs = sorted((class_id[name], rel) for name, paths in tree.items() for rel in paths)
    return [AnnotationEntry(path=rel, label=label, line=i + 1) for i, (label, rel) in enumerate(pairs)]


def _presplit(
    root: Path, layout: Mapping[str, str], extensions: frozenset[str], *, decode: bool
) -> tuple[dict[str, _Tree], list[Skipped]]:
    """The user's own split: classes are the training classes; another split's class without training videos
    cannot be learnt, so its videos are skipped and say why."""
    skipped: list[Skipped] = []
    split_names = set(layout.values())
    for name in _entries(root)[1]:
        if name not in split_names:
            skipped.append(Skipped(f"{name}/", "not a split folder (train/, val/, test/) next to train/ and val/"))
    trees: dict[str, _Tree] = {}
    for split in ("train", "val", "test"):
        if split not in layout:
            continue
        folder = layout[split]
        tree, found = _scan_tree(root / folder, f"{folder}/", extensions, split)
        trees[split], problems = _usable(root, tree, f"{folder}/", split, decode=decode)
        skipped.extend(found + problems)
    for split in ("val", "test"):
        for name in sorted(set(trees.get(split, {})) - set(trees["train"])):
            why = f"class {name!r} has no usable videos in {layout['train']}/"
            skipped.extend(Skipped(rel, why, split) for rel in trees[split].pop(name))
    return trees, skipped


def _class_names(root: Path, trees: Mapping[str, _Tree], skipped: Sequence[Skipped]) -> list[str]:
    names = sorted(trees["train"])
    if not names:
        seen = f"; {len(skipped)} entries were skipped, e.g. {skipped[0].path}: {skipped[0].reason}" if skipped else ""
        raise ValueError(
            f"{root}: no class folder holds a usable video (expected {root}/<class>/<clip>.mp4 or "
            f"{root}/<class>/<clip>/<frame>.jpg){seen}"
        )
    if len(names) == 1:
        raise ValueError(f"{root}: only class {names[0]!r} has videos; a classifier needs two or more class folders")
    return names


def convert_folder(
    root: str | os.PathLike[str],
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    extensions: Iterable[str] = VIDEO_EXTENSIONS,
    decode: bool = True,
) -> Conversion:
    """List a class-per-subfolder tree: paths relative to ``root``, class ids = sorted class folder names.

    Uses the split in ``root`` when it has one (:func:`find_split_folders`), otherwise :func:`stratified_split`
    with ``val_fraction`` and ``seed``. ``decode`` probes every video (as ``check-data`` does) so that a truncated
    file is reported now rather than skipped at every epoch of training; ``False`` only looks at file names.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder not found: {root}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction {val_fraction} must be between 0 and 1 (exclusive)")
    exts = frozenset("." + e.lower().lstrip(".") for e in extensions)
    layout = find_split_folders(root)
    if layout is None:
        tree, skipped = _scan_tree(root, "", exts, "-")
        usable, problems = _usable(root, tree, "", "-", decode=decode)
        skipped += problems
        trees = stratified_split(usable, val_fraction=val_fraction, seed=seed)
    else:
        trees, skipped = _presplit(root, layout, exts, decode=decode)
    class_names = _class_names(root, trees, skipped)
    class_id = {name: i for i, name in enumerate(class_names)}
    splits = {split: _entries_of(tree, class_id) for split, tree in trees.items()}
    return Conversion("folder", class_names, splits, skipped=sorted(skipped, key=lambda s: (s.split, s.path)))
