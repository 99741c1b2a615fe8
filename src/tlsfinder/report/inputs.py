"""What the report reads and writes, and reading it.

Inputs (:data:`REPORT_INPUT_KEYS`, each a list of paths; rule ``report`` in
rules/report.smk passes them by these names, ``tlsfinder report`` finds them
with :func:`discover_inputs`):

==============  ==============================================================
key             files (templates of :mod:`tlsfinder.paths`)
==============  ==============================================================
``neb``         ``NEB_MERGED``: the NEB table (:mod:`tlsfinder.neb`, one row
                per pair or elementary sub-pair, IS ids real:
                :mod:`tlsfinder.identity`) of every iteration.
                The iteration is the table's ``iteration`` column if it has
                one, else the ``iter{k}`` in the path.  Required (may be
                empty tables).
``glasses``     ``GLASSES_TABLE`` of every T_f
                (:func:`tlsfinder.explore.aggregate`: one row per glass with
                ``glass``, ``n_IS``, ``intervals``, ``time``, ...).  Required.
``n_is``        ``N_IS`` (glass, time, n_is).
``persistence`` ``PERSISTENCE`` (glass, tau_p).
``timeseries``  ``TIMESERIES`` of every glass (step, time, is_id): when each
                pair was first crossed in both directions (``t_found``).
``ranking``     ``RANKING`` of every iteration (:mod:`tlsfinder.ml`: glass,
                i, j, rank, p_dw, splitting_pred, p_tls).
``labels``      ``LABELS`` (every one there is; the union is used, rows
                matched to rankings by their ``iteration`` column).
``yields``      ``YIELD`` (from ``ml_select``: iteration, n_neb, n_dw, n_tls,
                tls_per_neb, cum_neb, cum_tls).
``dw_modes``    ``DW_MODES`` of every glass (:func:`tlsfinder.modes_stage.dw_modes`),
                only when ``modes.enabled``.
``coupling``    ``COUPLING`` of every glass
                (:func:`tlsfinder.modes_stage.dw_coupling`), only when
                ``coupling.enabled``.
==============  ==============================================================

Without ``dw_modes`` and ``coupling`` the catalogue's columns of those stages
(:data:`tlsfinder.modes_stage.CATALOGUE_COLUMNS`) are NaN.

Only ``neb`` and ``glasses`` are required; a missing optional key (or an empty
list) leaves the corresponding panel empty with a note.  The glass of a
per-glass file (time series, library) comes from its path (``T{tf}/g{g}/``) or
the library's ``glass`` attribute; T_f of a row comes from its glass id
(:func:`tlsfinder.paths.parse_glass_id`).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .. import TLSFinderError, paths
from ..io import read_table

# key -> (template, which of its files)
_INPUTS = {
    "neb": (paths.NEB_MERGED, "all iterations; required"),
    "glasses": (paths.GLASSES_TABLE, "all T_f; required"),
    "n_is": (paths.N_IS, "all T_f"),
    "persistence": (paths.PERSISTENCE, "all T_f"),
    "timeseries": (paths.TIMESERIES, "all glasses"),
    "ranking": (paths.RANKING, "all iterations"),
    "labels": (paths.LABELS, "all that exist"),
    "yields": (paths.YIELD, "all iterations"),
    "dw_modes": (paths.DW_MODES, "all glasses; modes stage only"),
    "coupling": (paths.COUPLING, "all glasses; coupling stage only"),
}
#: Input keys of :func:`tlsfinder.report.make_report` and the files each lists (module docstring).
REPORT_INPUT_KEYS = {key: f"{template} ({which})" for key, (template, which) in _INPUTS.items()}
REQUIRED_KEYS = ("neb", "glasses")

#: Files written by :func:`tlsfinder.report.make_report` into its output folder.
OUTPUT_FILES = {
    "catalogue": "tls_catalogue.parquet",
    "table1": "table1.parquet",
    "table1_csv": "table1.csv",
    "n0": "n0.csv",
    "nE": "nE.parquet",
    "loop_yield": "loop_yield.csv",
    "summary": "summary.txt",
    "plot_nE": "nE_over_E.png",
    "plot_cdf": "cdf_splittings.png",
    "plot_vs_E": "dw_vs_E.png",
    "plot_exploration": "exploration.png",
    "plot_growth": "growth.png",
    "plot_ml": "ml_diagnostics.png",
}


#: Files of the report section of the modes, elastic and coupling stages (rule ``report_modes``,
#: :func:`tlsfinder.report.modes.make_modes_report`), in the same folder.
MODES_OUTPUT_FILES = {
    "elastic": "elastic.csv",
    "coupling": "coupling.csv",
    "modes": "modes.csv",
}


def _as_list(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (str, Path)):
        return [str(v)]
    return [str(x) for x in v]


def check_inputs(inputs: Mapping) -> dict[str, list[str]]:
    """Normalise the input dict (every key a list) and refuse unknown or missing required keys."""
    unknown = sorted(set(inputs) - set(REPORT_INPUT_KEYS))
    if unknown:
        raise TLSFinderError(f"report inputs: unknown key(s) {unknown}; known: {sorted(REPORT_INPUT_KEYS)}")
    out = {k: _as_list(inputs.get(k)) for k in REPORT_INPUT_KEYS}
    for k in REQUIRED_KEYS:
        if k not in inputs:
            raise TLSFinderError(f"report inputs: key {k!r} is required ({REPORT_INPUT_KEYS[k]})")
    if not out["glasses"]:
        raise TLSFinderError("report inputs: 'glasses' lists no file: nothing was explored")
    return out


def discover_inputs(results_dir) -> dict[str, list[str]]:
    """The report inputs found under a results folder laid out as the workflow writes it."""
    return {key: sorted(glob.glob(paths.under(results_dir, template))) for key, (template, _) in _INPUTS.items()}


def glass_tf(glass_ids, source: str = "table") -> np.ndarray:
    """T_f of each glass id ``T<T_f>/g<index>`` (float array)."""
    return np.array([paths.parse_glass_id(g, source)[0] for g in glass_ids], dtype=float)


def read_neb_tables(files: Iterable) -> pd.DataFrame:
    """All NEB tables in one frame, with ``iteration`` and ``source`` (the file) added.

    Tables with no rows are skipped (a batch may have had nothing to do).
    """
    frames = []
    for p in files:
        df = read_table(p, ("glass", "status"), what="NEB table", empty_ok=True)
        if not len(df):
            continue
        df = df.copy()
        if "iteration" not in df.columns or df["iteration"].isna().any():
            df["iteration"] = paths.iteration_of(p)
        df["iteration"] = df["iteration"].astype("int64")
        df["source"] = str(p)
        df["glass"] = df["glass"].astype(str)
        df["status"] = df["status"].astype(str)
        frames.append(df)
    if not frames:
        return pd.DataFrame({"glass": pd.Series([], dtype=str), "status": pd.Series([], dtype=str),
                             "iteration": pd.Series([], dtype="int64"), "source": pd.Series([], dtype=str)})
    return pd.concat(frames, ignore_index=True)


def read_tables(files: Iterable, needed: Iterable[str] = (), what: str = "table", add_iteration: bool = False):
    """Concatenate Parquet tables (empty frame if none); optionally add ``file_iteration`` from the path."""
    frames = []
    for p in files:
        df = read_table(p, needed, what=what, empty_ok=True)
        if add_iteration:
            df = df.assign(file_iteration=paths.iteration_of(p))
        frames.append(df)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(needed))
