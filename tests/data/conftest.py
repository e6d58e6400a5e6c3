"""Fixtures that write real videos through PyAV's encoders.

Every frame carries its own index in its pixels: three vertical stripes hold the base-16 digits of the index
(stripe value ``16 * digit + 8``), which survives lossy coding, so tests can check that the *right* frame came
back, not just a frame of the right shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch


def pattern_frame(index: int, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 frame whose three vertical stripes encode ``index`` in base 16 (most significant left)."""
    img = np.zeros((height, width, 3), np.uint8)
    digits = [(index // 256) % 16, (index // 16) % 16, index % 16]
    edges = np.linspace(0, width, 4).astype(int)
    for d, x0, x1 in zip(digits, edges[:-1], edges[1:]):
        img[:, x0:x1] = 16 * d + 8
    return img


def decode_pattern(frames: torch.Tensor) -> list[int]:
    """Frame indices encoded by :func:`pattern_frame`, from (N, H, W, 3) uint8 frames."""
    n, h, w, _ = frames.shape
    edges = np.linspace(0, w, 4).astype(int)
    out = []
    for f in frames.float().mean(dim=-1):  # (H, W) grey level
        digits = []
        for x0, x1 in zip(edges[:-1], edges[1:]):
            # stripe interior only: chroma subsampling and ringing blur the borders
            inner = f[h // 4 : 3 * h // 4, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4]
            digits.append(int(round((float(inner.median()) - 8) / 16)))
        out.append(digits[0] * 256 + digits[1] * 16 + digits[2])
    return out


def write_video(
    path: Path,
    *,
    codec: str = "libx264",
    num_frames: int = 16,
    width: int = 32,
    height: int = 32,
    pix_fmt: str = "yuv420p",
    rate: int = 25,
    gop: int | None = None,
    pts_ms: Sequence[int] | None = None,
    frame_fn: Callable[[int, int, int], np.ndarray] = pattern_frame,
) -> Path:
    """Encode ``num_frames`` pattern frames; ``pts_ms`` gives explicit millisecond timestamps (VFR)."""
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    if gop is not None:
        stream.codec_context.gop_size = gop
    if pts_ms is not None:
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
    for i in range(num_frames):
        frame = av.VideoFrame.from_ndarray(frame_fn(i, height, width), format="rgb24")
        if pts_ms is not None:
            frame.pts, frame.time_base = int(pts_ms[i]), Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    def _make(name: str = "clip.mp4", **kwargs) -> Path:
        return write_video(tmp_path / name, **kwargs)

    return _make


@pytest.fixture
def pattern() -> Callable[[torch.Tensor], list[int]]:
    return decode_pattern


@pytest.fixture
def video_dataset_dir(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """A root with ``n`` small videos (32x32, 16 frames, label ``i % 3``) and an official ``path,label`` list;
    ``bad`` names indices to replace by corrupt files."""

    def _make(n: int = 6, bad: Sequence[int] = (), num_frames: int = 16, size: int = 32) -> tuple[Path, Path]:
        root = tmp_path / "videos"
        root.mkdir(exist_ok=True)
        lines = []
        for i in range(n):
            rel = f"class{i % 3}/v{i:03d}.mp4"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            if i in bad:
                (root / rel).write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
            else:
                write_video(root / rel, num_frames=num_frames, width=size, height=size)
            lines.append(f"{rel},{i % 3}")
        list_file = tmp_path / "train.csv"
        list_file.write_text("\n".join(lines) + "\n")
        return root, list_file

    return _make


@pytest.fixture
def make_frame_folder(tmp_path: Path) -> Callable[..., Path]:
    """A raw-frame folder ``img_00001.<ext>`` ... of pattern frames (48x32), written with PyAV's image2 muxer."""

    def _make(num_frames: int = 12, ext: str = "jpg", name: str = "frames") -> Path:
        folder = tmp_path / name
        folder.mkdir(parents=True)
        for i in range(num_frames):
            img = av.VideoFrame.from_ndarray(pattern_frame(i, 32, 48), format="rgb24")
            out = av.open(str(folder / f"img_{i + 1:05d}.{ext}"), "w", format="image2")
            stream = out.add_stream("png" if ext == "png" else "mjpeg", rate=1)
            stream.width, stream.height = 48, 32
            stream.pix_fmt = "rgb24" if ext == "png" else "yuvj444p"
            for packet in stream.encode(img.reformat(format=stream.pix_fmt)):
                out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
            out.close()
        return folder

    return _make
