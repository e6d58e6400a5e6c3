"""``videofocalnet weights list|download``: show the model zoo and fetch its files into the cache.

``download`` takes anything ``--checkpoint`` takes (zoo names, ``https://`` URLs, ``hf-hub:`` ids), so a file can
be fetched ahead of an offline run and its cached path handed on.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = sub.add_parser("list", help="the published weights: name, top-1, views, label set, cached, url")
    listing.add_argument("pattern", nargs="?", default=None, help="glob (*k400) or substring (base) of the names")
    fetch = sub.add_parser("download", help="fetch weights into the cache and print their paths")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="zoo name, http(s):// URL or hf-hub:ORG/NAME id")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _list(pattern: str | None) -> int:
    from videofocalnet.download import cached_weights
    from videofocalnet.zoo import list_weights

    entries = list_weights(pattern)
    if not entries:
        return _error(f"no weights match {pattern!r}; run `videofocalnet weights list` for all", 2)
    header = f"{'name':<32}{'top-1':>6}  {'views':<6}{'label set':<13}{'cached':<7}url"
    print(header)
    print("-" * len(header))
    for w in entries:
        cached = "yes" if cached_weights(w) is not None else "no"
        print(f"{w.name:<32}{w.top1:>6.1f}  {w.views:<6}{w.label_set or '-':<13}{cached:<7}{w.url}")
    return 0


def _download(names: list[str], progress: bool) -> int:
    from videofocalnet.download import DownloadError, resolve_weights

    for name in names:
        try:
            path = resolve_weights(name, progress=progress)
        except ValueError as err:
            return _error(str(err), 2)
        except DownloadError as err:
            return _error(str(err), 1)
        print(path)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args.pattern)
    if args.action == "download":
        return _download(args.names, progress=not args.no_progress)
    return _error("choose an action: `videofocalnet weights list [PATTERN]` or `weights download NAME...`", 2)
