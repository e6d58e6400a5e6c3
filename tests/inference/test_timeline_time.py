"""Timelines in real seconds on dropped-frame and VFR files, and truncated files classified as far as they decode.

Before the fix: a 2 s window on the dropped-frame AVI (20 frames over 20.1 s at 15 fps) was 30 *frames*, so the
timeline was one window ending at 1.33 s; on the VFR mp4 (60 frames, half at 30 fps, half at 5 fps, shown until
7.16 s) windows ended at 6.66 s and each "2 s" window was 17 frames: 0.5 s of the fast part, 3.4 s of the slow one;
the truncated mp4 classified at 4x3 raised DecodeError.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hostile_videos import (  # noqa: E402
    DROPPED_SLOTS,
    dropped_frame_avi,
    frame_indices,
    truncated_mp4,
    vfr_mp4,
    vfr_pts_ms,
)
from videofocalnet.data.decode import open_video, read_all_frames  # noqa: E402
from videofocalnet.inference.timeline import predict_timeline  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile_tl")
    return {
        "dropped": dropped_frame_avi(root / "dropped.avi", DROPPED_SLOTS),
        "vfr": vfr_mp4(root / "vfr.mp4", vfr_pts_ms(60)),
        "truncated": truncated_mp4(root / "truncated.mp4"),
    }


@pytest.mark.parametrize("name", ["dropped", "vfr"])
def test_windows_cover_the_seconds_they_report(classifier, files, name, tmp_path):
    with open_video(files[name]) as reader:
        times = reader.frame_times
    assert times is not None
    timeline = predict_timeline(classifier, files[name], window_s=2.0, stride_s=1.0, views="2x1", progress=False)
    windows = timeline.windows
    assert timeline.duration_s == pytest.approx(times.end_s)
    assert windows[0].start_s == 0.0
    assert windows[-1].end_s == pytest.approx(times.end_s, abs=1 / times.rate)  # the last window ends at the end
    for w in windows:
        assert w.end_s - w.start_s == pytest.approx(2.0, abs=1 / times.rate)
        # the frames a window reports are exactly those whose pts fall inside it
        inside = [k for k, t in enumerate(times.times) if w.start_s - 1e-6 <= t < w.end_s - 1e-6]
        if inside:
            assert (w.start_frame, w.end_frame) == (inside[0], inside[-1] + 1)
        else:
            assert w.start_frame == w.end_frame
    frames = read_all_frames(files[name])
    assert frame_indices(frames) == list(range(times.num_frames))
    data = json.loads(timeline.write_json(tmp_path / "t.json").read_text())
    assert data["duration_s"] == pytest.approx(times.end_s, abs=1e-4)
    assert data["windows"][-1]["end_s"] == pytest.approx(times.end_s, abs=1 / times.rate)


def test_dropped_frame_timeline_in_seconds_not_frames(classifier, files):
    timeline = predict_timeline(classifier, files["dropped"], window_s=2.0, stride_s=2.0, progress=False)
    assert timeline.fps == pytest.approx(15.0) and timeline.num_frames == 20
    assert [round(w.start_s, 3) for w in timeline.windows] == [2.0 * k for k in range(10)] + [round(272 / 15, 3)]
    assert timeline.windows[-1].end_s == pytest.approx(302 / 15)


def test_truncated_file_is_classified_as_far_as_it_decodes_with_a_warning(classifier, files, caplog):
    with caplog.at_level(logging.WARNING):
        prediction = classifier.predict(files["truncated"], views="4x3")
    assert prediction.num_views == 12
    assert any("truncated: the header promises 150 frames / 5.00 s" in r.getMessage() for r in caplog.records)
    timeline = predict_timeline(classifier, files["truncated"], window_s=0.5, stride_s=0.5, progress=False)
    with open_video(files["truncated"]) as reader:
        decodable = reader.decodable_frames()
    assert (
        timeline.num_frames == decodable and timeline.warning and "classified as far as it decodes" in timeline.warning
    )
    assert timeline.windows[-1].end_s == pytest.approx(decodable / 30, abs=1 / 30)
