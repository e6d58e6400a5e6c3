"""``videofocalnet list-models``."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--filter", default="", help="only names containing this text")


def run(args: argparse.Namespace) -> int:
    from videofocalnet.models import list_models

    for name in list_models():
        if args.filter in name:
            print(name)
    return 0
