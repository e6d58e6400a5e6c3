"""Annotation lists and label lists: parsing, writing and whole-dataset checks.

Two list formats are read because users arrive with either: the official Video-FocalNet repository's ``path,label``
CSV (no header) and mmaction2's ``path label`` video lists. Multi-label lines (``path,l1,l2`` / ``path l1 l2``) are
accepted for datasets such as Charades. We always *write* the official format.

Parsing is strict and names ``file:line`` and the offending value, because a silently mis-parsed label costs a
whole training run. :func:`check_annotations` is the lenient counterpart: it collects every problem of a list (and
of its videos) so a user can fix a dataset in one pass instead of one error at a time.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from videofocalnet.atomic import atomic_write_text

__all__ = [
    "AnnotationEntry",
    "AnnotationError",
    "CheckProblem",
    "CheckReport",
    "check_annotations",
    "read_annotation_list",
    "read_label_list",
    "write_annotation_list",
    "write_label_list",
]

Label = int | tuple[int, ...]


class AnnotationError(ValueError):
    """A malformed annotation or label list; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class AnnotationEntry:
    """One line of an annotation list. ``line`` is 1-based (0 for entries that were never read from a file)."""

    path: str
    label: Label
    line: int = 0

    @property
    def labels(self) -> tuple[int, ...]:
        """The label(s) as a tuple, so single- and multi-label entries can be iterated alike."""
        return self.label if isinstance(self.label, tuple) else (self.label,)


# ----------------------------------------------------------------------------------------------------------------
# Annotation lists
# ----------------------------------------------------------------------------------------------------------------

_INT_RE = re.compile(r"^[+-]?\d+$")
# The trailing whitespace-separated tokens of an mmaction line; the path is everything before them, so paths that
# contain spaces survive (``my clips/a b.mp4 3``).
_TOKEN_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class _LineError:
    line: int
    value: str
    message: str


def _parse_label(token: str, *, num_classes: int | None) -> int | str:
    """Return the label, or an error message (a ``str``) describing why ``token`` is not one."""
    token = token.strip()
    if not _INT_RE.match(token):
        return f"label {token!r} is not an integer"
    value = int(token)
    if value < 0:
        return f"label {token!r} is negative"
    if num_classes is not None and value >= num_classes:
        return f"label {token!r} is out of range for {num_classes} classes (valid: 0..{num_classes - 1})"
    return value


def _parse_line(text: str, number: int, *, num_classes: int | None) -> AnnotationEntry | _LineError | None:
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    if "," in stripped:
        # Official format. Paths with commas are not supported (the official lists never contain them).
        path, *tokens = (part.strip() for part in stripped.split(","))
        if not tokens or all(not t for t in tokens):
            return _LineError(number, stripped, f"no label after the path in {stripped!r} (expected 'path,label')")
    else:
        matches = list(_TOKEN_RE.finditer(stripped))
        if len(matches) < 2:
            return _LineError(number, stripped, f"no label in {stripped!r} (expected 'path,label' or 'path label')")
        # Labels are the maximal run of integer tokens at the end (at least the last token, which is reported
        # when it is not an integer); the path is the text before them, inner spaces kept.
        first_label = len(matches) - 1
        while first_label > 1 and _INT_RE.match(matches[first_label - 1].group()):
            first_label -= 1
        path = stripped[: matches[first_label].start()].rstrip()
        tokens = [m.group() for m in matches[first_label:]]
    if not path:
        return _LineError(number, stripped, f"empty path in {stripped!r}")
    labels: list[int] = []
    for token in tokens:
        parsed = _parse_label(token, num_classes=num_classes)
        if isinstance(parsed, str):
            return _LineError(number, token.strip(), parsed)
        labels.append(parsed)
    label: Label = labels[0] if len(labels) == 1 else tuple(labels)
    return AnnotationEntry(path=path, label=label, line=number)


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: lists saved by Excel/Windows tools start with a BOM that would otherwise glue onto the path.
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise FileNotFoundError(f"annotation list not found: {path}") from None
    except UnicodeDecodeError as err:
        raise AnnotationError(f"{path}: not UTF-8 text ({err})") from None


