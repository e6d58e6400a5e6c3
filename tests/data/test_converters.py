"""Dataset converters on small handmade annotation files in each official format (videos are placeholders:
converters only check that a video exists)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from videofocalnet.data.annotations import read_annotation_list, read_label_list
from videofocalnet.data.converters import (
    CONVERTERS,
    ConversionError,
    VideoIndex,
    convert,
    write_conversion,
)


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def write_kinetics_csv(path: Path, rows: list[tuple[str, str, int, int, str]], *, is_cc: bool = False) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"] + (["is_cc"] if is_cc else []))
        for row in rows:
            writer.writerow(list(row) + ([0] if is_cc else []))
    return path


# --------------------------------------------------------------------------------------------------------------
# Kinetics
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def kinetics(tmp_path: Path) -> tuple[Path, Path]:
    ann = tmp_path / "ann"
    ann.mkdir()
    write_kinetics_csv(
        ann / "train.csv",
        [
            ("zumba", "-abc_DEF123", 10, 20, "train"),
            ("abseiling", "aaaaaaaaaaa", 0, 10, "train"),
            ("passing American football (in game)", "bbbbbbbbbbb", 5, 15, "train"),
            ("zumba", "ccccccccccc", 100, 110, "train"),  # missing on disk
            ("abseiling", "aaaaaaaaaaa", 0, 10, "train"),  # annotated twice: listed once
        ],
        is_cc=True,
    )
    write_kinetics_csv(
        ann / "validate.csv",
        [("abseiling", "ddddddddddd", 30, 40, "val"), ("zumba", "eeeeeeeeeee", 1, 11, "val")],
    )
    (ann / "test.csv").write_text("youtube_id,time_start,time_end,split\nfffffffffff,0,10,test\n")
    videos = tmp_path / "videos"
    touch(
        videos,
        "zumba/-abc_DEF123_000010_000020.mp4",  # per-class folder
        "train/aaaaaaaaaaa_000000_000010.webm",  # split folder
        "bbbbbbbbbbb.mkv",  # bare youtube id at the top level
        "val/ddddddddddd_000030_000040.mp4",
        "val/eeeeeeeeeee_000001_000011.txt",  # wrong extension: not a video
        "fffffffffff_000000_000010.mp4",
        "deeper/nested/more/ccccccccccc_000100_000110.mp4",  # three levels down: not searched by default
    )
    return ann, videos


def test_kinetics_layouts_missing_and_outputs(kinetics: tuple[Path, Path], tmp_path: Path) -> None:
    ann, videos = kinetics
    conversion = convert("kinetics400", [ann / "train.csv", ann / "validate.csv", ann / "test.csv"], videos)
    assert conversion.class_names == ["abseiling", "passing American football (in game)", "zumba"]
    assert [(e.path, e.label) for e in conversion.splits["train"]] == [
        ("zumba/-abc_DEF123_000010_000020.mp4", 2),
        ("train/aaaaaaaaaaa_000000_000010.webm", 0),
        ("bbbbbbbbbbb.mkv", 1),
    ]
    assert [(e.path, e.label) for e in conversion.splits["val"]] == [("val/ddddddddddd_000030_000040.mp4", 0)]
    assert "test" not in conversion.splits  # the unlabelled test release is ignored
    assert conversion.missing == {"train": ["ccccccccccc_000100_000110"], "val": ["eeeeeeeeeee_000001_000011"]}
    assert conversion.counts() == {"train": {"written": 3, "missing": 1}, "val": {"written": 1, "missing": 1}}

    out = tmp_path / "out"
    written = write_conversion(conversion, out)
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "missing.txt", "train.csv", "val.csv"]
    assert written["train"].read_text().splitlines()[0] == "zumba/-abc_DEF123_000010_000020.mp4,2"
    assert [e.label for e in read_annotation_list(out / "train.csv", num_classes=3)] == [2, 0, 1]
    assert read_label_list(out / "labels.csv") == conversion.class_names
    assert (out / "missing.txt").read_text() == "train\tccccccccccc_000100_000110\nval\teeeeeeeeeee_000001_000011\n"


def test_kinetics_folder_argument_and_extension_filter(kinetics: tuple[Path, Path]) -> None:
    ann, videos = kinetics
    conversion = convert("kinetics600", [ann], videos, extensions=["mp4"])
    assert [e.path for e in conversion.splits["train"]] == ["zumba/-abc_DEF123_000010_000020.mp4"]
    assert sorted(conversion.missing["train"]) == [
        "aaaaaaaaaaa_000000_000010",
        "bbbbbbbbbbb_000005_000015",
        "ccccccccccc_000100_000110",
    ]


def test_kinetics_labelled_test_split_is_kept(tmp_path: Path) -> None:
    write_kinetics_csv(tmp_path / "train.csv", [("a", "x1", 0, 10, "train"), ("b", "x2", 0, 10, "train")])
    write_kinetics_csv(tmp_path / "test.csv", [("b", "x3", 0, 10, "test")])
    touch(tmp_path / "v", "x1.mp4", "x3.mp4")
    conversion = convert("kinetics400", [tmp_path / "train.csv", tmp_path / "test.csv"], tmp_path / "v")
    assert [(e.path, e.label) for e in conversion.splits["test"]] == [("x3.mp4", 1)]


def test_kinetics_class_order_matches_official_list(official_dir: Path, tmp_path: Path) -> None:
    official = read_label_list(official_dir / "labels" / "kinetics_400_labels.csv")
    rows = [(name, f"yt{i:09d}", 0, 10, "train") for i, name in enumerate(official)]
    random.Random(0).shuffle(rows)
    write_kinetics_csv(tmp_path / "train.csv", rows + rows[:50])
    touch(tmp_path / "v", *(f"{yid}_000000_000010.mp4" for _, yid, *_ in rows[::2]))
    conversion = convert("kinetics400", [tmp_path / "train.csv"], tmp_path / "v")
    assert conversion.class_names == official
    for entry in conversion.splits["train"]:
        name = next(n for n, yid, *_ in rows if entry.path.startswith(yid))
        assert official[entry.label] == name
    assert len(conversion.splits["train"]) == 200
    assert len(conversion.missing["train"]) == 200  # repeated rows are counted once


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("label,youtube_id,time_start\nx,y,0\n", r"train\.csv:1: Kinetics header lacks \['time_end'\]"),
        ("label,youtube_id,time_start,time_end,split\nx,y,0,ten,train\n", r"train\.csv:2: time_end 'ten'"),
        ("label,youtube_id,time_start,time_end,split\nx,y,0,10,train\n,z,0,10,train\n", r"train\.csv:3: empty label"),
    ],
)
def test_kinetics_errors_name_file_line_value(tmp_path: Path, text: str, pattern: str) -> None:
    (tmp_path / "train.csv").write_text(text)
    (tmp_path / "v").mkdir()
    with pytest.raises(ConversionError, match=pattern):
        convert("kinetics400", [tmp_path / "train.csv"], tmp_path / "v")


def test_kinetics_val_label_unknown_to_train(tmp_path: Path) -> None:
    write_kinetics_csv(tmp_path / "train.csv", [("a", "x1", 0, 10, "train")])
    write_kinetics_csv(tmp_path / "validate.csv", [("a", "x2", 0, 10, "val"), ("new class", "x3", 0, 10, "val")])
    (tmp_path / "v").mkdir()
    with pytest.raises(ConversionError, match=r"validate\.csv:3: label 'new class' does not occur in train\.csv"):
        convert("kinetics400", [tmp_path / "train.csv", tmp_path / "validate.csv"], tmp_path / "v")


# --------------------------------------------------------------------------------------------------------------
# Something-Something-v2
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "something-something-v2-"], ids=["labels.json", "older-download-names"])
def test_ssv2_templates_map_through_labels_json(tmp_path: Path, prefix: str) -> None:
    labels = {"Pushing something from left to right": "1", "Moving something up": "0", "Holding something": "2"}
    (tmp_path / f"{prefix}labels.json").write_text(json.dumps(labels))
    (tmp_path / f"{prefix}train.json").write_text(
        json.dumps(
            [
                {
                    "id": "101",
                    "label": "pushing a cup from left to right",
                    "template": "Pushing [something] from left to right",
                    "placeholders": ["a cup"],
                },
                {"id": "102", "label": "moving pen up", "template": "Moving [something] up", "placeholders": ["pen"]},
                {"id": "103", "label": "holding a box", "template": "Holding [something]", "placeholders": ["a box"]},
            ]
        )
    )
    (tmp_path / f"{prefix}validation.json").write_text(
        json.dumps(
            [
                {"id": "201", "label": "holding keys", "template": "Holding [something]", "placeholders": ["keys"]},
            ]
        )
    )
    (tmp_path / f"{prefix}test.json").write_text(json.dumps([{"id": "301"}]))
    touch(tmp_path / "v", "101.webm", "102.webm", "201.webm", "301.webm")
    files = [tmp_path / f"{prefix}{n}" for n in ("labels.json", "train.json", "validation.json", "test.json")]
    conversion = convert("ssv2", files, tmp_path / "v")
    assert conversion.class_names == [
        "Moving something up",
        "Pushing something from left to right",
        "Holding something",
    ]
    assert [(e.path, e.label) for e in conversion.splits["train"]] == [("101.webm", 1), ("102.webm", 0)]
    assert [(e.path, e.label) for e in conversion.splits["val"]] == [("201.webm", 2)]
    assert conversion.missing == {"train": ["103"], "val": []}


def test_ssv2_both_names_of_one_file_is_an_error_and_none_is_named(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps({"Holding something": "0"}))
    (tmp_path / "something-something-v2-labels.json").write_text(json.dumps({"Holding something": "0"}))
    (tmp_path / "v").mkdir()
    with pytest.raises(ConversionError, match=r"labels\.json \(or something-something-v2-labels\.json\) given more"):
        convert("ssv2", [tmp_path], tmp_path / "v")
    (tmp_path / "labels.json").unlink()
    with pytest.raises(ConversionError, match=r"needs train\.json and/or validation\.json \(or the older"):
        convert("ssv2", [tmp_path], tmp_path / "v")
    (tmp_path / "something-something-v2-labels.json").unlink()
    with pytest.raises(ConversionError, match=r"needs labels\.json \(or something-something-v2-labels\.json\)"):
        convert("ssv2", [tmp_path], tmp_path / "v")


def test_ssv2_unknown_template_and_bad_ids(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps({"Holding something": "0"}))
    (tmp_path / "train.json").write_text(
        json.dumps(
            [
                {"id": "1", "template": "Holding [something]"},
                {"id": "2", "template": "Dropping [something]"},
            ]
        )
    )
    (tmp_path / "v").mkdir()
    with pytest.raises(ConversionError, match=r"train\.json: entry 1 \(id 2\): template class 'Dropping something'"):
        convert("ssv2", [tmp_path], tmp_path / "v")
    (tmp_path / "labels.json").write_text(json.dumps({"Holding something": "0", "Dropping something": "2"}))
    with pytest.raises(ConversionError, match=r"labels\.json: class ids must be 0\.\.1"):
        convert("ssv2", [tmp_path], tmp_path / "v")


def test_ssv2_matches_official_names(official_dir: Path, tmp_path: Path) -> None:
    official = read_label_list(official_dir / "labels" / "ssv2_174_labels.csv")
    (tmp_path / "labels.json").write_text(json.dumps({name: str(i) for i, name in enumerate(official)}))
    # Rebuild a template from each class by bracketing its first 'something'.
    entries = [
        {"id": str(i), "template": name.replace("something", "[something]", 1)} for i, name in enumerate(official)
    ]
    (tmp_path / "train.json").write_text(json.dumps(entries))
    touch(tmp_path / "v", *(f"{i}.webm" for i in range(len(official))))
    conversion = convert("ssv2", [tmp_path / "labels.json", tmp_path / "train.json"], tmp_path / "v")
    assert conversion.class_names == official
    assert [e.label for e in conversion.splits["train"]] == list(range(174))


# --------------------------------------------------------------------------------------------------------------
# UCF-101 (ucfTrainTestlist: CRLF line ends, as the official files have)
# --------------------------------------------------------------------------------------------------------------

UCF_CLASSES = ["ApplyEyeMakeup", "BabyCrawling", "HandstandPushups", "YoYo"]


def write_ucf_lists(folder: Path, *, extra_train: str = "", extra_test: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    crlf = lambda lines: "".join(line + "\r\n" for line in lines)  # noqa: E731
    (folder / "classInd.txt").write_text(crlf(f"{i} {name}" for i, name in enumerate(UCF_CLASSES, start=1)), newline="")
    train = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
        "BabyCrawling/v_BabyCrawling_g08_c02.avi 2",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 3",  # the official file names spell it HandStand
        "YoYo/v_YoYo_g08_c01.avi 4",
        "YoYo/v_YoYo_g09_c01.avi 4",  # listed, not on disk
    ]
    test = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "YoYo/v_YoYo_g01_c01.avi"]
    (folder / "trainlist01.txt").write_text(crlf(train) + extra_train, newline="")
    (folder / "testlist01.txt").write_text(crlf(test) + extra_test, newline="")
    (folder / "trainlist02.txt").write_text(crlf(["YoYo/v_YoYo_g01_c01.avi 4"]), newline="")
    (folder / "testlist02.txt").write_text(crlf(["BabyCrawling/v_BabyCrawling_g08_c02.avi"]), newline="")
    return folder


@pytest.fixture()
def ucf_videos(tmp_path: Path) -> Path:
    root = tmp_path / "UCF-101"
    touch(
        root,
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi",
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "BabyCrawling/v_BabyCrawling_g08_c02.mp4",  # re-encoded copy
        "HandstandPushups/v_HandStandPushups_g08_c01.avi",
        "v_YoYo_g08_c01.avi",  # a flat mirror
        "YoYo/v_YoYo_g01_c01.avi",
    )
    return root


def test_ucf101_official_lists(tmp_path: Path, ucf_videos: Path) -> None:
    lists = write_ucf_lists(tmp_path / "ucfTrainTestlist")
    conversion = convert("ucf101", [lists], ucf_videos)
    assert conversion.class_names == UCF_CLASSES  # classInd order, ids 0-based
    assert [(e.path, e.label) for e in conversion.splits["train"]] == [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0),
        ("BabyCrawling/v_BabyCrawling_g08_c02.mp4", 1),
        ("HandstandPushups/v_HandStandPushups_g08_c01.avi", 2),
        ("v_YoYo_g08_c01.avi", 3),
    ]
    assert [(e.path, e.label) for e in conversion.splits["val"]] == [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", 0),
        ("YoYo/v_YoYo_g01_c01.avi", 3),
    ]
    assert conversion.missing == {"train": ["v_YoYo_g09_c01"], "val": []}
    out = write_conversion(conversion, tmp_path / "out")
    assert (tmp_path / "out" / "missing.txt").read_text() == "train\tv_YoYo_g09_c01\n"
    assert read_label_list(out["labels"]) == UCF_CLASSES
    second = convert("ucf101", [lists], ucf_videos, split=2)
    assert [(e.path, e.label) for e in second.splits["train"]] == [("YoYo/v_YoYo_g01_c01.avi", 3)]
    assert [(e.path, e.label) for e in second.splits["val"]] == [("BabyCrawling/v_BabyCrawling_g08_c02.mp4", 1)]
    with pytest.raises(ConversionError, match=r"UCF-101 split 3 needs trainlist03\.txt and/or testlist03\.txt"):
        convert("ucf101", [lists], ucf_videos, split=3)
    with pytest.raises(ConversionError, match=r"ucf101: split 4 does not exist; the official splits are 1, 2 and 3"):
        convert("ucf101", [lists], ucf_videos, split=4)


@pytest.mark.parametrize(
    ("extra_train", "extra_test", "pattern"),
    [
        (
            "",
            "Surfing/v_Surfing_g01_c01.avi\r\n",
            r"testlist01\.txt:3: class 'Surfing' of Surfing/v_Surfing_g01_c01\.avi is not in classInd\.txt",
        ),
        (
            "Surfing/v_Surfing_g08_c01.avi 5\r\n",
            "",
            r"trainlist01\.txt:6: class number '5' of Surfing/v_Surfing_g08_c01\.avi is not in classInd\.txt "
            r"\(1\.\.4\)",
        ),
        (
            "YoYo/v_YoYo_g10_c01.avi 1\r\n",
            "",
            r"trainlist01\.txt:6: YoYo/v_YoYo_g10_c01\.avi is in folder 'YoYo' but class number 1 is 'ApplyEyeMakeup'",
        ),
        (
            "YoYo/v_YoYo_g10_c01.avi\r\n",
            "",
            r"trainlist01\.txt:6: expected 'Class/v_Class_g01_c01\.avi 1', got 'YoYo/v_YoYo_g10_c01\.avi'",
        ),
        (
            "",
            "v_YoYo_g10_c01.avi\r\n",
            r"testlist01\.txt:3: v_YoYo_g10_c01\.avi has neither a class folder nor a class number",
        ),
    ],
    ids=[
        "class-missing-from-classInd",
        "number-out-of-range",
        "folder-and-number-disagree",
        "train-line-without-number",
        "test-line-without-folder",
    ],
)
def test_ucf101_list_errors_name_file_line_value(
    tmp_path: Path, ucf_videos: Path, extra_train: str, extra_test: str, pattern: str
) -> None:
    lists = write_ucf_lists(tmp_path / "lists", extra_train=extra_train, extra_test=extra_test)
    with pytest.raises(ConversionError, match=pattern):
        convert("ucf101", [lists], ucf_videos)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1 ApplyEyeMakeup\n2\n", r"classInd\.txt:2: expected '<id> <class>' \(like '1 ApplyEyeMakeup'\), got '2'"),
        ("1 ApplyEyeMakeup\n1 BabyCrawling\n", r"classInd\.txt:2: class id 1 again \(first on line 1\)"),
        ("1 ApplyEyeMakeup\n3 BabyCrawling\n", r"classInd\.txt: class ids must be 1\.\.2 once each; missing \[2\]"),
        ("\n", r"classInd\.txt: no classes"),
    ],
)
def test_ucf101_bad_class_ind(tmp_path: Path, text: str, pattern: str) -> None:
    (tmp_path / "classInd.txt").write_text(text)
    (tmp_path / "trainlist01.txt").write_text("")
    (tmp_path / "v").mkdir()
    with pytest.raises(ConversionError, match=pattern):
        convert("ucf101", [tmp_path], tmp_path / "v")
    (tmp_path / "classInd.txt").unlink()
    with pytest.raises(ConversionError, match=r"UCF-101 needs classInd\.txt"):
        convert("ucf101", [tmp_path], tmp_path / "v")


# --------------------------------------------------------------------------------------------------------------
# HMDB-51 (testTrainMulti_7030_splits: '<video>.avi <tag> ' lines, trailing blank included)
# --------------------------------------------------------------------------------------------------------------


def write_hmdb_splits(folder: Path, splits: dict[str, dict[int, list[tuple[str, int]]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, per_split in splits.items():
        for split, lines in per_split.items():
            text = "".join(f"{video} {tag} \n" for video, tag in lines)
            (folder / f"{name}_test_split{split}.txt").write_text(text)
    return folder


HMDB = {
    "ride_bike": {
        1: [("Bike_ride_ride_bike_f_cm_np1_ba_med_0.avi", 1), ("gone_ride_bike_f_cm_np1_ba_med_1.avi", 1)],
        2: [("Bike_ride_ride_bike_f_cm_np1_ba_med_0.avi", 2), ("gone_ride_bike_f_cm_np1_ba_med_1.avi", 0)],
    },
    "brush_hair": {
        1: [("April_09_brush_hair_u_nm_np1_ba_goo_0.avi", 1), ("Blonde_brush_hair_u_cm_np2_le_goo_1.avi", 2)],
        2: [("April_09_brush_hair_u_nm_np1_ba_goo_0.avi", 0), ("Blonde_brush_hair_u_cm_np2_le_goo_1.avi", 1)],
    },
    "cartwheel": {
        1: [("Cartwheel_cartwheel_f_cm_np1_le_med_0.avi", 2), ("unused_cartwheel_f_cm_np1_le_med_9.avi", 0)],
        2: [("Cartwheel_cartwheel_f_cm_np1_le_med_0.avi", 1)],
    },
}


def test_hmdb51_official_split_files(tmp_path: Path) -> None:
    splits = write_hmdb_splits(tmp_path / "testTrainMulti_7030_splits", HMDB)
    touch(
        tmp_path / "hmdb51_org",
        "ride_bike/Bike_ride_ride_bike_f_cm_np1_ba_med_0.avi",
        "brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
        "brush_hair/Blonde_brush_hair_u_cm_np2_le_goo_1.avi",
        "cartwheel/Cartwheel_cartwheel_f_cm_np1_le_med_0.avi",
    )
    conversion = convert("hmdb51", [splits], tmp_path / "hmdb51_org")
    assert conversion.class_names == ["brush_hair", "cartwheel", "ride_bike"]  # sorted class names
    assert [(e.path, e.label) for e in conversion.splits["train"]] == [
        ("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi", 0),
        ("ride_bike/Bike_ride_ride_bike_f_cm_np1_ba_med_0.avi", 2),
    ]
    assert [(e.path, e.label) for e in conversion.splits["val"]] == [
        ("brush_hair/Blonde_brush_hair_u_cm_np2_le_goo_1.avi", 0),
        ("cartwheel/Cartwheel_cartwheel_f_cm_np1_le_med_0.avi", 1),
    ]
    # tag 0 is not a missing video: only the train-tagged absent one is reported
    assert conversion.missing == {"train": ["gone_ride_bike_f_cm_np1_ba_med_1"], "val": []}
    second = convert("hmdb51", [splits], tmp_path / "hmdb51_org", split=2)
    assert [(e.path, e.label) for e in second.splits["train"]] == [
        ("brush_hair/Blonde_brush_hair_u_cm_np2_le_goo_1.avi", 0),
        ("cartwheel/Cartwheel_cartwheel_f_cm_np1_le_med_0.avi", 1),
    ]
    assert [e.path for e in second.splits["val"]] == ["ride_bike/Bike_ride_ride_bike_f_cm_np1_ba_med_0.avi"]
    assert second.missing == {"train": [], "val": []}


def test_hmdb51_errors(tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    splits = write_hmdb_splits(tmp_path / "s", {"jump": {1: [("a.avi", 3)]}})
    with pytest.raises(
        ConversionError, match=r"jump_test_split1\.txt:1: expected '<video>\.avi <0\|1\|2>'.*got 'a\.avi 3'"
    ):
        convert("hmdb51", [splits], tmp_path / "v")
    splits = write_hmdb_splits(
        tmp_path / "t", {"jump": {1: [("a.avi", 1)], 2: [("a.avi", 2)]}, "run": {2: [("b.avi", 1)]}}
    )
    with pytest.raises(
        ConversionError,
        match=r"split 1: no <class>_test_split1\.txt for 1 classes that have other splits, e\.g\. \['run'\]",
    ):
        convert("hmdb51", [splits], tmp_path / "v")
    with pytest.raises(ConversionError, match=r"HMDB-51 split 3 needs the <class>_test_split3\.txt files"):
        convert("hmdb51", [splits], tmp_path / "v", split=3)


# --------------------------------------------------------------------------------------------------------------
# Diving-48
# --------------------------------------------------------------------------------------------------------------


def test_diving48_vocab_names_match_official_list(official_dir: Path, tmp_path: Path) -> None:
    official = read_label_list(official_dir / "labels" / "diving_48_labels.csv")
    (tmp_path / "Diving48_vocab.json").write_text(json.dumps([name.split("_") for name in official]))
    (tmp_path / "Diving48_V2_train.json").write_text(
        json.dumps(
            [
                {"vid_name": "-mmq0PT-u8k_00155", "label": 0, "start_frame": 0, "end_frame": 48},
                {"vid_name": "2x00lRzlTVQ_00000", "label": 47, "start_frame": 0, "end_frame": 80},
                {"vid_name": "gone_00001", "label": 3, "start_frame": 0, "end_frame": 60},
            ]
        )
    )
    (tmp_path / "Diving48_V2_test.json").write_text(
        json.dumps(
            [
                {"vid_name": "test_00007", "label": 12, "start_frame": 0, "end_frame": 50},
            ]
        )
    )
    touch(tmp_path / "rgb", "-mmq0PT-u8k_00155.mp4", "2x00lRzlTVQ_00000.mp4", "test_00007.mp4")
    conversion = convert("diving48", [tmp_path], tmp_path / "rgb")
    assert conversion.class_names == official
    assert conversion.class_names[0] == "Back_15som_05Twis_FREE"
    assert [(e.path, e.label) for e in conversion.splits["train"]] == [
        ("-mmq0PT-u8k_00155.mp4", 0),
        ("2x00lRzlTVQ_00000.mp4", 47),
    ]
    assert [(e.path, e.label) for e in conversion.splits["val"]] == [("test_00007.mp4", 12)]
    assert conversion.missing["train"] == ["gone_00001"]


def test_diving48_label_out_of_vocab(tmp_path: Path) -> None:
    (tmp_path / "Diving48_vocab.json").write_text(json.dumps([["Back", "Dive", "NoTwis", "PIKE"]]))
    (tmp_path / "Diving48_V2_train.json").write_text(json.dumps([{"vid_name": "a_1", "label": 1}]))
    (tmp_path / "v").mkdir()
    pattern = r"Diving48_V2_train\.json: entry 0 \(a_1\): label 1 is not a class index 0\.\.0"
    with pytest.raises(ConversionError, match=pattern):
        convert("diving48", [tmp_path], tmp_path / "v")


# --------------------------------------------------------------------------------------------------------------
# ActivityNet
# --------------------------------------------------------------------------------------------------------------


def test_activitynet_video_level_labels(tmp_path: Path) -> None:
    seg = lambda label: {"segment": [0.0, 5.0], "label": label}  # noqa: E731
    database = {
        "abc": {"subset": "training", "annotations": [seg("Zumba"), seg("Arm wrestling"), seg("Arm wrestling")]},
        "def": {"subset": "training", "annotations": [seg("BMX"), seg("Arm wrestling")]},  # tie: first wins
        "ghi": {"subset": "validation", "annotations": [seg("Zumba")]},
        "jkl": {"subset": "testing", "annotations": []},
        "mno": {"subset": "training", "annotations": [seg("BMX")]},  # missing on disk
    }
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    touch(tmp_path / "v", "train/v_abc.mp4", "def.mkv", "val/v_ghi.webm", "v_jkl.mp4")
    conversion = convert("activitynet", [path], tmp_path / "v")
    assert conversion.class_names == ["Arm wrestling", "BMX", "Zumba"]
    assert [(e.path, e.label) for e in conversion.splits["train"]] == [("train/v_abc.mp4", 0), ("def.mkv", 1)]
    assert [(e.path, e.label) for e in conversion.splits["val"]] == [("val/v_ghi.webm", 2)]
    assert conversion.missing == {"train": ["v_mno"], "val": []}


def test_activitynet_sorted_by_default_official_order_on_request(official_dir: Path, tmp_path: Path) -> None:
    official = read_label_list(official_dir / "labels" / "activitynet_200_labels.csv")
    shuffled = official[:]
    random.Random(1).shuffle(shuffled)
    database = {f"id{i}": {"subset": "training", "annotations": [{"label": name}]} for i, name in enumerate(shuffled)}
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"database": database}))
    touch(tmp_path / "v", "v_id0.mp4", "v_id1.mp4")
    default = convert("activitynet", [path], tmp_path / "v")
    assert default.class_names == sorted(official) != official  # the official list is not alphabetical
    fixed = convert("activitynet", [path], tmp_path / "v", class_names=official)
    assert fixed.class_names == official
    assert [(e.path, official[e.label]) for e in fixed.splits["train"]] == [
        ("v_id0.mp4", shuffled[0]),
        ("v_id1.mp4", shuffled[1]),
    ]
    with pytest.raises(ConversionError, match=r"1 classes of the annotations are not in it"):
        convert("activitynet", [path], tmp_path / "v", class_names=[n for n in official if n != shuffled[0]])


def test_activitynet_errors(tmp_path: Path) -> None:
    path = tmp_path / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"database": {"x1": {"subset": "training", "annotations": [{"segment": [0, 1]}]}}}))
    (tmp_path / "v").mkdir()
    with pytest.raises(ConversionError, match=r"database\['x1'\]: annotations\[0\] has no label"):
        convert("activitynet", [path], tmp_path / "v")
    path.write_text('{"database": {')
    with pytest.raises(ConversionError, match=r"min\.json:1: invalid JSON"):
        convert("activitynet", [path], tmp_path / "v")


def test_registry_and_video_index(tmp_path: Path) -> None:
    assert sorted(CONVERTERS) == ["activitynet", "diving48", "hmdb51", "kinetics400", "kinetics600", "ssv2", "ucf101"]
    with pytest.raises(ValueError, match="unknown dataset 'ucf102'"):
        convert("ucf102", [], tmp_path)
    with pytest.raises(ValueError, match="kinetics400 has one official split; split= applies to ucf101, hmdb51"):
        convert("kinetics400", [], tmp_path, split=2)
    with pytest.raises(FileNotFoundError, match="video folder not found"):
        VideoIndex(tmp_path / "nope")
    touch(
        tmp_path / "v",
        "a.MP4",
        "sub/a.mp4",
        "sub/b.mp4",
        ".hidden/c.mp4",
        "notes.txt",
        "train/cls/d.mp4",
        "train/cls/deep/e.mp4",
        "sub/x/b.mp4",
    )
    index = VideoIndex(tmp_path / "v")
    assert index.by_stem == {"a": "a.MP4", "b": "sub/b.mp4", "d": "train/cls/d.mp4"}
    assert index.duplicates == [("a.MP4", "sub/a.mp4"), ("sub/b.mp4", "sub/x/b.mp4")]
    assert VideoIndex(tmp_path / "v", depth=0).by_stem == {"a": "a.MP4"}
    assert "e" in VideoIndex(tmp_path / "v", depth=3).by_stem
