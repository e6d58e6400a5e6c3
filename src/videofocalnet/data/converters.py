"""Convert each dataset's official annotation files into our list files (``train.csv``, ``val.csv``, ``labels.csv``).

Every converter returns a :class:`Conversion`: entries per split (paths relative to the video folder), the class
names (index = class id) and the videos the annotations mention but the disk does not hold. Missing videos are
normal (Kinetics loses a few percent of its YouTube clips every year), so they are reported and left out rather
than fatal; malformed annotation files are errors naming the file, the line/entry and the value.

Class ids: Kinetics sorts the class names (= the official order), Something-Something-v2 uses its ``labels.json``
ids, Diving-48 its vocabulary index (both = the official lists), UCF-101 its ``classInd.txt`` numbers minus one and
HMDB-51 the sorted class names (the order published HMDB-51 results use). ActivityNet sorts names too, but the
official Video-FocalNet ActivityNet list is in the dataset's own, non-alphabetical order: pass that list as
``class_names`` (``prepare-data --labels``) to get checkpoint-compatible ids.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videofocalnet.atomic import atomic_write_text
from videofocalnet.data.annotations import (
    AnnotationEntry,
    AnnotationError,
    write_annotation_list,
    write_label_list,
)
from videofocalnet.data.formats import VIDEO_EXTENSIONS

__all__ = [
    "CONVERTERS",
    "Conversion",
    "ConversionError",
    "SPLIT_DATASETS",
    "Skipped",
    "VideoIndex",
    "convert",
    "convert_activitynet",
    "convert_diving48",
    "convert_hmdb51",
    "convert_kinetics",
    "convert_ssv2",
    "convert_ucf101",
    "reorder_classes",
    "write_conversion",
]


class ConversionError(AnnotationError):
    """An official annotation file is malformed or inconsistent; the message names file, line/entry and value."""


@dataclass(frozen=True)
class Skipped:
    """A file or folder on disk that was left out of the lists, and why (``split`` is ``-`` when it was dropped
    before a split was drawn). Converters that read annotation files report absent videos in ``missing`` instead;
    this is for what a folder scan finds but cannot use (an unreadable video, an empty class)."""

    path: str
    reason: str
    split: str = "-"


@dataclass
class Conversion:
    """The result of one converter: ``splits[name]`` are the entries found on disk, ``missing[name]`` the video
    names (without extension) that were not, ``skipped`` what was found but could not be used."""

    dataset: str
    class_names: list[str]
    splits: dict[str, list[AnnotationEntry]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            split: {"written": len(self.splits.get(split, [])), "missing": len(self.missing.get(split, []))}
            for split in self.splits
        }


class VideoIndex:
    """Video files in a folder and its subfolders down to ``depth`` levels, by name without extension.

    One scan up front instead of a ``stat`` per candidate name: Kinetics has ~650k candidate names and comes in
    flat, per-class (``abseiling/x.mp4``), per-split (``train/x.mp4``) and per-split-per-class
    (``train/abseiling/x.mp4``, hence the default depth 2) layouts; a folder scan makes "any of these" cheap.
    When a name occurs twice, the shallower file wins, then the first in sorted order; the others are kept in
    ``duplicates`` so they can be reported.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        extensions: Sequence[str] = VIDEO_EXTENSIONS,
        depth: int = 2,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"video folder not found: {self.root}")
        exts = {"." + e.lower().lstrip(".") for e in extensions}
        self.by_stem: dict[str, str] = {}
        self.duplicates: list[tuple[str, str]] = []
        level = [""]  # folders (relative, "" = root) at the current depth, breadth first
        for current_depth in range(depth + 1):
            next_level: list[str] = []
            for folder in level:
                files, subdirs = self._scan(self.root / folder if folder else self.root)
                for name in sorted(files):
                    stem, ext = os.path.splitext(name)
                    if ext.lower() not in exts:
                        continue
                    relative = f"{folder}/{name}" if folder else name
                    if stem in self.by_stem:
                        self.duplicates.append((self.by_stem[stem], relative))
                    else:
                        self.by_stem[stem] = relative
                if current_depth < depth:
                    next_level.extend(f"{folder}/{d}" if folder else d for d in sorted(subdirs))
            level = next_level

    @staticmethod
    def _scan(folder: Path) -> tuple[list[str], list[str]]:
        files: list[str] = []
        dirs: list[str] = []
        with os.scandir(folder) as it:
            for item in it:
                if item.name.startswith("."):
                    continue
                if item.is_dir():
                    dirs.append(item.name)
                elif item.is_file():
                    files.append(item.name)
        return files, dirs

    def find(self, *stems: str) -> str | None:
        """The relative path of the first candidate name present on disk."""
        for stem in stems:
            found = self.by_stem.get(stem)
            if found is not None:
                return found
        return None

    def __len__(self) -> int:
        return len(self.by_stem)


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Annotation arguments may be files or folders holding them; folders contribute their files."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.is_file()))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"annotation file not found: {path}")
    return out


