"""Elastic moduli of an inherent structure, two independent ways, and the sound speeds built on them.

* :func:`aqs_moduli`: athermal quasi-static (AQS) deformation, Mocanu et al., "Microscopic observation
  of two-level systems in a metallic glass model", J. Chem. Phys. 158, 014501 (2023), Eq. 17:
  G = d sigma_xy / d gamma from simple shear, K = -V dp/dV from hydrostatic strain, each from small
  strains of both signs, with the structure re-minimised at every strain.
* :func:`hessian_moduli`: the same derivatives from the Hessian at the minimum, Born term minus the
  non-affine correction (Lemaitre and Maloney, "Sum rules for the quasi-static and visco-elastic
  response of disordered solids at zero temperature", J. Stat. Phys. 123, 267 (2006)):

      d^2 E / d eps_a d eps_b = B_ab - Xi_a . H^+ Xi_b,

  B_ab = sum_pairs (E_a d)^T k (E_b d) the affine (Born) term, k = v'' n n + v'/r (1 - n n) the
  pair stiffness, Xi_a = d^2 E / d r d eps_a the force the affine strain puts on each particle, H^+
  the pseudo-inverse of the Hessian with the three translations projected out.
* :func:`sound_speeds`, :func:`first_phonon_frequency`, :func:`debye_frequency`: Mocanu et al.
  (2023) c_t, c_l and Eqs. 18-19.

Deformation.  A homogeneous deformation F (3x3) maps reference coordinates s, in the orthorhombic
box ``box`` (L_x, L_y, L_z) of the models, to physical positions r = F s; the periodic images are
r + F (n * box).  Simple shear F = 1 + gamma e_x e_y^T (x += gamma y) is the triclinic box with tilt
xy = gamma L_y, identical to Lees-Edwards boundary conditions for a static configuration; the
hydrostatic strain is F = (1 + eps) 1.  :class:`Deformed` gives any model this geometry, with the
model's own energy, forces and Hessian code (:class:`tlsfinder.models.Model`).

Conventions.  Reduced units (eps, sigma, unit mass by default).  Stress: the athermal virial
(Cauchy) stress sigma_ab = (1/V) sum_pairs v'(r) d_a d_b / r, so that sigma_xy = (1/V) dE/dgamma
exactly at any gamma (V does not change under simple shear), and p = -tr(sigma)/3.  G is
d sigma_xy / d gamma at gamma = 0; for a structure at pressure p this is the stress-strain
coefficient C_44 - p of Wallace (C the Born coefficients w.r.t. Lagrangian strain), and
K = -V dp/dV = E''/(9V) + 2p/3 (E'' the relaxed second derivative of the energy w.r.t. the
hydrostatic linear strain), i.e. (C_11 + 2 C_12)/3 + p/3 for a cubic crystal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.optimize import minimize as _scipy_minimize

from . import TLSFinderError
from .geometry import periodic_pairs
from .models import Model

#: Strain directions E = dF/d eps of the two AQS geometries.
SHEAR_XY = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])  # x += gamma y
HYDROSTATIC = np.eye(3)


class Deformed:
    """A model in the box ``box`` deformed by F: r = F s, images r + F (n * box).

    Offers :meth:`pairs`, :meth:`energy`, :meth:`energy_forces` and :meth:`hessian` with the
    signatures of :class:`tlsfinder.models.Model` (the ``box`` argument is ignored: the deformed
    box is fixed here); the energy, force and Hessian formulas are the model's own.
    """

    def __init__(self, model: Model, box, deformation=None):
        self.model = model
        self.form = model.form
        self.box0 = np.asarray(box, dtype=float)
        self.F = np.eye(3) if deformation is None else np.asarray(deformation, dtype=float)
        if self.F.shape != (3, 3) or not np.all(np.isfinite(self.F)) or np.linalg.det(self.F) <= 0:
            raise TLSFinderError(f"deformation must be a finite 3x3 matrix with positive determinant, got {self.F.tolist()}")
        self.Finv = np.linalg.inv(self.F)
        self.volume = float(np.prod(self.box0) * np.linalg.det(self.F))

    def pairs(self, positions, box, species):
        pos = np.asarray(positions, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] != len(species):
            raise TLSFinderError(f"positions of shape {pos.shape} do not match {len(species)} particles")
        s = pos @ self.Finv.T
        # A physical distance rc is at most rc |F^-1| in reference coordinates; below half the box the
        # reference minimum image is then the one physical image within the cutoff.
        rc = float(self.model.max_cutoff(species))
        rc_s = rc * float(np.linalg.norm(self.Finv, 2))
        if rc_s >= 0.5 * float(self.box0.min()):
            raise TLSFinderError(
                f"deformation {self.F.tolist()} too large for box {self.box0.tolist()}: cutoff {rc:.3f} maps to "
                f"{rc_s:.3f} in the undeformed box, above half its smallest edge")
        i, j, d_ref, _ = periodic_pairs(s, self.box0, rc_s)
        d = d_ref @ self.F.T
        r = np.sqrt(np.einsum("ij,ij->i", d, d))
        eps, sig = self.model.pair_params(species, i, j)
        keep = r < self.form.x_c * sig
        return i[keep], j[keep], d[keep], r[keep], eps[keep], sig[keep]

    energy = Model.energy
    energy_forces = Model.energy_forces
    hessian = Model.hessian

    def stress(self, positions, species) -> np.ndarray:
        """Athermal virial stress sigma_ab = (1/V) sum_pairs v'(r) d_a d_b / r (3, 3) (eps/sigma^3)."""
        _, _, d, r, eps, sig = self.pairs(positions, None, species)
        w = eps / sig * self.form.du(r / sig) / r
        return np.einsum("p,pa,pb->ab", w, d, d) / self.volume


