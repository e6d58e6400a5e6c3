"""Real video files that lie about themselves, written with PyAV for the time and truncation tests.

Each is a case met with real downloads and cameras: a truncated mp4 whose moov atom (written first) still promises
every frame, an AVI whose header over-counts its frames, an AVI with dropped-frame slots (timestamps with gaps), and
a variable-frame-rate mp4. Frame ``k`` carries ``k`` in its pixels (three stripes of base-16 digits, which survive
lossy coding), so a test can tell which frame a read returned.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch


def index_frame(index: int, size: int, noise_rows: int = 0, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8 whose stripes encode ``index``; ``noise_rows`` of random pixels on top make packets big
    (a cut then falls inside the stream, not in its last few bytes)."""
    img = np.zeros((size, size, 3), np.uint8)
    digits = [(index // 256) % 16, (index // 16) % 16, index % 16]
    edges = np.linspace(0, size, 4).astype(int)
    for d, x0, x1 in zip(digits, edges[:-1], edges[1:]):
        img[:, x0:x1] = 16 * d + 8
    if noise_rows:
        img[:noise_rows] = np.random.default_rng(seed + index).integers(0, 256, (noise_rows, size, 3), dtype=np.uint8)
    return img


def frame_indices(frames: torch.Tensor, noise_rows: int = 0) -> list[int]:
    """The indices :func:`index_frame` wrote into (N, H, W, 3) uint8 frames."""
    _, h, w, _ = frames.shape
    edges = np.linspace(0, w, 4).astype(int)
    top = max(noise_rows, h // 4)
    out = []
    for f in frames.float().mean(dim=-1):
        digits = []
        for x0, x1 in zip(edges[:-1], edges[1:]):
            inner = f[top : 3 * h // 4 + noise_rows // 2, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4]
            digits.append(int(round((float(inner.median()) - 8) / 16)))
        out.append(digits[0] * 256 + digits[1] * 16 + digits[2])
    return out


def _encode(container, stream, images: Sequence[np.ndarray], pts: Sequence[int] | None = None) -> None:
    for k, img in enumerate(images):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        if pts is not None:
            frame.pts = int(pts[k])
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def truncated_mp4(path: Path, *, num_frames: int = 150, rate: int = 30, keep: float = 0.3) -> Path:
    """An H.264 mp4 with its moov atom first (``movflags=faststart``, as streaming sites serve them), cut after
    ``keep`` of its bytes: the header still promises ``num_frames`` frames and ``num_frames / rate`` seconds."""
    full = path.with_name(path.stem + ".full.mp4")
    container = av.open(str(full), "w", options={"movflags": "faststart"})
    stream = container.add_stream("libx264", rate=rate)
    stream.width = stream.height = 64
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = rate
    _encode(container, stream, [index_frame(i, 64, noise_rows=16) for i in range(num_frames)])
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def overcounting_avi(path: Path, *, num_frames: int = 40, claimed: int = 100, rate: int = 25) -> Path:
    """An MPEG-4 AVI of ``num_frames`` frames whose avih/strh headers claim ``claimed`` frames (a muxer that died
    before fixing its header up, or a hand-edited file)."""
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=rate)
    stream.width = stream.height = 48
    stream.pix_fmt = "yuv420p"
    _encode(container, stream, [index_frame(i, 48) for i in range(num_frames)])
    data = bytearray(path.read_bytes())
    avih = data.index(b"avih") + 8
    struct.pack_into("<I", data, avih + 16, claimed)  # dwTotalFrames
    strh = data.index(b"strh") + 8
    assert data[strh : strh + 4] == b"vids"
    struct.pack_into("<I", data, strh + 32, claimed)  # dwLength of the video stream
    path.write_bytes(bytes(data))
    return path


def dropped_frame_avi(path: Path, slots: Sequence[int], *, rate: int = 15) -> Path:
    """An AVI at ``rate`` fps in which frame ``k`` sits in slot ``slots[k]``: the slots between are dropped frames
    (a capture card that could not keep up), so the header counts ``slots[-1] + 1`` frames for ``len(slots)``."""
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=rate)
    stream.width = stream.height = 48
    stream.pix_fmt = "yuv420p"
    _encode(container, stream, [index_frame(k, 48) for k in range(len(slots))], pts=slots)
    return path


def vfr_mp4(path: Path, pts_ms: Sequence[int]) -> Path:
    """An H.264 mp4 whose frame ``k`` is shown at ``pts_ms[k]`` milliseconds (a phone's variable frame rate)."""
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width = stream.height = 48
    stream.pix_fmt = "yuv420p"
    stream.time_base = Fraction(1, 1000)
    stream.codec_context.time_base = Fraction(1, 1000)
    stream.codec_context.gop_size = 8
    _encode(container, stream, [index_frame(k, 48) for k in range(len(pts_ms))], pts=pts_ms)
    return path


def vfr_pts_ms(num_frames: int = 40) -> list[int]:
    """A phone in changing light: the first half of the frames at 30 fps (33 ms apart), the rest at 5 fps (200 ms),
    so equal frame counts are very unequal stretches of time."""
    fast = num_frames // 2
    return [33 * k for k in range(fast)] + [33 * (fast - 1) + 200 * (k + 1) for k in range(num_frames - fast)]


# Slots of a dropped-frame AVI: 20 frames over 302 slots of 1/15 s, clustered and with long gaps.
DROPPED_SLOTS = (0, 1, 2, 10, 11, 30, 31, 32, 60, 90, 91, 120, 150, 151, 152, 200, 201, 250, 300, 301)
