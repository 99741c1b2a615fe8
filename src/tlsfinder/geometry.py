"""Geometry of configurations in an orthorhombic periodic box with its origin at 0.

The one home of the minimum image convention and of the measures built on it:

* :func:`minimum_image`, :func:`displacements` (numpy) and :func:`minimum_image_jit`
  (for numba kernels);
* :func:`periodic_pairs`: all particle pairs closer than a cutoff, with their
  minimum-image vectors and distances (the models' energies, swap Monte Carlo);
* :func:`rms_distance`, the distance d_ab between two configurations of Mocanu et al.
  (2023), "Microscopic observation of TLS in a metallic glass model", Eq. 7 (divided by N),
  and :func:`participation_ratio`, PR of their Eq. 16.

Lengths in sigma.  ``box`` is the (3,) array of edge lengths; positions may be unwrapped.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable
from scipy.spatial import cKDTree


def minimum_image(d, box) -> np.ndarray:
    """Vectors ``d`` (..., 3) folded to their shortest periodic image."""
    return d - box * np.round(d / box)


@register_jitable(inline="always")
def minimum_image_jit(d, length, inv_length):
    """One component ``d`` folded into [-length/2, length/2], for numba kernels (``inv_length`` = 1/length)."""
    return d - length * np.rint(d * inv_length)


def displacements(pos_a, pos_b, box) -> np.ndarray:
    """Per-particle displacement vectors b - a (N, 3) with the minimum image convention."""
    d = np.asarray(pos_b, dtype=float) - np.asarray(pos_a, dtype=float)
    return minimum_image(d, np.asarray(box, dtype=float))


def rms_distance(disp) -> float:
    """d_ab of Mocanu et al. (2023) Eq. 7: sqrt(sum_i |d_i|^2 / N) (sigma), from (N, 3) :func:`displacements`.

    The one definition of the distance between two configurations: pair geometry in
    :mod:`tlsfinder.neb`, IS identity in :mod:`tlsfinder.explore`.
    """
    disp = np.asarray(disp, dtype=float)
    return float(np.sqrt(np.sum(disp * disp) / len(disp)))


def participation_ratio(disp) -> float:
    """PR of Mocanu et al. (2023) Eq. 16: (sum_i d_i^2)^2 / sum_i d_i^4, between 1 and N."""
    d2 = np.sum(np.asarray(disp, dtype=float) ** 2, axis=-1)
    s4 = float(np.sum(d2 * d2))
    return float(np.sum(d2) ** 2 / s4) if s4 > 0 else float("nan")


def wrap(positions, box) -> np.ndarray:
    """Positions mapped into [0, L) per axis (strictly below L, as cKDTree's periodic mode requires)."""
    wrapped = np.mod(positions, box)
    # np.mod can round a tiny negative coordinate up to exactly L.
    wrapped[wrapped >= box] -= box[np.nonzero(wrapped >= box)[1]]
    return wrapped


def periodic_pairs(positions, box, cutoff: float):
    """Pairs i < j closer than ``cutoff``: (i, j, d = r_j - r_i by minimum image (P, 3), |d| (P,)).

    ``cutoff`` must be below half the smallest box edge (one image per pair).
    """
    tree = cKDTree(wrap(positions, box), boxsize=box)
    ij = tree.query_pairs(cutoff, output_type="ndarray")
    i, j = ij[:, 0], ij[:, 1]
    d = minimum_image(positions[j] - positions[i], box)
    r = np.sqrt(np.einsum("ij,ij->i", d, d))
    return i, j, d, r