def pressure_of(stress: np.ndarray) -> float:
    """p = -tr(sigma)/3 (athermal)."""
    return -float(np.trace(stress)) / 3.0


def _max_force(f) -> float:
    return float(np.abs(f).max())


def check_minimum(model, positions, box, species, ftol: float, what: str = "structure") -> float:
    """Largest force component; TLSFinderError if above ``ftol`` (not a minimum)."""
    _, f = model.energy_forces(positions, box, species)
    fm = _max_force(f)
    if not fm <= ftol:
        raise TLSFinderError(
            f"{what} is not a minimum: largest force component {fm:.3g} eps/sigma exceeds the tolerance "
            f"{ftol:g}; minimise it first (tlsfinder.neb.minimize)")
    return fm


class PinnedSolver:
    """Solves H u = b for b orthogonal to the translations (sum_i b_i = 0), H a translation-invariant
    Hessian (3N, 3N): particle 0 is pinned (its rows and columns removed), which makes H regular for
    a stable structure; its row is then satisfied because the rows of H and b both sum to zero.
    Returns the solution with its mean (a translation) removed, i.e. H^+ b."""

    def __init__(self, hessian):
        h = sp.csc_matrix(hessian)
        self.n = h.shape[0]
        try:
            self.lu = sla.splu(h[3:, 3:].tocsc())
        except RuntimeError as exc:  # singular: rattlers or a zero mode beyond the translations
            raise TLSFinderError(f"the Hessian is singular beyond the three translations ({exc}): "
                                 f"rattlers or an unstable structure") from exc

    def solve(self, b) -> np.ndarray:
        b = np.asarray(b, dtype=float).reshape(self.n, -1)
        u = np.zeros_like(b)
        u[3:] = self.lu.solve(np.ascontiguousarray(b[3:]))
        for a in range(3):
            u[a::3] -= u[a::3].mean(axis=0)
        return u


def _newton(deformed: Deformed, x, species, ftol: float, steps: int, solver=None):
    """Newton steps x += H^+ F while each lowers the energy or the largest force.  With ``solver``
    (a :class:`PinnedSolver` of a nearby Hessian, e.g. the unstrained one) every step reuses it: a
    modified Newton iteration that converges linearly at the rate |H - H_0| / |H|, i.e. about the
    strain, without a new factorisation."""
    e, f = deformed.energy_forces(x, None, species)
    for _ in range(steps):
        fm = _max_force(f)
        if fm <= ftol:
            break
        s = solver if solver is not None else PinnedSolver(deformed.hessian(x, None, species))
        dx = s.solve(f.ravel()).reshape(-1, 3)
        e2, f2 = deformed.energy_forces(x + dx, None, species)
        if e2 <= e + 1e-12 * abs(e) or _max_force(f2) < fm:
            x, e, f = x + dx, e2, f2
        else:
            break
    return x, float(e), _max_force(f)


