"""The model-zoo table: every entry well-formed, consistent with the official configs and labels, found by name."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from videofocalnet.download import parse_hf_spec
from videofocalnet.models import is_model
from videofocalnet.zoo import (
    LABEL_SETS,
    PretrainedWeights,
    UnknownWeightsError,
    get_weights,
    list_weights,
    weights_for,
)

ALL = list_weights()
VIDEO = [w for w in ALL if w.kind == "video"]
IMAGENET = [w for w in ALL if w.kind == "imagenet"]
# label set -> the official label list (its DATA.LABEL_LIST)
LABEL_FILES = {
    "kinetics400": "kinetics_400_labels.csv",
    "kinetics600": "kinetics_600_labels.csv",
    "ssv2": "ssv2_174_labels.csv",
    "diving48": "diving_48_labels.csv",
    "activitynet": "activitynet_200_labels.csv",
}


def test_the_published_set_is_all_there() -> None:
    assert [w.name for w in VIDEO] == [
        "video_focalnet_tiny.k400",
        "video_focalnet_small.k400",
        "video_focalnet_base.k400",
        "video_focalnet_base.k600",
        "video_focalnet_base.ssv2",
        "video_focalnet_base.diving48",
        "video_focalnet_base.activitynet",
    ]
    assert sorted(w.name for w in IMAGENET) == sorted(
        f"focalnet_{size}_{rf}.in1k" for size in ("tiny", "small", "base") for rf in ("srf", "lrf")
    )
    assert {w.label_set for w in VIDEO} == set(LABEL_SETS)
    assert get_weights("video_focalnet_base.k400").file_name == "video-focalnet_base_k400.pth"  # README's name
    assert (get_weights("video_focalnet_base.k400").top1, get_weights("video_focalnet_base.ssv2").top1) == (83.6, 71.1)


@pytest.mark.parametrize("entry", ALL, ids=lambda w: w.name)
def test_entry_is_well_formed(entry: PretrainedWeights) -> None:
    assert re.fullmatch(r"[a-z0-9_]+\.[a-z0-9]+", entry.name)
    assert entry.architecture + "." + entry.tag == entry.name
    assert 0 < entry.top1 < 100
    assert re.fullmatch(r"[1-9]\d*x[1-9]\d*", entry.views)
    assert entry.kind in ("video", "imagenet")
    assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    assert Path(entry.file_name).name == entry.file_name and entry.file_name.endswith(".pth")
    assert is_model(entry.video_model), f"{entry.name}: {entry.video_model} is not a registered model"
    assert len(entry.mean) == len(entry.std) == 3 and all(v > 1 for v in entry.mean + entry.std)  # 0-255 scale
    assert entry.short_side >= entry.input_size > 0 and entry.num_frames >= 1 and entry.num_classes > 1
    for url in (entry.url, *entry.alt_urls):
        if url.startswith("hf-hub:"):
            repo_id, revision, filename = parse_hf_spec(url)
            assert repo_id.startswith("timm/") and revision is None and filename is None
        else:
            parts = urlparse(url)
            assert parts.scheme == "https" and parts.hostname and parts.path
    if entry.kind == "video":
        assert entry.label_set in LABEL_SETS
        assert entry.architecture == entry.video_model
        assert re.fullmatch(r"https://drive\.google\.com/file/d/[\w-]{25,}/view\?usp=sharing", entry.url)
        assert (entry.views, entry.sampling, entry.num_frames, entry.input_size, entry.short_side) == (
            "4x3",
            "tsn",
            8,
            224,
            224,
        )
    else:
        assert entry.label_set is None and entry.num_classes == 1000 and entry.num_frames == 1
        assert entry.url == f"hf-hub:timm/{entry.architecture}.ms_in1k"
        assert entry.alt_urls and all(u.endswith(f"/{entry.architecture}.pth") for u in entry.alt_urls)


def test_names_and_files_are_unique() -> None:
    assert len({w.name for w in ALL}) == len(ALL)
    assert len({w.file_name for w in ALL}) == len(ALL)
    assert len({w.url for w in ALL}) == len(ALL)


def test_entries_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALL[0].top1 = 99.9  # type: ignore[misc]


@pytest.mark.parametrize("entry", VIDEO, ids=lambda w: w.name)
def test_video_entry_matches_official_config_and_labels(entry: PretrainedWeights, official_dir: Path) -> None:
    size = entry.architecture.removeprefix("video_focalnet_")
    assert entry.label_set is not None
    config_path = official_dir / "configs" / entry.label_set / f"video-focalnet_{size}.yaml"
    assert config_path.is_file(), f"no official config for {entry.name} at {config_path}"
    config = yaml.safe_load(config_path.read_text())
    assert config["DATA"]["DATASET"] == entry.label_set
    assert config["DATA"]["NUM_CLASSES"] == config["MODEL"]["NUM_CLASSES"] == entry.num_classes
    assert config["DATA"]["NUM_FRAMES"] == entry.num_frames
    assert config["AUG"]["FRAME_INTERVAL"] == entry.frame_interval
    assert config["TRAIN"]["PRETRAINED_PATH"].endswith(f"focalnet_{size}_srf.pth")
    assert Path(config["DATA"]["LABEL_LIST"]).name == LABEL_FILES[entry.label_set]
    with open(official_dir / "labels" / LABEL_FILES[entry.label_set], newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == entry.num_classes


def test_get_weights_by_name_and_by_model_and_tag() -> None:
    entry = get_weights("video_focalnet_base.k400")
    assert get_weights("video_focalnet_base", "k400") is entry
    assert weights_for("video_focalnet_base", "k400") is entry
    assert weights_for("video_focalnet_base") is entry  # pretrained=True: the first published tag
    assert weights_for("video_focalnet_small").name == "video_focalnet_small.k400"
    assert weights_for("focalnet_tiny_srf", "in1k").url == "hf-hub:timm/focalnet_tiny_srf.ms_in1k"


def test_unknown_names_suggest_close_matches() -> None:
    with pytest.raises(UnknownWeightsError) as info:
        get_weights("video_focalnet_base.k40")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert message.startswith("unknown weights 'video_focalnet_base.k40'; did you mean video_focalnet_base.k400")
    assert "videofocalnet weights list" in message
    with pytest.raises(UnknownWeightsError, match="needs a tag: one of video_focalnet_base.k400, "):
        get_weights("video_focalnet_base")
    with pytest.raises(UnknownWeightsError, match="did you mean video_focalnet_base.k600"):
        get_weights("video_focalnet_base", "k601")
    with pytest.raises(UnknownWeightsError, match="no published weights for model 'video_focalnet_tiny_joint'"):
        weights_for("video_focalnet_tiny_joint")
    with pytest.raises(UnknownWeightsError) as nothing_close:
        get_weights("resnet50")
    assert "did you mean" not in str(nothing_close.value)


def test_list_weights_patterns() -> None:
    assert [w.name for w in list_weights("*k400")] == [w.name for w in VIDEO[:3]]
    assert {w.name for w in list_weights("base")} == {w.name for w in ALL if "base" in w.name}
    assert [w.name for w in list_weights("focalnet_tiny_?rf.in1k")] == [
        "focalnet_tiny_srf.in1k",
        "focalnet_tiny_lrf.in1k",
    ]
    assert list_weights("nothing*") == [] and list_weights() == ALL
