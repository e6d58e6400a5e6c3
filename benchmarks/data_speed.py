"""Data pipeline throughput: seek-aware sparse decoding vs decoding every frame of every video.

Generates (once, cached) N Kinetics-like videos: 604x340, 10 s at 30 fps, H.264 with a keyframe every 12 frames,
with a camera pan over a textured background and a moving object (so the encoder produces real P/B-frames).
Then measures clips/s through the real ``VideoDataset`` + ``build_loader`` path for

* train: 8-frame TSN sampling + ``TrainTransform`` (short side 256, RandomResizedCrop, 224x224, jitter, ...)
* test:  4 temporal clips x 3 spatial crops (``EvalTransform(224, 224, 3)``)

each with 1 and 2 DataLoader workers, for our pipeline and for a baseline that decodes the whole video and then
picks the sampled frames. Reports the median of ``--repeats`` timed epochs.

    python3 benchmarks/data_speed.py [--num-videos 8] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from videofocalnet.data.dataset import VideoDataset
from videofocalnet.data.decode import read_all_frames
from videofocalnet.data.loader import build_loader, set_loader_epoch
from videofocalnet.data.transforms import EvalTransform, TrainTransform

WIDTH, HEIGHT, FPS, SECONDS, GOP = 604, 340, 30, 10, 12


def _background(seed: int) -> np.ndarray:
    """Smooth random texture twice the frame width, (H, 2W, 3) uint8."""
    rng = np.random.default_rng(seed)
    low = rng.random((HEIGHT // 20 + 2, WIDTH // 10 + 2, 3)).astype(np.float32)
    t = torch.from_numpy(low).permute(2, 0, 1).unsqueeze(0)  # (h, w, 3) -> (1, 3, h, w)
    big = torch.nn.functional.interpolate(t, size=(HEIGHT, 2 * WIDTH), mode="bicubic", align_corners=False)
    fine = torch.from_numpy(rng.random((1, 3, HEIGHT, 2 * WIDTH)).astype(np.float32)) * 0.15
    img = ((big + fine).clamp(0, 1) * 255).to(torch.uint8)[0].permute(1, 2, 0)  # (1, 3, H, W) -> (H, W, 3)
    return img.contiguous().numpy()


def generate_videos(directory: Path, num_videos: int) -> list[Path]:
    import av
    from tqdm import tqdm

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for v in tqdm(range(num_videos), desc="generating videos", unit="video"):
        path = directory / f"bench_{v:03d}_{WIDTH}x{HEIGHT}_{FPS}fps_g{GOP}.mp4"
        paths.append(path)
        if path.exists() and path.stat().st_size > 0:
            continue
        tmp = path.with_suffix(".tmp.mp4")
        bg = _background(v)
        container = av.open(str(tmp), "w")
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = GOP
        stream.options = {"preset": "veryfast", "crf": "23"}
        n = FPS * SECONDS
        for i in range(n):
            x = int((WIDTH - 1) * i / n)  # pan across the texture
            frame = bg[:, x : x + WIDTH].copy()
            cy = int(HEIGHT / 2 + HEIGHT / 3 * np.sin(2 * np.pi * i / 90))
            cx = int(WIDTH * (i % 150) / 150)
            frame[max(cy - 30, 0) : cy + 30, max(cx - 30, 0) : cx + 30] = (230, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        os.replace(tmp, path)
    return paths


class WholeDecodeDataset(VideoDataset):
    """Baseline: decode every frame, then take the sampled ones (what naive loaders do); the rest of the pipeline
    (sampling, transforms, reversal, bad-video handling) is ``VideoDataset``'s own."""

    def _read_views(self, path: Path, g: torch.Generator) -> torch.Tensor:
        everything = read_all_frames(path, backend=self.backend)  # (N, H, W, 3)
        clips = self._clip_indices(everything.shape[0], g)
        frames = everything[[i for clip in clips for i in clip]]
        # (V * T, H, W, 3) -> (V, T, 3, H, W)
        return frames.view(len(clips), self.num_frames, *frames.shape[1:]).permute(0, 1, 4, 2, 3)


def _epoch_rate(loader, epoch: int) -> float:
    set_loader_epoch(loader, epoch)
    start = time.perf_counter()
    clips = 0
    for batch in loader:
        if batch["bad"]:
            raise RuntimeError(f"unreadable benchmark videos: {batch['bad']}")
        clips += batch["video"].shape[0]
    return clips / (time.perf_counter() - start)


def measure(
    datasets: dict[str, VideoDataset], *, workers: int, repeats: int, batch_size: int
) -> dict[str, list[float]]:
    """clips/s of each dataset per epoch. The pipelines' epochs alternate (A B A B ...) so that a change in
    machine load hits both alike; the first epoch of each includes starting its persistent workers (~0.1 s)."""
    loaders = {
        name: build_loader(ds, batch_size=batch_size, train=ds.mode == "train", num_workers=workers)
        for name, ds in datasets.items()
    }
    rates: dict[str, list[float]] = {name: [] for name in loaders}
    for epoch in range(repeats):
        for name, loader in loaders.items():
            rates[name].append(_epoch_rate(loader, epoch))
    return rates


