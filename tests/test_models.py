"""The model definitions: LAMMPS and our own code agree; the physics of the pair forms holds."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from tlsfinder import TLSFinderError, potentials
from tlsfinder.engine import Engine
from tlsfinder.models import KA2, KA2_EPS, KA2_SIGMA, PSS, model_from_config, pss_diameter_bounds
from tlsfinder.potentials import PairForm


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


FORMS = [PairForm.lennard_jones(2.5), PairForm.soft_sphere(1.25)]


@pytest.mark.parametrize("form", FORMS)
def test_x_and_x2_evaluators_are_the_same_function(form):
    """The x-family (numpy, LAMMPS table, Hessian) and the x2-family (compiled kernels) agree to rounding,
    and each derivative is the derivative of the energy (central differences)."""
    c = form.coefficients
    x = np.linspace(0.75, form.x_c * 0.999, 4001)
    x2 = x * x
    np.testing.assert_allclose(potentials.energy_x2(x2, *c), form.u(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(x * potentials.force_x2(x2, *c), form.du(x), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(potentials.curvature_x2(x2, *c), form.d2u(x), rtol=1e-13, atol=1e-12)
    # truncation ~ h^2 u''' / 6 and rounding ~ 1e-16 u / h are both below 1e-8 for x > 0.9
    x, h = x[x > 0.9], 1e-6
    fd1 = (form.u(x + h) - form.u(x - h)) / (2 * h)
    fd2 = (form.du(x + h) - form.du(x - h)) / (2 * h)
    np.testing.assert_allclose(form.du(x), fd1, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(form.d2u(x), fd2, rtol=1e-7, atol=1e-7)


@numba.njit
def _compiled(x, c):
    out = np.empty((6, x.shape[0]))
    for k in range(x.shape[0]):
        x2 = x[k] * x[k]
        out[0, k] = potentials.energy_x2_jit(x2, c[0], c[1], c[2], c[3], c[4])
        out[1, k] = potentials.force_x2_jit(x2, c[0], c[1], c[2], c[3], c[4])
        out[2, k] = potentials.curvature_x2_jit(x2, c[0], c[1], c[2], c[3], c[4])
        out[3, k] = potentials.energy_x(x[k], c[0], c[1], c[2], c[3], c[4])
        out[4, k] = potentials.slope_x(x[k], c[0], c[1], c[2], c[3], c[4])
        out[5, k] = potentials.curvature_x(x[k], c[0], c[1], c[2], c[3], c[4])
    return out


@pytest.mark.parametrize("form", FORMS)
def test_compiled_evaluators_equal_the_numpy_ones_bit_for_bit(form):
    c = np.array(form.coefficients)
    x = np.linspace(0.75, form.x_c * 0.999, 1001)
    got = _compiled(x, c)
    x2 = x * x
    for row, want in enumerate([potentials.energy_x2(x2, *c), potentials.force_x2(x2, *c),
                                potentials.curvature_x2(x2, *c), form.u(x), form.du(x), form.d2u(x)]):
        assert np.array_equal(got[row], want), row


def _eval_lepton(expr: str, **values) -> float:
    """Evaluate a Lepton expression (the subset we write: + - * / ^, step, abs) for scalar ``values``."""
    py = expr.replace("^", "**")
    return float(eval(py, {"step": lambda v: 1.0 if v >= 0 else 0.0, "abs": abs}, values))  # noqa: S307


@pytest.mark.parametrize("form", FORMS)
def test_lepton_expression_is_the_pair_form(form):
    x = np.linspace(0.8, form.x_c * 0.999, 37)
    expr = form.lepton("s", "eps")
    for s, eps in ((1.0, 1.0), (0.88, 0.5)):
        got = [_eval_lepton(expr, r=xi * s, s=s, eps=eps) for xi in x]
        np.testing.assert_allclose(got, eps * potentials.energy_x2(x * x, *form.coefficients), rtol=1e-12, atol=1e-13)


def test_lammps_lepton_commands_give_the_model_energy(tmp_path):
    """The pair_coeff expressions LAMMPS receives (KA2 lepton, PSS lepton/sphere) equal v_ij of the model."""
    ka2 = KA2(n=300, density=1.35, lammps_style="lepton")
    for cmd in ka2.lammps_commands(tmp_path)[1:-1]:
        a, b, expr, cut = re.fullmatch(r'pair_coeff (\d) (\d) "(.*)" (\S+)', cmd).groups()
        t, u = int(a) - 1, int(b) - 1
        s, eps = KA2_SIGMA[t, u], KA2_EPS[t, u]
        assert float(cut) == pytest.approx(2.5 * s)
        for r in (0.9 * s, 1.3 * s, 2.4 * s):
            want = eps * ka2.form.u(r / s)
            assert _eval_lepton(expr, r=r) == pytest.approx(want, rel=1e-12, abs=1e-13)
    pss = PSS(n=300, density=1.0)
    species = pss.make_species(np.random.default_rng(1))
    ntypes, types = pss.lammps_types(species)
    cuts = np.zeros((ntypes, ntypes))
    for cmd in pss.lammps_commands(tmp_path, species)[1:-1]:
        a, b, expr, cut = re.fullmatch(r'pair_coeff (\d+) (\d+) "(.*)" (\S+)', cmd).groups()
        cuts[int(a) - 1, int(b) - 1] = cuts[int(b) - 1, int(a) - 1] = float(cut)
        for si, sj in ((0.6, 1.2), (1.0, 1.0)):
            s = float(pss.sigma_ij(si, sj))
            for r in (0.9 * s, 1.2 * s, 1.3 * s):
                want = pss.form.u(r / s) if r < pss.x_c * s else 0.0
                assert _eval_lepton(expr, r=r, radi=si / 2, radj=sj / 2) == pytest.approx(want, rel=1e-12, abs=1e-13)
    # the per-bin cutoffs cover every pair's own cutoff x_c s_ij, and drop most of the global one
    t = types - 1
    need = pss.x_c * pss.sigma_ij(species[:, None], species[None, :])
    assert np.all(need <= cuts[t[:, None], t[None, :]])
    assert np.mean(cuts[t[:, None], t[None, :]] ** 3) < 0.6 * pss.max_cutoff(species) ** 3


def test_ka2_composition_and_counts():
    m = KA2(n=1200, density=1.35)
    assert m.counts.tolist() == [800, 200, 200]  # A:B:C = 4:1:1 (Mocanu et al. 2023, Sec. II.B)
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