def _parse_list(path: Path, *, num_classes: int | None) -> tuple[list[AnnotationEntry], list[_LineError]]:
    entries: list[AnnotationEntry] = []
    errors: list[_LineError] = []
    for number, text in enumerate(_read_text(path).splitlines(), start=1):
        parsed = _parse_line(text, number, num_classes=num_classes)
        if isinstance(parsed, AnnotationEntry):
            entries.append(parsed)
        elif isinstance(parsed, _LineError):
            errors.append(parsed)
    return entries, errors


def read_annotation_list(path: str | os.PathLike[str], *, num_classes: int | None = None) -> list[AnnotationEntry]:
    """Read an official (``path,label``) or mmaction (``path label``) list; multi-label lines become tuples.

    Blank lines and ``#`` comments are skipped. Raises :class:`AnnotationError` naming ``file:line`` and the
    offending value on the first bad line (with a count of further bad lines, so nobody fixes them one by one
    without knowing: ``videofocalnet check-data`` lists them all).
    """
    path = Path(path)
    entries, errors = _parse_list(path, num_classes=num_classes)
    if errors:
        first = errors[0]
        extra = len(errors) - 1
        more = (
            f" (and {extra} more bad line{'s' if extra > 1 else ''}; `videofocalnet check-data` lists them all)"
            if extra
            else ""
        )
        raise AnnotationError(f"{path}:{first.line}: {first.message}{more}")
    return entries


def write_annotation_list(path: str | os.PathLike[str], entries: Iterable[AnnotationEntry | tuple[str, Label]]) -> None:
    """Write entries in the official ``path,label`` (``path,l1,l2`` for multi-label) format, atomically."""
    lines: list[str] = []
    for index, item in enumerate(entries):
        video, label = (item.path, item.label) if isinstance(item, AnnotationEntry) else item
        # A comma or newline in a path would make the written list unreadable; refuse rather than corrupt it.
        if not video or "," in video or "\n" in video or "\r" in video or video != video.strip():
            raise AnnotationError(f"{path}: entry {index}: path {video!r} cannot be written to a 'path,label' list")
        labels = label if isinstance(label, tuple) else (label,)
        if not labels or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in labels):
            raise AnnotationError(f"{path}: entry {index} ({video}): invalid label {label!r}")
        lines.append(",".join([video, *map(str, labels)]) + "\n")
    atomic_write_text(Path(path), "".join(lines))


# ----------------------------------------------------------------------------------------------------------------
# Label lists (class id -> name)
# ----------------------------------------------------------------------------------------------------------------


def read_label_list(path: str | os.PathLike[str]) -> list[str]:
    """Read class names indexed by id: an ``id,name`` CSV with header (rows in any order) or one name per line.

    Ids must be exactly ``0..N-1``; gaps, duplicates and repeated names are errors naming the line, because a
    shifted class list silently permutes every prediction.
    """
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), None)
    if first is None:
        raise AnnotationError(f"{path}: label list is empty")
    names: list[str]
    if first.replace(" ", "").lower() == "id,name":
        by_id: dict[int, tuple[str, int]] = {}
        reader = csv.reader(io.StringIO(text))
        header_seen = False
        for row in reader:
            number = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if not header_seen:
                header_seen = True
                continue
            if len(row) < 2:
                raise AnnotationError(f"{path}:{number}: expected 'id,name', got {','.join(row)!r}")
            raw_id, name = row[0].strip(), ",".join(row[1:]).strip()  # unquoted commas belong to the name
            if not _INT_RE.match(raw_id) or int(raw_id) < 0:
                raise AnnotationError(f"{path}:{number}: class id {raw_id!r} is not a non-negative integer")
            if not name:
                raise AnnotationError(f"{path}:{number}: empty class name for id {raw_id}")
            class_id = int(raw_id)
            if class_id in by_id:
                raise AnnotationError(
                    f"{path}:{number}: duplicate class id {class_id} (first on line {by_id[class_id][1]})"
                )
            by_id[class_id] = (name, number)
        if not by_id:
            raise AnnotationError(f"{path}: label list has a header but no classes")
        missing = sorted(set(range(len(by_id))) - set(by_id))
        if missing:
            too_big = sorted(i for i in by_id if i >= len(by_id))
            where = ", ".join(f"{i} (line {by_id[i][1]})" for i in too_big[:5])
            raise AnnotationError(
                f"{path}: class ids must be 0..{len(by_id) - 1}: missing {missing[:10]}; out of range: {where}"
            )
        name_lines = [by_id[i] for i in range(len(by_id))]
    else:
        name_lines = [(line.strip(), number) for number, line in enumerate(lines, start=1) if line.strip()]
    seen: dict[str, int] = {}
    for name, number in name_lines:
        if name in seen:
            raise AnnotationError(f"{path}:{number}: duplicate class name {name!r} (first on line {seen[name]})")
        seen[name] = number
    names = [name for name, _ in name_lines]
    return names


