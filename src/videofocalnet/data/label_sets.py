"""The class names of the datasets Video-FocalNets was published on, shipped inside the package.

Why: a released checkpoint (or a config) says which dataset it was trained on (``DATA.DATASET``,
``DATA.LABEL_LIST``) but not the names of its classes, and the official label CSVs live in the official repository,
not next to a user's videos. With the names in the package, ``predict`` can print "abseiling" instead of
``class_0`` on any machine. The files (``classnames/<set>.txt``, one name per line in id order) were written once
from the official CSVs by ``tools/generate_classnames.py``.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Mapping
from importlib import resources
from pathlib import PurePosixPath

__all__ = ["LABEL_SETS", "class_names", "find_label_set"]

# set name (the official DATA.DATASET value) -> number of classes
LABEL_SETS: Mapping[str, int] = types.MappingProxyType(
    {"kinetics400": 400, "kinetics600": 600, "ssv2": 174, "diving48": 48, "activitynet": 200}
)

# Other spellings of each set, normalised (lower case, letters and digits only; the set's own name included).
_SPELLINGS: Mapping[str, tuple[str, ...]] = types.MappingProxyType(
    {
        "kinetics400": ("k400", "kin400"),
        "kinetics600": ("k600", "kin600"),
        "ssv2": ("sthv2", "sthsthv2", "smthsmthv2", "somethingv2", "somethingsomethingv2", "somethingsomething"),
        "diving48": ("diving", "div48"),
        "activitynet": ("anet", "activitynet13", "activitynetv13", "anet13", "activitynet200"),
    }
)


def _alias_table() -> dict[str, tuple[str, ...]]:
    """Spelling -> the sets it may mean. More than one: the number of classes decides ("kinetics" with 600 classes
    is Kinetics-600), and without one nothing is guessed."""
    table: dict[str, tuple[str, ...]] = {"kinetics": ("kinetics400", "kinetics600")}
    for name, spellings in _SPELLINGS.items():
        table.update(dict.fromkeys((name, *spellings), (name,)))
    return table


_ALIASES: Mapping[str, tuple[str, ...]] = types.MappingProxyType(_alias_table())

# words a label file's name may add around the dataset name: kinetics_400_labels.csv, ssv2_classnames.txt
_FILE_WORDS = frozenset({"labels", "label", "classes", "class", "classnames", "names", "categories", "list"})


def _normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _pick(candidates: tuple[str, ...], num_classes: int | None) -> str | None:
    """The one candidate whose class count fits; None when none fits or the choice would be a guess."""
    if num_classes:
        fitting = [name for name in candidates if LABEL_SETS[name] == num_classes]
    else:
        fitting = list(candidates)
    return fitting[0] if len(fitting) == 1 else None


def _from_dataset(dataset: str, num_classes: int | None) -> str | None:
    candidates = _ALIASES.get(_normalise(dataset))
    return _pick(candidates, num_classes) if candidates else None


def _from_label_list(label_list: str, num_classes: int | None) -> str | None:
    """By the file's base name: ``labels/kinetics_400_labels.csv`` -> kinetics400, ``ssv2_174_labels.csv`` -> ssv2
    (a trailing class count in the name must then agree with the set)."""
    stem = PurePosixPath(label_list.replace("\\", "/")).name.lower()
    stem = re.sub(r"\.(csv|txt|json)$", "", stem)
    words = [w for w in re.split(r"[^a-z0-9]+", stem) if w and w not in _FILE_WORDS]
    if not words:
        return None
    found = _from_dataset("".join(words), num_classes)
    if found is None and len(words) > 1 and words[-1].isdigit():
        count = int(words[-1])
        if num_classes and num_classes != count:
            return None
        found = _from_dataset("".join(words[:-1]), count)
    return found


def find_label_set(*, dataset: str = "", label_list: str = "", num_classes: int | None = None) -> str | None:
    """The shipped label set a config or checkpoint refers to, or None when it names none of them.

    ``dataset`` is a ``DATA.DATASET`` value (official names and common aliases: ``k400``, ``sthv2``,
    ``something-something-v2``, ``diving-48``, ``anet``, ...), ``label_list`` a ``DATA.LABEL_LIST`` path, matched by
    its base name. ``num_classes`` (0 or None: unknown, the config's convention) must equal the set's size: a
    400-way head with Kinetics-600 names would print wrong names with confidence, so a mismatch gives None rather
    than a guess, and so do a dataset and a label list that point at different sets.
    """
    by_dataset = _from_dataset(dataset, num_classes) if dataset else None
    by_file = _from_label_list(label_list, num_classes) if label_list else None
    if by_dataset and by_file and by_dataset != by_file:
        return None
    return by_dataset or by_file


@functools.cache
def _read(name: str) -> tuple[str, ...]:
    text = (resources.files("videofocalnet.data") / "classnames" / f"{name}.txt").read_text(encoding="utf-8")
    names = tuple(text.splitlines())
    if len(names) != LABEL_SETS[name]:  # a damaged install, not a user mistake
        raise RuntimeError(
            f"videofocalnet/data/classnames/{name}.txt holds {len(names)} names, expected "
            f"{LABEL_SETS[name]}; reinstall the package"
        )
    return names


def class_names(name: str) -> list[str]:
    """The class names of a shipped set, in id order; ``name`` is a set name or an alias (``k400``)."""
    canonical = name if name in LABEL_SETS else _from_dataset(name, None)
    if canonical is None:
        raise ValueError(f"unknown label set {name!r}; shipped sets: {', '.join(LABEL_SETS)}")
    return list(_read(canonical))