def _load_json(path: Path):
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise ConversionError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None


def _pick(files: Sequence[Path], name: str, *aliases: str) -> Path | None:
    """The file called ``name`` or one of its ``aliases`` (older download names; case-insensitive) among
    ``files``."""
    names = {n.lower() for n in (name, *aliases)}
    matches = [f for f in files if f.name.lower() in names]
    if len(matches) > 1:
        also = f" (or {' / '.join(aliases)})" if aliases else ""
        raise ConversionError(f"{name}{also} given more than once: {', '.join(map(str, matches))}")
    return matches[0] if matches else None


def _json_split_entries(
    files: Sequence[Path], split_files: Sequence[tuple[str, str, tuple[str, ...]]]
) -> dict[str, list[tuple[str, Any]]]:
    """For each ``(split, file name, aliases)`` found among ``files``: the entries of that JSON list, each paired
    with a ``"<file>: entry <i>"`` locator for error messages. Splits whose file is absent are left out."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for split, file_name, aliases in split_files:
        path = _pick(files, file_name, *aliases)
        if path is None:
            continue
        data = _load_json(path)
        if not isinstance(data, list):
            raise ConversionError(f"{path}: expected a list of entries")
        out[split] = [(f"{path}: entry {position}", entry) for position, entry in enumerate(data)]
    return out


def _resolve(
    dataset: str,
    class_names: list[str],
    split_items: dict[str, list[tuple[list[str], int]]],
    videos: VideoIndex,
) -> Conversion:
    """Turn (candidate names, class id) items per split into entries + missing lists."""
    conversion = Conversion(dataset=dataset, class_names=class_names)
    for split, items in split_items.items():
        entries: list[AnnotationEntry] = []
        missing: list[str] = []
        seen: set[str] = set()
        missed: set[str] = set()
        for stems, label in items:
            found = videos.find(*stems)
            if found is None:
                if stems[0] not in missed:
                    missed.add(stems[0])
                    missing.append(stems[0])
            elif found not in seen:  # the same clip annotated twice (happens in Kinetics CSVs) is listed once
                seen.add(found)
                entries.append(AnnotationEntry(path=found, label=label, line=len(entries) + 1))
        conversion.splits[split] = entries
        conversion.missing[split] = missing
    return conversion


# ----------------------------------------------------------------------------------------------------------------
# Kinetics-400 / 600
# ----------------------------------------------------------------------------------------------------------------

_KINETICS_SPLITS = {"train": "train", "validate": "val", "val": "val", "validation": "val", "test": "test"}
_KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def _kinetics_split(path: Path) -> str | None:
    stem = path.stem.lower()
    for key in (stem, stem.rsplit("_", 1)[-1], stem.rsplit("-", 1)[-1]):
        if key in _KINETICS_SPLITS:
            return _KINETICS_SPLITS[key]
    return None


def _read_kinetics_csv(path: Path) -> list[tuple[int, str | None, str, int, int]]:
    """Rows as (line, label or None for unlabelled test rows, youtube_id, start, end)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in (reader.fieldnames or [])]
        absent = [c for c in _KINETICS_COLUMNS if c not in header and not (c == "label" and "youtube_id" in header)]
        if absent:
            raise ConversionError(
                f"{path}:1: Kinetics header lacks {absent}; expected 'label,youtube_id,time_start,time_end,split', "
                f"got {','.join(header)!r}"
            )
        reader.fieldnames = header
        rows = []
        for row in reader:
            line = reader.line_num
            if not any((v or "").strip() for v in row.values()):
                continue
            youtube_id = (row.get("youtube_id") or "").strip()
            if not youtube_id:
                raise ConversionError(f"{path}:{line}: empty youtube_id")
            times = []
            for column in ("time_start", "time_end"):
                value = (row.get(column) or "").strip()
                try:
                    number = float(value)
                except ValueError:
                    raise ConversionError(f"{path}:{line}: {column} {value!r} is not a number") from None
                if number < 0 or number != int(number):
                    raise ConversionError(f"{path}:{line}: {column} {value!r} is not a whole number of seconds")
                times.append(int(number))
            label = (row.get("label") or "").strip() or None
            rows.append((line, label, youtube_id, times[0], times[1]))
    return rows