def write_label_list(path: str | os.PathLike[str], names: Sequence[str]) -> None:
    """Write an ``id,name`` CSV (header, ids 0..N-1), atomically; names are CSV-quoted where needed."""
    if len(set(names)) != len(names):
        dup = next(n for n, c in Counter(names).items() if c > 1)
        raise AnnotationError(f"{path}: duplicate class name {dup!r}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "name"])
    for index, name in enumerate(names):
        if not name or name != name.strip() or "\n" in name:
            raise AnnotationError(f"{path}: class {index}: invalid name {name!r}")
        writer.writerow([index, name])
    atomic_write_text(Path(path), buffer.getvalue())


# ----------------------------------------------------------------------------------------------------------------
# Whole-dataset checks
# ----------------------------------------------------------------------------------------------------------------

PROBLEM_KINDS = (
    "bad-line",  # the line does not parse (label not an integer, missing label, ...)
    "label-out-of-range",
    "missing-video",
    "unreadable-video",  # decode.probe_video raised DecodeError
    "empty-video",  # the container opens but holds no frames
    "truncated-video",  # what decodes falls short of what the header promises (decode.VideoInfo.truncation)
    "duplicate-path",
    "empty-list",
)


@dataclass(frozen=True)
class CheckProblem:
    """One problem found by :func:`check_annotations`; ``line`` is 0 when it concerns the whole list."""

    line: int
    path: str
    kind: str
    detail: str


@dataclass
class CheckReport:
    """Everything :func:`check_annotations` found. ``histogram[c]`` counts entries carrying class ``c``."""

    source: str
    root: str
    num_entries: int
    num_classes: int | None
    problems: list[CheckProblem] = field(default_factory=list)
    histogram: dict[int, int] = field(default_factory=dict)
    label_names: list[str] | None = None
    videos_decoded: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem_counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    @property
    def empty_classes(self) -> list[int]:
        """Classes with no entry (only known when the number of classes is)."""
        if self.num_classes is None:
            return []
        return [c for c in range(self.num_classes) if self.histogram.get(c, 0) == 0]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "root": self.root,
            "ok": self.ok,
            "num_entries": self.num_entries,
            "num_classes": self.num_classes,
            "videos_decoded": self.videos_decoded,
            "problem_counts": self.problem_counts,
            "problems": [asdict(p) for p in self.problems],
            # JSON object keys are strings; keep them sorted by class id for stable diffs.
            "histogram": {str(c): self.histogram[c] for c in sorted(self.histogram)},
            "empty_classes": self.empty_classes,
            "label_names": self.label_names,
        }


