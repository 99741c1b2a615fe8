"""Benchmark: our climbing-image NEB against LAMMPS's own multi-partition ``neb``, both converged.

Run: ``python benchmarks/neb.py [--n 1200] [--images 12] [--fmax 1e-3] [--cores 0,1]``
(about 5 min on two shared cores, most of it LAMMPS's ranks waiting for each other).

One KA2 pair of minima (N = 1200, density 1.35 by default): a glass is cooled
by MD, quenched, and explored at T = 0.25 with a quench every 25 steps until
the dynamics finds a neighbouring minimum whose NEB is a single double well
(cached in $TLSFINDER_BENCH_CACHE, default tlsfinder-bench in the temporary
folder).  Both codes start from the same minimised, minimum-image-aligned
endpoints and linear interpolation, with the same number of images (LAMMPS's
``neb`` needs one MPI partition per image, so the count is kept small), the
same spring (improved tangent, parallel spring k (|R+ - R| - |R - R-|):
ASE ``improvedtangent`` and LAMMPS ``fix neb K parallel neigh``), a climbing
image, and both run until the same tolerance is met: the largest per-atom norm
of the NEB force on any moving image, ``fmax`` (ASE's criterion; LAMMPS
``min_modify norm max`` with ``ftol``).  LAMMPS's FIRE gets our FIRE's
parameters where the two have one (initial and largest step, growth, shrink,
alpha, its decay, delay, largest move).

Why not wall time alone: LAMMPS's ``neb`` runs one MPI rank per image; with
more ranks than cores the ranks spin in MPI while they wait, so its wall time
measures the oversubscription, not the NEB.  The fair figure is the compute:
force calls to convergence times the serial cost of one force call of each
engine, measured separately on one process (ours: :class:`BatchForceField` on
one configuration; LAMMPS: a FIRE ``minimize`` loop of the same input on one
process, CPU time per force evaluation, energies included as its NEB needs
them at every iteration; an MD step, forces only, is printed for reference).
Each is the best of three interleaved measurements (the machine may be shared).
Force calls: ours counts the moving images evaluated per FIRE step (the end
images are evaluated once); LAMMPS's own count of force evaluations, which
covers every replica, ends included, at every iteration, the set-up of each of
its two stages and one more after each FIRE velocity reset.

Printed: force calls, FIRE iterations, wall and CPU time, core-seconds
(force calls x serial cost), ratios ours / LAMMPS, and the barrier, the path
length (chord sum over the images in the 3N space), d_path, Delta_V and the
NiP splitting of each final band (LAMMPS's final images are written out and
re-evaluated with our force field; its own energies are compared with ours),
and how far apart the two climbing images are.  Protocol differences that remain are listed at the end of the output.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
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
from tlsfinder._lammps import bin_dir, new_lammps, subprocess_env  # noqa: E402
from tlsfinder.engine import Engine  # noqa: E402
from tlsfinder.models import KA2  # noqa: E402
from tlsfinder.splitting import MEP, analyse_mep  # noqa: E402

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


def path_length(images) -> float:
    """Chord sum over the images in the 3N space (sigma)."""
    x = np.asarray(images)
    return float(np.linalg.norm((x[1:] - x[:-1]).reshape(len(x) - 1, -1), axis=1).sum())


# ---------------------------------------------------------------------------
# Serial cost of one force call
# ---------------------------------------------------------------------------


def serial_cost_ours(ff: N.BatchForceField, x, calls: int) -> float:
    """CPU seconds of one energy + force evaluation of one configuration ``x``."""
    ff.energy_forces(x)  # compile, build the pair list
    c0 = time.process_time()
    for _ in range(calls):
        ff.energy_forces(x)
    return (time.process_time() - c0) / calls


def write_data(model, species, x, path: Path, title: str):
    """LAMMPS data file (atom style atomic) of positions ``x`` wrapped into the box."""
    box = model.box
    xw = np.mod(x, box)
    lines = [title, "", f"{model.n} atoms", "3 atom types", ""]
    lines += [f"0 {float(box[k]):.17g} {'xyz'[k]}lo {'xyz'[k]}hi" for k in range(3)]
    lines += ["", "Masses", ""] + [f"{t} 1.0" for t in (1, 2, 3)] + ["", "Atoms # atomic", ""]
    lines += [f"{i + 1} {int(species[i]) + 1} {xw[i, 0]:.17g} {xw[i, 1]:.17g} {xw[i, 2]:.17g}" for i in range(model.n)]
    path.write_text("\n".join(lines) + "\n")
    return xw


def write_lammps_inputs(model, species, a, b, workdir: Path):
    """Endpoint A as a data file (wrapped into the box) and B as a NEB ``final`` file (A plus
    the aligned displacement, so LAMMPS interpolates the same straight line as ours)."""
    workdir.mkdir(parents=True, exist_ok=True)
    aw = write_data(model, species, a, workdir / "a.data", "tlsfinder benchmark endpoint A")
    bw = aw + (b - a)
    fin = [str(model.n)] + [f"{i + 1} {bw[i, 0]:.17g} {bw[i, 1]:.17g} {bw[i, 2]:.17g}" for i in range(model.n)]
    (workdir / "b.final").write_text("\n".join(fin) + "\n")


def lammps_setup(model, species, settings: N.NEBSettings, workdir: Path, data: str = "a.data") -> list[str]:
    """System, pair style and FIRE settings shared by the serial loop and the NEB.

    FIRE: our initial step ``fire_dt`` and largest step ``fire_dtmax`` (LAMMPS tmax is a
    multiple of the initial step), growth 1.1 after 5 downhill steps, shrink 0.5, alpha 0.1
    decaying by 0.99, largest move ``fire_maxstep``, no half step back and no initial delay
    (ours has neither).  ``norm max``: the per-atom force norm, as ASE's fmax.
    """
    return [
        "units lj", "atom_style atomic", "atom_modify map array sort 0 0.0", "boundary p p p",
        f"read_data {workdir / data}",
        *model.lammps_commands(workdir, species),
        "mass * 1.0",
        "neighbor 0.3 bin", "neigh_modify every 1 delay 0 check yes",
        f"timestep {settings.fire_dt!r}",
        "min_style fire",
        f"min_modify norm max integrator eulerimplicit tmax {settings.fire_dtmax / settings.fire_dt!r} "
        f"delaystep 5 dtgrow 1.1 dtshrink 0.5 alpha0 0.1 alphashrink 0.99 halfstepback no initialdelay no",
        f"min_modify dmax {settings.fire_maxstep!r}",
    ]


def serial_cost_lammps(model, species, x, settings: N.NEBSettings, calls: int, workdir: Path) -> tuple[float, float]:
    """CPU seconds of one LAMMPS force evaluation of ``x``, serial, two ways: per force evaluation
    of a FIRE ``minimize`` loop (tolerances zero: it runs ``calls`` iterations; energies and forces
    at every iteration, as in its NEB) and per MD step (``fix nve``, forces only)."""
    write_data(model, species, x, workdir / "serial.data", "tlsfinder benchmark serial cost")
    lmp = new_lammps()
    try:
        for cmd in lammps_setup(model, species, settings, workdir, "serial.data"):
            lmp.command(cmd)
        lmp.command(f"log {workdir / 'serial.log'}")
        c0 = time.process_time()
        lmp.command(f"minimize 0.0 0.0 {calls} {2 * calls}")
        cpu_min = time.process_time() - c0
        lmp.command("log none")
        lmp.command("fix md all nve")
        lmp.command("run 0")
        c0 = time.process_time()
        lmp.command(f"run {calls}")
        cpu_md = time.process_time() - c0
    finally:
        lmp.close()
    n_eval = int(re.findall(r"Iterations, force evaluations = \d+ (\d+)", (workdir / "serial.log").read_text())[-1])
    return cpu_min / n_eval, cpu_md / calls


def serial_costs(ff, model, species, x, settings, calls: int, workdir: Path, skip_lammps: bool, repeats: int = 3):
    """Best (least disturbed by other load) of ``repeats`` interleaved measurements of both engines."""
    ours, lmp_min, lmp_md = [], [], []
    for _ in range(repeats):
        ours.append(serial_cost_ours(ff, x, calls))
        if not skip_lammps:
            m, d = serial_cost_lammps(model, species, x, settings, calls, workdir)
            lmp_min.append(m)
            lmp_md.append(d)
    nan = float("nan")
    return min(ours), (min(lmp_min) if lmp_min else nan), (min(lmp_md) if lmp_md else nan)


# ---------------------------------------------------------------------------
# LAMMPS NEB
# ---------------------------------------------------------------------------


def lammps_neb(model, species, settings: N.NEBSettings, cores: str, workdir: Path):
    """LAMMPS ``neb`` with one partition per image, to convergence (or ``max_steps`` per stage)."""
    n_img = int(settings.n_images)
    nevery = 10
    steps = -(-int(settings.max_steps) // nevery) * nevery
    script = lammps_setup(model, species, settings, workdir) + [
        f"variable r world {' '.join(str(k) for k in range(n_img))}",
        f"fix nebfix all neb {settings.spring!r} parallel neigh",
        "thermo 100", "thermo_modify norm no format float %.15g",
        f"neb 0.0 {settings.fmax!r} {steps} {steps} {nevery} final b.final",
        "write_dump all custom final.${r}.txt id x y z modify sort id format float %.17g",
        "unfix nebfix", "run 0", 'print "$(pe:%.17g)" file pe.${r}.txt',
    ]
    (workdir / "in.neb").write_text("\n".join(script) + "\n")
    cmd = ["taskset", "-c", cores, str(bin_dir() / "mpirun"), "-np", str(n_img), str(bin_dir() / "lmp"),
           "-partition", f"{n_img}x1", "-in", "in.neb", "-nocite"]
    env = subprocess_env()
    # Oversubscribed ranks should yield the core while they wait in MPI (MPICH busy-polls).
    env.setdefault("MPIR_CVAR_POLLS_BEFORE_YIELD", "1")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"LAMMPS neb failed (exit {proc.returncode})")
    # Per-partition logs: each minimisation stage reports its stopping criterion, iterations and
    # force evaluations ("Iterations, force evaluations = a b").
    log0 = (workdir / "log.lammps.0").read_text()
    crit = re.findall(r"Stopping criterion = (.+)", log0)
    evals = [tuple(map(int, m)) for m in re.findall(r"Iterations, force evaluations = (\d+) (\d+)", log0)]
    iters = sum(e[0] for e in evals)
    per_replica_evals = sum(e[1] for e in evals)
    converged = len(crit) == 2 and crit[1].strip().startswith("force tolerance")
    ulog = (workdir / "log.lammps").read_text()
    m = re.search(r"Climbing replica = (\d+)", ulog)
    images = []
    for k in range(n_img):
        rows = (workdir / f"final.{k}.txt").read_text().splitlines()
        start = rows.index(next(r for r in rows if r.startswith("ITEM: ATOMS"))) + 1
        d = np.array([[float(v) for v in r.split()] for r in rows[start:]])
        images.append(d[np.argsort(d[:, 0]), 1:4])
    energies = np.array([float((workdir / f"pe.{k}.txt").read_text().split()[0]) for k in range(n_img)])
    return {"wall": wall, "energies": energies, "cpu": (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime),
            "iterations": iters, "stage_iterations": [e[0] for e in evals], "criteria": crit,
            "force_calls": per_replica_evals * n_img, "converged": converged,
            "climber": int(m.group(1)) - 1 if m else -1, "images": np.array(images)}


def unwrap_like(images, ref_a, box):
    """LAMMPS's images (wrapped into the box) moved by whole boxes next to our endpoint A,
    then each next to the previous one, so the band is continuous as ours."""
    out = []
    prev = ref_a
    for x in images:
        x = x - box * np.round((x - prev) / box)
        out.append(x)
        prev = x
    return np.array(out)


# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--images", type=int, default=12, help="images including the ends, both codes")
    ap.add_argument("--cores", default="0,1", help="cores (taskset list) for LAMMPS's ranks; ours is one process")
    ap.add_argument("--fmax", type=float, default=1e-3)
    ap.add_argument("--max-steps", type=int, default=5000, help="FIRE iterations (per stage for LAMMPS)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--calls", type=int, default=500, help="force calls per serial-cost measurement")
    ap.add_argument("--skip-lammps", action="store_true")
    args = ap.parse_args()
    settings = N.NEBSettings(n_images=args.images, fmax=args.fmax, max_steps=args.max_steps)
    print(f"KA2 N={args.n}, {args.images} images (ends included) on both sides, spring {settings.spring}, "
          f"climbing image, fmax {args.fmax} (largest per-atom NEB force norm), FIRE dt {settings.fire_dt} "
          f"dtmax {settings.fire_dtmax} maxstep {settings.fire_maxstep}")
    model, species, a, b = make_pair(args.n, args.seed, N.NEBSettings(n_images=24, fmax=args.fmax))
    ff = N.BatchForceField(model, model.box, species)
    ma, mb = N.minimize(ff, a), N.minimize(ff, b)
    b_al, _ = N.align(ma.positions, mb.positions, model.box)
    preset = units.get_preset("KA2", "NiP")
    work = Path(tempfile.mkdtemp(prefix="tlsfinder-lmpneb-"))
    try:
        write_lammps_inputs(model, species, ma.positions, b_al, work)
        # Serial cost of one force call of endpoint A, each engine on one process (CPU time).
        t_ours, t_lmp, t_md = serial_costs(ff, model, species, ma.positions, settings, args.calls, work,
                                           args.skip_lammps)
        print(f"serial force call (energy + forces, one configuration, one process, CPU time, best of 3 x "
              f"{args.calls}): ours {1e3 * t_ours:.3f} ms, LAMMPS {1e3 * t_lmp:.3f} ms (FIRE minimize loop; "
              f"an MD step, forces only, {1e3 * t_md:.3f} ms); ours / LAMMPS {t_ours / t_lmp:.2f}")

        # Our NEB, one process.
        c0, t0 = time.process_time(), time.perf_counter()
        band = N.run_neb(ff, ma.positions, b_al, settings)
        o_wall, o_cpu = time.perf_counter() - t0, time.process_time() - c0
        o_bar, o_len = float(band.energies.max() - band.energies[0]), path_length(band.images)
        o_row = analyse_mep(MEP(band.s, band.energies), [preset])
        print(f"ours:   converged {band.converged}  {band.steps:5d} FIRE steps  {band.force_calls:6d} force calls  "
              f"wall {o_wall:6.1f} s  CPU {o_cpu:6.1f} s  (CPU per force call {1e3 * o_cpu / band.force_calls:.3f} ms "
              f"with the NEB's own work)")
        if args.skip_lammps:
            print(f"        barrier {o_bar:.6f}  path length {o_len:.5f}  d_path {o_row['d_path']:.5f}  "
                  f"E(NiP) {o_row['E_NiP']:.4e}  climbing image {band.climb_index}")
            return

        lm = lammps_neb(model, species, settings, args.cores, work)
    finally:
        if os.environ.get("KEEP_LAMMPS_DIR"):
            print("LAMMPS files kept in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    band_l = unwrap_like(lm["images"], ma.positions, model.box)
    e_l, _ = ff.evaluate(band_l)
    s_l = np.concatenate([[0.0], np.cumsum(np.linalg.norm((band_l[1:] - band_l[:-1]).reshape(len(band_l) - 1, -1),
                                                          axis=1))])
    l_bar, l_len = float(e_l.max() - e_l[0]), path_length(band_l)
    l_row = analyse_mep(MEP(s_l, e_l), [preset])
    n_cores = len(args.cores.split(","))
    print(f"LAMMPS: converged {lm['converged']}  {lm['iterations']:5d} FIRE steps  {lm['force_calls']:6d} force calls  "
          f"wall {lm['wall']:6.1f} s  CPU {lm['cpu']:6.1f} s  ({args.images} ranks on {n_cores} core(s); "
          f"stages {lm['stage_iterations']} iterations, stopped by {lm['criteria']})")
    print(f"force calls on moving images only: ours {band.force_calls - args.images}, "
          f"LAMMPS {lm['force_calls'] // args.images * (args.images - 2)}")
    cs_o, cs_l = band.force_calls * t_ours, lm["force_calls"] * t_lmp
    print(f"core-seconds = force calls x serial cost: ours {cs_o:.2f}, LAMMPS {cs_l:.2f}; measured CPU: ours "
          f"{o_cpu:.1f}, LAMMPS {lm['cpu']:.1f} (its ranks wait for each other in MPI)")
    print(f"ratios ours / LAMMPS: force calls {band.force_calls / lm['force_calls']:.2f}, "
          f"FIRE steps {band.steps / lm['iterations']:.2f}, serial cost per call {t_ours / t_lmp:.2f}, "
          f"core-seconds {cs_o / cs_l:.2f}, measured CPU {o_cpu / lm['cpu']:.3f}, wall {o_wall / lm['wall']:.3f}")
    for name, bar, ln, row, ci in (("ours", o_bar, o_len, o_row, band.climb_index),
                                   ("LAMMPS", l_bar, l_len, l_row, lm["climber"])):
        print(f"{name:7s} barrier {bar:.7f}  path length {ln:.5f}  d_path {row['d_path']:.5f}  "
              f"Delta_V {row['Delta_V']:.6f}  E(NiP) {row['E_NiP']:.4e}  climbing image {ci}")
    sad = float(np.sqrt(((band.images[band.climb_index] - band_l[lm["climber"]]) ** 2).sum(axis=1)).max())
    print(f"difference: barrier {abs(o_bar - l_bar):.2e} eps ({abs(o_bar - l_bar) / o_bar:.1e} relative), path length "
          f"{abs(o_len - l_len):.2e} sigma ({abs(o_len - l_len) / o_len:.1e}), d_path "
          f"{abs(o_row['d_path'] - l_row['d_path']):.2e} sigma; climbing images differ by at most {sad:.1e} sigma "
          f"per particle; LAMMPS's energies (table) vs ours at its images: max |dE| "
          f"{np.abs(lm['energies'] - e_l).max():.1e} eps")
    print("remaining protocol differences: climbing image switched on at 10 fmax and re-chosen at every step "
          "(ours, as ASE) vs after a full non-climbing stage converged to fmax, then fixed (LAMMPS); FIRE: ours "
          "caps each atom's move (vector norm) and mixes velocities before adding the force step, LAMMPS "
          "scales the whole step so no velocity component moves more than dmax, mixes after, keeps "
          "dt >= 0.02 dt0 and spends an extra force call after each velocity reset (to limit the next step); "
          "LAMMPS evaluates the two fixed end replicas at every iteration; pair forces: ours analytic, LAMMPS a spline table (2e4 points)")


if __name__ == "__main__":
    main()
