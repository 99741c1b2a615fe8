"""The report's tables, as pure functions from tables to tables (each tested on synthetic data).

"The paper" below is Mocanu et al. (2023), "Microscopic observation of TLS in a
metallic glass model", J. Chem. Phys. 158, 014501.  Reduced LJ units (eps,
sigma, tau; k_B = 1) unless a column says otherwise.

TLS catalogue (``tls_catalogue.parquet``, :func:`catalogue`): one row per
elementary double well (DW), i.e. per glass and unordered pair of IS with a
NEB-table row of ``status == "dw"``.  IS ids are real (the IS library's, or the
ids the merge step gives minima found by NEB, :mod:`tlsfinder.identity`), so a
DW reached twice (directly and as a sub-pair of a split path, or by two split
paths) is one row, kept at its first iteration.  Rows with another status
(``non_dw``, ``unconverged``, ``split`` parents, ``same_minimum``; ``known``: a
sub-pair not run again) are not DWs: they are counted (Table I,
``summary.txt``), not listed.  Columns, with the names the NEB and splitting
modules define (nothing renamed):

=========================  ===================================================
column                     meaning
=========================  ===================================================
``glass``                  glass id ``T<T_f>/g<index>``
``T_f``                    fictive temperature (from the glass id)
``i``, ``j``               IS ids of the pair (>= n_IS: a minimum found
                           inside a split path that the IS library lacks)
``iteration``              loop iteration whose NEB found it
``pair_id``, ``parent``,   NEB bookkeeping (:mod:`tlsfinder.neb`): pair id
``origin``, ``status``     ``<glass>/<i>-<j>[.n...]``, split parent, "input"
                           or "split", always "dw" here
``t_found``                exploration time (tau) at which the selected
                           pair (root of ``pair_id``) had been crossed in
                           both directions (NaN: never, or no time series;
                           Sec. III.B, Fig. 4)
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
``is_TLS_<p>``             E_<p> < k_B T_Q of preset p, where the splitting decides (``splitting.decides``)
``converged_<p>``,         splitting converged in N_xi and walls; WKB turning
``wkb_ok_<p>``             points found (flags, never filters)
``neb_converged``, ...     the other NEB columns (steps, force calls, fmax,
                           energies e_A, e_B, path file names, ``source``: the
                           NEB table the row came from)
``mode_c``, ``mode_c_*``   modes stage (``modes.enabled``; NaN otherwise):
                           best overlap c of a linear mode of minimum i with
                           the displacement i -> j, that mode's frequency,
                           PR and QLM flag, best c with i -> saddle
``nlq_a``                  overlap a of the nonlinear mode grown from the
                           softest QLM of minimum i (modes stage)
``path_1d_doubtful``       1D check along the path (TLS of loop.preset,
                           modes stage): 1 if flagged, 0 if not, NaN
``gamma_l``, ``gamma_t``   coupling stage (``coupling.enabled``, DWs with
                           E < select_kT_factor k_B T_Q): orientational
                           averages of gamma (eps).  All these columns:
                           :data:`tlsfinder.modes_stage.CATALOGUE_COLUMNS`
=========================  ===================================================

Table I (``table1.csv`` / ``.parquet``, :func:`table_one`), one row per T_f, as
the paper's Table I: ``N_g``, ``tau_cg`` (tau), ``tau_cg_steps`` (= tau_cg /
dt; the paper quotes tau_cg in MD steps), ``N_cg`` (quench intervals per glass,
from the explore summaries), ``tau_total`` = N_cg tau_cg (tau), ``N_IS`` (sum
of n_IS), ``N_DW`` (catalogue rows), ``N_TLS_<p>``, ``N_IS/N_g``,
``N_DW/N_IS``, ``N_TLS_<p>/N_DW``; and what the paper's protocol did not have:
``N_bidirectional`` (classical candidates, T_ab, T_ba >= 1), ``N_NEB`` (pairs
selected and run), ``N_NEB_<status>`` (their outcome), ``N_DW_unconverged_<p>``
(DWs whose splitting did not converge).  With the ML loop only the pairs it
chose are computed, so N_DW counts the DWs *found*, not all DWs present.

n(E) (``nE.parquet``, :func:`n_of_e`): the paper's Eq. 3, n(E) = N_DW(E) /
(N N_g), per atom and per glass: for each T_f and preset, one row per DW sorted
by E, with ``n_E`` = (rank + 1) / (N N_g) and ``n_E_over_E`` (eps^-1).

n0 (``n0.csv``, :func:`plateau_n0`), one row per T_f and preset: the plateau of
n(E)/E below k_B T_Q estimated as ``n0`` = N_DW(E < k_B T_Q) / (N N_g k_B T_Q)
= n(T_Q)/T_Q (eps^-1 per atom; unbiased for a constant density of splittings
below T_Q, which is the plateau hypothesis, Eq. 1).  ``n0_half`` is the same
with T_Q / 2 (flatness check); ``n_TLS`` = n0 k_B T_Q (Eq. 2, per atom).
Uncertainties: ``n0_err_poisson`` = sqrt(count) / (N N_g kT_Q), and
``n0_err_glasses``, the standard deviation of n0 over 1000 bootstrap
resamplings of the glasses (seeded: config seed, stream
``report/n0/<T_f>/<preset>``), which includes the large glass-to-glass
variation the paper reports; ``n0_upper95`` is the one-sided 95% Poisson upper
limit (useful when the count is 0).  Volume and SI units: ``n0_vol`` = n0 rho
(eps^-1 sigma^-3, rho the number density) and ``n0_SI`` = n0_vol / (eps
sigma^3) (J^-1 m^-3, :func:`tlsfinder.units.n0_to_si`), with
``n0_SI_err_poisson`` and ``n0_SI_err_glasses``.  ``n0_SI_seed`` = n0 / (eps
sigma^3) is the conversion the paper (Sec. IV.B) applies: its "n0_sim in eps^-1
sigma^-3" are per-atom values (they match its Table I: 125 TLS / (1200 x 1024
x 0.0012) = 0.085 for the quoted 0.08 at T_f = 0.488, NiP), and its J^-1 m^-3
figures equal n0_sim / (eps sigma^3) to within 0.69-1.27 (the quoted pairs are
not consistent with any single factor), i.e. without the density 1.35.  Use
``n0_SI`` for a physical density, ``n0_SI_seed`` to compare with the paper.

n0 at a common exploration time (the paper's Figs. 9b and 10b): the number of
IS, DWs and TLS grows with the exploration time, so n0 of T_f explored for
different times are not comparable; the paper compares them after t = 1e3
tau_LJ.  ``t_common`` (tau) is that time, ``report.n0_time`` (default 1e3
tau); ``count_t_common`` counts the DWs with E < k_B T_Q found by then, i.e.
whose ``t_found`` <= t_common: the paper's exploration takes a pair as a DW
candidate once it has crossed it in both directions (Secs. II.D, III.B), so
``t_found`` (:func:`discovery_times`) is the time of the later of the first
i -> j and the first j -> i transition of the pair the DW's NEB started from
(root of ``pair_id``), read from the glass's exploration time series
(:func:`crossing_times`).  A DW whose pair was never crossed both ways (e.g.
one the ML ranking chose) has ``t_found`` NaN and is not counted at any time.
``n0_t_common``, ``n0_t_common_err_poisson`` and ``n0_t_common_upper95`` are
``n0``, ``n0_err_poisson`` and ``n0_upper95`` of those DWs (same N N_g k_B T_Q
normalisation; :func:`plateau_n0` with ``t_max``).  These columns are NaN at a
T_f explored for less than t_common (Table I ``tau_total``; a warning names
it), or when the count cannot be told (a DW with E < k_B T_Q of a glass
without a time series).

Loop yield (``loop_yield.csv``, :func:`loop_yield`), per iteration: ``n_neb``
(pairs run), ``n_dw`` (new catalogue DWs), ``n_tls_<p>``, ``tls_per_neb_<p>``,
``cum_neb``, ``cum_tls_<p>``.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
import pandas as pd

from .. import TLSFinderError
from ..paths import pair_id, root_pair, tf_label
from ..schema import default
from ..seeding import stage_rng
from ..splitting import valid_splitting
from ..units import n0_to_si
from .inputs import glass_tf

log = logging.getLogger(__name__)

N_BOOTSTRAP = 1000


# ---------------------------------------------------------------------------
# catalogue
# ---------------------------------------------------------------------------


_FRONT = ("glass", "T_f", "i", "j", "iteration", "pair_id", "parent", "origin", "status", "t_found", "d", "PR",
          "d_path", "V_a", "Delta_V", "V_b", "w1", "w2", "w_TS")
_PER_PRESET = ("E", "Delta", "Delta_0", "Gamma", "Gamma_per_s", "is_TLS", "converged", "wkb_ok")


def catalogue(neb: pd.DataFrame, presets=(), crossings: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """The TLS catalogue from NEB rows: every row with ``status == "dw"``, once.

    Returns (catalogue, number of duplicate DWs dropped).  Adds ``T_f`` and
    ``t_found`` (:func:`discovery_times`; NaN without ``crossings``, the table of
    :func:`crossing_times`); checks that each preset's ``E_<p>`` and ``is_TLS_<p>``
    exist and agree with the preset's kT_Q.  Sorted by T_f, glass, iteration, pair id.
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
            bad = ok & (flag != ((e < p.kT_Q) & valid_splitting(dw, p.name)))
            if bad.any():
                raise TLSFinderError(
                    f"preset {p.name}: {int(bad.sum())} DW(s) have is_TLS_{p.name} inconsistent with "
                    f"E_{p.name} < kT_Q = {p.kT_Q} where the splitting decides: the NEB tables were made with "
                    "another kT_Q than the config's, or by a tlsfinder that flagged undecided splittings")
    dw["T_f"] = glass_tf(dw["glass"].to_numpy(), "NEB table") if len(dw) else np.zeros(0)
    for c in ("i", "j"):
        if c not in dw.columns:
            dw[c] = np.int64(-1)
    dw["i"] = dw["i"].astype("int64")
    dw["j"] = dw["j"].astype("int64")
    if "pair_id" not in dw.columns:
        dw["pair_id"] = [pair_id(g, i, j) for g, i, j in zip(dw["glass"], dw["i"], dw["j"])]
    if "iteration" not in dw.columns:
        dw["iteration"] = np.int64(0)
    dw["_order"] = np.arange(len(dw))
    dw = dw.sort_values(["T_f", "glass", "iteration", "_order"], kind="stable")
    lo, hi = np.minimum(dw["i"], dw["j"]), np.maximum(dw["i"], dw["j"])
    if len(dw) and (lo < 0).any():
        src = sorted(set(dw["source"].astype(str))) if "source" in dw.columns else ["NEB rows"]
        raise TLSFinderError(f"{src[0]}: {int((lo < 0).sum())} DW row(s) with a provisional (negative) IS id: "
                             "a NEB batch table, not an iteration's merged table (results/loop/iter*/neb.parquet)")
    key = pd.DataFrame({"g": dw["glass"].to_numpy(), "lo": lo.to_numpy(), "hi": hi.to_numpy()})
    dup = key.duplicated().to_numpy()
    n_dup = int(dup.sum())
    if n_dup:
        log.info("catalogue: %d DW(s) computed more than once kept once", n_dup)
    dw = dw[~dup].drop(columns="_order").reset_index(drop=True)
    dw["t_found"] = discovery_times(dw, crossings) if len(dw) else np.zeros(0)
    front = [c for c in _FRONT if c in dw.columns]
    per = [f"{q}_{p.name}" for p in presets for q in _PER_PRESET if f"{q}_{p.name}" in dw.columns]
    rest = [c for c in dw.columns if c not in front and c not in per]
    return dw[front + per + rest], n_dup


