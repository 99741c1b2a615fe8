"""Landscape exploration: true minima, distinct IS, exact resume after SIGKILL, reproducibility."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tlsfinder import TLSFinderError
from tlsfinder.config import validate_config
from tlsfinder.explore import ExploreSettings, Explorer, read_is_library, run_explore
from tlsfinder.geometry import displacements, rms_distance
from tlsfinder.io import write_glass
from tlsfinder.models import KA2, PSS
from tlsfinder.prepare import PrepareSettings, prepare_sample

N = 200


@pytest.fixture(scope="module")
def glass_file(tmp_path_factory):
    model = KA2(n=N, density=1.35)
    glass, _, _ = prepare_sample(model, 0.617, PrepareSettings(blocks=150, record_every=50, melt_steps=500), 4,
                                 glass_id="T0.617/g0")
    path = tmp_path_factory.mktemp("glass") / "glass.h5"
    write_glass(path, glass)
    return path


def config(seed=9, **explore):
    return validate_config({
        "seed": seed,
        "model": {"name": "KA2", "n": N},
        "prepare": {"temperatures": [0.617], "n_glasses": 1},
        "explore": {"temperature": 0.5, "tau_cg": 0.05, "n_cg": 12, "hop_threshold": 0.3, **explore},
    })


def outputs(folder: Path):
    lib = read_is_library(folder / "is_library.h5")
    return lib, pd.read_parquet(folder / "timeseries.parquet"), pd.read_parquet(folder / "transitions.parquet")


def test_library_holds_distinct_true_minima_and_is_reproducible(glass_file, tmp_path):
    cfg = config(seed=19, n_cg=4)  # a change of IS at step 72, in the 4th interval
    s1 = run_explore(cfg, glass_file, tmp_path / "a", "T0.617/g0")
    run_explore(cfg, glass_file, tmp_path / "b", "T0.617/g0")
    lib, ts, tr = outputs(tmp_path / "a")
    lib2, ts2, tr2 = outputs(tmp_path / "b")
    assert np.array_equal(lib["positions"], lib2["positions"]) and ts.equals(ts2) and tr.equals(tr2)
    model = KA2(n=N, density=1.35)
    assert s1["n_IS"] == len(lib["energy"]) >= 2  # the test needs transitions to mean something
    for k, pos in enumerate(lib["positions"]):
        e, f = model.energy_forces(pos, lib["box"], lib["species"])
        assert np.abs(f).max() < 1e-9, k  # a true minimum (ftol = 1e-10 in LAMMPS, checked on our forces)
        assert e / N == pytest.approx(lib["energy"][k], abs=1e-10)
    for i in range(len(lib["energy"])):
        for j in range(i):
            same_e = abs(lib["energy"][i] - lib["energy"][j]) < cfg["explore"]["energy_tol"]
            d_ij = rms_distance(displacements(lib["positions"][i], lib["positions"][j], lib["box"]))
            same_d = d_ij < cfg["explore"]["distance_tol"]
            assert not (same_e and same_d), (i, j)
    # time series and transition counts agree; consecutive entries differ
    assert (ts["is_id"].diff().dropna() != 0).all()
    assert tr["count"].sum() == len(ts) - 1
    assert lib["visits"].sum() >= cfg["explore"]["n_cg"]


def test_bisection_finds_the_transitions_of_quenching_every_step(glass_file):
    from tlsfinder.io import read_glass

    glass = read_glass(glass_file)
    model = KA2(n=N, density=1.35)
    found = {}
    # every_step costs a quench (~0.5 s) per MD step: a short trajectory (random stream 24) with two
    # changes of IS in consecutive steps of its 6th interval, the first a visit the interval's end misses.
    for protocol in ("every_step", "bisect", "fixed"):
        settings = ExploreSettings(temperature=0.5, tau_cg=0.05, n_cg=6, protocol=protocol, hop_threshold=0.3)
        ex = Explorer(model, glass, settings, 24, "T0.617/g0")
        ex.run()
        # compare by IS energies (ids depend on discovery order)
        found[protocol] = [(step, round(ex.lib.energy[k], 8)) for step, k in ex.changes]
        ex.close()
    assert len(found["every_step"]) >= 3  # the first IS and at least two changes
    assert found["bisect"] == found["every_step"]  # same trajectory, same changes at the same steps
    assert len(found["fixed"]) < len(found["every_step"])  # quenching only at interval ends misses the visit


def test_killed_run_resumes_to_the_same_result(glass_file, tmp_path):
    # checkpoints every 2 intervals; the IS changes at step 72, between the 1st and 2nd checkpoints
    cfg = config(seed=19, checkpoint_seconds=0.0, n_cg=8, setup_steps=40)
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    ref = tmp_path / "ref"
    run_explore(cfg, glass_file, ref, "T0.617/g0")
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "tlsfinder.cli", "explore", "--config", str(cfg_path), "--glass", str(glass_file),
           "--out", str(out), "--id", "T0.617/g0"]
    kills = 0
    for _ in range(3):  # kill at a few points, each after a new checkpoint appeared
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        ckpt = out / "checkpoint.pkl"
        before = ckpt.stat().st_mtime_ns if ckpt.exists() else 0
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if ckpt.exists() and ckpt.stat().st_mtime_ns != before:
                time.sleep(0.3)
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills >= 1
    assert not (out / "is_library.h5").exists() or kills < 3
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "resumed from checkpoint" in res.stderr
    lib, ts, tr = outputs(out)
    lib_ref, ts_ref, tr_ref = outputs(ref)
    assert np.array_equal(lib["positions"], lib_ref["positions"])
    assert np.array_equal(lib["energy"], lib_ref["energy"])
    assert ts.equals(ts_ref) and tr.equals(tr_ref) and len(ts) >= 2  # with a change of IS to resume across
    assert not (out / "checkpoint.pkl").exists()


def test_bad_inputs_are_named(glass_file, tmp_path):
    with pytest.raises(TLSFinderError, match="tau_cg = 0.006 must be a positive multiple"):
        run_explore(config(tau_cg=0.006), glass_file, tmp_path, "x")
    other = validate_config({"model": {"name": "KA2", "n": 300}, "prepare": {"temperatures": [0.6], "n_glasses": 1}})
    with pytest.raises(TLSFinderError, match="glass.h5.*N=300"):
        run_explore(other, glass_file, tmp_path, "x")
    pss = validate_config({"model": {"name": "PSS", "n": N}, "prepare": {"temperatures": [0.6], "n_glasses": 1}})
    with pytest.raises(TLSFinderError, match="PSS"):
        run_explore(pss, glass_file, tmp_path, "x")


def test_unconverged_quenches_are_counted_never_stored(glass_file, tmp_path):
    # the first quench must converge; then allow too few iterations for the later, loose-started ones
    from tlsfinder.io import read_glass

    glass = read_glass(glass_file)
    model = KA2(n=N, density=1.35)
    ex = Explorer(model, glass, ExploreSettings(tau_cg=0.05, n_cg=4, protocol="fixed"), 9, "x")
    ex.s.max_iterations = 5
    ex.run()
    s = ex.summary()
    ex.close()
    assert s["failed_quenches"] == 4 and s["n_IS"] == 1


def test_protocols_are_strategies_chosen_by_name():
    from tlsfinder.explore_protocols import PROTOCOLS, Bisect, EveryStep, Fixed, get_protocol

    assert tuple(PROTOCOLS) == ("every_step", "fixed", "bisect")
    assert [type(get_protocol(n)) for n in PROTOCOLS] == [EveryStep, Fixed, Bisect]
    # only bisect confirms a known IS with a shortened quench; the others converge every quench
    assert [get_protocol(n).shortened_quenches for n in PROTOCOLS] == [False, False, True]
    with pytest.raises(TLSFinderError, match=r"explore.protocol must be one of \('every_step', 'fixed', 'bisect'\), "
                                             r"got 'nope'"):
        get_protocol("nope")
    with pytest.raises(TLSFinderError, match="explore.protocol must be one of"):
        ExploreSettings.from_config({"protocol": "nope"})
    assert ExploreSettings().protocol == "bisect" and ExploreSettings().tau_cg == 0.05  # the schema's defaults


# ---------------------------------------------------------------------------
# PSS at its own exploration temperature
# ---------------------------------------------------------------------------

PSS_N = 200


@pytest.fixture(scope="module")
def pss_glass_file(tmp_path_factory):
    """A PSS glass: swap MC / MD at T_f = 0.08, below T_MCT = 0.104 (Khomenko et al. 2021)."""
    model = PSS(n=PSS_N, density=1.0)
    glass, _, _ = prepare_sample(model, 0.08, PrepareSettings(blocks=100, record_every=50, melt_steps=500), 4,
                                 glass_id="T0.08/g0")
    path = tmp_path_factory.mktemp("pss") / "glass.h5"
    write_glass(path, glass)
    return path


def test_pss_explored_at_its_default_temperature_stays_in_its_glass_basin(pss_glass_file, tmp_path):
    """The default T_exp of PSS (0.04, Khomenko, Reichman, Zamponi, Phys. Rev. Materials 5, 055602 (2021))
    keeps the glass in its basin: every IS found lies close to the first one (Eq. 7 of Mocanu et al. 2023)
    and at most a few particles hop.  KA2's T_exp = 0.4, about 4 T_MCT of PSS, melts the same glass."""
    found = {}
    for name, explore in (("default", {}), ("ka2_temperature", {"temperature": 0.4})):
        cfg = validate_config({"seed": 9, "model": {"name": "PSS", "n": PSS_N},
                               "prepare": {"temperatures": [0.08], "n_glasses": 1},
                               # fixed quenches every 50 dt for speed; temperature, dt, thermostat: the defaults
                               "explore": {"protocol": "fixed", "tau_cg": 0.25, "n_cg": 8, **explore}})
        summary = run_explore(cfg, pss_glass_file, tmp_path / name, "T0.08/g0")
        lib = read_is_library(tmp_path / name / "is_library.h5")
        d = [displacements(x, lib["positions"][0], lib["box"]) for x in lib["positions"]]
        found[name] = {"T": cfg["explore"]["temperature"], "n_IS": summary["n_IS"],
                       "eq7": max(rms_distance(x) for x in d),
                       "moved": max(float(np.mean(np.linalg.norm(x, axis=1) > 0.3)) for x in d),  # share of particles
                       "de": float(np.ptp(lib["energy"]) * PSS_N)}
    glass, hot = found["default"], found["ka2_temperature"]
    assert (glass["T"], hot["T"]) == (0.04, 0.4), found
    # basin: IS within 0.05 sigma (Eq. 7) of the first one, under 2 % of the particles moved by 0.3 sigma
    assert glass["eq7"] < 0.05 and glass["moved"] < 0.02, found
    # melted: most quenches find a new IS, far away, with many particles moved and energies spread
    assert hot["eq7"] > 0.3 and hot["n_IS"] >= 5 and hot["moved"] > 0.2 and hot["de"] > 10 * glass["de"], found


