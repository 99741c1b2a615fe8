"""Simulated search loop on the published T_f = 0.07 PSS data (TLS_ML_exploration, arXiv:2212.05582).

The 39,065 labelled pairs of the classifier table (with the splittings of the
predictor table) play the part of the glasses' candidate pairs; a label is
revealed only when the loop "runs NEB" on a pair.  Iteration 0 has no model: it
takes the heuristic order (pairs crossed both ways, smallest Delta_E first).
Each later iteration trains a TLSRanker on the labels revealed so far, ranks all
pairs and selects K of them with tlsfinder.ml.select_pairs (10 % at random).
Brute force, for comparison: NEB on the pairs crossed both ways in random
order (the classical protocol), and in order of Delta_E.

Prints TLS found (splitting < 0.00151) versus NEBs run, per iteration, next to
the brute-force orders at the same number of NEBs; mean over seeds.  Then the measure of the
end-to-end comparison (ML advantage): for each seed, the first iteration at which the loop has
recovered 80 % of the classical protocol's TLS (those among pairs crossed both ways), and its TLS
per core-hour against the classical protocol's.  A core-hour counts NEBs at --neb-core-s each
(default: 18 s, the mean cost of one PSS N = 500 NEB in benchmarks/end_to_end.py's PSS run here,
928 s for 50 NEBs; the published glasses have N = 1500, and the ratio barely depends on it) plus
the loop's own training and ranking time, measured.

Measured (3 seeds, defaults): 290 of 293 TLS after 2,000 NEBs; 80 % of the classical protocol's
286 TLS at iteration 5 (1,200 NEBs, recall 80.1-83.9 %), 26.3-27.5x its TLS per core-hour.
With --prior-glasses 25 (a prior trained on 25 glasses, the loop on the other 25, as the workflow
runs with a pretrained model; 3 seeds): 80 % of the classical TLS (113-191 per seed) after 400-600
NEBs (recall 81-83 %), 35.6-39.1x the classical TLS per core-hour.

Usage: python benchmarks/ml_loop.py [--iterations 10] [--k 200] [--seeds 3] [--order p_tls]
                                    [--neb-core-s 18] [--recall 0.8] [--prior-glasses 25]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tlsfinder.importer import import_tlsml  # noqa: E402
from tlsfinder.ml import (DEFAULTS, ORDERS, TLS_SPLITTING_MAX, TLSRanker, heuristic_ranking,  # noqa: E402
                          iteration_yield, select_pairs)

DATA = Path(os.environ.get("TLSFINDER_TLSML_DATA",
                           Path(__file__).resolve().parents[2] / "shared" / "data" / "tls_ml_exploration"))


def run_loop(pairs, oracle, iterations, k, seed, order, explore_fraction, prior=None):
    """The loop on ``pairs``; with ``prior`` (a trained ranker) as the workflow runs with a pretrained
    model: the prior ranks until the labels hold ml.min_retrain_dw DW, then continued boosting."""
    rng = np.random.default_rng(seed)
    labels = oracle.iloc[:0].copy()
    history = []
    for it in range(iterations):
        t0 = time.perf_counter()
        if prior is not None and int(labels["is_dw"].sum()) < DEFAULTS["min_retrain_dw"]:
            ranking = prior.rank(pairs)
        elif it == 0:
            ranking = heuristic_ranking(pairs)
        else:
            ranker = TLSRanker(seed=seed + it, order=order).fit(pairs, labels, prior=prior)
            ranking = ranker.rank(pairs)
        sel = select_pairs(ranking, labels, k, explore_fraction=explore_fraction, seed=rng, iteration=it)
        new = sel[["glass", "i", "j"]].merge(oracle, on=["glass", "i", "j"], how="left")
        new["iteration"] = it
        labels = pd.concat([labels, new], ignore_index=True)
        history.append(time.perf_counter() - t0)
    return iteration_yield(labels, TLS_SPLITTING_MAX), history, labels


def advantage(labels, history, classical_tls: set, n_classical: int, neb_core_s: float, recall: float):
    """The first iteration at which the loop's labels hold ``recall`` of ``classical_tls`` (keys
    (glass, i, j)): NEBs so far, TLS so far (any), recall, and TLS per core-hour over the classical
    protocol's (``n_classical`` NEBs find all of ``classical_tls``).  None if never reached."""
    tls = labels["is_dw"].to_numpy(dtype=bool) & (labels["splitting"].to_numpy() < TLS_SPLITTING_MAX)
    classical_rate = len(classical_tls) / (n_classical * neb_core_s)
    for it in sorted(labels["iteration"].unique()):
        upto = labels[labels["iteration"] <= it]
        found = {k for k, t in zip(zip(upto["glass"], upto["i"], upto["j"]), tls[:len(upto)]) if t}
        rec = len(found & classical_tls) / len(classical_tls)
        if rec >= recall:
            core_s = len(upto) * neb_core_s + sum(history[:it + 1])
            return {"iteration": int(it), "nebs": len(upto), "tls": len(found), "recall": rec,
                    "ratio": (len(found) / core_s) / classical_rate}
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--k", type=int, default=DEFAULTS["k"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--order", default=DEFAULTS["order"], choices=ORDERS)
    ap.add_argument("--explore-fraction", type=float, default=DEFAULTS["explore_fraction"])
    ap.add_argument("--neb-core-s", type=float, default=18.0, help="core-seconds of one NEB (default 18)")
    ap.add_argument("--recall", type=float, default=0.8, help="share of the classical TLS to recover (0.8)")
    ap.add_argument("--prior-glasses", type=int, default=0,
                    help="train a prior on this many glasses (drawn per seed) and run the loop on the others with it")
    args = ap.parse_args(argv)

    pairs, labels = import_tlsml([args.data / "pretraining-classifier-T007.feather",
                                  args.data / "pretraining-predictor-T007.feather"])
    oracle = pairs[["glass", "i", "j"]].merge(labels, on=["glass", "i", "j"], how="left")
    is_tls = (oracle["is_dw"] & (oracle["splitting"] < TLS_SPLITTING_MAX)).to_numpy()
    both = ((pairs["Tij"] >= 1) & (pairs["Tji"] >= 1)).to_numpy()
    n_tls = int(is_tls.sum())
    print(f"population: {len(pairs)} pairs of {pairs['glass'].nunique()} glasses, {n_tls} TLS; "
          f"{int(both.sum())} pairs crossed both ways hold {int(is_tls[both].sum())} TLS")
    print("source: SCiarella/TLS_ML_exploration (arXiv:2212.05582), T_f = 0.07 PSS")
    print(f"loop: {args.iterations} iterations of K = {args.k}, order {args.order}, "
          f"{100 * args.explore_fraction:.0f}% explored at random, {args.seeds} seed(s)\n")
    if args.prior_glasses:
        return with_prior(pairs, oracle, is_tls, both, args)

    classical_tls = set(zip(oracle["glass"][is_tls & both], oracle["i"][is_tls & both], oracle["j"][is_tls & both]))
    runs, times, adv = [], [], []
    for seed in range(args.seeds):
        y, h, lab = run_loop(pairs, oracle, args.iterations, args.k, seed, args.order, args.explore_fraction)
        runs.append(y)
        times += h[1:]
        adv.append(advantage(lab, h, classical_tls, int(both.sum()), args.neb_core_s, args.recall))
    cum = np.mean([r["cum_tls"].to_numpy() for r in runs], axis=0)
    per = np.mean([r["tls_per_neb"].to_numpy() for r in runs], axis=0)
    nebs = runs[0]["cum_neb"].to_numpy()

    # brute force: pairs crossed both ways in random order (expected value), and by Delta_E
    bidir_rate = is_tls[both].sum() / both.sum()
    order_de = np.lexsort((pairs["Delta_E"].to_numpy(), ~both))
    found_de = np.cumsum(is_tls[order_de])
    rand_all = n_tls / len(pairs)

    print(f"{'iter':>4} {'NEBs':>6} {'TLS/NEB':>8} {'TLS found':>10} {'of all':>7} | {'brute force':>11} "
          f"{'bidir+dE':>9} {'random':>7} | {'ML / brute':>10}")
    for it in range(len(nebs)):
        n = int(nebs[it])
        bf = n * bidir_rate
        print(f"{it:4d} {n:6d} {per[it]:8.3f} {cum[it]:10.1f} {100 * cum[it] / n_tls:6.1f}% | {bf:11.1f} "
              f"{found_de[n - 1]:9d} {n * rand_all:7.1f} | {cum[it] / bf:9.1f}x")
    n_total = int(nebs[-1])
    n_bidir, tls_bidir = int(both.sum()), int(is_tls[both].sum())
    if cum[-1] < tls_bidir:
        need_bf = int(np.ceil(cum[-1] / bidir_rate))
        bf_text = f"brute force over pairs crossed both ways needs ~{need_bf} NEBs for as many ({need_bf / n_total:.1f}x more)"
    else:
        bf_text = (f"brute force over all {n_bidir} pairs crossed both ways ({n_bidir / n_total:.0f}x more NEBs) "
                   f"finds {tls_bidir}")
    print(f"\nafter {n_total} NEBs the loop found {cum[-1]:.1f} TLS ({100 * cum[-1] / n_tls:.0f}% of all); {bf_text}; "
          f"{n_tls - tls_bidir} TLS lie among pairs never crossed both ways, out of the classical protocol's reach")
    print(f"ML overhead per iteration (train + rank 39k pairs + select): {np.mean(times):.2f} s")
    print(f"\nML advantage at {100 * args.recall:.0f} % of the classical protocol's {len(classical_tls)} TLS "
          f"(classical: {int(both.sum())} NEBs; {args.neb_core_s:g} core-s per NEB):")
    for seed, a in enumerate(adv):
        if a is None:
            print(f"  seed {seed}: not reached in {args.iterations} iterations")
        else:
            print(f"  seed {seed}: iteration {a['iteration']}, {a['nebs']} NEBs, {a['tls']} TLS "
                  f"(recall {100 * a['recall']:.1f} %), TLS per core-hour {a['ratio']:.1f}x the classical protocol's")
    return 0


