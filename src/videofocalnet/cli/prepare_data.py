"""``videofocalnet prepare-data``: official annotation files -> ``train.csv``, ``val.csv``, ``labels.csv``."""

from __future__ import annotations

import argparse
import sys

from videofocalnet.data.formats import VIDEO_EXTENSIONS

DATASETS = ("kinetics400", "kinetics600", "ssv2", "diving48", "activitynet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DATASET", choices=DATASETS, help=" | ".join(DATASETS))
    parser.add_argument(
        "--annotations",
        nargs="+",
        required=True,
        metavar="PATH",
        help="the dataset's official annotation files (or folders holding them)",
    )
    parser.add_argument("--videos", required=True, help="video folder (searched with its subfolders, see --depth)")
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
        "--max-listed", type=int, default=50, help="missing videos to print per split (all go to missing.txt)"
    )


def run(args: argparse.Namespace) -> int:
    from videofocalnet.data.annotations import AnnotationError, read_label_list
    from videofocalnet.data.converters import VideoIndex, convert, write_conversion

    extensions = [e.strip().lstrip(".") for e in args.ext.split(",") if e.strip()]
    try:
        class_names = read_label_list(args.labels) if args.labels else None
        index = VideoIndex(args.videos, extensions=extensions, depth=args.depth)
        conversion = convert(args.dataset, args.annotations, index, extensions=extensions, class_names=class_names)
        written = write_conversion(conversion, args.out)
    except (AnnotationError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    print(f"{args.dataset}: {len(conversion.class_names)} classes, {len(index)} videos found under {args.videos}")
    for split, count in conversion.counts().items():
        print(f"  {split}: {count['written']} entries -> {written[split]}, {count['missing']} missing videos")
    for split, names in conversion.missing.items():
        if not names:
            continue
        print(f"missing {split} videos ({len(names)}):")
        for name in names[: args.max_listed]:
            print(f"  {name}")
        if len(names) > args.max_listed:
            print(f"  ... {len(names) - args.max_listed} more")
    if any(conversion.missing.values()):
        print(f"missing videos are left out of the lists and written to {written['missing']}")
    if index.duplicates:
        first, other = index.duplicates[0]
        print(
            f"warning: {len(index.duplicates)} video names occur in several folders; the shallowest/first was used "
            f"(e.g. {first} over {other})"
        )
    print(f"labels -> {written['labels']}")
    return 0
