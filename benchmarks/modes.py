"""Cost per inherent structure of the normal modes and of the elastic moduli, KA2 glasses.

For each size (default N = 300 and 1200) and glass: a liquid equilibrated by MD at T = 1.0
(LAMMPS), quenched by our own minimiser (tlsfinder.elastic.relax) to max |F| <= 1e-10; then
timed: one energy + force call of our model code (the reference), the sparse Hessian, the dense
modes (all 3N - 3, with PR), the lowest 30 modes by shift-invert, the Hessian-route moduli and the
AQS moduli (2 x 4 re-minimised strains).  Prints wall times and their ratios to the force call
measured in the same run, and G, K both ways with c_t, c_l, omega_t, omega_D.

Then the nonlinear modes of double wells (tlsfinder.modes.double_well_nonlinear_modes, Khomenko,
Reichman, Zamponi, Phys. Rev. Materials 5, 055602 (2021), Sec. IV.D): a KA2 glass explored as in
benchmarks/coupling.py (consecutive distinct inherent structures, each pair through
tlsfinder.neb.neb_pair, ``--dw-images`` images, no refinement); every double well the NEB finds is
analysed from each of its minima as A.  Prints per double well the best linear c and a with r_AB,
the nonlinear mode from r_AB and the one from the softest QLM (c, a, iterations), the cost of the
two nonlinear searches in force calls, and the means over all (linear vs nonlinear).

Usage: python benchmarks/modes.py [--sizes 300 1200] [--glasses 1] [--seed 1]
                                  [--dw-n 300] [--dw-pairs 6] [--dw-images 32] [--dw-seed 12] [--dw-only]
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
    ap.add_argument("--dw-n", type=int, default=300)
    ap.add_argument("--dw-pairs", type=int, default=6, help="consecutive pairs of minima given to the NEB")
    ap.add_argument("--dw-images", type=int, default=32)
    ap.add_argument("--dw-seed", type=int, default=12)
    ap.add_argument("--dw-only", action="store_true", help="only the double-well nonlinear modes")
    args = ap.parse_args(argv)
    for n in ([] if args.dw_only else args.sizes):
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

    if args.dw_pairs > 0:
        double_well_modes(args.dw_n, args.dw_pairs, args.dw_images, args.dw_seed)


def double_well_modes(n: int, n_pairs: int, images: int, seed: int):
    """Linear against nonlinear modes of the double wells of one explored KA2 glass (module docstring)."""
    from coupling import explore  # the exploration of benchmarks/coupling.py, one definition

    from tlsfinder import neb as N

    model, sp, lib = explore(n, n_pairs + 1, seed)
    box = model.box
    t_f, _ = timed(lambda: model.energy_forces(lib[0], box, sp), repeat=50)
    settings = N.NEBSettings(n_images=images, refine=False)
    rows, seen = [], []
    print(f"KA2 N={n}: {len(lib)} minima explored (T = 0.25), force call {t_f * 1e3:.2f} ms")

    def known(r):  # the same double well reached from two pairs of consecutive minima (either orientation)
        same = lambda x, y: N.same_minimum(x, y, box, 1e-3)  # noqa: E731
        return any((same(r.pos_a, a) and same(r.pos_b, b)) or (same(r.pos_a, b) and same(r.pos_b, a)) for a, b in seen)

    for k in range(len(lib) - 1):
        for r in [r for r in N.neb_pair(model, box, sp, lib[k], lib[k + 1], settings) if r.status == "dw"]:
            if known(r):
                continue
            seen.append((r.pos_a, r.pos_b))
            for side, (xa, xb) in (("A", (r.pos_a, r.pos_b)), ("B", (r.pos_b, r.pos_a))):
                t_an, an = timed(lambda: M.analyse(model, xa, box, sp))
                t_nl, res = timed(lambda: M.double_well_nonlinear_modes(model, xa, xb, box, sp, analysis=an))
                lin, a, b = res.linear, res.from_rab, res.from_qlm
                print(f"  DW {k}-{k + 1} {r.pair_id} from {side}: |r_AB| {res.rab_norm:.3f} PR {res.rab_pr:.1f} | linear c {lin.c:.3f}"
                      f" a {lin.a:.3f} | NL(r_AB) c {res.c_rab:.3f} a {res.a_rab:.3f} ({a.iterations} it., "
                      f"{'ok' if a.converged else 'NOT converged'}{'' if a.mixing == 1 else f', mixing {a.mixing:g}'}) | softest QLM {res.qlm_mode}"
                      f"{'' if res.start_is_qlm else ' (no QLM: softest mode)'} c {res.c_qlm_start:.3f} -> NL c "
                      f"{res.c_qlm:.3f} a {res.a_qlm:.3f} ({b.iterations} it.{'' if b.mixing == 1 else f', mixing {b.mixing:g}'}"
                      f"{'' if b.converged else ', NOT converged'}) | {t_nl:.2f} s = {t_nl / t_f:.0f} force "
                      f"calls (modes + moduli {t_an:.2f} s)")
                rows.append((lin.c, lin.a, res.c_rab, res.a_rab, res.c_qlm_start, res.c_qlm, res.a_qlm, t_nl / t_f, t_nl,
                             a.converged and b.converged))
    if not rows:
        print("no double well found: raise --dw-pairs")
        return
    a = np.array(rows, dtype=float)
    print(f"nonlinear modes over {len(a)} (DW, side) of {len(a) // 2} DWs (N={n}): cost per DW side {a[:, 8].mean():.2f} s "
          f"= {a[:, 7].mean():.0f} force calls (two searches, modes given); all converged: {bool(a[:, 9].all())}")
    print(f"  mean c: linear {np.nanmean(a[:, 0]):.3f}  NL from r_AB {np.nanmean(a[:, 2]):.3f}  |  softest QLM "
          f"{np.nanmean(a[:, 4]):.3f}  NL from it {np.nanmean(a[:, 5]):.3f}")
    print(f"  mean a: linear {np.nanmean(a[:, 1]):.3f}  NL from r_AB {np.nanmean(a[:, 3]):.3f}  |  NL from QLM "
          f"{np.nanmean(a[:, 6]):.3f};  NL(r_AB) beats the best linear mode in c for "
          f"{int(np.sum(a[:, 2] >= a[:, 0]))}/{len(a)}, in a for {int(np.sum(a[:, 3] >= a[:, 1]))}/{len(a)}")


if __name__ == "__main__":
    main()
