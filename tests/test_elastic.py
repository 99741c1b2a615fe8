"""Elastic moduli: AQS and the Hessian route against the analytic lattice sums of an FCC crystal,
against each other in small glasses, and the deformed-box geometry against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tlsfinder import TLSFinderError
from tlsfinder import elastic as el
from tlsfinder.models import KA2
from tlsfinder.potentials import smoothing_coefficients_lj


def fcc(a: float, m: int):
    """m^3 conventional cells of an FCC lattice of constant a: (positions, box)."""
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.array([[i, j, k] for i in range(m) for j in range(m) for k in range(m)], dtype=float)
    return ((g[:, None, :] + base[None]) * a).reshape(-1, 3), np.full(3, m * a)


def lj_derivatives(r, x_c=2.5):
    """v'(r), v''(r) of the KA2 A-A pair (eps = sigma = 1): 4 (r^-12 - r^-6) plus the smoothing
    polynomial 4 (C0 + C2 r^2 + C4 r^4), written out here independently of the model code."""
    _, c2, c4 = smoothing_coefficients_lj(x_c)
    v1 = 4 * (-12 * r**-13 + 6 * r**-7 + 2 * c2 * r + 4 * c4 * r**3)
    v2 = 4 * (156 * r**-14 - 42 * r**-8 + 2 * c2 + 12 * c4 * r**2)
    return v1, v2


def fcc_lattice_sums(a: float, x_c=2.5):
    """Cubic Born constants C11, C12, C44 and the pressure p of the FCC crystal from the sums over
    the neighbours R of one atom: C_abcd = 1/(2 Omega) sum_R (v'' - v'/R) R_a R_b R_c R_d / R^2,
    p = -1/(6 Omega) sum_R v' R, Omega = a^3/4."""
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    rng = range(-4, 5)
    cells = np.array([[i, j, k] for i in rng for j in rng for k in rng], dtype=float)
    R = ((cells[:, None, :] + base[None]) * a).reshape(-1, 3)
    r = np.linalg.norm(R, axis=1)
    keep = (r > 0) & (r < x_c)
    R, r = R[keep], r[keep]
    v1, v2 = lj_derivatives(r, x_c)
    w = (v2 - v1 / r) / r**2
    omega = a**3 / 4
    c11 = np.sum(w * R[:, 0] ** 4) / (2 * omega)
    c12 = np.sum(w * R[:, 0] ** 2 * R[:, 1] ** 2) / (2 * omega)
    c44 = c12  # Cauchy relation of central pair forces, kept explicit
    p = -np.sum(v1 * r) / (6 * omega)
    return c11, c12, c44, p


def _fcc_model(a, m=4):
    pos, box = fcc(a, m)
    n = len(pos)
    return KA2(n=n, density=n / box.prod()), pos, box, np.zeros(n, dtype=np.int64)


@pytest.mark.parametrize("a", [1.50, 1.60])
def test_fcc_hessian_route_matches_lattice_sums(a):
    """C11 - p, C12 and C44 - p (Wallace's stress-strain coefficients for linear strain at pressure p)
    from the strain-energy Hessian; G = C44 - p and K = (C11 + 2 C12)/3 + p/3."""
    model, pos, box, species = _fcc_model(a)
    c11, c12, c44, p = fcc_lattice_sums(a)
    xx = np.diag([1.0, 0, 0])
    yy = np.diag([0, 1.0, 0])
    resp = el.strain_response(model, pos, box, species, [xx, yy, el.SHEAR_XY])
    assert resp.pressure == pytest.approx(p, rel=1e-10)
    assert resp.pressure == pytest.approx(model.pressure(pos, box, species), rel=1e-10)
    scale = c11
    # every atom of FCC is an inversion centre: the affine deformation is already relaxed
    assert np.abs(resp.nonaffine).max() < 1e-9 * scale
    assert resp.relaxed[0, 0] == pytest.approx(c11 - p, rel=1e-9)
    assert resp.relaxed[0, 1] == pytest.approx(c12, rel=1e-9)
    assert resp.relaxed[2, 2] == pytest.approx(c44 - p, rel=1e-9)
    hm = el.hessian_moduli(model, pos, box, species)
    assert hm.G == pytest.approx(c44 - p, rel=1e-9)
    assert hm.K == pytest.approx((c11 + 2 * c12) / 3 + p / 3, rel=1e-9)


@pytest.mark.parametrize("a", [1.50, 1.60])
def test_fcc_aqs_matches_lattice_sums(a):
    model, pos, box, species = _fcc_model(a)
    c11, c12, c44, p = fcc_lattice_sums(a)
    res = el.aqs_moduli(model, pos, box, species)
    assert res.pressure == pytest.approx(p, rel=1e-10)
    # finite strains up to 1e-4: a truncation error of order (3e-4)^2 times the anharmonicity
    assert res.G == pytest.approx(c44 - p, rel=1e-5)
    assert res.K == pytest.approx((c11 + 2 * c12) / 3 + p / 3, rel=1e-5)


@pytest.fixture(scope="module", params=["ka2_small", "pss_small"])
def glass(request):
    """An inherent structure quenched from the session's N = 300 liquid."""
    model, pos, _, species = request.getfixturevalue(request.param)
    x, _, fmax = el.relax(el.Deformed(model, model.box), pos, species, ftol=1e-10)
    assert fmax <= 1e-10
    return model, x, species


def test_glass_aqs_and_hessian_moduli_agree(glass):
    """G and K of a quenched N = 300 glass: AQS (re-minimised strains +-5e-5, +-1e-4) and the Hessian
    route agree; the non-affine term is a large part of G, so this tests the correction too."""
    model, pos, species = glass
    hm = el.hessian_moduli(model, pos, model.box, species)
    aqs = el.aqs_moduli(model, pos, model.box, species)
    assert hm.G < 0.8 * hm.G_born  # a glass relaxes non-affinely
    assert aqs.G == pytest.approx(hm.G, rel=1e-3)
    assert aqs.K == pytest.approx(hm.K, rel=1e-3)
    assert aqs.pressure == pytest.approx(hm.pressure, rel=1e-9)
    # the relaxed non-affine displacement at gamma = 1e-4 is the linear response gamma u, u = -H^+ Xi
    u_aqs = aqs.nonaffine["shear"][1e-4].ravel()
    u_lin = 1e-4 * hm.response.u[0]
    assert np.abs(u_aqs - u_lin).max() < 0.03 * np.abs(u_lin).max()


def test_aqs_retries_at_smaller_strains_when_the_response_is_anharmonic(ka2_small):
    """At strains +-4e-3, +-8e-3 the non-affine response of a quenched N = 300 KA2 glass is no longer
    odd in the strain to 20 % (its quadratic part grows with the strain), which the identity test
    cannot tell from a plastic event: without retries AQS refuses; with them it retries at strains
    4 times smaller, which pass, and G, K agree with the Hessian route."""
    model, pos, _, species = ka2_small
    x, _, _ = el.relax(el.Deformed(model, model.box), pos, species, ftol=1e-10)
    with pytest.raises(TLSFinderError, match="changed identity"):
        el.aqs_moduli(model, x, model.box, species, strains=(4e-3, 8e-3), shrink_tries=0)
    res = el.aqs_moduli(model, x, model.box, species, strains=(4e-3, 8e-3))
    assert res.strains == pytest.approx((1e-3, 2e-3), rel=1e-12)
    assert len(res.problems) == 1 and "strains up to 0.008" in res.problems[0]
    hm = el.hessian_moduli(model, x, model.box, species)
    assert res.G == pytest.approx(hm.G, rel=3e-3)
    assert res.K == pytest.approx(hm.K, rel=3e-3)
    # a set of strains that never passes: every attempt is named in the error
    with pytest.raises(TLSFinderError, match="every strain size.*0.008.*0.002"):
        el.aqs_moduli(model, x, model.box, species, strains=(4e-3, 8e-3), identity_tol=1e-4, shrink_tries=1)
    with pytest.raises(TLSFinderError, match="shrink"):
        el.aqs_moduli(model, x, model.box, species, shrink=1.0)


def test_deformed_geometry_against_finite_differences(ka2_small):
    """In a sheared and stretched box: forces are -grad E, the Hessian is -grad F, and the virial
    stress sigma_xy is (1/V) dE/dgamma of the affine deformation."""
    model, pos, _, species = ka2_small
    F = np.array([[1.0, 0.04, 0.0], [0.0, 1.01, 0.0], [0.0, 0.0, 0.99]])
    d = el.Deformed(model, model.box, F)
    x = pos @ F.T
    e, f = d.energy_forces(x, None, species)
    hess = d.hessian(x, None, species)
    h = 1e-6
    for a, k in [(0, 0), (17, 1), (123, 2)]:
        xp, xm = x.copy(), x.copy()
        xp[a, k] += h
        xm[a, k] -= h
        grad = (d.energy(xp, None, species) - d.energy(xm, None, species)) / (2 * h)
        assert f[a, k] == pytest.approx(-grad, rel=1e-5, abs=1e-6)
        col = -(d.energy_forces(xp, None, species)[1] - d.energy_forces(xm, None, species)[1]) / (2 * h)
        np.testing.assert_allclose(hess[:, 3 * a + k].toarray().ravel(), col.ravel(), rtol=1e-5, atol=1e-4)
    g = 1e-6
    ep = el.Deformed(model, model.box, (np.eye(3) + g * el.SHEAR_XY) @ F)
    em = el.Deformed(model, model.box, (np.eye(3) - g * el.SHEAR_XY) @ F)
    s = pos  # reference coordinates held fixed: an affine deformation
    dE = (ep.energy(s @ ep.F.T, None, species) - em.energy(s @ em.F.T, None, species)) / (2 * g)
    assert d.stress(x, species)[0, 1] == pytest.approx(dE / d.volume, rel=1e-6)
    # undeformed: the stress gives the model's pressure
    d0 = el.Deformed(model, model.box)
    assert el.pressure_of(d0.stress(pos, species)) == pytest.approx(model.pressure(pos, model.box, species), rel=1e-10)


def test_not_a_minimum_is_refused(ka2_small):
    model, pos, _, species = ka2_small  # a liquid configuration: large forces
    with pytest.raises(TLSFinderError, match="not a minimum"):
        el.hessian_moduli(model, pos, model.box, species)
    with pytest.raises(TLSFinderError, match="not a minimum"):
        el.aqs_moduli(model, pos, model.box, species)


def test_identity_change_is_detected():
    """A non-affine displacement that is not odd in the strain (a jump to another minimum at one
    sign) or not linear in it is reported, never differentiated."""
    rng = np.random.default_rng(0)
    u1 = rng.normal(size=(10, 3)) * 1e-4
    ok = {1e-4: u1, -1e-4: -u1, 2e-4: 2 * u1, -2e-4: -2 * u1, 0.0: 0 * u1}
    el._check_identity(ok, "shear", 0.2)
    hop = np.zeros_like(u1)
    hop[3] = 0.3  # one particle moved by 0.3 sigma
    with pytest.raises(TLSFinderError, match="not odd"):  # a jump at one sign only
        el._check_identity({**ok, 2e-4: 2 * u1 + hop}, "shear", 0.2)
    with pytest.raises(TLSFinderError, match="not linear"):  # jumps at both signs, symmetric
        el._check_identity({**ok, 2e-4: 2 * u1 + hop, -2e-4: -2 * u1 - hop}, "shear", 0.2)


def test_sound_speeds_and_debye_frequency():
    G, K, rho = 15.0, 50.0, 1.2
    c_t, c_l = el.sound_speeds(G, K, rho)
    assert rho * c_t**2 == pytest.approx(G)
    assert rho * c_l**2 == pytest.approx(K + 4 * G / 3)
    # equal speeds: omega_D = (6 pi^2 rho)^(1/3) c, the one-branch Debye result
    assert el.debye_frequency(2.0, 2.0, rho) == pytest.approx((6 * math.pi**2 * rho) ** (1 / 3) * 2.0)
    assert el.first_phonon_frequency(c_t, 10.0) == pytest.approx(2 * math.pi * c_t / 10.0)
    with pytest.raises(TLSFinderError, match="G > 0"):
        el.sound_speeds(-1.0, K, rho)
