"""Benchmark: our climbing-image NEB against LAMMPS's own multi-partition ``neb``.

Run: ``python benchmarks/neb.py [--n 1200] [--images 64] [--cores 1] [--fmax 1e-3]``.

One KA2 pair of minima (N = 1200, density 1.35 by default): a glass is cooled
by MD, quenched, and explored at T = 0.25 with a quench every 25 steps until
the dynamics finds a neighbouring minimum whose NEB is a single double well
(cached in $TLSFINDER_BENCH_CACHE, default tlsfinder-bench in the temporary
folder).  Both codes start from the same minimised, minimum-image-aligned
endpoints, with the same number of images,
spring (0.125), FIRE and climbing image, and stop at the same tolerance: the
largest per-atom norm of the NEB force on any replica (ASE ``fmax``; LAMMPS
``min_modify norm max`` with ``ftol``).  Both run on the same cores
(``taskset``): ours is one process; LAMMPS runs ``mpirun -np <images> lmp
-partition <images>x1`` (one replica per partition, as its ``neb`` requires).

Printed: wall time, FIRE iterations, force evaluations (one per moving image
and iteration for ours; one per replica and iteration for LAMMPS, whose end
replicas also evaluate), barrier found, and the ratios LAMMPS / ours.  Also:
LAMMPS's own cost of one force evaluation of this system (serial MD step),
which gives the core-seconds LAMMPS's NEB would need with one core per
replica (iterations x replicas x that cost) -- the compute, without the
oversubscription penalty; and splitting solves per second on the converged path.
``--lammps-max-steps`` caps LAMMPS's iterations per stage (a capped run gives
the time per iteration and a lower bound).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from tlsfinder import neb as N  # noqa: E402
from tlsfinder import units  # noqa: E402
from tlsfinder._lammps import bin_dir, subprocess_env  # noqa: E402
from tlsfinder.engine import Engine  # noqa: E402
from tlsfinder.models import KA2  # noqa: E402
from tlsfinder.splitting import MEP, analyse_mep, make_profile, solve_profile  # noqa: E402

CACHE = Path(os.environ.get("TLSFINDER_BENCH_CACHE", Path(tempfile.gettempdir()) / "tlsfinder-bench"))


def _quench(eng):
    state = eng.save_state()
    eng.minimize("cg", ftol=1e-8)
    x = eng.get_positions()
    eng.restore_state(state)
    return x


def make_pair(n: int, seed: int, settings: N.NEBSettings):
    """Two neighbouring minima of a KA2 glass whose NEB is one double well (cached)."""
    cache = CACHE / f"neb_pair_N{n}_s{seed}.npz"
    model = KA2(n=n, density=1.35)
    if cache.exists():
        z = np.load(cache)
        return model, z["species"], z["a"], z["b"]
    rng = np.random.default_rng(seed)
    species = model.make_species(rng)
    ff = N.BatchForceField(model, model.box, species)
    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(1.0, seed + 1)
        eng.run_nvt(2000, 1.0, 0.005)
        eng.run_nvt(4000, 0.5, 0.005)
        eng.run_nvt(4000, 0.4, 0.005)
        a = N.minimize(ff, _quench(eng)).positions
        eng.thermalize(0.25, seed + 2)
        for q in range(400):
            eng.run_nvt(25, 0.25, 0.005)
            x = _quench(eng)
            if N.same_minimum(x, a, model.box, 1e-3):
                continue
            b = N.minimize(ff, x).positions
            res = N.neb_pair(model, model.box, species, a, b, settings)
            print(f"  candidate after {q + 1} quenches: {res[0].status}", flush=True)
            if res[0].status == "dw":
                CACHE.mkdir(parents=True, exist_ok=True)
                np.savez(cache, species=species, a=a, b=b)
                return model, species, a, b
            a = b  # continue exploring from the new minimum
    raise SystemExit("no elementary double well found")


# ---------------------------------------------------------------------------
# LAMMPS
# ---------------------------------------------------------------------------


def lammps_neb(model, species, a, b, n_images, spring, fmax, dt, cores, max_steps, workdir: Path):
    box = model.box
    aw = np.mod(a, box)
    bw = aw + (b - a)  # same displacement as our aligned endpoint
    workdir.mkdir(parents=True, exist_ok=True)
    lines = ["tlsfinder benchmark endpoint A", "", f"{model.n} atoms", "3 atom types", ""]
    lines += [f"0 {float(box[k]):.17g} {'xyz'[k]}lo {'xyz'[k]}hi" for k in range(3)]
    lines += ["", "Masses", ""] + [f"{t} 1.0" for t in (1, 2, 3)] + ["", "Atoms # atomic", ""]
    lines += [f"{i + 1} {int(species[i]) + 1} {aw[i, 0]:.17g} {aw[i, 1]:.17g} {aw[i, 2]:.17g}" for i in range(model.n)]
    (workdir / "a.data").write_text("\n".join(lines) + "\n")
    fin = [str(model.n)] + [f"{i + 1} {bw[i, 0]:.17g} {bw[i, 1]:.17g} {bw[i, 2]:.17g}" for i in range(model.n)]
    (workdir / "b.final").write_text("\n".join(fin) + "\n")
    nevery = 10
    n1 = n2 = max_steps // nevery * nevery
    script = [
        "units lj", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p",
        "read_data a.data",
        *model.lammps_commands(workdir, species),
        "mass * 1.0",
        "neighbor 0.3 bin", "neigh_modify every 1 delay 0 check yes",
        f"timestep {dt}",
        "min_style fire", "min_modify norm max",
        f"fix nebfix all neb {spring}",
        "thermo 100", "thermo_modify norm no",
        f"neb 0.0 {fmax} {n1} {n2} {nevery} final b.final",
    ]
    (workdir / "in.neb").write_text("\n".join(script) + "\n")
    cpu = ",".join(str(c) for c in range(cores))
    cmd = ["taskset", "-c", cpu, str(bin_dir() / "mpirun"), "-np", str(n_images), str(bin_dir() / "lmp"),
           "-partition", f"{n_images}x1", "-in", "in.neb", "-nocite"]
    t0 = time.perf_counter()
    env = subprocess_env()
    # Oversubscribed ranks (more replicas than cores) must yield the core while they wait in MPI;
    # MPICH busy-polls by default, which would make LAMMPS look far slower than it is.
    env.setdefault("MPIR_CVAR_POLLS_BEFORE_YIELD", "1")
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"LAMMPS neb failed (exit {proc.returncode})")
    log = (workdir / "log.lammps").read_text()
    rows, stage1 = [], None
    for ln in log.splitlines():
        if ln.startswith("Climbing replica") and rows:
            stage1 = int(rows[-1][0])  # the step counter continues into the climbing stage
        elif re.match(r"^\s*\d+\s+[-+0-9.eE]+\s+[-+0-9.eE]+", ln):
            rows.append(ln.split())
    last_step = int(rows[-1][0])
    stage = [last_step] if stage1 is None else [stage1, last_step - stage1]
    last = rows[-1]
    # columns: Step MaxReplicaForce MaxAtomForce GradV0 GradV1 GradVc EBF EBR RDT RD1 PE1 RD2 PE2 ...
    # (with min_modify norm max, MaxAtomForce is the squared largest per-atom force norm)
    pe = np.array([float(x) for x in last[10::2]])
    iters = last_step
    converged = len(stage) == 2 and stage[1] < n2 and float(last[2]) < fmax**2
    return {"wall": wall, "iterations": iters, "force_calls": iters * n_images, "stages": stage,
            "barrier": float(last[6]), "converged": converged, "energies": pe}


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--cores", type=int, default=1, help="cores for both codes (taskset)")
    ap.add_argument("--fmax", type=float, default=1e-3)
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--lammps-dt", type=float, default=0.01, help="LAMMPS timestep for its FIRE")
    ap.add_argument("--lammps-max-steps", type=int, help="cap LAMMPS iterations per stage (default: --max-steps)")
    ap.add_argument("--skip-lammps", action="store_true")
    args = ap.parse_args()
    cpu = ",".join(str(c) for c in range(args.cores))
    os.sched_setaffinity(0, {int(c) for c in cpu.split(",")})
    settings = N.NEBSettings(n_images=args.images, fmax=args.fmax, max_steps=args.max_steps)
    print(f"KA2 N={args.n}, {args.images} images, spring {settings.spring}, fmax {args.fmax}, cores {cpu}")
    model, species, a, b = make_pair(args.n, args.seed, N.NEBSettings(n_images=24, fmax=args.fmax))
    ff = N.BatchForceField(model, model.box, species)
    ma, mb = N.minimize(ff, a), N.minimize(ff, b)
    b_al, _ = N.align(ma.positions, mb.positions, model.box)
    t0 = time.perf_counter()
    band = N.run_neb(ff, ma.positions, b_al, settings)
    ours = time.perf_counter() - t0
    print(f"ours:   {ours:8.1f} s  {band.steps:6d} FIRE steps  {band.force_calls:8d} force calls  "
          f"converged {band.converged}  barrier {band.energies.max() - band.energies[0]:.6f}  "
          f"({1e3 * ours / max(band.force_calls, 1):.3f} ms per force call)")
    prof = MEP(band.s, band.energies)
    row = analyse_mep(prof, [units.get_preset("KA2", "NiP")])
    print(f"        V_a {row['V_a']:.5f}  Delta_V {row['Delta_V']:.5f}  d_path {row['d_path']:.4f}  "
          f"E(NiP) {row['E_NiP']:.3e}")
    p = make_profile(prof)
    t0 = time.perf_counter()
    for _ in range(20):
        solve_profile(p, 5250.0)
    print(f"splitting solves per second on this path (NiP, N_xi = 2000): {20 / (time.perf_counter() - t0):.0f}")
    if args.skip_lammps:
        return
    # LAMMPS's cost of one force evaluation of this system, serial: MD steps (1 force call each).
    with Engine(model, ma.positions, model.box, species) as eng:
        eng.run_nvt(50, 0.01, 0.001)
        t0 = time.perf_counter()
        eng.run_nvt(500, 0.01, 0.001)
        t_force = (time.perf_counter() - t0) / 500
    print(f"LAMMPS serial force call (MD step) for N={args.n}: {1e3 * t_force:.3f} ms")
    work = Path(tempfile.mkdtemp(prefix="tlsfinder-lmpneb-"))
    cap = args.lammps_max_steps or args.max_steps
    try:
        lm = lammps_neb(model, species, ma.positions, b_al, args.images, settings.spring, args.fmax,
                        args.lammps_dt, args.cores, cap, work)
    finally:
        if os.environ.get("KEEP_LAMMPS_DIR"):
            print("LAMMPS files kept in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    conv = lm["converged"]
    per_it = lm["wall"] / max(lm["iterations"], 1)
    print(f"LAMMPS: {lm['wall']:8.1f} s  {lm['iterations']:6d} FIRE steps  {lm['force_calls']:8d} force calls  "
          f"converged {conv}  barrier {lm['barrier']:.6f}  (stages {lm['stages']}; {per_it:.2f} s per iteration)")
    ideal = lm["force_calls"] * t_force
    print(f"LAMMPS compute with one core per replica: {ideal:.1f} core-s for its {lm['force_calls']} force calls "
          f"(ours: {ours:.1f} core-s)")
    bound = "" if conv else " (LAMMPS capped before converging: lower bounds)"
    print(f"ratio LAMMPS / ours on the same {args.cores} core(s): wall time {lm['wall'] / ours:.1f}x, force calls "
          f"{lm['force_calls'] / max(band.force_calls, 1):.2f}x, core-seconds at one core per replica "
          f"{ideal / ours:.2f}x{bound}")
    if conv:
        print(f"barrier difference {abs(lm['barrier'] - (band.energies.max() - band.energies[0])):.2e} eps")


if __name__ == "__main__":
    main()