def convert_kinetics(
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    dataset: str = "kinetics",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
) -> Conversion:
    """Kinetics-400/600/700 CSVs (``label,youtube_id,time_start,time_end,split[,is_cc]``).

    ``train.csv`` gives the classes (sorted names, which is the official class-id order); ``validate.csv`` becomes
    ``val``; ``test.csv`` is used only when its rows are labelled. Videos are looked up as
    ``{youtube_id}_{start:06d}_{end:06d}.<ext>`` (the downloader's name) or ``{youtube_id}.<ext>``.
    """
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    by_split: dict[str, Path] = {}
    for path in _expand(annotations):
        if path.suffix.lower() != ".csv":
            continue
        split = _kinetics_split(path)
        if split is None:
            raise ConversionError(
                f"{path}: cannot tell the split from the file name (expected train.csv, validate.csv or test.csv)"
            )
        if split in by_split:
            raise ConversionError(f"two {split} annotation files: {by_split[split]} and {path}")
        by_split[split] = path
    if not by_split:
        raise ConversionError("no Kinetics CSV among the annotations (expected train.csv / validate.csv)")

    parsed = {split: _read_kinetics_csv(path) for split, path in by_split.items()}
    rows: dict[str, list[tuple[int, str, str, int, int]]] = {}  # as parsed, with every label present
    for split, split_rows in parsed.items():
        unlabelled = next((line for line, label, *_ in split_rows if label is None), None)
        if unlabelled is not None:
            if split == "test":
                continue  # the unlabelled test release: nothing to train or evaluate with
            raise ConversionError(f"{by_split[split]}:{unlabelled}: empty label")
        rows[split] = [
            (line, label, yid, start, end) for line, label, yid, start, end in split_rows if label is not None
        ]
    if not rows:
        raise ConversionError("no labelled Kinetics CSV among the annotations")

    source = "train" if "train" in rows else sorted(rows)[0]
    class_names = sorted({label for _, label, *_ in rows[source]})
    class_id = {name: i for i, name in enumerate(class_names)}
    items: dict[str, list[tuple[list[str], int]]] = {}
    for split in ("train", "val", "test"):
        if split not in rows:
            continue
        items[split] = []
        for line, label, youtube_id, start, end in rows[split]:
            if label not in class_id:
                raise ConversionError(
                    f"{by_split[split]}:{line}: label {label!r} does not occur in {by_split[source].name}"
                )
            items[split].append(([f"{youtube_id}_{start:06d}_{end:06d}", youtube_id], class_id[label]))
    return _resolve(dataset, class_names, items, index)


# ----------------------------------------------------------------------------------------------------------------
# Something-Something-v2
# ----------------------------------------------------------------------------------------------------------------


# The 20BN download (before the Qualcomm re-release) prefixed every annotation file with the dataset name.
_SSV2_OLD_PREFIX = "something-something-v2-"