def relax(deformed: Deformed, positions, species, ftol: float = 1e-10, maxiter: int = 20000, solver=None):
    """Minimise at fixed deformation.  Newton steps with the analytic Hessian (:class:`PinnedSolver`;
    ``solver``: reuse that factorisation, see :func:`_newton`) first: after a small affine strain the
    minimum is a quadratic step away.  If they do not reach max |F| <= ``ftol`` (a saddle or a far
    start), L-BFGS to max |F| ~ 1e-7 and full Newton steps again.  Returns (positions, energy, max |F|)."""
    x0 = np.array(positions, dtype=float)
    x, e, fm = _newton(deformed, x0, species, ftol, 6 if solver is None else 12, solver)
    if fm <= ftol:
        return x, e, fm

    def fun(y):
        en, f = deformed.energy_forces(y.reshape(-1, 3), None, species)
        return en, -f.ravel()

    res = _scipy_minimize(fun, x0.ravel(), jac=True, method="L-BFGS-B",
                          options={"maxiter": maxiter, "maxfun": 2 * maxiter, "gtol": max(ftol, 1e-7),
                                   "ftol": 1e-16, "maxcor": 30})
    return _newton(deformed, res.x.reshape(-1, 3), species, ftol, 10)


# --------------------------------------------------------------------------
# AQS
# --------------------------------------------------------------------------


@dataclass
class AQSResult:
    """Moduli from AQS and the stress-strain data they were fitted to."""

    G: float  # d sigma_xy / d gamma (eps/sigma^3)
    K: float  # -V dp/dV (eps/sigma^3)
    pressure: float  # p of the unstrained minimum
    shear_strains: np.ndarray = field(repr=False)
    shear_stress: np.ndarray = field(repr=False)  # sigma_xy at each shear strain
    volumes: np.ndarray = field(repr=False)
    pressures: np.ndarray = field(repr=False)  # p at each hydrostatic strain
    nonaffine: dict = field(repr=False, default_factory=dict)  # strain geometry -> {strain: u (N, 3)}
    fit_residual: dict = field(default_factory=dict)  # rms residual of each quadratic fit / spread
    strains: tuple = ()  # the strain amplitudes used (after any retries at smaller strains)
    problems: list = field(default_factory=list)  # why each earlier, larger set of strains was refused


def _strain_grid(strains) -> np.ndarray:
    s = np.unique(np.abs(np.asarray(strains, dtype=float)))
    if s.size == 0 or s[0] <= 0 or s[-1] > 0.05:
        raise TLSFinderError(f"AQS strains must be positive amplitudes up to 0.05, got {list(np.ravel(strains))}")
    return np.concatenate([-s[::-1], [0.0], s])


def _check_relaxed(fmax: float, strain: float, geometry: str, ftol: float) -> None:
    # the stresses enter a finite difference: an unconverged minimum would bias it silently
    if not fmax <= 100.0 * ftol:
        raise TLSFinderError(f"AQS {geometry}: re-minimisation at strain {strain:g} stopped at max |F| = "
                             f"{fmax:.3g} eps/sigma, above 100 ftol = {100 * ftol:g}; raise ftol or use smaller strains")


