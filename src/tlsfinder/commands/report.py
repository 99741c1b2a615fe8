"""``tlsfinder report``: the report of a finished results folder."""

from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..report import discover_inputs, make_report


def add_cli(sub) -> None:
    p = sub.add_parser(
        "report", help="TLS catalogue, Table I, n(E)/E and n0, plots, from a results folder",
        description="Collect the NEB tables of all loop iterations and the exploration tables under RESULTS "
        "(the workflow's layout) and write the report files into --out (default RESULTS/report).",
    )
    p.add_argument("--config", required=True, help="the run's YAML config")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", help="output folder (default: RESULTS/report)")
    p.set_defaults(func=cmd_report)


def cmd_report(args):
    res = make_report(discover_inputs(args.results), load_config(args.config), args.out or Path(args.results) / "report")
    print(res["summary"], end="")