def _ssv2_template_class(template: str) -> str:
    """``"Pushing [something] from left to right"`` -> ``"Pushing something from left to right"``."""
    return template.replace("[", "").replace("]", "").strip()


def convert_ssv2(
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    dataset: str = "ssv2",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
) -> Conversion:
    """Something-Something-v2: ``labels.json`` (name -> id string), ``train.json`` / ``validation.json``.

    The older 20BN download names the same files ``something-something-v2-{labels,train,validation}.json``; both
    are accepted. The class of an entry is its ``template`` without the brackets, looked up in ``labels.json``.
    ``test.json`` (no templates) is ignored. Videos are ``{id}.webm``.
    """
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    files = _expand(annotations)
    labels_path = _pick(files, "labels.json", f"{_SSV2_OLD_PREFIX}labels.json")
    if labels_path is None:
        raise ConversionError(
            f"Something-Something-v2 needs labels.json (or {_SSV2_OLD_PREFIX}labels.json) among the annotations"
        )
    raw_labels = _load_json(labels_path)
    if not isinstance(raw_labels, dict):
        raise ConversionError(f"{labels_path}: expected an object mapping class name -> id")
    id_of: dict[str, int] = {}
    for name, raw_id in raw_labels.items():
        try:
            id_of[name.strip()] = int(raw_id)
        except (TypeError, ValueError):
            raise ConversionError(f"{labels_path}: class {name!r} has id {raw_id!r}, not an integer") from None
    ids = sorted(id_of.values())
    if ids != list(range(len(ids))):
        counts = Counter(ids)
        bad = [i for i in ids if counts[i] > 1 or not 0 <= i < len(ids)]
        raise ConversionError(f"{labels_path}: class ids must be 0..{len(ids) - 1} once each; offending: {bad[:10]}")
    class_names = [""] * len(ids)
    for name, i in id_of.items():
        class_names[i] = name

    items: dict[str, list[tuple[list[str], int]]] = {}
    split_files = (
        ("train", "train.json", (f"{_SSV2_OLD_PREFIX}train.json",)),
        ("val", "validation.json", (f"{_SSV2_OLD_PREFIX}validation.json",)),
    )
    for split, entries in _json_split_entries(files, split_files).items():
        items[split] = []
        for where, entry in entries:
            if not isinstance(entry, dict) or "id" not in entry:
                raise ConversionError(f"{where}: expected an object with 'id' and 'template', got {entry!r:.80}")
            if "template" not in entry:
                raise ConversionError(f"{where} (id {entry['id']}): no 'template' (is this the unlabelled test.json?)")
            name = _ssv2_template_class(str(entry["template"]))
            if name not in id_of:
                raise ConversionError(
                    f"{where} (id {entry['id']}): template class {name!r} is not in {labels_path.name}"
                )
            items[split].append(([str(entry["id"]).strip()], id_of[name]))
    if not items:
        raise ConversionError(
            "Something-Something-v2 needs train.json and/or validation.json (or the older "
            f"{_SSV2_OLD_PREFIX}train.json / -validation.json) among the annotations"
        )
    return _resolve(dataset, class_names, items, index)


# ----------------------------------------------------------------------------------------------------------------
# Diving-48 (V2)
# ----------------------------------------------------------------------------------------------------------------


