"""The ``videofocalnet`` command line: one thin module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int``; they are imported lazily so
that ``videofocalnet --help`` stays fast and a missing optional dependency only breaks the command that needs it.
"""

from __future__ import annotations

import argparse
import importlib
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
    "export": ("videofocalnet.cli.export", "export a checkpoint to ONNX, TorchScript or ExportedProgram"),
    "visualize": ("videofocalnet.cli.visualize", "draw the spatial and temporal modulators over a video"),
    "flops": ("videofocalnet.cli.flops", "parameters, GMACs and FLOPs of a model"),
    "convert-weights": ("videofocalnet.cli.convert_weights", "convert a released checkpoint to safetensors + JSON"),
    "list-models": ("videofocalnet.cli.list_models", "list the registered model names"),
    "weights": ("videofocalnet.cli.weights", "list the published weights, or download them into the cache"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videofocalnet", description="Video-FocalNets for video action recognition")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