def rgb_conversion_ms(path: Path, *, sizes: tuple[int, ...] = (64, 340), repeats: int = 5) -> dict[int, dict]:
    """Per-frame cost of YUV -> RGB, side by side: PyAV's ``to_ndarray(format="rgb24")``, which builds a fresh
    swscale context per call, against ``decode._frame_to_rgb``, which keeps one per thread. Median of ``repeats``."""
    import av

    from videofocalnet.data.decode import _frame_to_rgb

    out = {}
    with av.open(str(path)) as container:
        frames = [f for _, f in zip(range(16), container.decode(video=0))]
    for short in sizes:
        scaled = [
            f.reformat(width=round(short * f.width / f.height), height=short, format=f.format.name) for f in frames
        ]
        timings: dict[str, list[float]] = {"fresh_context": [], "cached_context": []}
        for _ in range(repeats):
            for name, convert in (
                ("fresh_context", lambda f: f.to_ndarray(format="rgb24")),
                ("cached_context", _frame_to_rgb),
            ):
                start = time.perf_counter()
                for frame in scaled:
                    convert(frame)
                timings[name].append((time.perf_counter() - start) / len(scaled) * 1e3)
        out[short] = {name: statistics.median(values) for name, values in timings.items()}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--pipelines", nargs="+", default=["train", "test"], choices=["train", "test"])
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "videofocalnet" / "bench_videos",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    torch.set_num_threads(1)  # the loader's workers are the parallelism being measured
    paths = generate_videos(args.cache_dir, args.num_videos)
    with tempfile.TemporaryDirectory() as tmp:
        list_file = Path(tmp) / "bench.csv"
        list_file.write_text("".join(f"{p.name},0\n" for p in paths))
        common = dict(list_file=list_file, root=args.cache_dir, num_frames=8, sampling="tsn", seed=0)
        configs = {
            "train": dict(mode="train", train_transform=TrainTransform()),
            "test": dict(
                mode="test",
                num_clips=4,
                num_crops=3,
                eval_transform=EvalTransform(short_side=224, crop=224, num_crops=3),
            ),
        }
        rows = []
        for pipeline in args.pipelines:
            for workers in args.workers:
                row: dict[str, object] = dict(pipeline=pipeline, workers=workers)
                datasets = {
                    "sparse": VideoDataset(**common, **configs[pipeline]),
                    "whole_decode": WholeDecodeDataset(**common, **configs[pipeline]),
                }
                rates = measure(datasets, workers=workers, repeats=args.repeats, batch_size=args.batch_size)
                for name, runs in rates.items():
                    row[f"{name}_clips_per_s"] = statistics.median(runs)
                    row[f"{name}_runs"] = runs
                row["speedup"] = row["sparse_clips_per_s"] / row["whole_decode_clips_per_s"]
                rows.append(row)
                print(
                    f"  {pipeline:5s} workers={workers}: sparse {row['sparse_clips_per_s']:.2f} clips/s, "
                    f"whole-decode {row['whole_decode_clips_per_s']:.2f} clips/s",
                    flush=True,
                )

    print()
    print(
        f"{args.num_videos} videos {WIDTH}x{HEIGHT}, {SECONDS}s @ {FPS} fps, H.264 gop {GOP}; "
        f"median of {args.repeats} epochs; {os.cpu_count()} CPUs"
    )
    header = f"| {'pipeline':<24} | workers | sparse clips/s | whole-decode clips/s | speedup |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        label = "train (TSN 8f, 224)" if r["pipeline"] == "train" else "test (4 clips x 3 crops)"
        print(
            f"| {label:<24} | {r['workers']:>7} | {r['sparse_clips_per_s']:>14.2f} | "
            f"{r['whole_decode_clips_per_s']:>20.2f} | {r['speedup']:>6.2f}x |"
        )
    rgb = rgb_conversion_ms(paths[0])
    print(
        "\nYUV -> RGB per frame (median ms): "
        + "; ".join(
            f"short side {short}: fresh swscale context {r['fresh_context']:.3f}, cached {r['cached_context']:.3f} "
            f"({r['fresh_context'] / r['cached_context']:.0f}x)"
            for short, r in rgb.items()
        )
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                dict(
                    rgb_conversion_ms=rgb,
                    videos=args.num_videos,
                    width=WIDTH,
                    height=HEIGHT,
                    fps=FPS,
                    seconds=SECONDS,
                    gop=GOP,
                    repeats=args.repeats,
                    cpus=os.cpu_count(),
                    torch=torch.__version__,
                    python=platform.python_version(),
                    results=rows,
                ),
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