def convert_diving48(
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    dataset: str = "diving48",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
) -> Conversion:
    """Diving-48 V2: ``Diving48_V2_{train,test}.json`` (``vid_name``, ``label``) + ``Diving48_vocab.json``.

    The class name is the vocabulary entry ``[take-off, somersault, twist, flight]`` joined by ``_`` (e.g.
    ``Back_15som_05Twis_FREE``), which matches the official label list; the test split is the ``val`` split
    everyone reports on. Videos are ``{vid_name}.mp4``.
    """
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    files = _expand(annotations)
    vocab_path = _pick(files, "Diving48_vocab.json")
    if vocab_path is None:
        raise ConversionError("Diving-48 needs Diving48_vocab.json among the annotations")
    vocab = _load_json(vocab_path)
    if not isinstance(vocab, list) or not vocab:
        raise ConversionError(f"{vocab_path}: expected a list of [take-off, somersault, twist, flight] lists")
    class_names = []
    for i, parts in enumerate(vocab):
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p for p in parts):
            raise ConversionError(f"{vocab_path}: entry {i}: expected a list of non-empty strings, got {parts!r}")
        class_names.append("_".join(p.strip() for p in parts))

    items: dict[str, list[tuple[list[str], int]]] = {}
    split_files = (("train", "Diving48_V2_train.json", ()), ("val", "Diving48_V2_test.json", ()))
    for split, entries in _json_split_entries(files, split_files).items():
        items[split] = []
        for where, entry in entries:
            if not isinstance(entry, dict) or "vid_name" not in entry or "label" not in entry:
                raise ConversionError(f"{where}: expected an object with 'vid_name' and 'label', got {entry!r:.80}")
            label = entry["label"]
            if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(class_names):
                raise ConversionError(
                    f"{where} ({entry['vid_name']}): label {label!r} is not a class index 0..{len(class_names) - 1}"
                )
            items[split].append(([str(entry["vid_name"]).strip()], label))
    if not items:
        raise ConversionError("Diving-48 needs Diving48_V2_train.json and/or Diving48_V2_test.json")
    return _resolve(dataset, class_names, items, index)


# ----------------------------------------------------------------------------------------------------------------
# ActivityNet-1.3
# ----------------------------------------------------------------------------------------------------------------

_ACTIVITYNET_SPLITS = {"training": "train", "validation": "val"}


def _video_label(annotations: list[dict], where: str) -> str:
    """The most frequent segment label of a video (ties: the one annotated first)."""
    labels = []
    for i, segment in enumerate(annotations):
        label = segment.get("label") if isinstance(segment, dict) else None
        if not isinstance(label, str) or not label.strip():
            raise ConversionError(f"{where}: annotations[{i}] has no label (got {segment!r:.80})")
        labels.append(label.strip())
    counts = Counter(labels)
    best = max(counts.values())
    return next(label for label in labels if counts[label] == best)


def convert_activitynet(
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    dataset: str = "activitynet",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
) -> Conversion:
    """ActivityNet-1.3 ``activity_net.v1-3.min.json``: one video-level label per untrimmed video.

    Classes are the sorted names over training + validation (NOT the official list's order: use
    :func:`reorder_classes` / ``convert(class_names=...)`` for that); ``testing`` (unlabelled) is skipped. Videos are
    ``v_{id}.<ext>`` (the crawler's name) or ``{id}.<ext>``.
    """
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    files = [f for f in _expand(annotations) if f.suffix.lower() == ".json"]
    if len(files) != 1:
        raise ConversionError(
            f"ActivityNet needs exactly one annotation JSON (activity_net.v1-3.min.json), got {[str(f) for f in files]}"
        )
    path = files[0]
    data = _load_json(path)
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise ConversionError(f"{path}: no 'database' object (is this activity_net.v1-3.min.json?)")
    labelled: dict[str, list[tuple[str, str]]] = {"train": [], "val": []}
    for video_id, video in database.items():
        where = f"{path}: database[{video_id!r}]"
        if not isinstance(video, dict) or "subset" not in video:
            raise ConversionError(f"{where}: expected an object with 'subset' and 'annotations'")
        subset = video["subset"]
        if subset == "testing":
            continue
        if subset not in _ACTIVITYNET_SPLITS:
            raise ConversionError(f"{where}: unknown subset {subset!r} (expected training, validation or testing)")
        segments = video.get("annotations") or []
        if not isinstance(segments, list) or not segments:
            raise ConversionError(f"{where}: {subset} video without annotations")
        labelled[_ACTIVITYNET_SPLITS[subset]].append((video_id, _video_label(segments, where)))
    class_names = sorted({label for split in labelled.values() for _, label in split})
    if not class_names:
        raise ConversionError(f"{path}: no labelled training or validation videos")
    class_id = {name: i for i, name in enumerate(class_names)}
    items = {
        split: [([f"v_{vid}", vid], class_id[label]) for vid, label in pairs]
        for split, pairs in labelled.items()
        if pairs
    }
    return _resolve(dataset, class_names, items, index)


