"""End to end: the ML loop against the classical protocol on the same glasses.

Runs the workflow once (prepare, explore, pairs) in a scratch folder, then the loop twice on
the same glasses, pairs and seed: ``loop.mode: ml`` and ``loop.mode: classical`` (NEB on every
pair crossed in both directions, as in Mocanu et al., "Microscopic observation of two-level
systems in a metallic glass model", J. Chem. Phys. 158, 014501 (2023)).  Prints for each: NEBs
run, NEB wall time (from Snakemake's benchmark files), TLS found (in the loop's preset), TLS per
core-hour, and the fraction of the classical protocol's TLS that the ML loop recovers.

Also the double wells (DW) found, since at small sizes TLS are few, and what the published TLS-per-DW
rate of the model lets one expect: the classical protocol's expected TLS (its DW count times the
rate, with the Poisson chance of finding any), and the DW, NEB core-hours and wall time on 2 cores
it would need to expect 10 TLS, the fewest that make an 80 % recall measurable at all.  Rates:
KA2 T_f = 0.617, Mocanu et al. (2023) Table I, 74 TLS among 21,880 DW (both data sets; their
threshold T_Q); PSS T_f = 0.092, Khomenko, Reichman, Zamponi, Phys. Rev. Materials 5, 055602 (2021),
1,008 TLS among 117,339 DW (Ar units).

Usage: python benchmarks/end_to_end.py [--config benchmarks/end_to_end.yaml] [--workdir /tmp/tlsf-e2e]
       [--reuse]   (print the figures of an earlier run in --workdir without running anything)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SHARED = ("results/prepare", "results/explore", "results/pairs")
# published TLS and DW counts (see the docstring), by model and T_f
PUBLISHED_TLS_PER_DW = {("KA2", 0.617): (74, 21880), ("PSS", 0.092): (1008, 117339)}


def copy_workflow(dest: Path, config: dict) -> None:
    for item in ("Snakefile", "rules", "workflow", "config", "report", "envs", "containers"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / item)
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def run(wd: Path, *targets: str) -> None:
    res = subprocess.run([SNAKEMAKE, "--cores", "2", *targets], cwd=wd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"snakemake failed in {wd}:\n{res.stderr[-4000:]}")


def neb_seconds(wd: Path) -> float:
    files = list((wd / "benchmarks/out/loop").rglob("batch*.tsv"))
    return float(sum(pd.read_csv(f, sep="\t")["s"].sum() for f in files))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "benchmarks/end_to_end.yaml"))  # KA2; PSS: end_to_end_pss.yaml
    ap.add_argument("--workdir", default="/tmp/tlsfinder-end-to-end")
    ap.add_argument("--reuse", action="store_true", help="only print the figures of an earlier run in --workdir")
    args = ap.parse_args()
    base = yaml.safe_load(Path(args.config).read_text())
    wd = Path(args.workdir)
    if not args.reuse:
        shutil.rmtree(wd, ignore_errors=True)
        wd.mkdir(parents=True)
    results = {}
    for mode in ("classical", "ml"):
        cfg = {**base, "loop": {**base.get("loop", {}), "mode": mode}}
        d = wd / mode
        if not args.reuse:
            d.mkdir()
            copy_workflow(d, cfg)
            if mode == "ml":  # the same glasses, IS libraries and pairs as the classical run
                for sub in SHARED:
                    shutil.copytree(wd / "classical" / sub, d / sub)
                shutil.copytree(wd / "classical" / ".snakemake", d / ".snakemake", dirs_exist_ok=True)
            run(d, "all")
        cat = pd.read_parquet(d / "results/report/tls_catalogue.parquet")
        preset = cfg["loop"].get("preset", "NiP")
        labels = sorted((d / "results/loop").glob("iter*/labels.parquet"))[-1]
        lab = pd.read_parquet(labels)
        tls = cat[cat[f"is_TLS_{preset}"]] if len(cat) else cat
        dw = lab[lab["is_dw"]]
        results[mode] = {"neb": len(lab), "seconds": neb_seconds(d), "tls": tls, "preset": preset, "dw": dw,
                         "n_dw": len(cat)}

    ref = {(r.glass, min(r.i, r.j), max(r.i, r.j)) for r in results["classical"]["tls"].itertuples()}
    got = {(r.glass, min(r.i, r.j), max(r.i, r.j)) for r in results["ml"]["tls"].itertuples()}
    print(f"config {args.config}; TLS in preset {results['ml']['preset']}")
    print(f"{'protocol':12s} {'NEBs':>6s} {'NEB wall s':>11s} {'DW pairs':>9s} {'DW total':>9s} {'DW/core-h':>10s} "
          f"{'TLS':>5s} {'TLS/core-h':>11s}")
    for mode, r in results.items():
        hours = r["seconds"] / 3600 if r["seconds"] else float("nan")
        print(f"{mode:12s} {r['neb']:6d} {r['seconds']:11.1f} {len(r['dw']):9d} {r['n_dw']:9d} "
              f"{r['n_dw'] / hours:10.1f} {len(r['tls']):5d} {len(r['tls']) / hours:11.2f}")
    ref_dw = {(r.glass, min(r.i, r.j), max(r.i, r.j)) for r in results["classical"]["dw"].itertuples()}
    got_dw = {(r.glass, min(r.i, r.j), max(r.i, r.j)) for r in results["ml"]["dw"].itertuples()}
    print(f"selected pairs that are single double wells: the ML loop recovers {len(ref_dw & got_dw)} of the classical "
          f"protocol's {len(ref_dw)} and found {len(got_dw - ref_dw)} it did not look at")
    frac = len(ref & got) / len(ref) if ref else float("nan")
    print(f"ML loop recovers {len(ref & got)} of the classical protocol's {len(ref)} TLS ({frac:.0%}); "
          f"it found {len(got - ref)} TLS the classical protocol did not look at")
    expectation(base, results["classical"], wd / "classical")


def exploration_core_s(wd: Path) -> float:
    """Core-seconds of the glasses' exploration (their summaries' wall time, one core each)."""
    return float(sum(json.loads(f.read_text())["wall_time_s"] for f in wd.glob("results/explore/*/*/summary.json")))


def expectation(cfg: dict, classical: dict, wd: Path) -> None:
    """What the published TLS-per-DW rate lets the classical run expect, and what 10 TLS would cost."""
    temps = cfg.get("prepare", {}).get("temperatures", [])
    key = (cfg.get("model", {}).get("name"), float(temps[0]) if len(temps) == 1 else None)
    if key not in PUBLISHED_TLS_PER_DW:
        print(f"no published TLS-per-DW rate for model {key[0]} at T_f {temps}: no expectation printed")
        return
    n_tls, n_dw = PUBLISHED_TLS_PER_DW[key]
    rate = n_tls / n_dw
    lam = classical["n_dw"] * rate
    hours = classical["seconds"] / 3600
    need_dw = 10 / rate
    print(f"published rate {key[0]} T_f = {key[1]}: {n_tls} TLS / {n_dw} DW = {100 * rate:.2f} %; the classical "
          f"run's {classical['n_dw']} DW expect {lam:.2f} TLS (P(any) = {1 - np.exp(-lam):.0%})")
    if classical["n_dw"] and hours > 0:
        scale = need_dw / classical["n_dw"]
        neb_h, explore_h = scale * hours, scale * exploration_core_s(wd) / 3600
        print(f"10 expected TLS need ~{need_dw:.0f} DW: ~{scale * classical['neb']:.0f} NEBs, {neb_h:.1f} NEB core-hours "
              f"and {explore_h:.1f} core-hours of exploration at this run's rates ({(neb_h + explore_h) / 2:.1f} h on 2 cores)")


if __name__ == "__main__":
    main()
