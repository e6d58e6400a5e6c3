"""``videofocalnet predict PATH... --checkpoint CKPT``: top-k classes per video, or a timeline of predictions.

Folders expand to the videos under them (with a progress bar). With ``--window``/``--stride`` (seconds) every
video gets a timeline written as ``<stem>.timeline.{json,csv,png}`` in ``--out-dir``, under the video's folder
relative to the inputs' common folder (``a/clip.mp4`` and ``b/clip.mp4`` write ``a/clip.timeline.*`` and
``b/clip.timeline.*``); inputs that would still write the same file (``clip.mp4`` beside ``clip.avi``) are refused
before any work.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="video files, frame folders, or folders of videos")
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="our .safetensors / last.pt, a released .pth, a URL, an hf-hub: id or a zoo name (weights list)",
    )
    parser.add_argument(
        "--labels",
        default=None,
        help="label list (id,name CSV or one name per line); overrides the names stored in the checkpoint",
    )
    parser.add_argument("--views", default="1x1", help="CLIPSxCROPS test views, softmax averaged (official: 4x3)")
    parser.add_argument("--topk", type=int, default=5, help="classes to report per video")
    parser.add_argument("--json", default=None, metavar="FILE", help="write all results as JSON")
    parser.add_argument("--csv", default=None, metavar="FILE", help="write results as CSV (one row per rank)")
    parser.add_argument("--window", type=float, default=None, metavar="SECONDS", help="timeline window length")
    parser.add_argument(
        "--stride", type=float, default=None, metavar="SECONDS", help="timeline stride (default: the window length)"
    )
    parser.add_argument("--fps", type=float, default=None, help="frame rate for frame folders in timeline mode")
    parser.add_argument("--out-dir", default="timelines", help="where timeline JSON/CSV/PNG files go")
    parser.add_argument("--batch-size", type=int, default=8, help="views per forward pass")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _print_prediction(path: str, topk: list[tuple[str, float]]) -> None:
    print(path)
    for name, prob in topk:
        print(f"  {prob:7.4f}  {name}")


def timeline_stems(paths: list[Path]) -> list[Path]:
    """Output stem (relative to --out-dir) of each input's timeline: its folder relative to the common folder of
    all inputs, plus ``<name before the first dot>.timeline``. Raises ValueError naming both inputs when two would
    write the same files, because one timeline would silently replace the other."""
    parents = [Path(os.path.abspath(p)).parent for p in paths]
    base = Path(os.path.commonpath(parents)) if parents else Path()
    stems: list[Path] = []
    owner: dict[Path, Path] = {}
    for path, parent in zip(paths, parents):
        stem = parent.relative_to(base) / f"{Path(path).name.split('.')[0]}.timeline"
        if stem in owner:
            raise ValueError(
                f"{owner[stem]} and {path} would both write {stem}.json: rename one, or predict them separately "
                "with different --out-dir"
            )
        owner[stem] = path
        stems.append(stem)
    return stems


def run(args: argparse.Namespace) -> int:
    from videofocalnet.cli._checks import check_device, check_positive, check_writable_dir, check_writable_file
    from videofocalnet.data.sampling import parse_views
    from videofocalnet.inference.classifier import VideoClassifier, expand_video_paths

    check_positive(args.batch_size, "--batch-size")
    check_positive(args.topk, "--topk")
    check_device(args.device)
    check_writable_file(args.json, "--json")
    check_writable_file(args.csv, "--csv")
    if args.window is not None:
        check_writable_dir(args.out_dir, "--out-dir")
    if args.stride is not None and args.window is None:
        print("error: --stride needs --window", file=sys.stderr)
        return 2
    try:
        parse_views(args.views)
        paths = expand_video_paths(args.paths)
        if args.window is not None:
            timeline_stems(paths)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    classifier = VideoClassifier.from_checkpoint(
        args.checkpoint, labels=args.labels, device=args.device, batch_size=args.batch_size
    )
    predict = _predict_timelines if args.window is not None else _predict_clips
    results, errors = predict(classifier, paths, args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {"checkpoint": str(args.checkpoint), "views": args.views, "results": results, "errors": errors},
                indent=2,
            )
            + "\n"
        )
    if args.csv:
        _write_csv(Path(args.csv), results, timeline=args.window is not None)
    if errors:
        print(f"{len(errors)} of {len(paths)} videos failed", file=sys.stderr)
        return 1
    return 0


def _predict_clips(classifier, paths: list, args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """One prediction per video (views averaged) -> (results, errors)."""
    results: list[dict] = []
    errors: list[dict] = []
    for path, pred in zip(
        paths, classifier.predict_many(paths, views=args.views, topk=args.topk, progress=not args.no_progress)
    ):
        if isinstance(pred, Exception):
            errors.append({"path": str(path), "error": str(pred)})
            print(f"error: {pred}", file=sys.stderr)
            continue
        _print_prediction(str(path), pred.topk)
        results.append(pred.to_dict())
    return results, errors


def _predict_timelines(classifier, paths: list, args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """A timeline of windows per video, written as JSON, CSV and a plot under --out-dir -> (results, errors)."""
    from tqdm.auto import tqdm

    from videofocalnet.data.decode import DecodeError
    from videofocalnet.inference.timeline import predict_timeline

    results: list[dict] = []
    errors: list[dict] = []
    progress = not args.no_progress
    out_dir = Path(args.out_dir)
    stride = args.window if args.stride is None else args.stride
    stems = timeline_stems(paths)
    for path, stem in zip(tqdm(paths, desc="predict", unit="video", disable=not progress or len(paths) < 2), stems):
        try:
            timeline = predict_timeline(
                classifier,
                path,
                window_s=args.window,
                stride_s=stride,
                views=args.views,
                topk=args.topk,
                fps=args.fps,
                progress=progress,
            )
        except (DecodeError, ValueError) as exc:
            errors.append({"path": str(path), "error": str(exc)})
            print(f"error: {exc}", file=sys.stderr)
            continue
        target = out_dir / stem
        files = {
            "json": str(timeline.write_json(target.with_name(f"{stem.name}.json"))),
            "csv": str(timeline.write_csv(target.with_name(f"{stem.name}.csv"))),
            "plot": str(timeline.plot(target.with_name(f"{stem.name}.png"))),
        }
        print(f"{path}: {len(timeline.windows)} windows")
        for w in timeline.windows:
            name, prob = w.topk[0]
            print(f"  {w.start_s:8.2f}-{w.end_s:8.2f} s  {prob:7.4f}  {name}")
        print(f"  wrote {files['json']}, {files['csv']}, {files['plot']}")
        results.append({**timeline.to_dict(), "files": files})
    return results, errors


def _write_csv(path: Path, results: list[dict], *, timeline: bool) -> None:
    """One row per (video[, window], rank)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        if timeline:
            writer.writerow(["path", "start_s", "end_s", "rank", "label", "prob"])
            for r in results:
                for w in r["windows"]:
                    for rank, item in enumerate(w["topk"], start=1):
                        writer.writerow([r["path"], w["start_s"], w["end_s"], rank, item["label"], item["prob"]])
        else:
            writer.writerow(["path", "rank", "label", "prob"])
            for r in results:
                for rank, item in enumerate(r["topk"], start=1):
                    writer.writerow([r["path"], rank, item["label"], item["prob"]])
