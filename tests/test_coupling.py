"""TLS-strain coupling and the 1D check along a path.

* an exactly solvable double well: two ordered binary alloys on one FCC lattice (L1_0 and L1_1),
  where every site is an inversion centre, so a homogeneous strain leaves all forces zero and
  Delta(eps) is a lattice sum; its derivative is written out here independently of the model code;
* the IS0-IS1 double well of a small KA2 glass (conftest): convergence, the exact stress route,
  superposition of strains, identity changes at large strain, and Eq. 13's soft-mode term against
  eigenvalues of the strained Hessians;
* orientational averages against sampled directions; the tunneling strength in reduced and SI units;
* the Hessian along the IS0-IS1 band.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tlsfinder import TLSFinderError, units
from tlsfinder import coupling as C
from tlsfinder import elastic as el
from tlsfinder import modes
from tlsfinder import neb as N
from tlsfinder.models import KA2, KA2_EPS, KA2_SIGMA
from tlsfinder.potentials import smoothing_coefficients_lj

# ---------------------------------------------------------------------------
# exactly solvable double well
# ---------------------------------------------------------------------------


def ordered_fcc(a: float, m: int, pattern: str):
    """FCC sites of m^3 conventional cells (constant a) with species 0/1 in the L1_0 (alternating
    (001) planes) or L1_1 (alternating (111) planes) order: positions sorted by species, box."""
    g = np.array([[i, j, k] for i in range(2 * m) for j in range(2 * m) for k in range(2 * m)
                  if (i + j + k) % 2 == 0])  # units of a/2
    s = g[:, 2] % 2 if pattern == "L10" else (g.sum(axis=1) // 2) % 2
    order = np.argsort(s, kind="stable")
    return g[order] * (a / 2.0), np.sort(s), np.full(3, m * a)


def lattice_virial(pos, species, box, x_c=2.5):
    """T_ab = dE/deps_ab = (1/2) sum_i sum_j,images v'(r) d_a d_b / r for a structure whose every
    site is an inversion centre (no relaxation): KA2 pair v = 4 eps [(s/r)^12 - (s/r)^6 + C0 + C2 (r/s)^2
    + C4 (r/s)^4] below x_c s."""
    _, c2, c4 = smoothing_coefficients_lj(x_c)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)]) * box
    t = np.zeros((3, 3))
    for i in range(len(pos)):
        d = (pos[None, :, :] + shifts[:, None, :] - pos[i]).reshape(-1, 3)
        sj = np.tile(species, len(shifts))
        r = np.linalg.norm(d, axis=1)
        eps, sig = KA2_EPS[species[i], sj], KA2_SIGMA[species[i], sj]
        keep = (r > 1e-9) & (r < x_c * sig)
        d, r, eps, sig = d[keep], r[keep], eps[keep], sig[keep]
        x = r / sig
        du = 4 * (-12 * x**-13 + 6 * x**-7 + 2 * c2 * x + 4 * c4 * x**3)
        w = eps / sig * du / r
        t += 0.5 * np.einsum("p,pa,pb->ab", w, d, d)
    return t


@pytest.fixture(scope="module")
def alloys():
    pa, sp_a, box = ordered_fcc(1.6, 4, "L10")
    pb, sp_b, _ = ordered_fcc(1.6, 4, "L11")
    assert np.array_equal(sp_a, sp_b)
    n = len(pa)
    return KA2(n=n, density=n / box.prod()), box, sp_a, pa, pb


def test_toy_double_well_matches_lattice_sums(alloys):
    model, box, species, pa, pb = alloys
    exact = lattice_virial(pb, species, box) - lattice_virial(pa, species, box)
    # L1_1 is trigonal about [111]: shear entries are present and test the tensor-shear convention
    assert abs(exact[0, 1]) > 1.0 and exact[0, 1] == pytest.approx(exact[1, 2], rel=1e-10)
    r = C.strain_coupling(model, box, species, pa, pb, quantum=False)
    assert r.identity_ok.all() and not r.problems
    assert r.Delta_V == pytest.approx(model.energy(pb, box, species) - model.energy(pa, box, species), rel=1e-12)
    scale = np.abs(exact).max()
    assert np.abs(r.dDelta_V - exact).max() < 1e-7 * scale
    assert np.abs(r.dDelta_V_stress - exact).max() < 1e-10 * scale
    assert np.allclose(r.gamma(), 0.5 * exact, rtol=1e-7, atol=1e-7 * scale)
    # swapping the minima flips the sign
    rs = C.strain_coupling(model, box, species, pb, pa, quantum=False, amplitudes=(5e-5, 1e-4))
    assert np.abs(rs.dDelta_V + exact).max() < 1e-7 * scale


# ---------------------------------------------------------------------------
# KA2 double well
# ---------------------------------------------------------------------------

AMPS = (2e-5, 4e-5)


@pytest.fixture(scope="module")
def ka2_dw(ka2_three_minima):
    model, species, lib = ka2_three_minima
    return model, species, lib[0], lib[1], C.strain_coupling(model, model.box, species, lib[0], lib[1], amplitudes=AMPS)


def test_ka2_gamma_converged_and_exact(ka2_dw):
    _, _, _, _, r = ka2_dw
    assert r.identity_ok.all() and not r.problems, r.problems
    g = r.dDelta_V
    assert np.allclose(g, g.T)
    scale = np.abs(g).max()
    # the two amplitudes agree with their Richardson estimate, which agrees with the exact V (sigma_B - sigma_A)
    for k in range(2):
        assert np.abs(r.dDelta_V_h[k] - g).max() < 1e-3 * scale
    assert np.abs(g - r.dDelta_V_stress).max() < 1e-5 * scale
    assert np.abs(g - r.dDelta_V_stress).max() < np.abs(r.dDelta_V_h[0] - r.dDelta_V_stress).max() + 1e-9 * scale
    assert r.max_nonaffine.max() < 0.01


def test_ka2_gamma_superposition(ka2_dw):
    """A general strain tensor changes Delta by sum_ij dDelta_ij eps_ij (shear entries counted twice)."""
    model, species, pa, pb, r = ka2_dw
    rng = np.random.default_rng(5)
    eps = rng.normal(size=(3, 3))
    eps = 2e-5 * (eps + eps.T) / np.abs(eps + eps.T).max()
    delta = []
    for sign in (1.0, -1.0):
        d = el.Deformed(model, model.box, np.eye(3) + sign * eps)
        e = []
        for x0 in (pa, pb):
            x0 = el.relax(el.Deformed(model, model.box), x0, species)[0]
            x, en, fm = el._newton(d, x0 @ d.F.T, species, 1e-10, 20)
            assert fm < 1e-9
            e.append(en)
        delta.append(e[1] - e[0])
    predicted = 2.0 * float(np.sum(r.dDelta_V * eps))
    assert delta[0] - delta[1] == pytest.approx(predicted, rel=2e-3)


def test_ka2_quantum_term_matches_strained_eigenvalues(ka2_dw):
    """dw/deps of the tracked soft mode (Rayleigh quotients) against the central difference of the
    eigenvalue of the strained, re-minimised structures (zz strain)."""
    model, species, pa, pb, r = ka2_dw
    assert r.quantum and min(r.mode_overlap) >= 0.2
    h = 2e-5
    for x0, w0, dw in ((pa, r.w_A, r.dw_A), (pb, r.w_B, r.dw_B)):
        x0 = el.relax(el.Deformed(model, model.box), x0, species)[0]
        lam0, v0 = C._soft_modes(model, x0, model.box, species, 6)
        m = int(np.argmin(np.abs(lam0 - w0**2)))
        w = []
        for sign in (1.0, -1.0):
            d = el.Deformed(model, model.box, np.eye(3) + sign * h * C.voigt_direction(2))
            x = el._newton(d, x0 @ d.F.T, species, 1e-10, 20)[0]
            lam, vec = C._soft_modes(d, x, None, species, 6)
            j = int(np.argmax(np.abs(vec.T @ v0[:, m])))
            w.append(math.sqrt(lam[j]))
        assert (w[0] - w[1]) / (2 * h) == pytest.approx(dw[2, 2], rel=1e-2)
    ar = units.get_preset("KA2", "Ar")
    q = r.dDelta(ar) - r.dDelta()
    assert np.allclose(q, (r.dw_B - r.dw_A) / (2 * math.sqrt(ar.m_tilde)))


def test_identity_change_is_detected_never_differentiated(ka2_dw):
    model, species, pa, pb, r = ka2_dw
    big = C.strain_coupling(model, model.box, species, pa, pb, amplitudes=(1e-3, 2e-3), quantum=False,
                            shrink_tries=0)
    assert not big.identity_ok.all() and big.problems
    bad = [C.VOIGT[c] for c in np.flatnonzero(~big.identity_ok)]
    good = [C.VOIGT[c] for c in np.flatnonzero(big.identity_ok)]
    for i, j in bad:
        assert math.isnan(big.dDelta_V[i, j])
    for i, j in good:  # what was kept still agrees with the exact route (to the O(h^4) error of 2e-3)
        assert big.dDelta_V[i, j] == pytest.approx(r.dDelta_V_stress[i, j], rel=1e-2, abs=1e-2)
    assert all(math.isnan(v) for v in C.orientational_averages(big.gamma()))
    with pytest.raises(TLSFinderError, match="identity|vanish|moved"):
        C.strain_coupling(model, model.box, species, pa, pb, amplitudes=(1e-3, 2e-3), quantum=False,
                          shrink_tries=0, strict=True)


def test_bad_input(ka2_three_minima):
    model, species, lib = ka2_three_minima
    rng = np.random.default_rng(1)
    with pytest.raises(TLSFinderError, match="not a minimum"):
        C.strain_coupling(model, model.box, species, lib[0] + rng.normal(0, 0.01, lib[0].shape), lib[1])
    with pytest.raises(TLSFinderError, match="amplitudes"):
        C.strain_coupling(model, model.box, species, lib[0], lib[1], amplitudes=(2e-4, 1e-4))
    with pytest.raises(TLSFinderError, match="same minimum"):
        C.strain_coupling(model, model.box, species, lib[0], lib[0] + model.box, quantum=False)


# ---------------------------------------------------------------------------
# orientational averages, tunneling strength
# ---------------------------------------------------------------------------


def test_orientational_averages_against_sampling():
    rng = np.random.default_rng(3)
    g = rng.normal(size=(3, 3))
    g = g + g.T
    n = rng.normal(size=(400000, 3))
    n /= np.linalg.norm(n, axis=1)[:, None]
    m = np.cross(n, rng.normal(size=n.shape))  # uniform direction in the plane normal to n
    m /= np.linalg.norm(m, axis=1)[:, None]
    gl2 = np.einsum("pi,ij,pj->p", n, g, n) ** 2
    gt2 = np.einsum("pi,ij,pj->p", n, g, m) ** 2
    gl, gt = C.orientational_averages(g)
    assert gl**2 == pytest.approx(gl2.mean(), abs=4 * gl2.std() / math.sqrt(len(n)))
    assert gt**2 == pytest.approx(gt2.mean(), abs=4 * gt2.std() / math.sqrt(len(n)))
    # closed cases: isotropic gamma couples only to longitudinal strain; pure shear g (xy + yx)
    assert C.orientational_averages(2.0 * np.eye(3)) == pytest.approx((2.0, 0.0))
    shear = np.zeros((3, 3))
    shear[0, 1] = shear[1, 0] = 3.0
    assert C.orientational_averages(shear) == pytest.approx((3.0 * math.sqrt(4 / 15), 3.0 * math.sqrt(1 / 5)))


def test_tunneling_strength_reduced_and_si():
    ar = units.get_preset("KA2", "Ar")
    G, K, rho_n, P = 14.0, 60.0, 1.35, 2e-3
    out = C.tunneling_strength([3.0, 5.0], [2.0, 4.0], P, G, K, rho_n, preset=ar)
    assert out["C_t"] == pytest.approx(P * 10.0 / G)
    assert out["C_l"] == pytest.approx(P * 17.0 / (K + 4 * G / 3))
    c_t, c_l = el.sound_speeds(G, K, rho_n)
    assert (out["c_t"], out["c_l"]) == pytest.approx((c_t, c_l))
    # C is dimensionless: the same from the SI ingredients
    assert out["C_t_si_Ar"] == pytest.approx(out["C_t"], rel=1e-12)
    assert out["C_l_si_Ar"] == pytest.approx(out["C_l"], rel=1e-12)
    assert out["gamma_t_rms_eV_Ar"] == pytest.approx(math.sqrt(10.0) * 125.2 * 8.617333262e-5, rel=1e-9)
    with pytest.raises(TLSFinderError, match="G > 0"):
        C.tunneling_strength(1.0, 1.0, P, -1.0, K, rho_n)


# ---------------------------------------------------------------------------
# 1D check along the path
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def band01(ka2_three_minima):
    model, species, lib = ka2_three_minima
    s = N.NEBSettings(n_images=16, fmax=1e-3, max_steps=3000, check_every=200)
    res = N.neb_pair(model, model.box, species, lib[0], lib[1], s)
    assert res[0].status == "dw" and res[0].band.converged
    return model, species, res[0].band


def test_hessian_along_the_band(band01):
    model, species, band = band01
    ps = modes.path_spectrum(model, band.images, model.box, species, k=8)
    last = len(band.images) - 1
    # minima: all curvatures positive, the path leaves along a soft mode (its eigenvalue is kappa)
    for i in (0, last):
        assert ps.n_negative[i] == 0 and ps.transverse[i, 0] > 0
        assert np.abs(ps.eigenvalues[i] - ps.kappa[i]).min() < 1e-8 * abs(ps.kappa[i])
        assert ps.transverse[i, 0] > ps.kappa[i]
    # saddle: exactly one negative mode, along the path; everything transverse to the path is stable
    k = ps.saddle_index
    assert ps.n_negative[k] == 1 and ps.overlaps[k, 0] > 0.95
    assert ps.kappa[k] < 0 and ps.kappa[k] == pytest.approx(ps.eigenvalues[k, 0], rel=0.05)
    assert not ps.transverse_negative.any()
    assert not ps.doubtful
    # the transverse spectrum is the full one without the path direction: interlacing
    assert np.all(ps.transverse[:, :-1] >= ps.eigenvalues[:, :-1] - 1e-8)
    assert np.all(ps.transverse[:, :-1] <= ps.eigenvalues[:, 1:] + 1e-8)


def test_linear_mode_overlaps(band01):
    """Khomenko et al. (2021) Eqs. 7-8 for the modes of IS0 against the band's displacements."""
    model, species, band = band01
    nm = modes.normal_modes(model, band.images[0], model.box, species)
    r = modes.band_displacements(band.images, model.box, band.climb_index)
    ov = {k: modes.mode_overlaps(nm, v) for k, v in r.items()}
    for o in ov.values():
        assert np.sum(o.c_alpha**2) == pytest.approx(1.0, abs=1e-10)  # complete modes, translation removed
        assert np.all(o.a_alpha >= o.c_alpha - 1e-12)  # |sum r_i.v_i| <= sum |r_i||v_i|
    # the band leaves IS0 along the mode path_spectrum takes as its tangent there
    ps = modes.path_spectrum(model, band.images[:3], model.box, species, k=6)
    lam = nm.eigenvalues
    j = int(np.argmin(np.abs(lam - ps.kappa[0])))
    assert ov["r_12"].c_alpha[j] == pytest.approx(ps.end_overlap[0], rel=1e-6)
    # the tangent is closer to a single linear mode than the minimum-to-minimum displacement is
    assert ov["r_12"].c > ov["r_AB"].c
    # a ignores polarisation: a mode with every particle's displacement rotated keeps a = 1
    rng = np.random.default_rng(2)
    v = nm.vectors[:, 0].reshape(-1, 3)
    q = np.linalg.qr(rng.normal(size=(len(v), 3, 3)))[0]
    rot = np.einsum("pij,pj->pi", q, v)
    assert modes.overlap_a(nm.vectors[:, :1], rot)[0] == pytest.approx(1.0, abs=1e-12)
    assert modes.overlap_c(nm.vectors[:, :1], rot)[0] < 0.5
