"""The LAMMPS engine: state round trips, exact continuation after a quench, minimisation, thermostats."""

from __future__ import annotations

import numpy as np
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.engine import Engine


@pytest.mark.parametrize("thermostat", ["nose-hoover", "berendsen"])
def test_quench_from_snapshot_then_restore_is_bit_for_bit(ka2_small, thermostat):
    model, pos, vel, species = ka2_small

    def trajectory(quench: bool):
        with Engine(model, pos, model.box, species) as eng:
            eng.set_velocities(vel)
            eng.set_thermostat(thermostat, 0.8, 0.5)
            frames = []
            for _ in range(4):
                eng.run(25, 0.0025)
                if quench:
                    snap = eng.save_state()
                    res = eng.minimize("cg", ftol=1e-8)
                    assert res.converged
                    assert not np.array_equal(eng.get_positions(), snap.positions)
                    eng.restore_state(snap)
                frames.append((eng.get_positions(), eng.get_velocities(), eng.timestep))
            return frames

    plain, quenched = trajectory(False), trajectory(True)
    for (p1, v1, t1), (p2, v2, t2) in zip(plain, quenched):
        assert t1 == t2
        assert np.array_equal(p1, p2)  # bit for bit
        assert np.array_equal(v1, v2)


def test_state_round_trip_and_unwrapped_positions(ka2_small):
    model, pos, vel, species = ka2_small
    shifted = pos + np.array([model.box_length * 2.0, -model.box_length, 0.3])  # far outside the box
    with Engine(model, shifted, model.box, species) as eng:
        np.testing.assert_allclose(eng.get_positions(), shifted, rtol=0, atol=1e-12)
        eng.set_velocities(vel)
        np.testing.assert_array_equal(eng.get_velocities(), vel)
        np.testing.assert_array_equal(eng.get_species(), species)
        e1 = eng.energy()
        assert e1 == pytest.approx(model.energy(pos, model.box, species), rel=1e-12)
        # MD keeps positions unwrapped: displacements are continuous across the boundary
        start = eng.get_positions()
        eng.run_nvt(200, 1.0, 0.005)
        assert np.abs(eng.get_positions() - start).max() < 2.0


def test_minimisation_reaches_a_true_minimum(ka2_small, pss_small):
    for model, pos, _, species in (ka2_small, pss_small):
        with Engine(model, pos, model.box, species) as eng:
            for method in ("fire", "cg"):
                res = eng.minimize(method, ftol=1e-9)
                assert res.converged and res.fmax <= 1e-9, (model.name, method, res)
                assert res.evaluations > 0 and res.iterations > 0
            e_min, f = model.energy_forces(eng.get_positions(), model.box, species)
            assert np.abs(f).max() < 1e-8
            assert e_min == pytest.approx(res.energy, rel=1e-9)
            # a minimum: the Hessian has no negative eigenvalue beyond the 3 translations
            if model.name == "KA2":
                w = np.linalg.eigvalsh(model.hessian(eng.get_positions(), model.box, species).toarray())
                assert w[3] > 0 and abs(w[:3]).max() < 1e-6


def test_unconverged_minimisation_is_reported(ka2_small):
    model, pos, _, species = ka2_small
    with Engine(model, pos, model.box, species) as eng:
        res = eng.minimize("cg", ftol=1e-12, maxiter=3)
        assert not res.converged and res.fmax > 1e-12 and res.iterations <= 3


def test_thermostats_hold_the_temperature(ka2_small):
    model, pos, vel, species = ka2_small
    for kind in ("nose-hoover", "berendsen"):
        with Engine(model, pos, model.box, species) as eng:
            eng.thermalize(0.5, 99)
            temps = []
            for _ in range(20):
                eng.run_nvt(100, 0.5, 0.005, thermostat=kind)
                v = eng.get_velocities()
                temps.append(np.sum(v * v) / (3 * model.n - 3))
            assert np.mean(temps[5:]) == pytest.approx(0.5, rel=0.06), kind


def test_bad_inputs(ka2_small):
    model, pos, _, species = ka2_small
    with pytest.raises(TLSFinderError, match="shape"):
        Engine(model, pos[:-1], model.box, species)
    with pytest.raises(TLSFinderError, match="types"):
        Engine(model, pos, model.box, species + 5)
    with Engine(model, pos, model.box, species) as eng:
        with pytest.raises(TLSFinderError, match="thermostat"):
            eng.run(10, 0.005)
        with pytest.raises(TLSFinderError, match="minimiser"):
            eng.minimize("bfgs")
        with pytest.raises(TLSFinderError, match="finite"):
            eng.set_positions(np.full_like(pos, np.nan))


def test_pss_set_species_retypes_and_keeps_the_model_energy(pss_small):
    """Swapped diameters (as swap MC does) move particles to their diameter bin's LAMMPS type, so the
    per-bin cutoffs stay exact: energy and forces equal the model's; a larger diameter is refused."""
    model, pos, _, species = pss_small
    swapped = np.random.default_rng(8).permutation(species)
    with Engine(model, pos, model.box, species) as eng:
        eng.set_species(swapped)
        np.testing.assert_array_equal(eng._get("type"), model.lammps_types(swapped)[1])
        e, f = eng.energy_forces()
        e_own, f_own = model.energy_forces(pos, model.box, swapped)
        assert e == pytest.approx(e_own, rel=1e-12)
        assert np.abs(f - f_own).max() < 1e-10 * np.abs(f_own).max()
        with pytest.raises(TLSFinderError, match="exceeds"):
            eng.set_species(np.where(np.arange(model.n) == 0, 1.05 * species.max(), species))