def test_lbfgs_quenches_give_true_minima_equal_to_lammps_cg(pss_glass_file, tmp_path):
    """``minimizer: lbfgs`` (the PSS default) stores true minima; quenched from the same MD
    snapshots, LAMMPS's CG lands on the same IS away from ridges (here: every snapshot of a short
    run at T_exp), and the exploration is reproducible."""
    cfg = validate_config({"seed": 9, "model": {"name": "PSS", "n": PSS_N},
                           "prepare": {"temperatures": [0.08], "n_glasses": 1},
                           "explore": {"protocol": "fixed", "tau_cg": 0.25, "n_cg": 6}})
    assert cfg["explore"]["minimizer"] == "lbfgs"
    run_explore(cfg, pss_glass_file, tmp_path / "a", "T0.08/g0")
    run_explore(cfg, pss_glass_file, tmp_path / "b", "T0.08/g0")
    lib, ts, _ = outputs(tmp_path / "a")
    lib2, ts2, _ = outputs(tmp_path / "b")
    assert np.array_equal(lib["positions"], lib2["positions"]) and ts.equals(ts2)
    model = PSS(n=PSS_N, density=1.0)
    for k, pos in enumerate(lib["positions"]):
        e, f = model.energy_forces(pos, lib["box"], lib["species"])
        assert np.abs(f).max() < 1e-9, k
        assert e / PSS_N == pytest.approx(lib["energy"][k], abs=1e-10)
    cg = validate_config({**cfg, "explore": {**cfg["explore"], "minimizer": "cg"}})
    run_explore(cg, pss_glass_file, tmp_path / "cg", "T0.08/g0")
    lib_cg, ts_cg, _ = outputs(tmp_path / "cg")
    assert len(lib_cg["energy"]) == len(lib["energy"])
    for a, b in zip(lib["positions"], lib_cg["positions"]):
        assert rms_distance(displacements(a, b, lib["box"])) < 1e-8
    assert ts["is_id"].tolist() == ts_cg["is_id"].tolist()
