"""Video decoding: the only module in videofocalnet that opens video files.

Two sources are supported: container files (decoded with PyAV, or optionally torchcodec) and raw-frame folders
(``img_00001.jpg`` ... as written by the official/mmaction ``extract_frames`` scripts). Every function returns
uint8 RGB frames laid out (T, H, W, 3).

Frames are identified by their *presentation index*: the position of the frame in the decoder's output order.
For container files that index is recovered without decoding by demuxing the packets once and sorting their
timestamps, which makes random access exact for variable frame rate files and for codecs whose packets arrive
out of presentation order (B-frames). Sparse reads (the usual case: 8 frames out of 300) seek to the keyframe
before a wanted frame only when that skips decoding work, so they are several times cheaper than decoding the
whole video.

Every failure (unreadable file, no video stream, a decoder error, a backend error) is raised as
:class:`DecodeError` naming the file and the reason, so a dataset can skip the sample instead of crashing a run.

Decodability, not headers. A truncated download keeps an intact header (an mp4 with its moov atom first promises
every frame), so a reader compares what the header promises (frame count, duration) with what the packets hold,
and :attr:`VideoReader.truncation` names both figures when the file falls short. :func:`probe_video` also decodes
the last group of pictures, so a tail whose packets exist but do not decode is caught too. A reader of a truncated
file treats a decoder error past the cut as the end of the video; what callers do with such a file is their
policy (datasets skip and count it, the classifier uses what decodes and warns).

Time. :attr:`VideoReader.frame_times` gives every frame's presentation time (see ``sampling.FrameTimes``) from the
same packet index, so samplers and timelines work in seconds on dropped-frame and variable-frame-rate files.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from videofocalnet.data.formats import IMAGE_EXTENSIONS
from videofocalnet.data.sampling import FrameTimes

if TYPE_CHECKING:  # PyAV is imported lazily (see _av); its types are only needed for checking
    from av.container import InputContainer
    from av.video.stream import VideoStream

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "DecodeError",
    "DecodedVideoCache",
    "VideoInfo",
    "VideoReader",
    "open_video",
    "probe_video",
    "read_all_frames",
    "read_frames",
]

BACKENDS = ("pyav", "torchcodec")

# A sparse read seeks to the keyframe before the next wanted frame only if that keyframe lies more than this many
# frames past the decoder's current position: below it, flushing the decoder and re-reading from the keyframe
# costs about as much as decoding forward.
SEEK_MIN_SKIP = 4

# A file is truncated when what it holds falls short of what its header promises by more than this fraction (or two
# frames, whichever is more): muxers round durations, and encoders with B-frames may drop a frame at the end.
TRUNCATION_TOLERANCE = 0.02


class DecodeError(RuntimeError):
    """A video (or frame folder) could not be read. ``path`` names the file so callers can skip and report it."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode {self.path}: {reason}")

    def __reduce__(self):  # keep (path, reason) when the error crosses a DataLoader worker boundary
        return (type(self), (self.path, self.reason))


class BackendUnavailableError(ImportError):
    """The requested decoding backend is not installed. Deliberately *not* a DecodeError: it is a setup problem
    that must stop the run, not a bad sample to skip."""


@dataclass(frozen=True)
class VideoInfo:
    """What a file holds. ``num_frames`` and ``duration_s`` are what it really holds (from its packets; for
    :func:`probe_video`, frames that decode); ``promised_*`` are its header's figures (None when the header has
    none) and ``truncation`` says, naming both, when the first fall short of the second."""

    path: str
    num_frames: int
    fps: float
    height: int
    width: int
    codec: str
    duration_s: float | None
    promised_frames: int | None = None
    promised_duration_s: float | None = None
    truncation: str | None = None


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding backend {backend!r}; expected one of {BACKENDS}")


