"""Diagnostics a user checks before trusting a glass.

For each T_f: the potential energy per particle versus time (it must reach a
plateau: the summary's ``e_pot_drift_sigma`` compares the last two quarters of
the run in units of their statistical error) and the self-intermediate
scattering function F_s(q = 7.2, t) under swap dynamics (it must decay; tau_alpha
is its first crossing of 1/e).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path, write_parquet


def prepare_diagnostics(thermo_files: list[str], summary_files: list[str], plot_path: str, table_path: str,
                        title: str = "") -> pd.DataFrame:
    """Plot E(t) and F_s(t) of all samples of one T_f; write a per-sample summary table (Parquet)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(Path(f).read_text()) for f in summary_files]
    table = pd.json_normalize(rows)
    write_parquet(table_path, table)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for f, row in zip(thermo_files, rows):
        th = pd.read_parquet(f)
        ax1.plot(th["time"], th["e_pot"], lw=0.8, label=row.get("glass", ""))
        fs = th.dropna(subset=["fs"])
        if len(fs):
            ax2.plot(fs["time"] - fs["time"].iloc[0], fs["fs"], lw=0.8)
    ax1.set_xlabel("time (tau)")
    ax1.set_ylabel("potential energy per particle (eps)")
    ax2.axhline(np.exp(-1), color="k", ls=":", lw=0.8)
    ax2.set_xlabel("t (tau) under swap dynamics")
    ax2.set_ylabel("F_s(q=7.2, t)")
    if len(rows) <= 8:
        ax1.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(plot_path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return table
