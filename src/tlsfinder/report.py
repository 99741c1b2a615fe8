"""Report: the TLS catalogue, Table I, n(E)/E and n0, and the plots of seed 001.

The last stage of the workflow (DESIGN section 6).  Pure functions turn tables
into tables (each tested on synthetic data); plot functions draw them and say
so in the figure when there is nothing to draw (a demo may find no TLS);
:func:`make_report` reads the workflow's files and writes everything under
``results/report/``.  Reduced LJ units (eps, sigma, tau; k_B = 1) unless a
column says otherwise; every file is written atomically.

Inputs (:data:`REPORT_INPUT_KEYS`, each a list of paths; the rule
``report`` in rules/report.smk passes them by these names):

==============  ==============================================================
key             files
==============  ==============================================================
``neb``         ``results/loop/iter{k}/neb/batch{b}.parquet``: the NEB tables
                (:mod:`tlsfinder.neb`, one row per pair or elementary
                sub-pair) of every iteration and batch.  The iteration is the
                table's ``iteration`` column if it has one, else the
                ``iter{k}`` in the path.  Required (may be empty tables).
``glasses``     ``results/explore/T{tf}/glasses.parquet`` of every T_f
                (:func:`tlsfinder.explore.aggregate`: one row per glass with
                ``glass``, ``n_IS``, ``intervals``, ``time``, ...).  Required.
``n_is``        ``results/explore/T{tf}/n_is.parquet`` (glass, time, n_is).
``persistence`` ``results/explore/T{tf}/persistence.parquet`` (glass, tau_p).
``timeseries``  ``results/explore/T{tf}/g{g}/timeseries.parquet`` of every
                glass (step, time, is_id): first-seen time of each IS.
``libraries``   ``results/explore/T{tf}/g{g}/is_library.h5`` (optional; only
                ``first_seen`` is read, for IS absent from the time series).
``ranking``     ``results/loop/iter{k}/ranking.parquet`` of every iteration
                (:mod:`tlsfinder.ml`: glass, i, j, rank, p_dw,
                splitting_pred, p_tls).
``labels``      ``results/loop/iter{k}/labels.parquet`` (every one there is;
                the union is used, rows matched to rankings by their
                ``iteration`` column).
``yields``      ``results/loop/iter{k}/yield.parquet`` (from ``ml_select``:
                iteration, n_neb, n_dw, n_tls, tls_per_neb, cum_neb, cum_tls).
==============  ==============================================================

Only ``neb`` and ``glasses`` are required; a missing optional key (or an empty
list) leaves the corresponding panel empty with a note.  The glass of a
per-glass file (time series, library) comes from its path (``T{tf}/g{g}/``) or
the library's ``glass`` attribute; T_f of a row comes from its glass id
(``T<T_f>/g<index>``, :func:`tlsfinder.prepare.glass_name`).

TLS catalogue (``tls_catalogue.parquet``): one row per elementary double well
(DW), i.e. every NEB-table row with ``status == "dw"`` of every iteration.
Rows with another status (``non_dw``, ``unconverged``, ``split`` parents,
``same_minimum``) are not DWs: they are counted (Table I, ``summary.txt``),
not listed.  A DW computed twice (same glass and unordered pair of known IS
ids, e.g. a sub-pair of a split that was also selected on its own) is kept
once, at its first iteration.  Columns, with the names the NEB and splitting
modules define (nothing renamed):

=========================  ===================================================
column                     meaning
=========================  ===================================================
``glass``                  glass id ``T<T_f>/g<index>``
``T_f``                    fictive temperature (from the glass id)
``i``, ``j``               IS ids of the pair (-1: a minimum found inside a
                           split path that is not in the IS library)
``iteration``              loop iteration whose NEB found it
``pair_id``, ``parent``,   NEB bookkeeping (:mod:`tlsfinder.neb`): pair id
``origin``, ``status``     ``<glass>/<i>-<j>[.n...]``, split parent, "input"
                           or "split", always "dw" here
``t_found``                exploration time (tau) at which both IS of the
                           selected pair were known (NaN if unknown; Fig. 4)
``d``, ``PR``              Eq. 7 distance (sigma) and Eq. 16 participation
                           ratio of the two minima
``d_path``                 path length in 3N space (sigma)
``V_a``, ``Delta_V``,      forward barrier, asymmetry, barrier height (eps)
``V_b``
``w1``, ``w2``, ``w_TS``   sqrt|V''| at lower min, upper min, barrier (1/tau)
``E_<p>``, ``Delta_<p>``,  per unit preset p (e.g. ``E_NiP``): splitting,
``Delta_0_<p>``,           Eq. 13, Eq. 15 (eps), Eq. 14 (eps/hbar, and 1/s),
``Gamma_<p>``,             levels, hbar w (eps)
``Gamma_per_s_<p>``,
``e1_<p>``..``e5_<p>``,
``hw1_<p>``, ``hw2_<p>``
``is_TLS_<p>``             E_<p> < k_B T_Q of preset p
``converged_<p>``,         splitting converged in N_xi and walls; WKB turning
``wkb_ok_<p>``             points found (flags, never filters)
``neb_converged``, ...     the other NEB columns (steps, force calls, fmax,
                           energies e_A, e_B, path file names, ``source``: the
                           NEB table the row came from)
=========================  ===================================================

Table I (``table1.csv`` / ``.parquet``), one row per T_f, seed 001 Table I:
``N_g``, ``tau_cg`` (tau), ``tau_cg_steps`` (= tau_cg / dt; seed 001 quotes
tau_cg in MD steps), ``N_cg`` (quench intervals per glass, from the explore
summaries), ``tau_total`` = N_cg tau_cg (tau), ``N_IS`` (sum of n_IS),
``N_DW`` (catalogue rows), ``N_TLS_<p>``, ``N_IS/N_g``, ``N_DW/N_IS``,
``N_TLS_<p>/N_DW``; and what the seed's protocol did not have:
``N_bidirectional`` (classical candidates, T_ab, T_ba >= 1), ``N_NEB`` (pairs
selected and run), ``N_NEB_<status>`` (their outcome), ``N_DW_unconverged_<p>``
(DWs whose splitting did not converge).  With the ML loop only the pairs it
chose are computed, so N_DW counts the DWs *found*, not all DWs present.

n(E) (``nE.parquet``): seed 001 Eq. 3, n(E) = N_DW(E) / (N N_g), per atom
and per glass: for each T_f and preset, one row per DW sorted by E, with
``n_E`` = (rank + 1) / (N N_g) and ``n_E_over_E`` (eps^-1).

n0 (``n0.csv``), one row per T_f and preset: the plateau of n(E)/E below
k_B T_Q estimated as ``n0`` = N_DW(E < k_B T_Q) / (N N_g k_B T_Q) = n(T_Q)/T_Q
(eps^-1 per atom; unbiased for a constant density of splittings below T_Q,
which is the plateau hypothesis, Eq. 1).  ``n0_half`` is the same with
T_Q / 2 (flatness check); ``n_TLS`` = n0 k_B T_Q (Eq. 2, per atom).
Uncertainties: ``n0_err_poisson`` = sqrt(count) / (N N_g kT_Q), and
``n0_err_glasses``, the standard deviation of n0 over 1000 bootstrap
resamplings of the glasses (seeded: config seed, stream
``report/n0/<T_f>/<preset>``), which includes the large glass-to-glass
variation seed 001 reports; ``n0_upper95`` is the one-sided 95% Poisson
upper limit (useful when the count is 0).  Volume and SI units: ``n0_vol`` =
n0 rho (eps^-1 sigma^-3, rho the number density) and ``n0_SI`` =
n0_vol / (eps sigma^3) (J^-1 m^-3, :func:`tlsfinder.units.n0_to_si`), with
``n0_SI_err_poisson`` and ``n0_SI_err_glasses``.  ``n0_SI_seed`` = n0 / (eps
sigma^3) is the conversion seed 001 Sec. IV.B applies: its "n0_sim in eps^-1
sigma^-3" are per-atom values (they match Table I: 125 TLS / (1200 x 1024 x
0.0012) = 0.085 for the quoted 0.08 at T_f = 0.488, NiP), and its J^-1 m^-3
figures equal n0_sim / (eps sigma^3) to within 0.69-1.27 (the quoted pairs
are not consistent with any single factor), i.e. without the density 1.35.
Use ``n0_SI`` for a physical density, ``n0_SI_seed`` to compare with the seed.

n0 at a common exploration time (seed 001 Fig. 9b): the number of IS, DWs
and TLS grows with the exploration time, so n0 of T_f explored for different
times are not comparable; the seed compares them after the longest time every
T_f reached.  ``t_common`` (tau) is the smallest Table I ``tau_total`` over
the T_f of the run (NaN if any T_f's is unknown); ``count_t_common`` counts
the DWs with E < k_B T_Q whose ``t_found`` (both minima known,
:func:`discovery_times`) is <= t_common; ``n0_t_common``,
``n0_t_common_err_poisson`` and ``n0_t_common_upper95`` are ``n0``,
``n0_err_poisson`` and ``n0_upper95`` of those DWs (same N N_g k_B T_Q
normalisation; :func:`plateau_n0` with ``t_max``).  At the T_f whose
tau_total is t_common they equal n0.  When the count cannot be told (t_common
NaN, or a DW with E < k_B T_Q has no discovery time, e.g. the run has no
exploration time series) these columns are NaN.

Loop yield (``loop_yield.csv``), per iteration: ``n_neb`` (pairs run),
``n_dw`` (new catalogue DWs), ``n_tls_<p>``, ``tls_per_neb_<p>``,
``cum_neb``, ``cum_tls_<p>``.

Plots (PNG): ``nE_over_E.png`` (Fig. 9a), ``cdf_splittings.png`` (Fig. 6),
``dw_vs_E.png`` (Fig. 7), ``exploration.png`` (Fig. 3), ``growth.png``
(Fig. 4), ``ml_diagnostics.png``; and ``summary.txt``, one screen of text.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from . import TLSFinderError
from .io import atomic_path, write_parquet
from .workflow import tf_label

log = logging.getLogger(__name__)

#: Input keys of :func:`make_report` and the files each lists (see the module docstring).
REPORT_INPUT_KEYS = {
    "neb": "results/loop/iter{k}/neb/batch{b}.parquet (all iterations and batches; required)",
    "glasses": "results/explore/T{tf}/glasses.parquet (all T_f; required)",
    "n_is": "results/explore/T{tf}/n_is.parquet (all T_f)",
    "persistence": "results/explore/T{tf}/persistence.parquet (all T_f)",
    "timeseries": "results/explore/T{tf}/g{g}/timeseries.parquet (all glasses)",
    "libraries": "results/explore/T{tf}/g{g}/is_library.h5 (all glasses; optional)",
    "ranking": "results/loop/iter{k}/ranking.parquet (all iterations)",
    "labels": "results/loop/iter{k}/labels.parquet (all that exist)",
    "yields": "results/loop/iter{k}/yield.parquet (all iterations)",
}
REQUIRED_KEYS = ("neb", "glasses")

#: Files written by :func:`make_report` into its output folder.
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

N_BOOTSTRAP = 1000
_GLASS_RE = re.compile(r"^T([0-9.eE+-]+)/g(\d+)$")
_PATH_GLASS_RE = re.compile(r"T([0-9.eE+-]+)/g(\d+)(?:/|$)")
_ITER_RE = re.compile(r"iter(\d+)")
_ROOT_RE = re.compile(r"^(-?\d+)-(-?\d+)")

# ---------------------------------------------------------------------------
# identifiers
# ---------------------------------------------------------------------------


def glass_tf(glass_ids, source: str = "table") -> np.ndarray:
    """T_f of each glass id ``T<T_f>/g<index>`` (float array)."""
    out = np.empty(len(glass_ids))
    for k, g in enumerate(glass_ids):
        m = _GLASS_RE.match(str(g))
        if m is None:
            raise TLSFinderError(f"{source}: glass id {g!r} is not of the form 'T<T_f>/g<index>'")
        out[k] = float(m.group(1))
    return out


def iteration_of(path) -> int:
    """The loop iteration ``k`` of a path ``.../iter{k}/...``."""
    hits = _ITER_RE.findall(str(path))
    if not hits:
        raise TLSFinderError(f"{path}: cannot tell the loop iteration (no 'iter<k>' in the path and no "
                             "'iteration' column)")
    return int(hits[-1])


def glass_of_path(path) -> str:
    """Glass id of a per-glass file ``.../T{tf}/g{g}/<file>``."""
    from .prepare import glass_name

    hits = _PATH_GLASS_RE.findall(str(path))
    if not hits:
        raise TLSFinderError(f"{path}: cannot tell the glass (expected '.../T<T_f>/g<index>/' in the path)")
    tf, g = hits[-1]
    return glass_name(float(tf), int(g))


def root_pair(pair_id: str, glass: str) -> tuple[int, int] | None:
    """IS ids (i, j) of the selected pair a (sub-)pair id ``<glass>/<i>-<j>[.n...]`` descends from."""
    s = str(pair_id)
    prefix = f"{glass}/"
    if not s.startswith(prefix):
        return None
    m = _ROOT_RE.match(s[len(prefix):])
    return (int(m.group(1)), int(m.group(2))) if m else None


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def _read_parquet(path, needed: Iterable[str] = (), what: str = "table") -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: no such {what}")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a user error here
        raise TLSFinderError(f"{path}: not a readable Parquet {what} ({exc})") from exc
    missing = [c for c in needed if c not in df.columns]
    if missing and len(df):
        raise TLSFinderError(f"{path}: {what} lacks column(s) {missing} (has {list(df.columns)})")
    return df


def read_neb_tables(paths: Iterable) -> pd.DataFrame:
    """All NEB tables in one frame, with ``iteration`` and ``source`` (the file) added.

    Tables with no rows are skipped (a batch may have had nothing to do).
    """
    frames = []
    for p in paths:
        df = _read_parquet(p, ("glass", "status"), "NEB table")
        if not len(df):
            continue
        df = df.copy()
        if "iteration" not in df.columns or df["iteration"].isna().any():
            df["iteration"] = iteration_of(p)
        df["iteration"] = df["iteration"].astype("int64")
        df["source"] = str(p)
        df["glass"] = df["glass"].astype(str)
        df["status"] = df["status"].astype(str)
        frames.append(df)
    if not frames:
        return pd.DataFrame({"glass": pd.Series([], dtype=str), "status": pd.Series([], dtype=str),
                             "iteration": pd.Series([], dtype="int64"), "source": pd.Series([], dtype=str)})
    return pd.concat(frames, ignore_index=True)


def read_tables(paths: Iterable, needed: Iterable[str] = (), what: str = "table", add_iteration: bool = False):
    """Concatenate Parquet tables (empty frame if none); optionally add ``file_iteration`` from the path."""
    frames = []
    for p in paths:
        df = _read_parquet(p, needed, what)
        if add_iteration:
            df = df.assign(file_iteration=iteration_of(p))
        frames.append(df)
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(needed))


def first_seen_table(timeseries: Mapping[str, pd.DataFrame] | None = None,
                     libraries: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """First time (tau) each IS of each glass was seen: ``glass``, ``is_id``, ``t_first``.

    From the exploration time series (first row of each ``is_id``: the time the
    change into it was located); IS absent from it take the library's
    ``first_seen`` (the time of the quench that found it).
    """
    rows = []
    seen = set()
    for glass, ts in (timeseries or {}).items():
        if not len(ts):
            continue
        first = ts.groupby("is_id", sort=True)["time"].min()
        rows.append(pd.DataFrame({"glass": glass, "is_id": first.index.to_numpy(np.int64),
                                  "t_first": first.to_numpy(float)}))
        seen.update((glass, int(k)) for k in first.index)
    for glass, fs in (libraries or {}).items():
        fs = np.asarray(fs, dtype=float)
        ids = [k for k in range(len(fs)) if (glass, k) not in seen]
        if ids:
            rows.append(pd.DataFrame({"glass": glass, "is_id": np.asarray(ids, np.int64), "t_first": fs[ids]}))
    if not rows:
        return pd.DataFrame({"glass": pd.Series([], dtype=str), "is_id": pd.Series([], dtype="int64"),
                             "t_first": pd.Series([], dtype=float)})
    return pd.concat(rows, ignore_index=True)


def read_library_first_seen(path) -> tuple[str, np.ndarray]:
    """(glass id, first_seen) of an IS library, without loading its positions."""
    import h5py

    from .explore import ISLIB_FORMAT

    path = Path(path)
    try:
        with h5py.File(path, "r") as h:
            if h.attrs.get("format") != ISLIB_FORMAT:
                raise TLSFinderError(f"{path}: not a tlsfinder IS library (format {h.attrs.get('format')!r})")
            glass = h.attrs.get("glass")
            fs = h["first_seen"][()]
    except TLSFinderError:
        raise
    except (OSError, KeyError) as exc:
        raise TLSFinderError(f"{path}: unreadable IS library ({exc})") from exc
    glass = glass.decode() if isinstance(glass, bytes) else (str(glass) if glass is not None else glass_of_path(path))
    return glass, np.asarray(fs, dtype=float)


# ---------------------------------------------------------------------------
# catalogue
# ---------------------------------------------------------------------------

_FRONT = ("glass", "T_f", "i", "j", "iteration", "pair_id", "parent", "origin", "status", "t_found", "d", "PR",
          "d_path", "V_a", "Delta_V", "V_b", "w1", "w2", "w_TS")
_PER_PRESET = ("E", "Delta", "Delta_0", "Gamma", "Gamma_per_s", "is_TLS", "converged", "wkb_ok")


def catalogue(neb: pd.DataFrame, presets=(), first_seen: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """The TLS catalogue from NEB rows: every row with ``status == "dw"``, once.

    Returns (catalogue, number of duplicate DWs dropped).  Adds ``T_f`` and
    ``t_found`` (:func:`discovery_times`; NaN without ``first_seen``); checks
    that each preset's ``E_<p>`` and ``is_TLS_<p>`` exist and agree with the
    preset's kT_Q.  Sorted by T_f, glass, iteration, pair id.
    """
    if len(neb) and "status" not in neb.columns:
        raise TLSFinderError(f"NEB rows lack the 'status' column (have {list(neb.columns)})")
    dw = neb[neb["status"] == "dw"].copy() if len(neb) else neb.iloc[:0].copy()
    for p in presets:
        for col in (f"E_{p.name}", f"is_TLS_{p.name}"):
            if len(dw) and col not in dw.columns:
                src = sorted(set(dw["source"])) if "source" in dw.columns else ["NEB rows"]
                raise TLSFinderError(f"{src[0]}: column {col!r} missing: the NEB tables were computed without unit "
                                     f"preset {p.name!r}, which the config's units.presets lists")
        if len(dw):
            e = dw[f"E_{p.name}"].to_numpy(float)
            flag = dw[f"is_TLS_{p.name}"].to_numpy(bool)
            ok = np.isfinite(e)
            bad = ok & (flag != (e < p.kT_Q))
            if bad.any():
                raise TLSFinderError(
                    f"preset {p.name}: {int(bad.sum())} DW(s) have is_TLS_{p.name} inconsistent with "
                    f"E_{p.name} < kT_Q = {p.kT_Q}: the NEB tables were made with another kT_Q than the config's")
    dw["T_f"] = glass_tf(dw["glass"].to_numpy(), "NEB table") if len(dw) else np.zeros(0)
    for c in ("i", "j"):
        if c not in dw.columns:
            dw[c] = np.int64(-1)
    dw["i"] = dw["i"].astype("int64")
    dw["j"] = dw["j"].astype("int64")
    if "pair_id" not in dw.columns:
        dw["pair_id"] = [f"{g}/{i}-{j}" for g, i, j in zip(dw["glass"], dw["i"], dw["j"])]
    if "iteration" not in dw.columns:
        dw["iteration"] = np.int64(0)
    dw["_order"] = np.arange(len(dw))
    dw = dw.sort_values(["T_f", "glass", "iteration", "_order"], kind="stable")
    lo, hi = np.minimum(dw["i"], dw["j"]), np.maximum(dw["i"], dw["j"])
    known = (lo >= 0).to_numpy() & (lo != hi).to_numpy()
    key = pd.DataFrame({"g": dw["glass"].to_numpy(), "lo": lo.to_numpy(), "hi": hi.to_numpy()})
    dup = key.duplicated().to_numpy() & known
    n_dup = int(dup.sum())
    if n_dup:
        log.info("catalogue: %d DW(s) computed more than once kept once", n_dup)
    dw = dw[~dup].drop(columns="_order").reset_index(drop=True)
    dw["t_found"] = discovery_times(dw, first_seen) if len(dw) else np.zeros(0)
    front = [c for c in _FRONT if c in dw.columns]
    per = [f"{q}_{p.name}" for p in presets for q in _PER_PRESET if f"{q}_{p.name}" in dw.columns]
    rest = [c for c in dw.columns if c not in front and c not in per]
    return dw[front + per + rest], n_dup


def discovery_times(cat: pd.DataFrame, first_seen: pd.DataFrame | None) -> np.ndarray:
    """Time at which both IS of the selected pair a DW descends from were known (seed 001 Fig. 4).

    The pair is the root of ``pair_id`` (sub-pairs of a split path descend from
    the pair the NEB was started on), else (``i``, ``j``); NaN when an IS has no
    first-seen time.
    """
    out = np.full(len(cat), np.nan)
    if first_seen is None or not len(first_seen) or not len(cat):
        return out
    t = {(str(g), int(k)): float(v) for g, k, v in zip(first_seen["glass"], first_seen["is_id"], first_seen["t_first"])}
    pid = cat["pair_id"] if "pair_id" in cat.columns else pd.Series([None] * len(cat))
    for n, (g, i, j, p) in enumerate(zip(cat["glass"], cat["i"], cat["j"], pid)):
        g = str(g)
        root = root_pair(p, g) if p is not None else None
        a, b = root if root is not None else (int(i), int(j))
        ta, tb = t.get((g, a)), t.get((g, b))
        if ta is not None and tb is not None:
            out[n] = max(ta, tb)
    return out


def neb_outcomes(neb: pd.DataFrame) -> pd.DataFrame:
    """Per T_f: ``N_NEB`` (pairs selected and run: rows with origin "input", or all rows without
    an ``origin`` column) and ``N_NEB_<status>`` (their outcome)."""
    if not len(neb):
        return pd.DataFrame({"T_f": pd.Series([], dtype=float), "N_NEB": pd.Series([], dtype="int64")})
    inp = neb[neb["origin"].astype(str) == "input"] if "origin" in neb.columns else neb
    inp = inp.assign(T_f=glass_tf(inp["glass"].to_numpy(), "NEB table"))
    out = inp.groupby("T_f").size().rename("N_NEB").to_frame()
    counts = inp.groupby(["T_f", "status"]).size().unstack(fill_value=0)
    counts.columns = [f"N_NEB_{c}" for c in counts.columns]
    return out.join(counts).fillna(0).astype("int64").reset_index()


# ---------------------------------------------------------------------------
# Table I
# ---------------------------------------------------------------------------


def table_one(glasses: pd.DataFrame, cat: pd.DataFrame, presets, tau_cg: float, dt: float | None = None,
              neb: pd.DataFrame | None = None) -> pd.DataFrame:
    """Seed 001 Table I for this run, one row per T_f (module docstring)."""
    need = ("glass", "n_IS")
    missing = [c for c in need if c not in glasses.columns]
    if missing and len(glasses):
        raise TLSFinderError(f"glasses table lacks column(s) {missing}")
    g = glasses.assign(T_f=glass_tf(glasses["glass"].to_numpy(), "glasses table")) if len(glasses) else \
        pd.DataFrame({"T_f": pd.Series([], dtype=float), "glass": [], "n_IS": []})
    tfs = sorted(set(g["T_f"]) | set(cat["T_f"] if len(cat) else []))
    rows = []
    for tf in tfs:
        gt = g[g["T_f"] == tf]
        ct = cat[cat["T_f"] == tf] if len(cat) else cat
        n_g = int(gt["glass"].nunique())
        if "intervals" in gt.columns and len(gt):
            iv = gt["intervals"].to_numpy(float)
            if np.ptp(iv) > 0:
                log.warning("T_f=%g: glasses explored for different numbers of intervals (%d..%d); N_cg is the mean",
                            tf, int(iv.min()), int(iv.max()))
            n_cg = float(iv.mean())
        else:
            n_cg = float("nan")
        n_is = int(gt["n_IS"].sum())
        n_dw = int(len(ct))
        row = {"T_f": tf, "N_g": n_g, "tau_cg": float(tau_cg),
               "tau_cg_steps": float(tau_cg) / dt if dt else float("nan"),
               "N_cg": n_cg, "tau_total": n_cg * float(tau_cg), "N_IS": n_is, "N_DW": n_dw}
        for p in presets:
            row[f"N_TLS_{p.name}"] = int(ct[f"is_TLS_{p.name}"].astype(bool).sum()) if n_dw else 0
        row["N_IS/N_g"] = n_is / n_g if n_g else float("nan")
        row["N_DW/N_IS"] = n_dw / n_is if n_is else float("nan")
        for p in presets:
            row[f"N_TLS_{p.name}/N_DW"] = row[f"N_TLS_{p.name}"] / n_dw if n_dw else float("nan")
        row["N_bidirectional"] = int(gt["bidirectional_pairs"].sum()) if "bidirectional_pairs" in gt.columns else -1
        for p in presets:
            col = f"converged_{p.name}"
            row[f"N_DW_unconverged_{p.name}"] = int((~ct[col].astype(bool)).sum()) if (n_dw and col in ct) else 0
        rows.append(row)
    out = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["T_f", "N_g", "N_IS", "N_DW"])
    if neb is not None and len(out):
        oc = neb_outcomes(neb)
        out = out.merge(oc, on="T_f", how="left")
        for c in oc.columns:
            if c != "T_f":
                out[c] = out[c].fillna(0).astype("int64")
        if "N_NEB" not in out.columns:
            out["N_NEB"] = np.int64(0)
    return out


# ---------------------------------------------------------------------------
# n(E), n0
# ---------------------------------------------------------------------------


def n_of_e(cat: pd.DataFrame, presets, n_particles: int, n_glasses: Mapping[float, int]) -> pd.DataFrame:
    """Seed 001 Eq. 3 at every DW splitting: ``T_f``, ``preset``, ``E``, ``n_E`` = N_DW(<= E)/(N N_g),
    ``n_E_over_E`` (eps^-1, per atom)."""
    rows = []
    for tf in sorted(n_glasses):
        ng = int(n_glasses[tf])
        ct = cat[cat["T_f"] == tf] if len(cat) else cat
        for p in presets:
            e = np.sort(ct[f"E_{p.name}"].to_numpy(float)) if len(ct) else np.zeros(0)
            e = e[np.isfinite(e) & (e > 0)]
            if not len(e) or ng <= 0:
                continue
            n = np.arange(1, len(e) + 1) / (n_particles * ng)
            rows.append(pd.DataFrame({"T_f": tf, "preset": p.name, "E": e, "n_E": n, "n_E_over_E": n / e}))
    if not rows:
        return pd.DataFrame({"T_f": pd.Series([], dtype=float), "preset": pd.Series([], dtype=str),
                             "E": pd.Series([], dtype=float), "n_E": pd.Series([], dtype=float),
                             "n_E_over_E": pd.Series([], dtype=float)})
    return pd.concat(rows, ignore_index=True)


def poisson_upper(count: int, cl: float = 0.95) -> float:
    """One-sided upper limit on a Poisson mean after observing ``count`` events."""
    from scipy.stats import chi2

    return float(chi2.ppf(cl, 2 * (int(count) + 1)) / 2.0)


def common_time(tau_total: Mapping[float, float]) -> float:
    """The exploration time (tau) every T_f reached: min of ``tau_total`` (T_f -> tau); NaN if one is unknown."""
    t = np.asarray(list(tau_total.values()), dtype=float)
    return float(t.min()) if len(t) and np.isfinite(t).all() else float("nan")


def plateau_n0(cat: pd.DataFrame, glass_ids: Mapping[float, list[str]], presets, n_particles: int,
               density: float, seed: int = 0, n_boot: int = N_BOOTSTRAP, t_max: float | None = None,
               tau_total: Mapping[float, float] | None = None) -> pd.DataFrame:
    """The plateau n0 of n(E)/E below k_B T_Q per T_f and preset, in reduced and SI units.

    ``glass_ids``: T_f -> ids of all glasses explored at that T_f (also those
    without any DW: they count in N_g and in the bootstrap).  See the module
    docstring for the columns and the error estimates.

    ``t_max`` (tau): count only the DWs discovered by then (``t_found`` <=
    t_max, to a relative 1e-9; N_g unchanged); a row whose count cannot be
    told (t_max NaN, or a DW with E < k_B T_Q and ``t_found`` NaN) has NaN in
    every count and n0 column.  ``tau_total`` (T_f -> Table I tau_total, tau): add the columns
    ``t_common`` = :func:`common_time`, ``count_t_common``, ``n0_t_common``,
    ``n0_t_common_err_poisson``, ``n0_t_common_upper95`` (this function with
    ``t_max = t_common``; the other columns keep ``t_max``).
    """
    from .seeding import stage_rng
    from .units import n0_to_si

    if tau_total is not None:
        out = plateau_n0(cat, glass_ids, presets, n_particles, density, seed, n_boot, t_max)
        t_common = common_time(tau_total)
        cut = plateau_n0(cat, glass_ids, presets, n_particles, density, seed, n_boot, t_common)
        if not len(out):
            return out
        out["t_common"] = t_common
        for new, old in (("count_t_common", "count_below_TQ"), ("n0_t_common", "n0"),
                         ("n0_t_common_err_poisson", "n0_err_poisson"), ("n0_t_common_upper95", "n0_upper95")):
            out[new] = cut[old].to_numpy()
        return out
    rows = []
    for tf in sorted(glass_ids):
        ids = list(glass_ids[tf])
        ng = len(ids)
        ct = cat[cat["T_f"] == tf] if len(cat) else cat
        if len(ct):
            stray = sorted(set(ct["glass"].astype(str)) - set(ids))
            if stray:
                raise TLSFinderError(f"T_f={tf:g}: DWs of glass(es) {stray[:5]} that are not among the explored "
                                     "glasses of the 'glasses' tables: inputs from different runs?")
        for p in presets:
            e = ct[f"E_{p.name}"].to_numpy(float) if len(ct) else np.zeros(0)
            below = np.isfinite(e) & (e < p.kT_Q)
            half = np.isfinite(e) & (e < 0.5 * p.kT_Q)
            unknown = False
            if t_max is not None:
                t = ct["t_found"].to_numpy(float) if len(ct) and "t_found" in ct.columns else np.full(len(e), np.nan)
                unknown = bool(math.isnan(t_max) or (below & np.isnan(t)).any())
                found = t <= t_max * (1 + 1e-9)  # step * dt against N_cg tau_cg: equal up to rounding
                below, half = below & found, half & found
            count = int(below.sum())
            half = int(half.sum())
            scale = n_particles * ng * p.kT_Q if ng else float("nan")
            n0 = count / scale
            err_p = math.sqrt(count) / scale
            if ng >= 2:
                per_glass = pd.Series(below.astype(int), index=ct["glass"].astype(str).to_numpy() if len(ct) else [])
                per_glass = per_glass.groupby(level=0).sum().reindex(ids, fill_value=0).to_numpy()
                rng = stage_rng(seed, "report", "n0", tf_label(tf), p.name)
                boot = per_glass[rng.integers(0, ng, size=(n_boot, ng))].sum(axis=1) / scale
                err_g = float(boot.std(ddof=1))
            else:
                err_g = float("nan")
            row = {"T_f": tf, "preset": p.name, "m_tilde": p.m_tilde, "kT_Q": p.kT_Q, "N": n_particles, "N_g": ng,
                   "count_below_TQ": count, "n0": n0, "n0_err_poisson": err_p, "n0_err_glasses": err_g,
                   "n0_upper95": poisson_upper(count) / scale, "n0_half": half / (0.5 * scale),
                   "n_TLS": n0 * p.kT_Q, "density": density, "n0_vol": n0 * density,
                   "n0_vol_err_poisson": err_p * density, "n0_vol_err_glasses": err_g * density}
            if p.has_si:
                row.update(n0_SI=float(n0_to_si(n0 * density, p)),
                           n0_SI_err_poisson=float(n0_to_si(err_p * density, p)),
                           n0_SI_err_glasses=float(n0_to_si(err_g * density, p)),
                           n0_SI_seed=float(n0_to_si(n0, p)))
            else:
                row.update(n0_SI=np.nan, n0_SI_err_poisson=np.nan, n0_SI_err_glasses=np.nan, n0_SI_seed=np.nan)
            if unknown:
                row.update({k: np.nan for k in row if k == "count_below_TQ" or k.startswith(("n0", "n_TLS"))})
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------
# exploration statistics (Figs. 3, 4)
# ---------------------------------------------------------------------------


def log_time_grid(times, t_end: float | None = None, n: int = 300) -> np.ndarray:
    """Log-spaced times from the smallest positive time to the end (for curves on log axes)."""
    t = np.asarray(times, dtype=float)
    t = t[np.isfinite(t) & (t > 0)]
    hi = max(float(t.max()) if len(t) else 0.0, float(t_end) if t_end and np.isfinite(t_end) else 0.0)
    if hi <= 0:
        return np.zeros(0)
    lo = float(t.min()) if len(t) else hi * 1e-3
    lo = min(lo, hi)
    return np.geomspace(lo, hi, n) if hi > lo else np.array([hi])


def n_is_geometric_mean(n_is: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """exp < log n_IS(t) > over the glasses of ``n_is`` (glass, time, n_is) on ``grid`` (seed 001 Fig. 3b)."""
    if not len(n_is) or not len(grid):
        return np.full(len(grid), np.nan)
    logs = []
    for _, g in n_is.groupby("glass"):
        g = g.sort_values("time")
        k = np.searchsorted(g["time"].to_numpy(float), grid, side="right")
        vals = np.where(k > 0, g["n_is"].to_numpy(float)[np.maximum(k - 1, 0)], np.nan)
        logs.append(np.log(vals))
    return np.exp(np.nanmean(np.vstack(logs), axis=0))


def growth_curves(n_is: pd.DataFrame, cat: pd.DataFrame, presets, grid: np.ndarray) -> pd.DataFrame:
    """N_IS(t), N_DW(t), N_TLS_<p>(t) summed over the glasses of one T_f (seed 001 Fig. 4).

    N_IS counts IS first seen by t (one row of ``n_is`` per new IS); a DW counts
    from its ``t_found``; DWs without one are left out.
    """
    t_is = np.sort(n_is["time"].to_numpy(float)) if len(n_is) else np.zeros(0)
    out = {"time": grid, "N_IS": np.searchsorted(t_is, grid, side="right")}
    tf = cat["t_found"].to_numpy(float) if len(cat) else np.zeros(0)
    ok = np.isfinite(tf)
    out["N_DW"] = np.searchsorted(np.sort(tf[ok]), grid, side="right")
    for p in presets:
        sel = ok & (cat[f"is_TLS_{p.name}"].to_numpy(bool) if len(cat) else np.zeros(0, bool))
        out[f"N_TLS_{p.name}"] = np.searchsorted(np.sort(tf[sel]), grid, side="right")
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------
# the loop (ML diagnostics)
# ---------------------------------------------------------------------------


def loop_yield(neb: pd.DataFrame, cat: pd.DataFrame, presets) -> pd.DataFrame:
    """Per iteration: pairs run, new DWs and TLS per preset, TLS per NEB, running totals."""
    its = sorted(set(neb["iteration"]) if len(neb) else set())
    if not its:
        cols = ["iteration", "n_neb", "n_dw"] + [f"{q}_{p.name}" for p in presets
                                                 for q in ("n_tls", "tls_per_neb", "cum_tls")] + ["cum_neb"]
        return pd.DataFrame({c: pd.Series([], dtype=float) for c in cols})
    inp = neb[neb["origin"].astype(str) == "input"] if "origin" in neb.columns else neb
    out = pd.DataFrame({"iteration": np.asarray(its, dtype=np.int64)})
    out["n_neb"] = [int((inp["iteration"] == k).sum()) for k in its]
    out["n_dw"] = [int((cat["iteration"] == k).sum()) if len(cat) else 0 for k in its]
    out["cum_neb"] = out["n_neb"].cumsum()
    for p in presets:
        n = [int(cat.loc[cat["iteration"] == k, f"is_TLS_{p.name}"].astype(bool).sum()) if len(cat) else 0
             for k in its]
        out[f"n_tls_{p.name}"] = n
        out[f"tls_per_neb_{p.name}"] = np.where(out["n_neb"] > 0, np.asarray(n) / np.maximum(out["n_neb"], 1), np.nan)
        out[f"cum_tls_{p.name}"] = np.cumsum(n)
    return out


def truth_vs_prediction(ranking: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Rankings joined with the labels of the pairs they chose.

    ``ranking`` has ``file_iteration`` (the iteration that ranked; from its
    path), ``labels`` the ``iteration`` that computed each pair: a pair ranked
    in iteration k is matched with its label from iteration k.  Columns:
    iteration, glass, i, j, rank, p_dw, splitting_pred, is_dw, splitting.
    """
    cols = ["iteration", "glass", "i", "j", "rank", "p_dw", "splitting_pred", "is_dw", "splitting"]
    if not len(ranking) or not len(labels) or "iteration" not in labels.columns:
        return pd.DataFrame({c: [] for c in cols})
    lab = labels[["glass", "i", "j", "iteration", "is_dw", "splitting"]].copy()
    lab["glass"] = lab["glass"].astype(str)
    lab = lab.drop_duplicates(["glass", "i", "j"], keep="last")
    r = ranking.rename(columns={"file_iteration": "iteration"}).copy()
    r["glass"] = r["glass"].astype(str)
    m = r.merge(lab, on=["glass", "i", "j", "iteration"], how="inner")
    return m[[c for c in cols if c in m.columns]].reset_index(drop=True)


