"""ML ranking on the published T_f = 0.07 PSS data (TLS_ML_exploration, arXiv:2212.05582).

Data: the published TLS_ML_exploration tables (Ciarella et al. (2023), "Finding defects
in glasses through machine learning", MIT licence; imported with tlsfinder.importer),
in --data or $TLSFINDER_TLSML_DATA.  The classifier table gives is_dw for 39,065
pairs of 50 glasses, the predictor table the splitting of its 23,535 double
wells; a TLS is a DW with splitting < 0.00151 (293 pairs).  One population:
every pair of the classifier table, with its splitting if it is a DW.

Protocol: for each of 5 seeds, the 50 glasses are shuffled into 5 folds; each
fold is held out once while a TLSRanker is trained on the other 40 glasses (it
takes 20 % of those, whole glasses, for early stopping).  Every pair thus gets a
prediction from a model that never saw its glass; metrics are computed on these
pooled held-out predictions, per seed, and averaged.

Prints: classifier accuracy; regressor R^2 and Spearman rho on -log10(splitting)
(held-out DWs); the fraction of pairs to run NEB on, in each order, to find
50 / 90 / 100 % of the TLS (lower is better; random needs ~0.5 / 0.9 / 1.0);
prediction throughput on one core for a batch of 1e6 pairs (both models'
Booster.predict, and rank() end to end) and training times.

The regressor learns the 0.84 quantile of -log10(splitting) (tlsfinder.ml.REGRESSOR_QUANTILE);
--regressor-quantile mean gives the earlier mean regression, for comparison.  Each model is
an ensemble of tlsfinder.ml.ENSEMBLE_SIZE = 5 boosters (--n-models 1: one booster, as before).
Results (5 seeds, sigma 0.25): 50 / 90 / 100 % of the TLS in 0.79 +- 0.12 / 2.13 +- 0.11 /
8.4 +- 1.4 % of the pairs; one booster per model 0.81 +- 0.08 / 2.28 +- 0.14 / 8.0 +- 1.1 %;
one booster with the mean regressor 0.72 +- 0.11 / 2.32 +- 0.29 / 9.0 +- 3.0 %.

Usage: python benchmarks/ml.py [--data DIR] [--seeds 5] [--feature-study] [--json OUT]
                               [--regressor-quantile Q|mean] [--sigma S] [--n-models K]
                               [--no-throughput]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.special import ndtr  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from tlsfinder.importer import import_tlsml  # noqa: E402
from tlsfinder.ml import DEFAULTS, ENSEMBLE_SIZE, REGRESSOR_QUANTILE, TLS_SPLITTING_MAX, TLSRanker, order_predictions  # noqa: E402
from tlsfinder.pairs import PUBLISHED_FEATURES  # noqa: E402

DATA = Path(os.environ.get("TLSFINDER_TLSML_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "tls_ml_exploration"))
LEVELS = (0.5, 0.9, 1.0)


def load(data: Path):
    pairs, labels = import_tlsml([data / "pretraining-classifier-T007.feather", data / "pretraining-predictor-T007.feather"])
    # labels are in the same (glass, i, j) order as pairs after the merge: align explicitly
    lab = pairs[["glass", "i", "j"]].merge(labels, on=["glass", "i", "j"], how="left")
    assert lab["is_dw"].notna().all()
    return pairs, labels, lab


def needed_fraction(order_idx: np.ndarray, is_tls: np.ndarray) -> list[float]:
    """Fraction of the population computed, in this order, to find each level of the TLS."""
    found = np.cumsum(is_tls[order_idx])
    n = int(is_tls.sum())
    return [float((np.searchsorted(found, int(np.ceil(q * n))) + 1) / len(order_idx)) for q in LEVELS]


PARAMS: dict | None = None  # LightGBM overrides (--params)
QUANTILE: float | None = REGRESSOR_QUANTILE  # the regressor's quantile (--regressor-quantile; None: the mean)
SIGMA: float = DEFAULTS["sigma"]  # error width of p_tls (--sigma)
N_MODELS: int = ENSEMBLE_SIZE  # members of each model's ensemble (--n-models)


def cross_validate(pairs, labels, seed: int, features=PUBLISHED_FEATURES, n_folds: int = 5):
    glasses = np.array(sorted(pairs["glass"].astype(str).unique()), dtype=object)
    rng = np.random.default_rng(seed)
    folds = np.array_split(rng.permutation(glasses), n_folds)
    g_pairs = pairs["glass"].astype(str).to_numpy()
    g_lab = labels["glass"].astype(str).to_numpy()
    p_dw = np.empty(len(pairs))
    y = np.empty(len(pairs))
    fit_s = []
    for test in folds:
        test = set(test)
        t0 = time.perf_counter()
        r = TLSRanker(features, seed=seed, params=PARAMS, regressor_quantile=QUANTILE, n_models=N_MODELS).fit(
            pairs, labels[~np.isin(g_lab, list(test))])
        fit_s.append(time.perf_counter() - t0)
        held = np.isin(g_pairs, list(test))
        pr = r.predict(pairs[held])
        p_dw[held] = pr["p_dw"].to_numpy()
        y[held] = -np.log10(pr["splitting_pred"].to_numpy())
    return p_dw, y, float(np.mean(fit_s))


def p_tls(p_dw, y, sigma):
    return p_dw * ndtr((y + np.log10(TLS_SPLITTING_MAX)) / sigma)


def evaluate(pairs, lab, p_dw, y, seed: int) -> dict:
    is_dw = lab["is_dw"].to_numpy(dtype=bool)
    s = lab["splitting"].to_numpy()
    is_tls = is_dw & (s < TLS_SPLITTING_MAX)
    y_true = -np.log10(s[is_dw])
    y_pred = y[is_dw]
    r2 = 1 - np.sum((y_pred - y_true) ** 2) / np.sum((y_true - y_true.mean()) ** 2)
    pred = pd.DataFrame({"glass": pairs["glass"], "i": pairs["i"], "j": pairs["j"], "p_dw": p_dw,
                         "splitting_pred": 10 ** -y, "p_tls": p_tls(p_dw, y, SIGMA)})
    pos = pd.Series(np.arange(len(pairs)), index=pd.MultiIndex.from_frame(pairs[["glass", "i", "j"]].astype({"glass": str})))

    def idx_of(ranked):
        return pos.loc[list(zip(ranked["glass"].astype(str), ranked["i"], ranked["j"]))].to_numpy()

    both = (pairs["Tij"].to_numpy() >= 1) & (pairs["Tji"].to_numpy() >= 1)
    orders = {
        "ML p_tls (default)": idx_of(order_predictions(pred, "p_tls")),
        "ML DW then splitting": idx_of(order_predictions(pred, "dw_then_splitting")),
        "Delta_E ascending": np.argsort(pairs["Delta_E"].to_numpy(), kind="stable"),
        "bidirectional, Delta_E": np.lexsort((pairs["Delta_E"].to_numpy(), ~both)),
        "random": np.random.default_rng(1000 + seed).permutation(len(pairs)),
    }
    out = {
        "accuracy": float(((p_dw >= 0.5) == is_dw).mean()),
        "r2": float(r2),
        "spearman": float(spearmanr(y_pred, y_true)[0]),
        "n_tls": int(is_tls.sum()),
        "orders": {k: needed_fraction(v, is_tls) for k, v in orders.items()},
        "sigma_scan": {str(sg): needed_fraction(np.argsort(-p_tls(p_dw, y, sg), kind="stable"), is_tls)
                       for sg in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)},
    }
    # the same quantity inside each held-out fold of 10 glasses (the "held-out pairs" of one split)
    return out


def per_fold_fractions(pairs, lab, p_dw, y, seed, n_folds=5):
    glasses = np.array(sorted(pairs["glass"].astype(str).unique()), dtype=object)
    folds = np.array_split(np.random.default_rng(seed).permutation(glasses), n_folds)
    g = pairs["glass"].astype(str).to_numpy()
    is_tls = (lab["is_dw"].to_numpy(dtype=bool) & (lab["splitting"].to_numpy() < TLS_SPLITTING_MAX))
    out = []
    for test in folds:
        m = np.isin(g, list(test))
        if is_tls[m].sum() == 0:
            continue
        sc = p_tls(p_dw[m], y[m], SIGMA)
        out.append(needed_fraction(np.argsort(-sc, kind="stable"), is_tls[m])[1])
    return out


def throughput(pairs, labels, n=1_000_000, seed=0) -> dict:
    ranker = TLSRanker(seed=seed, params=PARAMS, regressor_quantile=QUANTILE, n_models=N_MODELS)
    t0 = time.perf_counter()
    ranker.fit(pairs, labels)
    t_fit = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    big = pairs.iloc[rng.integers(0, len(pairs), n)].reset_index(drop=True)
    big["j"] = big["i"] + 1 + np.arange(n)  # unique keys (not needed for predict, keeps the table valid)
    from tlsfinder.ml import _feature_matrix

    M = _feature_matrix(big, ranker.features)
    res = {"fit_s_all_39k": t_fit,
           "n_trees": [sum(b.num_trees() for b in m.boosters_) for m in (ranker.classifier, ranker.regressor)]}
    ranker.rank(big.iloc[:10])
    best = {}
    for rep in range(3):
        t0 = time.perf_counter()
        ranker.classifier.predict_matrix(M)
        ranker.regressor.predict_matrix(M)
        t_pred = time.perf_counter() - t0
        t0 = time.perf_counter()
        ranker.rank(big)
        t_rank = time.perf_counter() - t0
        for k, v in (("predict", t_pred), ("rank", t_rank)):
            best[k] = min(best.get(k, np.inf), v)
    res.update({
        "pairs_per_s_predict": n / best["predict"],
        "pairs_per_s_rank_end_to_end": n / best["rank"],
    })
    # training on 1e5 labelled pairs: the 39k labels three times over, features jittered by 1e-3 relative;
    # copies keep their glass (so they stay on the same side of the validation split) with new IS ids
    parts_p, parts_l = [], []
    for k in range(3):
        p = pairs.copy()
        lab = labels.copy()
        for df in (p, lab):
            df["i"] = df["i"] + 100_000 * k
            df["j"] = df["j"] + 100_000 * k
        for f in PUBLISHED_FEATURES:
            p[f] = p[f] * (1 + 1e-3 * rng.standard_normal(len(p)))
        parts_p.append(p)
        parts_l.append(lab)
    p3, l3 = pd.concat(parts_p, ignore_index=True), pd.concat(parts_l, ignore_index=True)
    t0 = time.perf_counter()
    r3 = TLSRanker(seed=seed, params=PARAMS, regressor_quantile=QUANTILE, n_models=N_MODELS).fit(p3, l3)
    res["fit_s_117k"] = time.perf_counter() - t0
    res["fit_rounds_117k"] = [r3.info["classifier"]["rounds"], r3.info["regressor"]["rounds"]]
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--feature-study", action="store_true", help="also try extra derived features")
    ap.add_argument("--json", type=Path, help="write all numbers here")
    ap.add_argument("--params", type=json.loads, help="LightGBM overrides as JSON")
    ap.add_argument("--regressor-quantile", default=str(REGRESSOR_QUANTILE),
                    help="quantile of -log10(splitting) the regressor learns, or 'mean' (%(default)s)")
    ap.add_argument("--sigma", type=float, default=DEFAULTS["sigma"], help="error width of p_tls (%(default)s)")
    ap.add_argument("--n-models", type=int, default=ENSEMBLE_SIZE,
                    help="members of each model's ensemble (%(default)s; 1: one booster each)")
    ap.add_argument("--no-throughput", action="store_true", help="skip the throughput measurement")
    args = ap.parse_args(argv)
    global PARAMS, QUANTILE, SIGMA, N_MODELS
    N_MODELS = args.n_models
    PARAMS = args.params
    QUANTILE = None if args.regressor_quantile == "mean" else float(args.regressor_quantile)
    SIGMA = args.sigma
    print(f"regressor: {'mean' if QUANTILE is None else f'{QUANTILE} quantile'} of -log10(splitting); "
          f"p_tls sigma {SIGMA} decades; {N_MODELS} member(s) per model")

    pairs, labels, lab = load(args.data)
    n_tls = int((lab["is_dw"] & (lab["splitting"] < TLS_SPLITTING_MAX)).sum())
    print(f"data: {len(pairs)} pairs, {pairs['glass'].nunique()} glasses, {int(lab['is_dw'].sum())} DW, {n_tls} TLS "
          f"(splitting < {TLS_SPLITTING_MAX})")
    print("source: SCiarella/TLS_ML_exploration (arXiv:2212.05582), T_f = 0.07 PSS\n")

    results = []
    fold90 = []
    for seed in range(args.seeds):
        p_dw, y, fit_s = cross_validate(pairs, labels, seed)
        r = evaluate(pairs, lab, p_dw, y, seed)
        r["fit_s_per_model_pair"] = fit_s
        results.append(r)
        fold90 += per_fold_fractions(pairs, lab, p_dw, y, seed)
        print(f"seed {seed}: accuracy {r['accuracy']:.4f}  R2 {r['r2']:.4f}  rho {r['spearman']:.4f}  "
              f"90% of TLS in top {100 * r['orders']['ML p_tls (default)'][1]:.2f}% (fit {fit_s:.2f} s)", flush=True)

    mean = lambda key: (np.mean([r[key] for r in results]), np.std([r[key] for r in results]))  # noqa: E731
    print(f"\nheld-out (pooled 5-fold by glass, {args.seeds} seeds), mean +- std over seeds")
    for key, name in (("accuracy", "DW classifier accuracy"), ("r2", "regressor R^2 on -log10(splitting)"),
                      ("spearman", "regressor Spearman rho")):
        m, s = mean(key)
        print(f"  {name:38s} {m:.4f} +- {s:.4f}")
    print("\nfraction of pairs to run NEB on to find 50% / 90% / 100% of the TLS")
    for name in results[0]["orders"]:
        arr = np.array([r["orders"][name] for r in results])
        m, s = arr.mean(0), arr.std(0)
        print(f"  {name:24s} " + "  ".join(f"{100 * a:6.2f}% +-{100 * b:5.2f}" for a, b in zip(m, s)))
    base = np.array([r["orders"]["random"] for r in results]).mean(0)
    ml = np.array([r["orders"]["ML p_tls (default)"] for r in results]).mean(0)
    de = np.array([r["orders"]["Delta_E ascending"] for r in results]).mean(0)
    print(f"  gain at 90%: {base[1] / ml[1]:.1f}x fewer NEBs than random, {de[1] / ml[1]:.1f}x fewer than Delta_E order")
    print(f"  per held-out fold of 10 glasses (p_tls): 90% of TLS within top {100 * np.median(fold90):.2f}% (median), "
          f"{100 * np.min(fold90):.2f}-{100 * np.max(fold90):.2f}% (range over {len(fold90)} folds)")
    print("\nsigma of p_tls (decades) -> fraction for 50/90/100% (mean +- std over seeds)")
    for sg in results[0]["sigma_scan"]:
        arr = np.array([r["sigma_scan"][sg] for r in results])
        print(f"  sigma {sg:>5s}: "
              + "  ".join(f"{100 * a:6.2f}% +-{100 * b:5.2f}" for a, b in zip(arr.mean(0), arr.std(0))))

    if args.feature_study:
        extra = pairs.copy()
        extra["Tmin"] = np.minimum(extra["Tij"], extra["Tji"])
        extra["Tsum"] = extra["Tij"] + extra["Tji"]
        extra["dE_over_d"] = extra["Delta_E"] / extra["total_displacement"]
        extra["d0_over_d"] = extra["displacement_0"] / extra["total_displacement"]
        feats = list(PUBLISHED_FEATURES) + ["Tmin", "Tsum", "dE_over_d", "d0_over_d"]
        arr = []
        for seed in range(args.seeds):
            p_dw, y, _ = cross_validate(extra, labels, seed, features=feats)
            r = evaluate(extra, lab, p_dw, y, seed)
            arr.append([r["accuracy"], r["spearman"]] + r["orders"]["ML p_tls (default)"])
        a = np.mean(arr, 0)
        print(f"\nwith 4 derived features: accuracy {a[0]:.4f} rho {a[1]:.4f} "
              f"50/90/100%: {100 * a[2]:.2f}% {100 * a[3]:.2f}% {100 * a[4]:.2f}%")

    if args.no_throughput:
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"seeds": results, "fold90": fold90}, indent=2))
        return 0
    print("\nthroughput (one core, batch of 1e6 pairs, best of 3)")
    tp = throughput(pairs, labels)
    print(f"  trees (all members): classifier {tp['n_trees'][0]}, regressor {tp['n_trees'][1]}")
    print(f"  both models, Booster.predict:  {tp['pairs_per_s_predict']:.3g} pairs/s")
    print(f"  rank() end to end (features, both models, p_tls, sort): {tp['pairs_per_s_rank_end_to_end']:.3g} pairs/s")
    print(f"  training: {tp['fit_s_all_39k']:.2f} s on 39,065 labels; {tp['fit_s_117k']:.2f} s on 117,195 labels "
          f"(rounds {tp['fit_rounds_117k']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seeds": results, "throughput": tp, "fold90": fold90}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
