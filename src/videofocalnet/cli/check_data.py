"""``videofocalnet check-data``: every problem of an annotation list and its videos, in one pass."""

from __future__ import annotations

import argparse
import json
import sys

_BAR_WIDTH = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("list", metavar="LIST", help="annotation list ('path,label' or 'path label' lines)")
    parser.add_argument("--root", required=True, help="folder the video paths in LIST are relative to")
    parser.add_argument("--labels", default=None, help="label list (id,name CSV or one name per line)")
    parser.add_argument("--num-classes", type=int, default=None, help="number of classes (default: from --labels)")
    parser.add_argument("--no-decode", action="store_true", help="only check that videos exist; do not open them")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _histogram_lines(report) -> list[str]:
    """Text bars, one per class, scaled to the largest class (empty classes shown when the class count is known)."""
    classes = range(report.num_classes) if report.num_classes is not None else sorted(report.histogram)
    counts = [report.histogram.get(c, 0) for c in classes]
    if not counts:
        return []
    peak = max(counts) or 1
    names = report.label_names
    name_width = min(max((len(names[c]) for c in classes), default=0), 40) if names else 0
    id_width = len(str(max(classes)))
    lines = []
    for c, count in zip(classes, counts):
        name = f" {names[c][:40]:<{name_width}}" if names else ""
        bar = "#" * max(1 if count else 0, round(_BAR_WIDTH * count / peak))
        lines.append(f"  {c:>{id_width}}{name} | {bar:<{_BAR_WIDTH}} {count}")
    return lines


def run(args: argparse.Namespace) -> int:
    from videofocalnet.data.annotations import AnnotationError, check_annotations

    try:
        report = check_annotations(
            args.list,
            root=args.root,
            num_classes=args.num_classes,
            labels=args.labels,
            check_videos=not args.no_decode,
        )
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1

    for problem in report.problems:
        where = f"{args.list}:{problem.line}" if problem.line else args.list
        subject = f"{problem.path}: " if problem.path and problem.path not in problem.detail else ""
        print(f"{where}: {problem.kind}: {subject}{problem.detail}")
    if report.problems:
        print()
    print("class histogram:")
    for line in _histogram_lines(report):
        print(line)
    empty = report.empty_classes
    if empty:
        shown = ", ".join(map(str, empty[:20])) + (", ..." if len(empty) > 20 else "")
        print(f"classes without entries ({len(empty)}): {shown}")
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.problem_counts.items()))
    classes = report.num_classes if report.num_classes is not None else len(report.histogram)
    checked = "decoded" if report.videos_decoded else "existence only"
    status = "OK" if report.ok else f"{len(report.problems)} problems ({counts})"
    print(f"{args.list}: {report.num_entries} entries, {classes} classes, videos {checked}: {status}")
    return 0 if report.ok else 1
