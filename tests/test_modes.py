"""Normal modes: the Hessian at inherent structures against finite differences, the whole spectrum of
an FCC crystal against its lattice dynamics, dense against shift-invert, masses, PR and A_4."""

from __future__ import annotations

import math

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.sparse as sp
from conftest import write_is_library

from tlsfinder import TLSFinderError
from tlsfinder import elastic as el
from tlsfinder import modes as M
from tlsfinder.commands import modes as modes_cli
from tlsfinder.models import KA2
from tlsfinder.potentials import smoothing_coefficients_lj


_QUENCHED: dict = {}


def _quench(request, name):
    """An inherent structure quenched from the session's N = 300 liquid ``name`` (once per module)."""
    if name not in _QUENCHED:
        model, pos, _, species = request.getfixturevalue(name)
        x, _, fmax = el.relax(el.Deformed(model, model.box), pos, species, ftol=1e-10)
        assert fmax <= 1e-10
        _QUENCHED[name] = (model, x, species)
    return _QUENCHED[name]


@pytest.fixture(params=["ka2_small", "pss_small"])
def glass(request):
    return _quench(request, request.param)


@pytest.fixture
def ka2_glass(request):
    return _quench(request, "ka2_small")


def test_hessian_matches_finite_differences_at_a_minimum(glass):
    model, pos, species = glass
    hess = model.hessian(pos, model.box, species)
    assert abs(hess - hess.T).max() < 1e-10
    h = 1e-5
    rng = np.random.default_rng(1)
    for a in rng.choice(model.n, 4, replace=False):
        for k in range(3):
            p1, p2 = pos.copy(), pos.copy()
            p1[a, k] += h
            p2[a, k] -= h
            col = -(model.energy_forces(p1, model.box, species)[1] - model.energy_forces(p2, model.box, species)[1]) / (2 * h)
            exact = hess[:, 3 * a + k].toarray().ravel()
            assert np.abs(exact - col.ravel()).max() < 1e-6 * np.abs(exact).max()


def _fcc(a, m):
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    g = np.array([[i, j, k] for i in range(m) for j in range(m) for k in range(m)], dtype=float)
    return ((g[:, None, :] + base[None]) * a).reshape(-1, 3), np.full(3, m * a)


def _fcc_spectrum(a, m, x_c=2.5):
    """All 3N eigenvalues of the FCC crystal of m^3 cells from its lattice dynamics,
    D(q) = sum_R k(R) (1 - cos q.R), k(R) = v'' n n + v'/R (1 - n n), over the N wave vectors
    q = 2 pi n / (m a) that the periodic box allows (n in [0, 2m)^3 modulo m (1, 1, 1), the
    reciprocal lattice of FCC)."""
    _, c2, c4 = smoothing_coefficients_lj(x_c)
    base = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([[i, j, k] for i in range(-4, 5) for j in range(-4, 5) for k in range(-4, 5)], dtype=float)
    R = ((cells[:, None, :] + base[None]) * a).reshape(-1, 3)
    r = np.linalg.norm(R, axis=1)
    keep = (r > 0) & (r < x_c)
    R, r = R[keep], r[keep]
    v1 = 4 * (-12 * r**-13 + 6 * r**-7 + 2 * c2 * r + 4 * c4 * r**3)
    v2 = 4 * (156 * r**-14 - 42 * r**-8 + 2 * c2 + 12 * c4 * r**2)
    n = R / r[:, None]
    k = (v2 - v1 / r)[:, None, None] * n[:, :, None] * n[:, None, :] + (v1 / r)[:, None, None] * np.eye(3)
    seen, out = set(), []
    for q in np.ndindex(2 * m, 2 * m, 2 * m):
        key = min(q, tuple((c + m) % (2 * m) for c in q))
        if key in seen:
            continue
        seen.add(key)
        qv = 2 * np.pi * np.array(q) / (m * a)
        dq = np.einsum("p,pab->ab", 1 - np.cos(R @ qv), k)
        out.extend(np.linalg.eigvalsh(dq))
    assert len(seen) == 4 * m**3
    return np.sort(out)


