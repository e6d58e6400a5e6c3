"""Annotation/label list parsing, writing and whole-list checks (real video files written with PyAV)."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from videofocalnet.data.annotations import (
    AnnotationEntry,
    AnnotationError,
    check_annotations,
    read_annotation_list,
    read_label_list,
    write_annotation_list,
    write_label_list,
)


def write_video(path: Path, *, frames: int = 16, size: int = 32) -> Path:
    """A real H.264 clip: a bright square moving over a dark background."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            image = np.full((size, size, 3), 20, dtype=np.uint8)
            x = (t * 2) % (size - 8)
            image[8:16, x : x + 8] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# --------------------------------------------------------------------------------------------------------------
# read_annotation_list / write_annotation_list
# --------------------------------------------------------------------------------------------------------------


def test_reads_official_mmaction_and_multilabel_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(
        "\ufeff# comment line\n"
        "a/b.mp4,3\n"
        "\n"
        "c.mp4 7\n"
        "my clips/with space.mp4 2\n"
        "multi.mp4,1,4,5\n"
        "multi2.mp4 0 9\r\n"
        "  spaced.mp4 , 6 \n"
    )
    entries = read_annotation_list(path)
    assert entries == [
        AnnotationEntry("a/b.mp4", 3, 2),
        AnnotationEntry("c.mp4", 7, 4),
        AnnotationEntry("my clips/with space.mp4", 2, 5),
        AnnotationEntry("multi.mp4", (1, 4, 5), 6),
        AnnotationEntry("multi2.mp4", (0, 9), 7),
        AnnotationEntry("spaced.mp4", 6, 8),
    ]
    assert entries[3].labels == (1, 4, 5) and entries[0].labels == (3,)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("video.mp4,abc", "'abc'"),
        ("video.mp4 3x", "'3x'"),
        ("video.mp4,-1", "'-1'"),
        ("video.mp4,2,zz", "'zz'"),
        ("video.mp4", "no label"),
        ("video.mp4,", "no label"),
    ],
)
def test_bad_label_names_file_line_and_value(tmp_path: Path, line: str, value: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(f"ok.mp4,1\n\n{line}\n")
    with pytest.raises(AnnotationError) as info:
        read_annotation_list(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3:")
    assert value in message
    assert isinstance(info.value, ValueError)


def test_num_classes_bounds_labels(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("a.mp4,0\nb.mp4,4\nc.mp4,5\nd.mp4,9\n")
    pattern = r"list\.csv:3: label '5' is out of range for 5 classes.*and 1 more bad line;"
    with pytest.raises(AnnotationError, match=pattern):
        read_annotation_list(path, num_classes=5)
    assert len(read_annotation_list(path, num_classes=10)) == 4


def test_write_read_roundtrip_is_atomic_and_official(tmp_path: Path) -> None:
    entries = [AnnotationEntry("x/1.mp4", 0, 1), AnnotationEntry("y 2.mp4", (3, 1), 2), ("z.webm", 12)]
    path = tmp_path / "sub" / "out.csv"
    write_annotation_list(path, entries)
    assert path.read_text() == "x/1.mp4,0\ny 2.mp4,3,1\nz.webm,12\n"
    assert [(e.path, e.label) for e in read_annotation_list(path)] == [
        ("x/1.mp4", 0),
        ("y 2.mp4", (3, 1)),
        ("z.webm", 12),
    ]
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.csv"]  # no temporary left behind
    with pytest.raises(AnnotationError, match="a,b.mp4"):
        write_annotation_list(path, [("a,b.mp4", 1)])
    with pytest.raises(AnnotationError, match="invalid label"):
        write_annotation_list(path, [("a.mp4", -1)])
    assert path.read_text() == "x/1.mp4,0\ny 2.mp4,3,1\nz.webm,12\n"  # failed writes leave the old list intact


# --------------------------------------------------------------------------------------------------------------
# label lists
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "count", "first", "last"),
    [
        ("kinetics_400_labels.csv", 400, "abseiling", "zumba"),
        ("kinetics_600_labels.csv", 600, "abseiling", "zumba"),
        ("ssv2_174_labels.csv", 174, "Approaching something with your camera", None),
        ("diving_48_labels.csv", 48, "Back_15som_05Twis_FREE", "Reverse_Dive_NoTwis_TUCK"),
        ("activitynet_200_labels.csv", 200, "Applying sunscreen", None),
    ],
)
def test_reads_official_label_lists(official_dir: Path, file_name: str, count: int, first: str, last) -> None:
    names = read_label_list(official_dir / "labels" / file_name)
    assert len(names) == count == len(set(names))
    assert names[0] == first
    if last is not None:
        assert names[-1] == last


def test_label_list_csv_any_order_plain_and_roundtrip(tmp_path: Path) -> None:
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text('id,name\n2,c\n0,a\n1,"b, quoted"\n')
    assert read_label_list(csv_path) == ["a", "b, quoted", "c"]
    plain = tmp_path / "names.txt"
    plain.write_text("alpha\n\nbeta\ngamma\n")
    assert read_label_list(plain) == ["alpha", "beta", "gamma"]
    out = tmp_path / "written.csv"
    write_label_list(out, ["a", "b, quoted", "c"])
    assert out.read_text() == 'id,name\n0,a\n1,"b, quoted"\n2,c\n'
    assert read_label_list(out) == ["a", "b, quoted", "c"]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("id,name\n0,a\n2,c\n", r"missing \[1\].*2 \(line 3\)"),
        ("id,name\n0,a\n1,b\n1,c\n", r":4: duplicate class id 1 \(first on line 3\)"),
        ("id,name\n0,a\nx,b\n", r":3: class id 'x'"),
        ("id,name\n0,a\n1,a\n", r":3: duplicate class name 'a' \(first on line 2\)"),
        ("a\nb\na\n", r":3: duplicate class name 'a'"),
        ("\n\n", "empty"),
    ],
)
def test_label_list_errors_name_the_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=pattern):
        read_label_list(path)


