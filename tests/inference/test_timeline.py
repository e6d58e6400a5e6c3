"""Timeline mode: seconds -> frame windows, per-window predictions equal to predicting the trimmed span."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from videofocalnet.data.decode import read_all_frames
from videofocalnet.inference.timeline import predict_timeline, window_ranges


def test_window_ranges() -> None:
    assert window_ranges(48, 12.0, 1.0, 1.0) == [(0, 12), (12, 24), (24, 36), (36, 48)]
    # the stride leaves a tail: one more window aligned to the end
    assert window_ranges(50, 10.0, 2.0, 1.5) == [(0, 20), (15, 35), (30, 50)]
    assert window_ranges(53, 10.0, 2.0, 1.5) == [(0, 20), (15, 35), (30, 50), (33, 53)]
    assert window_ranges(30, 25.0, 4.0, 1.0) == [(0, 30)]  # shorter than one window
    with pytest.raises(ValueError, match="frame rate"):
        window_ranges(30, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="positive seconds"):
        window_ranges(30, 25.0, 1.0, 0.0)


def test_timeline_windows_match_trimmed_clips(classifier, videos, tmp_path) -> None:
    timeline = predict_timeline(
        classifier, videos["shapes"], window_s=1.0, stride_s=0.5, views="2x1", topk=3, progress=False
    )
    assert timeline.fps == pytest.approx(12.0)
    assert [(w.start_frame, w.end_frame) for w in timeline.windows] == [(s, s + 12) for s in range(0, 37, 6)]
    frames = read_all_frames(videos["shapes"])
    for w in (timeline.windows[0], timeline.windows[-1]):
        trimmed = classifier.predict(frames[w.start_frame : w.end_frame], views="2x1")
        torch.testing.assert_close(w.probs, trimmed.probs)
        assert w.start_s == pytest.approx(w.start_frame / 12) and w.end_s == pytest.approx(w.end_frame / 12)
    # the square moves: windows see different content
    assert (timeline.windows[0].probs - timeline.windows[-1].probs).abs().max() > 1e-5

    data = json.loads(timeline.write_json(tmp_path / "t.json").read_text())
    assert len(data["windows"]) == 7 and data["windows"][3]["start_s"] == pytest.approx(1.5)
    rows = list(csv.DictReader(timeline.write_csv(tmp_path / "t.csv").open()))
    assert len(rows) == 7 * 3 and rows[0]["rank"] == "1" and rows[0]["label"] == timeline.windows[0].topk[0][0]
    png = timeline.plot(tmp_path / "t.png")
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (800, 350)
        assert len(set(image.convert("L").tobytes())) > 20  # lines and text were drawn


def test_timeline_on_bikes(classifier, bikes) -> None:
    timeline = predict_timeline(classifier, bikes, window_s=4.0, stride_s=3.0, progress=False)
    assert timeline.num_frames == 250 and timeline.fps == pytest.approx(25.0)
    assert [(w.start_frame, w.end_frame) for w in timeline.windows] == [(0, 100), (75, 175), (150, 250)]