def test_fcc_spectrum_is_the_lattice_dynamics():
    """Every one of the 3N - 3 modes of a 256-atom FCC Lennard-Jones crystal (dense route, translations
    removed) equals the lattice-dynamics eigenvalue; the lowest are transverse phonons at q = 2 pi / L."""
    a, m = 1.55, 4
    pos, box = _fcc(a, m)
    n = len(pos)
    modes = M.normal_modes(KA2(n=n, density=n / box.prod()), pos, box, np.zeros(n, dtype=np.int64))
    expected = _fcc_spectrum(a, m)
    assert np.abs(expected[:3]).max() < 1e-9  # q = 0: the translations
    assert modes.complete and len(modes.eigenvalues) == 3 * n - 3
    np.testing.assert_allclose(modes.eigenvalues, expected[3:], rtol=0, atol=1e-9 * expected.max())


def test_shift_invert_matches_dense(glass):
    model, pos, species = glass
    dense = M.normal_modes(model, pos, model.box, species)
    sparse = M.normal_modes(model, pos, model.box, species, k=12, dense_max=0)
    assert sparse.method == "shift-invert" and not sparse.complete
    np.testing.assert_allclose(sparse.eigenvalues, dense.eigenvalues[:12], rtol=1e-9)
    overlap = np.abs(np.einsum("ik,ik->k", sparse.vectors, dense.vectors[:, :12]))
    gaps = np.diff(dense.eigenvalues[:13]) / dense.eigenvalues[:13].mean()
    nondeg = (gaps > 1e-3) & (np.r_[1.0, gaps[:-1]] > 1e-3)  # separated from both neighbours
    assert np.all(overlap[nondeg] > 1 - 1e-8)
    np.testing.assert_allclose(sparse.participation[nondeg], dense.participation[:12][nondeg], rtol=1e-6)
    # translations removed: a unit-mass mode has no net displacement
    assert np.abs(dense.vectors.reshape(model.n, 3, -1).sum(axis=0)).max() < 1e-10


def test_masses(ka2_glass):
    """Frequencies with masses are those of the generalised problem H u = omega^2 M u (solved here by
    scipy independently); a uniform mass m scales them by m^-1/2."""
    model, pos, species = ka2_glass
    rng = np.random.default_rng(4)
    masses = rng.uniform(0.5, 2.0, model.n)
    modes = M.normal_modes(model, pos, model.box, species, masses=masses)
    h = model.hessian(pos, model.box, species).toarray()
    w = scipy.linalg.eigh(h, np.diag(np.repeat(masses, 3)), eigvals_only=True)
    np.testing.assert_allclose(modes.eigenvalues, w[3:], rtol=1e-8, atol=1e-8 * w.max())
    unit = M.normal_modes(model, pos, model.box, species, k=10, dense_max=0)
    four = M.normal_modes(model, pos, model.box, species, masses=4.0, k=10, dense_max=0)
    np.testing.assert_allclose(four.frequencies, unit.frequencies / 2, rtol=1e-9)