def crossing_times(timeseries: Mapping[str, pd.DataFrame] | None) -> pd.DataFrame:
    """When each unordered pair of IS of each glass was first crossed in both directions.

    ``timeseries``: glass id -> exploration time series (``time`` in tau, ``is_id``; one row per
    change of IS, in order: row k is the transition from row k-1's IS to row k's at row k's time).
    A pair (a, b) counts from the later of its first a -> b and first b -> a transition (T_ab >= 1
    and T_ba >= 1: the paper's DW candidates, Sec. II.D, and their discovery time, Sec. III.B).
    Columns ``glass``, ``i`` < ``j``, ``t_both`` (tau); pairs never crossed both ways are absent.
    """
    rows = []
    for glass, ts in (timeseries or {}).items():
        if len(ts) < 2:
            continue
        if "step" in ts.columns:
            ts = ts.sort_values("step", kind="stable")
        ids, t = ts["is_id"].to_numpy(np.int64), ts["time"].to_numpy(float)
        first: dict[tuple[int, int], float] = {}
        for a, b, tt in zip(ids[:-1].tolist(), ids[1:].tolist(), t[1:].tolist()):
            if a != b and (a, b) not in first:
                first[(a, b)] = tt
        for (a, b), tab in first.items():
            tba = first.get((b, a))
            if a < b and tba is not None:
                rows.append((str(glass), a, b, max(tab, tba)))
    return pd.DataFrame({"glass": pd.Series([r[0] for r in rows], dtype=str),
                         "i": np.array([r[1] for r in rows], dtype=np.int64),
                         "j": np.array([r[2] for r in rows], dtype=np.int64),
                         "t_both": np.array([r[3] for r in rows], dtype=float)})


