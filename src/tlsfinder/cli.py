"""Command line: ``tlsfinder <subcommand>`` (the subcommands are in :mod:`tlsfinder.commands`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import TLSFinderError, __version__
from .commands import add_all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlsfinder", description="Find tunneling two-level systems in simulated glasses.")
    parser.add_argument("--version", action="version", version=f"tlsfinder {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_all(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = args.func(args)
    except TLSFinderError as exc:
        print(f"tlsfinder {args.command}: error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, (dict, list)):
        print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
