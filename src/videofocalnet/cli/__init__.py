"""The ``videofocalnet`` command line: one thin module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``; they are imported lazily so
that ``videofocalnet --help`` stays fast and a missing optional dependency only breaks the command that needs it.

A user's mistake (a missing or unreadable file, a bad value, a checkpoint that does not fit) ends in one line,
``error: <what>``, and exit code 2; exit code 1 means "ran, found problems" (unreadable videos, failed checks).
``--debug`` (anywhere on the command line) or ``VIDEOFOCALNET_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

# name -> (module, one-line help). Keep in the order a user meets them.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("videofocalnet.cli.demo", "train and evaluate on the embedded synthetic dataset, end to end"),
    "make-synthetic": ("videofocalnet.cli.make_synthetic", "write the synthetic action dataset as real video files"),
    "prepare-data": ("videofocalnet.cli.prepare_data", "convert official annotations to list files"),
    "check-data": ("videofocalnet.cli.check_data", "check an annotation list and its videos"),
    "train": ("videofocalnet.cli.train", "train a model from a config"),
    "eval": ("videofocalnet.cli.evaluate", "multi-view evaluation of a checkpoint"),
    "predict": ("videofocalnet.cli.predict", "classify videos with a checkpoint"),
    "embed": ("videofocalnet.cli.embed", "pooled features (pre-head embeddings) of videos, to an .npz file"),
    "export": ("videofocalnet.cli.export", "export a checkpoint to ONNX, TorchScript or ExportedProgram"),
    "visualize": ("videofocalnet.cli.visualize", "draw the spatial and temporal modulators over a video"),
    "flops": ("videofocalnet.cli.flops", "parameters, GMACs and FLOPs of a model"),
    "convert-weights": ("videofocalnet.cli.convert_weights", "convert a released checkpoint to safetensors + JSON"),
    "list-models": ("videofocalnet.cli.list_models", "list the registered model names"),
    "list-configs": ("videofocalnet.cli.list_configs", "list the packaged config names that --cfg accepts"),
    "weights": ("videofocalnet.cli.weights", "list the published weights, or download them into the cache"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videofocalnet", description="Video-FocalNets for video action recognition")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        parser = build_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
        parser.print_help()
        return 0 if argv else 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"videofocalnet {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.run(args) or 0)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the input was wrong, not the program: ValueError covers ConfigError,
    CheckpointMismatchError, UnsafeCheckpointError, AnnotationError and bad values; OSError covers missing,
    unreadable or unwritable files and full disks."""
    errors: list[type[BaseException]] = [ValueError, OSError, UnicodeError]
    decode = sys.modules.get("videofocalnet.data.decode")
    if decode is not None:
        errors.append(decode.DecodeError)
    download = sys.modules.get("videofocalnet.download")
    if download is not None:
        errors.append(download.DownloadError)
    zoo = sys.modules.get("videofocalnet.zoo")
    if zoo is not None:
        errors.append(zoo.UnknownWeightsError)
    return tuple(errors)


def _found_problems() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "ran, and found the data broken" (exit code 1)."""
    dataset = sys.modules.get("videofocalnet.data.dataset")
    return (dataset.TooManyBadVideosError,) if dataset is not None else ()


def _describe(exc: BaseException) -> str:
    """One line: the exception's own message, first line only, with a hint for the OS errors people meet."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"{text} (the disk is full: free space or write elsewhere)"
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{text} (not writable: choose another folder)"
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in text:
        return f"{text}: {exc.filename}"
    return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("VIDEOFOCALNET_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]
    if debug:
        return _dispatch(argv)
    try:
        return _dispatch(argv)
    except KeyboardInterrupt as exc:  # training's TrainingInterrupted says where last.pt is and how to resume
        print(f"stopped: {exc}" if str(exc) else "error: interrupted", file=sys.stderr)
        return 130
    except _found_problems() as exc:
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 1
    except _user_errors() as exc:
        print(f"error: {_describe(exc)} (run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
