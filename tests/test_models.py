"""The model definitions: LAMMPS and our own code agree; the physics of the pair forms holds."""

from __future__ import annotations

import numpy as np
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.engine import Engine
from tlsfinder.models import KA2, KA2_SIGMA, PSS, model_from_config, pss_diameter_bounds


def _rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("fixture, style", [("ka2_small", "table"), ("ka2_small", "lepton"), ("pss_small", None)])
def test_lammps_matches_own_code(fixture, style, request):
    """Energy and forces from LAMMPS equal ours (KA2 in both LAMMPS styles, PSS), at the liquid state
    and two random perturbations of it."""
    model, pos, _, species = request.getfixturevalue(fixture)
    if style is not None:
        model = KA2(n=model.n, density=model.density, lammps_style=style)
    rng = np.random.default_rng(3)
    for trial in range(3):
        p = pos + (rng.normal(0, 0.03, pos.shape) if trial else 0.0)
        with Engine(model, p, model.box, species) as eng:
            e_lmp, f_lmp = eng.energy_forces()
        e_own, f_own = model.energy_forces(p, model.box, species)
        assert abs(e_lmp - e_own) / abs(e_own) < 1e-9
        assert _rel(f_lmp, f_own) < 1e-9


@pytest.mark.parametrize("fixture", ["ka2_small", "pss_small"])
def test_forces_are_minus_gradient(fixture, request):
    model, pos, _, species = request.getfixturevalue(fixture)
    _, f = model.energy_forces(pos, model.box, species)
    h = 1e-6
    rng = np.random.default_rng(5)
    for a in rng.choice(model.n, 5, replace=False):
        for k in range(3):
            p1, p2 = pos.copy(), pos.copy()
            p1[a, k] += h
            p2[a, k] -= h
            grad = (model.energy(p1, model.box, species) - model.energy(p2, model.box, species)) / (2 * h)
            assert f[a, k] == pytest.approx(-grad, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("fixture", ["ka2_small", "pss_small"])
def test_hessian_is_derivative_of_forces(fixture, request):
    model, pos, _, species = request.getfixturevalue(fixture)
    hess = model.hessian(pos, model.box, species)
    assert abs(hess - hess.T).max() < 1e-9
    h = 1e-6
    for a, k in [(0, 0), (7, 2), (42, 1)]:
        p1, p2 = pos.copy(), pos.copy()
        p1[a, k] += h
        p2[a, k] -= h
        col = -(model.energy_forces(p1, model.box, species)[1] - model.energy_forces(p2, model.box, species)[1]) / (2 * h)
        np.testing.assert_allclose(hess[:, 3 * a + k].toarray().ravel(), col.ravel(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("model", [KA2(n=10, density=1.35), PSS(n=10, density=1.0)])
def test_potential_and_two_derivatives_vanish_at_cutoff(model):
    f = model.form
    for value in (f.u(f.x_c), f.du(f.x_c), f.d2u(f.x_c)):
        assert abs(value) < 1e-12
    # and the potential is repulsive at short range, attractive (KA2) or zero (PSS) at the cutoff side
    assert f.u(0.9) > 0


def test_ka2_lj_part_is_the_textbook_potential():
    f = KA2(n=10, density=1.35).form
    x = np.linspace(0.9, 2.4, 50)
    poly = f.c0 + f.c2 * x**2 + f.c4 * x**4
    np.testing.assert_allclose(f.u(x) - poly, 4 * (x**-12 - x**-6), rtol=1e-12)
    # minimum of the bare LJ at 2^(1/6), shifted only slightly by the smoothing
    xs = np.linspace(1.0, 1.3, 30001)
    assert xs[np.argmin(f.u(xs))] == pytest.approx(2 ** (1 / 6), abs=0.01)


def test_ka2_composition_and_counts():
    m = KA2(n=1200, density=1.35)
    assert m.counts.tolist() == [800, 200, 200]  # A:B:C = 4:1:1 (seed 001)
    assert m.box_length == pytest.approx((1200 / 1.35) ** (1 / 3))
    t = m.make_species(np.random.default_rng(0))
    assert np.bincount(t).tolist() == [800, 200, 200]
    assert m.max_cutoff() == pytest.approx(2.5 * KA2_SIGMA.max())


def test_pss_diameter_distribution():
    smin, smax = pss_diameter_bounds(0.23)
    assert smin / smax == pytest.approx(0.449, abs=0.002)  # Ninarello et al. 2017
    m = PSS(n=1500, density=1.0)
    s = m.make_species(np.random.default_rng(0))
    assert s.mean() == pytest.approx(1.0, abs=2e-3)
    assert s.std() / s.mean() == pytest.approx(0.23, abs=2e-3)
    assert smin <= s.min() and s.max() <= smax


def test_model_config_errors_name_the_key():
    with pytest.raises(TLSFinderError, match="model.name"):
        model_from_config({"name": "KA3"})
    with pytest.raises(TLSFinderError, match="model.n"):
        model_from_config({"name": "KA2", "n": -5})
    with pytest.raises(TLSFinderError, match="density"):
        model_from_config({"name": "PSS", "density": 0})
    with pytest.raises(TLSFinderError, match="composition"):
        model_from_config({"name": "KA2", "composition": [0.5, -0.2, 0.2]})
    with pytest.raises(TLSFinderError, match="composition"):
        model_from_config({"name": "KA2", "composition": [1, 1, 0]})
    assert model_from_config({"name": "KA2", "composition": [0.6, 0.2, 0.2]}).counts.tolist() == [720, 240, 240]
    with pytest.raises(TLSFinderError, match="polydispersity"):
        model_from_config({"name": "KA2", "polydispersity": 0.2})