def combine_yields(yields: pd.DataFrame) -> pd.DataFrame:
    """One row per iteration from the yield tables of all iterations (the latest file wins)."""
    if not len(yields) or "iteration" not in yields.columns:
        return pd.DataFrame(columns=["iteration", "n_neb", "n_dw", "n_tls", "tls_per_neb", "cum_neb", "cum_tls"])
    y = yields.sort_values("file_iteration", kind="stable") if "file_iteration" in yields.columns else yields
    return y.drop_duplicates("iteration", keep="last").sort_values("iteration").reset_index(drop=True)


# ---------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    """Lay out ``fig``, write it to ``path`` (PNG, atomically) and close it."""
    plt = _pyplot()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _note(ax, text: str) -> None:
    """Say in the panel why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, wrap=True,
            color="0.3")
    ax.set_xticks([])
    ax.set_yticks([])


def _colors(tfs) -> dict:
    plt = _pyplot()
    tfs = sorted(tfs)
    cmap = plt.get_cmap("plasma")
    return {tf: cmap(0.1 + 0.75 * (k / max(len(tfs) - 1, 1))) for k, tf in enumerate(tfs)}


def _cdf(ax, x, color, label) -> bool:
    x = np.sort(np.asarray(x, dtype=float))
    x = x[np.isfinite(x) & (x > 0)]
    if not len(x):
        return False
    ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", color=color, label=label)
    return True


def _grid(nrows, ncols, w=3.6, h=3.0):
    """A figure with an (nrows, ncols) array of panels of w x h inches each."""
    return _pyplot().subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)


def _preset_rows(presets, tfs, ncols=4):
    """A figure with a row of ``ncols`` panels per unit preset: (fig, [(row of axes, preset)], T_f colours)."""
    presets = list(presets)
    fig, axes = _grid(max(len(presets), 1), ncols)
    return fig, list(zip(axes, presets)), _colors(tfs)


def _positive(x, y) -> np.ndarray:
    """Mask of the points a log-log panel can show: both coordinates finite and > 0."""
    return np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)


def _scatter_positive(ax, x, y, color, label) -> bool:
    """Scatter the points of (x, y) a log-log panel can show; True if there were any."""
    ok = _positive(x, y)
    if ok.any():
        ax.scatter(x[ok], y[ok], s=6, color=color, label=label)
    return bool(ok.any())


def _loglog(ax):
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())


def plot_n_over_e(path, nE: pd.DataFrame, n0: pd.DataFrame, presets, tfs) -> None:
    """n(E)/E versus E per T_f, one panel per preset; T_Q dashed, n0 dotted (seed 001 Fig. 9a)."""
    presets = list(presets)
    fig, axes = _grid(1, max(len(presets), 1), 4.4, 3.6)
    col = _colors(tfs)
    for ax, p in zip(axes[0], presets):
        d = nE[nE["preset"] == p.name] if len(nE) else nE
        if not len(d):
            _note(ax, f"no double wells found\n(preset {p.name}, m~ = {p.m_tilde:g})")
            ax.set_title(f"{p.name}: n(E)/E")
            continue
        for tf, g in d.groupby("T_f"):
            ax.plot(g["E"], g["n_E_over_E"], "-", marker=".", ms=3, lw=1, color=col.get(tf), label=f"T_f={tf:g}")
            r = n0[(n0["T_f"] == tf) & (n0["preset"] == p.name)] if len(n0) else n0
            if len(r) and r["count_below_TQ"].iloc[0] > 0:
                v, e = float(r["n0"].iloc[0]), float(r["n0_err_poisson"].iloc[0])
                lo = float(g["E"].min())
                ax.hlines(v, lo, p.kT_Q, colors=[col.get(tf)], linestyles=":", lw=1.5)
                ax.fill_between([lo, p.kT_Q], max(v - e, v * 1e-3), v + e, color=col.get(tf), alpha=0.15, lw=0)
        ax.axvline(p.kT_Q, color="k", ls="--", lw=0.8, label=f"k_B T_Q = {p.kT_Q:g}")
        _loglog(ax)
        ax.set_xlabel("splitting E (eps)")
        ax.set_ylabel("n(E)/E (eps$^{-1}$ per atom)")
        ax.set_title(f"{p.name} (m~ = {p.m_tilde:g})")
        ax.legend(fontsize=7)
    _save(fig, path)


def plot_cdfs(path, cat: pd.DataFrame, presets, tfs) -> None:
    """Seed 001 Fig. 6: E vs sqrt(Delta^2 + Delta_0^2); CDFs of Delta_0, |Delta|, E; a row per preset."""
    fig, rows, col = _preset_rows(presets, tfs)
    for row, p in rows:
        titles = ("E vs sqrt(Delta^2 + Delta_0^2)", "CDF of Delta_0", "CDF of |Delta|", "CDF of E")
        if not len(cat):
            for ax, t in zip(row, titles):
                _note(ax, "no double wells found")
                ax.set_title(f"{p.name}: {t}", fontsize=9)
            continue
        any_data = [False] * 4
        for tf, g in cat.groupby("T_f"):
            c = col.get(tf)
            E = g[f"E_{p.name}"].to_numpy(float)
            D = g[f"Delta_{p.name}"].to_numpy(float)
            D0 = g[f"Delta_0_{p.name}"].to_numpy(float)
            any_data[0] |= _scatter_positive(row[0], np.sqrt(D * D + D0 * D0), E, c, f"T_f={tf:g}")
            any_data[1] |= _cdf(row[1], D0, c, f"T_f={tf:g}")
            any_data[2] |= _cdf(row[2], np.abs(D), c, f"T_f={tf:g}")
            any_data[3] |= _cdf(row[3], E, c, f"T_f={tf:g}")
        for k, (ax, t) in enumerate(zip(row, titles)):
            ax.set_title(f"{p.name}: {t}", fontsize=9)
            if not any_data[k]:
                _note(ax, "no positive values")
                continue
            _loglog(ax)
            if k == 0:
                lim = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
                ax.plot(lim, lim, "k-", lw=0.6)
                ax.set_xlabel("sqrt(Delta^2 + Delta_0^2) (eps)")
                ax.set_ylabel("E (eps)")
            else:
                ax.axvline(p.kT_Q, color="k", ls="--", lw=0.8)
                ax.set_xlabel(("Delta_0", "|Delta|", "E")[k - 1] + " (eps)")
                ax.set_ylabel("fraction of DWs below")
            ax.legend(fontsize=6)
    _save(fig, path)


def plot_vs_e(path, cat: pd.DataFrame, presets, tfs) -> None:
    """Seed 001 Fig. 7: Delta V, V_b, Gamma, PR versus E; a row per preset."""
    fig, rows, col = _preset_rows(presets, tfs)
    for row, p in rows:
        gcol = f"Gamma_per_s_{p.name}"
        use_si = len(cat) and gcol in cat.columns and np.isfinite(cat[gcol].to_numpy(float)).any()
        ys = [("Delta_V", "Delta V (eps)"), ("V_b", "V_b (eps)"),
              (gcol, "Gamma (1/s)") if use_si else (f"Gamma_{p.name}", "Gamma (eps/hbar)"), ("PR", "PR")]
        for ax, (c, lab) in zip(row, ys):
            ax.set_title(f"{p.name}: {lab.split(' (')[0]} vs E", fontsize=9)
            if not len(cat) or c not in cat.columns:
                _note(ax, "no double wells found" if not len(cat) else f"no column {c}")
                continue
            drawn = False
            for tf, g in cat.groupby("T_f"):
                drawn |= _scatter_positive(ax, g[f"E_{p.name}"].to_numpy(float), g[c].to_numpy(float),
                                           col.get(tf), f"T_f={tf:g}")
            if not drawn:
                _note(ax, "no positive values")
                continue
            _loglog(ax)
            ax.axvline(p.kT_Q, color="k", ls="--", lw=0.8)
            ax.set_xlabel("E (eps)")
            ax.set_ylabel(lab)
            ax.legend(fontsize=6)
    _save(fig, path)


def plot_exploration(path, persistence: pd.DataFrame, n_is: pd.DataFrame, t_end: Mapping[float, float]) -> None:
    """Seed 001 Fig. 3: CDF of persistence times; geometric mean of n_IS(t) over glasses; per T_f."""
    fig, axes = _grid(1, 2, 4.4, 3.6)
    a, b = axes[0]
    tfs = set()
    if len(persistence):
        persistence = persistence.assign(T_f=glass_tf(persistence["glass"].to_numpy(), "persistence table"))
        tfs |= set(persistence["T_f"])
    if len(n_is):
        n_is = n_is.assign(T_f=glass_tf(n_is["glass"].to_numpy(), "n_is table"))
        tfs |= set(n_is["T_f"])
    col = _colors(tfs)
    drawn = False
    if len(persistence):
        for tf, g in persistence.groupby("T_f"):
            drawn |= _cdf(a, g["tau_p"], col[tf], f"T_f={tf:g}")
    if drawn:
        a.set_xscale("log")
        a.set_xlabel("persistence time tau_p (tau)")
        a.set_ylabel("CDF")
        a.legend(fontsize=7)
    else:
        _note(a, "no persistence times\n(no IS change during exploration)")
    a.set_title("(a) persistence times")
    drawn = False
    if len(n_is):
        for tf, g in n_is.groupby("T_f"):
            grid = log_time_grid(g["time"], t_end.get(tf))
            if not len(grid):
                continue
            b.plot(grid, n_is_geometric_mean(g, grid), color=col[tf], label=f"T_f={tf:g}")
            drawn = True
    if drawn:
        _loglog(b)
        b.set_xlabel("exploration time t (tau)")
        b.set_ylabel("exp<log n_IS(t)>")
        b.legend(fontsize=7)
    else:
        _note(b, "no IS time series")
    b.set_title("(b) distinct IS per glass")
    _save(fig, path)


def plot_growth(path, n_is: pd.DataFrame, cat: pd.DataFrame, presets, t_end: Mapping[float, float]) -> None:
    """Seed 001 Fig. 4: N_IS, N_DW, N_TLS versus exploration time, and N_DW/N_IS; a column per T_f."""
    if len(n_is):
        n_is = n_is.assign(T_f=glass_tf(n_is["glass"].to_numpy(), "n_is table"))
    tfs = sorted((set(n_is["T_f"]) if len(n_is) else set()) | (set(cat["T_f"]) if len(cat) else set()))
    fig, axes = _grid(2, max(len(tfs), 1), 4.0, 3.0)
    if not tfs:
        _note(axes[0][0], "no exploration data")
        _note(axes[1][0], "no exploration data")
    styles = ["-", "--", ":", "-."]
    for k, tf in enumerate(tfs):
        top, bot = axes[0][k], axes[1][k]
        ni = n_is[n_is["T_f"] == tf] if len(n_is) else n_is
        ct = cat[cat["T_f"] == tf] if len(cat) else cat
        times = list(ni["time"]) if len(ni) else []
        times += list(ct["t_found"]) if len(ct) else []
        grid = log_time_grid(times, t_end.get(tf))
        top.set_title(f"T_f = {tf:g}")
        if not len(grid):
            _note(top, "no exploration time series")
            _note(bot, "")
            continue
        gc = growth_curves(ni, ct, presets, grid)
        top.step(grid, gc["N_IS"], where="post", color="tab:green", label="N_IS")
        top.step(grid, gc["N_DW"], where="post", color="tab:orange", label="N_DW")
        for s, p in zip(styles, presets):
            top.step(grid, gc[f"N_TLS_{p.name}"], where="post", color="tab:purple", ls=s, label=f"N_TLS ({p.name})")
        top.set_xscale("log")
        if (gc["N_IS"] > 0).any():
            top.set_yscale("symlog", linthresh=1)
        top.set_ylim(bottom=0)
        top.set_xlabel("exploration time t (tau)")
        top.set_ylabel("count (all glasses)")
        if len(ct) and np.isnan(ct["t_found"].to_numpy(float)).any():
            top.text(0.02, 0.98, f"{int(np.isnan(ct['t_found'].to_numpy(float)).sum())} DW(s) without IS times",
                     transform=top.transAxes, va="top", fontsize=7)
        if not len(ct):
            top.text(0.02, 0.98, "no double wells found", transform=top.transAxes, va="top", fontsize=8)
        top.legend(fontsize=6, loc="lower right")
        ratio = np.where(gc["N_IS"] > 0, gc["N_DW"] / np.maximum(gc["N_IS"], 1), np.nan)
        bot.plot(grid, ratio, color="tab:orange")
        bot.set_xscale("log")
        bot.set_xlabel("exploration time t (tau)")
        bot.set_ylabel("N_DW / N_IS")
    _save(fig, path)


def plot_ml(path, tvp: pd.DataFrame, yld: pd.DataFrame, ml_yield: pd.DataFrame, presets,
            tls_splitting_max: float | None = None) -> None:
    """ML diagnostics: true vs predicted splitting; TLS found vs NEBs run; TLS per NEB per iteration."""
    plt = _pyplot()
    fig, axes = _grid(1, 3, 4.2, 3.6)
    a, b, c = axes[0]
    d = tvp[tvp["is_dw"].astype(bool)] if len(tvp) else tvp
    if len(d):
        x, y = d["splitting"].to_numpy(float), d["splitting_pred"].to_numpy(float)
        ok = _positive(x, y)
    else:
        ok = np.zeros(0, bool)
    if ok.any():
        its = d["iteration"].to_numpy()[ok]
        cmap = plt.get_cmap("viridis")
        uniq = sorted(set(its))
        for n, k in enumerate(uniq):
            m = its == k
            a.scatter(x[ok][m], y[ok][m], s=8, color=cmap(n / max(len(uniq) - 1, 1)), label=f"iteration {k}")
        lim = [min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())]
        a.plot(lim, lim, "k-", lw=0.6)
        if tls_splitting_max:
            a.axvline(tls_splitting_max, color="k", ls="--", lw=0.8)
            a.axhline(tls_splitting_max, color="k", ls="--", lw=0.8)
        _loglog(a)
        a.legend(fontsize=6, loc="lower right")
        a.set_xlabel("true splitting E (eps)")
        a.set_ylabel("predicted splitting (eps)")
        n_dw = int(d["is_dw"].sum())
        a.text(0.02, 0.98, f"{int(ok.sum())} DWs; DW fraction of the chosen pairs {n_dw}/{len(tvp)}",
               transform=a.transAxes, va="top", fontsize=7)
    else:
        _note(a, "no model predictions with computed labels yet\n(iteration 0 ranks by the heuristic; the last "
              "iteration's\nlabels exist only after its NEBs are merged)")
    a.set_title("(a) true vs predicted splitting", fontsize=9)
    if len(yld) and yld["n_neb"].sum() > 0:
        x0 = np.concatenate([[0], yld["cum_neb"]])
        for s, p in zip(["-", "--", ":", "-."], presets):
            b.plot(x0, np.concatenate([[0], yld[f"cum_tls_{p.name}"]]), marker="o", ls=s, label=f"TLS ({p.name})")
        b.plot(x0, np.concatenate([[0], np.cumsum(yld["n_dw"])]), marker="s", color="0.5", label="DW")
        b.set_xlabel("NEBs run (cumulative)")
        b.set_ylabel("found (cumulative)")
        b.legend(fontsize=7)
        w = 0.8 / max(len(presets), 1)
        for k, p in enumerate(presets):
            c.bar(yld["iteration"] + (k - (len(presets) - 1) / 2) * w, yld[f"tls_per_neb_{p.name}"], width=w,
                  label=f"{p.name} (kT_Q = {p.kT_Q:g})")
        if len(ml_yield) and "tls_per_neb" in ml_yield.columns:
            c.plot(ml_yield["iteration"], ml_yield["tls_per_neb"], "kx", ms=8,
                   label="yield.parquet" + (f" (E < {tls_splitting_max:g})" if tls_splitting_max else ""))
        c.set_xlabel("iteration")
        c.set_ylabel("TLS per NEB")
        c.set_xticks(list(yld["iteration"]))
        c.legend(fontsize=7)
    else:
        _note(b, "no NEB run yet")
        _note(c, "no NEB run yet")
    b.set_title("(b) TLS found vs NEBs run", fontsize=9)
    c.set_title("(c) yield per iteration", fontsize=9)
    _save(fig, path)


# ---------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------


def _common_time_line(n0: pd.DataFrame) -> str:
    """One summary line: n0 per T_f and preset after the exploration time all T_f reached (seed 001 Fig. 9b)."""
    t = float(n0["t_common"].iloc[0])
    if not np.isfinite(t):
        return "n0 at a common exploration time: unknown (no tau_total for some T_f)"
    parts = []
    for tf, g in n0.groupby("T_f", sort=True):
        vals = []
        for _, r in g.iterrows():
            c = r["count_t_common"]
            v = ("?" if not np.isfinite(c) else f"{r['n0_t_common']:.3g}" if c > 0
                 else f"<{r['n0_t_common_upper95']:.2g}")
            vals.append(f"{r['preset']} {v}")
        parts.append(f"T_f={tf:g}: " + ", ".join(vals))
    known = np.isfinite(n0["count_t_common"].to_numpy(float)).all()
    unknown = "" if known else " (?: DWs without discovery times)"
    return f"n0 at common exploration time t = {t:.4g} tau (Fig. 9b): " + "; ".join(parts) + unknown


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
    if "t_common" in n0.columns and n0["T_f"].nunique() > 1:
        lines.append(_common_time_line(n0))
    lines.append("")
    lines.append(f"files in {out_dir}/: {OUTPUT_FILES['catalogue']} (one row per DW), {OUTPUT_FILES['table1_csv']}, "
                 f"{OUTPUT_FILES['n0']}, {OUTPUT_FILES['nE']}, {OUTPUT_FILES['loop_yield']}, *.png")
    lines.append("HTML report with the plots: snakemake --report report.html")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# the stage
# ---------------------------------------------------------------------------


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


def run_settings(config: dict):
    """(presets, model name, N, density, tau_cg, dt, seed, ML threshold) of a config."""
    from .explore import ExploreSettings
    from .ml import ml_setting
    from .models import model_from_config
    from .neb import settings_from_config

    if "model" not in config:
        raise TLSFinderError("config: section 'model' missing")
    model = model_from_config(config["model"])
    _, presets, _ = settings_from_config(config)
    ex = dict(config.get("explore") or {})
    defaults = ExploreSettings()
    tau_cg = float(ex.get("tau_cg", defaults.tau_cg))
    dt = float(ex.get("dt", defaults.dt))
    return (presets, config["model"]["name"], int(model.n), float(model.density), tau_cg, dt,
            int(config.get("seed", 0)), float(ml_setting(config, "tls_splitting_max")))


def make_report(inputs: Mapping[str, list[str]], config: dict, out_dir) -> dict:
    """Read the workflow's tables (:data:`REPORT_INPUT_KEYS`), write :data:`OUTPUT_FILES` into ``out_dir``.

    Returns a dict with the output paths and the headline numbers.
    """
    inputs = check_inputs(inputs)
    out_dir = Path(out_dir)
    out = {k: out_dir / v for k, v in OUTPUT_FILES.items()}
    presets, model_name, n_particles, density, tau_cg, dt, seed, ml_max = run_settings(config)

    neb = read_neb_tables(inputs["neb"])
    glasses = read_tables(inputs["glasses"], ("glass", "n_IS"), "explore glasses table")
    if len(glasses):
        glasses["glass"] = glasses["glass"].astype(str)
        glasses = glasses.drop_duplicates("glass", keep="last")
    n_is = read_tables(inputs["n_is"], ("glass", "time", "n_is"), "n_IS table")
    persistence = read_tables(inputs["persistence"], ("glass", "tau_p"), "persistence table")
    ts = {glass_of_path(p): _read_parquet(p, ("time", "is_id"), "time series") for p in inputs["timeseries"]}
    libs = dict(read_library_first_seen(p) for p in inputs["libraries"])
    first = first_seen_table(ts, libs)

    cat, n_dup = catalogue(neb, presets, first)
    write_parquet(out["catalogue"], cat)

    t1 = table_one(glasses, cat, presets, tau_cg, dt, neb)
    write_parquet(out["table1"], t1)
    with atomic_path(out["table1_csv"]) as tmp:
        t1.to_csv(tmp, index=False, float_format="%.6g")

    g_tf = glass_tf(glasses["glass"].to_numpy(), "glasses table") if len(glasses) else np.zeros(0)
    glass_ids = {float(tf): sorted(glasses["glass"][g_tf == tf]) for tf in sorted(set(g_tf))}
    for tf in sorted(set(cat["T_f"]) if len(cat) else set()):
        if tf not in glass_ids:
            raise TLSFinderError(f"DWs at T_f={tf:g} but no 'glasses' table for it among {inputs['glasses']}")
    n_glasses = {tf: len(v) for tf, v in glass_ids.items()}
    nE = n_of_e(cat, presets, n_particles, n_glasses)
    write_parquet(out["nE"], nE)
    tau_total = {float(r["T_f"]): float(r["tau_total"]) for _, r in t1.iterrows() if float(r["T_f"]) in glass_ids}
    n0 = plateau_n0(cat, glass_ids, presets, n_particles, density, seed, tau_total=tau_total)
    with atomic_path(out["n0"]) as tmp:
        n0.to_csv(tmp, index=False, float_format="%.6g")

    yld = loop_yield(neb, cat, presets)
    with atomic_path(out["loop_yield"]) as tmp:
        yld.to_csv(tmp, index=False, float_format="%.6g")
    ranking = read_tables(inputs["ranking"], ("glass", "i", "j", "splitting_pred"), "ranking", add_iteration=True)
    labels = read_tables(inputs["labels"], ("glass", "i", "j", "is_dw", "splitting"), "labels table")
    tvp = truth_vs_prediction(ranking, labels)
    ml_yield = combine_yields(read_tables(inputs["yields"], ("iteration",), "yield table", add_iteration=True))

    tfs = sorted(glass_ids)
    t_end = {}
    if "time" in glasses.columns and len(glasses):
        for tf in tfs:
            t_end[tf] = float(glasses["time"][g_tf == tf].max())
    plot_n_over_e(out["plot_nE"], nE, n0, presets, tfs)
    plot_cdfs(out["plot_cdf"], cat, presets, tfs)
    plot_vs_e(out["plot_vs_E"], cat, presets, tfs)
    plot_exploration(out["plot_exploration"], persistence, n_is, t_end)
    plot_growth(out["plot_growth"], n_is, cat, presets, t_end)
    plot_ml(out["plot_ml"], tvp, yld, ml_yield, presets, ml_max)

    inp = neb[neb["origin"].astype(str) == "input"] if len(neb) and "origin" in neb.columns else neb
    counts = {str(k): int(v) for k, v in inp["status"].value_counts().items()} if len(inp) else {}
    n_iter = int(neb["iteration"].nunique()) if len(neb) else 0
    text = summary_text(t1, n0, presets, counts, n_iter, n_dup, out_dir, model_name, n_particles)
    with atomic_path(out["summary"]) as tmp:
        tmp.write_text(text)
    log.info("report: %d DW(s), %s", len(cat),
             ", ".join(f"{int(cat[f'is_TLS_{p.name}'].sum()) if len(cat) else 0} TLS ({p.name})" for p in presets))
    return {"files": {k: str(v) for k, v in out.items()}, "n_dw": int(len(cat)), "n_duplicates": n_dup,
            "n_tls": {p.name: int(cat[f"is_TLS_{p.name}"].sum()) if len(cat) else 0 for p in presets},
            "neb_outcomes": counts, "summary": text}


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def discover_inputs(results_dir) -> dict[str, list[str]]:
    """The report inputs found under a results folder laid out as the workflow writes it."""
    r = Path(results_dir)

    def g(pattern):
        return sorted(str(p) for p in r.glob(pattern))

    return {
        "neb": g("loop/iter*/neb/batch*.parquet"),
        "glasses": g("explore/T*/glasses.parquet"),
        "n_is": g("explore/T*/n_is.parquet"),
        "persistence": g("explore/T*/persistence.parquet"),
        "timeseries": g("explore/T*/g*/timeseries.parquet"),
        "libraries": [],
        "ranking": g("loop/iter*/ranking.parquet"),
        "labels": g("loop/iter*/labels.parquet"),
        "yields": g("loop/iter*/yield.parquet"),
    }


def add_cli(subparsers) -> None:
    """Register ``tlsfinder report``."""
    p = subparsers.add_parser(
        "report", help="TLS catalogue, Table I, n(E)/E and n0, plots, from a results folder",
        description="Collect the NEB tables of all loop iterations and the exploration tables under RESULTS "
        "(the workflow's layout) and write the report files into --out (default RESULTS/report).",
    )
    p.add_argument("--config", required=True, help="the run's YAML config")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", help="output folder (default: RESULTS/report)")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace):
    from .config import load_config

    res = make_report(discover_inputs(args.results), load_config(args.config), args.out or Path(args.results) / "report")
    print(res["summary"], end="")
    return None
