"""Engine and swap benchmark, KA2 N = 1200 and PSS N = 1500.

Prints, measured in this one run on this machine:
  * MD steps/s of our engine (KA2 with the smoothed cutoff, LAMMPS pair_style table,
    Nose-Hoover) against plain LAMMPS ``lj/cut`` (no smoothing) on the same system;
  * PSS MD throughput (particle-steps/s) at the exploration's settings (T = 0.04, dt = 0.005,
    Berendsen, the schema's PSS defaults) for the exact LAMMPS options: lepton/sphere with the
    previous expression and with the model's (q = s_ij / r), on one atom type or with diameter
    bins as atom types (per-bin-pair cutoffs, fewer Lepton evaluations), the OPENMP variant on
    1 and 2 threads, and the Engine as shipped; each with its energy and force error against our
    own model code, next to KA2's particle-steps/s (same rounds) and the load average;
  * swap attempts/s of our local-energy swap step (numba, neighbour list rebuilt per
    block of 1.75 N attempts, positions copied from LAMMPS) against LAMMPS ``fix atom/swap``
    on the same state, and both acceptance rates.

Usage: python benchmarks/engine.py [--n 1200] [--tf 0.617] [--pss-steps 1000] [--pss-threads 2]
"""

from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np

from tlsfinder._lammps import new_lammps
from tlsfinder.engine import Engine
from tlsfinder.explore import ExploreSettings
from tlsfinder.models import KA2, KA2_EPS, KA2_SIGMA, MODEL_DEFAULTS, PSS
from tlsfinder.swap import SwapMC


def _pss_previous_commands(model: PSS, species) -> list[str]:
    """The PSS pair commands before the q = s_ij / r form: u in s_ij / r and r / s_ij, cut on r."""
    s = f"((radi+radj)*(1.0-{2.0 * model.nonadditivity!r}*abs(radi-radj)))"
    return [f"pair_style lepton/sphere {model.max_cutoff(species):.12g}",
            f'pair_coeff * * "step({model.x_c!r}*{s}-r)*{model.form.lepton(s)}"', "pair_modify shift no"]


def _pss_expression(model: PSS, species) -> str:
    """The quoted Lepton expression of the model's own PSS pair commands."""
    return re.search(r'"[^"]*"', model.lammps_commands(".", species)[1]).group(0)


def _pss_one_type_commands(model: PSS, species) -> list[str]:
    """The model's expression for every pair of particles, one atom type and the global cutoff."""
    return [f"pair_style lepton/sphere {model.max_cutoff(species):.12g}",
            f"pair_coeff * * {_pss_expression(model, species)}", "pair_modify shift no"]


def _pss_binned_commands(model: PSS, species, bins: int) -> tuple[np.ndarray, list[str]]:
    """Atom types = diameter bins (equal counts); each bin pair gets the cutoff of its largest s_ij.

    Exact: the expression (still cut at x_c s_ij) is the model's; the per-type cutoffs only
    drop pairs beyond every cutoff of the two bins.  s_ij grows with both diameters (for
    s < 1 / (2 * nonadditivity)), so a bin pair's largest s_ij is at its two upper edges.
    """
    edges = np.quantile(species, np.linspace(0.0, 1.0, bins + 1))
    edges[-1] = species.max()
    types = np.clip(np.searchsorted(edges, species, side="left"), 1, bins)  # type k holds (edges[k-1], edges[k]]
    expr = _pss_expression(model, species)
    cmds = [f"pair_style lepton/sphere {model.max_cutoff(species):.12g}"]
    for a in range(bins):
        for b in range(a, bins):
            cut = float(model.x_c * model.sigma_ij(edges[a + 1], edges[b + 1])) * (1 + 1e-12)
            cmds.append(f"pair_coeff {a + 1} {b + 1} {expr} {cut!r}")
    return types, cmds + ["pair_modify shift no"]


def _pss_lammps(model: PSS, pos, vel, species, s: ExploreSettings, pair_cmds, *, threads=0, types=None):
    """A LAMMPS instance set up as Engine does for PSS, with the exploration's Berendsen NVT."""
    lmp = new_lammps()
    types = np.ones(model.n, dtype=int) if types is None else types
    lines = ["units lj", "atom_modify map array sort 0 0.0", "boundary p p p", "atom_style sphere"]
    lines += [f"package omp {threads}"] if threads else []
    L = model.box_length
    lines += [f"region box block 0 {L!r} 0 {L!r} 0 {L!r}", f"create_box {int(types.max())} box"]
    for line in lines:
        lmp.command(line)
    img = np.floor(pos / L).astype(np.int64)
    lmp.create_atoms(model.n, list(range(1, model.n + 1)), [int(t) for t in types], (pos - img * L).ravel().tolist())
    lmp.numpy.extract_atom("radius")[: model.n] = 0.5 * species
    lmp.numpy.extract_atom("image")[: model.n] = (((img[:, 2] + 512) << 20) | ((img[:, 1] + 512) << 10)
                                                  | (img[:, 0] + 512)).astype(np.int32)
    lmp.numpy.extract_atom("v")[: model.n] = vel
    if threads:
        pair_cmds = [pair_cmds[0].replace("lepton/sphere", "lepton/sphere/omp")] + pair_cmds[1:]
    for line in ["set group all mass 1.0", *pair_cmds, "neighbor 0.3 bin", "neigh_modify every 1 delay 0 check yes",
                 "compute pe all pe", "fix nve all nve",
                 f"fix ber all temp/berendsen {s.temperature!r} {s.temperature!r} {s.thermostat_damping!r}",
                 f"timestep {s.dt!r}", "thermo_style custom step pe", "run 0 post no"]:
        lmp.command(line)
    return lmp


