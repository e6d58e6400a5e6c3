"""Convert each dataset's official annotation files into our list files (``train.csv``, ``val.csv``, ``labels.csv``).

Every converter returns a :class:`Conversion`: entries per split (paths relative to the video folder), the class
names (index = class id) and the videos the annotations mention but the disk does not hold. Missing videos are
normal (Kinetics loses a few percent of its YouTube clips every year), so they are reported and left out rather
than fatal; malformed annotation files are errors naming the file, the line/entry and the value.

Class ids: Kinetics sorts the class names (= the official order), Something-Something-v2 uses its ``labels.json``
ids, Diving-48 its vocabulary index (both = the official lists). ActivityNet sorts names too, but the official
Video-FocalNet ActivityNet list is in the dataset's own, non-alphabetical order: pass that list as ``class_names``
(``prepare-data --labels``) to get checkpoint-compatible ids.
"""

from __future__ import annotations

import csv
import json
import os
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
    "VideoIndex",
    "convert",
    "convert_activitynet",
    "convert_diving48",
    "convert_kinetics",
    "convert_ssv2",
    "reorder_classes",
    "write_conversion",
]


class ConversionError(AnnotationError):
    """An official annotation file is malformed or inconsistent; the message names file, line/entry and value."""


@dataclass
class Conversion:
    """The result of one converter: ``splits[name]`` are the entries found on disk, ``missing[name]`` the video
    names (without extension) that were not."""

    dataset: str
    class_names: list[str]
    splits: dict[str, list[AnnotationEntry]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

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


def _pick(files: Sequence[Path], name: str) -> Path | None:
    """The file called ``name`` (case-insensitive) among ``files``."""
    matches = [f for f in files if f.name.lower() == name.lower()]
    if len(matches) > 1:
        raise ConversionError(f"{name} given more than once: {', '.join(map(str, matches))}")
    return matches[0] if matches else None


def _json_split_entries(
    files: Sequence[Path], split_files: Sequence[tuple[str, str]]
) -> dict[str, list[tuple[str, Any]]]:
    """For each ``(split, file name)`` found among ``files``: the entries of that JSON list, each paired with a
    ``"<file>: entry <i>"`` locator for error messages. Splits whose file is absent are left out."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for split, file_name in split_files:
        path = _pick(files, file_name)
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

    The class of an entry is its ``template`` without the brackets, looked up in ``labels.json``. ``test.json``
    (no templates) is ignored. Videos are ``{id}.webm``.
    """
    index = videos if isinstance(videos, VideoIndex) else VideoIndex(videos, extensions=extensions)
    files = _expand(annotations)
    labels_path = _pick(files, "labels.json")
    if labels_path is None:
        raise ConversionError("Something-Something-v2 needs labels.json among the annotations")
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
    for split, entries in _json_split_entries(files, (("train", "train.json"), ("val", "validation.json"))).items():
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
        raise ConversionError("Something-Something-v2 needs train.json and/or validation.json among the annotations")
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
    split_files = (("train", "Diving48_V2_train.json"), ("val", "Diving48_V2_test.json"))
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
# Registry and writing
# ----------------------------------------------------------------------------------------------------------------

CONVERTERS: dict[str, Callable[..., Conversion]] = {
    "kinetics400": convert_kinetics,
    "kinetics600": convert_kinetics,
    "ssv2": convert_ssv2,
    "diving48": convert_diving48,
    "activitynet": convert_activitynet,
}


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
    return Conversion(conversion.dataset, list(class_names), splits, dict(conversion.missing))


def convert(
    dataset: str,
    annotations: Sequence[str | os.PathLike[str]],
    videos: str | os.PathLike[str] | VideoIndex,
    *,
    extensions: Sequence[str] = VIDEO_EXTENSIONS,
    class_names: Sequence[str] | None = None,
) -> Conversion:
    """Run the converter registered for ``dataset``; ``class_names`` fixes the class-id order (see
    :func:`reorder_classes`)."""
    try:
        converter = CONVERTERS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {', '.join(CONVERTERS)}") from None
    conversion = converter(annotations, videos, dataset=dataset, extensions=extensions)
    if class_names is not None:
        conversion = reorder_classes(conversion, class_names)
    return conversion


def write_conversion(conversion: Conversion, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``{split}.csv``, ``labels.csv`` and ``missing.txt`` (``split<TAB>video name`` per line)."""
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
    atomic_write_text(written["missing"], "".join(lines))
    return written
