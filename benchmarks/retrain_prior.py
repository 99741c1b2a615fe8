"""Retraining with a prior model: continue boosting from it, or start from scratch (ml.retrain_from)?

Data: the published TLS_ML_exploration tables at T_f = 0.07 (Ciarella et al. (2023), "Finding
defects in glasses through machine learning", arXiv:2212.05582; MIT licence; imported with
tlsfinder.importer), in --data or $TLSFINDER_TLSML_DATA: 39,065 labelled pairs of 50 PSS glasses,
23,535 double wells, 293 TLS (DW with splitting < 0.00151).

Protocol, per seed: the 50 glasses are shuffled and split by glass (never by row: pairs of one
glass are correlated) into a PRIOR set (--n-prior, 25), an OWN set (--n-own, 10) and a HELD-OUT set
(the rest, 15).  A TLSRanker trained on every label of the PRIOR glasses plays the pretrained
model.  The OWN glasses play a new run: n of their labelled pairs (--sizes) are its labels, drawn
either uniformly (--sampling random) or as the loop draws them (--sampling ranked: 90 % the prior's
best-ranked pairs, 10 % at random, ml.explore_fraction).  Compared, on the HELD-OUT glasses:

* prior:     the prior model as it is (what the run uses below ml.min_retrain_dw);
* scratch:   a TLSRanker trained on the n own labels alone (ml.retrain_from: scratch);
* continued: the prior's members continued with LightGBM init_model on the n own labels
             (ml.retrain_from: prior);
* blend W:   p_dw and -log10(splitting) averaged, weight W on the prior's, 1 - W on scratch's.

Metric: the share of the held-out pairs, taken in each model's p_tls order, that holds 50 / 90 /
100 % of their TLS (lower is better; random order needs ~50 / 90 / 100 %); mean +- standard
deviation over seeds, in % of the held-out pairs.  The same seed gives every method the same split,
the same own labels and the same LightGBM seed, so differences between rows are paired.

Results (10 seeds, --sampling both, ~4 min of one core; 6,424-14,796 held-out pairs and 31-166 held-out
TLS per seed; % of held-out pairs for 90 % of the TLS, mean +- std over seeds):

  own labels    n      scratch          continued      prior alone    blend 0.5    blend 0.8
  random       200    6.92 +- 4.07    2.13 +- 1.03    2.04 +- 0.98      2.36         2.12
  random       500    4.26 +- 3.19    2.08 +- 1.07                      2.18         2.10
  random      2000    3.11 +- 2.11    2.07 +- 1.06                      2.19         2.09
  ranked       200   49.59 +- 27.1    2.21 +- 1.13                      2.83         2.23
  ranked       500    8.82 +- 6.87    2.10 +- 1.09                      2.24         2.09
  ranked      2000    2.71 +- 1.27    2.07 +- 1.07                      2.20         2.11

The spread is mostly that of the splits; paired, continued - prior is +0.03 to +0.17 (std 0.13-0.47)
and continued beats scratch in 8-10 of 10 seeds at every size.  Hence ml.retrain_from: prior.
Continued trees at learning rate 0.05 instead of 0.2 (--params): 2.10 / 2.12 % (random, 200 / 500)
and 2.21 / 2.05 % (ranked), the same within the spread.

Caveat: all 50 glasses are one glass model at one T_f, so the prior is trained on the very
distribution it is tested on; a run of another T_f or protocol is where own labels should matter
more.  This measures whether continuing costs anything against the prior and what it gains over
scratch.

Usage: python benchmarks/retrain_prior.py [--data DIR] [--seeds 10] [--sizes 200 500 2000]
                                          [--sampling random|ranked|both] [--blend 0.5 0.8]
                                          [--params JSON] [--json OUT]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ml import DATA, LEVELS, load, needed_fraction  # noqa: E402  (benchmarks/ml.py)

from tlsfinder.ml import DEFAULTS, TLS_SPLITTING_MAX, TLSRanker  # noqa: E402


def split_glasses(pairs: pd.DataFrame, seed: int, n_prior: int, n_own: int) -> tuple[list, list, list]:
    """PRIOR, OWN and HELD-OUT glasses: a seeded permutation of the sorted glass names, cut in three."""
    glasses = np.array(sorted(pairs["glass"].astype(str).unique()), dtype=object)
    if n_prior + n_own >= len(glasses):
        raise SystemExit(f"--n-prior {n_prior} + --n-own {n_own} leave no held-out glass of {len(glasses)}")
    perm = np.random.default_rng(seed).permutation(glasses)
    return list(perm[:n_prior]), list(perm[n_prior:n_prior + n_own]), list(perm[n_prior + n_own:])


def own_labels(labels: pd.DataFrame, pairs: pd.DataFrame, prior: TLSRanker, n: int, sampling: str,
               rng: np.random.Generator) -> pd.DataFrame:
    """``n`` of the OWN glasses' ``labels`` (``pairs``: their pairs): uniformly, or as the loop takes them,
    the prior's best ranked first with a share ml.explore_fraction drawn at random from the rest."""
    if n > len(labels):
        raise SystemExit(f"own set: {n} labels asked, the own glasses hold {len(labels)}")
    if sampling == "random":
        return labels.iloc[np.sort(rng.choice(len(labels), n, replace=False))].reset_index(drop=True)
    key = ["glass", "i", "j"]
    ranked = prior.rank(pairs)[key].astype({"glass": str})
    pos = ranked.merge(labels[key].astype({"glass": str}).reset_index(), on=key, how="inner")["index"].to_numpy()
    n_explore = int(round(n * DEFAULTS["explore_fraction"]))
    explore = rng.choice(pos[n - n_explore:], n_explore, replace=False)
    return labels.iloc[np.sort(np.concatenate([pos[: n - n_explore], explore]))].reset_index(drop=True)


