"""Cost per inherent structure of the normal modes and of the elastic moduli, KA2 glasses.

For each size (default N = 300 and 1200) and glass: a liquid equilibrated by MD at T = 1.0
(LAMMPS), quenched by our own minimiser (tlsfinder.elastic.relax) to max |F| <= 1e-10; then
timed: one energy + force call of our model code (the reference), the sparse Hessian, the dense
modes (all 3N - 3, with PR), the lowest 30 modes by shift-invert, the Hessian-route moduli and the
AQS moduli (2 x 4 re-minimised strains).  Prints wall times and their ratios to the force call
measured in the same run, and G, K both ways with c_t, c_l, omega_t, omega_D.

Usage: python benchmarks/modes.py [--sizes 300 1200] [--glasses 1] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tlsfinder import elastic as el
from tlsfinder import modes as M
from tlsfinder.engine import Engine
from tlsfinder.models import KA2


def glass(n: int, seed: int):
    model = KA2(n=n, density=1.35)
    rng = np.random.default_rng(seed)
    species = model.make_species(rng)
    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(1.0, seed + 1)
        eng.run_nvt(2000, 1.0, 0.005)
        pos = eng.get_positions()
    x, _, fmax = el.relax(el.Deformed(model, model.box), pos, species, ftol=1e-10)
    return model, x, species, fmax


def timed(fn, repeat: int = 1):
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t) / repeat, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 1200])
    ap.add_argument("--glasses", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    for n in args.sizes:
        for g in range(args.glasses):
            model, x, sp, fmax = glass(n, args.seed + 100 * g)
            box = model.box
            t_f, _ = timed(lambda: model.energy_forces(x, box, sp), repeat=20)
            t_h, _ = timed(lambda: model.hessian(x, box, sp), repeat=3)
            t_d, modes = timed(lambda: M.normal_modes(model, x, box, sp))
            t_s, _ = timed(lambda: M.normal_modes(model, x, box, sp, k=30, dense_max=0))
            t_hm, hm = timed(lambda: el.hessian_moduli(model, x, box, sp))
            t_a, aqs = timed(lambda: el.aqs_moduli(model, x, box, sp))
            ac = el.acoustic_summary(hm.G, hm.K, n, box)
            n_qlm = int(M.quasi_localised(modes, ac["omega_t"]).sum())
            print(f"KA2 N={n} glass {g} (T=1.0 liquid quenched, max|F|={fmax:.1e})")
            for name, t in (("force call (reference)", t_f), ("Hessian (sparse)", t_h),
                            ("modes dense, all 3N-3", t_d), ("modes shift-invert, k=30", t_s),
                            ("moduli, Hessian route", t_hm), ("moduli, AQS", t_a)):
                print(f"  {name:28s} {t * 1e3:10.1f} ms   {t / t_f:10.1f} x force call")
            print(f"  G: AQS {aqs.G:.5f}  Hessian {hm.G:.5f}  (rel. diff {aqs.G / hm.G - 1:.1e}; Born {hm.G_born:.3f})")
            print(f"  K: AQS {aqs.K:.5f}  Hessian {hm.K:.5f}  (rel. diff {aqs.K / hm.K - 1:.1e}); p = {hm.pressure:.4f}")
            print(f"  c_t {ac['c_t']:.4f}  c_l {ac['c_l']:.4f}  omega_t {ac['omega_t']:.4f}  omega_D {ac['omega_D']:.4f}"
                  f"  lowest omega {modes.frequencies[0]:.4f}  QLMs (PR<0.1, omega<omega_t) {n_qlm}")


if __name__ == "__main__":
    main()
