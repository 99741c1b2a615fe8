"""Exploration benchmark on one KA2 glass: how many transitions each protocol finds, at what cost.

One glass (KA2, N = 300 by default, prepared here at T_f = 0.8), explored at
T_exp = 0.4 over the same window of MD steps, on the same trajectory (the MD
engine is never perturbed by quenches), by:

  (a) reference: a quench after every MD step;
  (b) the fixed-interval protocol of Mocanu et al. (2023), "Microscopic observation of TLS in a
      metallic glass model" (tau_cg = 10 dt, close to their Table I's 11 dt);
  (c) ours: bisection protocol (tau_cg = 100 dt, shortened confirming quenches, bisection
      of intervals whose ends differ, quenches next to every located change for recrossings,
      excursion screen by partial relaxation).

Printed for each: distinct IS, transitions (and the fraction of the reference's
transition events recovered, matched by the energies of the two IS), quenches,
force evaluations, wall time, and ratios; then our MD-only throughput (stepping
with a snapshot per step) against plain LAMMPS ``run`` on the same system.

Usage: python benchmarks/explore.py [--n 300] [--steps 2000] [--reference-cache FILE]

By default the reference (a) is measured in the same run.  ``--reference-cache FILE``
(for iterating on (c)): when FILE exists, (a)'s summary, events and wall time are read from
it (written by an earlier run with the same --n/--steps/--tf; the speed-ups then compare
against that earlier wall time); otherwise (a) is measured and saved to FILE.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
import time
from collections import Counter

import numpy as np

from tlsfinder.engine import Engine
from tlsfinder.explore import Explorer, ExploreSettings
from tlsfinder.models import KA2
from tlsfinder.prepare import PrepareSettings, prepare_sample


def events(ex: Explorer) -> list[tuple[int, float, float]]:
    e = [round(ex.lib.energy[k], 7) for _, k in ex.changes]
    return [(ex.changes[m + 1][0], e[m], e[m + 1]) for m in range(len(e) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--steps", type=int, default=2000, help="MD steps in the window (multiple of 1000)")
    ap.add_argument("--tf", type=float, default=0.8, help="a poorly annealed glass has transitions in a short window")
    ap.add_argument("--reference-cache", default=None, help="pickle of the reference (a) to reuse or write")
    args = ap.parse_args()
    key = {"n": args.n, "steps": args.steps, "tf": args.tf}
    model = KA2(n=args.n, density=1.35)
    glass, _, _ = prepare_sample(model, args.tf, PrepareSettings(blocks=400, record_every=100, melt_steps=1000), 11,
                                 glass_id="bench")
    dt = 0.0025
    runs = {
        "(a) quench every step": ExploreSettings(tau_cg=100 * dt, protocol="every_step"),
        "(b) fixed tau_cg = 10 dt": ExploreSettings(tau_cg=10 * dt, protocol="fixed"),
        "(c) ours, bisect, tau_cg = 100 dt": ExploreSettings(tau_cg=100 * dt, protocol="bisect"),
    }
    results = {}
    cache = Path(args.reference_cache) if args.reference_cache else None
    for name, s in runs.items():
        if name.startswith("(a)") and cache is not None and cache.exists():
            with open(cache, "rb") as fh:
                c = pickle.load(fh)
            if any(c.get(k, v) != v for k, v in key.items()):
                raise SystemExit(f"{cache}: reference of {({k: c.get(k) for k in key})}, not {key}")
            results[name] = (c["summary"], [tuple(e) for e in c["events"]], c["wall"])
            print(f"(a) read from {cache} (wall time measured then)")
            continue
        s.n_cg = args.steps // s.steps_per_interval
        s.setup_steps = 1000
        ex = Explorer(model, glass, s, 5, "bench")
        t = time.perf_counter()
        ex.run(progress_every=10**9)
        wall = time.perf_counter() - t
        summ = ex.summary()
        results[name] = (summ, events(ex), wall)
        ex.close()
        if name.startswith("(a)") and cache is not None:
            with open(cache, "wb") as fh:
                pickle.dump({**key, "summary": summ, "events": results[name][1], "wall": wall}, fh)

    ref_events = results["(a) quench every step"][1]
    ref_pairs = Counter((a, b) for _, a, b in ref_events)
    ref_wall = results["(a) quench every step"][2]
    print(f"KA2 N = {args.n}, T_f = {args.tf}, T_exp = 0.4, window {args.steps} MD steps (dt = {dt})")
    print(f"{'protocol':36s} {'IS':>5s} {'trans':>6s} {'found':>7s} {'exact':>7s} {'quench':>7s} {'short':>6s} "
          f"{'force ev':>9s} {'wall s':>8s} {'speed-up':>8s} {'found/s':>8s}")
    for name, (summ, ev, wall) in results.items():
        got = Counter((a, b) for _, a, b in ev)
        found = sum((got & ref_pairs).values()) / max(1, len(ref_events))
        exact = len(set(ev) & set(ref_events)) / max(1, len(ref_events))
        print(f"{name:36s} {summ['n_IS']:5d} {summ['transitions']:6d} {found:7.1%} {exact:7.1%} {summ['quenches']:7d} "
              f"{summ['shortened_quenches']:6d} {summ['force_evaluations']:9d} {wall:8.1f} {ref_wall / wall:8.1f}x "
              f"{found * len(ref_events) / wall:8.3f}")
    print("found = reference transition events (from-IS, to-IS) recovered; exact = also at the same MD step")

    # MD-only throughput: our per-step loop with a snapshot per step against plain LAMMPS run
    eng = Engine(model, glass.positions, glass.box, glass.species)
    eng.thermalize(0.4, 3)
    eng.set_thermostat("berendsen", 0.4, 0.25)
    eng.run(100, dt)
    steps = 2000
    t = time.perf_counter()
    eng.run(steps, dt)
    plain = steps / (time.perf_counter() - t)
    t = time.perf_counter()
    frames = []
    for k in range(steps):
        eng._cmd(f"timestep {dt!r}", f"run 1 pre {'yes' if k == 0 else 'no'} post no")
        frames.append(eng.get_positions())
        if len(frames) > 100:
            frames.clear()
    ours = steps / (time.perf_counter() - t)
    eng.close()
    print(f"MD only: plain LAMMPS run {plain:.0f} steps/s, ours (step + snapshot) {ours:.0f} steps/s, "
          f"ratio {ours / plain:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
