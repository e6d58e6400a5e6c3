"""``videofocalnet embed``: pooled features per video (and per window) equal ``model.forward_features`` of the views
``predict`` would cut, keys are the files' paths, an unreadable file is one error line and the rest are written."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
from inference_helpers import moving_shapes, save_tiny_checkpoint, write_h264  # noqa: E402

from videofocalnet.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _reference(checkpoint: Path, video: Path, views: str) -> torch.Tensor:
    """forward_features of a freshly loaded (un-optimised) model on the classifier's views, averaged."""
    from videofocalnet.hub import load_model_checkpoint
    from videofocalnet.inference import VideoClassifier

    clips = VideoClassifier.from_checkpoint(checkpoint).views_from_file(video, views)
    model, _ = load_model_checkpoint(checkpoint)
    with torch.no_grad():
        return model.eval().forward_features(clips).mean(0)


def test_embed_equals_forward_features_and_keeps_relative_names(checkpoint, tmp_path, capsys):
    folder = tmp_path / "clips"
    (folder / "cats").mkdir(parents=True)
    a = write_h264(folder / "cats" / "a.mp4", moving_shapes(24, 64, 96, seed=3))
    b = write_h264(folder / "b.mp4", moving_shapes(30, 80, 64, seed=4))
    single = write_h264(tmp_path / "single.mp4", moving_shapes(20, 64, 64, seed=5))
    out = tmp_path / "feats.npz"
    assert (
        main(
            [
                "embed",
                str(folder),
                str(single),
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(out),
                "--views",
                "2x3",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "wrote 3 embeddings (64 features each)" in capsys.readouterr().out
    with np.load(out) as feats:
        assert sorted(feats.files) == sorted(["cats/a.mp4", "b.mp4", str(single)])
        for key, video in (("cats/a.mp4", a), ("b.mp4", b), (str(single), single)):
            want = _reference(checkpoint, video, "2x3").numpy()
            assert feats[key].shape == (64,) and feats[key].dtype == np.float32
            np.testing.assert_allclose(feats[key], want, rtol=0, atol=1e-6)


def test_embed_per_window_of_a_long_video(checkpoint, tmp_path):
    from videofocalnet.hub import load_model_checkpoint
    from videofocalnet.inference import VideoClassifier
    from videofocalnet.inference.timeline import window_ranges

    video = write_h264(tmp_path / "long.mp4", moving_shapes(48, 64, 64, seed=6), fps=12)  # 4 s
    out = tmp_path / "w.npz"
    assert (
        main(
            [
                "embed",
                str(video),
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(out),
                "--window",
                "1",
                "--stride",
                "1.5",
                "--no-progress",
            ]
        )
        == 0
    )
    ranges = window_ranges(48, 12.0, 1.0, 1.5)
    with np.load(out) as feats:
        assert feats[str(video)].shape == (len(ranges), 64) == (3, 64)  # windows start at 0, 1.5 and 3 s
        np.testing.assert_allclose(feats[f"{video}#windows"], [[s / 12, e / 12] for s, e in ranges])
        # a window is embedded like the same span cut out as a clip: the classifier's sampling inside [start, end)
        classifier = VideoClassifier.from_checkpoint(checkpoint)
        model, _ = load_model_checkpoint(checkpoint)
        from videofocalnet.data.decode import open_video
        from videofocalnet.inference.classifier import clip_indices

        start, end = ranges[1]
        with open_video(video) as reader, torch.no_grad():
            idx = [[start + i for i in c] for c in clip_indices(end - start, classifier.preprocess, 1)]
            want = model.eval().forward_features(classifier._views_from_reader(reader, idx, 1)).mean(0)
        np.testing.assert_allclose(feats[str(video)][1], want.numpy(), rtol=0, atol=1e-6)


def test_embed_reports_a_bad_video_in_one_line_and_writes_the_rest(checkpoint, tmp_path, capsys):
    good = write_h264(tmp_path / "good.mp4", moving_shapes(20, 64, 64, seed=1))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "f.npz"
    assert (
        main(["embed", str(good), str(bad), "--checkpoint", str(checkpoint), "--out", str(out), "--no-progress"]) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: ") and str(bad) in err[0] and err[1] == "1 of 2 videos failed"
    with np.load(out) as feats:
        assert feats.files == [str(good)]
    assert main(["embed", str(good), "--checkpoint", str(checkpoint), "--out", str(out), "--stride", "1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --stride needs --window (run with --debug for the traceback)"
    assert main(["embed", str(tmp_path / "nope.mp4"), "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
    assert "no such file or folder" in capsys.readouterr().err
