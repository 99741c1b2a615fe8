"""Nudged elastic band between two inherent structures, and the double wells it reveals.

The minimum energy path (MEP) between two minima A and B of one glass is found
by climbing-image NEB (Henkelman, Uberuaga, Jonsson 2000) with ASE's
:class:`ase.mep.NEB` (``method="improvedtangent"``, Henkelman and Jonsson
2000; see :data:`NEB_METHODS` for why ``"string"`` and ``"aseneb"`` are not
offered), relaxed with FIRE.  Seed 001 (Sec. II.D) uses 64 images, springs 0.125 eps/sigma^2,
FIRE and a climbing image: those are the defaults (:class:`NEBSettings`).

Units and conventions: reduced LJ units (eps, sigma, all masses 1); positions
are unwrapped (N, 3) arrays in an orthorhombic periodic box; forces in eps/sigma.
The convergence criterion is ASE's: the largest per-atom norm of the NEB force
(true force perpendicular to the band plus spring force along it; the full
force with inverted tangential part on the climbing image) over all moving
images, ``fmax`` (eps/sigma).  LAMMPS ``neb`` with ``min_modify norm max`` uses
the same norm.

Steps (:func:`neb_pair`):

1. both endpoints are re-minimised tightly with our own energy function
   (L-BFGS, then Newton steps with the analytic Hessian down to max |F| <=
   ``endpoint_ftol``), and B is aligned to A by the minimum image convention
   (so no particle jumps across the box along the path) with the rigid
   translation between them removed (zero mode: it would only lengthen the path);
2. the band is the linear interpolation; energies and forces of all moving
   images are evaluated in one batched call of a compiled pair kernel
   (:class:`BatchForceField`, the model's own pair form and parameters, checked
   against :meth:`tlsfinder.models.Model.energy_forces` in the tests);
3. FIRE runs until ``fmax`` or ``max_steps`` (the climbing image is switched on
   once the band's force is below 10 fmax); a band that does not converge is
   recorded with ``status = "unconverged"`` and no splitting is computed from it;
4. the band is checked for intermediate minima (interior images lower than the
   highest image on each side by more than ``intermediate_tol``) at the end and,
   every ``check_every`` steps, while it relaxes (then with a 1e-3 eps
   threshold, so that a band that has already found a minimum is not relaxed
   to the end); each dip is minimised, and if it is a new minimum the pair is
   split into elementary double wells A-M1, M1-M2, ..., Mk-B, each run again
   through steps 2-4 (``split_depth`` levels deep; new rows carry ``parent`` and
   ``origin = "split"``), or marked ``status = "non_dw"`` beyond that depth
   (seed 001 Sec. II.D).  A band without a barrier above its upper end is
   ``non_dw`` too;
5. an elementary path gives one row of the DW table: splitting quantities for
   every unit preset (:func:`tlsfinder.splitting.analyse_mep`), d (Eq. 7) and
   PR (Eq. 16) of the pair, and the path files (:func:`write_pair_files`).

Accuracy note.  The reaction coordinate is the chord length between images.
Residual perpendicular forces leave the images scattered about the MEP by
~fmax / k_soft, which lengthens the chord sum: on a KA2 N = 300 double well
with 64 images, d_path came out 0.499-0.519 sigma at fmax = 1e-3 depending on
FIRE's time step, 0.497-0.499 at fmax = 1e-4.  The splitting of an asymmetric
well (E ~ Delta) does not notice; Delta_0 of a near-symmetric one scales like
exp(-c d) and moved by ~20 %.  Lower ``fmax`` where tunnelling-dominated
splittings must be precise (about 10x more FIRE steps per decade).

Outputs of :func:`write_pair_files` for a pair ``<name>``:

* ``<name>.path.csv``: image, s (arc length in 3N space, sigma), xi = s / d,
  energy (total, eps), f_par (true force along the tangent, eps/sigma);
  readable by ``tlsfinder splitting``;
* ``<name>.path.xyz``: extended XYZ of all images (energy in each frame;
  KA2 types A, B, C as atomic numbers 1, 2, 3; PSS diameters in ``diameter``);
* ``<name>.saddle.xyz``: the climbing image (the saddle) in extended XYZ.

DW table columns (one row per pair or elementary sub-pair): ``pair_id``,
``parent`` (pair id it was split from, or empty), ``origin`` ("input" or
"split"), ``status`` ("dw", "non_dw", "unconverged", "split", "same_minimum"),
``neb_converged``,
``neb_steps``, ``force_calls``, ``fmax``, ``n_images``, ``e_A``, ``e_B``
(total energies of the minimised endpoints, eps), ``d`` (Eq. 7, sigma),
``total_displacement`` (sqrt of sum |dr_i|^2, sigma), ``PR`` (Eq. 16),
``translation_removed`` (norm of the removed rigid shift, sigma),
``n_intermediate`` (intermediate minima found), ``saddle_image``,
``neb_wall_s``, ``path_csv``/``path_xyz``/``saddle_xyz`` (file names, when
written), and for ``status = "dw"`` the columns of
:func:`tlsfinder.splitting.analyse_mep` (per preset suffix).  In the
workflow's batch tables also ``glass``, ``i``, ``j`` (IS ids; -1 for a
sub-pair endpoint that is a new minimum).  ``force_calls`` counts every
single-configuration force evaluation made while the band relaxed, including
minimisations of intermediate dips.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.optimize import minimize as _scipy_minimize
from scipy.spatial import cKDTree

from . import TLSFinderError
from .splitting import MEP, analyse_mep, displacements, participation_ratio, rms_distance

log = logging.getLogger(__name__)

#: ASE NEB methods offered.  ASE's "string" method re-spaces the images after every
#: step; with FIRE (and a climbing image) it did not converge on KA2 test pairs
#: (ASE 3.29: fmax stuck near 0.5 after 3000-5000 steps, 100x slower per step),
#: so it is not offered; "aseneb" (ASE's old default) gives poor bands.
NEB_METHODS = ("improvedtangent",)


@dataclass
class NEBSettings:
    """NEB parameters (config section ``neb``); defaults follow seed 001 Sec. II.D.

    n_images: images including both endpoints; spring: eps/sigma^2; fmax: NEB
    force tolerance (eps/sigma); max_steps: FIRE iterations; fire_dt,
    fire_dtmax (tau) and fire_maxstep (sigma, largest move of any single atom
    per step); endpoint_ftol: max |F| component of the re-minimised endpoints
    (eps/sigma); intermediate_tol: an interior image is an intermediate minimum
    if it lies this much (eps) below both neighbours; same_min_tol: two minima
    are the same when no particle differs by more than this (sigma);
    split_depth: how many times a path may be split into elementary wells;
    check_every: every so many FIRE steps the band is checked for intermediate
    minima (a band that has found one is split without waiting for it to
    converge); skin: Verlet skin of the pair list (sigma).
    """

    n_images: int = 64
    spring: float = 0.125
    method: str = "improvedtangent"
    climb: bool = True
    fmax: float = 1e-3
    max_steps: int = 20000
    fire_dt: float = 0.01
    fire_dtmax: float = 0.05
    fire_maxstep: float = 0.05
    endpoint_ftol: float = 1e-10
    intermediate_tol: float = 1e-6
    same_min_tol: float = 1e-3
    split_depth: int = 2
    check_every: int = 500
    skin: float = 0.3

    def __post_init__(self):
        if self.method not in NEB_METHODS:
            raise TLSFinderError(f"neb.method must be one of {NEB_METHODS}, got {self.method!r}")
        if int(self.n_images) < 3:
            raise TLSFinderError(f"neb.n_images must be >= 3, got {self.n_images}")
        for key in ("spring", "fmax", "fire_dt", "fire_dtmax", "fire_maxstep", "endpoint_ftol", "same_min_tol"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise TLSFinderError(f"neb.{key} must be a positive number, got {v!r}")
        if int(self.max_steps) < 1:
            raise TLSFinderError(f"neb.max_steps must be >= 1, got {self.max_steps}")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "NEBSettings":
        cfg = dict(cfg or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise TLSFinderError(f"neb: unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**cfg)


# ---------------------------------------------------------------------------
# Batched energies and forces
# ---------------------------------------------------------------------------


@numba.njit(cache=True, fastmath=True)
def _pair_kernel(pos, box, pi, pj, shift, inv_s2, eps, a12, a6, c0, c2, c4, xc2, energies, forces):  # pragma: no cover
    """Energies (k,) and forces (k, N, 3) of k configurations over one pair list.

    ``shift`` (P, 3): the periodic image vector of each pair at the last list
    build, so that usually r_ij = x_j - x_i + shift is already the minimum
    image; a component beyond half the box is folded (always correct, rarely
    taken).  ``inv_s2`` = 1 / sigma_ij^2.
    """
    k = pos.shape[0]
    npair = pi.shape[0]
    bx, by, bz = box[0], box[1], box[2]
    hx, hy, hz = 0.5 * bx, 0.5 * by, 0.5 * bz
    for m in range(k):
        e = 0.0
        for p in range(npair):
            i = pi[p]
            j = pj[p]
            dx = pos[m, j, 0] - pos[m, i, 0] + shift[p, 0]
            dy = pos[m, j, 1] - pos[m, i, 1] + shift[p, 1]
            dz = pos[m, j, 2] - pos[m, i, 2] + shift[p, 2]
            if dx > hx or dx < -hx:
                dx -= bx * math.floor(dx / bx + 0.5)
            if dy > hy or dy < -hy:
                dy -= by * math.floor(dy / by + 0.5)
            if dz > hz or dz < -hz:
                dz -= bz * math.floor(dz / bz + 0.5)
            x2 = (dx * dx + dy * dy + dz * dz) * inv_s2[p]
            if x2 >= xc2:
                continue
            ix2 = 1.0 / x2
            ix6 = ix2 * ix2 * ix2
            e += eps[p] * (a12 * ix6 * ix6 - a6 * ix6 + c0 + c2 * x2 + c4 * x2 * x2)
            # (dv/dr) / r with v = eps u(r / sigma)
            g = eps[p] * inv_s2[p] * ((-12.0 * a12 * ix6 * ix6 + 6.0 * a6 * ix6) * ix2 + 2.0 * c2 + 4.0 * c4 * x2)
            forces[m, i, 0] += g * dx
            forces[m, i, 1] += g * dy
            forces[m, i, 2] += g * dz
            forces[m, j, 0] -= g * dx
            forces[m, j, 1] -= g * dy
            forces[m, j, 2] -= g * dz
        energies[m] = e


@numba.njit(cache=True)
def _min_pair_distance2(pos, box, pi, pj):  # pragma: no cover - compiled
    """Smallest minimum-image squared distance of each pair (pi, pj) over configurations ``pos`` (k, N, 3)."""
    out = np.full(pi.shape[0], np.inf)
    for m in range(pos.shape[0]):
        for p in range(pi.shape[0]):
            r2 = 0.0
            for c in range(3):
                d = pos[m, pj[p], c] - pos[m, pi[p], c]
                d -= box[c] * np.floor(d / box[c] + 0.5)
                r2 += d * d
            if r2 < out[p]:
                out[p] = r2
    return out


class BatchForceField:
    """Energies and forces of many configurations of one model, one compiled pass.

    The model's pair form (:class:`tlsfinder.models.PairForm` coefficients) and
    per-pair eps, sigma (:meth:`Model.pair_params`) are evaluated over a Verlet
    pair list (cutoff + ``skin``) that is the union of the lists of all
    configurations seen; it is rebuilt when any configuration has moved more
    than skin / 2 from where it was at the last build.  ``n_evaluations``
    counts single-configuration force evaluations.
    """

    def __init__(self, model, box, species, skin: float = 0.3):
        self.model = model
        self.box = np.asarray(box, dtype=float)
        self.species = np.asarray(species)
        self.n = len(self.species)
        f = model.form
        self.coef = (float(f.a12), float(f.a6), float(f.c0), float(f.c2), float(f.c4), float(f.x_c) ** 2)
        self.cutoff = float(model.max_cutoff(self.species))
        half = 0.5 * float(self.box.min())
        if self.cutoff >= half:
            raise TLSFinderError(
                f"box {self.box.tolist()} too small for model {model.name}: cutoff {self.cutoff:.3f} must be below "
                f"half the box ({half:.3f}); use more particles"
            )
        self.skin = float(min(skin, 0.95 * (half - self.cutoff)))
        self._refs: dict = {}
        self._last: dict = {}
        self.pi = self.pj = None
        self.n_evaluations = 0
        self.n_builds = 0

    def _build(self):
        keys = []
        rc = self.cutoff + self.skin
        for x in self._last.values():
            w = np.mod(x, self.box)
            w[w >= self.box] = 0.0
            ij = cKDTree(w, boxsize=self.box).query_pairs(rc, output_type="ndarray")
            keys.append(ij[:, 0].astype(np.int64) * self.n + ij[:, 1])
        key = np.unique(np.concatenate(keys))
        pi, pj = (key // self.n).astype(np.int64), (key % self.n).astype(np.int64)
        # Keep a pair only within its own cutoff (x_c sigma_ij) plus the skin in some configuration:
        # a mixture's smaller pairs would otherwise carry the largest pair's cutoff (~25 % more pairs
        # for KA2, each costing a kernel iteration).
        eps, sig = (np.asarray(a, dtype=float) for a in self.model.pair_params(self.species, pi, pj))
        r2 = _min_pair_distance2(np.array(list(self._last.values())), self.box, pi, pj)
        keep = r2 < (np.sqrt(self.coef[5]) * sig + self.skin) ** 2
        self.pi, self.pj = pi[keep], pj[keep]
        self.eps = np.ascontiguousarray(eps[keep])
        self.inv_s2 = np.ascontiguousarray(1.0 / sig[keep] ** 2)
        # Periodic image of each pair at this build: the kernel's fast path.
        ref = next(iter(self._last.values()))
        d = ref[self.pj] - ref[self.pi]
        self.shift = np.ascontiguousarray(-self.box * np.round(d / self.box))
        self._refs = {s: x.copy() for s, x in self._last.items()}
        self.n_builds += 1

    def reset(self):
        """Forget all configurations (the next evaluation rebuilds the pair list)."""
        self._refs, self._last, self.pi = {}, {}, None

    def evaluate(self, stack, slots=None):
        """Energies (k,) and forces (k, N, 3) of configurations ``stack`` (k, N, 3).

        ``slots`` (k hashable labels, default 0..k-1) say which configurations
        are successive versions of the same one (for the pair-list bookkeeping).
        """
        stack = np.ascontiguousarray(stack, dtype=float)
        if stack.ndim == 2:
            stack = stack[None]
        if stack.shape[1:] != (self.n, 3):
            raise TLSFinderError(f"configurations of shape {stack.shape[1:]} do not match {self.n} particles")
        slots = list(range(len(stack))) if slots is None else list(slots)
        rebuild = self.pi is None
        half_skin2 = (0.5 * self.skin) ** 2
        for s, x in zip(slots, stack):
            self._last[s] = x
            ref = self._refs.get(s)
            if ref is None or np.max(np.sum((x - ref) ** 2, axis=1)) > half_skin2:
                rebuild = True
        if rebuild:
            self._build()
        e = np.zeros(len(stack))
        f = np.zeros_like(stack)
        _pair_kernel(stack, self.box, self.pi, self.pj, self.shift, self.inv_s2, self.eps, *self.coef, e, f)
        self.n_evaluations += len(stack)
        return e, f

    def energy_forces(self, positions, slot="single"):
        e, f = self.evaluate(np.asarray(positions, dtype=float)[None], [slot])
        return float(e[0]), f[0]


# ---------------------------------------------------------------------------
# Minimisation
# ---------------------------------------------------------------------------


@dataclass
class Minimum:
    positions: np.ndarray
    energy: float
    fmax: float  # max |F| component (eps/sigma)
    converged: bool
    evaluations: int
    lowest_eigenvalue: float = float("nan")


def minimize(ff: BatchForceField, positions, ftol: float = 1e-10, maxiter: int = 50000, newton: bool = True,
             slot="min") -> Minimum:
    """Minimise the energy from ``positions``: L-BFGS to max |F| ~ 1e-7, then Newton
    steps with the model's analytic Hessian until max |F| <= ``ftol``.

    The Newton steps solve (H + mu) dx = F with mu = 1e-9 (the three
    translation modes have zero curvature and no force); a step is accepted
    only if it lowers the energy or the force, and the Hessian's lowest
    non-translational eigenvalue must be positive (a minimum, not a saddle):
    otherwise ``converged`` is False.
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
    zero translation modes removed.  Dense for 3N <= ``dense_max``, else ARPACK."""
    h = model.hessian(positions, box, species)
    n = h.shape[0]
    # Project out uniform translations.
    t = np.zeros((n, 3))
    for a in range(3):
        t[a::3, a] = 1.0 / math.sqrt(n // 3)
    if n <= dense_max:
        hd = h.toarray()
        hd = hd - t @ (t.T @ hd) - (hd @ t) @ t.T + t @ (t.T @ hd @ t) @ t.T
        hd += 1e6 * (t @ t.T)  # push the translation modes out of the way
        w = np.linalg.eigvalsh(hd)
        return w[:k]
    shift = 1e6

    def mv(v):
        v = np.asarray(v).ravel()
        tv = t.T @ v
        pv = v - t @ tv
        hv = h @ pv
        return hv - t @ (t.T @ hv) + shift * (t @ tv)

    op = sla.LinearOperator((n, n), matvec=mv, dtype=float)
    w = sla.eigsh(op, k=k, which="SA", tol=1e-8, return_eigenvectors=False, maxiter=20 * n)
    return np.sort(w)


# ---------------------------------------------------------------------------
# The band
# ---------------------------------------------------------------------------


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


class _BatchHub:
    """Evaluates all images whose positions changed in one batched call."""

    def __init__(self, ff: BatchForceField, images):
        self.ff = ff
        self.images = images
        self.cache: dict[int, tuple[np.ndarray, float, np.ndarray]] = {}

    def get(self, slot: int):
        pos = self.images[slot].positions
        c = self.cache.get(slot)
        if c is not None and np.array_equal(c[0], pos):
            return c[1], c[2]
        dirty = [k for k, im in enumerate(self.images)
                 if k not in self.cache or not np.array_equal(self.cache[k][0], im.positions)]
        stack = np.array([self.images[k].positions for k in dirty])
        e, f = self.ff.evaluate(stack, dirty)
        for n, k in enumerate(dirty):
            self.cache[k] = (stack[n].copy(), float(e[n]), f[n])
        c = self.cache[slot]
        return c[1], c[2]


def _image_calculator(hub: _BatchHub, slot: int):
    from ase.calculators.calculator import Calculator, all_changes

    class ImageCalculator(Calculator):
        """Energy and forces of one NEB image from the shared batch (positions are the
        only thing that changes along a NEB, so only they are compared)."""

        implemented_properties = ["energy", "forces"]

        def __init__(self):
            super().__init__()
            self._pos = None

        def check_state(self, atoms, tol=1e-15):
            if self._pos is None or not np.array_equal(self._pos, atoms.positions):
                return ["positions"]
            return []

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            self.atoms = atoms
            self._pos = atoms.positions.copy()
            e, f = hub.get(slot)
            self.results = {"energy": e, "forces": f.copy()}

    return ImageCalculator()


@dataclass
class Band:
    """A relaxed (or not) band: images (n, N, 3), energies (n,) (eps), the true force
    along the tangent at each image (eps/sigma), and how it went."""

    images: np.ndarray
    energies: np.ndarray
    f_par: np.ndarray
    converged: bool
    steps: int
    force_calls: int
    fmax: float
    climb_index: int
    wall_time: float
    stopped: bool = False

    @property
    def s(self) -> np.ndarray:
        """Arc length (chord sum) along the band in the full 3N space (sigma)."""
        seg = np.linalg.norm((self.images[1:] - self.images[:-1]).reshape(len(self.images) - 1, -1), axis=1)
        return np.concatenate([[0.0], np.cumsum(seg)])


def run_neb(ff: BatchForceField, pos_a, pos_b, settings: NEBSettings, init=None, monitor=None) -> Band:
    """Climbing-image NEB between two (aligned, minimised) configurations.

    ``init`` (n_images, N, 3): a starting band (default: linear interpolation).
    ``monitor(step, energies, images) -> bool`` is called every
    ``settings.check_every`` steps; returning True stops the run (``stopped``).
    FIRE (Bitzek et al., PRL 97, 170201 (2006)) on the NEB forces of
    :class:`ase.mep.NEB`, unit masses, semi-implicit Euler steps, each atom's
    move per step capped at ``fire_maxstep``.  The climbing image is switched
    on once the band's force is below 10 fmax (it then climbs a band that is
    already near the MEP) and stays on.
    """
    import ase
    from ase.mep import NEB

    n_img = int(settings.n_images)
    a = np.asarray(pos_a, dtype=float)
    b = np.asarray(pos_b, dtype=float)
    if init is None:
        w = np.linspace(0.0, 1.0, n_img)[:, None, None]
        init = a[None] + w * (b - a)[None]
    init = np.array(init, dtype=float)
    if init.shape != (n_img, ff.n, 3):
        raise TLSFinderError(f"NEB start band has shape {init.shape}, expected {(n_img, ff.n, 3)}")
    cell = np.diag(ff.box)
    # The band is continuous in unwrapped coordinates (endpoints aligned by minimum image), so
    # ASE needs no minimum image between neighbouring images: pbc=False spares it a cell solve per
    # spring; periodicity is handled by our force field.
    images = [ase.Atoms(numbers=np.ones(ff.n, dtype=int), positions=x, cell=cell, pbc=False) for x in init]
    ff.reset()
    hub = _BatchHub(ff, images)
    for k, im in enumerate(images):
        im.calc = _image_calculator(hub, k)
    neb = NEB(images, k=settings.spring, climb=False, method=settings.method, allow_shared_calculator=False)
    n0 = ff.n_evaluations
    t0 = time.perf_counter()
    x = neb.get_positions()
    v = np.zeros_like(x)
    dt, alpha, n_pos = settings.fire_dt, 0.1, 0
    converged, stopped, fmax, step = False, False, float("inf"), 0
    for step in range(int(settings.max_steps) + 1):
        f = neb.get_forces()
        if monitor is not None and step > 0 and step % int(settings.check_every) == 0:
            if monitor(step, np.array(neb.energies), np.array([im.positions for im in images])):
                stopped = True
                fmax = float(np.sqrt((f * f).sum(axis=1)).max())
                break
        fmax = float(np.sqrt((f * f).sum(axis=1)).max())
        if settings.climb and not neb.climb and fmax < 10.0 * settings.fmax:
            neb.climb = True
            v[:] = 0.0
            f = neb.get_forces()
            fmax = float(np.sqrt((f * f).sum(axis=1)).max())
        if fmax <= settings.fmax and (neb.climb or not settings.climb):
            converged = True
            break
        if step == int(settings.max_steps):
            break
        p = float(np.vdot(f, v))
        if p > 0.0:
            fn = math.sqrt(float(np.vdot(f, f)))
            v = (1.0 - alpha) * v + alpha * math.sqrt(float(np.vdot(v, v))) * f / fn
            if n_pos > 5:
                dt = min(dt * 1.1, settings.fire_dtmax)
                alpha *= 0.99
            n_pos += 1
        else:
            v[:] = 0.0
            dt *= 0.5
            alpha, n_pos = 0.1, 0
        v += dt * f
        dr = dt * v
        norm = np.sqrt((dr * dr).sum(axis=1))
        big = norm > settings.fire_maxstep
        if np.any(big):
            dr[big] *= (settings.fire_maxstep / norm[big])[:, None]
        x = x + dr
        neb.set_positions(x)
        x = neb.get_positions()
    energies = np.array([im.get_potential_energy() for im in images])
    band_x = np.array([im.positions for im in images])
    # True force along the band tangent (central differences of the images).
    tang = np.zeros_like(band_x)
    tang[1:-1] = band_x[2:] - band_x[:-2]
    tang[0], tang[-1] = band_x[1] - band_x[0], band_x[-1] - band_x[-2]
    tn = np.linalg.norm(tang.reshape(n_img, -1), axis=1)
    forces = np.array([im.get_forces() for im in images])
    f_par = np.einsum("kij,kij->k", forces, tang) / np.where(tn > 0, tn, 1.0)
    return Band(images=band_x, energies=energies, f_par=f_par, converged=converged, steps=step,
                force_calls=ff.n_evaluations - n0, fmax=fmax, climb_index=int(1 + np.argmax(energies[1:-1])),
                wall_time=time.perf_counter() - t0, stopped=stopped)


def intermediate_minima(energies, tol: float) -> list[int]:
    """Interior images that are local minima of the band with a barrier of more than
    ``tol`` (eps) on both sides."""
    e = np.asarray(energies, dtype=float)
    out = []
    for k in range(1, len(e) - 1):
        if e[k] <= e[k - 1] and e[k] <= e[k + 1]:
            if e[:k].max() - e[k] > tol and e[k + 1:].max() - e[k] > tol:
                out.append(k)
    return out


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


# ---------------------------------------------------------------------------
# One pair: endpoints, band, intermediate minima, elementary double wells
# ---------------------------------------------------------------------------


@dataclass
class PairResult:
    """One pair (input or from a split) and what the NEB made of it."""

    pair_id: str
    parent: str
    origin: str  # "input" or "split"
    status: str  # "dw", "split", "non_dw", "unconverged", "same_minimum"
    pos_a: np.ndarray
    pos_b: np.ndarray  # aligned to pos_a
    e_a: float
    e_b: float
    band: Band | None
    row: dict = field(default_factory=dict)


def _check_endpoints(pos_a, pos_b, species, box, where: str):
    a = np.asarray(pos_a, dtype=float)
    b = np.asarray(pos_b, dtype=float)
    n = len(species)
    if a.shape != (n, 3) or b.shape != (n, 3):
        raise TLSFinderError(f"{where}: endpoints have shapes {a.shape} and {b.shape}; expected ({n}, 3) "
                             "(different particle counts?)")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise TLSFinderError(f"{where}: endpoint positions are not finite")
    if np.abs(displacements(a, b, box)).max() < 1e-10:
        raise TLSFinderError(f"{where}: the two endpoints are identical configurations")
    return a, b


def neb_pair(model, box, species, pos_a, pos_b, settings: NEBSettings | None = None, presets=(),
             pair_id: str = "pair", splitting_options: dict | None = None, init=None) -> list[PairResult]:
    """NEB between two configurations of one glass: minimise both ends, relax the band,
    split at intermediate minima, analyse every elementary double well.

    Returns one :class:`PairResult` per pair considered: the input pair first, then
    any elementary sub-pairs (``origin = "split"``).  ``presets``: unit presets
    for the splitting columns; ``splitting_options``: keyword arguments for
    :func:`tlsfinder.splitting.analyse_mep` (n_xi, continuation, ...);
    ``init``: a starting band (n_images, N, 3) for the input pair, its ends
    replaced by the minimised, aligned endpoints (default: linear interpolation;
    sub-pairs always start linear).
    """
    settings = settings or NEBSettings()
    box = np.asarray(box, dtype=float)
    species = model.check_species(species, f"pair {pair_id}: species")
    a, b = _check_endpoints(pos_a, pos_b, species, box, f"pair {pair_id}")
    ff = BatchForceField(model, box, species, skin=settings.skin)
    ma = minimize(ff, a, settings.endpoint_ftol)
    mb = minimize(ff, b, settings.endpoint_ftol)
    for m, name in ((ma, "A"), (mb, "B")):
        if not m.converged:
            log.warning("pair %s: endpoint %s minimised only to max|F| = %.2e (asked %.1e)", pair_id, name,
                        m.fmax, settings.endpoint_ftol)
    ctx = _Context(model, box, species, ff, settings, list(presets), dict(splitting_options or {}))
    return ctx.run(ma, mb, pair_id, "", "input", 0, init=init)


class _Context:
    def __init__(self, model, box, species, ff, settings, presets, sopts):
        self.model, self.box, self.species, self.ff = model, box, species, ff
        self.s, self.presets, self.sopts = settings, presets, sopts

    def _new_minima(self, band_images, energies, known, tol):
        """Minimise from the band's intermediate dips; return [(image index, Minimum)] of new minima."""
        found = []
        for k in intermediate_minima(energies, tol):
            m = minimize(self.ff, band_images[k], self.s.endpoint_ftol)
            if any(same_minimum(m.positions, q, self.box, self.s.same_min_tol) for q in known):
                continue
            if any(same_minimum(m.positions, q.positions, self.box, self.s.same_min_tol) for _, q in found):
                continue
            found.append((k, m))
        return found

    def run(self, ma: Minimum, mb: Minimum, pair_id, parent, origin, depth, init=None) -> list[PairResult]:
        s = self.s
        b_al, shift = align(ma.positions, mb.positions, self.box)
        base = dict(pair_id=pair_id, parent=parent, origin=origin, e_A=ma.energy, e_B=mb.energy,
                    translation_removed=shift)
        disp = b_al - ma.positions
        base.update(d=rms_distance(disp), total_displacement=float(np.sqrt(np.sum(disp * disp))),
                    PR=participation_ratio(disp))
        if same_minimum(ma.positions, b_al, self.box, s.same_min_tol):
            row = {**base, "status": "same_minimum", "neb_converged": False, "neb_steps": 0, "force_calls": 0,
                   "n_intermediate": 0}
            return [PairResult(pair_id, parent, origin, "same_minimum", ma.positions, b_al, ma.energy, mb.energy,
                               None, row)]
        known = [ma.positions, b_al]
        early: list = []

        def monitor(step, energies, images):
            # Only look for dips deeper than the band's own force noise.
            found = self._new_minima(images, energies, known, max(s.intermediate_tol, 1e-3))
            if found:
                early.extend(found)
                log.info("pair %s: intermediate minimum at step %d (images %s): splitting", pair_id, step,
                         [k for k, _ in found])
                return True
            return False

        if init is not None:
            init = np.array(init, dtype=float)
            if init.ndim != 3 or init.shape[1:] != ma.positions.shape:
                raise TLSFinderError(
                    f"pair {pair_id}: starting band of shape {init.shape} does not match the endpoints")
            # Put the band next to A (minimum image, per image) and pin its ends.
            init = np.array([align(ma.positions, x, self.box, remove_translation=False)[0] for x in init])
            init[0], init[-1] = ma.positions, b_al
        band = run_neb(self.ff, ma.positions, b_al, s, init=init,
                       monitor=monitor if depth < s.split_depth else None)
        found = early or self._new_minima(band.images, band.energies, known, s.intermediate_tol)
        row = {**base, "neb_converged": band.converged, "neb_steps": band.steps, "force_calls": band.force_calls,
               "fmax": band.fmax, "n_images": len(band.energies), "saddle_image": band.climb_index,
               "neb_wall_s": band.wall_time, "n_intermediate": len(found)}
        if found:
            status = "split" if depth < s.split_depth else "non_dw"
            res = [PairResult(pair_id, parent, origin, status, ma.positions, b_al, ma.energy, mb.energy, band,
                              {**row, "status": status})]
            if status == "split":
                chain = [ma] + [m for _, m in sorted(found, key=lambda km: km[0])]
                chain.append(Minimum(b_al, mb.energy, mb.fmax, mb.converged, 0))
                for n in range(len(chain) - 1):
                    res += self.run(chain[n], chain[n + 1], f"{pair_id}.{n + 1}", pair_id, "split", depth + 1)
            return res
        if not band.converged:
            return [PairResult(pair_id, parent, origin, "unconverged", ma.positions, b_al, ma.energy, mb.energy,
                               band, {**row, "status": "unconverged"})]
        e = band.energies
        if e[1:-1].max() - max(e[0], e[-1]) <= s.intermediate_tol:
            # No barrier above the upper minimum: not a double well.
            return [PairResult(pair_id, parent, origin, "non_dw", ma.positions, b_al, ma.energy, mb.energy, band,
                               {**row, "status": "non_dw"})]
        mep = MEP(band.s, band.energies, source=f"pair {pair_id}")
        try:
            row.update(analyse_mep(mep, self.presets, **self.sopts))
            status = "dw"
        except TLSFinderError as exc:
            log.warning("pair %s: no splitting (%s)", pair_id, exc)
            status = "non_dw"
        row["status"] = status
        return [PairResult(pair_id, parent, origin, status, ma.positions, b_al, ma.energy, mb.energy, band, row)]