# --------------------------------------------------------------------------------------------------------------
# check_annotations
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "videos"
    write_video(root / "a.mp4")
    write_video(root / "sub" / "b.mp4")
    write_video(root / "c.mp4")
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    listing = tmp_path / "train.csv"
    listing.write_text("a.mp4,0\nsub/b.mp4,1\ncorrupt.mp4,1\nmissing.mp4,2\nc.mp4,7\na.mp4,0\nc.mp4,zz\n")
    return listing, root


def test_check_collects_every_problem(dataset: tuple[Path, Path]) -> None:
    listing, root = dataset
    report = check_annotations(listing, root=root, labels=["zero", "one", "two"])
    found = {(p.line, p.kind) for p in report.problems}
    assert found == {
        (3, "unreadable-video"),
        (4, "missing-video"),
        (5, "label-out-of-range"),
        (6, "duplicate-path"),
        (7, "bad-line"),
    }
    by_kind = {p.kind: p for p in report.problems}
    assert "corrupt.mp4" in by_kind["unreadable-video"].detail
    assert "also listed on line 1" in by_kind["duplicate-path"].detail
    assert "'zz'" in by_kind["bad-line"].detail
    assert "7" in by_kind["label-out-of-range"].detail
    assert not report.ok
    assert report.num_entries == 6 and report.num_classes == 3
    assert report.histogram == {0: 2, 1: 2, 2: 1}
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["problem_counts"]["missing-video"] == 1
    assert data["histogram"] == {"0": 2, "1": 2, "2": 1} and data["label_names"] == ["zero", "one", "two"]


def test_check_without_decoding_misses_only_the_corrupt_video(dataset: tuple[Path, Path]) -> None:
    listing, root = dataset
    report = check_annotations(listing, root=root, num_classes=3, check_videos=False)
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["bad-line", "duplicate-path", "label-out-of-range", "missing-video"]


def test_check_clean_list_and_empty_list(tmp_path: Path) -> None:
    root = tmp_path / "v"
    write_video(root / "x.mp4", frames=8)
    entries = [AnnotationEntry("x.mp4", 1, 1)]
    report = check_annotations(entries, root=root, num_classes=2)
    assert report.ok and report.problems == [] and report.histogram == {1: 1}
    assert report.empty_classes == [0]
    empty = tmp_path / "empty.csv"
    empty.write_text("# nothing here\n\n")
    report = check_annotations(empty, root=root)
    assert [p.kind for p in report.problems] == ["empty-list"]