def test_participation_ratio_limits():
    n = 50
    single = np.zeros(3 * n)
    single[7] = 1.0
    assert M.participation_ratio(single) == pytest.approx(1 / n)
    rng = np.random.default_rng(2)
    uniform = rng.normal(size=(n, 3))
    uniform /= np.linalg.norm(uniform, axis=1)[:, None]  # |e_i| the same for every particle
    assert M.participation_ratio(uniform.ravel()) == pytest.approx(1.0)
    half = np.zeros((n, 3))
    half[: n // 2, 0] = 1.0
    assert M.participation_ratio(half.ravel() * 3.7) == pytest.approx(0.5)  # scale-free


def test_quasi_localised_modes_of_a_glass(glass):
    """QLMs (Khomenko, Reichman, Zamponi: low frequency and PR < 0.1) of a glass quenched from the liquid
    are the modes below omega_t, the first transverse phonon from G, with PR < 0.1."""
    model, pos, species = glass
    res = M.analyse(model, pos, model.box, species)
    modes, ac = res["modes"], res["acoustic"]
    assert ac["omega_t"] == pytest.approx(2 * math.pi * math.sqrt(ac["G"] / (model.n / model.box.prod())) / model.box[0])
    qlm = res["qlm"]
    assert np.all(modes.participation[qlm] < 0.1) and np.all(modes.frequencies[qlm] < ac["omega_t"])
    assert res["n_qlm"] == int(np.sum((modes.participation < 0.1) & (modes.frequencies < ac["omega_t"])))
    assert 0 < ac["omega_t"] < ac["omega_D"]


def test_dos_normalisation_and_a4_recovers_a_power_law():
    """Frequencies drawn from D(omega) = A_4 omega^4 below omega_max (per 3N modes, 20 structures):
    fit_a4 recovers A_4 within its Poisson error; D and I are normalised per 3N."""
    n, ns, a4, wmax = 400, 20, 0.02, 1.5
    per = 3 * n * a4 * wmax**5 / 5  # expected modes below wmax per structure
    rng = np.random.default_rng(9)
    counts = rng.poisson(per, ns)
    low = wmax * rng.uniform(size=counts.sum()) ** 0.2  # inverse CDF of omega^4 on [0, wmax]
    high = rng.uniform(wmax, 10.0, size=3 * n * ns - counts.sum())
    freq = np.concatenate([low, high])
    fit = M.fit_a4(freq, n, omega_max=wmax, n_structures=ns)
    assert fit.count == counts.sum()
    assert abs(fit.A4 - a4) < 4 * fit.error
    w, i = M.integrated_dos(freq, n, n_structures=ns)
    assert i[-1] == pytest.approx(1.0)
    assert np.interp(wmax, w, i) / wmax**5 == pytest.approx(fit.A4 / 5, rel=1e-2)  # the plateau
    centres, d, edges = M.density_of_states(freq, n, bins=40, range_=(0, 10), n_structures=ns)
    assert np.sum(d * np.diff(edges)) == pytest.approx(1.0)
    with pytest.raises(TLSFinderError, match="omega_min"):
        M.fit_a4(freq, n, omega_max=0.0)


def test_not_a_minimum_is_refused(ka2_small):
    model, pos, _, species = ka2_small  # liquid: forces far from zero
    with pytest.raises(TLSFinderError, match="not a minimum: largest force"):
        M.normal_modes(model, pos, model.box, species)
    # simple cubic Lennard-Jones: zero forces by symmetry, but a saddle (negative eigenvalues)
    m, a = 5, 1.1
    sc = np.array([[i, j, k] for i in range(m) for j in range(m) for k in range(m)], dtype=float) * a
    box = np.full(3, m * a)
    ka = KA2(n=len(sc), density=len(sc) / box.prod())
    with pytest.raises(TLSFinderError, match="negative Hessian eigenvalue"):
        M.normal_modes(ka, sc, box, np.zeros(len(sc), dtype=np.int64))


def _run_cli(argv):
    parser = argparse.ArgumentParser()
    modes_cli.add_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_command_writes_modes_and_moduli(glass, tmp_path):
    """``tlsfinder modes LIB:ID``: one row per mode, the summary with both routes' moduli; a liquid
    configuration is refused, the message naming the structure."""
    model, pos, species = glass
    shaken = pos + np.random.default_rng(3).normal(0, 0.05, pos.shape)
    lib = write_is_library(tmp_path / "is_library.h5", model, species, [pos, shaken])
    summary = _run_cli(["modes", f"{lib}:0", "--out", str(tmp_path / "m"), "--aqs"])
    table = pd.read_parquet(tmp_path / "m" / "modes.parquet")
    assert len(table) == 3 * model.n - 3 and np.all(np.diff(table["frequency"]) >= 0)
    assert json.loads((tmp_path / "m" / "modes.json").read_text()) == summary
    assert summary["G_aqs"] == pytest.approx(summary["G"], rel=1e-3)
    assert summary["K_aqs"] == pytest.approx(summary["K"], rel=1e-3)
    assert summary["n_qlm"] == int(table["qlm"].sum())
    with pytest.raises(TLSFinderError, match=r"is_library.h5:1: structure is not a minimum"):
        _run_cli(["modes", f"{lib}:1", "--out", str(tmp_path / "m1")])
    assert not (tmp_path / "m1" / "modes.json").exists()


# --------------------------------------------------------------------------
# Cubic nonlinear modes (Khomenko, Reichman, Zamponi (2021), Eqs. 5-6)
# --------------------------------------------------------------------------


def _exact_u_pi_pi(model, x, box, species, p):
    """U : pi pi of a pair potential, written out independently of the code under test:
    d^2/ds^2 of grad v(|d + s dp|) = (A (n.dp)^2 + B |dp|^2) n + 2 B (n.dp) dp with
    A = v''' - 3 v''/r + 3 v'/r^2, B = v''/r - v'/r^2, v''' from the model's coefficients."""
    i, j, d, r, eps, sig = model.pairs(x, box, species)
    a12, a6, _, _, c4 = model.form.coefficients
    s = r / sig
    v1 = eps / sig * model.form.du(s)
    v2 = eps / sig**2 * model.form.d2u(s)
    v3 = eps / sig**3 * (-2184.0 * a12 * s**-15 + 336.0 * a6 * s**-9 + 24.0 * c4 * s)
    p = np.asarray(p).reshape(-1, 3)
    dp = p[j] - p[i]
    nh = d / r[:, None]
    pp = (nh * dp).sum(axis=1)
    A = v3 - 3 * v2 / r + 3 * v1 / r**2
    B = v2 / r - v1 / r**2
    g = (A * pp**2 + B * (dp * dp).sum(axis=1))[:, None] * nh + (2 * B * pp)[:, None] * dp
    out = np.zeros_like(p)
    for k in range(3):
        out[:, k] = np.bincount(j, g[:, k], minlength=len(p)) - np.bincount(i, g[:, k], minlength=len(p))
    return out.ravel()


def test_cubic_contraction_matches_the_analytic_third_derivative(glass):
    """U : pi pi by the second difference of the forces against the analytic third derivative of the
    pair potential, for a random direction, the softest mode (localised) and a scaled one."""
    model, pos, species = glass
    soft = M.normal_modes(model, pos, model.box, species, k=1, dense_max=0).vectors[:, 0]
    rng = np.random.default_rng(7)
    for p in (rng.normal(size=3 * model.n), soft, 2.5 * soft):
        exact = _exact_u_pi_pi(model, pos, model.box, species, p)
        fd = M.cubic_contraction(model, pos, model.box, species, p)
        assert np.abs(fd - exact).max() < 3e-6 * np.abs(exact).max()
        assert np.abs(fd.reshape(-1, 3).sum(axis=0)).max() < 1e-12 * np.abs(exact).max()  # no net force
        # a step 10x larger has a 100x larger truncation error (O(h^2)), the stated order
        coarse = M.cubic_contraction(model, pos, model.box, species, p, step=10 * M.NL_STEP)
        assert np.abs(coarse - exact).max() > 10 * np.abs(fd - exact).max()


class _CubicToy:
    """V = sum_i k_i q_i^2 / 2 + sum_m t_m (a_m . q)^3 / 6 in orthonormal coordinates q = Q^T (x - x0)
    of 3N - 3 dimensions orthogonal to the translations: Hessian Q K Q^T at x0, U : pi pi =
    Q A^T (t (A Q^T pi)^2).  The model interface nonlinear_mode uses (energy_forces, hessian)."""

    def __init__(self, n, k, t, a, seed=0):
        rng = np.random.default_rng(seed)
        trans = M._translations(np.ones(n))
        basis = rng.normal(size=(3 * n, 3 * n - 3))
        basis -= trans @ (trans.T @ basis)
        self.Q = np.linalg.qr(basis)[0]
        self.k, self.t, self.a = np.asarray(k, float), np.asarray(t, float), np.asarray(a, float)
        self.x0 = rng.uniform(0, 5, size=(n, 3))

    def q(self, x):
        return self.Q.T @ (np.asarray(x) - self.x0).ravel()

    def energy_forces(self, x, box, species):
        q = self.q(x)
        aq = self.a @ q
        e = 0.5 * self.k @ (q * q) + self.t @ aq**3 / 6
        grad = self.k * q + self.a.T @ (0.5 * self.t * aq**2)
        return e, -(self.Q @ grad).reshape(-1, 3)

    def hessian(self, x, box, species):
        aq = self.a @ self.q(x)
        hq = np.diag(self.k) + self.a.T @ ((self.t * aq)[:, None] * self.a)
        return sp.csr_matrix(self.Q @ hq @ self.Q.T)

    def u_pi_pi(self, p):
        return self.Q @ (self.a.T @ (self.t * (self.a @ (self.Q.T @ p)) ** 2))


def _eq5_residual(h, u, p):
    """|H pi - (H:pi pi / U:pi pi pi) U:pi pi| / |H pi|: Eq. 5 of Khomenko et al. (2021)."""
    hp = h @ p
    return np.linalg.norm(hp - (p @ hp) / (p @ u) * u) / np.linalg.norm(hp)


def test_nonlinear_mode_of_separable_cubic_potential():
    """V = sum k_i q_i^2/2 + t_i q_i^3/6: Eq. 6 maps the components y_i of pi to (t_i/k_i) y_i^2 (then
    normalises), so z_i = t_i y_i / k_i squares at each step and pi converges to the coordinate e_j of
    the largest |t_j y_j^0 / k_j|, here neither the softest nor the most anharmonic one, with
    kappa = k_j and tau = -|t_j| (orientation convention); Eq. 5 holds there."""
    n = 6
    k = np.linspace(1.0, 5.0, 3 * n - 3)
    t = np.zeros(3 * n - 3)
    t[[0, 3, 7]] = 2.0, -6.0, 8.0
    toy = _CubicToy(n, k, t, np.eye(3 * n - 3))
    start = toy.Q @ np.ones(3 * n - 3)
    z = np.abs(t * (toy.Q.T @ start) / k)
    j = int(np.argmax(z))
    assert j == 3 and np.argmin(k) != j and np.argmax(np.abs(t)) != j  # the selection rule is what decides
    box, species = np.full(3, 10.0), np.zeros(n)
    res = M.nonlinear_mode(toy, toy.x0, box, species, start, tol=1e-10)
    assert res.converged
    # z_2nd / z_max = 0.83 squares each step: about log2(log(1e-10) / log(0.83)) ~ 7 steps, not 1 or 100
    assert 5 <= res.iterations <= 10
    assert abs(abs(res.pi @ toy.Q[:, j]) - 1) < 1e-12
    assert res.kappa == pytest.approx(k[j], rel=1e-9)
    assert res.tau == pytest.approx(-abs(t[j]), rel=1e-6)
    assert res.barrier == pytest.approx(2 * k[j] ** 3 / (3 * t[j] ** 2), rel=1e-6)
    h = toy.hessian(toy.x0, box, species)
    assert _eq5_residual(h, toy.u_pi_pi(res.pi), res.pi) < 1e-8
    # the other anharmonic coordinate wins from a start that favours it, a harmonic one is never reached
    start2 = toy.Q @ (np.eye(3 * n - 3)[7] + 0.5 * np.eye(3 * n - 3)[3] + np.eye(3 * n - 3)[1])
    assert abs(M.nonlinear_mode(toy, toy.x0, box, species, start2).pi @ toy.Q[:, 7]) > 1 - 1e-10


def test_nonlinear_mode_of_one_cubic_direction_is_the_response():
    """V = sum k_i q_i^2/2 + t (a.q)^3/6: U : pi pi = t (a.pi)^2 a, so every start with a.pi != 0
    reaches pi = K^-1 a / |K^-1 a| (the linear response to a force along a, not an eigenvector)."""
    n = 5
    rng = np.random.default_rng(3)
    k = rng.uniform(0.5, 4.0, 3 * n - 3)
    a = rng.normal(size=3 * n - 3)
    a /= np.linalg.norm(a)
    toy = _CubicToy(n, k, [1.7], a[None, :], seed=1)
    expected = toy.Q @ (a / k)
    expected /= np.linalg.norm(expected)
    box, species = np.full(3, 10.0), np.zeros(n)
    res = M.nonlinear_mode(toy, toy.x0, box, species, rng.normal(size=3 * n))
    assert res.converged and res.iterations <= 3
    assert abs(res.pi @ expected) > 1 - 1e-12
    h = toy.hessian(toy.x0, box, species)
    assert res.kappa == pytest.approx(expected @ (h @ expected), rel=1e-9)
    assert _eq5_residual(h, toy.u_pi_pi(res.pi), res.pi) < 1e-8
    w = np.linalg.eigvalsh(h.toarray())
    assert abs(res.kappa - w[np.argmin(np.abs(w - res.kappa))]) > 1e-3  # not an eigenvalue: not a linear mode


def test_nonlinear_mode_failures_are_reported():
    n = 6
    k = np.linspace(1.0, 5.0, 3 * n - 3)
    t = np.zeros(3 * n - 3)
    t[[0, 3, 7]] = 2.0, -6.0, 8.0
    toy = _CubicToy(n, k, t, np.eye(3 * n - 3))
    box, species = np.full(3, 10.0), np.zeros(n)
    start = toy.Q @ np.ones(3 * n - 3)
    with pytest.raises(TLSFinderError, match="not converged after 2 iterations"):
        M.nonlinear_mode(toy, toy.x0, box, species, start, max_iter=2)
    loose = M.nonlinear_mode(toy, toy.x0, box, species, start, max_iter=2, strict=False)
    assert not loose.converged and loose.iterations == 2 and loose.change > 1e-6
    harmonic = toy.Q[:, 1]  # t = 0 along it: no cubic coupling, Eq. 6 is undefined
    with pytest.raises(TLSFinderError, match="no cubic coupling"):
        M.nonlinear_mode(toy, toy.x0, box, species, harmonic)
    with pytest.raises(TLSFinderError, match="rigid translation"):
        M.nonlinear_mode(toy, toy.x0, box, species, np.tile([1.0, 0.0, 0.0], n))
    with pytest.raises(TLSFinderError, match="not a minimum"):
        M.nonlinear_mode(toy, toy.x0 + 0.1 * toy.Q[:, 0].reshape(-1, 3), box, species, start)


def _two_cycle_toy():
    """The 4-particle cubic toy whose Eq. 6 iteration falls into a 2-cycle, with its box and species."""
    n = 4
    k = np.r_[1.0, 0.5, np.linspace(2.0, 4.0, 3 * n - 5)]
    a = np.zeros((2, 3 * n - 3))
    a[0, 0] = 1.0
    a[1, :2] = -0.5, math.sqrt(3) / 2
    return _CubicToy(n, k, [1.0, 1.0], a, seed=2), np.full(3, 10.0), np.zeros(n)


def test_two_cycle_is_detected_and_mixing_reaches_the_fixed_point():
    """V = (q1^2 + q2^2 / 2) / 2 + [q1^3 + (a.q)^3] / 6, a at 120 degrees to q1 (other coordinates
    stiff and harmonic; parameters from a scan of simple values): Eq. 6 settles into a 2-cycle, as
    it did for one KA2 double well in the benchmark; the damped iteration (mixing 0.5) reaches a
    fixed point of the same Eq. 5."""
    toy, box, species = _two_cycle_toy()
    start = toy.Q[:, :3] @ np.array([math.cos(0.3), math.sin(0.3), 0.1])
    with pytest.raises(TLSFinderError, match="2-cycle"):
        M.nonlinear_mode(toy, toy.x0, box, species, start)
    cyc = M.nonlinear_mode(toy, toy.x0, box, species, start, strict=False)
    assert not cyc.converged and "2-cycle" in cyc.reason and cyc.change > 0.1 and cyc.iterations < 100
    res = M.nonlinear_mode(toy, toy.x0, box, species, start, mixing=0.5, tol=1e-10)
    assert res.converged and res.mixing == 0.5 and res.reason == ""
    h = toy.hessian(toy.x0, box, species)
    assert _eq5_residual(h, toy.u_pi_pi(res.pi), res.pi) < 1e-8
    assert np.linalg.norm(toy.Q[:, :2].T @ res.pi) > 1 - 1e-12  # in the anharmonic plane
    with pytest.raises(TLSFinderError, match="mixing"):
        M.nonlinear_mode(toy, toy.x0, box, species, start, mixing=0.0)


def test_two_cycle_fallback_is_recorded_in_the_double_well_row():
    """A double well whose r_AB starts Eq. 6 in the 2-cycle of the toy above: the search from r_AB is
    redone with mixing 0.5, converges, and its row says so (nl_mixing 0.5, reason empty); without the
    fallback the row keeps the failure (not converged, NaN overlaps, the reason names the 2-cycle)."""
    toy, box, species = _two_cycle_toy()
    r_ab = 0.5 * toy.Q[:, :3] @ np.array([math.cos(0.3), math.sin(0.3), 0.1])
    modes = M.normal_modes(toy, toy.x0, box, species)
    analysis = {"modes": modes, "qlm": np.zeros(len(modes.frequencies), bool)}
    pos_b = toy.x0 + r_ab.reshape(-1, 3)
    row = M.double_well_nonlinear_modes(toy, toy.x0, pos_b, box, species, analysis=analysis, tol=1e-10).row()
    assert row["nl_converged"] and row["nl_mixing"] == 0.5 and row["nl_reason"] == ""
    assert 0 < row["nl_c"] <= 1
    bare = M.double_well_nonlinear_modes(toy, toy.x0, pos_b, box, species, analysis=analysis, tol=1e-10,
                                         fallback_mixing=None).row()
    assert not bare["nl_converged"] and bare["nl_mixing"] == 1.0 and "2-cycle" in bare["nl_reason"]
    assert math.isnan(bare["nl_c"]) and math.isnan(bare["nl_a"])


def test_double_well_nonlinear_modes_ka2(ka2_three_minima):
    """The KA2 double well IS0 -> IS1 (compact, PR ~ 4): the nonlinear mode started from r_AB
    overlaps r_AB better than every linear mode of IS0 (c and a, Khomenko et al. (2021) Fig. 7; a
    statistical finding there, true for this double well), both nonlinear searches converge to
    solutions of Eq. 5 (checked with the analytic third derivative), and the routine is deterministic."""
    model, species, lib = ka2_three_minima
    res = M.double_well_nonlinear_modes(model, lib[0], lib[1], model.box, species)
    nl, nlq = res.from_rab, res.from_qlm
    assert nl.converged and nlq.converged
    print(f"IS0->IS1: linear c {res.linear.c:.3f} a {res.linear.a:.3f}; nonlinear from r_AB c {res.c_rab:.3f} "
          f"a {res.a_rab:.3f} ({nl.iterations} it.); from QLM {res.qlm_mode}: c {res.c_qlm_start:.3f} -> "
          f"{res.c_qlm:.3f}, a {res.a_qlm_start:.3f} -> {res.a_qlm:.3f} ({nlq.iterations} it.)")
    assert res.c_rab >= res.linear.c and res.a_rab >= res.linear.a
    h = model.hessian(lib[0], model.box, species)
    for m in (nl, nlq):
        u = _exact_u_pi_pi(model, lib[0], model.box, species, m.pi)
        assert _eq5_residual(h, u, m.pi) < 2e-5  # ~ tol = 1e-6 plus the O(h^2) error of U
        assert m.tau == pytest.approx(m.pi @ u, rel=1e-5) and m.tau < 0
        assert m.kappa == pytest.approx(m.pi @ (h @ m.pi), rel=1e-12) and m.kappa > 0
        assert abs(np.linalg.norm(m.pi) - 1) < 1e-12 and np.abs(m.pi.reshape(-1, 3).sum(axis=0)).max() < 1e-12
    assert res.c_qlm_start == res.linear.c_alpha[res.qlm_mode] and res.start_is_qlm
    row = res.row()
    assert row["nl_c"] == res.c_rab and row["lin_a"] == res.linear.a and row["nlq_converged"]
    again = M.double_well_nonlinear_modes(model, lib[0], lib[1], model.box, species)
    assert np.array_equal(again.from_rab.pi, nl.pi) and np.array_equal(again.from_qlm.pi, nlq.pi)
    assert again.row() == row