# ---------------------------------------------------------------------------
# Output files
# ---------------------------------------------------------------------------


def safe_name(pair_id: str) -> str:
    """A file name for a pair id ('T0.617/g3/12-45' -> 'T0.617_g3_12-45')."""
    return "".join(c if (c.isalnum() or c in "-._") else "_" for c in str(pair_id))


def write_pair_files(result: PairResult, outdir, species, box) -> dict:
    """Path CSV, path extended XYZ and saddle extended XYZ of one pair; returns their paths."""
    import ase
    import ase.io
    import pandas as pd

    from .io import atomic_path

    band = result.band
    if band is None:
        return {}
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = outdir / safe_name(result.pair_id)
    s = band.s
    df = pd.DataFrame({"image": np.arange(len(s)), "s": s, "xi": s / s[-1], "energy": band.energies,
                       "f_par": band.f_par})
    files = {"path_csv": f"{stem}.path.csv", "path_xyz": f"{stem}.path.xyz", "saddle_xyz": f"{stem}.saddle.xyz"}
    with atomic_path(files["path_csv"]) as tmp:
        df.to_csv(tmp, index=False, float_format="%.17g")
    numbers = _numbers(species)
    cell = np.diag(np.asarray(box, dtype=float))
    frames = []
    for k, (x, e) in enumerate(zip(band.images, band.energies)):
        at = ase.Atoms(numbers=numbers, positions=x, cell=cell, pbc=True)
        if not np.issubdtype(np.asarray(species).dtype, np.integer):
            at.arrays["diameter"] = np.asarray(species, dtype=float)
        at.info.update(energy=float(e), image=k, pair_id=result.pair_id)
        frames.append(at)
    with atomic_path(files["path_xyz"]) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
    sad = frames[band.climb_index].copy()
    sad.info.update(energy=float(band.energies[band.climb_index]), image=band.climb_index, pair_id=result.pair_id)
    with atomic_path(files["saddle_xyz"]) as tmp:
        ase.io.write(tmp, [sad], format="extxyz")
    return files


