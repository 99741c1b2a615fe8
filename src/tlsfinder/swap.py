"""Swap Monte Carlo with local energy differences (numba).

LAMMPS's ``fix atom/swap`` recomputes the whole system's energy for every
attempt.  A swap changes only the interactions of the two particles involved,
so here an attempt costs two neighbour sums: positions are taken from LAMMPS
between MD blocks (they do not move during a block of swaps), a full
neighbour list is built once per block, and each attempt evaluates

    dE = sum_{k in nb(i), k != j} [v(s_j, s_k; r_ik) - v(s_i, s_k; r_ik)]
       + sum_{k in nb(j), k != i} [v(s_i, s_k; r_jk) - v(s_j, s_k; r_jk)]

(the i-j pair itself is unchanged by the exchange) and accepts with the
Metropolis probability min(1, exp(-dE / T)).  Proposals are symmetric, so
detailed balance holds:

* KA2: each attempt picks a kind, A<->C or B<->C, with probability 1/2, then a
  uniformly random particle of each of the two types, and exchanges their types
  (as two ``fix atom/swap`` instances with ``types 1 3`` / ``types 2 3`` do).
* PSS: each attempt picks two distinct particles uniformly and exchanges their
  diameters.

All random numbers come from a numpy Generator, so a seed fixes the chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba.core import types as nbtypes
from numba.extending import overload

from .geometry import periodic_pairs
from .models import KA2, KA2_EPS, KA2_SIGMA, PSS, Model
from .potentials import energy_x


@dataclass
class SwapStats:
    """Attempted and accepted swaps per kind (KA2: [A<->C, B<->C]; PSS: [diameters])."""

    attempted: np.ndarray
    accepted: np.ndarray

    @property
    def rate(self) -> np.ndarray:
        return self.accepted / np.maximum(self.attempted, 1)

    def __iadd__(self, other: "SwapStats"):
        self.attempted = self.attempted + other.attempted
        self.accepted = self.accepted + other.accepted
        return self


def neighbor_list(positions: np.ndarray, box: np.ndarray, cutoff: float):
    """Full neighbour list in CSR form: (start (N+1,), neighbours, distances)."""
    n = len(positions)
    i, j, _, r = periodic_pairs(positions, box, cutoff)
    a = np.concatenate([i, j])
    b = np.concatenate([j, i])
    rr = np.concatenate([r, r])
    order = np.argsort(a, kind="stable")
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(a, minlength=n), out=start[1:])
    return start, b[order].astype(np.int64), rr[order]


def _pair(s, s_k, params):
    """(epsilon, sigma) of the pair of species s, s_k; compiled only (see :func:`_pair_rule`)."""
    raise NotImplementedError("_pair is only callable from numba-compiled code")


@overload(_pair)
def _pair_rule(s, s_k, params):
    """The mixing rule, chosen at compile time by the type of ``params``.

    KA2: ``params = (KA2_EPS, KA2_SIGMA)`` and s, s_k are types (table look-up);
    PSS: ``params`` is the non-additivity and s, s_k are diameters (epsilon = 1).
    """
    if isinstance(params, nbtypes.BaseTuple):
        return lambda s, s_k, params: (params[0][s, s_k], params[1][s, s_k])
    return lambda s, s_k, params: (1.0, 0.5 * (s + s_k) * (1.0 - params * abs(s - s_k)))


@numba.njit(cache=True)
def _particle_delta(p, other, s_old, s_new, species, params, start, nbr, dist, form):
    """Change of particle p's neighbour sum (``other`` left out) when its species goes s_old -> s_new.

    ``species`` and ``params`` as for :func:`_pair_rule` (KA2 types and tables, or PSS diameters and
    non-additivity); numba compiles one specialisation per model.
    """
    a12, a6, c0, c2, c4, xc = form
    de = 0.0
    for m in range(start[p], start[p + 1]):
        k = nbr[m]
        if k == other:
            continue
        r = dist[m]
        sk = species[k]
        e_new, s_new_k = _pair(s_new, sk, params)
        if r < xc * s_new_k:
            de += e_new * energy_x(r / s_new_k, a12, a6, c0, c2, c4)
        e_old, s_old_k = _pair(s_old, sk, params)
        if r < xc * s_old_k:
            de -= e_old * energy_x(r / s_old_k, a12, a6, c0, c2, c4)
    return de


@numba.njit(cache=True)
def ka2_swap_block(types, members, kinds, pick_a, pick_c, uniforms, beta, start, nbr, dist, eps, sig, form,
                   attempted, accepted):
    """Run len(kinds) attempts in place.

    ``members[t]`` lists the particles of type t (padded rows); ``kinds[m]`` is 0 (A<->C) or
    1 (B<->C); ``pick_a``/``pick_c`` are uniform floats in [0, 1) choosing the two particles.
    """
    counts = np.zeros(3, dtype=np.int64)
    for t in range(3):
        counts[t] = 0
    for p in range(types.shape[0]):
        counts[types[p]] += 1
    for m in range(kinds.shape[0]):
        t1 = kinds[m]  # type 0 (A) or 1 (B); partner is type 2 (C)
        if counts[t1] == 0 or counts[2] == 0:
            continue
        q1 = int(pick_a[m] * counts[t1])
        q2 = int(pick_c[m] * counts[2])
        i = members[t1, q1]
        j = members[2, q2]
        attempted[t1] += 1
        de = _particle_delta(i, j, t1, 2, types, (eps, sig), start, nbr, dist, form)
        de += _particle_delta(j, i, 2, t1, types, (eps, sig), start, nbr, dist, form)
        if de <= 0.0 or uniforms[m] < np.exp(-beta * de):
            types[i] = 2
            types[j] = t1
            members[t1, q1] = j
            members[2, q2] = i
            accepted[t1] += 1


@numba.njit(cache=True)
def pss_swap_block(diam, pick_i, pick_j, uniforms, beta, start, nbr, dist, nonadd, form, attempted, accepted):
    n = diam.shape[0]
    for m in range(pick_i.shape[0]):
        i = int(pick_i[m] * n)
        j = int(pick_j[m] * (n - 1))
        if j >= i:
            j += 1  # uniform over the other n - 1 particles
        si, sj = diam[i], diam[j]
        attempted[0] += 1
        de = _particle_delta(i, j, si, sj, diam, nonadd, start, nbr, dist, form)
        de += _particle_delta(j, i, sj, si, diam, nonadd, start, nbr, dist, form)
        if de <= 0.0 or uniforms[m] < np.exp(-beta * de):
            diam[i] = sj
            diam[j] = si
            accepted[0] += 1


class SwapMC:
    """Swap moves for one model at temperature ``temperature``.

    Call :meth:`run` with the current positions and species; it returns the new
    species and the statistics of the block.  ``rng`` makes every choice.
    """

    def __init__(self, model: Model, temperature: float, rng: np.random.Generator):
        self.model = model
        self.beta = 1.0 / float(temperature)
        self.rng = rng
        f = model.form
        self.form = np.array([f.a12, f.a6, f.c0, f.c2, f.c4, f.x_c])

    @property
    def n_kinds(self) -> int:
        return 2 if isinstance(self.model, KA2) else 1

    def run(self, positions, box, species, n_attempts: int, kind: int | None = None):
        """``n_attempts`` swap attempts on a frozen configuration; returns (new species, SwapStats).

        ``kind`` (KA2 only) restricts the attempts to A<->C (0) or B<->C (1), as one
        ``fix atom/swap`` instance does; by default each attempt picks one of them at random.
        """
        box = np.asarray(box, dtype=float)
        start, nbr, dist = neighbor_list(np.asarray(positions, float), box, self.model.max_cutoff(species))
        attempted = np.zeros(self.n_kinds, dtype=np.int64)
        accepted = np.zeros(self.n_kinds, dtype=np.int64)
        u = self.rng.random((3, n_attempts))
        if isinstance(self.model, KA2):
            types = np.array(species, dtype=np.int64)
            kinds = self.rng.integers(0, 2, size=n_attempts) if kind is None else np.full(n_attempts, int(kind))
            counts = np.bincount(types, minlength=3)
            members = np.full((3, counts.max()), -1, dtype=np.int64)
            for t in range(3):
                idx = np.nonzero(types == t)[0]
                members[t, : len(idx)] = idx
            ka2_swap_block(types, members, kinds, u[0], u[1], u[2], self.beta, start, nbr, dist,
                           KA2_EPS, KA2_SIGMA, self.form, attempted, accepted)
            return types, SwapStats(attempted, accepted)
        assert isinstance(self.model, PSS)
        diam = np.array(species, dtype=float)
        pss_swap_block(diam, u[0], u[1], u[2], self.beta, start, nbr, dist, self.model.nonadditivity,
                       self.form, attempted, accepted)
        return diam, SwapStats(attempted, accepted)

    def delta_energy(self, positions, box, species, i: int, j: int) -> float:
        """Energy change of exchanging the species of i and j (local sums)."""
        return float(self.delta_energies(positions, box, species, np.array([[i, j]]))[0])

    def delta_energies(self, positions, box, species, pairs) -> np.ndarray:
        """Energy changes of exchanging the species of each pair (i, j) of ``pairs`` (M, 2), one at a time."""
        box = np.asarray(box, dtype=float)
        start, nbr, dist = neighbor_list(np.asarray(positions, float), box, self.model.max_cutoff(species))
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        out = np.empty(len(pairs))
        if isinstance(self.model, KA2):
            params, s = (KA2_EPS, KA2_SIGMA), np.asarray(species, dtype=np.int64)
        else:
            params, s = float(self.model.nonadditivity), np.asarray(species, dtype=float)
        for m, (i, j) in enumerate(pairs):
            out[m] = _particle_delta(i, j, s[i], s[j], s, params, start, nbr, dist, self.form) + \
                _particle_delta(j, i, s[j], s[i], s, params, start, nbr, dist, self.form)
        return out
