"""NEB convergence: do the splittings of the catalogue depend on the NEB tolerance?

Reads the NEB tables and path files of a workflow results folder (e.g. the classical run of
benchmarks/end_to_end.py: ``<workdir>/classical/results``), made with the old settings (no
retry, no refinement: the first run of a band is the same code today), and in one run:

* unconverged bands: every band the old run left unconverged is continued as the NEB step
  does now (``neb.retries`` runs of ``max_steps`` from the last band with FIRE restarted,
  then split / analysed / refined as usual); prints the unconverged fraction of band
  relaxations before and after;
* tolerance dependence: for the double wells nearest the TLS threshold first (smallest
  E / k_B T_Q over the presets; ``--max-dw``), the refinement of the NEB step (neb.refine_*,
  forced here for every well whatever its E) from the stored converged band: E, Delta_0 and
  d_path at the old tolerance (fmax, n_images of the run) and at the last two refinement
  levels; prints the largest relative changes over all wells and over those with
  E < 3 k_B T_Q in a preset (Mocanu et al., "Microscopic observation of two-level systems in a
  metallic glass model", J. Chem. Phys. 158, 014501 (2023), threshold E < k_B T_Q), the
  Hessian check of the climbing images (old and refined: exactly one negative eigenvalue),
  and the cost of refinement in force calls against the first relaxation's.

Usage: python benchmarks/neb_convergence.py RESULTS [--config CONFIG] [--max-dw 32] [--out table.csv]
       [--part both|retry|refine] [--skip K] [--refine-max-images M]
       python benchmarks/neb_convergence.py RESULTS --tables a.csv b.csv   (figures of earlier runs)
(CONFIG: the run's config, default RESULTS/run_config.json, else benchmarks/end_to_end.yaml).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tlsfinder import neb as N  # noqa: E402
from tlsfinder.explore import read_is_library  # noqa: E402
from tlsfinder.models import model_from_config  # noqa: E402

BANDED = ("dw", "split", "non_dw", "unconverged")  # statuses of rows that relaxed a band


def load_config(results: Path, path: str | None) -> dict:
    if path:
        return yaml.safe_load(Path(path).read_text())
    rc = results / "run_config.json"
    if rc.exists():
        return json.loads(rc.read_text())
    return yaml.safe_load((ROOT / "benchmarks/end_to_end.yaml").read_text())


def load_band(results: Path, pair_id: str, ff: N.BatchForceField):
    """The stored band of a pair: images (endpoints re-minimised), energies recomputed."""
    import ase.io

    name = N.safe_name(pair_id)
    hits = sorted(results.glob(f"loop/iter*/neb/*_paths/{name}.path.xyz"))
    if not hits:
        raise SystemExit(f"{results}: no path file for pair {pair_id}")
    x = np.array([a.positions for a in ase.io.read(hits[0], index=":")])
    ma, mb = N.minimize(ff, x[0]), N.minimize(ff, x[-1])  # the files keep 8 decimals
    x[0], x[-1] = ma.positions, mb.positions
    e, _ = ff.evaluate(x)
    return x, e, ma, mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="a workflow results folder (with loop/iter*/neb/)")
    ap.add_argument("--config")
    ap.add_argument("--max-dw", type=int, default=32, help="double wells to refine, nearest the threshold first")
    ap.add_argument("--out", help="write the per-well table here (CSV)")
    ap.add_argument("--part", choices=("both", "retry", "refine"), default="both",
                    help="only the unconverged bands (retry) or only the refinement (refine)")
    ap.add_argument("--refine-max-images", type=int,
                    help="neb.refine_max_images for this run (default: the config's)")
    ap.add_argument("--refine-fmax", type=float, help="neb.refine_fmax for this run (default: the config's)")
    ap.add_argument("--pairs", nargs="+", help="refine only these double wells (pair ids)")
    ap.add_argument("--end-curvature", choices=N.END_CURVATURES,
                    help="neb.end_curvature for this run (default: the config's)")
    ap.add_argument("--skip", type=int, default=0, help="skip this many wells of the list (to share the work out)")
    ap.add_argument("--tables", nargs="+", help="only print the figures of the per-well tables (--out) of earlier runs")
    args = ap.parse_args()
    results = Path(args.results)
    if args.tables:
        _, presets, _ = N.settings_from_config(load_config(results, args.config))
        refine_report(pd.concat([pd.read_csv(t) for t in args.tables], ignore_index=True), presets)
        return
    cfg = load_config(results, args.config)
    settings, presets, sopts = N.settings_from_config(cfg)
    if args.refine_max_images:
        settings = dataclasses.replace(settings, refine_max_images=args.refine_max_images)
    if args.refine_fmax:
        settings = dataclasses.replace(settings, refine_fmax=args.refine_fmax)
    if args.end_curvature:
        settings = dataclasses.replace(settings, end_curvature=args.end_curvature)
    tables = sorted(results.glob("loop/iter*/neb/batch*.parquet"))
    if not tables:
        raise SystemExit(f"{results}: no NEB tables (loop/iter*/neb/batch*.parquet)")
    old = pd.concat([pd.read_parquet(t) for t in tables], ignore_index=True)
    old = old.drop_duplicates("pair_id")  # a pair run in two iterations counts once
    libs: dict = {}

    def glass_ff(glass):
        if glass not in libs:
            lib = read_is_library(results / "explore" / glass / "is_library.h5")
            model = model_from_config(lib["model"])
            libs[glass] = (model, lib, N.BatchForceField(model, lib["box"], lib["species"], skin=settings.skin))
        return libs[glass]

    print(f"results {results}: {len(old)} rows; neb: n_images {settings.n_images}, fmax {settings.fmax}, "
          f"max_steps {settings.max_steps}, retries {settings.retries}, refine_fmax {settings.refine_fmax}, "
          f"refine_rtol {settings.refine_rtol}, refine_max_images {settings.refine_max_images}; "
          f"presets {[p.name for p in presets]}", flush=True)

    # -- unconverged bands: before and after -----------------------------------------------
    banded = old[old["status"].isin(BANDED)]
    unconv = banded[banded["status"] == "unconverged"]
    n_runs_after, n_unconv_after, retry_calls, retry_out = len(banded), 0, 0, []
    for r in unconv.itertuples() if args.part != "refine" else ():
        model, lib, ff = glass_ff(r.glass)
        x, e, ma, mb = load_band(results, r.pair_id, ff)
        depth = r.pair_id.rsplit("/", 1)[-1].count(".")
        # The first run is the old one; what follows is the NEB step's retries from its last band.
        s = dataclasses.replace(settings, retries=max(int(settings.retries) - 1, 0))
        sp = N.ElementaryWellSplitter(ff, lib["box"], s, presets, sopts)
        t0 = time.perf_counter()
        if settings.retries >= 1:
            res = sp.split(ma, mb, r.pair_id, r.parent, r.origin, depth, init=x)
        else:
            res = []
        statuses = [q.status for q in res] or ["unconverged"]
        calls = sum(int(q.row.get("force_calls", 0)) for q in res)
        retry_calls += calls
        n_runs_after += sum(q.status in BANDED for q in res[1:])  # sub-pairs of a retried band that split
        n_unconv_after += statuses.count("unconverged")
        retry_out.append((r.pair_id, float(r.fmax), statuses, calls, time.perf_counter() - t0))
        print(f"  retry {r.pair_id}: old fmax {r.fmax:.2e} -> {statuses} ({calls} force calls, "
              f"{time.perf_counter() - t0:.0f} s)", flush=True)

    # -- tolerance dependence of the double wells ------------------------------------------
    dw = old[old["status"] == "dw"].copy()
    ratio = np.min([dw[f"E_{p.name}"] / p.kT_Q for p in presets], axis=0)
    dw = dw.assign(_ratio=ratio).sort_values("_ratio").iloc[args.skip:args.skip + (args.max_dw if args.part != "retry" else 0)]
    if args.pairs:
        dw = old[(old["status"] == "dw") & old["pair_id"].isin(args.pairs)]
    force = dataclasses.replace(settings, refine=True, refine_kT_factor=math.inf)
    rows = []
    for r in dw.itertuples():
        model, lib, ff = glass_ff(r.glass)
        x, e, ma, mb = load_band(results, r.pair_id, ff)
        band0 = N.Band(images=x, energies=e, f_par=np.zeros(len(e)), converged=True, steps=int(r.neb_steps),
                       force_calls=int(r.force_calls), fmax=float(r.fmax), climb_index=int(1 + np.argmax(e[1:-1])),
                       wall_time=0.0)
        sp = N.ElementaryWellSplitter(ff, lib["box"], force, presets, sopts)
        modes: dict = {}
        row0 = sp.analyse(band0, r.pair_id, modes)  # the old band, analysed as the NEB step does now
        row0.update(neb_steps=int(r.neb_steps), force_calls=int(r.force_calls), neb_wall_s=0.0)
        t0 = time.perf_counter()
        sad0 = N.saddle_check(model, x[band0.climb_index], lib["box"], lib["species"])["n_negative"]
        band, out = sp.refine(ma.positions, x[-1], band0, dict(row0), [ma.positions, x[-1]], r.pair_id, modes)
        rec = dict(pair_id=r.pair_id, PR=r.PR, base_force_calls=int(r.force_calls), n_negative_old=sad0,
                   n_negative=out.get("n_negative"), refine_status=out["refine_status"],
                   refine_levels=out["refine_levels"], n_images=out["n_images"],
                   refine_force_calls=out["refine_force_calls"], wall_s=time.perf_counter() - t0,
                   d_path_old=row0["d_path"], d_path=out["d_path"], d_path_tol_change=out.get("d_path_tol_change"))
        for p in presets:
            for q in ("E", "Delta_0"):
                rec[f"{q}_{p.name}_old"] = row0[f"{q}_{p.name}"]
                rec[f"{q}_{p.name}"] = out[f"{q}_{p.name}"]
                rec[f"{q}_tol_change_{p.name}"] = out.get(f"{q}_tol_change_{p.name}")
        rows.append(rec)
        if args.out:  # as it goes: a long run can be read before it ends
            pd.DataFrame(rows).to_csv(args.out, index=False)
        print(f"  refine {r.pair_id}: {out['refine_status']} ({out['refine_levels']} levels, {out['n_images']} images), "
              + ", ".join(f"E_{p.name} {row0[f'E_{p.name}']:.5g}->{out[f'E_{p.name}']:.5g} "
                          f"(last {rec[f'E_tol_change_{p.name}'] or float('nan'):.1e})" for p in presets)
              + f", Delta_0 last change {max(rec[f'Delta_0_tol_change_{p.name}'] or 0 for p in presets):.1e}, "
              f"n_neg {sad0}->{out.get('n_negative')}, {out['refine_force_calls']} calls, {rec['wall_s']:.0f} s",
              flush=True)
    tab = pd.DataFrame(rows)
    if args.out:
        tab.to_csv(args.out, index=False)
    report(tab, presets, banded, unconv, n_runs_after, n_unconv_after, retry_calls, args.part != "refine")


def report(tab, presets, banded, unconv, n_runs_after, n_unconv_after, retry_calls, retried):
    print("\n== unconverged bands (fraction of band relaxations)")
    if not retried:
        print(f"before (1 run of max_steps): {len(unconv)}/{len(banded)} = {len(unconv) / len(banded):.1%}; "
              "after: not measured (--part refine)")
    else:
        retry_report(banded, unconv, n_runs_after, n_unconv_after, retry_calls)
    refine_report(tab, presets)


def retry_report(banded, unconv, n_runs_after, n_unconv_after, retry_calls):
    print(f"before (1 run of max_steps): {len(unconv)}/{len(banded)} = {len(unconv) / len(banded):.1%}")
    print(f"after (with retries):        {n_unconv_after}/{n_runs_after} = {n_unconv_after / n_runs_after:.1%}; "
          f"retries cost {retry_calls} force calls = {retry_calls / banded['force_calls'].sum():.1%} of the old "
          f"run's {int(banded['force_calls'].sum())}")


def refine_report(tab, presets):
    if not len(tab):
        return
    print(f"\n== tolerance dependence: {len(tab)} double wells refined ({(tab.refine_status == 'converged').sum()} "
          f"to refine_rtol; statuses {tab.refine_status.value_counts().to_dict()})")

    def block(sub, label):
        if not len(sub):
            print(f"{label}: none")
            return
        print(f"{label}: {len(sub)} wells")
        print(f"  last two levels: max |dd_path|/d_path {sub.d_path_tol_change.max():.2e}")
        for p in presets:
            for q in ("E", "Delta_0"):
                c = sub[f"{q}_tol_change_{p.name}"].astype(float)
                o = (sub[f"{q}_{p.name}"] - sub[f"{q}_{p.name}_old"]).abs() / sub[f"{q}_{p.name}"].abs()
                print(f"  {q}_{p.name}: last two levels max {c.max():.2e} (median {c.median():.1e}); "
                      f"old tolerance vs refined max {o.max():.2e} (median {o.median():.1e})")
            # Delta_0 below 1 % of E does not enter E = sqrt(Delta^2 + Delta_0^2): such wells are
            # classical (Delta_0 ~ e^-S with S in the tens), their Delta_0 swings with any change of S.
            big = sub[f"Delta_0_{p.name}"] >= 0.01 * sub[f"E_{p.name}"]
            c = sub.loc[big, f"Delta_0_tol_change_{p.name}"].astype(float)
            print(f"  Delta_0_{p.name} where Delta_0 >= 1 % of E ({int(big.sum())} wells): last two levels max "
                  f"{c.max() if len(c) else float('nan'):.2e}")
        o = (sub.d_path - sub.d_path_old).abs() / sub.d_path
        print(f"  d_path: old tolerance vs refined max {o.max():.2e} (median {o.median():.1e})")

    block(tab, "all refined double wells")
    for p in presets:
        kt = p.kT_Q
        block(tab[tab[f"E_{p.name}"] < 3 * kt], f"E_{p.name} < 3 k_B T_Q = {3 * kt:g}")
    print(f"\n== saddles: {len(tab)} old climbing images, {(tab.n_negative_old == 1).sum()} with exactly one negative "
          f"Hessian eigenvalue; {tab.n_negative.notna().sum()} refined, {(tab.n_negative == 1).sum()} with exactly one")
    print(f"\n== cost: refinement {int(tab.refine_force_calls.sum())} force calls against {int(tab.base_force_calls.sum())} "
          f"for the first relaxation of the same wells: ratio {tab.refine_force_calls.sum() / tab.base_force_calls.sum():.2f} "
          f"(per well median {np.median(tab.refine_force_calls / tab.base_force_calls):.2f}); wall {tab.wall_s.sum():.0f} s")


if __name__ == "__main__":
    main()
