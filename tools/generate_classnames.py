"""Write the class names shipped in the package from the official label CSVs (run once; not run by the tests).

Why a generator: class names are facts about the datasets, but the files in the package are ours (one name per
line, in id order, UTF-8, ``\\n`` line ends), written once from ``../shared/official/labels/*.csv`` (``id,name``
with a header; SSv2 names hold unquoted commas, Kinetics-600 ends lines with ``\\r\\n``, some files lack a final
newline). The checks here (header, ids exactly 0..N-1 in order, the published class count, no empty or repeated
names) are why a shifted or truncated list can never be shipped. ``tests/data/test_label_sets.py`` compares the
shipped files with the CSVs again wherever ``../shared`` is present.

Usage, from the repository root::

    python3 tools/generate_classnames.py                 # reads ../shared/official/labels
    python3 tools/generate_classnames.py --labels DIR    # or another folder with the same CSV files
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VIDEOFOCALNET_SHARED", REPO.parent / "shared"))
OUT_DIR = REPO / "src" / "videofocalnet" / "data" / "classnames"

# label set (videofocalnet.data.label_sets.LABEL_SETS) -> (official CSV, published number of classes)
SOURCES = {
    "kinetics400": ("kinetics_400_labels.csv", 400),
    "kinetics600": ("kinetics_600_labels.csv", 600),
    "ssv2": ("ssv2_174_labels.csv", 174),
    "diving48": ("diving_48_labels.csv", 48),
    "activitynet": ("activitynet_200_labels.csv", 200),
}


def read_official_csv(path: Path, expected: int) -> list[str]:
    """Names in id order; raises SystemExit naming the file and line on anything but ids 0..expected-1 in order."""
    lines = path.read_text(encoding="utf-8").splitlines()  # also strips the \r of CRLF files
    if not lines or lines[0].strip().replace(" ", "").lower() != "id,name":
        raise SystemExit(f"{path}: expected an 'id,name' header, got {lines[0] if lines else ''!r}")
    names: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        raw_id, sep, name = line.partition(",")  # the first comma only: SSv2 names contain commas
        if not sep or raw_id.strip() != str(len(names)):
            raise SystemExit(f"{path}:{number}: expected id {len(names)}, got {line!r}")
        if not name.strip() or name != name.strip():
            raise SystemExit(f"{path}:{number}: empty class name or stray spaces in {name!r}")
        names.append(name)
    if len(names) != expected:
        raise SystemExit(f"{path}: {len(names)} classes, expected {expected}")
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: repeated class names")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=SHARED / "official" / "labels", help="folder of the CSVs")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the .txt files go (default: the package)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (csv_name, expected) in SOURCES.items():
        names = read_official_csv(args.labels / csv_name, expected)
        target = args.out / f"{name}.txt"
        with open(target, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(names) + "\n")
        print(f"{target}: {len(names)} classes from {csv_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