# ----------------------------------------------------------------------------------------------------------------
# UCF-101 and HMDB-51 (official split files)
# ----------------------------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^\d+$")
_HMDB_SPLIT_RE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>\d+)\.txt$", re.IGNORECASE)
_HMDB_TAGS = {"1": "train", "2": "val"}  # "0": the video is in neither half of this split


def _check_split(dataset: str, split: int) -> None:
    if isinstance(split, bool) or split not in (1, 2, 3):
        raise ConversionError(f"{dataset}: split {split!r} does not exist; the official splits are 1, 2 and 3")


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines, stripped, with their 1-based numbers (the official lists have CRLF ends and trailing
    blanks)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConversionError(f"{path}: not UTF-8 text ({err.reason})") from None
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _read_class_ind(path: Path) -> list[str]:
    """``classInd.txt``: ``<id> <name>`` lines with ids 1..N once each; returns the names in id order."""
    by_id: dict[int, tuple[str, int]] = {}
    line_of: dict[str, int] = {}
    for number, line in _text_lines(path):
        parts = line.split()
        if len(parts) != 2 or not _NUMBER_RE.match(parts[0]):
            raise ConversionError(f"{path}:{number}: expected '<id> <class>' (like '1 ApplyEyeMakeup'), got {line!r}")
        class_id, name = int(parts[0]), parts[1]
        if class_id in by_id:
            raise ConversionError(f"{path}:{number}: class id {class_id} again (first on line {by_id[class_id][1]})")
        if name in line_of:
            raise ConversionError(f"{path}:{number}: class {name!r} again (first on line {line_of[name]})")
        by_id[class_id], line_of[name] = (name, number), number
    if not by_id:
        raise ConversionError(f"{path}: no classes")
    absent = sorted(set(range(1, len(by_id) + 1)) - set(by_id))
    if absent:
        raise ConversionError(f"{path}: class ids must be 1..{len(by_id)} once each; missing {absent[:10]}")
    return [by_id[i][0] for i in range(1, len(by_id) + 1)]


def _ucf_item(
    where: str, line: str, class_names: Sequence[str], id_of: dict[str, int], *, labelled: bool
) -> tuple[list[str], int]:
    """One ``trainlist`` (``Class/v_x.avi 1``) or ``testlist`` (``Class/v_x.avi``) line -> (candidate names, id).

    The class comes from the folder part and must agree with the number when both are given: a list from another
    release with a shifted ``classInd.txt`` would otherwise train every class under a neighbour's name."""
    parts = line.split()
    expected = "'Class/v_Class_g01_c01.avi 1'" if labelled else "'Class/v_Class_g01_c01.avi'"
    if len(parts) > 2 or (labelled and len(parts) != 2):
        raise ConversionError(f"{where}: expected {expected}, got {line!r}")
    video = parts[0].replace("\\", "/")
    folder, _, file_name = video.rpartition("/")
    number: int | None = None
    if len(parts) == 2:
        if not _NUMBER_RE.match(parts[1]) or not 1 <= int(parts[1]) <= len(class_names):
            raise ConversionError(
                f"{where}: class number {parts[1]!r} of {video} is not in classInd.txt (1..{len(class_names)})"
            )
        number = int(parts[1]) - 1
    if folder:
        name = folder.rsplit("/", 1)[-1]
        class_id = id_of.get(name, id_of.get(name.lower()))
        if class_id is None:
            raise ConversionError(f"{where}: class {name!r} of {video} is not in classInd.txt")
        if number is not None and number != class_id:
            raise ConversionError(
                f"{where}: {video} is in folder {name!r} but class number {parts[1]} is "
                f"{class_names[number]!r} in classInd.txt"
            )
    elif number is None:
        raise ConversionError(f"{where}: {video} has neither a class folder nor a class number")
    else:
        class_id = number
    return [os.path.splitext(file_name)[0]], class_id


