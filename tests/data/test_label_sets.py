"""The class names shipped in the package: identical to the official label CSVs, and found from configs by name."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from videofocalnet.data.annotations import read_label_list
from videofocalnet.data.label_sets import LABEL_SETS, class_names, find_label_set

# set -> official CSV (../shared/official/labels) and official config folder (../shared/official/configs)
OFFICIAL = {
    "kinetics400": ("kinetics_400_labels.csv", "kinetics400"),
    "kinetics600": ("kinetics_600_labels.csv", "kinetics600"),
    "ssv2": ("ssv2_174_labels.csv", "ssv2"),
    "diving48": ("diving_48_labels.csv", "diving48"),
    "activitynet": ("activitynet_200_labels.csv", "activitynet"),
}


def test_counts_are_the_published_ones():
    assert dict(LABEL_SETS) == {"kinetics400": 400, "kinetics600": 600, "ssv2": 174, "diving48": 48, "activitynet": 200}
    for name, count in LABEL_SETS.items():
        names = class_names(name)
        assert len(names) == count == len(set(names)), name
        assert all(n and n == n.strip() and "\n" not in n for n in names), name


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_shipped_names_equal_the_official_csv(name, official_dir):
    path = official_dir / "labels" / OFFICIAL[name][0]
    with open(path, encoding="utf-8", newline="") as fh:
        rows = [row for row in csv.reader(fh) if row][1:]  # header dropped
    ids = [int(row[0]) for row in rows]
    assert ids == list(range(LABEL_SETS[name])), f"{path}: ids are not 0..N-1 in order"
    # SSv2 names hold unquoted commas: the name is everything after the id
    assert class_names(name) == [",".join(row[1:]) for row in rows]
    assert class_names(name) == read_label_list(path)  # and what DATA.LABEL_LIST pointing at the CSV gives


def test_well_known_names_sit_at_their_ids():
    """Independent of ../shared: a few ids checked by hand against the datasets' published lists."""
    assert class_names("kinetics400")[0] == "abseiling" and class_names("kinetics400")[-1] == "zumba"
    assert class_names("ssv2")[0] == "Approaching something with your camera"
    assert class_names("activitynet")[0] == "Applying sunscreen"
    assert class_names("diving48")[0] == "Back_15som_05Twis_FREE"


def test_class_names_returns_a_copy():
    names = class_names("diving48")
    names.clear()
    assert len(class_names("diving48")) == 48


def _official_configs(official_dir: Path) -> list[tuple[str, dict]]:
    found = []
    for name, (_csv, folder) in OFFICIAL.items():
        for path in sorted((official_dir / "configs" / folder).glob("*.yaml")):
            found.append((name, yaml.safe_load(path.read_text(encoding="utf-8"))))
    return found


def test_every_official_config_names_its_label_set(official_dir):
    configs = _official_configs(official_dir)
    assert len(configs) == 7
    for expected, cfg in configs:
        data, classes = cfg["DATA"], cfg["MODEL"]["NUM_CLASSES"]
        assert find_label_set(dataset=data["DATASET"]) == expected
        assert find_label_set(label_list=data["LABEL_LIST"]) == expected
        assert find_label_set(dataset=data["DATASET"], label_list=data["LABEL_LIST"], num_classes=classes) == expected
        assert find_label_set(dataset=data["DATASET"], num_classes=classes + 1) is None


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ("kinetics400", "kinetics400"),
        ("K400", "kinetics400"),
        ("Kinetics-400", "kinetics400"),
        ("kinetics_600", "kinetics600"),
        ("k600", "kinetics600"),
        ("sthv2", "ssv2"),
        ("something-something-v2", "ssv2"),
        ("Something-Something V2", "ssv2"),
        ("SSv2", "ssv2"),
        ("diving-48", "diving48"),
        ("Diving48", "diving48"),
        ("anet", "activitynet"),
        ("ActivityNet-1.3", "activitynet"),
        ("imagenet", None),  # the config's default DATA.DATASET
        ("synthetic", None),
        ("kinetics", None),  # 400 or 600: not guessed without a class count
        ("", None),
    ],
)
def test_dataset_aliases(dataset, expected):
    assert find_label_set(dataset=dataset) == expected


@pytest.mark.parametrize(
    ("label_list", "expected"),
    [
        ("labels/kinetics_400_labels.csv", "kinetics400"),
        ("/data/k400/kinetics_400_labels.csv", "kinetics400"),
        ("C:\\data\\kinetics_600_labels.csv", "kinetics600"),
        ("labels/ssv2_174_labels.csv", "ssv2"),
        ("diving_48_labels.csv", "diving48"),
        ("activitynet_200_labels.csv", "activitynet"),
        ("kinetics400.txt", "kinetics400"),
        ("ssv2_175_labels.csv", None),  # the count in the name disagrees with the set
        ("labels.csv", None),  # the demo's generated list
        ("my_classes.csv", None),
    ],
)
def test_label_list_file_names(label_list, expected):
    assert find_label_set(label_list=label_list) == expected


def test_class_count_must_match():
    assert find_label_set(dataset="kinetics", num_classes=600) == "kinetics600"
    assert find_label_set(dataset="kinetics", num_classes=400) == "kinetics400"
    assert find_label_set(dataset="k400", num_classes=400) == "kinetics400"
    assert find_label_set(dataset="k400", num_classes=600) is None
    assert find_label_set(label_list="labels/ssv2_174_labels.csv", num_classes=10) is None
    assert find_label_set(dataset="k400", num_classes=0) == "kinetics400"  # 0: unknown, the config's convention


def test_dataset_and_label_list_that_disagree_give_none():
    assert find_label_set(dataset="k400", label_list="labels/ssv2_174_labels.csv") is None
    # an unrecognised label list is no contradiction
    assert find_label_set(dataset="ssv2", label_list="my_classes.csv") == "ssv2"
    assert find_label_set(dataset="imagenet", label_list="labels/ssv2_174_labels.csv") == "ssv2"


def test_aliases_load_names_and_unknown_sets_are_errors():
    assert class_names("k400") == class_names("kinetics400")
    with pytest.raises(ValueError, match=r"unknown label set 'imagenet'; shipped sets: kinetics400, kinetics600, ssv2"):
        class_names("imagenet")
    with pytest.raises(ValueError, match="unknown label set 'kinetics'"):  # ambiguous is unknown
        class_names("kinetics")
