"""Class-folder trees (``ROOT/<class>/<clip>``) listed by :func:`convert_folder`, on real videos from the
synthetic renderer, real frame folders and real broken files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from videofocalnet.data.annotations import check_annotations, read_annotation_list, read_label_list
from videofocalnet.data.converters import Skipped, write_conversion
from videofocalnet.data.folder import convert_folder, find_split_folders, stratified_split
from videofocalnet.data.synthetic import render_video, video_rng, write_video

SRC = Path(__file__).resolve().parents[2] / "src"


def clip(path: Path, class_name: str = "moving_left", index: int = 0) -> Path:
    """A real 8-frame 32x32 H.264 clip of a synthetic class."""
    write_video(path, render_video(class_name, video_rng(0, "train", 0, index), size=32, num_frames=8))
    return path


def frame_folder(folder: Path, count: int = 4) -> Path:
    """A raw-frame folder ``img_00001.png`` ... written with PyAV's image2 muxer."""
    folder.mkdir(parents=True)
    frames = render_video("static", video_rng(0, "train", 0, 0), size=32, num_frames=count)
    for i, image in enumerate(frames):
        with av.open(str(folder / f"img_{i + 1:05d}.png"), "w", format="image2") as out:
            stream = out.add_stream("png", rate=1)
            stream.width, stream.height, stream.pix_fmt = 32, 32, "rgb24"
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    return folder


# --------------------------------------------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------------------------------------------


def test_stratified_split_per_class_bounds_and_determinism() -> None:
    tree = {
        "b": [f"b/{i}.mp4" for i in range(10)],
        "a": [f"a/{i}.mp4" for i in range(2)],
        "c": ["c/only.mp4"],
        "d": [f"d/{i}.mp4" for i in range(5)],
    }
    parts = stratified_split(tree, val_fraction=0.25, seed=0)
    sizes = {name: (len(parts["train"][name]), len(parts["val"][name])) for name in tree}
    # 10 * 0.25 = 2.5 rounds up to 3; 2 videos -> 1 + 1 (at least one each side); 1 video -> train only;
    # 5 * 0.25 = 1.25 -> 1.
    assert sizes == {"b": (7, 3), "a": (1, 1), "c": (1, 0), "d": (4, 1)}
    for name, paths in tree.items():
        assert sorted(parts["train"][name] + parts["val"][name]) == sorted(paths)
        assert parts["val"][name] == sorted(parts["val"][name])
    # The same seed gives the same split whatever order the scan produced; another seed a different one.
    reordered = {name: list(reversed(paths)) for name, paths in reversed(list(tree.items()))}
    assert stratified_split(reordered, val_fraction=0.25, seed=0) == parts
    assert stratified_split(tree, val_fraction=0.25, seed=1)["val"]["b"] != parts["val"]["b"]
    # Adding videos to one class leaves every other class's split alone.
    grown = dict(tree, d=tree["d"] + ["d/new.mp4"])
    regrown = stratified_split(grown, val_fraction=0.25, seed=0)
    assert {k: v for k, v in regrown["val"].items() if k != "d"} == {k: v for k, v in parts["val"].items() if k != "d"}
    # A fraction near 1 still leaves a training video.
    assert len(stratified_split({"x": ["1", "2"]}, val_fraction=0.99, seed=0)["train"]["x"]) == 1
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=f"val_fraction {bad} must be between 0 and 1"):
            stratified_split(tree, val_fraction=bad, seed=0)


def test_stratified_split_is_fixed_across_processes_and_versions() -> None:
    """The split must not depend on the hash seed of the process (``same seed -> same files`` between runs), and
    is pinned so that a change to the algorithm, which would move videos between train and val of existing
    experiments, is a deliberate one."""
    code = (
        "import json, sys; from videofocalnet.data.folder import stratified_split; "
        "tree = {'walk': [f'walk/{i:02d}.mp4' for i in range(12)], 'run': [f'run/{i:02d}.mp4' for i in range(6)]}; "
        "print(json.dumps(stratified_split(tree, val_fraction=0.3, seed=7)['val']))"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONHASHSEED=hash_seed)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    val = json.loads(outputs.pop())
    # 12 x 0.3 = 3.6 -> 4 and 6 x 0.3 = 1.8 -> 2 validation videos
    assert val == {
        "run": ["run/00.mp4", "run/05.mp4"],
        "walk": ["walk/00.mp4", "walk/02.mp4", "walk/04.mp4", "walk/10.mp4"],
    }