def convert_ucf101(
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    dataset: str = "ucf101",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    split: int = 1,
) -> Conversion:
    """UCF-101 ``ucfTrainTestlist``: ``classInd.txt`` + ``trainlist0N.txt`` / ``testlist0N.txt`` for split N.

    Class ids are the ``classInd.txt`` numbers minus one; the test list becomes ``val`` (what results are reported
    on). Videos are looked up by file name without extension (``v_ApplyEyeMakeup_g08_c01``), so the official
    ``UCF-101/<class>/`` tree, a flat folder and re-encoded ``.mp4`` copies all work.
    """
    _check_split(dataset, split)
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    files = _expand(annotations)
    class_ind = _pick(files, "classInd.txt")
    if class_ind is None:
        raise ConversionError("UCF-101 needs classInd.txt (from ucfTrainTestlist) among the annotations")
    class_names = _read_class_ind(class_ind)
    id_of = {name: i for i, name in enumerate(class_names)}
    id_of.update({name.lower(): i for i, name in enumerate(class_names) if name.lower() not in id_of})
    items: dict[str, list[tuple[list[str], int]]] = {}
    for out_split, file_name, labelled in (("train", "trainlist", True), ("val", "testlist", False)):
        path = _pick(files, f"{file_name}{split:02d}.txt")
        if path is None:
            continue
        items[out_split] = [
            _ucf_item(f"{path}:{number}", line, class_names, id_of, labelled=labelled)
            for number, line in _text_lines(path)
        ]
    if not items:
        raise ConversionError(
            f"UCF-101 split {split} needs trainlist{split:02d}.txt and/or testlist{split:02d}.txt among the annotations"
        )
    return _resolve(dataset, class_names, items, index)


def _hmdb_split_files(files: Sequence[Path], split: int) -> dict[str, Path]:
    """Class name -> its ``<class>_test_split<split>.txt``; every class that has a file for another split must
    have one for this split too (a half-extracted archive would otherwise quietly lose classes)."""
    chosen: dict[str, Path] = {}
    other_splits: set[str] = set()
    for path in files:
        match = _HMDB_SPLIT_RE.match(path.name)
        if match is None:
            continue
        name = match["cls"]
        if int(match["split"]) != split:
            other_splits.add(name)
            continue
        if name in chosen:
            raise ConversionError(f"two split files for class {name!r}: {chosen[name]} and {path}")
        chosen[name] = path
    if not chosen:
        raise ConversionError(
            f"HMDB-51 split {split} needs the <class>_test_split{split}.txt files (testTrainMulti_7030_splits) "
            "among the annotations"
        )
    lacking = sorted(other_splits - set(chosen))
    if lacking:
        raise ConversionError(
            f"HMDB-51 split {split}: no <class>_test_split{split}.txt for {len(lacking)} classes that have other "
            f"splits, e.g. {lacking[:5]}"
        )
    return chosen


def convert_hmdb51(
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    dataset: str = "hmdb51",
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    split: int = 1,
) -> Conversion:
    """HMDB-51 ``testTrainMulti_7030_splits``: one ``<class>_test_split<N>.txt`` per class, lines ``<video>.avi
    <tag>`` with tag 1 = train, 2 = test (written as ``val``), 0 = not used in this split.

    Class ids are the sorted class names (taken from the split file names). Videos are looked up by file name
    without extension, so ``hmdb51_org/<class>/`` trees, flat folders and re-encoded copies all work.
    """
    _check_split(dataset, split)
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    chosen = _hmdb_split_files(_expand(annotations), split)
    class_names = sorted(chosen)
    items: dict[str, list[tuple[list[str], int]]] = {"train": [], "val": []}
    for class_id, name in enumerate(class_names):
        for number, line in _text_lines(chosen[name]):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ConversionError(
                    f"{chosen[name]}:{number}: expected '<video>.avi <0|1|2>' (0 unused, 1 train, 2 test), got {line!r}"
                )
            if parts[1] in _HMDB_TAGS:
                items[_HMDB_TAGS[parts[1]]].append(([os.path.splitext(parts[0])[0]], class_id))
    return _resolve(dataset, class_names, {part: pairs for part, pairs in items.items() if pairs}, index)


