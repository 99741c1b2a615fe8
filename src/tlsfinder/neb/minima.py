"""Minima of the NEB's force field: tight minimisation, Hessian eigenvalues, and comparing or
aligning two minima of one periodic glass."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.optimize import minimize as _scipy_minimize

from ..geometry import displacements
from .forcefield import BatchForceField


@dataclass
class Minimum:
    """A minimised configuration and how the minimisation went."""

    positions: np.ndarray
    energy: float  # total (eps)
    fmax: float  # max |F| component (eps/sigma)
    converged: bool  # fmax <= the asked ftol
    evaluations: int  # single-configuration force evaluations used


def minimize(ff: BatchForceField, positions, ftol: float = 1e-10, maxiter: int = 50000, newton: bool = True,
             slot="min") -> Minimum:
    """Minimise the energy from ``positions``: L-BFGS to max |F| ~ 1e-7, then Newton
    steps with the model's analytic Hessian until max |F| <= ``ftol``.

    The Newton steps solve (H + mu) dx = F with mu = 1e-9 (the three
    translation modes have zero curvature and no force); a step is accepted
    only if it lowers the energy or the force.  ``converged``: max |F| <=
    ``ftol``; whether the point is a minimum and not a saddle is not checked here
    (:func:`lowest_eigenvalues`, :func:`saddle_check`).
    """
    x0 = np.array(positions, dtype=float)
    n0 = ff.n_evaluations
    ff.reset()

    def fun(x):
        e, f = ff.energy_forces(x.reshape(-1, 3), slot)
        return e, -f.ravel()

    tol_lbfgs = max(ftol, 1e-7) if newton else ftol
    res = _scipy_minimize(fun, x0.ravel(), jac=True, method="L-BFGS-B",
                          options={"maxiter": maxiter, "maxfun": 2 * maxiter, "gtol": tol_lbfgs, "ftol": 1e-16,
                                   "maxcor": 30})
    x = res.x.reshape(-1, 3)
    e, f = ff.energy_forces(x, slot)
    if newton:
        for _ in range(8):
            fm = float(np.abs(f).max())
            if fm <= ftol:
                break
            h = ff.model.hessian(x, ff.box, ff.species).tocsc()
            dx = sla.spsolve(h + 1e-9 * sp.identity(h.shape[0], format="csc"), f.ravel()).reshape(-1, 3)
            dx -= dx.mean(axis=0)
            e2, f2 = ff.energy_forces(x + dx, slot)
            if e2 <= e + 1e-12 * abs(e) or np.abs(f2).max() < fm:
                x, e, f = x + dx, e2, f2
            else:
                break
    fm = float(np.abs(f).max())
    return Minimum(positions=x, energy=float(e), fmax=fm, converged=bool(fm <= ftol),
                   evaluations=ff.n_evaluations - n0)


def lowest_eigenvalues(model, positions, box, species, k: int = 4, dense_max: int = 3600) -> np.ndarray:
    """The ``k`` lowest eigenvalues of the model's Hessian (eps/sigma^2), the three
    zero translation modes removed (:func:`soft_modes`)."""
    return soft_modes(model, positions, box, species, k=k, dense_max=dense_max)[0]


def soft_modes(model, positions, box, species, k: int = 6, dense_max: int = 3600) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` lowest eigenvalues (eps/sigma^2) and unit eigenvectors (3N, k) of the model's
    Hessian at ``positions``, the three translation modes projected out (:func:`lowest_in_complement`)."""
    h = model.hessian(positions, box, species)
    n = h.shape[0]
    t = np.zeros((n, 3))
    for a in range(3):
        t[a::3, a] = 1.0 / math.sqrt(n // 3)
    return lowest_in_complement(h, t, k, dense_max)


def lowest_in_complement(h, basis, k: int, dense_max: int = 3600, tol: float = 1e-10):
    """The ``k`` lowest eigenpairs of the symmetric (sparse) ``h`` restricted to the complement of
    the orthonormal columns ``basis`` (n, b): the projected matrix with the basis lifted above its
    spectrum.  Dense (only the k lowest computed) for n <= ``dense_max``, else ARPACK from a fixed
    start vector (reproducible)."""
    import scipy.linalg

    n = h.shape[0]
    lift = 2.0 * float(abs(h).sum(axis=1).max()) + 1.0  # above every eigenvalue (Gershgorin)
    if n <= dense_max:
        p = np.eye(n) - basis @ basis.T
        d = p @ h.toarray() @ p
        return scipy.linalg.eigh(d + lift * (basis @ basis.T), subset_by_index=[0, k - 1])

    def mv(x):
        x = np.asarray(x).ravel()
        bx = basis.T @ x
        y = h @ (x - basis @ bx)
        return y - basis @ (basis.T @ y) + lift * (basis @ bx)

    op = sla.LinearOperator((n, n), matvec=mv, dtype=float)
    w, v = sla.eigsh(op, k=k, which="SA", tol=tol, maxiter=20 * n, v0=np.full(n, 1.0 / math.sqrt(n)))
    order = np.argsort(w)
    return w[order], v[:, order]


def end_derivatives(model, minimum, tangent, box, species, modes=None, min_overlap: float = 0.2,
                    step: float = 0.01) -> tuple[float, float, float] | None:
    """(V'', V''', overlap) of the potential at a minimum along the direction in which a path
    leaves it, outward (eps/sigma^2, eps/sigma^3); None if no soft mode qualifies.

    A minimum energy path is a steepest-descent path, and one reaches a minimum along the
    softest Hessian mode it has a component on (the other components decay faster), so its
    curvature at the minimum is that mode's eigenvalue.  A band resolves this only slowly:
    near a minimum whose two softest modes are close, the band's end curvature still moved by
    10 % from 63 to 125 images (KA2, N = 300) where the eigenvalue is exact.  The mode is the
    softest of ``modes`` (:func:`soft_modes`) whose overlap |e . t| with the band's first
    segment ``tangent`` is at least ``min_overlap``: a soft mode localised elsewhere in the
    glass is not the path's.  V''' is the central difference of e.H.e along e over
    +-``step`` (sigma), the sign for the outward direction -e (e pointing into the path).
    """
    x0 = np.asarray(minimum, dtype=float)
    w, v = soft_modes(model, x0, box, species) if modes is None else modes
    t = np.asarray(tangent, dtype=float).ravel()
    t = t / np.linalg.norm(t)
    over = v.T @ t
    ok = np.flatnonzero(np.abs(over) >= min_overlap)
    if not len(ok):
        return None
    m = int(ok[0])
    u = -np.sign(over[m]) * v[:, m]  # outward
    up = u.reshape(x0.shape)
    hp = model.hessian(x0 + step * up, box, species)
    hm = model.hessian(x0 - step * up, box, species)
    t3 = float(u @ (hp @ u) - u @ (hm @ u)) / (2.0 * step)
    return float(w[m]), t3, float(abs(over[m]))


def same_minimum(pos_a, pos_b, box, tol: float) -> bool:
    """No particle differs by more than ``tol`` (sigma), after removing the rigid shift."""
    d = displacements(pos_a, pos_b, box)
    d -= d.mean(axis=0)
    return bool(np.sqrt((d * d).sum(axis=1)).max() < tol)


def saddle_check(model, positions, box, species, k: int = 4) -> dict:
    """Lowest Hessian eigenvalues at a configuration and the number of negative ones
    (below -1e-6 relative to the largest |lowest|); a first-order saddle has one."""
    w = lowest_eigenvalues(model, positions, box, species, k=k)
    tol = 1e-6 * max(1.0, float(np.abs(w).max()))
    return {"eigenvalues": w, "n_negative": int(np.sum(w < -tol))}


def align(pos_a, pos_b, box, remove_translation: bool = True) -> tuple[np.ndarray, float]:
    """B moved next to A: every particle by whole box vectors to its minimum image
    relative to A, and (optionally) the rigid mean displacement removed.

    Returns (aligned B, norm of the removed rigid shift).  The energy of B is
    unchanged (periodic images, uniform translation).
    """
    a = np.asarray(pos_a, dtype=float)
    d = displacements(a, pos_b, box)
    shift = d.mean(axis=0) if remove_translation else np.zeros(3)
    return a + d - shift, float(np.linalg.norm(shift))


