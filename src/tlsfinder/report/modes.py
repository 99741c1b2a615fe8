"""The report section of the modes, elastic and coupling stages (rule ``report_modes``).

Runs after the main report, whose catalogue (with the columns of
:data:`tlsfinder.modes_stage.CATALOGUE_COLUMNS`) and ``n0.csv`` it reads, so that the tunneling
strength C uses the report's n0 and nothing is counted twice.  Writes
(:data:`.inputs.MODES_OUTPUT_FILES`; an empty table with its header for a stage that is off):

* ``elastic.csv``: per T_f, G, K, c_t, c_l, omega_t, omega_D and the AQS and Hessian moduli, mean
  over glasses and standard error (:func:`tlsfinder.modes_stage.tf_elastic`), reduced units.
* ``modes.csv``: per T_f, the sampled IS (``n_IS``), QLMs per IS (``n_qlm``, mean and standard
  error), the QLM fraction of all modes, A_4 (mean over IS, ``A4_err`` its standard error) and
  omega_t; from the catalogue, the DWs with modes (``n_DW``), mean best linear overlap ``c``
  (``c_err``), the fraction whose best mode is a QLM, mean ``nlq_a`` (nonlinear mode from the
  softest QLM), the TLS checked along their path and how many the 1D check flags.
* ``coupling.csv``: :func:`tlsfinder.modes_stage.coupling_table`.

and the figures of :data:`.modes_plots.MODES_FIGURE_FILES` (:mod:`.modes_plots`), which also read
the per-mode tables (``modes_table``) and the DW-modes tables (``dw_modes``) of every glass.
:func:`discover_modes_inputs` finds the inputs in a results folder (``tlsfinder report``).
"""

from __future__ import annotations

import glob
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..io import atomic_path
from ..models import model_from_config
from ..modes_stage import coupling_table, section
from ..neb import settings_from_config
from .inputs import MODES_OUTPUT_FILES, read_tables
from .modes_plots import MODES_FIGURE_FILES, a4_versus_n0, dw_table, plot_dos, plot_dw_linear, plot_dw_nonlinear

MODES_INPUT_KEYS = ("catalogue", "n0", "elastic", "modes_summary", "modes_table", "dw_modes", "coupling")
#: Every file :func:`make_modes_report` writes: the tables, then the figures (key -> name).
MODES_FILES = {**MODES_OUTPUT_FILES, **MODES_FIGURE_FILES}
#: Where the per-glass / per-T_f inputs of the stage lie (templates of :mod:`tlsfinder.paths`).
_STAGE_TEMPLATES = {"elastic": paths.ELASTIC_TF, "modes_summary": paths.MODES_SUMMARY,
                    "modes_table": paths.MODES_TABLE, "dw_modes": paths.DW_MODES, "coupling": paths.COUPLING}


def _mean_err(v) -> tuple[float, float]:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan


def modes_table(summaries: pd.DataFrame, cat: pd.DataFrame) -> pd.DataFrame:
    """``modes.csv`` (module docstring) from the per-IS summaries and the catalogue."""
    tfs = set()
    if len(summaries):
        summaries = summaries.assign(T_f=[paths.parse_glass_id(g)[0] for g in summaries["glass"]])
        tfs |= set(summaries["T_f"])
    has_c = len(cat) and "mode_c" in cat.columns
    dw = cat[np.isfinite(cat["mode_c"].to_numpy(float))] if has_c else cat.iloc[:0]
    tfs |= set(dw["T_f"]) if len(dw) else set()
    rows = []
    for tf in sorted(tfs):
        s = summaries[summaries["T_f"] == tf] if len(summaries) else summaries
        if len(s) and "error" in s.columns:
            s = s[s["error"].fillna("").astype(str) == ""]  # IS without modes
        d = dw[dw["T_f"] == tf] if len(dw) else dw
        row = {"T_f": float(tf), "n_IS": len(s)}
        row["n_qlm"], row["n_qlm_err"] = _mean_err(s["n_qlm"]) if len(s) else (math.nan, math.nan)
        row["qlm_fraction"] = float(s["n_qlm"].sum() / s["n_modes"].sum()) if len(s) else math.nan
        row["A4"], row["A4_err"] = _mean_err(s["A4"]) if len(s) else (math.nan, math.nan)
        row["omega_t"] = float(s["omega_t"].mean()) if len(s) else math.nan
        row["n_DW"] = len(d)
        row["c"], row["c_err"] = _mean_err(d["mode_c"]) if len(d) else (math.nan, math.nan)
        row["c_qlm_fraction"] = float(d["mode_c_qlm"].mean()) if len(d) else math.nan
        row["nlq_a"] = _mean_err(d["nlq_a"])[0] if len(d) else math.nan
        checked = d["path_1d_doubtful"].to_numpy(float) if len(d) else np.zeros(0)
        row["n_TLS_checked"] = int(np.isfinite(checked).sum())
        row["n_1d_doubtful"] = int(np.nansum(checked))
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["T_f", "n_IS", "n_qlm", "qlm_fraction", "A4", "n_DW", "c"])