# ----------------------------------------------------------------------------------------------------------------
# Registry and writing
# ----------------------------------------------------------------------------------------------------------------

CONVERTERS: dict[str, Callable[..., Conversion]] = {
    "kinetics400": convert_kinetics,
    "kinetics600": convert_kinetics,
    "ssv2": convert_ssv2,
    "diving48": convert_diving48,
    "activitynet": convert_activitynet,
    "ucf101": convert_ucf101,
    "hmdb51": convert_hmdb51,
}
# Datasets whose annotations ship several official train/test splits (``convert(split=...)``).
SPLIT_DATASETS = ("ucf101", "hmdb51")


def reorder_classes(conversion: Conversion, class_names: Sequence[str], *, source: str = "class list") -> Conversion:
    """Re-number a conversion's labels to follow ``class_names`` (e.g. an official label list).

    Needed where the derived order differs from what released checkpoints use: the official ActivityNet list is
    the dataset's own (non-alphabetical) order. Every class that occurs in the data must be in ``class_names``;
    classes without entries are fine.
    """
    new_id = {name: i for i, name in enumerate(class_names)}
    if len(new_id) != len(class_names):
        dup = next(n for n, c in Counter(class_names).items() if c > 1)
        raise ConversionError(f"{source}: duplicate class name {dup!r}")
    used = {conversion.class_names[x] for entries in conversion.splits.values() for e in entries for x in e.labels}
    unknown = sorted(n for n in conversion.class_names if n not in new_id and n in used)
    if unknown:
        raise ConversionError(f"{source}: {len(unknown)} classes of the annotations are not in it, e.g. {unknown[:5]}")
    mapping = {old: new_id[name] for old, name in enumerate(conversion.class_names) if name in new_id}

    def remap(label: int | tuple[int, ...]) -> int | tuple[int, ...]:
        return mapping[label] if isinstance(label, int) else tuple(mapping[x] for x in label)

    splits = {
        split: [AnnotationEntry(e.path, remap(e.label), e.line) for e in entries]
        for split, entries in conversion.splits.items()
    }
    return Conversion(conversion.dataset, list(class_names), splits, dict(conversion.missing), list(conversion.skipped))


def convert(
    dataset: str,
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    class_names: Sequence[str] | None = None,
    split: int | None = None,
) -> Conversion:
    """Run the converter registered for ``dataset``; ``class_names`` fixes the class-id order (see
    :func:`reorder_classes`), ``split`` picks an official split (1-3) of the datasets in :data:`SPLIT_DATASETS`
    (default 1)."""
    try:
        converter = CONVERTERS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(CONVERTERS)}") from None
    options: dict[str, Any] = {}
    if split is not None:
        if dataset not in SPLIT_DATASETS:
            raise ValueError(f"{dataset} has one official split; split= applies to {', '.join(SPLIT_DATASETS)} only")
        options["split"] = split
    conversion = converter(annotations, videos, dataset=dataset, extensions=extensions, **options)
    if class_names is not None:
        conversion = reorder_classes(conversion, class_names)
    return conversion


def write_conversion(conversion: Conversion, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``{split}.csv``, ``labels.csv`` and ``missing.txt``: ``split<TAB>video name`` per missing video, then
    ``split<TAB>path<TAB>reason`` per skipped file or folder (one line each, so ``cut -f2`` lists them)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for split, entries in conversion.splits.items():
        written[split] = out / f"{split}.csv"
        write_annotation_list(written[split], entries)
    written["labels"] = out / "labels.csv"
    write_label_list(written["labels"], conversion.class_names)
    written["missing"] = out / "missing.txt"
    lines = [f"{split}\t{name}\n" for split, names in conversion.missing.items() for name in names]
    lines += [f"{s.split}\t{s.path}\t{' '.join(s.reason.split())}\n" for s in conversion.skipped]
    atomic_write_text(written["missing"], "".join(lines))
    return written