def _numbers(species) -> np.ndarray:
    """Atomic numbers for viewers: KA2 types A, B, C -> 1, 2, 3; PSS -> 1 (diameters in arrays)."""
    sp_ = np.asarray(species)
    if np.issubdtype(sp_.dtype, np.integer):
        return sp_.astype(int) + 1
    return np.ones(len(sp_), dtype=int)


# ---------------------------------------------------------------------------
# Batches of selected pairs (workflow) and the command line
# ---------------------------------------------------------------------------

#: Keys of the config's ``neb`` section that belong to the workflow, not to NEBSettings.
WORKFLOW_KEYS = ("batches",)

#: Columns every DW-table row has (the splitting columns follow, per preset).
ROW_COLUMNS = ("glass", "i", "j", "pair_id", "parent", "origin", "status", "neb_converged", "neb_steps",
               "force_calls", "fmax", "n_images", "saddle_image", "neb_wall_s", "n_intermediate", "e_A", "e_B",
               "d", "total_displacement", "PR", "translation_removed")


def settings_from_config(config: dict) -> tuple[NEBSettings, list, dict]:
    """(NEB settings, unit presets, splitting options) from a full config (sections
    ``neb``, ``units``, ``splitting``, all optional)."""
    from .units import presets_from_config

    neb_cfg = {k: v for k, v in dict(config.get("neb") or {}).items() if k not in WORKFLOW_KEYS}
    settings = NEBSettings.from_config(neb_cfg)
    model_name = config.get("model", {}).get("name", "KA2")
    unit_cfg = dict(config.get("units") or {})
    presets = presets_from_config(model_name, unit_cfg.get("presets", ["Ar", "NiP"]))
    sopts = dict(config.get("splitting") or {})
    allowed = {"n_xi", "continuation", "bc", "check_convergence", "conv_rtol"}
    bad = set(sopts) - allowed
    if bad:
        raise TLSFinderError(f"splitting: unknown key(s) {sorted(bad)}; allowed: {sorted(allowed)}")
    return settings, presets, sopts


