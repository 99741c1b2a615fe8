"""``tlsfinder report``: the report of a finished results folder."""

from __future__ import annotations

from pathlib import Path

from ..config import load_config
from ..report import discover_inputs, make_report


def add_cli(sub) -> None:
    p = sub.add_parser(
        "report", help="TLS catalogue, Table I, n(E)/E and n0, plots, from a results folder",
        description="Collect the NEB tables of all loop iterations and the exploration tables under RESULTS "
        "(the workflow's layout) and write the report files into --out (default RESULTS/report).  When "
        "RESULTS holds outputs of the modes, elastic or coupling stages, their tables and figures are "
        "written too (the rule report_modes).",
    )
    p.add_argument("--config", required=True, help="the run's YAML config")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", help="output folder (default: RESULTS/report)")
    p.set_defaults(func=cmd_report)


def cmd_report(args):
    from ..report.modes import MODES_FILES, discover_modes_inputs, make_modes_report

    config = load_config(args.config)
    out = Path(args.out or Path(args.results) / "report")
    res = make_report(discover_inputs(args.results), config, out)
    print(res["summary"], end="")
    modes_inputs = discover_modes_inputs(args.results, out)
    if modes_inputs is not None:  # the optional stage ran: its section reads the report just written
        make_modes_report(modes_inputs, config, out)
        print(f"modes, elastic and coupling section: {', '.join(MODES_FILES.values())} in {out}")