def _csv(path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")


def discover_modes_inputs(results_dir, report_dir) -> dict | None:
    """The inputs of :func:`make_modes_report` in a results folder laid out as the workflow writes
    it (``catalogue`` and ``n0`` from the main report in ``report_dir``), or None when no file of
    the modes, elastic or coupling stages is there (the stages were off)."""
    found = {k: sorted(glob.glob(paths.under(results_dir, t))) for k, t in _STAGE_TEMPLATES.items()}
    if not any(found.values()):
        return None
    return {"catalogue": [str(Path(report_dir) / "tls_catalogue.parquet")], "n0": [str(Path(report_dir) / "n0.csv")],
            **found}


def make_modes_report(inputs: dict, config: dict, out_dir) -> dict:
    """Write :data:`MODES_FILES` (tables and figures) into ``out_dir`` from ``inputs`` (lists of
    paths by :data:`MODES_INPUT_KEYS`; ``catalogue`` and ``n0`` are the main report's files).
    Returns the tables."""
    from ..loop import LoopSettings, tls_threshold

    out_dir = Path(out_dir)
    lists = {k: [inputs[k]] if isinstance(inputs.get(k), str) else list(inputs.get(k) or []) for k in MODES_INPUT_KEYS}
    cat = read_tables(lists["catalogue"], ("glass", "T_f"), "TLS catalogue")
    n0 = pd.concat([pd.read_csv(p) for p in lists["n0"]], ignore_index=True) if lists["n0"] else pd.DataFrame()
    elastic = read_tables(lists["elastic"], ("T_f", "G", "K"), "per-T_f elastic table")
    summaries = read_tables(lists["modes_summary"], ("glass", "n_qlm", "n_modes"), "modes summary")
    per_mode = read_tables(lists["modes_table"], ("glass", "is_id", "frequency"), "modes table")
    dw = read_tables(lists["dw_modes"], ("glass", "i", "j", "mode_c"), "DW modes table")
    coupling = read_tables(lists["coupling"], ("glass", "gamma_l", "gamma_t"), "coupling table")
    _, presets, _ = settings_from_config(config)
    model = model_from_config(config["model"])
    modes_cfg = section(config, "modes")
    tables = {"elastic": elastic, "modes": modes_table(summaries, cat),
              "coupling": coupling_table(coupling, n0, elastic, presets, float(model.density), modes_cfg["mass"])}
    for key, name in MODES_OUTPUT_FILES.items():
        _csv(out_dir / name, tables[key])
    preset = LoopSettings.from_config(config).preset
    d = dw_table(dw, cat, preset)
    plot_dw_linear(out_dir / MODES_FIGURE_FILES["plot_dw_linear"], d, float(modes_cfg["pr_max"]),
                   tls_threshold(config), preset)
    plot_dw_nonlinear(out_dir / MODES_FIGURE_FILES["plot_dw_nonlinear"], d)
    plot_dos(out_dir / MODES_FIGURE_FILES["plot_dos"], per_mode, summaries, int(model.n),
             a4_versus_n0(tables["modes"], elastic, summaries, n0))
    return tables


__all__ = ["MODES_FILES", "MODES_INPUT_KEYS", "discover_modes_inputs", "make_modes_report", "modes_table"]
