"""Every subcommand on bad input: one line ``error: ...`` naming the file or value, the documented exit code (2 for
a user's mistake, 1 for "ran and found the data broken"), and never a traceback.

The cases run through ``videofocalnet.cli.main`` in this process (what the console script calls); a few run as
real ``python -m videofocalnet`` processes too. Read-only and full folders are real tmpfs mounts (skipped where the
test may not mount).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_helpers import moving_shapes, save_tiny_checkpoint, write_h264  # noqa: E402

from videofocalnet.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, Path]:
    """A checkpoint, a video, a tiny dataset and its training config, and the broken files the cases use."""
    from videofocalnet.data.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("bad_inputs")
    data = generate_dataset(
        root / "data", classes=["moving_left", "moving_right"], videos_per_class=2, val_per_class=1, size=32,
        num_frames=8, workers=1, progress=False,
    )  # fmt: skip
    cfg = {
        "DATA": {
            "ROOT": str(data.root),
            "TRAIN_FILE": str(data.train_list),
            "VAL_FILE": str(data.val_list),
            "LABEL_LIST": str(data.label_list),
            "NUM_FRAMES": 4,
            "NUM_CLASSES": 2,
            "BATCH_SIZE": 2,
            "INPUT_SIZE": 32,
            "NUM_WORKERS": 0,
            "PIN_MEMORY": False,
        },
        "MODEL": {
            "TYPE": "video_focalnet_tiny",
            "DROP_PATH_RATE": 0.0,
            "FOCAL": {"EMBED_DIM": 8, "DEPTHS": [1, 1, 1, 1]},
        },
        "TRAIN": {"EPOCHS": 1, "WARMUP_EPOCHS": 0, "EVAL_FREQ": 0, "FINAL_EVAL": False, "OPTIMIZER": {"NAME": "sgd"}},
        "AUG": {"MIXUP": 0.0, "CUTMIX": 0.0},
        "SAVE_FREQ": 0,
        "TENSORBOARD": False,
        "DEVICE": "cpu",
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    other = {**cfg, "MODEL": {**cfg["MODEL"], "FOCAL": {"EMBED_DIM": 16, "DEPTHS": [1, 1, 1, 1]}}}
    (root / "other_model.yaml").write_text(yaml.safe_dump(other))
    bad_videos = root / "bad_videos"
    bad_videos.mkdir()
    for i in range(4):
        (bad_videos / f"v{i}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    (root / "bad_list.csv").write_text("".join(f"v{i}.mp4,{i % 2}\n" for i in range(4)))
    broken = {**cfg, "DATA": {**cfg["DATA"], "ROOT": str(bad_videos), "TRAIN_FILE": str(root / "bad_list.csv")}}
    (root / "broken_data.yaml").write_text(yaml.safe_dump(broken))

    ckpt = save_tiny_checkpoint(root / "tiny.safetensors")
    truncated = root / "truncated.safetensors"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    (root / "notes.pth").write_text("not a checkpoint\n")
    (root / "binary.yaml").write_bytes(bytes(range(256)))
    (root / "a_file").write_text("x")
    return {
        "root": root,
        "ckpt": ckpt,
        "truncated": truncated,
        "video": write_h264(root / "clip.mp4", moving_shapes(16, 64, 64, seed=1)),
        "cfg": root / "tiny.yaml",
    }


@pytest.fixture(scope="module")
def mounts(tmp_path_factory) -> dict[str, Path]:
    """A read-only folder and a full one (64 KiB tmpfs), as real file systems."""
    base = tmp_path_factory.mktemp("mounts")
    ro, full = base / "read_only", base / "full"
    ro.mkdir(), full.mkdir()
    mounted = []
    try:
        for path, options in ((ro, "size=64k"), (full, "size=64k")):
            proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
            if proc.returncode:
                pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()})")
            mounted.append(path)
        (full / "filler").write_bytes(bytes(60 * 1024))
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        yield {"read_only": ro, "full": full}
    finally:
        for path in mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


E = dict[str, Path]
FIVE = ["MODEL.NUM_CLASSES", "5", "DATA.NUM_CLASSES", "5"]  # the tiny checkpoint's head
CASES: dict[str, tuple[Callable[[E], list], int, str]] = {
    # predict
    "predict: a .pth that is not a checkpoint": (
        lambda e: ["predict", e["video"], "--checkpoint", e["root"] / "notes.pth"],
        2,
        "notes.pth: not a safetensors file or a torch checkpoint",
    ),
    "predict: a truncated .safetensors": (
        lambda e: ["predict", e["video"], "--checkpoint", e["truncated"]],
        2,
        "truncated.safetensors: not a readable safetensors file",
    ),
    "predict: a missing checkpoint": (
        lambda e: ["predict", e["video"], "--checkpoint", e["root"] / "nope.safetensors"],
        2,
        "checkpoint not found",
    ),
    "predict: a folder as checkpoint": (
        lambda e: ["predict", e["video"], "--checkpoint", e["root"]],
        2,
        "a folder, not a checkpoint file",
    ),
    "predict: an unknown zoo name": (
        lambda e: ["predict", e["video"], "--checkpoint", "video_focalnet_tiny.k40"],
        2,
        "not a file, URL, hf-hub: id or zoo name",
    ),
    "predict: a missing video": (
        lambda e: ["predict", e["root"] / "absent.mp4", "--checkpoint", e["ckpt"]],
        2,
        "absent.mp4: no such file or folder",
    ),
    "predict: --batch-size 0": (
        lambda e: ["predict", e["video"], "--checkpoint", e["ckpt"], "--batch-size", "0"],
        2,
        "--batch-size must be >= 1, got 0",
    ),
    "predict: --views 2000x1": (
        lambda e: ["predict", e["video"], "--checkpoint", e["ckpt"], "--views", "2000x1"],
        2,
        "2000",
    ),
    "predict: --json under a file": (
        lambda e: ["predict", e["video"], "--checkpoint", e["ckpt"], "--json", e["root"] / "a_file/out.json"],
        2,
        "a_file is not a folder",
    ),
    "predict: --json on a full device": (
        lambda e: ["predict", e["video"], "--checkpoint", e["ckpt"], "--json", "/dev/full"],
        2,
        "disk is full",
    ),
    # eval
    "eval: a folder given as the list": (
        lambda e: ["eval", "--cfg", e["cfg"], "--checkpoint", e["ckpt"], "--list", e["root"], "--opts", *FIVE],
        2,
        "is a folder; give the annotation list",
    ),
    "eval: a checkpoint of another model": (
        lambda e: ["eval", "--cfg", e["cfg"], "--checkpoint", e["ckpt"]],
        2,
        "does not fit the model the config builds",
    ),
    "eval: a binary file as --cfg": (
        lambda e: ["eval", "--cfg", e["root"] / "binary.yaml", "--checkpoint", e["ckpt"]],
        2,
        "binary.yaml: not a YAML text file",
    ),
    "eval: a checkpoint without a run config": (
        lambda e: ["eval", "--checkpoint", e["ckpt"]],
        2,
        "carries no training config; pass --cfg",
    ),
    "eval: --batch-size 0": (
        lambda e: ["eval", "--cfg", e["cfg"], "--checkpoint", e["ckpt"], "--batch-size", "0"],
        2,
        "--batch-size must be >= 1",
    ),
    "eval: --views 2000x1": (
        lambda e: ["eval", "--cfg", e["cfg"], "--checkpoint", e["ckpt"], "--views", "2000x1"],
        2,
        "2000",
    ),
    # train
    "train: a binary file as --cfg": (
        lambda e: ["train", "--cfg", e["root"] / "binary.yaml"],
        2,
        "not a YAML text file",
    ),
    "train: an unknown config name": (lambda e: ["train", "--cfg", "k400/video_focalnet_tiny"], 2, "did you mean"),
    "train: TRAIN.BASE_LR nan": (
        lambda e: ["train", "--cfg", e["cfg"], "--opts", "TRAIN.BASE_LR", "nan"],
        2,
        "TRAIN.BASE_LR",
    ),
    "train: DATA.STD [0,0,0]": (lambda e: ["train", "--cfg", e["cfg"], "--opts", "DATA.STD", "[0,0,0]"], 2, "DATA.STD"),
    "train: an unknown key": (
        lambda e: ["train", "--cfg", e["cfg"], "--opts", "TRAIN.BASE_RL", "0.1"],
        2,
        "TRAIN.BASE_RL",
    ),
    "train: too many bad videos": (
        lambda e: [
            "train",
            "--cfg",
            e["root"] / "broken_data.yaml",
            "--output",
            e["root"] / "runs/broken",
            "--no-progress",
        ],
        1,
        "unreadable",
    ),
    # export, visualize, convert-weights, and the rest
    "export: --frames 0": (
        lambda e: ["export", "--checkpoint", e["ckpt"], "--format", "onnx", "--frames", "0"],
        2,
        "--frames must be >= 1",
    ),
    "export: a truncated checkpoint": (
        lambda e: ["export", "--checkpoint", e["truncated"], "--format", "onnx"],
        2,
        "truncated or corrupt",
    ),
    "visualize: a missing checkpoint": (
        lambda e: ["visualize", e["video"], "--checkpoint", e["root"] / "nope.pth"],
        2,
        "checkpoint not found",
    ),
    "visualize: --out is a file": (
        lambda e: ["visualize", e["video"], "--checkpoint", e["ckpt"], "--out", e["root"] / "a_file"],
        2,
        "exists and is not a folder",
    ),
    "convert-weights: onto its own input": (
        lambda e: ["convert-weights", e["ckpt"], e["ckpt"]],
        2,
        "would overwrite the input",
    ),
    "convert-weights: a truncated input": (
        lambda e: ["convert-weights", e["truncated"], e["root"] / "out.safetensors"],
        2,
        "truncated or corrupt",
    ),
    "flops: an unknown model": (lambda e: ["flops", "--model", "video_focalnet_huge"], 2, "video_focalnet_huge"),
    "check-data: a folder given as the list": (
        lambda e: ["check-data", e["root"], "--root", e["root"]],
        2,
        "bad_inputs",
    ),
    "make-synthetic: an odd frame size": (lambda e: ["make-synthetic", e["root"] / "syn", "--size", "33"], 2, "33"),
    "weights download: an unknown name": (
        lambda e: ["weights", "download", "video_focalnet_tiny.k4"],
        2,
        "video_focalnet_tiny.k4",
    ),
}


def _assert_one_line(err: str, needle: str, case: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, f"{case}: {err}"
    assert lines and lines[-1].startswith("error: "), f"{case}: {err}"
    assert needle in lines[-1], f"{case}: expected {needle!r} in {lines[-1]!r}"


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_and_the_exit_code(case: str, env: E, capsys) -> None:
    argv, code, needle = CASES[case]
    got = main([str(a) for a in argv(env)])
    _out, err = capsys.readouterr()
    assert got == code, f"{case}: exit {got}, stderr: {err}"
    _assert_one_line(err, needle, case)


def test_device_cuda_without_cuda(env: E, capsys) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for argv in (
        ["predict", env["video"], "--checkpoint", env["ckpt"], "--device", "cuda"],
        ["visualize", env["video"], "--checkpoint", env["ckpt"], "--device", "cuda:0"],
        ["train", "--cfg", env["cfg"], "--opts", "DEVICE", "cuda"],
    ):
        assert main([str(a) for a in argv]) == 2
        _assert_one_line(capsys.readouterr().err, "CUDA", str(argv))


def test_a_run_folder_holding_another_model(env: E, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--cfg", str(env["cfg"]), "--output", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", "--cfg", str(env["root"] / "other_model.yaml"), "--output", str(run), "--no-progress"]) == 2
    _assert_one_line(capsys.readouterr().err, "holds another model", "another model")


def test_read_only_and_full_output_folders(env: E, mounts: dict[str, Path], capsys) -> None:
    ro, full = mounts["read_only"], mounts["full"]
    for argv, needle in (
        (["predict", env["video"], "--checkpoint", env["ckpt"], "--json", ro / "out.json"], "not writable"),
        (["eval", "--cfg", env["cfg"], "--checkpoint", env["ckpt"], "--output", ro / "eval"], "not writable"),
        (["export", "--checkpoint", env["ckpt"], "--format", "onnx", "--out", ro / "m.onnx"], "not writable"),
        (["train", "--cfg", env["cfg"], "--output", ro / "run", "--no-progress"], "not writable"),
        (["train", "--cfg", env["cfg"], "--output", full / "run", "--no-progress"], "disk is full"),
        (["convert-weights", env["ckpt"], full / "big.safetensors"], "disk is full"),
    ):
        assert main([str(a) for a in argv]) == 2, argv
        _assert_one_line(capsys.readouterr().err, needle, str(argv))
    leftovers = [p.name for p in full.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, f"temp files of failed writes left behind: {leftovers}"


def test_the_console_entry_point_and_debug(env: E) -> None:
    """The same as a real process; ``--debug`` shows the traceback."""
    cmd = [sys.executable, "-m", "videofocalnet", "predict", str(env["video"]), "--checkpoint", str(env["truncated"])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    _assert_one_line(proc.stderr, "truncated or corrupt", "process")
    debug = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_a_full_disk_keeps_the_last_good_checkpoint(env: E, tmp_path: Path, capsys) -> None:
    """One epoch fits; the disk then fills up; the next epoch's checkpoint write fails with one line and last.pt is
    still the first epoch's, loadable, with no temp file beside it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.decode().strip()})")
    try:
        run = disk / "run"
        assert main(["train", "--cfg", str(env["cfg"]), "--output", str(run), "--no-progress"]) == 0
        before = torch.load(run / "last.pt", weights_only=True)
        free = __import__("shutil").disk_usage(disk).free
        (disk / "filler").write_bytes(bytes(max(0, free - 16 * 1024)))
        capsys.readouterr()
        argv = ["train", "--cfg", str(env["cfg"]), "--output", str(run), "--no-progress", "--opts", "TRAIN.EPOCHS", "2"]
        assert main(argv) == 2
        _assert_one_line(capsys.readouterr().err, "disk is full", "full disk")
        after = torch.load(run / "last.pt", weights_only=True)
        assert after["progress"] == before["progress"]
        assert all(torch.equal(after["model"][k], v) for k, v in before["model"].items())
        assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