def identity_problem(u: dict, tol: float) -> str | None:
    """Why the re-minimised structures at strains ``u`` (strain -> non-affine displacement) are not
    one minimum linearly deformed, or None.  They are iff u(eps) is odd and linear in eps to within
    ``tol`` (relative): a plastic event or a jump to another minimum breaks both."""
    amps = sorted(a for a in u if a > 0)
    for a in amps:
        up, um = u[a], u[-a]
        scale = max(np.abs(up).max(), np.abs(um).max(), 1e-12)
        if np.abs(up + um).max() > tol * scale + 1e-9:
            return (f"the minimum changed identity between strains {-a:g} and {a:g} (non-affine "
                    f"displacement not odd in the strain: plastic event)")
    for a, b in zip(amps[:-1], amps[1:]):
        ua, ub = u[a], u[b]
        scale = max(np.abs(ub).max(), 1e-12)
        if np.abs(ub - ua * (b / a)).max() > tol * scale + 1e-9:
            return (f"the non-affine displacement is not linear between strains {a:g} and {b:g} "
                    f"(the minimum changed identity)")
    return None


def _check_identity(u: dict, geometry: str, tol: float) -> None:
    """TLSFinderError if :func:`identity_problem` finds one."""
    problem = identity_problem(u, tol)
    if problem is not None:
        raise TLSFinderError(f"AQS {geometry}: {problem}; use smaller strains")


def aqs_moduli(model, positions, box, species, strains=(5e-5, 1e-4), ftol_input: float = 1e-6,
               ftol: float = 1e-10, identity_tol: float = 0.2, shrink: float = 4.0,
               shrink_tries: int = 2) -> AQSResult:
    """G and K by athermal quasi-static deformation (Mocanu et al. (2023) Eq. 17).

    The minimum (max |F| <= ``ftol_input``, else TLSFinderError) is polished to ``ftol``, then
    deformed affinely by simple shear x += gamma y and by the hydrostatic strain (1 + eps), for
    gamma, eps in 0 and +-``strains``, and re-minimised at each strain.  G is the slope at
    gamma = 0 of a least-squares quadratic sigma_xy(gamma); K = -V0 dp/dV at V0 from p(V) alike.
    Each strained minimum must be the same minimum (non-affine displacement odd and linear in the
    strain within ``identity_tol``) and reach max |F| <= 100 ``ftol``.

    When a set of strains fails either test, all of them are divided by ``shrink`` and tried again,
    at most ``shrink_tries`` times (as :func:`tlsfinder.coupling.strain_coupling` does).  Why: a
    glass with very soft quasi-localised modes responds anharmonically already at 1e-4 (a KA2
    N = 1200 glass: +eps and -eps responses differing by 22 % of the linear one, each strained
    minimum relaxing back to the original one at zero strain), which the identity test cannot tell
    from a change of identity; at 2.5e-5 its G and K matched the Hessian's to 1e-4.  A true
    plastic event fails at every size.  ``strains`` of the result: the amplitudes used;
    ``problems``: the refused attempts.  All attempts failing: TLSFinderError naming each.
    """
    if not (shrink > 1.0 and int(shrink_tries) == shrink_tries and shrink_tries >= 0):
        raise TLSFinderError(f"AQS: need shrink > 1 and an integer shrink_tries >= 0, got {shrink}, {shrink_tries}")
    species = np.asarray(species)
    check_minimum(model, positions, box, species, ftol_input)
    x0, _, fm0 = relax(Deformed(model, box), positions, species, ftol=ftol)
    _check_relaxed(fm0, 0.0, "unstrained", ftol)
    solver0 = PinnedSolver(model.hessian(x0, box, species))  # reused at every small strain
    amps = _strain_grid(strains)
    amps = amps[amps > 0]
    problems = []
    for attempt in range(int(shrink_tries) + 1):
        try:
            res = _aqs_at(model, x0, box, species, amps, ftol, identity_tol, solver0)
        except TLSFinderError as exc:
            problems.append(f"strains up to {amps[-1]:.3g}: {exc}")
            amps = amps / shrink
            continue
        res.problems = problems
        return res
    raise TLSFinderError(f"AQS failed at every strain size ({shrink_tries} retries, each {shrink:g} times "
                         f"smaller): " + "; ".join(problems))