# --------------------------------------------------------------------------------------------------------------
# One class tree
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """Three usable classes (one of them frame folders and a nested subfolder), plus everything that must be
    reported: junk next to the classes, an unreadable and a truncated video, a non-video file, an empty class, a
    class whose only video is broken, and a name the list format cannot hold."""
    root = tmp_path / "my_videos"
    for i in range(4):
        clip(root / "waving" / f"w{i}.mp4", "moving_left", i)
    clip(root / "waving" / "more" / "w9.mkv", "moving_left", 9)  # nested folders belong to their class
    for i in range(3):
        clip(root / "pouring" / f"p{i}.mp4", "moving_up", i)
    good = (root / "pouring" / "p0.mp4").read_bytes()
    (root / "pouring" / "truncated.mp4").write_bytes(good[: len(good) // 8])
    (root / "pouring" / "zero.avi").write_bytes(b"")
    (root / "pouring" / "notes.txt").write_text("shot on a phone\n")
    frame_folder(root / "clapping" / "c0")
    frame_folder(root / "clapping" / "c1")
    (root / "empty_class").mkdir()
    (root / "broken_class").mkdir()
    (root / "broken_class" / "x.mp4").write_bytes(b"not a video at all")
    clip(root / "waving" / "a,b.mp4", "moving_left", 5)
    (root / "README.md").write_text("my dataset\n")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def test_class_tree_lists_videos_and_frame_folders(tree: Path, tmp_path: Path) -> None:
    conversion = convert_folder(tree, val_fraction=0.25, seed=0)
    assert conversion.class_names == ["clapping", "pouring", "waving"]  # sorted; empty/broken classes are not classes
    listed = {e.path: e.label for split in conversion.splits.values() for e in split}
    assert listed == {
        "clapping/c0": 0,
        "clapping/c1": 0,
        "pouring/p0.mp4": 1,
        "pouring/p1.mp4": 1,
        "pouring/p2.mp4": 1,
        "waving/more/w9.mkv": 2,
        **{f"waving/w{i}.mp4": 2 for i in range(4)},
    }
    assert [len({e.label for e in conversion.splits[s]}) for s in ("train", "val")] == [3, 3]  # every class in val
    assert [len(conversion.splits[s]) for s in ("train", "val")] == [7, 3]
    reasons = {s.path: s.reason for s in conversion.skipped}
    assert set(reasons) == {
        "README.md",
        "broken_class/",
        "broken_class/x.mp4",
        "empty_class/",
        "pouring/notes.txt",
        "pouring/truncated.mp4",
        "pouring/zero.avi",
        "waving/a,b.mp4",
    }
    assert reasons["README.md"] == "not inside a class folder"
    assert reasons["empty_class/"] == "empty class: no videos or frame folders in it"
    assert reasons["broken_class/"].startswith("empty class: none of its 1 videos can be used")
    assert reasons["pouring/zero.avi"] == "unreadable: file is empty (0 bytes)"
    assert reasons["pouring/truncated.mp4"].startswith("unreadable: ")
    assert reasons["pouring/notes.txt"].startswith("not a video (.txt is not a video extension)")
    assert "comma" in reasons["waving/a,b.mp4"]
    assert all(s.split == "-" for s in conversion.skipped)

    out = tmp_path / "lists"
    written = write_conversion(conversion, out)
    assert read_label_list(out / "labels.csv") == conversion.class_names
    missing = (out / "missing.txt").read_text().splitlines()
    assert len(missing) == 8 and "-\tempty_class/\tempty class: no videos or frame folders in it" in missing
    for split in ("train", "val"):  # every listed video decodes: the lists pass check-data against the tree
        report = check_annotations(written[split], root=tree, labels=out / "labels.csv")
        assert report.ok, report.problems
        assert [e.path for e in read_annotation_list(written[split])] == [e.path for e in conversion.splits[split]]


def test_no_decode_only_looks_at_names_and_same_seed_same_files(tree: Path, tmp_path: Path) -> None:
    fast = convert_folder(tree, val_fraction=0.25, seed=0, decode=False)
    listed = {e.path for split in fast.splits.values() for e in split}
    assert {"pouring/truncated.mp4", "pouring/zero.avi", "broken_class/x.mp4"} <= listed
    assert "broken_class" in fast.class_names
    assert {s.path for s in fast.skipped} == {"README.md", "empty_class/", "pouring/notes.txt", "waving/a,b.mp4"}
    again = [write_conversion(convert_folder(tree, val_fraction=0.25, seed=0), tmp_path / f"o{i}") for i in (1, 2)]
    for name in ("train", "val", "labels", "missing"):
        assert again[0][name].read_bytes() == again[1][name].read_bytes()
    only_mp4 = convert_folder(tree, val_fraction=0.25, seed=0, extensions=["mp4"])
    assert "waving/more/w9.mkv" in {s.path for s in only_mp4.skipped}


# --------------------------------------------------------------------------------------------------------------
# A tree that comes split
# --------------------------------------------------------------------------------------------------------------


def test_existing_split_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "hf"
    for split, count in (("train", 2), ("validation", 1), ("test", 1)):
        for name in ("jump", "sit"):
            for i in range(count):
                clip(root / split / name / f"{name}{i}.mp4", "moving_up", i)
    clip(root / "validation" / "fly" / "f0.mp4")  # a class the training split lacks
    (root / "test" / "sit" / "s9.mp4").write_bytes(b"broken")
    (root / "test" / "empty").mkdir()
    (root / "extras").mkdir()
    assert find_split_folders(root) == {"train": "train", "val": "validation", "test": "test"}
    conversion = convert_folder(root, val_fraction=0.5, seed=3)  # fraction and seed do not apply
    assert conversion.class_names == ["jump", "sit"]
    listed = {split: [(e.path, e.label) for e in entries] for split, entries in conversion.splits.items()}
    assert listed == {
        "train": [
            ("train/jump/jump0.mp4", 0),
            ("train/jump/jump1.mp4", 0),
            ("train/sit/sit0.mp4", 1),
            ("train/sit/sit1.mp4", 1),
        ],
        "val": [("validation/jump/jump0.mp4", 0), ("validation/sit/sit0.mp4", 1)],
        "test": [("test/jump/jump0.mp4", 0), ("test/sit/sit0.mp4", 1)],
    }
    assert sorted((s.split, s.path, s.reason.split(":")[0]) for s in conversion.skipped) == [
        ("-", "extras/", "not a split folder (train/, val/, test/) next to train/ and val/"),
        ("test", "test/empty/", "empty class"),
        ("test", "test/sit/s9.mp4", "unreadable"),
        ("val", "validation/fly/f0.mp4", "class 'fly' has no usable videos in train/"),
    ]


@pytest.mark.parametrize(
    ("folders", "pattern"),
    [
        (("train", "test"), r"has test/, train/ but an existing split needs train/ and val/"),
        (("Train",), r"has Train/ but an existing split needs train/ and val/"),
        (("train", "val", "validation"), r"has both val/ and validation/"),
    ],
)
def test_half_a_split_is_an_error(tmp_path: Path, folders: tuple[str, ...], pattern: str) -> None:
    for name in folders:
        clip(tmp_path / "root" / name / "cls" / "a.mp4")
    with pytest.raises(ValueError, match=pattern):
        convert_folder(tmp_path / "root")


def test_trees_without_two_classes_are_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="video folder not found: .*nowhere"):
        convert_folder(tmp_path / "nowhere")
    flat = tmp_path / "flat"
    clip(flat / "a.mp4")  # videos directly in ROOT: the user pointed at a class folder
    with pytest.raises(
        ValueError, match=r"flat: no class folder holds a usable video .*1 entries were skipped, e\.g\. a\.mp4"
    ):
        convert_folder(flat)
    clip(flat / "only" / "b.mp4")
    with pytest.raises(ValueError, match=r"only class 'only' has videos; a classifier needs two or more"):
        convert_folder(flat)
    with pytest.raises(ValueError, match="val_fraction 0 must be"):
        convert_folder(flat, val_fraction=0)
    assert Skipped("a.mp4", "x").split == "-"
