"""One source of preprocessing: a model the engine trained scores every video the same through ``eval`` (the
engine's datasets) and ``predict`` (``VideoClassifier`` reading only the checkpoint), for TSN and dense sampling at
4x1 and 4x3 views; its checkpoints carry the class names themselves, and ``convert-weights`` changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from conftest import tiny_config_dict
from videofocalnet.cli import main
from videofocalnet.engine.config import config_from_dict
from videofocalnet.engine.evaluate import run_evaluation
from videofocalnet.engine.train import train
from videofocalnet.inference import VideoClassifier


@pytest.fixture(scope="module", params=["tsn", "dense"])
def trained(request, tiny_videos, tmp_path_factory):
    """One short epoch per sampling mode; the label list lives in a folder the tests may delete."""
    out = tmp_path_factory.mktemp(f"run_{request.param}")
    labels = out / "data" / "labels.csv"
    labels.parent.mkdir()
    shutil.copy(tiny_videos.label_list, labels)
    data = {"SAMPLING": request.param, "LABEL_LIST": str(labels)}
    cfg = config_from_dict(
        tiny_config_dict(tiny_videos, DATA=data, AUG={"FRAME_INTERVAL": 2}, TRAIN={"EPOCHS": 1}, SAVE_FREQ=1)
    )
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(cfg, output=out / "run", progress=False)
    finally:
        torch.set_num_threads(before)
    return cfg, Path(result["run_dir"]), labels


@pytest.mark.parametrize("views", [(4, 1), (4, 3)])
def test_predict_scores_equal_eval_scores(trained, views) -> None:
    cfg, run_dir, _labels = trained
    checkpoint = run_dir / "epoch_0001.safetensors"
    result = run_evaluation(cfg, checkpoint, views=views, progress=False)
    classifier = VideoClassifier.from_checkpoint(checkpoint)
    assert classifier.preprocess.sampling == cfg.DATA.SAMPLING
    for path, scores in zip(result.paths, result.scores):
        probs = classifier.predict(path, views=f"{views[0]}x{views[1]}").probs
        torch.testing.assert_close(probs, scores, atol=1e-5, rtol=0, msg=f"{path} at {views}")


def test_class_names_travel_in_the_checkpoint(trained, tmp_path: Path, capsys) -> None:
    _cfg, run_dir, labels = trained
    names = [line.split(",", 1)[1] for line in labels.read_text().splitlines()[1:]]
    shutil.rmtree(labels.parent)  # the data folder is gone: the names must come from the checkpoint
    classifier = VideoClassifier.from_checkpoint(run_dir / "epoch_0001.safetensors")
    assert classifier.labels == names

    # convert-weights of last.pt and of an exported file: same predictions, same names
    video = next(Path(_cfg.DATA.ROOT).rglob("*.mp4"))
    reference = classifier.predict(video, views="2x3")
    for source in (run_dir / "last.pt", run_dir / "epoch_0001.safetensors"):
        out = tmp_path / f"{source.stem}_converted.safetensors"
        assert main(["convert-weights", str(source), str(out)]) == 0, capsys.readouterr().err
        converted = VideoClassifier.from_checkpoint(out)
        assert converted.labels == names and converted.preprocess == classifier.preprocess
        prediction = converted.predict(video, views="2x3")
        assert prediction.topk == reference.topk
        torch.testing.assert_close(prediction.probs, reference.probs, atol=0, rtol=0)
