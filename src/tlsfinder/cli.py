"""Command line: ``tlsfinder <subcommand>``.

Subcommands live next to the science they drive: each module listed in
``_SUBCOMMAND_MODULES`` has ``add_cli(subparsers)`` registering its own.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys

from . import TLSFinderError, __version__

# Modules that register subcommands (each defines add_cli(subparsers)).
_SUBCOMMAND_MODULES = ["tlsfinder.cli_core", "tlsfinder.explore", "tlsfinder.splitting", "tlsfinder.neb", "tlsfinder.pairs",
                       "tlsfinder.importer", "tlsfinder.ml"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlsfinder", description="Find tunneling two-level systems in simulated glasses.")
    parser.add_argument("--version", action="version", version=f"tlsfinder {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a stage not installed yet must not break the others
            if exc.name != name:
                raise
            continue
        if hasattr(module, "add_cli"):
            module.add_cli(sub)
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
