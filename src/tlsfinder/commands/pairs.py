"""``tlsfinder pairs``: candidate pairs of IS of one glass and their features."""

from __future__ import annotations

from ..pairs import TRANSITION_COUNTS, pairs_from_files
from ..schema import default


def add_cli(sub) -> None:
    p = sub.add_parser("pairs", help="candidate pairs of IS of one glass and their features (Parquet)")
    p.add_argument("--is-library", required=True, help="IS library written by 'tlsfinder explore' (is_library.h5)")
    p.add_argument("--transitions", help="Parquet table i, j, count (default: no transitions)")
    p.add_argument("--glass", required=True, help="glass name written to the 'glass' column, e.g. T0.617/g3")
    p.add_argument("--delta-e-max", type=float, default=default("ml.delta_e_max"),
                   help="window N|e_i - e_j| (eps; %(default)s)")
    p.add_argument("--transition-count", choices=TRANSITION_COUNTS, default=default("ml.transition_count"),
                   help="Tij/Tji: one count per quench interval whose end IS differ ('interval', as the published "
                        "tables) or every change of the time series ('every_change'); %(default)s")
    p.add_argument("--timeseries", help="the exploration's timeseries.parquet (default: beside --transitions)")
    p.add_argument("--interval-steps", type=int,
                   help="MD steps per quench interval (default: tau_cg / dt of the config in the IS library)")
    p.add_argument("--out", required=True, help="output pairs table (Parquet)")
    p.set_defaults(func=cmd_pairs)


def cmd_pairs(args):
    df = pairs_from_files(args.is_library, args.transitions, glass=args.glass, delta_e_max=args.delta_e_max,
                          transition_count=args.transition_count, timeseries=args.timeseries,
                          interval_steps=args.interval_steps, out=args.out)
    return {"pairs": len(df), "out": args.out}
