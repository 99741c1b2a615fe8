"""Our pair features and double wells next to the published PSS data, for the same T_f.

Published data: the PSS glass (N = 1500, number density 1.0) of Ciarella, Khomenko, Berthier,
Mocanu, Reichman, Scalliet, Zamponi, "Finding defects in glasses through machine learning",
Nat. Commun. 14, 4229 (2023), arXiv:2212.05582 (repository SCiarella/TLS_ML_exploration, MIT
licence), read with :mod:`tlsfinder.importer` from --data or $TLSFINDER_TLSML_DATA.  Pair features
(the classifier and predictor tables) exist at T_f = 0.07 only; exact splittings (NEB + 1D
Schroedinger on pairs the published ML loop chose) at T_f = 0.07 and 0.092.  Each comparison takes
the nearest published T_f and the output says when it differs from ours.

Ours: a tlsfinder results folder (--results; layout :mod:`tlsfinder.paths`): the pairs tables
``pairs/T{tf}/g*/pairs.parquet``, and the double wells (DW): the report's catalogue
``report/tls_catalogue.parquet`` if present, else every NEB-table row of status ``dw`` of the loop
iterations (merged ``loop/iter*/neb.parquet``, or the batch tables of an iteration still running,
whose provisional negative IS ids make a DW reached twice count twice).

Printed:

(a) features: for every published feature, our and the published sample size n, median and
    10 / 90 % quantiles, and the two-sample Kolmogorov-Smirnov distance D (scipy.stats.ks_2samp)
    with its p-value; once for all candidate pairs (ours: every pair within the Delta_E window,
    ``ml.delta_e_max``; published: every row of the classifier table) and once for the pairs
    crossed both ways (Tij >= 1 and Tji >= 1).
(b) DW physics: Delta_E (|e_B - e_A| of the NEB's minimised end points, total energy, eps), PR and
    total_displacement (sigma) of our DWs against the published predictor table (every DW among
    the classifier pairs); the splitting E (eps, preset --preset, default Ar) against the
    predictor table and the exact list of the nearest T_f, also below k_B T_Q alone (E / k_B T_Q,
    the shape of the CDF there); DW per glass; the splitting CDF at 1/4, 1/2, 1, 2 k_B T_Q; TLS/DW
    (E < k_B T_Q) with 95 % Clopper-Pearson intervals, and the TLS/DW of every DW of the original
    search (Khomenko, Reichman, Zamponi, Phys. Rev. Materials 5, 055602 (2021), Sec. IV: 291 of
    21,109 at T_f = 0.07, 1,008 of 117,339 at 0.092, argon units).  One threshold for all:
    the preset's k_B T_Q (PSS Ar 0.0015, :mod:`tlsfinder.units`; the published tables used
    0.00151, which adds 2 TLS of 23,535 DW at T_f = 0.07).
(c) how Tij / Tji are counted, with the measured numbers of both.

Caveats the numbers carry.  Our N may differ from 1500: features of a localised rearrangement
(displacements, PR, total_displacement, Delta_E) do not depend on N, DW per glass does (printed
also per 1500 particles).  With the ML loop (``loop.mode: ml``) our DWs are those the ranking
chose, not all DWs of the glasses; the published exact lists are the same kind of sample (the
T_f = 0.092 one holds 29 % TLS, over 30 times the share among all DWs).  The published pair tables
hold the pairs the dynamics crossed (98 % both ways at T_f = 0.07), ours every pair in the
Delta_E window, mostly never crossed: compare the "both ways" block for features.

How Tij / Tji are counted.  Ours (:mod:`tlsfinder.explore`, :mod:`tlsfinder.explore_protocols`,
:mod:`tlsfinder.pairs`): the exploration writes the time series of IS changes; for a pair of IS
``Tij`` is the number of transitions from the lower-energy to the higher-energy IS, ``Tji`` the
reverse: raw counts over the whole exploration (``n_cg`` intervals of ``tau_cg``), neither per MD
time nor per quench.  Which changes count is ``ml.transition_count`` (recorded in each pairs
table's metadata, printed in (c)): ``interval`` (default) counts once per pair of consecutive
quench times (every tau_cg) whose IS differ, the IS at time t being the last one entered at or
before t, so a hop that goes and comes back within tau_cg counts nothing and a -> c -> b within
one interval counts once as a -> b, whatever ``explore.protocol`` located; ``every_change`` (the
only counting of tables written before the key existed) counts every pair of consecutive
distinct IS of the time series (``transitions.parquet``), so what counts depends on
``explore.protocol``: ``bisect`` (default) quenches every tau_cg, locates every change inside the
interval to one MD step and also quenches the ``recross_window`` snapshots either side of each
change and screens for excursions a -> c -> a, so quick recrossings inside one quench interval
each count; ``fixed`` compares only the IS at the ends of consecutive intervals (there both
countings agree); ``every_step`` quenches every MD step and counts every jump.  Published: the
data's description says Tij / Tji are "how many times the exploration dynamics went i -> j and
j -> i" (i the lower minimum), from MD at T_MD = 0.04 with periodic minimisation (Khomenko et al. (2021), Sec. II);
the protocol of the same group (Mocanu et al., J. Chem. Phys. 158, 014501 (2023), Sec. II.D)
quenches every tau_cg and counts transitions between IS visited consecutively, i.e. one count per
pair of consecutive quenches ending in different IS: our ``interval`` counting, or ``fixed``
protocol (inferred; the data do not state it).  The published tau_cg and exploration length at
these T_f are not stated in the data; both scale the counts (the published T_f = 0.07 pairs
crossed both ways have median Tij = 8 and a glass's Tij + Tji sum to a median of about 1e5,
ours far fewer after a short exploration), so absolute Tij / Tji are comparable only for equal protocol, tau_cg and
length, and a ranking trained on the published counts sees ours shifted low.  Section (c) prints
the measured numbers.

Usage: python benchmarks/compare_published.py --results RESULTS [--tf 0.092] [--data DIR]
       [--preset Ar] [--json OUT]
--tf may be left out when the results hold one T_f.  Runs in seconds.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest, ks_2samp

from tlsfinder import TLSFinderError, paths
from tlsfinder.importer import import_exact_csv, import_feather
from tlsfinder.pairs import PUBLISHED_FEATURES, read_pairs
from tlsfinder.io import read_table
from tlsfinder.report.inputs import OUTPUT_FILES, read_neb_tables
from tlsfinder.report.tables import catalogue
from tlsfinder.units import get_preset

DATA = Path(os.environ.get("TLSFINDER_TLSML_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "tls_ml_exploration"))

#: Published tables by T_f: pair features (classifier, predictor) and exact splitting lists.
FEATURE_TABLES = {0.07: ("pretraining-classifier-T007.feather", "pretraining-predictor-T007.feather")}
EXACT_TABLES = {0.07: "quantum_splitting_T007.csv", 0.092: "quantum_splitting_T0092.csv"}
PUBLISHED_N = 1500  # particles per published glass
#: (TLS, DW) of every DW of the original search, argon units (Khomenko et al. (2021), Sec. IV).
ALL_DW_TLS = {0.062: (61, 14202), 0.07: (291, 21109), 0.092: (1008, 117339)}
CDF_POINTS = (0.25, 0.5, 1.0, 2.0)  # splitting CDF at these multiples of k_B T_Q
STAT_COLUMNS = ["n_ours", "n_pub", "ours_q10", "ours_med", "ours_q90", "pub_q10", "pub_med", "pub_q90", "KS_D", "KS_p"]


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------


def _finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[np.isfinite(x)]


def compare(ours, pub) -> dict:
    """Sample sizes, 10 / 50 / 90 % quantiles and the two-sample KS distance of two samples (NaN if one is empty)."""
    a, b = _finite(ours), _finite(pub)
    row = {"n_ours": len(a), "n_pub": len(b)}
    for name, x in (("ours", a), ("pub", b)):
        q = np.quantile(x, (0.1, 0.5, 0.9)) if len(x) else (np.nan,) * 3
        row.update({f"{name}_q10": q[0], f"{name}_med": q[1], f"{name}_q90": q[2]})
    if len(a) and len(b):
        ks = ks_2samp(a, b)
        row.update(KS_D=float(ks.statistic), KS_p=float(ks.pvalue))
    else:
        row.update(KS_D=np.nan, KS_p=np.nan)
    return row


def share(k: int, n: int) -> dict:
    """k / n with its 95 % Clopper-Pearson interval."""
    if n == 0:
        return {"k": 0, "n": 0, "share": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    ci = binomtest(int(k), int(n)).proportion_ci(0.95)
    return {"k": int(k), "n": int(n), "share": k / n, "ci_low": ci.low, "ci_high": ci.high}


def both_ways(pairs: pd.DataFrame) -> np.ndarray:
    """Pairs crossed in both directions (Tij >= 1 and Tji >= 1): the classical NEB candidates."""
    return ((pairs["Tij"] >= 1) & (pairs["Tji"] >= 1)).to_numpy()


def nearest(tf: float, table: dict) -> float:
    return min(table, key=lambda t: (abs(t - tf), t))


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------


def _tf_glob(results: Path, template: str, tf: float) -> str:
    return paths.under(results, template.replace("{tf}", paths.tf_label(tf)))


def results_tfs(results: Path) -> list[float]:
    """T_f of the pairs tables under ``results``."""
    found = glob.glob(paths.under(results, paths.PAIRS))
    return sorted({paths.parse_glass_id(paths.glass_of_path(p))[0] for p in found})


def read_our_pairs(results: Path, tf: float) -> pd.DataFrame:
    pattern = _tf_glob(results, paths.PAIRS, tf)
    files = sorted(glob.glob(pattern))
    if not files:
        raise TLSFinderError(f"{pattern}: no pairs tables for T_f = {paths.tf_label(tf)} (is --results a tlsfinder "
                             "results folder, and was that T_f explored?)")
    df = read_pairs(files)
    # how Tij / Tji were counted (tlsfinder.pairs.pairs_from_files records it; tables written before
    # ml.transition_count existed record nothing and hold every_change counts)
    kinds = {(a.get("transition_count", "every_change (not recorded)"), a.get("interval_steps"))
             for a in (pd.read_parquet(f, columns=["i"]).attrs for f in files)}
    df.attrs["counting"] = sorted(kinds, key=str)
    return df


def read_our_dws(results: Path, tf: float, preset) -> tuple[pd.DataFrame, str]:
    """Our DWs at ``tf`` (one row each) and a line saying where they came from."""
    cat_path = results / Path(paths.REPORT_DIR).relative_to(paths.RESULTS) / OUTPUT_FILES["catalogue"]
    if cat_path.exists():
        dw = read_table(cat_path, ("glass", "status"), what="TLS catalogue", empty_ok=True)
        source = f"{cat_path} (the report's catalogue)"
    else:
        files, n_batch = [], 0
        iters = sorted(glob.glob(paths.under(results, paths.ITER)))
        for it in iters:
            k = paths.iteration_of(it)
            merged = Path(paths.under(results, paths.fill(paths.NEB_MERGED, k=k)))
            batches = sorted(glob.glob(paths.under(results, paths.NEB_TABLE.replace("{k}", str(k)))))
            files += [str(merged)] if merged.exists() else batches
            n_batch += 0 if merged.exists() else len(batches)
        if not files:
            raise TLSFinderError(f"{cat_path}: no report catalogue, and no NEB tables under "
                                 f"{paths.under(results, paths.NEB_TABLE)}: no double wells to compare")
        neb = read_neb_tables(files)
        source = f"{len(files)} NEB table(s) of {len(iters)} loop iteration(s)"
        if n_batch:
            source += f", {n_batch} of them batch tables (iteration not merged yet)"
        ids = neb[["i", "j"]].to_numpy(dtype=float) if {"i", "j"} <= set(neb.columns) else np.zeros((0, 2))
        if len(ids) and (ids < 0).any():  # provisional ids: the catalogue cannot merge them; keep each row
            dw = neb[neb["status"] == "dw"].copy()
            real = (dw[["i", "j"]].to_numpy() >= 0).all(axis=1)
            key = pd.DataFrame({"g": dw["glass"].to_numpy(), "lo": dw[["i", "j"]].min(axis=1).to_numpy(),
                                "hi": dw[["i", "j"]].max(axis=1).to_numpy()})
            dw = dw[~(key.duplicated().to_numpy() & real)]
            source += f"; {int((~real).sum())} DW(s) with a provisional IS id counted once each"
        else:
            dw, _ = catalogue(neb, [preset])
    if len(dw):
        dw = dw[dw["status"].astype(str) == "dw"]
        tfs = np.array([paths.parse_glass_id(g, source)[0] for g in dw["glass"].astype(str)])
        dw = dw[np.isclose(tfs, tf)]
    need = ["e_A", "e_B", "PR", "total_displacement", f"E_{preset.name}"]
    missing = [c for c in need if c not in dw.columns]
    if len(dw) and missing:
        raise TLSFinderError(f"{source}: DW rows lack column(s) {missing}")
    return dw.reset_index(drop=True), source


def read_published(data: Path, tf: float) -> dict:
    """The published tables nearest to ``tf``: pairs of the classifier table, DWs of the predictor
    table (features + splitting), the exact list (splittings of DWs)."""
    tf_feat, tf_exact = nearest(tf, FEATURE_TABLES), nearest(tf, EXACT_TABLES)
    cls_name, pred_name = FEATURE_TABLES[tf_feat]
    for name in (cls_name, pred_name, EXACT_TABLES[tf_exact]):
        if not (data / name).exists():
            raise TLSFinderError(f"{data / name}: published table missing (--data or $TLSFINDER_TLSML_DATA: "
                                 "the TLS_ML_exploration tables)")
    cls, _ = import_feather(data / cls_name)
    pred, pred_lab = import_feather(data / pred_name)
    pred = pred.merge(pred_lab[["glass", "i", "j", "splitting"]], on=["glass", "i", "j"], how="left")
    exact = import_exact_csv(data / EXACT_TABLES[tf_exact])
    exact = exact[exact["is_dw"].astype(bool)]
    return {"tf_features": tf_feat, "tf_exact": tf_exact, "classifier": cls, "predictor": pred, "exact": exact,
            "names": {"classifier": cls_name, "predictor": pred_name, "exact": EXACT_TABLES[tf_exact]}}


def read_run_record(results: Path) -> dict:
    p = results / Path(paths.RUN_RECORD).relative_to(paths.RESULTS)
    return json.loads(p.read_text()) if p.exists() else {}


# ---------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------


def feature_table(ours: pd.DataFrame, pub: pd.DataFrame) -> pd.DataFrame:
    """Section (a): every published feature, all candidate pairs and pairs crossed both ways."""
    rows = []
    for block, mo, mp in (("all", np.ones(len(ours), bool), np.ones(len(pub), bool)),
                          ("both ways", both_ways(ours), both_ways(pub))):
        for f in PUBLISHED_FEATURES:
            rows.append({"pairs": block, "feature": f, **compare(ours.loc[mo, f], pub.loc[mp, f])})
    return pd.DataFrame(rows)


def dw_tables(dw: pd.DataFrame, glasses: list[str], pub: dict, preset, n_ours: int | None) -> dict:
    """Section (b): distributions, DW per glass, splitting CDF, TLS/DW."""
    kt = preset.kT_Q
    e_col = f"E_{preset.name}"
    pred, exact = pub["predictor"], pub["exact"]
    ref_p = f"predictor T_f={pub['tf_features']:g}"
    ref_x = f"exact T_f={pub['tf_exact']:g}"
    e_ours = _finite(dw[e_col]) if len(dw) else np.zeros(0)
    e_pred, e_exact = _finite(pred["splitting"]), _finite(exact["splitting"])
    de = (dw["e_B"].astype(float) - dw["e_A"].astype(float)).abs() if len(dw) else []
    per_glass = dw["glass"].astype(str).value_counts().reindex(glasses, fill_value=0) if len(dw) else \
        pd.Series(0, index=glasses)
    rows = [
        {"quantity": "Delta_E", "reference": ref_p, **compare(de, pred["Delta_E"])},
        {"quantity": "PR", "reference": ref_p, **compare(dw["PR"] if len(dw) else [], pred["PR"])},
        {"quantity": "total_displacement", "reference": ref_p,
         **compare(dw["total_displacement"] if len(dw) else [], pred["total_displacement"])},
        {"quantity": "E", "reference": ref_p, **compare(e_ours, e_pred)},
        {"quantity": "E/kT_Q (E<kT_Q)", "reference": ref_p,
         **compare(e_ours[e_ours < kt] / kt, e_pred[e_pred < kt] / kt)},
        {"quantity": "E", "reference": ref_x, **compare(e_ours, e_exact)},
        {"quantity": "E/kT_Q (E<kT_Q)", "reference": ref_x,
         **compare(e_ours[e_ours < kt] / kt, e_exact[e_exact < kt] / kt)},
        {"quantity": "DW per glass", "reference": ref_p,
         **compare(per_glass, pred["glass"].astype(str).value_counts())},
        {"quantity": "DW per glass", "reference": ref_x,
         **compare(per_glass, exact["glass"].astype(str).value_counts())},
    ]
    dist = pd.DataFrame(rows)
    cdf = pd.DataFrame({"E/kT_Q <": CDF_POINTS,
                        "ours": [np.mean(e_ours < x * kt) if len(e_ours) else np.nan for x in CDF_POINTS],
                        ref_p: [np.mean(e_pred < x * kt) for x in CDF_POINTS],
                        ref_x: [np.mean(e_exact < x * kt) for x in CDF_POINTS]})
    tls = [{"sample": "ours", **share((e_ours < kt).sum(), len(e_ours))},
           {"sample": ref_p + " (all DW)", **share((e_pred < kt).sum(), len(e_pred))},
           {"sample": ref_x + " (ML-chosen)", **share((e_exact < kt).sum(), len(e_exact))}]
    t_all = nearest(pub["tf_exact"], ALL_DW_TLS)
    tls.append({"sample": f"all DW T_f={t_all:g} (Khomenko 2021)", **share(*ALL_DW_TLS[t_all])})
    per_n = {"ours": per_glass.mean() * PUBLISHED_N / n_ours if n_ours else np.nan,
             "predictor": pred["glass"].astype(str).value_counts().mean()}
    return {"distributions": dist, "cdf": cdf, "tls_per_dw": pd.DataFrame(tls), "dw_per_glass": per_glass,
            "dw_per_glass_per_1500": per_n, "n_dw_no_splitting": int(len(dw) - len(e_ours))}


def counting_text(ours: pd.DataFrame, pub: pd.DataFrame, run: dict, glasses_table: pd.DataFrame | None,
                  tf_pub: float) -> str:
    """Section (c): how Tij / Tji are counted here and in the published data, with the numbers."""
    ex = run.get("explore", {})
    proto = ex.get("protocol", "unknown (no run record)")
    counting = ", ".join(k if n is None else f"{k} ({n} MD steps per interval)"
                         for k, n in ours.attrs.get("counting", [("unknown", None)]))
    lines = [f"Ours: explore.protocol = {proto}, tau_cg = {ex.get('tau_cg', '?')}, n_cg = {ex.get('n_cg', '?')} "
             f"intervals per glass; ml.transition_count = {counting} (read from the pairs tables); Tij / Tji = "
             "raw counts (lower -> upper energy / back) over the whole run, not per MD time or per quench."]
    if "interval" in counting:
        lines.append("  interval: one count per pair of consecutive quench times (every tau_cg) whose IS differ, the "
                     "IS at t being the last entered at or before t in the time series: recrossings within one "
                     "interval are not counted (the published way of counting), whatever the protocol located.")
    elif proto == "bisect":
        lines.append("  every_change with bisect: every change located to one MD step, quick recrossings within "
                     "one quench interval each count (more than a quench-per-interval count).")
    elif proto == "fixed":
        lines.append("  every_change with fixed: the protocol compares consecutive quenches only, so recrossings "
                     "within one interval are not counted (the published way of counting).")
    if glasses_table is not None and len(glasses_table):
        g = glasses_table
        lines.append(f"  exploration per glass: time {g['time'].median():g} tau (median of {len(g)}), IS changes in "
                     f"the time series {g['transitions'].median():g} (median), {g['transitions'].sum() / g['time'].sum():.3g} per tau")
    bo, bp = both_ways(ours), both_ways(pub)
    lines.append(f"  pairs: {len(ours)} candidates, {int((ours['Tij'] + ours['Tji'] > 0).sum())} crossed, "
                 f"{int(bo.sum())} both ways; Tij among both-ways pairs: median "
                 f"{np.median(ours.loc[bo, 'Tij']) if bo.any() else float('nan'):g}, max "
                 f"{ours.loc[bo, 'Tij'].max() if bo.any() else float('nan'):g}")
    per_conf = (pub["Tij"] + pub["Tji"]).groupby(pub["glass"].astype(str)).sum()
    lines.append(f"Published (T_f = {tf_pub:g}): Tij / Tji = how many times the exploration went i -> j / j -> i "
                 "(i the lower minimum), MD at T_MD = 0.04 with periodic minimisation; by the same group's protocol "
                 "(Mocanu et al. 2023) one count per pair of consecutive minimisations in different IS (our "
                 "'interval' counting), inferred, not stated with the data; tau_cg and run length not published.")
    lines.append(f"  pairs: {len(pub)} in {pub['glass'].nunique()} glasses, "
                 f"{int((pub['Tij'] + pub['Tji'] > 0).sum())} crossed, {int(bp.sum())} both ways "
                 f"({bp.mean():.1%}); Tij among both-ways pairs: median {np.median(pub.loc[bp, 'Tij']):g}, "
                 f"max {pub.loc[bp, 'Tij'].max():g}; Tij + Tji summed over a glass's pairs: median "
                 f"{per_conf.median():g}")
    lines.append("  The counts grow with the exploration length and with the time resolution of the protocol, "
                 "so they match only for the same protocol, tau_cg and length.")
    return "\n".join(lines)


def run_comparison(results, tf=None, data=DATA, preset_name: str = "Ar") -> dict:
    """Every table of the comparison (module docstring) for the results folder ``results`` at ``tf``."""
    results, data = Path(results), Path(data)
    if not results.is_dir():
        raise TLSFinderError(f"{results}: no such results folder")
    if tf is None:
        tfs = results_tfs(results)
        if len(tfs) != 1:
            raise TLSFinderError(f"{results}: pairs tables of T_f {tfs or 'none'} found; pass --tf")
        tf = tfs[0]
    tf = float(tf)
    preset = get_preset("PSS", preset_name)
    ours = read_our_pairs(results, tf)
    dw, dw_source = read_our_dws(results, tf, preset)
    pub = read_published(data, tf)
    run = read_run_record(results)
    gt_path = Path(_tf_glob(results, paths.GLASSES_TABLE, tf))
    glasses_table = (read_table(gt_path, ("glass", "time", "transitions"), what="glasses table", empty_ok=True)
                     if gt_path.exists() else None)
    glasses = sorted(set(ours["glass"].astype(str)) | (set(dw["glass"].astype(str)) if len(dw) else set()))
    model = run.get("model", {})
    if run.get("loop", {}).get("mode") == "ml":
        dw_source += " (loop.mode ml: the DWs the ranking chose, not every DW of the glasses)"
    out = {"tf": tf, "preset": preset, "pub": pub, "dw_source": dw_source, "glasses": glasses,
           "model": model, "features": feature_table(ours, pub["classifier"]),
           "dw": dw_tables(dw, glasses, pub, preset, model.get("n")),
           "counting": counting_text(ours, pub["classifier"], run, glasses_table, pub["tf_features"])}
    return out


# ---------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def report_text(r: dict) -> str:
    tf, pub, preset = r["tf"], r["pub"], r["preset"]
    model = r["model"]
    head = [f"T_f = {tf:g}: ours {len(r['glasses'])} glass(es), model {model.get('name', '?')}, "
            f"N = {model.get('n', '?')} (published: PSS, N = {PUBLISHED_N}); preset PSS/{preset.name}, "
            f"k_B T_Q = {preset.kT_Q:g}"]
    if not np.isclose(pub["tf_features"], tf):
        head.append(f"NOTE: no pair features are published at T_f = {tf:g} (its exact calculations carry labels "
                    f"only): features and DW geometry are compared with the nearest published T_f = "
                    f"{pub['tf_features']:g}.")
    if not np.isclose(pub["tf_exact"], tf):
        head.append(f"NOTE: no exact splittings are published at T_f = {tf:g}: compared with T_f = "
                    f"{pub['tf_exact']:g}.")
    feats = r["features"]
    dw = r["dw"]
    dist = dw["distributions"]
    return "\n".join([
        *head, "",
        f"(a) pair features: ours (every pair in the Delta_E window) vs the published {pub['names']['classifier']} "
        f"(T_f = {pub['tf_features']:g}); KS = two-sample Kolmogorov-Smirnov distance D and p",
        _fmt(feats[["pairs", "feature", *STAT_COLUMNS]]), "",
        f"(b) double wells: ours from {r['dw_source']}; predictor = {pub['names']['predictor']} (every DW of the "
        f"published classifier pairs), exact = {pub['names']['exact']} (pairs the published ML loop chose)",
        _fmt(dist[["quantity", "reference", *STAT_COLUMNS]]), "",
        "DW per glass: ours " + ", ".join(f"{g} {n}" for g, n in dw["dw_per_glass"].items())
        + f"; per {PUBLISHED_N} particles: ours {dw['dw_per_glass_per_1500']['ours']:.3g}, published predictor "
          f"{dw['dw_per_glass_per_1500']['predictor']:.3g}"
        + (f"; {dw['n_dw_no_splitting']} of our DW without a finite splitting left out"
           if dw["n_dw_no_splitting"] else ""),
        "", "splitting CDF (share of DW with E below x k_B T_Q)", _fmt(dw["cdf"]), "",
        f"TLS/DW (E < {preset.kT_Q:g}), 95 % Clopper-Pearson", _fmt(dw["tls_per_dw"]), "",
        "(c) transition counts Tij / Tji", r["counting"],
    ])


def to_json(r: dict) -> dict:
    dw = r["dw"]
    return {"tf": r["tf"], "preset": r["preset"].name, "tf_published_features": r["pub"]["tf_features"],
            "tf_published_exact": r["pub"]["tf_exact"], "dw_source": r["dw_source"],
            "features": r["features"].to_dict("records"), "dw_distributions": dw["distributions"].to_dict("records"),
            "cdf": dw["cdf"].to_dict("records"), "tls_per_dw": dw["tls_per_dw"].to_dict("records"),
            "dw_per_glass": {k: int(v) for k, v in dw["dw_per_glass"].items()}, "counting": r["counting"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, required=True, help="a tlsfinder results folder")
    ap.add_argument("--tf", type=float, default=None, help="fictive temperature (default: the only one there)")
    ap.add_argument("--data", type=Path, default=DATA, help="folder of the published tables (%(default)s)")
    ap.add_argument("--preset", default="Ar", help="PSS unit preset of the splittings (%(default)s)")
    ap.add_argument("--json", type=Path, default=None, help="also write the tables here")
    args = ap.parse_args(argv)
    r = run_comparison(args.results, args.tf, args.data, args.preset)
    print(report_text(r))
    if args.json:
        args.json.write_text(json.dumps(to_json(r), indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        sys.exit(main())
    except TLSFinderError as exc:
        sys.exit(f"error: {exc}")
