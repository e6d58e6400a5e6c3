"""``videofocalnet check-data`` and ``prepare-data`` run as real processes on real files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from videofocalnet.cli import main
from videofocalnet.data.annotations import read_annotation_list, read_label_list


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    """The installed entry point in a separate process (costs a torch import, so used once per command)."""
    return subprocess.run(
        [sys.executable, "-m", "videofocalnet", *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str]):
    """The same dispatcher in-process: returns (exit code, stdout, stderr)."""

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse errors
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def write_video(path: Path, *, frames: int = 16, size: int = 32) -> Path:
    """A real 16-frame 32x32 H.264 clip (a moving square)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            image = np.zeros((size, size, 3), dtype=np.uint8)
            image[4:12, t % (size - 8) : t % (size - 8) + 8] = (200, 50, 50)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for name in ("a.mp4", "b.mp4", "c/c.mp4"):
        write_video(root / name)
    good = (root / "a.mp4").read_bytes()
    (root / "corrupt.mp4").write_bytes(good[: len(good) // 8])  # a truncated download
    return root


@pytest.fixture()
def labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("id,name\n0,jumping\n1,running\n2,swimming\n")
    return path


def test_check_data_reports_every_problem(videos: Path, labels: Path, tmp_path: Path) -> None:
    listing = tmp_path / "val.csv"
    listing.write_text("a.mp4,0\nb.mp4,1\ncorrupt.mp4,1\nmissing.mp4,2\nc/c.mp4,5\nb.mp4,1\nc/c.mp4,x\n")
    result = cli("check-data", listing, "--root", videos, "--labels", labels)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{listing}:3: unreadable-video: ") and "corrupt.mp4" in line for line in lines)
    assert any(line.startswith(f"{listing}:4: missing-video: ") and "missing.mp4" in line for line in lines)
    assert f"{listing}:5: label-out-of-range: c/c.mp4: label 5 is outside 0..2" in lines
    assert f"{listing}:6: duplicate-path: b.mp4: also listed on line 2" in lines
    assert any(line.startswith(f"{listing}:7: bad-line: ") and "'x'" in line for line in lines)
    histogram = [line for line in lines if "|" in line]
    assert len(histogram) == 3
    assert histogram[1].split() == ["1", "running", "|", "#" * 40, "3"]  # the largest class gets the full bar
    assert histogram[0].split()[-1] == "1" and histogram[2].split()[-1] == "1"
    summary = lines[-1]
    assert "6 entries, 3 classes" in summary and "5 problems" in summary


def test_check_data_json_and_no_decode(videos: Path, tmp_path: Path, run_cli) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("a.mp4 0\ncorrupt.mp4 1\n")
    code, out, _ = run_cli("check-data", listing, "--root", videos, "--num-classes", "2", "--json")
    assert code == 1
    report = json.loads(out)
    assert [(p["line"], p["kind"]) for p in report["problems"]] == [(2, "unreadable-video")]
    assert report["histogram"] == {"0": 1, "1": 1} and report["num_classes"] == 2
    # Without decoding only existence is checked, so the truncated file passes.
    code, out, _ = run_cli("check-data", listing, "--root", videos, "--num-classes", "2", "--no-decode")
    assert code == 0, out
    assert out.splitlines()[-1].endswith("OK")


def test_check_data_clean_list_exits_zero_and_bad_inputs_exit_two(
    videos: Path, labels: Path, tmp_path: Path, run_cli
) -> None:
    listing = tmp_path / "train.csv"
    listing.write_text("a.mp4,0\nb.mp4,2\nc/c.mp4,2\n")
    code, out, _ = run_cli("check-data", listing, "--root", videos, "--labels", labels)
    assert code == 0, out
    assert "classes without entries (1): 1" in out
    code, _, err = run_cli("check-data", tmp_path / "nope.csv", "--root", videos)
    assert code == 2 and "nope.csv" in err
    code, _, err = run_cli("check-data", listing, "--root", videos, "--labels", labels, "--num-classes", "7")
    assert code == 2 and "num_classes=7" in err


def test_prepare_data_kinetics_then_check_data(videos: Path, tmp_path: Path, run_cli) -> None:
    ann = tmp_path / "ann"
    ann.mkdir()
    header = ["label", "youtube_id", "time_start", "time_end", "split"]
    with (ann / "train.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                header,
                ["running", "a", 0, 10, "train"],
                ["jumping", "b", 0, 10, "train"],
                ["jumping", "gone", 0, 10, "train"],
            ]
        )
    with (ann / "validate.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([header, ["running", "c", 0, 10, "val"]])
    out = tmp_path / "lists"
    result = cli(
        "prepare-data",
        "kinetics400",
        "--annotations",
        ann / "train.csv",
        ann / "validate.csv",
        "--videos",
        videos,
        "--out",
        out,
        "--ext",
        "mp4",
    )
    assert result.returncode == 0, result.stderr
    assert "train: 2 entries" in result.stdout and "1 missing videos" in result.stdout
    assert "gone_000000_000010" in result.stdout
    assert read_label_list(out / "labels.csv") == ["jumping", "running"]
    assert [(e.path, e.label) for e in read_annotation_list(out / "train.csv")] == [("a.mp4", 1), ("b.mp4", 0)]
    assert [(e.path, e.label) for e in read_annotation_list(out / "val.csv")] == [("c/c.mp4", 1)]
    assert (out / "missing.txt").read_text() == "train\tgone_000000_000010\n"
    # The written lists pass check-data against the same videos.
    for split in ("train", "val"):
        code, stdout, _ = run_cli("check-data", out / f"{split}.csv", "--root", videos, "--labels", out / "labels.csv")
        assert code == 0, stdout


def test_prepare_data_bad_annotation_exits_two(tmp_path: Path, run_cli) -> None:
    (tmp_path / "Diving48_vocab.json").write_text(json.dumps([["Back", "Dive", "NoTwis", "PIKE"]]))
    (tmp_path / "Diving48_V2_train.json").write_text(json.dumps([{"vid_name": "x", "label": "Back"}]))
    (tmp_path / "v").mkdir()
    code, _, err = run_cli(
        "prepare-data", "diving48", "--annotations", tmp_path, "--videos", tmp_path / "v", "--out", tmp_path / "o"
    )
    assert code == 2
    assert "Diving48_V2_train.json: entry 0 (x): label 'Back'" in err
    code, _, err = run_cli(
        "prepare-data", "ucf102", "--annotations", tmp_path, "--videos", tmp_path / "v", "--out", tmp_path / "o"
    )
    assert code == 2 and "invalid choice" in err


# ----------------------------------------------------------------------------------------------------------------
# prepare-data folder / ucf101 / hmdb51
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def class_tree(tmp_path: Path) -> Path:
    """``my_videos/<class>/<clip>.mp4``: three classes of four real clips, a truncated download, an empty class."""
    root = tmp_path / "my_videos"
    for name in ("high_five", "hug", "wave"):
        for i in range(4):
            write_video(root / name / f"{name}_{i}.mp4", frames=8 + i)
    good = (root / "hug" / "hug_0.mp4").read_bytes()
    (root / "hug" / "hug_9.mp4").write_bytes(good[: len(good) // 8])
    (root / "kiss").mkdir()
    return root


def test_prepare_data_folder_then_check_data(class_tree: Path, tmp_path: Path, run_cli) -> None:
    out = tmp_path / "lists"
    result = cli("prepare-data", "folder", "--videos", class_tree, "--out", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"folder: 3 classes, 12 videos in class folders under {class_tree}, "
        "a stratified split (val fraction 0.1, seed 0)"
    )
    assert f"  train: 9 entries -> {out / 'train.csv'}" in lines
    assert f"  val: 3 entries -> {out / 'val.csv'}" in lines  # one per class: 4 x 0.1 rounds to 0, raised to 1
    assert "skipped (2):" in lines and "  kiss/: empty class: no videos or frame folders in it" in lines
    assert any(line.startswith("  hug/hug_9.mp4: unreadable: ") for line in lines)
    assert read_label_list(out / "labels.csv") == ["high_five", "hug", "wave"]
    val = read_annotation_list(out / "val.csv")
    assert sorted(e.label for e in val) == [0, 1, 2]
    assert sorted(line.split("\t")[1] for line in (out / "missing.txt").read_text().splitlines()) == [
        "hug/hug_9.mp4",
        "kiss/",
    ]
    for split in ("train", "val"):
        code, stdout, _ = run_cli(
            "check-data", out / f"{split}.csv", "--root", class_tree, "--labels", out / "labels.csv"
        )
        assert code == 0, stdout
    # Same seed, same files; another seed, another validation set; --no-decode keeps the truncated file.
    code, again, _ = run_cli("prepare-data", "folder", "--videos", class_tree, "--out", tmp_path / "again")
    assert code == 0 and (tmp_path / "again" / "val.csv").read_bytes() == (out / "val.csv").read_bytes()
    code, _, _ = run_cli("prepare-data", "folder", "--videos", class_tree, "--out", tmp_path / "s5", "--seed", "5")
    assert code == 0 and (tmp_path / "s5" / "val.csv").read_text() != (out / "val.csv").read_text()
    code, stdout, _ = run_cli("prepare-data", "folder", "--videos", class_tree, "--out", tmp_path / "nd", "--no-decode")
    assert code == 0 and "  train: 10 entries" in stdout.splitlines()[1]


def test_prepare_data_folder_existing_split(tmp_path: Path, run_cli) -> None:
    root = tmp_path / "split_tree"
    for split in ("train", "val", "test"):
        for name in ("in", "out"):
            write_video(root / split / name / f"{split}_{name}.mp4", frames=8)
    out = tmp_path / "lists"
    code, stdout, err = run_cli("prepare-data", "folder", "--videos", root, "--out", out)
    assert code == 0, err
    assert stdout.splitlines()[0].endswith(
        "6 videos in class folders under " + str(root) + ", the existing split (test/, train/, val/)"
    )
    assert [(e.path, e.label) for e in read_annotation_list(out / "test.csv")] == [
        ("test/in/test_in.mp4", 0),
        ("test/out/test_out.mp4", 1),
    ]
    assert (out / "missing.txt").read_text() == ""


UCF_CLASS_IND = "1 Drumming\r\n2 Fencing\r\n"


def test_prepare_data_ucf101_and_hmdb51_then_check_data(tmp_path: Path, run_cli) -> None:
    videos = tmp_path / "videos"
    for name in ("Drumming/v_Drumming_g01_c01", "Drumming/v_Drumming_g08_c01", "Fencing/v_Fencing_g08_c01"):
        write_video(videos / f"{name}.mp4", frames=8)  # re-encoded copies of the .avi files the lists name
    ucf = tmp_path / "ucfTrainTestlist"
    ucf.mkdir()
    (ucf / "classInd.txt").write_text(UCF_CLASS_IND, newline="")
    (ucf / "trainlist01.txt").write_text(
        "Drumming/v_Drumming_g08_c01.avi 1\r\nFencing/v_Fencing_g08_c01.avi 2\r\nFencing/v_Fencing_g09_c01.avi 2\r\n",
        newline="",
    )
    (ucf / "testlist01.txt").write_text("Drumming/v_Drumming_g01_c01.avi\r\n", newline="")
    out = tmp_path / "ucf"
    code, stdout, err = run_cli("prepare-data", "ucf101", "--annotations", ucf, "--videos", videos, "--out", out)
    assert code == 0, err
    assert stdout.splitlines()[0] == f"ucf101: 2 classes, 3 videos found under {videos}, split 1"
    assert "  v_Fencing_g09_c01" in stdout.splitlines()
    assert [(e.path, e.label) for e in read_annotation_list(out / "train.csv")] == [
        ("Drumming/v_Drumming_g08_c01.mp4", 0),
        ("Fencing/v_Fencing_g08_c01.mp4", 1),
    ]
    for split in ("train", "val"):
        code, report, _ = run_cli("check-data", out / f"{split}.csv", "--root", videos, "--labels", out / "labels.csv")
        assert code == 0, report
    code, _, err = run_cli(
        "prepare-data", "ucf101", "--annotations", ucf, "--videos", videos, "--out", out, "--split", "2"
    )
    assert code == 2 and "UCF-101 split 2 needs trainlist02.txt" in err

    hmdb = tmp_path / "testTrainMulti_7030_splits"
    hmdb.mkdir()
    (hmdb / "drum_test_split1.txt").write_text("v_Drumming_g08_c01.avi 1 \nv_Drumming_g01_c01.avi 2 \n")
    (hmdb / "fencing_test_split1.txt").write_text("v_Fencing_g08_c01.avi 1 \n")
    out = tmp_path / "hmdb"
    code, stdout, err = run_cli("prepare-data", "hmdb51", "--annotations", hmdb, "--videos", videos, "--out", out)
    assert code == 0, err
    assert read_label_list(out / "labels.csv") == ["drum", "fencing"]
    assert [(e.path, e.label) for e in read_annotation_list(out / "val.csv")] == [
        ("Drumming/v_Drumming_g01_c01.mp4", 0)
    ]
    code, report, _ = run_cli("check-data", out / "train.csv", "--root", videos, "--labels", out / "labels.csv")
    assert code == 0, report


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ucf101",), "--annotations is required for ucf101"),
        (("folder", "--annotations", "x"), "--annotations: 'folder' reads the class folders under --videos"),
        (("kinetics400", "--annotations", "x", "--split", "2"), "--split applies to ucf101 and hmdb51 only"),
        (("ssv2", "--annotations", "x", "--seed", "1"), "--seed applies to 'folder' only, not ssv2"),
        (("hmdb51", "--annotations", "x", "--no-decode"), "--no-decode applies to 'folder' only"),
        (("folder", "--val-fraction", "1.5"), "--val-fraction 1.5 must be between 0 and 1"),
        (("folder", "--val-fraction", "0"), "--val-fraction 0.0 must be between 0 and 1"),
    ],
)
def test_prepare_data_flags_that_do_not_apply(tmp_path: Path, run_cli, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "v").mkdir()
    code, out, err = run_cli("prepare-data", *args, "--videos", tmp_path / "v", "--out", tmp_path / "o")
    assert code == 2 and message in err and not out
    assert not (tmp_path / "o").exists()  # nothing written before the flags are checked


def test_prepare_data_folder_bad_trees_exit_two(tmp_path: Path, run_cli) -> None:
    code, _, err = run_cli("prepare-data", "folder", "--videos", tmp_path / "nowhere", "--out", tmp_path / "o")
    assert code == 2 and err.strip() == f"error: video folder not found: {tmp_path / 'nowhere'}"
    write_video(tmp_path / "one" / "only" / "a.mp4", frames=8)
    code, _, err = run_cli("prepare-data", "folder", "--videos", tmp_path / "one", "--out", tmp_path / "o")
    assert code == 2 and "only class 'only' has videos" in err and len(err.splitlines()) == 1
    (tmp_path / "one" / "train").mkdir()
    code, _, err = run_cli("prepare-data", "folder", "--videos", tmp_path / "one", "--out", tmp_path / "o")
    assert code == 2 and "has train/ but an existing split needs train/ and val/" in err
