"""Shared fixtures: small, quickly equilibrated KA2 and PSS states, a copy of the workflow as a fresh
clone has it, and one reference run of the tiny pipeline (all session-scoped)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# One BLAS/OpenMP thread per process, set before numpy loads its BLAS: the suite and the workflow
# jobs it starts run side by side on few cores, where threaded BLAS oversubscribes them (a dense
# 900 x 900 eigh took 8.5 s instead of 0.1 s on a loaded 2-core runner).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest
import yaml

from tlsfinder.engine import Engine
from tlsfinder.models import KA2, PSS


SLURM_SCRIPTS = Path(__file__).resolve().parent / "slurm"


def slurm_up() -> bool:
    """The one-node Slurm cluster answers (``scontrol ping``)."""
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "UP" in out.stdout


def pytest_configure(config):
    """Where Slurm is installed and we are root, the one-node cluster runs for the whole session.

    Snakemake's Slurm executor plugin asks ``scontrol show config`` for MinJobAge when it is
    imported, by every ``snakemake`` start, local runs included; with a slurm.conf but no
    slurmctld, scontrol retries for ~9 s first (``import snakemake.cli``: 11.0 s against 2.1 s
    with the cluster up), and the suite starts Snakemake dozens of times (every resume segment,
    dry run, lint and workflow test).  Started here, in xdist's controller (before any worker),
    stopped in :func:`pytest_unconfigure`; never installed here (tests/test_slurm.py does that).  ``TLSF_SLURM_AUTOSTART=0`` turns it off."""
    if hasattr(config, "workerinput") or os.environ.get("TLSF_SLURM_AUTOSTART", "1") == "0":
        return
    if not (sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("slurmctld")
            and shutil.which("scontrol")) or slurm_up():
        return
    res = subprocess.run(["bash", str(SLURM_SCRIPTS / "start_slurm.sh")], capture_output=True, text=True, timeout=300)
    config._tlsf_slurm_started = res.returncode == 0


def pytest_unconfigure(config):
    if getattr(config, "_tlsf_slurm_started", False) and os.environ.get("TLSF_SLURM_KEEP") != "1":
        subprocess.run(["bash", str(SLURM_SCRIPTS / "stop_slurm.sh")], capture_output=True, timeout=120)


def pytest_collection_modifyitems(config, items):
    """The whole-pipeline tests (tests/test_resume.py, tests/test_slurm.py: about half the suite's
    time) go first: with ``--dist loadfile`` each of the two workers starts with one of them and the
    rest of the suite fills in beside."""
    first = ("test_resume.py", "test_slurm.py")
    items.sort(key=lambda item: item.path.name not in first)  # stable: order within each kept


def _liquid(model, temperature, steps, seed):
    rng = np.random.default_rng(seed)
    species = model.make_species(rng)
    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(temperature, seed + 1)
        eng.run_nvt(steps, temperature, 0.005)
        return eng.get_positions(), eng.get_velocities(), eng.get_species()


@pytest.fixture(scope="session")
def ka2_small():
    model = KA2(n=300, density=1.35)
    pos, vel, species = _liquid(model, 1.0, 2000, 11)
    return model, pos, vel, species


@pytest.fixture(scope="session")
def pss_small():
    model = PSS(n=300, density=1.0)
    pos, vel, species = _liquid(model, 0.2, 2000, 12)
    return model, pos, vel, species


@pytest.fixture(scope="session")
def ka2_three_minima():
    """(model, species, [IS0, IS1, IS2]) of a KA2 N = 300 glass, IS0 -> IS1 -> IS2 seen in that order
    by the dynamics; with these seeds IS0 -> IS1 is a compact double well (PR ~ 4) and the path
    IS0 -> IS2 passes through IS1."""
    from tlsfinder import neb as N

    model = KA2(n=300, density=1.35)
    rng = np.random.default_rng(12)
    species = model.make_species(rng)
    ff = N.BatchForceField(model, model.box, species)

    def quench(eng):  # the inherent structure of the current state; the trajectory is left untouched
        state = eng.save_state()
        eng.minimize("cg", ftol=1e-8)
        x = eng.get_positions()
        eng.restore_state(state)
        return x

    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(1.0, 13)
        eng.run_nvt(2000, 1.0, 0.005)
        eng.run_nvt(4000, 0.5, 0.005)
        eng.run_nvt(4000, 0.4, 0.005)
        lib = [N.minimize(ff, quench(eng)).positions]
        eng.thermalize(0.25, 7)
        for _ in range(100):
            eng.run_nvt(25, 0.25, 0.005)
            x = quench(eng)
            if not N.same_minimum(x, lib[-1], model.box, 1e-3):
                lib.append(N.minimize(ff, x).positions)
            if len(lib) == 3:
                break
    assert len(lib) == 3, "exploration found fewer than 3 minima"
    return model, species, lib


def write_is_library(path, model, species, positions, glass="T0.5/g0"):
    """An IS library file (tlsfinder.explore's format) holding ``positions``, energies from the model."""
    import json

    import h5py

    from tlsfinder.explore import ISLIB_FORMAT

    with h5py.File(path, "w") as h:
        h.attrs["format"] = ISLIB_FORMAT
        h.attrs["box"] = model.box
        h.attrs["model"] = json.dumps(model.to_config())
        h.attrs["glass"] = glass
        h["positions"] = np.array(positions)
        h["energy"] = np.array([model.energy(x, model.box, species) / model.n for x in positions])
        for k in ("first_seen", "visits", "fmax"):
            h[k] = np.zeros(len(positions))
        h["species"] = species
    return path


ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def workflow_copy(tmp_path: Path, config: dict | None = None) -> Path:
    """The workflow files in a fresh folder (as a fresh clone has them), optionally with a new demo config."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for item in ("Snakefile", "rules", "workflow", "config", "report", "envs", "containers", "profiles"):
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, tmp_path / item)
        elif src.exists():
            shutil.copy(src, tmp_path / item)
    if config is not None:
        (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def tiny_pipeline_config() -> dict:
    """The whole pipeline in about three minutes on 2 cores: KA2 N = 200, one T_f, two glasses, two
    loop iterations (NEB splits, intermediate minima and every checkpoint included)."""
    return {
        "seed": 7,
        "model": {"name": "KA2", "n": 200},
        "prepare": {"temperatures": [0.7], "n_glasses": 2, "blocks": 60, "record_every": 10, "melt_steps": 300},
        # explorations save themselves often, so a kill (tests/test_resume.py) loses little
        "explore": {"temperature": 0.5, "tau_cg": 0.05, "n_cg": 20, "setup_steps": 200, "checkpoint_seconds": 2},
        "ml": {"k": 4},
        # refinement of near-threshold wells costs up to ~60x a band: tests/test_neb.py covers it
        "neb": {"n_images": 16, "max_steps": 3000, "refine": False},
        "loop": {"max_iter": 2, "min_yield": 0.0, "batch_size": 2, "preset": "Ar"},
    }


@pytest.fixture(scope="session")
def tiny_reference(tmp_path_factory):
    """One uninterrupted local run of the tiny pipeline, shared by the resume and Slurm tests that
    compare their runs with it: (folder, config, wall time in s).  Under xdist the workers share one
    run: the first to need it makes it while the others wait on a lock."""
    import fcntl
    import json

    cfg = tiny_pipeline_config()
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the session's folder above the workers' own
    folder = root / "tiny_reference"
    with open(root / "tiny_reference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / "tiny_reference.json"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a run of a worker that died
            ref = workflow_copy(folder, cfg)
            t0 = time.time()
            res = subprocess.run([SNAKEMAKE, "--cores", "2"], cwd=ref, capture_output=True, text=True, timeout=1800)
            assert res.returncode == 0, res.stderr[-3000:]
            done.write_text(json.dumps({"wall_s": time.time() - t0}))
        wall = json.loads(done.read_text())["wall_s"]
    return folder, cfg, wall


# The published labelled data (Ciarella et al., "Finding defects in glasses through machine
# learning", arXiv:2212.05582; repository TLS_ML_exploration) live in shared/ beside the
# repository (a clone in CI too); TLSFINDER_TLSML_DATA points elsewhere.
TLSML_DATA = Path(os.environ.get("TLSFINDER_TLSML_DATA",
                                 Path(__file__).resolve().parents[2] / "shared" / "data" / "tls_ml_exploration"))


def science_columns(df):
    """A table without its timing columns (wall times are provenance, not results)."""
    return df[[c for c in df.columns if "wall" not in c]]