def dw_table(results: list[PairResult], extra: dict | None = None) -> "pd.DataFrame":  # noqa: F821
    """Rows of the DW table (module docstring) for a list of pair results."""
    import pandas as pd

    rows = []
    for r in results:
        row = {k: r.row.get(k) for k in ROW_COLUMNS if k in r.row}
        row.update({k: v for k, v in r.row.items() if k not in row})
        row.update(extra or {})
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("glass", "pair_id", "parent", "origin", "status"):
        if col in df:
            df[col] = df[col].astype("string")
    return df


def run_batch(config: dict, selected_path, libraries: dict, batch: int, n_batches: int, out_path,
              paths_dir) -> "pd.DataFrame":  # noqa: F821
    """NEB on the selected pairs with row number % n_batches == batch; write the DW table.

    ``libraries``: glass id (e.g. "T0.617/g3") -> IS library path.  Pair ids are
    "<glass>/<i>-<j>"; sub-pairs from splits append ".1", ".2", ...; their
    endpoints that are new minima have i or j = -1 (the ids of the input pair's
    minima are kept where they coincide).
    """
    import pandas as pd

    from .explore import read_is_library
    from .io import write_parquet
    from .models import model_from_config

    sel = pd.read_parquet(selected_path)
    for col in ("glass", "i", "j"):
        if col not in sel.columns:
            raise TLSFinderError(f"{selected_path}: column {col!r} missing (have {list(sel.columns)})")
    if not 0 <= batch < n_batches:
        raise TLSFinderError(f"batch {batch} out of range 0..{n_batches - 1}")
    mine = sel.iloc[batch::n_batches]
    settings, presets, sopts = settings_from_config(config)
    cache: dict = {}
    frames = []
    for _, p in mine.iterrows():
        glass, i, j = str(p["glass"]), int(p["i"]), int(p["j"])
        if glass not in libraries:
            raise TLSFinderError(f"{selected_path}: glass {glass!r} has no IS library among the inputs")
        if glass not in cache:
            cache = {glass: read_is_library(libraries[glass])}  # one glass at a time in memory
        lib = cache[glass]
        n_is = len(lib["energy"])
        for v in (i, j):
            if not 0 <= v < n_is:
                raise TLSFinderError(f"{selected_path}: IS id {v} of glass {glass} not in its library (0..{n_is - 1})")
        model = model_from_config(lib["model"])
        pair_id = f"{glass}/{i}-{j}"
        t0 = time.perf_counter()
        res = neb_pair(model, lib["box"], lib["species"], lib["positions"][i], lib["positions"][j], settings,
                       presets, pair_id=pair_id, splitting_options=sopts)
        for r in res:
            files = write_pair_files(r, paths_dir, lib["species"], lib["box"])
            r.row.update({k: str(Path(v).name) for k, v in files.items()})
        df = dw_table(res, {"glass": glass})
        df["i"] = [i if r.origin == "input" else _known_id(r, lib, i, j, settings, True) for r in res]
        df["j"] = [j if r.origin == "input" else _known_id(r, lib, i, j, settings, False) for r in res]
        frames.append(df)
        log.info("pair %s: %s in %.1f s (%d sub-pairs)", pair_id, res[0].status, time.perf_counter() - t0,
                 len(res) - 1)
    out = pd.concat(frames, ignore_index=True) if frames else dw_table([])
    write_parquet(out_path, out)
    return out