def scores(pred: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """p_dw and y = -log10(predicted splitting) of a prediction table."""
    return pred["p_dw"].to_numpy(), -np.log10(pred["splitting_pred"].to_numpy())


def p_tls(p_dw: np.ndarray, y: np.ndarray, sigma: float = DEFAULTS["sigma"]) -> np.ndarray:
    """The ranking score of tlsfinder.ml.TLSRanker.predict, at the published threshold."""
    return p_dw * ndtr((y + np.log10(TLS_SPLITTING_MAX)) / sigma)


def run_seed(pairs, labels, lab, seed: int, args, sampling: str) -> dict:
    """Shares (%) for every method and size of one seed, and the sample sizes."""
    prior_g, own_g, held_g = split_glasses(pairs, seed, args.n_prior, args.n_own)
    g_lab = labels["glass"].astype(str)
    g_pairs = pairs["glass"].astype(str)
    t0 = time.perf_counter()
    prior = TLSRanker(seed=seed).fit(pairs, labels[g_lab.isin(prior_g).to_numpy()])
    prior.source = f"prior of {len(prior_g)} glasses"
    t_prior = time.perf_counter() - t0
    held = g_pairs.isin(held_g).to_numpy()
    held_pairs = pairs[held]
    is_tls = (lab["is_dw"].to_numpy(dtype=bool) & (lab["splitting"].to_numpy() < TLS_SPLITTING_MAX))[held]
    own_all = labels[g_lab.isin(own_g).to_numpy()].reset_index(drop=True)
    own_pairs = pairs[g_pairs.isin(own_g).to_numpy()]
    pd_prior, y_prior = scores(prior.predict(held_pairs))

    def share(score):
        return [100 * f for f in needed_fraction(np.argsort(-score, kind="stable"), is_tls)]

    out = {"seed": seed, "n_held_pairs": int(held.sum()), "n_held_tls": int(is_tls.sum()),
           "prior_fit_s": round(t_prior, 1), "methods": {"prior": share(p_tls(pd_prior, y_prior))}, "sizes": {}}
    rng = np.random.default_rng(10_000 + seed)
    for n in args.sizes:
        own = own_labels(own_all, own_pairs, prior, n, sampling, rng)
        s = own["splitting"].to_numpy()
        out["sizes"][n] = {"n": len(own), "dw": int(own["is_dw"].sum()),
                           "tls": int((own["is_dw"].to_numpy() & (s < TLS_SPLITTING_MAX)).sum())}
        scratch = TLSRanker(seed=seed + 1).fit(pairs, own)
        t0 = time.perf_counter()
        cont = TLSRanker(seed=seed + 1, params=args.params).fit(pairs, own, prior=prior)
        out["sizes"][n]["continued_fit_s"] = round(time.perf_counter() - t0, 2)
        out["sizes"][n]["new_trees"] = {m: cont.info[m]["rounds"] for m in ("classifier", "regressor")}
        pd_s, y_s = scores(scratch.predict(held_pairs))
        pd_c, y_c = scores(cont.predict(held_pairs))
        out["methods"][f"scratch {n}"] = share(p_tls(pd_s, y_s))
        out["methods"][f"continued {n}"] = share(p_tls(pd_c, y_c))
        for w in args.blend:
            blend = p_tls(w * pd_prior + (1 - w) * pd_s, w * y_prior + (1 - w) * y_s)
            out["methods"][f"blend {w:g} {n}"] = share(blend)
    return out


def table(results: list[dict], sizes, blend) -> str:
    """Mean +- std over seeds of every method's shares, with sample sizes."""
    head = "share of held-out pairs (%) for  50 % / 90 % / 100 % of their TLS  (mean +- std over seeds)"
    lines = [head, f"{'method':<22}{'50 %':>16}{'90 %':>16}{'100 %':>16}   own labels: n (DW, TLS)"]
    names = ["prior"] + [f"{m} {n}" for n in sizes for m in ("scratch", "continued", *(f"blend {w:g}" for w in blend))]
    for name in names:
        a = np.array([r["methods"][name] for r in results])
        cells = "".join(f"{m:>9.2f} +- {s:<4.2f}" for m, s in zip(a.mean(0), a.std(0)))
        extra = ""
        if name != "prior":
            n = int(name.rsplit(" ", 1)[1])
            sz = [r["sizes"][n] for r in results]
            extra = (f"   {n} ({np.mean([z['dw'] for z in sz]):.0f}, {np.mean([z['tls'] for z in sz]):.1f})"
                     if name.startswith("scratch") else "")
            if name.startswith("continued"):
                nt = np.array([[z["new_trees"]["classifier"], z["new_trees"]["regressor"]] for z in sz])
                extra = f"   new trees per member: classifier {nt[:, 0].mean():.0f}, regressor {nt[:, 1].mean():.0f}"
        lines.append(f"{name:<22}{cells}{extra}")
    # paired differences at 90 % (same split, labels and LightGBM seed): mean +- std, and how often lower
    for n in sizes:
        c = np.array([r["methods"][f"continued {n}"][1] for r in results])
        cells = []
        for other in ("scratch", "prior", *(f"blend {w:g}" for w in blend)):
            o = np.array([r["methods"][other if other == "prior" else f"{other} {n}"][1] for r in results])
            cells.append(f"- {other} {np.mean(c - o):+.2f} +- {np.std(c - o):.2f} (lower in {int((c < o).sum())})")
        lines.append(f"paired at 90 %, n = {n}: continued " + ", ".join(cells))
    held = [r["n_held_pairs"] for r in results]
    tls = [r["n_held_tls"] for r in results]
    lines.append(f"{len(results)} seeds {[r['seed'] for r in results]}; held-out pairs {min(held)}-{max(held)}, "
                 f"held-out TLS {min(tls)}-{max(tls)} per seed")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 2000])
    ap.add_argument("--n-prior", type=int, default=25)
    ap.add_argument("--n-own", type=int, default=10)
    ap.add_argument("--sampling", choices=("random", "ranked", "both"), default="both")
    ap.add_argument("--blend", type=float, nargs="*", default=[0.5, 0.8], help="prior weights of the blend")
    ap.add_argument("--params", type=json.loads, default=None,
                    help="LightGBM overrides of the continued models, JSON (e.g. '{\"learning_rate\": 0.05}')")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not (args.data / "pretraining-classifier-T007.feather").exists():
        sys.exit(f"{args.data}: published tables not found (give --data or set TLSFINDER_TLSML_DATA)")
    t0 = time.perf_counter()
    pairs, labels, lab = load(args.data)
    print(f"published T_f = 0.07 data: {len(pairs)} pairs, {int(lab['is_dw'].sum())} DW, "
          f"{int((lab['is_dw'].to_numpy(dtype=bool) & (lab['splitting'].to_numpy() < TLS_SPLITTING_MAX)).sum())} TLS, "
          f"{pairs['glass'].nunique()} glasses; split {args.n_prior} prior / {args.n_own} own / "
          f"{pairs['glass'].nunique() - args.n_prior - args.n_own} held-out glasses")
    report = {}
    for sampling in (("random", "ranked") if args.sampling == "both" else (args.sampling,)):
        results = [run_seed(pairs, labels, lab, seed, args, sampling) for seed in range(args.seeds)]
        report[sampling] = results
        print(f"\nown labels drawn: {sampling}")
        print(table(results, args.sizes, args.blend))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
