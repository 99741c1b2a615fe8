"""What one run can find: exploration yield, NEB outcomes and the ranking's own expectation of TLS.

Double wells and TLS come from the report's catalogue when the run has one (each DW once), else
from the NEB batch tables.

Reads a finished (or partly finished) results folder of the workflow and prints, per glass, the IS
and transitions per tau of exploration and the pairs crossed in both directions; over the loop's
iterations, the NEBs run, the double wells, the TLS decided in the loop's preset and the lowest
decided splittings; and, from iteration 0's ranking, the sum of p_tls over every ranked pair: the
number of TLS the model itself expects among all pairs of the run's IS (an upper bound for what
any selection from them can find, as far as p_tls is calibrated).  For comparison it prints the
published rate at T_f = 0.07 (Ciarella et al., "Finding defects in glasses through machine
learning", arXiv:2212.05582, data of its repository TLS_ML_exploration: 293 TLS among 39,065
labelled pairs of 50 glasses, N = 1500).

Usage: python benchmarks/tls_budget.py RESULTS_DIR [--preset Ar]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from tlsfinder.splitting import valid_splitting

PUBLISHED = {"pairs": 39065, "tls": 293, "glasses": 50, "n": 1500}


def exploration(res: Path) -> pd.DataFrame:
    rows = []
    for f in sorted(res.glob("explore/*/*/summary.json")):
        s = json.loads(f.read_text())
        rows.append({"glass": s["glass"], "tau": s["time"], "n_IS": s["n_IS"], "transitions": s["transitions"],
                     "both_ways": s["bidirectional_pairs"], "wall_s": s["wall_time_s"]})
    return pd.DataFrame(rows)


def neb_rows(res: Path) -> pd.DataFrame:
    tabs = [pd.read_parquet(f) for f in sorted(res.glob("loop/iter*/neb/batch*.parquet"))]
    return pd.concat(tabs, ignore_index=True) if tabs else pd.DataFrame()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="the workflow's results folder")
    ap.add_argument("--preset", default="Ar")
    args = ap.parse_args()
    res = Path(args.results)
    ex = exploration(res)
    if ex.empty:
        raise SystemExit(f"{res}: no explore/*/*/summary.json (not a results folder, or nothing explored yet)")
    print(ex.to_string(index=False))
    tau = ex["tau"].sum()
    print(f"all glasses: {ex['n_IS'].sum()} IS, {ex['transitions'].sum()} transitions, "
          f"{ex['both_ways'].sum()} pairs crossed both ways in {tau:g} tau "
          f"({ex['n_IS'].sum() / tau:.2f} IS/tau, {ex['wall_s'].sum() / tau:.1f} core-s per tau)")
    neb = neb_rows(res)
    if not neb.empty:
        cat = res / "report" / "tls_catalogue.parquet"
        # the catalogue holds each double well once (sub-pairs of two splits can reach the same one)
        dw = pd.read_parquet(cat) if cat.exists() else neb[neb["status"] == "dw"]
        p = args.preset
        ok = valid_splitting(dw, p) if len(dw) else np.zeros(0, bool)
        tls = dw[ok & (dw[f"is_TLS_{p}"].to_numpy(dtype=bool))] if len(dw) else dw
        top = neb[neb["origin"] == "input"] if "origin" in neb else neb
        print(f"NEB: {len(top)} selected pairs, {len(neb)} rows with sub-pairs, {len(dw)} double wells "
              f"({int(ok.sum())} decided), {len(tls)} TLS ({p})")
        if len(dw):
            low = dw[ok].nsmallest(5, f"E_{p}")[["pair_id", f"E_{p}", "Delta_V", "d"]]
            print(f"lowest decided splittings ({p}):\n{low.to_string(index=False)}")
    rank = res / "loop" / "iter0" / "ranking.parquet"
    if rank.exists():
        r = pd.read_parquet(rank)
        print(f"iteration 0 ranking: {len(r)} pairs, sum of p_tls = {r['p_tls'].sum():.2f} expected TLS "
              f"(largest p_tls {r['p_tls'].max():.3f})")
    rate = PUBLISHED["tls"] / PUBLISHED["pairs"]
    print(f"published T_f = 0.07: {PUBLISHED['tls']} TLS / {PUBLISHED['pairs']} labelled pairs = {rate:.2%} per pair "
          f"({PUBLISHED['tls'] / PUBLISHED['glasses']:.1f} TLS per glass of N = {PUBLISHED['n']})")


if __name__ == "__main__":
    main()
