"""The band: climbing-image NEB relaxed by FIRE on one batched force field.

The minimum energy path (MEP) between two aligned minima is found by
climbing-image NEB (Henkelman, Uberuaga, Jonsson, J. Chem. Phys. 113, 9901
(2000)) with the NEB forces of ASE's :class:`ase.mep.NEB` (``method =
"improvedtangent"``, Henkelman and Jonsson, J. Chem. Phys. 113, 9978 (2000)),
relaxed with FIRE.  The energies and forces of all moving images come from one
batched call of the compiled pair kernel (:class:`BatchForceField`).

Convergence is ASE's criterion: the largest per-atom norm of the NEB force
(true force perpendicular to the band plus spring force along it; the full
force with inverted tangential part on the climbing image) over all moving
images, ``fmax`` (eps/sigma).  LAMMPS ``neb`` with ``min_modify norm max`` uses
the same norm.

Accuracy note.  The reaction coordinate is the chord length between images.
Residual perpendicular forces leave the images scattered about the MEP by
~fmax / k_soft, which lengthens the chord sum: on a KA2 N = 300 double well
with 64 images, d_path came out 0.499-0.519 sigma at fmax = 1e-3 depending on
FIRE's time step, 0.497-0.499 at fmax = 1e-4.  The splitting of an asymmetric
well (E ~ Delta) does not notice; Delta_0 of a near-symmetric one scales like
exp(-c d) and moved by ~20 %.  Lower ``fmax`` where tunnelling-dominated
splittings must be precise (about 10x more FIRE steps per decade): the NEB step
does so for the wells near the TLS threshold (``neb.refine``, step 5 of
:mod:`tlsfinder.neb.pair`), with more images too (:func:`insert_midpoints`).

ASE is imported inside the functions that use it: importing it takes about a
second, which every command and the report (which import this package for its
settings) would otherwise pay.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import TLSFinderError
from .forcefield import BatchForceField
from .settings import NEBSettings


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
    attempts: int = 1  # runs of max_steps each (1 + retries used, :func:`relax_band`)

    @property
    def s(self) -> np.ndarray:
        """Arc length (chord sum) along the band in the full 3N space (sigma)."""
        seg = np.linalg.norm((self.images[1:] - self.images[:-1]).reshape(len(self.images) - 1, -1), axis=1)
        return np.concatenate([[0.0], np.cumsum(seg)])


def _net_free(f: np.ndarray, n: int) -> np.ndarray:
    """NEB forces (moving images x n atoms, 3) without each image's net force.

    The true forces of a periodic pair potential sum to zero; the springs' do not once the tangent
    has a rigid-translation part, and translation costs no energy: the springs then spread crowded
    images out along it.  On PSS bands images 1-7 became copies of the first minimum shifted as a
    whole by up to 1e-3 sigma, a flat stretch of the 1D potential whose ladder of levels (0.0005 eps
    apart, Delta 0.09 eps) the splitting took for a TLS.  Without the net force (and with the step's
    net move removed, below) every image keeps the centre of mass of the linear start band."""
    g = f.reshape(-1, n, 3)
    return (g - g.mean(axis=1, keepdims=True)).reshape(f.shape)


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

    The FIRE loop is ours, not ``ase.optimize.FIRE`` with observers: ASE's caps
    the norm of the whole step (all images, all atoms) instead of each atom's
    move, starts without the first step's dt halving, and forms the velocity
    mixing in another order, so it would give another trajectory; and the
    climbing-image switch (which resets the velocities) and the early stop of
    ``monitor`` would have to reach into the optimiser's state from observers.
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
        f = _net_free(neb.get_forces(), ff.n)
        if monitor is not None and step > 0 and step % int(settings.check_every) == 0:
            if monitor(step, np.array(neb.energies), np.array([im.positions for im in images])):
                stopped = True
                fmax = float(np.sqrt((f * f).sum(axis=1)).max())
                break
        fmax = float(np.sqrt((f * f).sum(axis=1)).max())
        if settings.climb and not neb.climb and fmax < 10.0 * settings.fmax:
            neb.climb = True
            v[:] = 0.0
            f = _net_free(neb.get_forces(), ff.n)
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
            # capping some atoms' moves would give the image a net translation (see _net_free)
            dr = dr.reshape(-1, ff.n, 3)
            dr -= dr.mean(axis=1, keepdims=True)
            dr = dr.reshape(-1, 3)
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


def reinterpolate(images, n: int, at=None) -> np.ndarray:
    """``n`` images equally spaced in arc length along the band ``images`` (k, N, 3).

    The band is a cubic spline in the full 3N space through the images,
    parametrised by their chord length (not-a-knot; linear for k < 4); the end
    images are kept exactly.  ``at``: the n chord-length values to evaluate
    instead of n equally spaced ones.
    """
    from scipy.interpolate import CubicSpline, interp1d

    x = np.asarray(images, dtype=float)
    k = len(x)
    flat = x.reshape(k, -1)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(flat, axis=0), axis=1))])
    if k < 2 or s[-1] <= 0 or np.any(np.diff(s) <= 0):
        raise TLSFinderError("cannot re-interpolate a band with coincident images")
    curve = CubicSpline(s, flat, axis=0) if k >= 4 else interp1d(s, flat, axis=0)
    out = curve(np.linspace(0.0, s[-1], int(n)) if at is None else np.asarray(at, dtype=float))
    out[0], out[-1] = flat[0], flat[-1]
    return out.reshape((int(n),) + x.shape[1:])


def insert_midpoints(images) -> np.ndarray:
    """The band ``images`` (k, N, 3) with an image added halfway (in chord length) between each
    two, on the cubic spline through them (:func:`reinterpolate`'s curve): 2k - 1 images, the
    old ones unchanged (they are already on the path; only the new ones have to relax)."""
    x = np.asarray(images, dtype=float)
    k = len(x)
    flat = x.reshape(k, -1)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(flat, axis=0), axis=1))])
    fine = np.empty(2 * k - 1)
    fine[0::2], fine[1::2] = s, 0.5 * (s[1:] + s[:-1])
    out = reinterpolate(x, 2 * k - 1, at=fine)
    out[0::2] = x
    return out


def relax_band(ff: BatchForceField, pos_a, pos_b, settings: NEBSettings, init=None, monitor=None) -> Band:
    """:func:`run_neb`, and for a band that has not converged in ``max_steps`` (and was not
    stopped by ``monitor``) up to ``settings.retries`` more runs of ``max_steps``, each
    from the last band with FIRE restarted (zero velocities, initial time step).

    Why: bands that stall do so at 1-2 fmax where the path bends sharply, FIRE's velocity
    mixing oscillating between the images next to the bend; restarting it from the last band
    converged such a KA2 band (N = 300, 32 images, stalled at 1.08 fmax after 3000 steps) in
    222 steps, where re-spacing the images by arc length first (:func:`reinterpolate`) took
    1686 (the spline moves the images off the path, which then relaxes again).
    ``steps``, ``force_calls`` and ``wall_time`` of the returned band sum over all runs;
    ``attempts`` counts them.
    """
    band = run_neb(ff, pos_a, pos_b, settings, init=init, monitor=monitor)
    steps, calls, wall, attempts = band.steps, band.force_calls, band.wall_time, 1
    while not (band.converged or band.stopped) and attempts <= int(settings.retries):
        band = run_neb(ff, pos_a, pos_b, settings, init=band.images, monitor=monitor)
        steps, calls, wall, attempts = steps + band.steps, calls + band.force_calls, wall + band.wall_time, attempts + 1
    band.steps, band.force_calls, band.wall_time, band.attempts = steps, calls, wall, attempts
    return band