def with_prior(pairs, oracle, is_tls, both, args) -> int:
    """Per seed: a prior trained on ``args.prior_glasses`` glasses (all their labels), the loop with it
    on the other glasses, and the ML advantage there (no glass is both in the prior and searched)."""
    glasses = np.array(sorted(pairs["glass"].unique()), dtype=object)
    print(f"prior: {args.prior_glasses} glasses per seed, the loop on the other {len(glasses) - args.prior_glasses}")
    for seed in range(args.seeds):
        in_prior = np.isin(pairs["glass"].to_numpy(), np.random.default_rng(seed).permutation(glasses)[:args.prior_glasses])
        prior = TLSRanker(seed=seed, order=args.order).fit(pairs[in_prior], oracle[in_prior])
        pop = ~in_prior
        p, o = pairs[pop].reset_index(drop=True), oracle[pop].reset_index(drop=True)
        y, h, lab = run_loop(p, o, args.iterations, args.k, seed, args.order, args.explore_fraction, prior=prior)
        cls = set(zip(o["glass"][is_tls[pop] & both[pop]], o["i"][is_tls[pop] & both[pop]], o["j"][is_tls[pop] & both[pop]]))
        a = advantage(lab, h, cls, int(both[pop].sum()), args.neb_core_s, args.recall)
        per_it = " ".join(f"{v:.0f}" for v in y["cum_tls"])
        where = ("not reached" if a is None else
                 f"iteration {a['iteration']}, {a['nebs']} NEBs, {a['tls']} TLS (recall {100 * a['recall']:.1f} %), "
                 f"{a['ratio']:.1f}x the classical TLS per core-hour")
        print(f"seed {seed}: {int(is_tls[pop].sum())} TLS in {int(pop.sum())} pairs ({len(cls)} classical, "
              f"{int(both[pop].sum())} NEBs); TLS found after each iteration: {per_it}; "
              f"{100 * args.recall:.0f} % of the classical TLS: {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
