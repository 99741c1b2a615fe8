"""Cost per double well of the TLS-strain coupling and of the 1D check, KA2 glasses.

A KA2 liquid (LAMMPS, T = 1.0) is cooled (T = 0.5, 0.4) and explored at T = 0.25 with a quench every
25 MD steps; consecutive distinct inherent structures are the pairs.  For each pair: one NEB
(tlsfinder.neb.neb_pair, default settings but ``--images`` images and no refinement); for each pair
the NEB calls a double well: the coupling tensor (tlsfinder.coupling.strain_coupling, classical and
with Eq. 13's soft-mode term, 6 components x 2 amplitudes x 2 signs x 2 minima) and the Hessian
along the band (tlsfinder.modes.path_spectrum).  Prints wall times and their ratios to one energy +
force call of our model code and to the pair's NEB, the problems met, and gamma_l, gamma_t.
BLAS runs single-threaded (the dense eigensolvers are otherwise slowed by oversubscription).

Usage: python benchmarks/coupling.py [--n 300] [--pairs 4] [--images 32] [--seed 12]
"""

from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from tlsfinder import coupling as C  # noqa: E402
from tlsfinder import modes as M  # noqa: E402
from tlsfinder import neb as N  # noqa: E402
from tlsfinder import units  # noqa: E402
from tlsfinder.engine import Engine  # noqa: E402
from tlsfinder.models import KA2  # noqa: E402


def explore(n: int, n_minima: int, seed: int):
    """(model, species, minima): consecutive distinct inherent structures of one KA2 glass."""
    model = KA2(n=n, density=1.35)
    rng = np.random.default_rng(seed)
    species = model.make_species(rng)
    ff = N.BatchForceField(model, model.box, species)

    def quench(eng):
        state = eng.save_state()
        eng.minimize("cg", ftol=1e-8)
        x = eng.get_positions()
        eng.restore_state(state)
        return x

    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(1.0, seed + 1)
        eng.run_nvt(2000, 1.0, 0.005)
        eng.run_nvt(4000, 0.5, 0.005)
        eng.run_nvt(4000, 0.4, 0.005)
        lib = [N.minimize(ff, quench(eng)).positions]
        eng.thermalize(0.25, seed + 2)
        for _ in range(400):
            eng.run_nvt(25, 0.25, 0.005)
            x = quench(eng)
            if not N.same_minimum(x, lib[-1], model.box, 1e-3):
                lib.append(N.minimize(ff, x).positions)
            if len(lib) == n_minima:
                break
    return model, species, lib


def timed(fn, repeat: int = 1):
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t) / repeat, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    model, sp, lib = explore(args.n, args.pairs + 1, args.seed)
    box = model.box
    ar = units.get_preset("KA2", "Ar")
    t_f, _ = timed(lambda: model.energy_forces(lib[0], box, sp), repeat=50)
    print(f"KA2 N={args.n}: {len(lib)} minima, {len(lib) - 1} consecutive pairs; "
          f"force call {t_f * 1e3:.2f} ms (reference)")
    settings = N.NEBSettings(n_images=args.images, refine=False)
    rows = []
    for k in range(len(lib) - 1):
        t_neb, res = timed(lambda: N.neb_pair(model, box, sp, lib[k], lib[k + 1], settings, [ar]))
        dws = [r for r in res if r.status == "dw"]
        print(f"pair {k}-{k + 1}: NEB {t_neb:.2f} s ({t_neb / t_f:.0f} force calls), "
              f"{len(dws)} double well(s) of {[r.status for r in res]}")
        for r in dws:
            b = r.band
            tan_a = (b.images[1] - b.images[0]).ravel()
            tan_b = (b.images[-2] - b.images[-1]).ravel()
            t_c, cpl = timed(lambda: C.strain_coupling(model, box, sp, r.pos_a, r.pos_b, quantum=False))
            t_q, cq = timed(lambda: C.strain_coupling(model, box, sp, r.pos_a, r.pos_b, tangent_a=tan_a,
                                                      tangent_b=tan_b))
            t_p, ps = timed(lambda: M.path_spectrum(model, b.images, box, sp))
            gl, gt = C.orientational_averages(cpl.gamma())
            glq, gtq = C.orientational_averages(cq.gamma(ar)) if cq.quantum else (np.nan, np.nan)
            err = float(np.nanmax(cpl.dDelta_V_err) / np.nanmax(np.abs(cpl.dDelta_V)))
            exact = float(np.nanmax(np.abs(cpl.dDelta_V - cpl.dDelta_V_stress)) / np.nanmax(np.abs(cpl.dDelta_V)))
            print(f"  DW {r.pair_id}: Delta_V {abs(r.row['Delta_V']):.4f}, E_Ar {r.row['E_Ar']:.4f}, PR {r.row['PR']:.1f}")
            for name, t in (("coupling, classical", t_c), ("coupling, + Eq. 13 term", t_q),
                            ("Hessian along the band", t_p)):
                print(f"    {name:26s} {t:7.2f} s  {t / t_f:9.0f} force calls  {t / t_neb:6.2f} NEBs")
            print(f"    gamma_l {gl:.3f}  gamma_t {gt:.3f} (classical);  with Eq. 13 (Ar) {glq:.3f}  {gtq:.3f}  eps; "
                  f"rel. step error {err:.1e}, vs exact stress route {exact:.1e}")
            print(f"    identity kept in {int(cq.identity_ok.sum())}/6 components, problems: {len(cq.problems)}"
                  + (f" ({cq.problems[0][:90]}...)" if cq.problems else ""))
            print(f"    1D check: saddle image {ps.saddle_index}, negative modes there {ps.n_negative[ps.saddle_index]}, "
                  f"transverse negative on {int(ps.transverse_negative.sum())}, softer than the path on "
                  f"{int(ps.transverse_softer.sum())} of {len(ps.s)} images; doubtful {ps.doubtful}")
            rows.append((t_c / t_f, t_q / t_f, t_p / t_f, t_c / t_neb, t_q / t_neb, t_p / t_neb))
    if rows:
        a = np.array(rows)
        print(f"mean over {len(a)} DWs: coupling classical {a[:, 0].mean():.0f} force calls = {a[:, 3].mean():.2f} NEBs; "
              f"with Eq. 13 {a[:, 1].mean():.0f} = {a[:, 4].mean():.2f} NEBs; path spectrum {a[:, 2].mean():.0f} "
              f"= {a[:, 5].mean():.2f} NEBs")


if __name__ == "__main__":
    main()
