"""Energies and forces of many configurations of one model in one compiled pass (the NEB's force field)."""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy.spatial import cKDTree

from .. import TLSFinderError
from ..potentials import energy_x2_jit, force_x2_jit


@numba.njit(cache=True, fastmath=True)
def _pair_kernel(pos, box, pi, pj, shift, inv_s2, eps, a12, a6, c0, c2, c4, xc2, energies, forces):  # pragma: no cover
    """Energies (k,) and forces (k, N, 3) of k configurations over one pair list.

    ``shift`` (P, 3): the periodic image vector of each pair at the last list
    build, so that usually r_ij = x_j - x_i + shift is already the minimum
    image; a component beyond half the box is folded (always correct, rarely
    taken).  ``inv_s2`` = 1 / sigma_ij^2.  u(x) and (du/dx)/x are the functions of x^2 of
    :mod:`tlsfinder.potentials`, inlined here and compiled with this kernel's flags.
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
            e += eps[p] * energy_x2_jit(x2, a12, a6, c0, c2, c4)
            # (dv/dr) / r with v = eps u(r / sigma)
            g = eps[p] * inv_s2[p] * force_x2_jit(x2, a12, a6, c0, c2, c4)
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

    The model's pair form (:class:`tlsfinder.potentials.PairForm` coefficients) and
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
        self.coef = (*(float(c) for c in f.coefficients), float(f.x_c) ** 2)  # the kernel's a12..c4, x_c^2
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

