"""``tlsfinder explore``: the landscape of one prepared glass."""

from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..explore import run_explore
from ..io import read_glass


def add_cli(sub) -> None:
    p = sub.add_parser("explore", help="explore the landscape of one prepared glass (IS library, transitions)")
    p.add_argument("--config", required=True, help="YAML config")
    p.add_argument("--glass", required=True, help="prepared glass file (glass.h5)")
    p.add_argument("--out", required=True, help="output folder (resumes from its checkpoint.pkl)")
    p.add_argument("--id", default=None, help="glass identifier (default: from the glass file)")
    p.set_defaults(func=cmd_explore)


def cmd_explore(args):
    gid = args.id or read_glass(args.glass).meta.get("glass", Path(args.glass).parent.name)
    return run_explore(load_config(args.config), args.glass, args.out, gid)
