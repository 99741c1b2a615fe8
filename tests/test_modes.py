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
