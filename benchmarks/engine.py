"""Engine and swap benchmark, KA2 N = 1200.

Prints, measured in this one run on this machine:
  * MD steps/s of our engine (KA2 with the smoothed cutoff, LAMMPS pair_style table,
    Nose-Hoover) against plain LAMMPS ``lj/cut`` (no smoothing) on the same system;
  * swap attempts/s of our local-energy swap step (numba, neighbour list rebuilt per
    block of 1.75 N attempts, positions copied from LAMMPS) against LAMMPS ``fix atom/swap``
    on the same state, and both acceptance rates.

Usage: python benchmarks/engine.py [--n 1200] [--tf 0.617]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tlsfinder.engine import Engine
from tlsfinder.models import KA2, KA2_EPS, KA2_SIGMA
from tlsfinder.swap import SwapMC


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--tf", type=float, default=0.617)
    ap.add_argument("--md-steps", type=int, default=2000)
    ap.add_argument("--lammps-attempts", type=int, default=1000)
    args = ap.parse_args()

    model = KA2(n=args.n, density=1.35)
    rng = np.random.default_rng(1)
    species = model.make_species(rng)
    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(2.0, 5)
        eng.run_nvt(1000, 2.0, 0.005)
        eng.run_nvt(2000, args.tf, 0.005)
        state = eng.save_state()

        # --- MD throughput: ours (smoothed KA2, table) ---------------------------------
        eng.set_thermostat("nose-hoover", args.tf, 0.5)
        eng.run(50, 0.005)
        t = time.perf_counter()
        eng.run(args.md_steps, 0.005)
        ours_md = args.md_steps / (time.perf_counter() - t)

        # --- MD throughput: plain lj/cut on the same state ----------------------------
        eng.restore_state(state)
        eng._cmd("pair_style lj/cut 2.5", "pair_modify shift no")
        for a in range(3):
            for b in range(a, 3):
                eng._cmd(f"pair_coeff {a + 1} {b + 1} {KA2_EPS[a, b]} {KA2_SIGMA[a, b]} {2.5 * KA2_SIGMA[a, b]}")
        eng.run(50, 0.005)
        t = time.perf_counter()
        eng.run(args.md_steps, 0.005)
        plain_md = args.md_steps / (time.perf_counter() - t)
        eng._cmd(*model.lammps_commands(eng._tmp.name))

        # --- swap attempts: LAMMPS fix atom/swap (A<->C then B<->C), no integrator ----
        eng.restore_state(state)
        eng._cmd("unfix nvt")
        eng.thermostat = None
        eng._cmd("run 1 post no")
        t = time.perf_counter()
        eng._cmd("run 1 post no")
        overhead = time.perf_counter() - t
        acc_lmp, t_lmp = [], 0.0
        for k, (t1, t2) in enumerate([(1, 3), (2, 3)]):
            eng._cmd(f"fix sw all atom/swap 1 {args.lammps_attempts} {7 + k} {args.tf} ke no types {t1} {t2}")
            t = time.perf_counter()
            eng._cmd("run 1 post no")
            t_lmp += time.perf_counter() - t - overhead
            acc_lmp.append(eng.lmp.numpy.extract_fix("sw", 0, 1, 1) / eng.lmp.numpy.extract_fix("sw", 0, 1, 0))
            eng._cmd("unfix sw")
        lmp_rate = 2 * args.lammps_attempts / t_lmp
        eng.restore_state(state)

        # --- swap attempts: ours, blocks of 1.75 N on the same state ------------------
        mc = SwapMC(model, args.tf, np.random.default_rng(3))
        n_block = int(1.75 * model.n)
        pos = eng.get_positions()
        mc.run(pos, model.box, species, 10)  # compile
        blocks = 20
        t = time.perf_counter()
        attempted = accepted = 0
        for _ in range(blocks):
            pos = eng.get_positions()  # include the copy from LAMMPS, as in production
            new, st = mc.run(pos, model.box, state.species, n_block)
            attempted, accepted = attempted + st.attempted, accepted + st.accepted
        ours_rate = blocks * n_block / (time.perf_counter() - t)

    print(f"KA2 N = {model.n}, T = {args.tf}")
    print(f"MD   ours (smoothed KA2, pair_style table):  {ours_md:10.0f} steps/s")
    print(f"MD   plain LAMMPS lj/cut (no smoothing):     {plain_md:10.0f} steps/s")
    print(f"MD   ratio ours / plain:                      {ours_md / plain_md:10.2f}")
    print(f"swap LAMMPS fix atom/swap:                   {lmp_rate:10.0f} attempts/s "
          f"({1e3 / lmp_rate:.3f} ms/attempt), acceptance A<->C {acc_lmp[0]:.4f}, B<->C {acc_lmp[1]:.4f}")
    print(f"swap ours (numba, local dE):                 {ours_rate:10.0f} attempts/s "
          f"({1e6 / ours_rate:.1f} us/attempt), acceptance A<->C {accepted[0] / attempted[0]:.4f}, "
          f"B<->C {accepted[1] / attempted[1]:.4f}")
    print(f"swap speed-up ours / LAMMPS:                 {ours_rate / lmp_rate:10.1f}x  (target >= 50x)")
    block_md = 10 / ours_md
    block_swap = n_block / ours_rate
    print(f"one block (10 MD steps + 1.75 N swaps): MD {1e3 * block_md:.2f} ms + swaps {1e3 * block_swap:.2f} ms "
          f"(with fix atom/swap the swaps would take {1e3 * n_block / lmp_rate:.0f} ms)")


if __name__ == "__main__":
    main()
