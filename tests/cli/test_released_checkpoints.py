"""Released Video-FocalNet checkpoints, written as the official ``save_checkpoint`` writes them (a real yacs CfgNode
inside), used directly by every command in a process where yacs cannot be imported; and malicious pickles refused
by every command, with nothing executed."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_helpers import moving_shapes, write_h264  # noqa: E402

from official_checkpoint import official_config, save_released  # noqa: E402

pytest.importorskip("yacs", reason="yacs (test extra) writes the official config object")

# the official tiny recipe at a test-sized input: the real tiny architecture, 400 Kinetics classes
OPTS = ["DATA.NUM_FRAMES", "4", "DATA.IMG_SIZE", "64", "DATA.INPUT_SIZE", "64"]
NO_YACS = (
    "import sys; sys.modules['yacs'] = None; sys.modules['yacs.config'] = None; "  # any import of yacs now fails
    "from videofocalnet.cli import main; code = main(sys.argv[1:]); "
    "assert 'yacs.config' not in sys.modules or sys.modules['yacs.config'] is None; sys.exit(code)"
)


def no_yacs_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", NO_YACS, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def released(tmp_path_factory, official_dir: Path) -> tuple[Path, torch.nn.Module]:
    from videofocalnet.models import create_model

    cfg = official_config(official_dir / "configs/kinetics400/video-focalnet_tiny.yaml", OPTS)
    torch.manual_seed(0)
    model = create_model("video_focalnet_tiny", num_classes=400, num_frames=4, img_size=64).eval()
    path = save_released(tmp_path_factory.mktemp("released") / "video-focalnet_tiny_k400.pth", model, cfg)
    return path, model


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_h264(tmp_path_factory.mktemp("video") / "clip.mp4", moving_shapes(24, 72, 96, seed=5))


def test_read_checkpoint_builds_the_model_from_the_embedded_config(released, official_dir: Path) -> None:
    from videofocalnet.hub import FMT_RELEASED, read_checkpoint

    path, model = released
    ckpt = read_checkpoint(path)
    assert ckpt.format == FMT_RELEASED and ckpt.model_name == "video_focalnet_tiny"
    kwargs = ckpt.model_kwargs
    assert (kwargs["num_classes"], kwargs["num_frames"], kwargs["img_size"], kwargs["tubelet_size"]) == (400, 4, 64, 1)
    assert "embed_dim" not in kwargs and "depths" not in kwargs  # the official build never passed them
    pre = ckpt.config["preprocess"]
    assert (pre["num_frames"], pre["input_size"], pre["short_side"], pre["sampling"]) == (4, 64, None, "tsn")
    assert ckpt.config["source"] == {"path": str(path), "format": "released", "epoch": 119, "max_accuracy": 79.8}
    with open(official_dir / "labels/kinetics_400_labels.csv", newline="") as fh:
        names = [row["name"] for row in csv.DictReader(fh)]
    assert ckpt.config["labels"] == names
    x = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ckpt.build_model().eval()(x), model(x), atol=0, rtol=0)


def test_legacy_serialisation_and_a_mismatched_config_name(tmp_path: Path, official_dir: Path) -> None:
    from videofocalnet.hub import read_checkpoint
    from videofocalnet.models import create_model
    from videofocalnet.models.convert import CheckpointMismatchError

    model = create_model("video_focalnet_tiny", num_classes=400, num_frames=4, img_size=64)
    cfg = official_config(official_dir / "configs/kinetics400/video-focalnet_small.yaml", OPTS)
    state = {"model": model.state_dict(), "config": cfg, "epoch": 3}
    legacy = tmp_path / "legacy.pth"
    torch.save(state, legacy, _use_new_zipfile_serialization=False)  # PyTorch < 1.6 format
    with pytest.raises(CheckpointMismatchError, match="video_focalnet_small.*video_focalnet_tiny"):
        read_checkpoint(legacy)  # the config says small, the tensors are tiny


def test_every_command_uses_a_released_checkpoint_without_yacs(released, video: Path, tmp_path: Path) -> None:
    from videofocalnet.data.label_sets import class_names
    from videofocalnet.inference.export import read_export_metadata

    path, _model = released
    proc = no_yacs_cli("predict", video, "--checkpoint", path, "--topk", "3", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    kinetics = set(class_names("kinetics400"))
    top = [line.split("  ", 2)[-1].strip() for line in proc.stdout.splitlines()[1:]]
    assert len(top) == 3 and all(name in kinetics for name in top), proc.stdout

    lst = tmp_path / "val.csv"
    lst.write_text(f"{video},7\n")
    proc = no_yacs_cli(
        "eval", "--checkpoint", path, "--views", "2x1", "--opts", "DATA.VAL_FILE", lst, "DATA.NUM_WORKERS", "0",
        "--output", tmp_path / "eval", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "eval/metrics.json").read_text())["num_videos"] == 1

    proc = no_yacs_cli(
        "export", "--checkpoint", path, "--format", "torchscript", "--out", tmp_path / "m.pt", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert max(json.loads(proc.stdout.splitlines()[-1])["max_abs_diff"].values()) < 1e-4
    meta = read_export_metadata(tmp_path / "m.pt", "torchscript")
    assert meta["labels"][:2] == class_names("kinetics400")[:2] and meta["preprocess"]["num_frames"] == 4

    proc = no_yacs_cli("visualize", video, "--checkpoint", path, "--out", tmp_path / "vis", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "vis").is_dir() and any((tmp_path / "vis").glob("*.png"))


def test_convert_weights_in_one_step_keeps_predictions(released, video: Path, tmp_path: Path) -> None:
    from videofocalnet.inference import VideoClassifier

    path, _model = released
    out = tmp_path / "k400_tiny.safetensors"
    proc = no_yacs_cli("convert-weights", path, out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "400 class names" in proc.stdout and f"wrote {out}" in proc.stdout
    before = VideoClassifier.from_checkpoint(path).predict(video, views="2x3")
    after = VideoClassifier.from_checkpoint(out).predict(video, views="2x3")
    assert before.topk == after.topk
    torch.testing.assert_close(before.probs, after.probs, atol=0, rtol=0)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["source"]["format"] == "released" and meta["config"]["DATA"]["DATASET"] == "kinetics400"

    proc = no_yacs_cli("convert-weights", out, out, cwd=tmp_path)
    assert proc.returncode == 2 and "overwrite the input" in proc.stderr


# ------------------------------------------------------------------------------------------- malicious pickles
class _System:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Eval(_System):
    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


class _Popen(_System):
    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


class _Object(_System):
    """A plain object at the top level: unpickling imports this test module and calls __setstate__."""

    def __setstate__(self, state):
        Path(state["marker"]).touch()


PAYLOADS = {
    "os.system": lambda m, sd: {"model": sd, "config": _System(m)},
    "builtins.eval": lambda m, sd: {"model": sd, "config": _Eval(m)},
    "subprocess.Popen": lambda m, sd: {"model": sd, "epoch": _Popen(m)},
    "top-level object": lambda m, sd: _Object(m),
}
COMMANDS = {
    "predict": lambda ck, v, out: ["predict", v, "--checkpoint", ck, "--no-progress"],
    "eval": lambda ck, v, out: ["eval", "--checkpoint", ck, "--output", out],
    "export": lambda ck, v, out: ["export", "--checkpoint", ck, "--format", "onnx", "--out", out / "m.onnx"],
    "visualize": lambda ck, v, out: ["visualize", v, "--checkpoint", ck, "--out", out],
    "convert-weights": lambda ck, v, out: ["convert-weights", ck, out / "out.safetensors"],
}


@pytest.mark.parametrize("payload", PAYLOADS)
def test_malicious_pickles_are_refused_by_every_command(payload: str, video: Path, tmp_path: Path, capsys) -> None:
    from videofocalnet.cli import main
    from videofocalnet.models import create_model

    marker = tmp_path / "PWNED"
    sd = create_model("video_focalnet_tiny", embed_dim=8, depths=[1, 1, 1, 1], num_classes=3).state_dict()
    bad = tmp_path / "ckpt_epoch_119.pth"
    torch.save(PAYLOADS[payload](str(marker), sd), bad)
    for name, argv in COMMANDS.items():
        out = tmp_path / f"out_{name}"
        code = main([str(a) for a in argv(bad, video, out)])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (name, err)
        assert "could execute code" in err and str(bad) in err, (name, err)
        assert not marker.exists(), f"{name} ran the payload"
        assert not out.exists() or not any(out.iterdir()), name