def _natural_key(name: str) -> list[object]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def _list_frame_files(path: Path) -> list[Path]:
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    files.sort(key=lambda p: _natural_key(p.name))
    if not files:
        raise DecodeError(path, f"directory holds no frame images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


# ---------------------------------------------------------------------------------------------------------------
# PyAV
# ---------------------------------------------------------------------------------------------------------------


def _av():
    import av  # imported here so that importing videofocalnet.data stays cheap

    return av


_reformatters = threading.local()


def _frame_to_rgb(frame) -> np.ndarray:
    """(H, W, 3) uint8; swscale converts any pixel format (yuv420p, yuv444p, yuvj422p, gray, 10-bit, ...) to rgb24.

    ``frame.to_ndarray(format="rgb24")`` builds a fresh, multi-threaded swscale context on every call: 1-7 ms per
    64x64 frame here (more when the cores are busy, as they are in training), against 0.01 ms for the conversion
    itself. A reformatter kept per thread caches its context and rebuilds it only when the source format or size
    changes; single-threaded, because DataLoader workers already parallelise decoding and because a context holding
    threads would deadlock in a forked worker. Same bytes out.
    """
    reformatter = getattr(_reformatters, "value", None)
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = _reformatters.value = VideoReformatter()
        _reformatters.kwargs = {"format": "rgb24", "threads": 1}
        try:
            return reformatter.reformat(frame, **_reformatters.kwargs).to_ndarray()
        except TypeError:  # PyAV < 17: no `threads` argument, and its swscale contexts were single-threaded anyway
            _reformatters.kwargs = {"format": "rgb24"}
    return reformatter.reformat(frame, **_reformatters.kwargs).to_ndarray()


def _read_image(path: Path) -> np.ndarray:
    """One JPEG/PNG frame through PyAV's image demuxer, so that frame folders need no extra image library."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DecodeError(path, "image file holds no picture")
            for frame in container.decode(video=0):
                return _frame_to_rgb(frame)
    except DecodeError:
        raise
    except Exception as exc:  # PyAV raises many FFmpegError subclasses plus OSError/ValueError
        raise DecodeError(path, f"unreadable frame image ({type(exc).__name__}: {exc})") from exc
    raise DecodeError(path, "image file decoded to no picture")


class VideoReader:
    """An opened video (container file or frame folder) that can serve several reads.

    The dataset uses it to learn the frame count and read the sampled frames with one open and one demux pass;
    the module-level functions are thin wrappers around it.
    """

    def __init__(self, path: str | os.PathLike[str], *, backend: str = "pyav") -> None:
        _check_backend(backend)
        self.path = Path(path)
        self.backend = backend
        self._container: InputContainer | None = None
        self._stream: VideoStream | None = None
        self._tc_decoder = None
        self._frame_files: list[Path] | None = None
        # Packet index (PyAV): presentation timestamps sorted ascending (position == frame index), and the frame
        # indices of keyframes ascending.
        self._pts: list[int] | None = None
        self._pts_to_index: dict[int, int] | None = None
        self._keyframes: list[int] = []
        self._end_pts: int | None = None  # where the last frame stops showing, in stream time-base units
        self._packet_count = 0
        self.truncation: str | None = None  # set by _open_pyav when the file holds less than its header promises
        self._open()

    # -- opening ---------------------------------------------------------------------------------------------------

    def _open(self) -> None:
        path = self.path
        if path.is_dir():
            self._frame_files = _list_frame_files(path)
            return
        if not path.exists():
            raise DecodeError(path, "file does not exist")
        if path.stat().st_size == 0:
            raise DecodeError(path, "file is empty (0 bytes)")
        if self.backend == "torchcodec":
            self._open_torchcodec()
        else:
            self._open_pyav()

    def _open_pyav(self) -> None:
        av = _av()
        try:
            container = self._container = av.open(str(self.path), metadata_errors="ignore")
        except Exception as exc:
            raise DecodeError(self.path, f"not a readable media file ({type(exc).__name__}: {exc})") from exc
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            self.close()
            raise DecodeError(self.path, f"no video stream (streams: {', '.join(kinds)})")
        stream = self._stream = container.streams.video[0]
        if stream.codec_context is None or stream.codec_context.name is None:
            self.close()
            raise DecodeError(self.path, "video stream has no decodable codec")
        # One decoding thread, for the reason the RGB conversion has one (see _frame_to_rgb): PyAV's default slice
        # threading starts a thread pool per opened video, 1.82 ms against 1.49 ms for a 16-frame 64-px clip.
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        self._build_packet_index()
        self.truncation = self._header_shortfall()

    def _build_packet_index(self) -> None:
        """Demux every packet once (no decoding) to map presentation timestamps to frame indices."""
        container, stream = self._pyav
        pts_values: list[int] = []
        key_pts: list[int] = []
        durations: dict[int, int] = {}
        usable = True
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the flushing packet at EOF (and an AVI's dropped-frame slots)
                    continue
                if packet.pts is None:
                    usable = False
                    continue
                pts_values.append(packet.pts)
                durations[packet.pts] = int(packet.duration or 0)
                if packet.is_keyframe:
                    key_pts.append(packet.pts)
        except Exception as exc:
            raise DecodeError(self.path, f"corrupt container ({type(exc).__name__}: {exc})") from exc
        if not pts_values and usable:
            raise DecodeError(self.path, "video stream holds no packets")
        unique = sorted(set(pts_values))
        if usable and len(unique) == len(pts_values):
            self._pts = unique
            self._pts_to_index = {p: i for i, p in enumerate(unique)}
            self._keyframes = sorted(self._pts_to_index[p] for p in key_pts)
            gaps = sorted(b - a for a, b in zip(unique, unique[1:]))
            last = durations.get(unique[-1], 0) or (gaps[len(gaps) // 2] if gaps else 0)
            self._end_pts = unique[-1] + max(last, 1)
            if stream.duration and stream.start_time is not None:
                # With B-frames, packet durations follow decode order; the stream's own end, when it falls inside
                # the last frame's span, is the exact one (a truncated file's promised end lies far beyond it).
                promised_end = stream.start_time + stream.duration
                if unique[-1] < promised_end < self._end_pts:
                    self._end_pts = promised_end
        else:
            # Missing or duplicated timestamps: frames can only be identified by counting decoder output.
            self._pts = None
            self._pts_to_index = None
            self._packet_count = len(pts_values)
        self._rewind()

    @property
    def _pyav(self) -> tuple[InputContainer, VideoStream]:
        """The open PyAV container and its video stream. Only a container file opened with backend='pyav' has them,
        and only until ``close``: reading a closed reader is a caller's bug, not a bad sample, hence no DecodeError."""
        if self._container is None or self._stream is None:
            raise ValueError(f"VideoReader for {self.path} is closed (or holds no PyAV container)")
        return self._container, self._stream

    def _rewind(self) -> None:
        container, stream = self._pyav
        try:
            container.seek(0, backward=True, any_frame=False, stream=stream)
        except Exception:
            # Some containers refuse to seek; reopening is always possible.
            container.close()
            container = self._container = _av().open(str(self.path), metadata_errors="ignore")
            self._stream = container.streams.video[0]

    def _open_torchcodec(self) -> None:
        try:
            from torchcodec.decoders import VideoDecoder
        except ImportError as exc:
            raise BackendUnavailableError(
                "backend='torchcodec' needs the torchcodec package: "
                "pip install -c constraints.txt 'videofocalnet[torchcodec]' (or use backend='pyav')"
            ) from exc
        try:
            self._tc_decoder = VideoDecoder(str(self.path), dimension_order="NHWC", seek_mode="exact")
        except Exception as exc:
            raise DecodeError(self.path, f"torchcodec cannot open it ({type(exc).__name__}: {exc})") from exc

    # -- metadata --------------------------------------------------------------------------------------------------

    def _nominal_rate(self) -> float:
        """The stream's own frame rate (average, else guessed); 0 when it has none."""
        _, stream = self._pyav
        return float(stream.average_rate or stream.guessed_rate or 0.0)

    @functools.cached_property
    def frame_times(self) -> FrameTimes | None:
        """Presentation time of every frame, from the packet index; None for frame folders (their rate is the
        caller's), for torchcodec, and for files whose timestamps are missing or repeated (then frames can only be
        counted, and index-based sampling is all there is)."""
        if self._pts is None or self._end_pts is None or self._stream is None or self._stream.time_base is None:
            return None
        base, first = float(self._stream.time_base), self._pts[0]
        times = tuple((p - first) * base for p in self._pts)
        end = (self._end_pts - first) * base
        rate = self._nominal_rate()
        if not rate > 0 or rate * end > 50 * (len(times) + 1):  # no rate, or a time-base-derived one (1000 fps)
            rate = len(times) / end
        return FrameTimes(times, end, rate)

    def _promised(self) -> tuple[int | None, float | None]:
        """(frames, seconds) the header promises: the video stream's own figures, or the container's duration when
        the video is its only stream (an audio track may run longer than the picture)."""
        container, stream = self._pyav
        frames = int(stream.frames or 0) or None
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None and len(container.streams) == 1:
            duration = container.duration / 1_000_000
        return frames, (duration if duration and duration > 0 else None)

    def _header_shortfall(self, decodable: int | None = None) -> str | None:
        """Why this file is truncated (both figures), or None. Without a duration to compare, frame counts decide;
        with one, a frame deficit alone means dropped-frame slots (AVI) or VFR, not truncation."""
        frames, duration = self._promised()
        times = self.frame_times
        held_frames = self.num_frames if decodable is None else decodable
        held_s = None
        if times is not None:
            held_s = times.end_s if held_frames >= times.num_frames else times.times[max(held_frames, 0)]
        rate = times.rate if times is not None else self._nominal_rate()
        short = False
        if duration is not None and held_s is not None:
            slack = max(2.0 / rate if rate > 0 else 0.0, TRUNCATION_TOLERANCE * duration)
            short = held_s < duration - slack
        elif frames is not None:
            short = held_frames < frames - max(2.0, TRUNCATION_TOLERANCE * frames)
        if decodable is not None and decodable < self.num_frames - max(2.0, TRUNCATION_TOLERANCE * self.num_frames):
            short = True
        if not short:
            return None
        promise = " / ".join(x for x in (f"{frames} frames" if frames else "", _seconds(duration)) if x)
        what = "frames" if decodable is None else "decodable frames"
        holds = " / ".join(x for x in (f"{held_frames} {what}", _seconds(held_s)) if x)
        stored = f" ({self.num_frames} stored)" if decodable is not None and decodable < self.num_frames else ""
        return f"truncated: the header promises {promise or 'more'}, the file holds {holds}{stored}"

    def what_decodes(self) -> tuple[int, FrameTimes | None]:
        """``(frames, their times)`` to sample from: all of an intact file, the decodable head of a truncated one
        (``truncation`` says so; the caller decides whether to use it, and must say that it did)."""
        times = self.frame_times
        if self.truncation is None:
            return self.num_frames, times
        n = self.decodable_frames()
        self.truncation = self._header_shortfall(n) or self.truncation  # name what decodes, not what is stored
        if n < 1:
            raise DecodeError(self.path, f"{self.truncation}, and none of its frames decode")
        return n, (times.head(min(n, times.num_frames)) if times is not None else None)

    def decodable_frames(self) -> int:
        """Frames that really decode: the packets up to the last one whose picture comes out of the decoder. Decodes
        only the last group of pictures (earlier ones when that yields nothing), not the whole file."""
        if self._frame_files is not None or self._tc_decoder is not None:
            return self.num_frames
        return self._tail_decodable

    @functools.cached_property
    def _tail_decodable(self) -> int:
        if self._pts is None or self._pts_to_index is None:
            count = 0
            try:
                for _frame in self._decode_sequential(None):
                    count += 1
            except DecodeError:
                pass
            return count
        for key in reversed(self._keyframes or [0]):
            last = -1
            try:
                for frame in self._seek_decoder(key, tolerant=True):
                    index = self._pts_to_index.get(frame.pts) if frame.pts is not None else None
                    last = max(last, index if index is not None else -1)
            except DecodeError:
                pass
            if last >= 0:
                return last + 1
        return 0

    @property
    def num_frames(self) -> int:
        """Frames the file really holds (packet count), not what the container header claims."""
        if self._frame_files is not None:
            return len(self._frame_files)
        if self._tc_decoder is not None:
            return int(self._tc_decoder.metadata.num_frames)
        if self._pts is not None:
            return len(self._pts)
        return self._packet_count

    def info(self) -> VideoInfo:
        """Metadata from the header and the packet index (nothing is decoded); see :func:`probe_video`."""
        if self._frame_files is not None:
            first = _read_image(self._frame_files[0])
            codec = self._frame_files[0].suffix.lower().lstrip(".")
            return VideoInfo(
                str(self.path), len(self._frame_files), 0.0, first.shape[0], first.shape[1], f"frames/{codec}", None
            )
        if self._tc_decoder is not None:
            md = self._tc_decoder.metadata
            return VideoInfo(
                str(self.path),
                int(md.num_frames),
                float(md.average_fps or 0.0),
                int(md.height),
                int(md.width),
                str(md.codec),
                md.duration_seconds,
            )
        container, stream = self._pyav
        fps = self._nominal_rate()
        frames, promised_s = self._promised()
        times = self.frame_times
        duration = times.end_s if times is not None else promised_s
        if duration is None and container.duration is not None:
            duration = container.duration / 1_000_000
        return VideoInfo(
            str(self.path),
            self.num_frames,
            fps,
            int(stream.codec_context.height),
            int(stream.codec_context.width),
            str(stream.codec_context.name),
            duration,
            frames,
            promised_s,
            self.truncation,
        )

    # -- reading ---------------------------------------------------------------------------------------------------

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 (len(indices), H, W, 3) in the order of ``indices``; repeats allowed; indices past the real end
        are clamped to the last frame."""
        idx = [int(i) for i in indices]
        if any(i < 0 for i in idx):
            raise ValueError(f"frame indices must be >= 0, got {min(idx)} for {self.path}")
        if not idx:
            raise ValueError(f"no frame indices requested for {self.path}")
        n = self.num_frames
        if n <= 0:
            raise DecodeError(self.path, "video holds no frames")
        clamped = [min(i, n - 1) for i in idx]
        if self._frame_files is not None:
            cache = {i: _read_image(self._frame_files[i]) for i in sorted(set(clamped))}
            shapes = {a.shape for a in cache.values()}
            if len(shapes) > 1:
                raise DecodeError(self.path, f"frame images differ in size: {sorted(shapes)}")
            return torch.from_numpy(np.stack([cache[i] for i in clamped]))
        if self._tc_decoder is not None:
            try:
                return self._tc_decoder.get_frames_at(indices=clamped).data.contiguous()
            except Exception as exc:
                raise DecodeError(self.path, f"torchcodec failed ({type(exc).__name__}: {exc})") from exc
        frames = self._read_pyav(sorted(set(clamped)))
        return torch.from_numpy(np.stack([frames[i] for i in clamped]))

    def read_all(self) -> torch.Tensor:
        if self._frame_files is not None or self._tc_decoder is not None:
            return self.read(range(self.num_frames))
        frames = list(self._decode_sequential(None))
        if not frames:
            raise DecodeError(self.path, "decoder produced no frames")
        return torch.from_numpy(np.stack(frames))

    def _decoded(self, tolerant: bool = False) -> Iterator:
        """Decoded frames from the current position; decoder failures become DecodeError, except in a truncated
        file (or when ``tolerant``), where the cut packet ends the video: what decodes before it is the video."""
        container, stream = self._pyav
        try:
            yield from container.decode(stream)
        except Exception as exc:
            if tolerant or self.truncation is not None:
                return
            raise DecodeError(self.path, f"decoder error ({type(exc).__name__}: {exc})") from exc

    def _decode_sequential(self, wanted: set[int] | None) -> Iterator[np.ndarray]:
        """Decode from the start counting output frames; yields only frames whose count is in ``wanted``
        (all of them when None) and stops after the last wanted one."""
        self._rewind()
        last = max(wanted) if wanted else None
        for count, frame in enumerate(self._decoded()):
            if wanted is None or count in wanted:
                yield _frame_to_rgb(frame)
            if last is not None and count >= last:
                return

    def _read_pyav(self, wanted: list[int]) -> dict[int, np.ndarray]:
        """Frames at sorted unique ``wanted`` indices, keyed by index."""
        out: dict[int, np.ndarray] = {}
        if self._pts is None or self._pts_to_index is None:  # set together by _build_packet_index
            last_frame = None
            wanted_set = set(wanted)
            count = -1
            self._rewind()
            for count, frame in enumerate(self._decoded()):
                last_frame = frame
                if count in wanted_set:
                    out[count] = _frame_to_rgb(frame)
                if count >= wanted[-1]:
                    break
            return self._fill_missing(out, wanted, last_frame)

        pts_to_index = self._pts_to_index
        wanted_set = set(wanted)
        decoder: Iterator | None = None
        position = -1  # index of the last frame the decoder produced
        last_frame = None
        for target in wanted:
            if target in out:
                continue
            k = bisect.bisect_right(self._keyframes, target) - 1
            keyframe = self._keyframes[k] if k >= 0 else 0
            if decoder is None or target <= position or keyframe > position + SEEK_MIN_SKIP:
                decoder = self._seek_decoder(keyframe)
                position = -1
            reached = False
            for frame in decoder:
                index = pts_to_index.get(frame.pts) if frame.pts is not None else None
                if index is None:
                    continue
                position = index
                last_frame = frame
                if index in wanted_set and index not in out:
                    out[index] = _frame_to_rgb(frame)
                if index >= target:
                    reached = True
                    break
            if not reached:
                break  # end of stream: everything still missing is clamped to the last decoded frame
        return self._fill_missing(out, wanted, last_frame)

    def _seek_decoder(self, keyframe_index: int, tolerant: bool = False) -> Iterator:
        if keyframe_index <= 0:
            self._rewind()
        else:
            container, stream = self._pyav
            assert self._pts is not None, "keyframes past 0 exist only with a packet index"
            try:
                container.seek(self._pts[keyframe_index], backward=True, any_frame=False, stream=stream)
            except Exception as exc:
                raise DecodeError(self.path, f"seek failed ({type(exc).__name__}: {exc})") from exc
        return self._decoded(tolerant)

    def _fill_missing(self, out: dict[int, np.ndarray], wanted: list[int], last_frame) -> dict[int, np.ndarray]:
        missing = [i for i in wanted if i not in out]
        if not missing:
            return out
        if last_frame is None and not out:
            raise DecodeError(self.path, "decoder produced no frames")
        # Header or index over-counted the frames (truncated tail, undecodable last packets): clamp to the
        # nearest earlier decoded frame.
        fallback = _frame_to_rgb(last_frame) if last_frame is not None else None
        for i in missing:
            earlier = [j for j in out if j < i]
            out[i] = out[max(earlier)] if earlier else (fallback if fallback is not None else out[min(out)])
        return out

    # -- lifetime --------------------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._tc_decoder = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_video(path: str | os.PathLike[str], *, backend: str = "pyav") -> VideoReader:
    """Open once, read several times: ``with open_video(p) as v: frames = v.read(sample(v.num_frames))``."""
    return VideoReader(path, backend=backend)


def probe_video(path: str | os.PathLike[str], *, backend: str = "pyav") -> VideoInfo:
    """Metadata of a video file or frame folder, from what the file holds rather than what its header says.

    ``num_frames`` counts the packets that decode (the last group of pictures is decoded to check); a file that
    holds less than its header promises has ``truncation`` set, naming both figures (``check-data`` reports it).
    """
    with VideoReader(path, backend=backend) as reader:
        info = reader.info()
        if reader._container is None:  # frame folder or torchcodec: nothing more to check
            return info
        decodable = reader.decodable_frames()
        truncation = reader._header_shortfall(decodable)
        duration = info.duration_s
        times = reader.frame_times
        if times is not None and 0 < decodable < times.num_frames:
            duration = times.times[decodable]
        return dataclasses.replace(info, num_frames=decodable, duration_s=duration, truncation=truncation)


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else ""


def read_frames(path: str | os.PathLike[str], indices: Sequence[int], *, backend: str = "pyav") -> torch.Tensor:
    """uint8 (len(indices), H, W, 3) RGB frames at the given presentation indices, in the order given."""
    with VideoReader(path, backend=backend) as reader:
        return reader.read(indices)


def read_all_frames(path: str | os.PathLike[str], *, backend: str = "pyav") -> torch.Tensor:
    """Every frame, uint8 (T, H, W, 3) RGB, decoded front to back."""
    with VideoReader(path, backend=backend) as reader:
        return reader.read_all()


class DecodedVideoCache:
    """Whole decoded videos kept in memory, up to a byte budget, for datasets small enough to hold.

    Why: on a few CPU cores a small clip model trains faster than its videos decode; once every video has been read
    (the first epoch), later epochs only index frames. Frames are those of a plain read: ``frames(path)[i]`` equals
    ``VideoReader.read([i])[0]``, so a run with the cache sees exactly the clips it would see without it. Nothing is
    evicted: when the next video does not fit, the cache stops growing and the caller reads sparsely as usual (a
    dataset larger than the budget keeps a fixed, already-paid-for part in memory instead of churning). The cache is
    per process: each DataLoader worker fills its own copy.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.bytes = 0
        self.full = max_bytes == 0
        self._videos: dict[str, tuple[int, torch.Tensor]] = {}
        self._times: dict[str, FrameTimes | None] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._videos)

    def get(self, path: str | os.PathLike[str]) -> tuple[int, torch.Tensor] | None:
        """``(num_frames, frames)`` for a cached video: the reader's frame count (what samplers index) and the
        decoded uint8 (N, H, W, 3) frames; an index past ``N - 1`` means the last frame, as in ``VideoReader.read``."""
        return self._videos.get(str(path))

    def times(self, path: str | os.PathLike[str]) -> FrameTimes | None:
        """The cached video's ``VideoReader.frame_times``, so a cached read samples the frames a plain one would."""
        return self._times.get(str(path))

    def load(self, reader: VideoReader) -> tuple[int, torch.Tensor] | None:
        """Decode the whole video behind ``reader`` and keep it, or return None (reading nothing) when full."""
        if self.full:
            return None
        num_frames = reader.num_frames
        if num_frames <= 0:
            raise DecodeError(reader.path, "video holds no frames")
        frames = reader.read_all()
        size = frames.numel() * frames.element_size()
        with self._lock:
            if self.bytes + size > self.max_bytes:
                self.full = True
            else:
                self._videos[str(reader.path)] = (num_frames, frames)
                self._times[str(reader.path)] = reader.frame_times
                self.bytes += size
        return num_frames, frames
