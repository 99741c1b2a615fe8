"""Every ``tlsfinder`` subcommand, registered in :data:`COMMANDS`.

Each module here turns command-line options into a call of the science module it
is named after and holds no science itself; science modules hold no argparse.
"""

from __future__ import annotations

from . import core, explore, importer, ml, modes, neb, pairs, report, splitting

# The one registry: each module's add_cli(subparsers) adds its subcommands, in this order in --help.
COMMANDS = (core, explore, pairs, importer, ml, neb, splitting, report, modes)


def add_all(subparsers) -> None:
    """Register every subcommand on an argparse subparsers object."""
    for module in COMMANDS:
        module.add_cli(subparsers)