def check_annotations(
    source: str | os.PathLike[str] | Sequence[AnnotationEntry],
    *,
    root: str | os.PathLike[str],
    num_classes: int | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    check_videos: bool = True,
) -> CheckReport:
    """Collect every problem of an annotation list and its videos, plus a class histogram.

    ``source`` is a list file (bad lines become ``bad-line`` problems instead of exceptions) or parsed entries.
    Video paths are relative to ``root`` (absolute paths are used as they are). Existence is always checked;
    ``check_videos`` additionally opens each video with :func:`videofocalnet.data.decode.probe_video`, which is
    what catches truncated downloads. ``labels`` (names or a label-list file) fixes ``num_classes`` when not given.
    """
    root_path = Path(root)
    label_names: list[str] | None = None
    if labels is not None:
        label_names = read_label_list(labels) if isinstance(labels, (str, os.PathLike)) else list(labels)
        if num_classes is not None and num_classes != len(label_names):
            raise ValueError(f"num_classes={num_classes} but the label list has {len(label_names)} names")
        num_classes = len(label_names)

    problems: list[CheckProblem] = []
    if isinstance(source, (str, os.PathLike)):
        source_name = str(source)
        # Parse without a class bound: range problems get their own kind below instead of 'bad-line'.
        entries, errors = _parse_list(Path(source), num_classes=None)
        problems.extend(CheckProblem(e.line, "", "bad-line", e.message) for e in errors)
    else:
        source_name = "<entries>"
        entries = list(source)

    if not entries:
        problems.append(CheckProblem(0, "", "empty-list", "the list has no entries"))

    histogram: Counter[int] = Counter()
    first_line: dict[str, int] = {}
    for entry in entries:
        for label in entry.labels:
            if num_classes is not None and not 0 <= label < num_classes:
                problems.append(
                    CheckProblem(
                        entry.line,
                        entry.path,
                        "label-out-of-range",
                        f"label {label} is outside 0..{num_classes - 1}",
                    )
                )
            else:
                histogram[label] += 1
        key = os.path.normpath(entry.path)
        if key in first_line:
            problems.append(
                CheckProblem(entry.line, entry.path, "duplicate-path", f"also listed on line {first_line[key]}")
            )
        else:
            first_line[key] = entry.line

    video_problems = _check_videos(entries, root_path, decode=check_videos)
    problems.extend(video_problems)
    problems.sort(key=lambda p: (p.line, PROBLEM_KINDS.index(p.kind) if p.kind in PROBLEM_KINDS else 99))
    return CheckReport(
        source=source_name,
        root=str(root_path),
        num_entries=len(entries),
        num_classes=num_classes,
        problems=problems,
        histogram=dict(sorted(histogram.items())),
        label_names=label_names,
        videos_decoded=check_videos,
    )


def _check_videos(entries: Sequence[AnnotationEntry], root: Path, *, decode: bool) -> list[CheckProblem]:
    from tqdm import tqdm

    probe = None
    decode_error: type[Exception] = Exception
    if decode:
        from videofocalnet.data.decode import DecodeError, probe_video

        probe, decode_error = probe_video, DecodeError

    problems: list[CheckProblem] = []
    checked: set[str] = set()
    for entry in tqdm(entries, desc="checking videos", unit="video", disable=None, leave=False):
        video = root / entry.path
        key = os.path.normpath(video)
        if key in checked:  # duplicates are reported once, as duplicates
            continue
        checked.add(key)
        if not video.exists():  # a folder is fine: decode reads folders of frame images (rawframes)
            problems.append(CheckProblem(entry.line, entry.path, "missing-video", f"{video} does not exist"))
            continue
        if probe is None:
            continue
        try:
            info = probe(video)
        except decode_error as err:
            problems.append(CheckProblem(entry.line, entry.path, "unreadable-video", str(err)))
            continue
        if info.num_frames <= 0:
            problems.append(CheckProblem(entry.line, entry.path, "empty-video", f"{video} has no decodable frames"))
        elif getattr(info, "truncation", None):
            problems.append(CheckProblem(entry.line, entry.path, "truncated-video", f"{video}: {info.truncation}"))
    return problems
