"""``tlsfinder splitting``: quantum splitting and TLS parameters of double wells from path files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..io import atomic_path
from ..schema import defaults
from ..splitting import CONTINUATIONS, analyse_mep, read_path
from ..units import PRESETS, custom_preset, get_preset

# Options that mirror keys of the config's splitting section default to the schema's values.
SPLITTING = defaults("splitting")


def add_cli(sub) -> None:
    p = sub.add_parser(
        "splitting",
        help="quantum splitting E and TLS parameters of double wells from path files",
        description="Solve the 1D Schroedinger equation along minimum energy paths (Mocanu et al. (2023), "
        "\"Microscopic observation of TLS in a metallic glass model\", Eq. 10) and write one row per path "
        "file with E, Delta, Delta_0, Gamma, V_a, Delta_V, V_b, w1, w2, w_TS for each unit preset.",
    )
    p.add_argument("paths", nargs="+", help="path files: CSV/Parquet (energy + s or xi) or extended XYZ")
    p.add_argument("--model", default="KA2", choices=sorted(PRESETS), help="model whose unit presets apply (KA2)")
    p.add_argument("--preset", action="append", dest="presets", metavar="NAME",
                   help="unit preset (repeatable; default: all presets of the model)")
    p.add_argument("--m-tilde", type=float, help="custom effective mass m eps sigma^2 / hbar^2 instead of presets")
    p.add_argument("--kT-Q", type=float, dest="kT_Q", help="TLS threshold (eps) for --m-tilde (default 2 pi / m~)")
    p.add_argument("--n-xi", type=int, default=SPLITTING["n_xi"], help="grid intervals along the path (%(default)s)")
    p.add_argument("--continuation", default=SPLITTING["continuation"], choices=CONTINUATIONS,
                   help="potential beyond the path ends (%(default)s)")
    p.add_argument("--bc", default=SPLITTING["bc"], choices=("clamped", "not-a-knot", "natural"),
                   help="spline end condition (%(default)s; clamped: the ends are minima)")
    p.add_argument("--path-length", type=float, help="path length d (sigma) for files with an 'xi' column")
    p.add_argument("--no-check", action="store_true", help="skip the N_xi-doubling convergence check")
    p.add_argument("-o", "--output", help="write the table here (.parquet or .csv); default: print it")
    p.set_defaults(func=cmd_splitting)


def cmd_splitting(args) -> int:
    if args.m_tilde is not None:
        presets = [custom_preset("custom", args.model, m_tilde=args.m_tilde, kT_Q=args.kT_Q)]
    else:
        names = args.presets or sorted(PRESETS[args.model])
        presets = [get_preset(args.model, n) for n in names]
    rows = []
    for f in args.paths:
        mep = read_path(f, args.path_length)
        row = {"path_file": str(f)}
        row.update(analyse_mep(mep, presets, args.n_xi, args.continuation, args.bc, not args.no_check))
        rows.append(row)
    df = pd.DataFrame(rows)
    if args.output:
        out = Path(args.output)
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
        print(f"wrote {len(df)} row(s) to {out}")
    else:
        cols = ["path_file", "d_path", "V_a", "Delta_V"]
        for p in presets:
            cols += [f"E_{p.name}", f"converged_{p.name}", f"is_TLS_{p.name}"]
        with pd.option_context("display.width", 200, "display.max_columns", 50):
            print(df[cols].to_string(index=False))
    return 0
