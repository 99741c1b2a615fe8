"""The seed protocol side by side: ``bisect`` against ``fixed`` on the same glasses and MD trajectory.

Mocanu et al. (2023), "Microscopic observation of two-level systems in a metallic glass
model", J. Chem. Phys. 158, 014501, Sec. II.D and Table I, quench every tau_cg (``fixed``;
Table I's dataset 2 uses 2, 3, 18, 31 dt at T_f = 0.617, 0.558, 0.509, 0.488) and take as
double-well candidates the pairs of consecutive IS crossed in both directions.  Our default
``bisect`` quenches every tau_cg = 20 dt and locates every change inside the interval, so it
also sees the short excursions ``fixed`` mostly misses (their Fig. 3a).  This script measures
what that does to the Table I numbers.

Same glasses, same trajectory: each glass (KA2, N = 300 by default, a short swap preparation at
``--tf``) is explored twice by :class:`tlsfinder.explore.Explorer`, with the same seed and glass
id (so the same Maxwell-Boltzmann velocities) and the same ``setup_steps`` (LAMMPS is set up
afresh at the same steps); the MD engine is never touched by the quenches, which run in a second
LAMMPS instance.  The script checks it: the final MD positions of both runs must be bit-identical,
and it prints how often ``bisect``'s time series is in ``fixed``'s IS at ``fixed``'s quench steps.

Printed per protocol (summed over the glasses) and as ratios bisect / fixed: N_IS, transitions,
distinct transition pairs, bidirectional pairs (T_ab >= 1 and T_ba >= 1: the paper's candidates),
quenches, force evaluations, wall time.  With ``--neb`` (default), NEB
(:func:`tlsfinder.neb.neb_pair`, the config schema's NEB settings) runs on every bidirectional
pair of either protocol, once per pair of minima (the IS of both libraries are matched with the
exploration's identity rule), and N_DW/N_IS and N_TLS/N_DW (NiP and Ar presets) follow, N_DW
counting the distinct elementary double wells (split paths give their elementary sub-pairs;
minima matched by energy, 1e-7 eps per particle).  ``--neb-max`` caps the NEBs per protocol and
glass (the ratios then cover those pairs only).

Usage: python benchmarks/protocol_parity.py [--n 300] [--glasses 2] [--tf 0.488] [--steps 4960]
       [--fixed-steps 31] [--bisect-steps 20] [--no-neb] [--neb-max 5]
The defaults take about 15 minutes of CPU on one core: exploration ~2.5 min per glass, NEB ~2 min
per pair (measured on a loaded 2-core machine; times are printed as CPU seconds of the process,
LAMMPS runs inside it).  Bigger runs: --glasses 8 --steps 24800 --neb-max 0 (all pairs);
--n 1200 --steps 400000 is the paper's 1e3 tau per glass and takes many hours per glass.
"""

from __future__ import annotations

import argparse
import math
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from tlsfinder.explore import Explorer, ExploreSettings  # noqa: E402
from tlsfinder.geometry import displacements, rms_distance  # noqa: E402
from tlsfinder.models import KA2  # noqa: E402
from tlsfinder.neb import NEBSettings, neb_pair  # noqa: E402
from tlsfinder.prepare import PrepareSettings, prepare_sample  # noqa: E402
from tlsfinder.units import get_preset  # noqa: E402

#: tau_cg in MD steps of Mocanu et al. (2023) Table I, dataset 2
TABLE_I_STEPS = {0.617: 2, 0.558: 3, 0.509: 18, 0.488: 31}
PROTOCOLS = ("fixed", "bisect")


def explore(model, glass, gid: str, protocol: str, tau_steps: int, steps: int, setup: int, seed: int):
    """One exploration of ``steps`` MD steps; returns (explorer, CPU seconds of this process: LAMMPS runs in
    it, and on a shared machine CPU time, unlike wall time, does not depend on the load).  The caller closes it."""
    s = ExploreSettings(protocol=protocol, tau_cg=tau_steps * 0.0025, dt=0.0025, temperature=0.4)
    s.n_cg = steps // tau_steps
    s.setup_steps = setup
    s.validate()
    ex = Explorer(model, glass, s, seed, gid)
    t = time.process_time()
    ex.run(progress_every=10**9)
    return ex, time.process_time() - t


def is_at(changes: list[tuple[int, int]], steps: np.ndarray) -> np.ndarray:
    """IS id of a change list (step, IS from that step on) at each of ``steps``."""
    at = np.array([c[0] for c in changes])
    ids = np.array([c[1] for c in changes])
    return ids[np.searchsorted(at, steps, side="right") - 1]


def match_libraries(ref, other) -> dict[int, int]:
    """other IS id -> ref IS id by the exploration's identity rule; IS absent from ref are added to it."""
    out = {}
    for k in range(len(other)):
        m = ref.find(other.positions[k], other.energy[k])
        out[k] = m if m is not None else ref.add(other.positions[k], other.energy[k], other.first_seen[k],
                                                 other.fmax[k])
    return out


