"""NEB between minima of a small KA2 glass (N = 300, density 1.35).

Real minima: a liquid is cooled by MD (LAMMPS engine), quenched, and then
explored at T = 0.3 with a quench every 20 MD steps; consecutive distinct
inherent structures IS0 -> IS1 -> IS2 are real neighbouring minima.  Bands use
24 images to keep the file fast (the default is 64).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import write_is_library

from tlsfinder import TLSFinderError, units
from tlsfinder import neb as N
from tlsfinder.geometry import displacements, participation_ratio
from tlsfinder.loop import labels_from_neb
from tlsfinder.models import KA2, PSS
from tlsfinder.schema import defaults
from tlsfinder.splitting import MEP, analyse_mep

FAST = dict(n_images=24, fmax=1e-3, max_steps=3000, check_every=200)


@pytest.fixture(scope="module")
def glass(ka2_three_minima):
    """(model, species, [IS0, IS1, IS2]): IS0 -> IS1 a compact double well, IS0 -> IS2 through IS1
    (conftest)."""
    return ka2_three_minima


@pytest.fixture(scope="module")
def pair01(glass):
    model, species, lib = glass
    presets = [units.get_preset("KA2", "Ar"), units.get_preset("KA2", "NiP")]
    fwd = N.neb_pair(model, model.box, species, lib[0], lib[1], N.NEBSettings(**FAST), presets, pair_id="0-1")
    bwd = N.neb_pair(model, model.box, species, lib[1], lib[0], N.NEBSettings(**FAST), presets, pair_id="1-0")
    return fwd, bwd


# ---------------------------------------------------------------------------
# energies and forces
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: KA2(n=300, density=1.35), lambda: PSS(n=300, density=1.0)])
def test_batch_force_field_matches_model(make):
    model = make()
    rng = np.random.default_rng(4)
    species = model.make_species(rng)
    base = model.lattice_positions(rng)
    # Three configurations, unwrapped coordinates far outside the box included.
    stack = np.array([base + rng.normal(0, 0.05, base.shape) + model.box * rng.integers(-2, 3, base.shape)
                      for _ in range(3)])
    ff = N.BatchForceField(model, model.box, species)
    e, f = ff.evaluate(stack)
    for k in range(3):
        e0, f0 = model.energy_forces(stack[k], model.box, species)
        assert e[k] == pytest.approx(e0, rel=1e-12)
        assert np.max(np.abs(f[k] - f0)) <= 1e-11 * np.max(np.abs(f0))
    # Move every particle by more than the skin: the pair list is rebuilt and stays exact.
    moved = stack[0] + rng.normal(0, 0.3, base.shape)
    e1, f1 = ff.energy_forces(moved, slot=0)
    e0, f0 = model.energy_forces(moved, model.box, species)
    assert ff.n_builds >= 2 and e1 == pytest.approx(e0, rel=1e-12) and np.allclose(f1, f0, atol=1e-10)


def test_too_small_box_is_refused():
    model = KA2(n=100, density=1.35)  # L = 4.2 < 2 x cutoff
    with pytest.raises(TLSFinderError, match="too small"):
        N.BatchForceField(model, model.box, model.make_species(np.random.default_rng(0)))


def test_minimize_reaches_tight_minimum(glass):
    model, species, lib = glass
    ff = N.BatchForceField(model, model.box, species)
    m = N.minimize(ff, lib[1] + np.random.default_rng(2).normal(0, 0.02, lib[1].shape), ftol=1e-10)
    assert m.converged and m.fmax <= 1e-10
    assert N.same_minimum(m.positions, lib[1], model.box, 1e-6)
    w = N.lowest_eigenvalues(model, m.positions, model.box, species, k=2)
    assert w[0] > 0  # a minimum: translations removed, all curvatures positive


# ---------------------------------------------------------------------------
# the band
# ---------------------------------------------------------------------------


def test_climbing_image_is_first_order_saddle(glass, pair01):
    model, species, _ = glass
    res = pair01[0][0]
    assert res.status == "dw" and res.band.converged
    x = res.band.images[res.band.climb_index]
    h = model.hessian(x, model.box, species).toarray()
    w, v = np.linalg.eigh(h)
    # translations: three (near-)zero modes; exactly one clearly negative curvature
    assert np.sum(w < -1e-6) == 1 and w[0] < -0.1
    assert N.saddle_check(model, x, model.box, species)["n_negative"] == 1
    # Our Hessian against finite differences of the forces, along the unstable mode and at random.
    ff = N.BatchForceField(model, model.box, species)
    rng = np.random.default_rng(3)
    for vec in (v[:, 0], rng.normal(size=len(w))):
        vec = vec / np.linalg.norm(vec)
        hstep = 1e-5
        _, fp = ff.energy_forces(x + hstep * vec.reshape(-1, 3))
        _, fm = ff.energy_forces(x - hstep * vec.reshape(-1, 3))
        fd = -(fp - fm).ravel() / (2 * hstep)
        assert np.max(np.abs(fd - h @ vec)) < 1e-5 * np.max(np.abs(h @ vec)) + 1e-7
    # the band's maximum is the climbing image and its tangential force vanishes there
    assert res.band.climb_index == int(np.argmax(res.band.energies))
    assert abs(res.band.f_par[res.band.climb_index]) < 1e-2


def test_band_images_keep_their_centre_of_mass(glass):
    """No image drifts rigidly against the fixed ends (a zero mode no force restores): the band's
    path length is the rearrangement's, not a translation's.  A small fire_maxstep caps many atoms'
    moves, the source of the drift this guards against."""
    model, species, lib = glass
    ff = N.BatchForceField(model, model.box, species)
    s = N.NEBSettings(**{**FAST, "fire_maxstep": 2e-4, "max_steps": 400})
    band = N.run_neb(ff, lib[0], N.align(lib[0], lib[1], model.box)[0], s)
    shift = [np.abs(displacements(x, lib[0], model.box).mean(axis=0)).max() for x in band.images]
    assert max(shift) < 1e-12, max(shift)


def test_forward_and_backward_give_same_barrier(pair01):
    fwd, bwd = pair01
    a, b = fwd[0], bwd[0]
    assert a.status == b.status == "dw"
    e_ts_a = a.band.energies.max()
    e_ts_b = b.band.energies.max()
    assert abs(e_ts_a - e_ts_b) < 1e-4  # climbing image: error ~ fmax^2 / curvature
    assert abs(a.row["V_a"] - b.row["V_a"]) < 1e-4
    assert a.row["Delta_V"] == pytest.approx(b.row["Delta_V"], abs=1e-9)
    assert a.row["reversed"] != b.row["reversed"]  # lower minimum put first either way
    assert a.row["d_path"] == pytest.approx(b.row["d_path"], rel=1e-3)
    assert a.row["E_NiP"] == pytest.approx(b.row["E_NiP"], rel=1e-3)


def test_dw_row_contents(glass, pair01):
    model, species, lib = glass
    r = pair01[0][0].row
    disp = displacements(lib[0], lib[1], model.box)
    disp -= disp.mean(axis=0)
    assert r["d"] == pytest.approx(math.sqrt(np.sum(disp**2) / model.n), rel=1e-6)
    assert r["PR"] == pytest.approx(participation_ratio(disp), rel=1e-6)
    assert r["e_B"] - r["e_A"] == pytest.approx(model.energy(lib[1], model.box, species)
                                                - model.energy(lib[0], model.box, species), abs=1e-8)
    assert r["Delta_V"] == pytest.approx(abs(r["e_B"] - r["e_A"]), abs=1e-7)
    # the path is at least as long as the straight line between the minima
    assert r["d_path"] >= r["total_displacement"] - 1e-9
    for p in ("Ar", "NiP"):
        assert np.isfinite(r[f"E_{p}"]) and r[f"is_TLS_{p}"] == (r[f"E_{p}"] < units.get_preset("KA2", p).kT_Q
                                                                 and r[f"converged_{p}"]
                                                                 and r["n_interior_minima"] == 0)
    # every FIRE step evaluates the 22 moving images once (batched); endpoints once
    assert r["force_calls"] >= 22 * (r["neb_steps"] + 1) + 2


def test_end_derivatives_follow_the_softest_mode_along_the_path(glass, pair01):
    """V'' at a minimum is the eigenvalue of the softest mode the band leaves along; V''' is the
    third derivative of the energy along it (checked against energies alone); a direction with no
    soft mode along it gives None; the NEB row uses them for w1, w2."""
    model, species, lib = glass
    x0 = lib[0]
    w, v = N.soft_modes(model, x0, model.box, species)
    w_arpack, _ = N.soft_modes(model, x0, model.box, species, dense_max=0)  # the large-N route
    assert w_arpack == pytest.approx(w, rel=1e-8) and w[0] > 0  # a minimum, translations removed
    k, t3, over = N.end_derivatives(model, x0, v[:, 0].reshape(x0.shape), model.box, species, modes=(w, v))
    assert (k, over) == (pytest.approx(w[0], rel=1e-12), pytest.approx(1.0, abs=1e-9))
    u = -v[:, 0].reshape(x0.shape)  # outward: against the tangent
    h = 0.02
    e = [model.energy(x0 + a * h * u, model.box, species) for a in (-2, -1, 1, 2)]
    assert t3 == pytest.approx((e[3] - 2 * e[2] + 2 * e[1] - e[0]) / (2 * h**3), rel=2e-3, abs=2e-3)
    # a tangent along the second mode picks the second mode
    k2, _, _ = N.end_derivatives(model, x0, v[:, 1].reshape(x0.shape), model.box, species, modes=(w, v))
    assert k2 == pytest.approx(w[1], rel=1e-12)
    # a direction with no soft component: no end derivatives
    rnd = np.random.default_rng(3).normal(size=x0.shape)
    rnd -= rnd.mean(axis=0)
    assert N.end_derivatives(model, x0, rnd, model.box, species, modes=(w, v)) is None
    r = pair01[0][0].row
    assert r["end_curvature"] == "hessian" and 0.2 <= r["end_overlap"] <= 1.0
    lo, hi = (r["k_end"], r["k_start"]) if r["reversed"] else (r["k_start"], r["k_end"])
    assert (r["w1"] ** 2, r["w2"] ** 2) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))


def test_intermediate_minimum_splits_the_pair(glass):
    """IS0 -> IS2 passes through IS1: the pair is split into IS0-IS1 and IS1-IS2."""
    model, species, lib = glass
    # With 16 images the dip of IS1 shows after ~800 FIRE steps (with 24 only after ~2000): the
    # band, unconverged at max_steps, is split at its end check all the same.
    s = N.NEBSettings(**{**FAST, "n_images": 16, "max_steps": 1000})
    presets = [units.get_preset("KA2", "NiP")]
    res = N.neb_pair(model, model.box, species, lib[0], lib[2], s, presets, pair_id="0-2")
    top = res[0]
    assert top.status == "split" and top.row["n_intermediate"] == 1
    assert "E_NiP" not in top.row  # a split pair is never analysed as one double well
    subs = [r for r in res if r.parent == "0-2"]
    assert [r.pair_id for r in subs] == ["0-2.1", "0-2.2"] and all(r.origin == "split" for r in subs)
    assert N.same_minimum(subs[0].pos_b, subs[1].pos_a, model.box, 1e-9)
    assert N.same_minimum(subs[0].pos_b, lib[1], model.box, 1e-3)  # the intermediate is IS1
    assert [r.status for r in subs] == ["dw", "dw"]
    # The first elementary well is the IS0-IS1 double well found directly (same settings).
    direct = N.neb_pair(model, model.box, species, lib[0], lib[1], s, presets, pair_id="0-1")[0].row
    assert subs[0].row["V_a"] == pytest.approx(direct["V_a"], abs=1e-4)
    assert subs[0].row["E_NiP"] == pytest.approx(direct["E_NiP"], rel=1e-3)


def test_intermediate_minimum_beyond_the_split_depth_stops_the_band(glass, monkeypatch):
    """With no splits left (split_depth 0) the band is still watched, so the first check that finds
    an intermediate minimum stops it (non_dw, split_depth) instead of letting it run max_steps.
    The check is made to find IS1 at once (on this glass the dip is too shallow for the
    check's 1e-3 threshold until the band has converged)."""
    from tlsfinder.neb import pair as P

    model, species, lib = glass
    s = N.NEBSettings(**{**FAST, "split_depth": 0, "check_every": 50})

    def new_minima(self, images, energies, known, tol):
        return [(len(images) // 2, N.minimize(self.ff, lib[1], s.endpoint_ftol))]

    monkeypatch.setattr(P.ElementaryWellSplitter, "new_minima", new_minima)
    res = N.neb_pair(model, model.box, species, lib[0], lib[2], s, [units.get_preset("KA2", "NiP")], pair_id="0-2")
    row = res[0].row
    assert len(res) == 1 and res[0].status == "non_dw" and row["reason"] == "split_depth"
    assert res[0].band.stopped and row["neb_steps"] == s.check_every, row["neb_steps"]


def test_unconverged_band_is_recorded_not_used(glass):
    model, species, lib = glass
    s = N.NEBSettings(**{**FAST, "max_steps": 20, "check_every": 10000, "retries": 2})
    res = N.neb_pair(model, model.box, species, lib[0], lib[1], s, [units.get_preset("KA2", "Ar")])
    assert res[0].status == "unconverged" and not res[0].row["neb_converged"]
    assert "E_Ar" not in res[0].row  # no splitting from an unconverged band
    # retried twice from the re-spaced band, 20 FIRE steps each time
    assert res[0].row["neb_attempts"] == 3 and res[0].row["neb_steps"] == 60


def test_unconverged_band_is_retried_until_converged(glass, pair01):
    """A band cut off halfway is continued from its last state (FIRE restarted) and then
    gives the double well of the uninterrupted run."""
    model, species, lib = glass
    direct = pair01[0][0].row
    s = N.NEBSettings(**{**FAST, "max_steps": direct["neb_steps"] // 2, "retries": 8, "refine": False})
    res = N.neb_pair(model, model.box, species, lib[0], lib[1], s, [units.get_preset("KA2", "NiP")])
    r = res[0].row
    assert res[0].status == "dw" and r["neb_converged"] and r["neb_attempts"] >= 2
    assert r["fmax"] <= FAST["fmax"] and r["neb_steps"] > direct["neb_steps"] // 2
    assert r["V_a"] == pytest.approx(direct["V_a"], abs=1e-4)
    assert r["E_NiP"] == pytest.approx(direct["E_NiP"], rel=1e-2)


def test_reinterpolate_spaces_images_evenly_on_the_curve():
    # A quarter circle in a 2-particle "configuration space", images bunched near one end.
    t = np.pi / 2 * np.linspace(0, 1, 9) ** 3
    band = np.zeros((9, 2, 3))
    band[:, 0, 0], band[:, 0, 1] = np.cos(t), np.sin(t)
    out = N.band.reinterpolate(band, 17)
    seg = np.linalg.norm(np.diff(out.reshape(17, -1), axis=0), axis=1)
    assert np.ptp(seg) < 0.02 * seg.mean()  # equal chords
    r = np.hypot(out[:, 0, 0], out[:, 0, 1])
    assert np.max(np.abs(r - 1.0)) < 2e-3  # still on the circle (cubic spline through the images)
    assert np.array_equal(out[0], band[0]) and np.array_equal(out[-1], band[-1])
    fine = N.band.insert_midpoints(band)
    assert len(fine) == 17 and np.array_equal(fine[0::2], band)  # the old images are kept
    assert np.max(np.abs(np.hypot(fine[1::2, 0, 0], fine[1::2, 0, 1]) - 1.0)) < 2e-3
    mid = np.arctan2(fine[1::2, 0, 1], fine[1::2, 0, 0])
    assert np.all((mid > t[:-1]) & (mid < t[1:]))  # one new image inside each interval


def test_refinement_converges_to_a_first_order_saddle(glass, pair01):
    """The converged band (24 images, fmax 1e-3) relaxed to refine_fmax and then with 47 images:
    the splitting moves by less than refine_rtol and the climbing image is a first-order saddle.
    (With the spline's end curvatures 24 -> 47 images moved E by ~0.4 %, d_path by ~0.8 %,
    Delta_0 by ~1 % (Ar) and ~4 % (NiP, the larger mass); the default 64 images start closer.)"""
    model, species, _ = glass
    res = pair01[0][0]
    presets = [units.get_preset("KA2", "Ar"), units.get_preset("KA2", "NiP")]
    s = N.NEBSettings(**{**FAST, "refine_kT_factor": math.inf, "refine_max_images": 48, "refine_rtol": 0.08})
    sp = N.ElementaryWellSplitter(N.BatchForceField(model, model.box, species), model.box, s, presets, {})
    band, row = sp.refine(res.pos_a, res.pos_b, res.band, dict(res.row), [res.pos_a, res.pos_b], "0-1")
    assert row["refined"] and row["refine_status"] == "converged" and row["refine_levels"] == 2
    assert len(band.images) == 47 == row["n_images"] and np.array_equal(band.images[0], res.pos_a)
    assert band.converged and band.fmax <= s.refine_fmax == row["refine_fmax"] < FAST["fmax"]
    assert row["n_negative"] == 1
    assert row["d_path_tol_change"] < 0.02
    for p in ("Ar", "NiP"):
        assert row[f"E_tol_change_{p}"] < 0.01 and row[f"Delta_0_tol_change_{p}"] < 0.08
        # the row's splitting is that of the refined band
        ends = ((row["k_start"], row["t3_start"]), (row["k_end"], row["t3_end"]))
        again = analyse_mep(MEP(band.s, band.energies, ends=ends), presets)
        assert row[f"E_{p}"] == again[f"E_{p}"] and row["d_path"] == again["d_path"]
    assert row["force_calls"] == res.row["force_calls"] + row["refine_force_calls"] > res.row["force_calls"]
    # the unrefined band gave the same well to within a few per cent
    assert row["E_NiP"] == pytest.approx(res.row["E_NiP"], rel=0.03)


def test_not_a_double_well_reasons():
    nd = N.pair._not_a_double_well
    assert nd([0.0, 0.2, 0.5, 0.1], 1e-6) is None
    assert nd([0.0, -0.05, 0.5, 0.1], 1e-6) == "endpoint_not_minimum"  # the band falls from A
    assert nd([0.0, 0.2, 0.5, 0.6], 1e-6) == "endpoint_not_minimum"  # ... and into B from above
    assert nd([0.0, 0.1, 0.2, 0.2], 1e-6) == "no_barrier"


def test_endpoint_that_is_no_minimum_is_refused(glass, pair01):
    model, species, lib = glass
    saddle = pair01[0][0].band.images[pair01[0][0].band.climb_index]
    for a in (lib[0] + np.random.default_rng(5).normal(0, 0.02, lib[0].shape), saddle):
        res = N.neb_pair(model, model.box, species, a, lib[1], N.NEBSettings(**FAST), [units.get_preset("KA2", "Ar")])
        assert len(res) == 1 and res[0].status == "non_dw" and res[0].row["reason"] == "endpoint_not_minimum"
        assert res[0].band is None and "E_Ar" not in res[0].row


# ---------------------------------------------------------------------------
# bad input, files, CLI, workflow batch
# ---------------------------------------------------------------------------


def test_bad_endpoints(glass):
    model, species, lib = glass
    s = N.NEBSettings(**FAST)
    with pytest.raises(TLSFinderError, match="identical"):
        N.neb_pair(model, model.box, species, lib[0], lib[0] + model.box, s)
    with pytest.raises(TLSFinderError, match="particle counts"):
        N.neb_pair(model, model.box, species, lib[0], lib[1][:-1], s)
    for bad in ("aseneb", "string"):
        with pytest.raises(TLSFinderError, match="neb.method"):
            N.NEBSettings(method=bad)
    with pytest.raises(TLSFinderError, match="unknown key"):
        N.NEBSettings.from_config({"images": 10})
    with pytest.raises(TLSFinderError, match="unknown key"):  # the schema has no neb.batches either
        N.settings_from_config({"neb": {"batches": 2}})


def test_settings_defaults_are_the_schemas():
    """NEBSettings states no default of its own: a bare NEBSettings is the schema's neb section."""
    s = N.NEBSettings()
    assert {k: getattr(s, k) for k in s.__dataclass_fields__} == defaults("neb")
    assert (s.n_images, s.spring, s.climb) == (64, 0.125, True)  # Mocanu et al. (2023) Sec. II.D
    assert s.refine and s.refine_fmax < s.fmax and s.retries >= 1
    for bad in ({"retries": -1}, {"refine_fmax": 0}, {"refine_rtol": -0.1}, {"refine_kT_factor": -1}):
        with pytest.raises(TLSFinderError, match=f"neb.{next(iter(bad))}"):
            N.NEBSettings(**bad)
    settings, presets, sopts = N.settings_from_config({})
    assert settings == s and [p.name for p in presets] == defaults("units")["presets"] and sopts == {}


def test_cli_and_files(glass, tmp_path):
    import ase.io

    from tlsfinder.cli import main
    from tlsfinder.io import Glass, write_glass

    model, species, lib = glass
    for name, x in (("a", lib[0]), ("b", lib[1])):
        write_glass(tmp_path / f"{name}.h5", Glass(model.to_config(), x, model.box, species))
    other = KA2(n=300, density=1.35, x_c=2.2)
    write_glass(tmp_path / "c.h5", Glass(other.to_config(), lib[1], model.box, species))
    out = tmp_path / "out"
    argv = ["neb", str(tmp_path / "a.h5"), str(tmp_path / "b.h5"), "--out", str(out), "--n-images", "24",
            "--pair-id", "x/0-1"]
    assert main(argv) == 0
    df = pd.read_parquet(out / "dw.parquet")
    assert list(df["status"]) == ["dw"] and {"E_Ar", "E_NiP", "V_a", "PR", "d"} <= set(df.columns)
    frames = ase.io.read(out / "x_0-1.path.xyz", index=":")
    assert len(frames) == 24
    sad = ase.io.read(out / "x_0-1.saddle.xyz")
    assert sad.get_potential_energy() == pytest.approx(max(f.get_potential_energy() for f in frames))
    # the path CSV is a splitting input and gives the same splitting
    from tlsfinder import splitting as S

    row = S.analyse_mep(S.read_path(out / "x_0-1.path.csv"), [units.get_preset("KA2", "NiP")])
    assert row["E_NiP"] == pytest.approx(df["E_NiP"].iloc[0], rel=1e-9)
    # endpoints of different models are refused
    assert main(["neb", str(tmp_path / "a.h5"), str(tmp_path / "c.h5"), "--out", str(tmp_path / "o2")]) == 2


def test_run_batch_and_labels(glass, tmp_path):
    model, species, lib = glass
    path = write_is_library(tmp_path / "is_library.h5", model, species, lib, "T0.5/g0")
    sel = pd.DataFrame({"glass": ["T0.5/g0", "T0.5/g0"], "i": [0, 5], "j": [1, 6]})
    sel.to_parquet(tmp_path / "selected.parquet")
    cfg = {"model": model.to_config(), "neb": FAST, "units": {"presets": ["NiP"]}}
    out = N.run_batch(cfg, tmp_path / "selected.parquet", {"T0.5/g0": path}, 0, 2, tmp_path / "b0.parquet",
                      tmp_path / "paths")
    back = pd.read_parquet(tmp_path / "b0.parquet")
    assert len(back) == 1 and back["pair_id"].iloc[0] == "T0.5/g0/0-1" and back["status"].iloc[0] == "dw"
    assert (tmp_path / "paths" / "T0.5_g0_0-1.path.csv").exists()
    lab = labels_from_neb(out, 0, "NiP")
    assert list(lab[["glass", "i", "j"]].itertuples(index=False, name=None)) == [("T0.5/g0", 0, 1)]
    assert bool(lab["is_dw"].iloc[0]) and lab["splitting"].iloc[0] == pytest.approx(out["E_NiP"].iloc[0])
    # the second batch holds the bad pair: IS ids outside the library
    with pytest.raises(TLSFinderError, match="not in its library"):
        N.run_batch(cfg, tmp_path / "selected.parquet", {"T0.5/g0": path}, 1, 2, tmp_path / "b1.parquet",
                    tmp_path / "paths")