def _known_id(r: PairResult, lib, i, j, settings, first: bool) -> int:
    pos = r.pos_a if first else r.pos_b
    for v in (i, j):
        if same_minimum(pos, lib["positions"][v], lib["box"], settings.same_min_tol):
            return v
    return -1


def _read_endpoint(spec: str, model_cfg: dict | None):
    """(positions, box, species, model config) from 'glass.h5', 'library.h5:ID' or an extended XYZ file."""
    import h5py

    path, _, idx = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    p = Path(path)
    if not p.exists():
        raise TLSFinderError(f"{path}: no such file")
    if p.suffix.lower() in (".h5", ".hdf5"):
        with h5py.File(p, "r") as h:
            fmt = h.attrs.get("format")
        if idx:
            from .explore import read_is_library

            lib = read_is_library(p)
            k = int(idx)
            if not 0 <= k < len(lib["energy"]):
                raise TLSFinderError(f"{spec}: IS id {k} not in the library (0..{len(lib['energy']) - 1})")
            return lib["positions"][k], lib["box"], lib["species"], lib["model"]
        if fmt is not None and "islib" in str(fmt):
            raise TLSFinderError(f"{path}: an IS library: give the IS id as {path}:ID")
        from .io import read_glass

        g = read_glass(p)
        return g.positions, g.box, g.species, g.model
    import ase.io

    try:
        at = ase.io.read(str(p), index=-1, format="extxyz")
    except Exception as exc:  # noqa: BLE001
        raise TLSFinderError(f"{path}: cannot be read as extended XYZ ({exc})")
    if model_cfg is None:
        raise TLSFinderError(f"{path}: an XYZ file does not say its model: pass --config with a model section")
    if "diameter" in at.arrays:
        species = np.asarray(at.arrays["diameter"], dtype=float)
    else:
        species = at.numbers.astype(np.int64) - 1
    return at.positions, at.cell.lengths(), species, dict(model_cfg, n=len(at))


