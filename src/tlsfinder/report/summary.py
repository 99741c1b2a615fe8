"""``summary.txt``: one screen of text with the headline numbers of the report."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .inputs import OUTPUT_FILES


def _common_time_line(n0: pd.DataFrame, table1: pd.DataFrame) -> str:
    """One summary line: n0 per T_f and preset at the common exploration time ``report.n0_time``
    (Mocanu et al. (2023), Figs. 9b and 10b: 1e3 tau_LJ), counting DWs from their first crossing both ways."""
    t = float(n0["t_common"].iloc[0])
    tau_total = dict(zip(table1["T_f"], table1["tau_total"])) if "tau_total" in table1.columns else {}
    parts = []
    for tf, g in n0.groupby("T_f", sort=True):
        explored = float(tau_total.get(tf, np.nan))
        if not explored >= t * (1 - 1e-9):
            parts.append(f"T_f={tf:g}: not reached (explored {explored:.4g} tau)")
            continue
        vals = []
        for _, r in g.iterrows():
            c = r["count_t_common"]
            v = ("?" if not np.isfinite(c) else f"{r['n0_t_common']:.3g} ({int(c)} TLS)" if c > 0
                 else f"<{r['n0_t_common_upper95']:.2g}")
            vals.append(f"{r['preset']} {v}")
        parts.append(f"T_f={tf:g}: " + ", ".join(vals))
    unknown = " (?: DWs of glasses without a time series)" if "?" in "".join(parts) else ""
    return (f"n0 at exploration time t = {t:.4g} tau (Figs. 9b, 10b; DWs counted from their first crossing both "
            "ways): " + "; ".join(parts) + unknown)


def summary_text(table1: pd.DataFrame, n0: pd.DataFrame, presets, neb_counts: Mapping[str, int], n_iterations: int,
                 n_duplicates: int, out_dir, model: str = "", n_particles: int | None = None) -> str:
    """One screen of text: TLS per T_f and preset, n0, where the files are."""
    out_dir = Path(out_dir)
    lines = [f"tlsfinder report: {out_dir}"]
    pre = ", ".join(f"{p.name} (m~ = {p.m_tilde:g}, k_B T_Q = {p.kT_Q:g} eps)" for p in presets)
    lines.append(f"model {model}, N = {n_particles}; unit presets: {pre}")
    total = sum(neb_counts.values())
    parts = ", ".join(f"{v} {k}" for k, v in sorted(neb_counts.items()))
    lines.append(f"NEB: {total} pair(s) run over {n_iterations} iteration(s)" + (f" ({parts})" if parts else ""))
    n_dw = int(table1["N_DW"].sum()) if len(table1) else 0
    lines.append(f"catalogue: {n_dw} double well(s)" + (f" ({n_duplicates} computed twice, kept once)"
                                                           if n_duplicates else ""))
    lines.append("")
    head = f"{'T_f':>7} {'N_g':>5} {'N_IS':>7} {'N_DW':>6} " + " ".join(f"{'TLS ' + p.name:>9}" for p in presets)
    lines.append(head)
    for _, r in table1.iterrows():
        lines.append(f"{r['T_f']:>7g} {int(r['N_g']):>5d} {int(r['N_IS']):>7d} {int(r['N_DW']):>6d} "
                     + " ".join(f"{int(r[f'N_TLS_{p.name}']):>9d}" for p in presets))
    if n_dw == 0:
        lines.append("no double well found: n0 below is a 95% upper limit")
    lines.append("")
    lines.append("n0 = N_DW(E < k_B T_Q) / (N N_g k_B T_Q), eps^-1 per atom (+- Poisson, +- bootstrap over glasses);"
                 " SI = n0 rho / (eps sigma^3)")
    for _, r in n0.iterrows():
        si = f"{r['n0_SI']:.3g} J^-1 m^-3" if np.isfinite(r["n0_SI"]) else "(no SI scales)"
        if r["count_below_TQ"] > 0:
            lines.append(f"  T_f={r['T_f']:g} {r['preset']:>4}: n0 = {r['n0']:.3g} +- {r['n0_err_poisson']:.2g} "
                         f"+- {r['n0_err_glasses']:.2g}  ({int(r['count_below_TQ'])} TLS)  {si}")
        else:
            lines.append(f"  T_f={r['T_f']:g} {r['preset']:>4}: no TLS; n0 < {r['n0_upper95']:.3g} (95%)")
    if "t_common" in n0.columns and len(n0):
        lines.append(_common_time_line(n0, table1))
    lines.append("")
    lines.append(f"files in {out_dir}/: {OUTPUT_FILES['catalogue']} (one row per DW), {OUTPUT_FILES['table1_csv']}, "
                 f"{OUTPUT_FILES['n0']}, {OUTPUT_FILES['nE']}, {OUTPUT_FILES['loop_yield']}, *.png")
    lines.append("HTML report with the plots: snakemake --report report.html")
    return "\n".join(lines) + "\n"