def _aqs_at(model, x0, box, species, amps, ftol: float, identity_tol: float, solver0) -> AQSResult:
    """The AQS moduli of the polished minimum ``x0`` at strain amplitudes ``amps`` (:func:`aqs_moduli`)."""
    grid = np.concatenate([-amps[::-1], [0.0], amps])
    out = {}
    for name, direction in (("shear", SHEAR_XY), ("hydrostatic", HYDROSTATIC)):
        stresses, vols, u = [], [], {}
        for g in grid:
            d = Deformed(model, box, np.eye(3) + g * direction)
            x = x0
            if g != 0:  # affine deformation, then re-minimisation
                x, _, fm = relax(d, x0 @ d.F.T, species, ftol=ftol, solver=solver0)
                _check_relaxed(fm, g, name, ftol)
            stresses.append(d.stress(x, species))
            vols.append(d.volume)
            u[float(g)] = x @ d.Finv.T - x0  # non-affine displacement, reference coordinates
        _check_identity(u, name, identity_tol)
        out[name] = (np.array(stresses), np.array(vols), u)
    s_shear = out["shear"][0][:, 0, 1]
    G, res_g = _slope_at(grid, 0.0, s_shear)
    vols = out["hydrostatic"][1]
    p = np.array([pressure_of(s) for s in out["hydrostatic"][0]])
    v0 = float(np.prod(box))
    slope, res_k = _slope_at(vols, v0, p)
    return AQSResult(G=G, K=-v0 * slope, pressure=pressure_of(out["shear"][0][len(grid) // 2]),
                     shear_strains=grid, shear_stress=s_shear, volumes=vols, pressures=p,
                     nonaffine={k: v[2] for k, v in out.items()},
                     fit_residual={"shear": res_g, "hydrostatic": res_k}, strains=tuple(float(a) for a in amps))


def _slope_at(x, x0, y) -> tuple[float, float]:
    """dy/dx at x0 from a least-squares quadratic in (x - x0) (the curvature of the response then
    does not bias the slope on an asymmetric grid such as V(eps)), and the rms residual relative to
    the spread of y."""
    t = np.asarray(x, dtype=float) - x0
    a = np.vstack([t, np.ones_like(t), t * t]).T
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    spread = float(np.ptp(y)) or 1.0
    return float(coef[0]), float(np.sqrt(np.mean(resid**2)) / spread)


# --------------------------------------------------------------------------
# Hessian route
# --------------------------------------------------------------------------


@dataclass
class StrainResponse:
    """Second derivatives of the energy with respect to linear strains eps_a (F = 1 + sum_a eps_a E_a),
    per unit volume (eps/sigma^3): ``relaxed`` = ``born`` - ``nonaffine``; ``xi`` (m, 3N) the affine
    forces Xi_a, ``u`` (m, 3N) the non-affine displacement per unit strain, -H^+ Xi_a."""

    born: np.ndarray
    nonaffine: np.ndarray
    relaxed: np.ndarray
    xi: np.ndarray = field(repr=False)
    u: np.ndarray = field(repr=False)
    volume: float = 0.0
    pressure: float = 0.0


def strain_response(model, positions, box, species, directions, ftol: float = 1e-6) -> StrainResponse:
    """Born term, affine forces and relaxed strain-energy Hessian at a minimum, for the strain
    directions ``directions`` (sequence of 3x3 E_a).  Lemaitre and Maloney (2006)."""
    species = np.asarray(species)
    check_minimum(model, positions, box, species, ftol)
    dirs = [np.asarray(e, dtype=float) for e in directions]
    i, j, d, r, eps, sig = model.pairs(positions, box, species)
    x = r / sig
    v1 = eps / sig * model.form.du(x)
    v2 = eps / sig**2 * model.form.d2u(x)
    n = d / r[:, None]
    n_part = len(species)
    # k (E d) for each direction: (v2 - v1/r) n (n . Ed) + v1/r Ed
    ked, eds = [], []
    for e in dirs:
        ed = d @ e.T
        ked.append((v2 - v1 / r)[:, None] * n * np.einsum("pa,pa->p", n, ed)[:, None] + (v1 / r)[:, None] * ed)
        eds.append(ed)
    m = len(dirs)
    born = np.array([[float(np.sum(eds[a] * ked[b])) for b in range(m)] for a in range(m)])
    xi = np.zeros((m, n_part, 3))
    for a in range(m):
        for c in range(3):  # d = r_j - r_i: Xi_i = -k (E d), Xi_j = +k (E d)
            xi[a, :, c] = (np.bincount(j, weights=ked[a][:, c], minlength=n_part)
                           - np.bincount(i, weights=ked[a][:, c], minlength=n_part))
    xi = xi.reshape(m, -1)
    solver = PinnedSolver(model.hessian(positions, box, species))
    u = -solver.solve(xi.T).T
    nonaffine = -(xi @ u.T)  # Xi . H^+ Xi
    nonaffine = 0.5 * (nonaffine + nonaffine.T)
    vol = float(np.prod(box))
    p = -float(np.sum(v1 * r)) / (3.0 * vol)
    return StrainResponse(born=born / vol, nonaffine=nonaffine / vol, relaxed=(born - nonaffine) / vol,
                          xi=xi, u=u, volume=vol, pressure=p)


@dataclass
class HessianModuli:
    G: float  # d sigma_xy / d gamma (eps/sigma^3)
    K: float  # -V dp/dV (eps/sigma^3)
    pressure: float
    G_born: float  # affine (Born) parts, for reference
    K_born: float
    response: StrainResponse = field(repr=False)


def hessian_moduli(model, positions, box, species, ftol: float = 1e-6) -> HessianModuli:
    """G and K from the Hessian: G = (B_xy,xy - Xi_xy H^+ Xi_xy)/V for simple shear and
    K = E''/(9V) + 2p/3 for the hydrostatic strain (module docstring)."""
    resp = strain_response(model, positions, box, species, [SHEAR_XY, HYDROSTATIC], ftol=ftol)
    p = resp.pressure
    return HessianModuli(G=float(resp.relaxed[0, 0]), K=float(resp.relaxed[1, 1] / 9.0 + 2.0 * p / 3.0),
                         pressure=p, G_born=float(resp.born[0, 0]), K_born=float(resp.born[1, 1] / 9.0 + 2.0 * p / 3.0),
                         response=resp)


# --------------------------------------------------------------------------
# Sound
# --------------------------------------------------------------------------


def sound_speeds(G: float, K: float, number_density: float, mass: float = 1.0) -> tuple[float, float]:
    """Transverse and longitudinal sound speeds c_t = sqrt(G / (m rho)), c_l = sqrt((K + 4G/3) / (m rho))
    (Mocanu et al. (2023), Sec. IV.C), in sigma / tau with tau = sigma sqrt(m/eps)."""
    if not (G > 0 and K + 4.0 * G / 3.0 > 0 and number_density > 0 and mass > 0):
        raise TLSFinderError(f"sound speeds need G > 0, K + 4G/3 > 0, density > 0 and mass > 0; "
                             f"got G = {G}, K = {K}, density = {number_density}, mass = {mass}")
    rho = mass * number_density
    return math.sqrt(G / rho), math.sqrt((K + 4.0 * G / 3.0) / rho)


def first_phonon_frequency(c_t: float, box_length: float) -> float:
    """omega_t = 2 pi c_t / L, the lowest transverse phonon of the periodic box (Mocanu et al. Eq. 18)."""
    return 2.0 * math.pi * c_t / box_length


def debye_frequency(c_t: float, c_l: float, number_density: float) -> float:
    """omega_D = (18 pi^2 rho / (2 c_t^-3 + c_l^-3))^(1/3) (Mocanu et al. Eq. 19)."""
    return (18.0 * math.pi**2 * number_density / (2.0 / c_t**3 + 1.0 / c_l**3)) ** (1.0 / 3.0)


def acoustic_summary(G: float, K: float, n: int, box, mass: float = 1.0) -> dict:
    """c_t, c_l, omega_t (from the largest box edge: the lowest phonon) and omega_D of a structure."""
    box = np.asarray(box, dtype=float)
    rho = n / float(np.prod(box))
    c_t, c_l = sound_speeds(G, K, rho, mass)
    return {"G": G, "K": K, "c_t": c_t, "c_l": c_l,
            "omega_t": first_phonon_frequency(c_t, float(box.max())),
            "omega_D": debye_frequency(c_t, c_l, rho)}