def add_cli(subparsers) -> None:
    """Register ``tlsfinder neb``."""
    p = subparsers.add_parser(
        "neb", help="climbing-image NEB between two minima, split at intermediate minima, splitting per preset",
        description="Endpoints: a glass file (glass.h5), an IS library entry (is_library.h5:ID) or an extended "
        "XYZ file (then --config gives the model).  Writes DIR/dw.parquet and the path files.",
    )
    p.add_argument("a", help="first minimum")
    p.add_argument("b", help="second minimum")
    p.add_argument("--config", help="YAML config (sections model, neb, units, splitting)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--pair-id", default="pair")
    p.add_argument("--n-images", type=int)
    p.add_argument("--spring", type=float)
    p.add_argument("--fmax", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--method", choices=NEB_METHODS)
    p.add_argument("--preset", action="append", dest="presets", help="unit preset (repeatable)")
    p.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace):
    import yaml

    from .io import write_parquet
    from .models import model_from_config

    config: dict = {}
    if args.config:
        try:
            config = yaml.safe_load(Path(args.config).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise TLSFinderError(f"{args.config}: cannot read config ({exc})")
    ea = _read_endpoint(args.a, config.get("model"))
    eb = _read_endpoint(args.b, config.get("model"))
    (xa, box_a, sp_a, m_a), (xb, box_b, sp_b, m_b) = ea, eb
    if len(sp_a) != len(sp_b):
        raise TLSFinderError(f"{args.a} has {len(sp_a)} particles, {args.b} has {len(sp_b)}")
    if m_a != m_b:
        raise TLSFinderError(f"{args.a} and {args.b} are configurations of different models ({m_a} vs {m_b})")
    if not np.allclose(box_a, box_b, rtol=0, atol=1e-9):
        raise TLSFinderError(f"{args.a} and {args.b} have different boxes ({box_a} vs {box_b})")
    if not np.array_equal(np.asarray(sp_a), np.asarray(sp_b)):
        raise TLSFinderError(f"{args.a} and {args.b} have different species (not two minima of one glass)")
    config.setdefault("model", m_a)
    neb_cfg = dict(config.get("neb") or {})
    for key in ("n_images", "spring", "fmax", "max_steps", "method"):
        v = getattr(args, key)
        if v is not None:
            neb_cfg[key] = v
    config["neb"] = neb_cfg
    if args.presets:
        config["units"] = dict(config.get("units") or {}, presets=args.presets)
    settings, presets, sopts = settings_from_config(config)
    model = model_from_config(m_a)
    res = neb_pair(model, box_a, sp_a, xa, xb, settings, presets, pair_id=args.pair_id, splitting_options=sopts)
    out = Path(args.out)
    for r in res:
        files = write_pair_files(r, out, sp_a, box_a)
        r.row.update({k: Path(v).name for k, v in files.items()})
    df = dw_table(res)
    write_parquet(out / "dw.parquet", df)
    keep = ["pair_id", "status", "neb_steps", "force_calls", "V_a", "Delta_V"] + [
        f"E_{p.name}" for p in presets]
    return [{k: (None if (isinstance(v, float) and not math.isfinite(v)) else v) for k, v in r.row.items() if k in keep}
            for r in res]