def discovery_times(cat: pd.DataFrame, crossings: pd.DataFrame | None) -> np.ndarray:
    """``t_found`` of each DW: when the pair it descends from was first crossed both ways (tau).

    Mocanu et al. (2023) Sec. III.B: a DW is found at the first time its pair of IS passes the
    candidate filters, both IS in the library and T_ab >= 1 and T_ba >= 1 (crossed both ways).
    The pair is the root of ``pair_id`` (sub-pairs of a split path descend from the pair the NEB
    was started on), else (``i``, ``j``); ``crossings`` is
    :func:`crossing_times`.  NaN when that pair was never crossed both ways (e.g. a pair the ML
    ranking chose) or its glass has no time series.
    """
    out = np.full(len(cat), np.nan)
    if crossings is None or not len(crossings) or not len(cat):
        return out
    t = {(str(g), int(a), int(b)): float(v)
         for g, a, b, v in zip(crossings["glass"], crossings["i"], crossings["j"], crossings["t_both"])}
    pid = cat["pair_id"] if "pair_id" in cat.columns else pd.Series([None] * len(cat))
    for n, (g, i, j, p) in enumerate(zip(cat["glass"], cat["i"], cat["j"], pid)):
        g = str(g)
        root = root_pair(p, g) if p is not None else None
        a, b = root if root is not None else (int(i), int(j))
        out[n] = t.get((g, min(a, b), max(a, b)), np.nan)
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
    """The paper's Table I for this run, one row per T_f (module docstring)."""
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
    """The paper's Eq. 3 at every DW splitting: ``T_f``, ``preset``, ``E``, ``n_E`` = N_DW(<= E)/(N N_g),
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
    from scipy.stats import chi2  # here: scipy.stats takes a second to import, every command would pay it

    return float(chi2.ppf(cl, 2 * (int(count) + 1)) / 2.0)


def common_time(tau_total: Mapping[float, float]) -> float:
    """The longest exploration time (tau) every T_f reached: min of ``tau_total`` (T_f -> tau); NaN if one is
    unknown.  n0 is compared at ``report.n0_time`` (:func:`plateau_n0`), which should not exceed it."""
    t = np.asarray(list(tau_total.values()), dtype=float)
    return float(t.min()) if len(t) and np.isfinite(t).all() else float("nan")


def plateau_n0(cat: pd.DataFrame, glass_ids: Mapping[float, list[str]], presets, n_particles: int,
               density: float, seed: int = 0, n_boot: int = N_BOOTSTRAP, t_max: float | None = None,
               tau_total: Mapping[float, float] | None = None, t_common: float | None = None,
               timed_glasses=None) -> pd.DataFrame:
    """The plateau n0 of n(E)/E below k_B T_Q per T_f and preset, in reduced and SI units.

    ``glass_ids``: T_f -> ids of all glasses explored at that T_f (also those
    without any DW: they count in N_g and in the bootstrap).  See the module
    docstring for the columns and the error estimates.

    ``t_max`` (tau): count only the DWs found by then (``t_found`` <= t_max,
    to a relative 1e-9; N_g unchanged).  ``timed_glasses``: the glasses with
    an exploration time series; a DW of one of them with ``t_found`` NaN was
    never crossed both ways and is not counted.  A row whose count cannot be
    told (t_max NaN, or a DW with E < k_B T_Q, ``t_found`` NaN and a glass
    not in ``timed_glasses``, or any such DW when ``timed_glasses`` is None)
    has NaN in every count and n0 column.  ``tau_total`` (T_f -> Table I
    tau_total, tau): add the columns ``t_common`` (= ``t_common``, default
    ``report.n0_time`` = 1e3 tau), ``count_t_common``, ``n0_t_common``,
    ``n0_t_common_err_poisson``, ``n0_t_common_upper95`` (this function with
    ``t_max = t_common``; the other columns keep ``t_max``); NaN, with a
    warning naming it, at a T_f explored for less than ``t_common``.
    """
    if tau_total is not None:
        out = plateau_n0(cat, glass_ids, presets, n_particles, density, seed, n_boot, t_max,
                         timed_glasses=timed_glasses)
        t_common = float(default("report.n0_time") if t_common is None else t_common)
        cut = plateau_n0(cat, glass_ids, presets, n_particles, density, seed, n_boot, t_common,
                         timed_glasses=timed_glasses)
        if not len(out):
            return out
        out["t_common"] = t_common
        for new, old in (("count_t_common", "count_below_TQ"), ("n0_t_common", "n0"),
                         ("n0_t_common_err_poisson", "n0_err_poisson"), ("n0_t_common_upper95", "n0_upper95")):
            out[new] = cut[old].to_numpy()
        short = sorted(tf for tf in glass_ids
                       if not float(tau_total.get(tf, np.nan)) >= t_common * (1 - 1e-9))  # NaN: short too
        for tf in short:
            log.warning("T_f=%g explored for %.4g tau < %.4g tau (report.n0_time): no n0 at %.4g tau for it "
                        "(the longest time every T_f reached is %.4g tau)", tf, float(tau_total.get(tf, np.nan)),
                        t_common, t_common, common_time(tau_total))
        cols = ["count_t_common", "n0_t_common", "n0_t_common_err_poisson", "n0_t_common_upper95"]
        out.loc[out["T_f"].isin(short), cols] = np.nan
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
            if len(ct):  # an E that decides nothing (splitting.decides) counts nowhere
                e = np.where(valid_splitting(ct, p.name), e, np.nan)
            below = np.isfinite(e) & (e < p.kT_Q)
            half = np.isfinite(e) & (e < 0.5 * p.kT_Q)
            unknown = False
            if t_max is not None:
                t = ct["t_found"].to_numpy(float) if len(ct) and "t_found" in ct.columns else np.full(len(e), np.nan)
                untimed = np.isnan(t)
                if timed_glasses is not None and len(ct):  # NaN in a timed glass: never crossed both ways
                    untimed &= ~ct["glass"].astype(str).isin(set(map(str, timed_glasses))).to_numpy()
                unknown = bool(math.isnan(t_max) or (below & untimed).any())
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
# exploration statistics (the paper's Figs. 3, 4)
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
    """exp < log n_IS(t) > over the glasses of ``n_is`` (glass, time, n_is) on ``grid`` (the paper's Fig. 3b)."""
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
    """N_IS(t), N_DW(t), N_TLS_<p>(t) summed over the glasses of one T_f (the paper's Fig. 4).

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
