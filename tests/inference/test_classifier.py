"""VideoClassifier on real H.264 files: metadata round trip, view averaging, tensor inputs, labels, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from inference_helpers import LABELS, save_tiny_checkpoint

from videofocalnet.data.decode import DecodeError, read_all_frames
from videofocalnet.inference import (
    PreprocessConfig,
    VideoClassifier,
    clip_indices,
    expand_video_paths,
    preprocess_metadata,
)


def test_checkpoint_carries_preprocessing_and_labels(checkpoint: Path, classifier: VideoClassifier) -> None:
    from videofocalnet.hub import read_checkpoint_config

    config = read_checkpoint_config(checkpoint)
    assert config["preprocess"] == PreprocessConfig(num_frames=4, input_size=64, short_side=72).to_dict()
    assert classifier.preprocess == PreprocessConfig(num_frames=4, input_size=64, short_side=72)
    assert classifier.labels == LABELS
    assert not classifier.model.training


def test_preprocess_metadata_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="input_size"):
        preprocess_metadata(num_frames=8, input_size=256, short_side=224)
    with pytest.raises(ValueError, match="sampling"):
        preprocess_metadata(num_frames=8, input_size=224, sampling="random")
    with pytest.raises(ValueError, match="tubelet_size"):
        preprocess_metadata(num_frames=6, input_size=224, tubelet_size=4)
    with pytest.raises(ValueError, match=r"unknown 'preprocess' keys \['frames'\]"):
        PreprocessConfig.from_dict({"frames": 8}, source="x.safetensors")


def test_checkpoint_without_metadata_falls_back_with_warning(tmp_path: Path) -> None:
    path = save_tiny_checkpoint(tmp_path / "bare.safetensors", labels=None, with_preprocess=False)
    with pytest.warns(UserWarning, match="no 'preprocess' metadata"):
        clf = VideoClassifier.from_checkpoint(path)
    assert (clf.preprocess.num_frames, clf.preprocess.input_size) == (4, 64)
    assert clf.labels == [f"class_{i}" for i in range(5)]


def test_multi_view_prediction_is_the_mean_softmax_of_its_views(classifier: VideoClassifier, videos) -> None:
    pred = classifier.predict(videos["wide"], views="2x3", topk=3)
    assert pred.num_views == 6
    views = classifier.views_from_file(videos["wide"], "2x3")
    assert views.shape == (6, 4, 3, 64, 64)
    # three crops of a landscape video are three different places
    assert not torch.equal(views[0], views[1]) and not torch.equal(views[1], views[2])
    with torch.no_grad():
        expected = classifier.model(views).softmax(-1).mean(0)
    torch.testing.assert_close(pred.probs, expected, atol=1e-6, rtol=0)
    assert abs(float(pred.probs.sum()) - 1) < 1e-5
    names = [n for n, _ in pred.topk]
    probs = [p for _, p in pred.topk]
    assert len(names) == 3 and probs == sorted(probs, reverse=True)
    assert names[0] == LABELS[int(expected.argmax())]


def test_views_use_the_checkpoint_sampling(classifier: VideoClassifier, videos) -> None:
    # 48 frames, 4 TSN segments of 12 frames, 2 clips: offsets 1/4 and 3/4 of every segment
    assert clip_indices(48, classifier.preprocess, 2) == [[3, 15, 27, 39], [9, 21, 33, 45]]
    frames = read_all_frames(videos["shapes"])
    views = classifier.views_from_file(videos["shapes"], "2x1")
    torch.testing.assert_close(views, classifier.views_from_frames(frames, "2x1"))


def test_tensor_inputs_match_file_input(classifier: VideoClassifier, videos) -> None:
    from_file = classifier.predict(videos["tall"], views="1x3")
    frames = read_all_frames(videos["tall"])  # uint8 (16, 112, 64, 3)
    from_frames = classifier.predict(frames, views="1x3")
    torch.testing.assert_close(from_frames.probs, from_file.probs)
    views = classifier.views_from_file(videos["tall"], "1x3")  # (3, T, 3, 64, 64) float
    torch.testing.assert_close(classifier.predict(views).probs, from_file.probs)
    single = classifier.predict(views[1])  # (T, 3, H, W) is one view
    assert single.num_views == 1
    with pytest.raises(ValueError, match="uint8 frames"):
        classifier.predict(torch.zeros(4, 3, 64, 64, dtype=torch.int64))


def test_different_videos_get_different_predictions(classifier: VideoClassifier, videos, bikes) -> None:
    a = classifier.predict(videos["shapes"]).probs
    b = classifier.predict(bikes, views="1x3").probs
    assert (a - b).abs().max() > 1e-4


def test_labels_file_overrides_checkpoint(checkpoint: Path, tmp_path: Path, videos) -> None:
    names = ["a b", "c,d", "e", "f", "g"]
    labels = tmp_path / "labels.csv"
    labels.write_text("id,name\n" + "".join(f'{i},"{n}"\n' if "," in n else f"{i},{n}\n" for i, n in enumerate(names)))
    clf = VideoClassifier.from_checkpoint(checkpoint, labels=labels)
    assert clf.labels == names
    assert clf.predict(videos["wide"], topk=5).topk[0][0] in names
    short = tmp_path / "short.txt"
    short.write_text("x\ny\n")
    with pytest.raises(ValueError, match="2 labels given for a model with 5 classes"):
        VideoClassifier.from_checkpoint(checkpoint, labels=short)


def test_predict_many_reports_bad_files_and_continues(classifier: VideoClassifier, videos, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    results = list(classifier.predict_many([videos["wide"], broken, videos["tall"]], progress=False))
    assert [type(r).__name__ for r in results] == ["Prediction", "DecodeError", "Prediction"]
    assert isinstance(results[1], DecodeError) and str(broken) in str(results[1])
    json.dumps(results[0].to_dict())  # serialisable


def test_expand_video_paths(tmp_path: Path, videos) -> None:
    folder = tmp_path / "set"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.mp4").write_bytes(videos["wide"].read_bytes())
    (folder / "sub" / "a.mkv").write_bytes(b"x")
    (folder / "notes.txt").write_text("ignored")
    assert expand_video_paths([folder]) == [folder / "b.mp4", folder / "sub" / "a.mkv"]
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        expand_video_paths([tmp_path / "missing.mp4"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no video files"):
        expand_video_paths([empty])
