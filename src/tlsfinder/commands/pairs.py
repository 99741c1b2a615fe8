"""``tlsfinder pairs``: candidate pairs of IS of one glass and their features."""

from __future__ import annotations

from ..pairs import pairs_from_files
from ..schema import default


def add_cli(sub) -> None:
    p = sub.add_parser("pairs", help="candidate pairs of IS of one glass and their features (Parquet)")
    p.add_argument("--is-library", required=True, help="IS library written by 'tlsfinder explore' (is_library.h5)")
    p.add_argument("--transitions", help="Parquet table i, j, count (default: no transitions)")
    p.add_argument("--glass", required=True, help="glass name written to the 'glass' column, e.g. T0.617/g3")
    p.add_argument("--delta-e-max", type=float, default=default("ml.delta_e_max"),
                   help="window N|e_i - e_j| (eps; %(default)s)")
    p.add_argument("--out", required=True, help="output pairs table (Parquet)")
    p.set_defaults(func=cmd_pairs)


def cmd_pairs(args):
    df = pairs_from_files(args.is_library, args.transitions, glass=args.glass, delta_e_max=args.delta_e_max,
                          out=args.out)
    return {"pairs": len(df), "out": args.out}