def bidirectional(changes, mapping=None) -> set[tuple[int, int]]:
    """Unordered pairs of consecutive IS crossed both ways (ids through ``mapping`` if given)."""
    ids = [c[1] if mapping is None else mapping[c[1]] for c in changes]
    seen = set(zip(ids[:-1], ids[1:]))
    return {(min(a, b), max(a, b)) for a, b in seen if a != b and (b, a) in seen}


def run_neb(model, glass, lib, pairs, presets, settings, cache: dict, gid: str):
    """NEB of each pair (cached by pair); returns {pair: list of elementary-DW rows}."""
    out = {}
    for a, b in sorted(pairs):
        if (gid, a, b) not in cache:
            res = neb_pair(model, glass.box, glass.species, lib.positions[a], lib.positions[b], settings,
                           presets, pair_id=f"{gid}/{a}-{b}")
            cache[(gid, a, b)] = [r.row for r in res if r.status == "dw"], [r.status for r in res
                                                                          if r.origin == "input"][0]
        out[(a, b)] = cache[(gid, a, b)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300, help="particles")
    ap.add_argument("--glasses", type=int, default=2)
    ap.add_argument("--tf", type=float, default=0.488, help="T_f of the (short) swap preparation")
    ap.add_argument("--prep-blocks", type=int, default=400, help="swap/MD blocks of the preparation")
    ap.add_argument("--steps", type=int, default=4960, help="MD steps explored per glass (dt = 0.0025)")
    ap.add_argument("--fixed-steps", type=int, default=None,
                    help="fixed: tau_cg in MD steps (default: Table I's value for the nearest T_f)")
    ap.add_argument("--bisect-steps", type=int, default=20, help="bisect: tau_cg in MD steps")
    ap.add_argument("--neb", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--neb-max", type=int, default=5, help="most NEBs per protocol and glass (0: no cap)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()

    fixed_steps = args.fixed_steps or TABLE_I_STEPS[min(TABLE_I_STEPS, key=lambda t: abs(t - args.tf))]
    tau = {"fixed": fixed_steps, "bisect": args.bisect_steps}
    period = math.lcm(fixed_steps, args.bisect_steps)
    setup = period * -(-1000 // period)  # a common LAMMPS set-up period: the same trajectory
    steps = setup * max(1, round(args.steps / setup))
    model = KA2(n=args.n, density=1.35)
    presets = [get_preset("KA2", "NiP"), get_preset("KA2", "Ar")]
    neb_settings = NEBSettings()
    print(f"KA2 N = {args.n}, {args.glasses} glass(es) prepared at T_f = {args.tf} ({args.prep_blocks} swap blocks), "
          f"T_exp = 0.4, dt = 0.0025, {steps} MD steps = {steps * 0.0025:g} tau per glass; "
          f"fixed tau_cg = {fixed_steps} dt, bisect tau_cg = {args.bisect_steps} dt; LAMMPS set-up every {setup} steps")

    tot = {p: {} for p in PROTOCOLS}
    agree, agree_n, identical = 0, 0, True
    cache: dict = {}
    t_neb = 0.0
    dws = {p: {} for p in PROTOCOLS}  # (glass, e_lo, e_hi) -> row, per protocol
    neb_pairs = {p: 0 for p in PROTOCOLS}
    neb_status = {p: {} for p in PROTOCOLS}
    t_start, c_start = time.perf_counter(), time.process_time()
    for g in range(args.glasses):
        gid = f"T{args.tf:g}/g{g}"
        t = time.process_time()
        glass, _, _ = prepare_sample(model, args.tf, PrepareSettings(blocks=args.prep_blocks, record_every=100,
                                                                     melt_steps=1000), args.seed, glass_id=gid)
        print(f"  {gid}: prepared in {time.process_time() - t:.0f} CPU s", flush=True)
        exs = {}
        for p in PROTOCOLS:
            ex, wall = explore(model, glass, gid, p, tau[p], steps, setup, args.seed)
            exs[p] = ex
            summ = ex.summary()
            for k in ("n_IS", "transitions", "distinct_transition_pairs", "bidirectional_pairs", "quenches",
                      "shortened_quenches", "failed_quenches", "force_evaluations"):
                tot[p][k] = tot[p].get(k, 0) + summ[k]
            tot[p]["wall"] = tot[p].get("wall", 0.0) + wall
            print(f"  {gid}: {p} explored in {wall:.1f} CPU s", flush=True)
        same = np.array_equal(exs["fixed"].engine.get_positions(), exs["bisect"].engine.get_positions())
        identical &= same
        # is bisect's trajectory in fixed's IS at fixed's quench steps?
        lib = exs["bisect"].lib
        n_bisect_is = len(lib)
        to_b = match_libraries(lib, exs["fixed"].lib)
        qsteps = np.arange(0, steps + 1, fixed_steps)
        fb = is_at(exs["bisect"].changes, qsteps)
        ff = np.array([to_b[k] for k in is_at(exs["fixed"].changes, qsteps)])
        agree += int((fb == ff).sum())
        agree_n += len(qsteps)
        pairs = {"bisect": bidirectional(exs["bisect"].changes), "fixed": bidirectional(exs["fixed"].changes, to_b)}
        print(f"  {gid}: same MD trajectory: {same}; IS of bisect / fixed / both {n_bisect_is} / "
              f"{len(exs['fixed'].lib)} / {len(set(to_b.values()) & set(range(n_bisect_is)))}; bidirectional "
              f"pairs bisect / fixed / both {len(pairs['bisect'])} / {len(pairs['fixed'])} / "
              f"{len(pairs['bisect'] & pairs['fixed'])}", flush=True)
        for ex in exs.values():
            ex.close()
        if args.neb:
            t = time.process_time()
            for p in PROTOCOLS:
                chosen = sorted(pairs[p])
                if args.neb_max > 0:
                    # the same first pairs for both protocols where they share them
                    shared = [q for q in chosen if q in pairs[PROTOCOLS[1 - PROTOCOLS.index(p)]]]
                    chosen = (shared + [q for q in chosen if q not in shared])[: args.neb_max]
                res = run_neb(model, glass, lib, chosen, presets, neb_settings, cache, gid)
                neb_pairs[p] += len(chosen)
                for rows, status in res.values():
                    neb_status[p][status] = neb_status[p].get(status, 0) + 1
                    for r in rows:
                        e = sorted((round(r["e_A"] / model.n, 7), round(r["e_B"] / model.n, 7)))
                        dws[p].setdefault((gid, *e), r)
            t_neb += time.process_time() - t
            print(f"  {gid}: NEB {len(cache)} pair(s) so far, {t_neb:.0f} CPU s; distinct DWs so far: "
                  + ", ".join(f"{p} {len(dws[p])}" for p in PROTOCOLS), flush=True)

    print(f"\nsame MD trajectory in both protocols (final MD positions bit-identical): {identical}")
    print(f"bisect's time series in fixed's IS at fixed's {agree_n} quench steps: {agree / max(agree_n, 1):.1%}")
    rows = [("N_IS", "n_IS"), ("transitions", "transitions"),
            ("distinct transition pairs", "distinct_transition_pairs"),
            ("bidirectional pairs", "bidirectional_pairs"), ("full quenches", "quenches"),
            ("shortened quenches", "shortened_quenches"), ("failed quenches", "failed_quenches"),
            ("force evaluations", "force_evaluations"),
            ("exploration CPU time (s)", "wall")]
    table = [(name, tot["fixed"][k], tot["bisect"][k]) for name, k in rows]
    if args.neb:
        for p in PROTOCOLS:
            tot[p]["N_DW"] = len(dws[p])
            for pr in presets:
                tot[p][f"N_TLS_{pr.name}"] = sum(bool(r[f"is_TLS_{pr.name}"]) for r in dws[p].values())
        table += [("NEB pairs run", neb_pairs["fixed"], neb_pairs["bisect"]),
                  ("N_DW (distinct elementary)", tot["fixed"]["N_DW"], tot["bisect"]["N_DW"])]
        table += [(f"N_TLS {pr.name}", tot["fixed"][f"N_TLS_{pr.name}"], tot["bisect"][f"N_TLS_{pr.name}"])
                  for pr in presets]
        ratio = lambda a, b: a / b if b else float("nan")  # noqa: E731
        table += [("N_DW/N_IS", ratio(tot["fixed"]["N_DW"], tot["fixed"]["n_IS"]),
                   ratio(tot["bisect"]["N_DW"], tot["bisect"]["n_IS"]))]
        table += [(f"N_TLS/N_DW {pr.name}", ratio(tot["fixed"][f"N_TLS_{pr.name}"], tot["fixed"]["N_DW"]),
                   ratio(tot["bisect"][f"N_TLS_{pr.name}"], tot["bisect"]["N_DW"])) for pr in presets]
    print(f"\n{'summed over ' + str(args.glasses) + ' glass(es)':34s} {'fixed':>12s} {'bisect':>12s} "
          f"{'bisect/fixed':>13s}")
    for name, a, b in table:
        fmt = (lambda v: f"{v:12.4g}") if isinstance(a, float) or isinstance(b, float) else (lambda v: f"{v:12d}")
        r = b / a if a else float("nan")
        print(f"{name:34s} {fmt(a)} {fmt(b)} {r:13.3g}")
    if args.neb:
        print("NEB outcome of the pairs run: " + "; ".join(
            f"{p}: " + ", ".join(f"{v} {k}" for k, v in sorted(neb_status[p].items())) for p in PROTOCOLS)
            + f"; {len(cache)} distinct pair(s), {t_neb:.0f} CPU s")
    print(f"total: {time.process_time() - c_start:.0f} CPU s, {time.perf_counter() - t_start:.0f} s wall")


if __name__ == "__main__":
    main()
