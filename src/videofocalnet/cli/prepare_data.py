"""``videofocalnet prepare-data``: official annotation files, or a class-per-subfolder tree of videos, ->
``train.csv``, ``val.csv``, ``labels.csv``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from videofocalnet.data.formats import VIDEO_EXTENSIONS

DATASETS = ("kinetics400", "kinetics600", "ssv2", "diving48", "activitynet", "ucf101", "hmdb51", "folder")
# Datasets with several official train/test splits; --split picks one.
SPLIT_DATASETS = ("ucf101", "hmdb51")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", choices=DATASETS, help=" | ".join(DATASETS))
    parser.add_argument(
        "--annotations",
        nargs="+",
        default=None,
        metavar="PATH",
        help="the dataset's official annotation files (or folders holding them); not for 'folder'",
    )
    parser.add_argument(
        "--videos",
        required=True,
        help="video folder (searched with its subfolders, see --depth); for 'folder' the ROOT with one subfolder per "
        "class (or train/, val/ [, test/] holding class folders)",
    )
    parser.add_argument("--depth", type=int, default=2, help="subfolder levels searched for videos (0: only --videos)")
    parser.add_argument("--out", required=True, help="output folder for train.csv, val.csv, labels.csv, missing.txt")
    parser.add_argument(
        "--ext",
        default=",".join(e.lstrip(".") for e in VIDEO_EXTENSIONS),
        help="comma-separated video extensions (default: %(default)s)",
    )
    parser.add_argument(
        "--labels",
        default=None,
        help="official label list (id,name CSV) fixing the class ids; needed for ActivityNet checkpoint compatibility",
    )
    parser.add_argument(
        "--split", type=int, choices=(1, 2, 3), default=None, help="official split of ucf101 / hmdb51 (default: 1)"
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="folder: share of each class's videos held out for val.csv (default: 0.1; at least one per class of 2+)",
    )
    parser.add_argument("--seed", type=int, default=None, help="folder: seed of the train/val split (default: 0)")
    parser.add_argument(
        "--no-decode", action="store_true", help="folder: do not open every video to check that it decodes"
    )
    parser.add_argument(
        "--max-listed", type=int, default=50, help="missing videos to print per split (all go to missing.txt)"
    )


def _check_flags(args: argparse.Namespace) -> None:
    """Flags that do not apply to the chosen dataset are mistakes worth a message, not silently ignored."""
    folder = args.dataset == "folder"
    if folder and args.annotations:
        raise ValueError("--annotations: 'folder' reads the class folders under --videos; leave --annotations out")
    if not folder and not args.annotations:
        raise ValueError(f"--annotations is required for {args.dataset} (the official annotation files or folder)")
    if args.split is not None and args.dataset not in SPLIT_DATASETS:
        raise ValueError(f"--split applies to {' and '.join(SPLIT_DATASETS)} only, not {args.dataset}")
    for flag, value in (("--val-fraction", args.val_fraction), ("--seed", args.seed), ("--no-decode", args.no_decode)):
        if not folder and value not in (None, False):
            raise ValueError(f"{flag} applies to 'folder' only, not {args.dataset}")
    if args.val_fraction is not None and not 0.0 < args.val_fraction < 1.0:
        raise ValueError(f"--val-fraction {args.val_fraction} must be between 0 and 1 (exclusive), e.g. 0.1")


def _convert(args: argparse.Namespace, extensions: Sequence[str]):
    """(conversion, a one-line description of what was read) for the chosen dataset."""
    from videofocalnet.data.annotations import read_label_list
    from videofocalnet.data.converters import VideoIndex, convert, reorder_classes

    class_names = read_label_list(args.labels) if args.labels else None
    if args.dataset == "folder":
        from videofocalnet.data.folder import convert_folder, find_split_folders

        fraction = 0.1 if args.val_fraction is None else args.val_fraction
        seed = 0 if args.seed is None else args.seed
        layout = find_split_folders(args.videos)
        how = (
            f"the existing split ({', '.join(f + '/' for f in layout.values())})"
            if layout
            else f"a stratified split (val fraction {fraction}, seed {seed})"
        )
        conversion = convert_folder(
            args.videos, val_fraction=fraction, seed=seed, extensions=extensions, decode=not args.no_decode
        )
        if class_names is not None:
            conversion = reorder_classes(conversion, class_names, source=args.labels)
        videos = sum(len(entries) for entries in conversion.splits.values())
        return conversion, f"{videos} videos in class folders under {args.videos}, {how}"
    index = VideoIndex(args.videos, extensions=extensions, depth=args.depth)
    split = args.split if args.split is not None or args.dataset not in SPLIT_DATASETS else 1
    conversion = convert(
        args.dataset, args.annotations, index, extensions=extensions, class_names=class_names, split=split
    )
    described = f"{len(index)} videos found under {args.videos}" + (f", split {split}" if split else "")
    if index.duplicates:
        first, other = index.duplicates[0]
        described += (
            f"\nwarning: {len(index.duplicates)} video names occur in several folders; the shallowest/first was used "
            f"(e.g. {first} over {other})"
        )
    return conversion, described


def _report(conversion, written, max_listed: int) -> None:
    for split, names in conversion.missing.items():
        if not names:
            continue
        print(f"missing {split} videos ({len(names)}):")
        for name in names[:max_listed]:
            print(f"  {name}")
        if len(names) > max_listed:
            print(f"  ... {len(names) - max_listed} more")
    if any(conversion.missing.values()):
        print(f"missing videos are left out of the lists and written to {written['missing']}")
    if conversion.skipped:
        print(f"skipped ({len(conversion.skipped)}):")
        for item in conversion.skipped[:max_listed]:
            print(f"  {item.path}: {item.reason}")
        if len(conversion.skipped) > max_listed:
            print(f"  ... {len(conversion.skipped) - max_listed} more")
        print(f"skipped files and empty classes are left out of the lists and written to {written['missing']}")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.data.annotations import AnnotationError
    from videofocalnet.data.converters import write_conversion

    extensions = [e.strip().lstrip(".") for e in args.ext.split(",") if e.strip()]
    try:
        _check_flags(args)
        conversion, described = _convert(args, extensions)
        written = write_conversion(conversion, args.out)
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    print(f"{args.dataset}: {len(conversion.class_names)} classes, {described}")
    for split, count in conversion.counts().items():
        classes = len({label for entry in conversion.splits[split] for label in entry.labels})
        coverage = (
            f" of {classes}/{len(conversion.class_names)} classes" if classes < len(conversion.class_names) else ""
        )
        missing = f", {count['missing']} missing videos" if args.dataset != "folder" else ""
        print(f"  {split}: {count['written']} entries{coverage} -> {written[split]}{missing}")
    _report(conversion, written, args.max_listed)
    print(f"labels -> {written['labels']}")
    return 0
