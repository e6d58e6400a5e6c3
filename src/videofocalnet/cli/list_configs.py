"""``videofocalnet list-configs``: the names ``--cfg`` accepts besides a file path."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filter", default="", help="only names containing this text")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.engine.config import list_configs

    for name in list_configs():
        if args.filter in name:
            print(name)
    return 0