def pss_md_table(steps: int, threads: int, ka2_rate) -> None:
    """PSS N = 1500 MD throughput of the exact LAMMPS options, measured back to back (two rounds).

    ``ka2_rate()`` times our KA2 engine (particle-steps/s); it runs in each round, next to the PSS options.
    """
    s = ExploreSettings.for_model("PSS")
    model = PSS(**MODEL_DEFAULTS["PSS"])
    rng = np.random.default_rng(2)
    species = model.make_species(rng)
    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(0.3, 5)  # liquid (T_MCT = 0.104), then a fast quench to the exploration's T
        eng.run_nvt(2000, 0.3, s.dt)
        eng.run_nvt(2000, s.temperature, s.dt)
        eng.thermalize(s.temperature, 6)
        pos, vel = eng.get_positions(), eng.get_velocities()
    e_own, f_own = model.energy_forces(pos, model.box, species)
    types, binned = _pss_binned_commands(model, species, 8)
    one_type = _pss_one_type_commands(model, species)
    options = {
        "previous: u(r/s_ij), cut on r, 1 type": dict(pair_cmds=_pss_previous_commands(model, species)),
        "q = s_ij/r form, 1 type": dict(pair_cmds=one_type),
        "q form, /omp, 1 thread": dict(pair_cmds=one_type, threads=1),
        f"q form, /omp, {threads} threads": dict(pair_cmds=one_type, threads=threads),
        "q form, 8 diameter bins as types": dict(pair_cmds=binned, types=types),
        f"q form, 8 bins, /omp, {threads} threads": dict(pair_cmds=binned, types=types, threads=threads),
        "Engine as shipped (tlsfinder.engine)": None,
    }
    rates: dict[str, list[float]] = {k: [] for k in options}
    errors = {}
    ka2 = []
    load0 = os.getloadavg()
    for _ in range(2):
        ka2.append(ka2_rate())
        for name, opt in options.items():
            if opt is None:  # the production path: Engine with the exploration's thermostat
                eng = Engine(model, pos, model.box, species)
                eng.set_velocities(vel)
                eng.set_thermostat("berendsen", s.temperature, s.thermostat_damping)
                eng._cmd(f"timestep {s.dt!r}")
                lmp = eng.lmp
            else:
                eng, lmp = None, _pss_lammps(model, pos, vel, species, s, **opt)
            if name not in errors:
                e = float(lmp.numpy.extract_compute("pe", 0, 0))
                f = np.array(lmp.numpy.extract_atom("f")[: model.n])  # atoms in id order: no sorting, one rank
                errors[name] = (abs(e - e_own) / abs(e_own), np.abs(f - f_own).max() / np.abs(f_own).max())
            lmp.command("run 100 post no")
            t = time.perf_counter()
            lmp.command(f"run {steps} post no")
            rates[name].append(model.n * steps / (time.perf_counter() - t))
            eng.close() if eng is not None else lmp.close()
    load1 = os.getloadavg()
    base = np.mean(rates["previous: u(r/s_ij), cut on r, 1 type"])
    ka2_particle_steps = float(np.mean(ka2))
    print(f"\nPSS N = {model.n}, density {model.density}, T = {s.temperature}, dt = {s.dt}, Berendsen tau = "
          f"{s.thermostat_damping}; {steps} steps per timing, two rounds back to back; "
          f"load average {load0[0]:.2f} before, {load1[0]:.2f} after")
    print(f"{'option':40s} {'particle-steps/s':>17s} {'(min..max)':>19s} {'/previous':>9s} {'/KA2':>6s}"
          f" {'E rel err':>9s} {'F rel err':>9s}")
    for name, r in rates.items():
        m = float(np.mean(r))
        print(f"{name:40s} {m:17.3g} ({min(r):8.3g}..{max(r):8.3g}) {m / base:9.2f} {m / ka2_particle_steps:6.2f}"
              f" {errors[name][0]:9.1e} {errors[name][1]:9.1e}")
    print(f"{'KA2 N = 1200 ours (table, Nose-Hoover)':40s} {ka2_particle_steps:17.3g} ({min(ka2):8.3g}..{max(ka2):8.3g})"
          f" {ka2_particle_steps / base:9.2f} {1.0:6.2f}")
    print(f"threaded rows: {threads} OpenMP threads share the machine with everything else; with a busy second core\n"
          "they fall far below one thread (see min..max), so compare their max against the one-thread rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--tf", type=float, default=0.617)
    ap.add_argument("--md-steps", type=int, default=2000)
    ap.add_argument("--lammps-attempts", type=int, default=1000)
    ap.add_argument("--pss-steps", type=int, default=1000)
    ap.add_argument("--pss-threads", type=int, default=2, help="OpenMP threads of the threaded PSS rows")
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

    def ka2_rate() -> float:
        with Engine(model, state.positions, model.box, state.species) as e:
            e.set_velocities(state.velocities)
            e.set_thermostat("nose-hoover", args.tf, 0.5)
            e.run(50, 0.005)
            t = time.perf_counter()
            e.run(args.md_steps, 0.005)
            return model.n * args.md_steps / (time.perf_counter() - t)

    pss_md_table(args.pss_steps, args.pss_threads, ka2_rate)


if __name__ == "__main__":
    main()
