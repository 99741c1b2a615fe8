"""Periodic geometry: minimum image, pair search, the distance of Eq. 7 and the participation ratio."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from tlsfinder.geometry import (displacements, minimum_image, minimum_image_jit, participation_ratio,
                                periodic_pairs, rms_distance, wrap)


def test_pr_and_distance():
    """Mocanu et al. (2023) Eqs. 7 and 16 on hand-made displacements."""
    box = np.array([4.0, 4.0, 4.0])
    a = np.zeros((10, 3)) + 1.0
    b = a.copy()
    b[0] = [3.9, 1.0, 1.0]  # moved by -1.1 through the boundary (minimum image)
    disp = displacements(a, b, box)
    assert disp[0, 0] == pytest.approx(-1.1)
    assert participation_ratio(disp) == pytest.approx(1.0)
    assert rms_distance(disp) == pytest.approx(1.1 / math.sqrt(10))
    disp = np.full((10, 3), 0.1)
    assert participation_ratio(disp) == pytest.approx(10.0)
    assert math.isnan(participation_ratio(np.zeros((4, 3))))


@numba.njit
def _fold(d, box):
    out = np.empty_like(d)
    for k in range(d.shape[0]):
        for c in range(3):
            out[k, c] = minimum_image_jit(d[k, c], box[c], 1.0 / box[c])
    return out


def test_minimum_image_numpy_and_compiled():
    box = np.array([3.0, 4.0, 5.0])
    d = np.random.default_rng(0).uniform(-12.0, 12.0, (500, 3))
    for folded in (minimum_image(d, box), _fold(d, box)):
        assert np.all(np.abs(folded) <= box / 2 + 1e-12)
        k = (d - folded) / box  # whole box vectors removed
        np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    np.testing.assert_allclose(_fold(d, box), minimum_image(d, box), atol=1e-12)


def test_wrap_stays_strictly_inside():
    box = np.array([2.0, 2.0, 2.0])
    pos = np.array([[-1e-17, 0.5, 2.0], [4.5, -3.0, 1.0]])
    w = wrap(pos, box)
    assert np.all((w >= 0) & (w < box))
    np.testing.assert_allclose(w[1], [0.5, 1.0, 1.0])


def test_periodic_pairs_match_brute_force():
    rng = np.random.default_rng(1)
    box = np.array([5.0, 6.0, 7.0])
    pos = rng.uniform(-5.0, 12.0, (120, 3))  # unwrapped coordinates are fine
    cutoff = 2.2
    i, j, d, r = periodic_pairs(pos, box, cutoff)
    got = {(int(a), int(b)) for a, b in zip(i, j)}
    all_d = minimum_image(pos[None, :, :] - pos[:, None, :], box)
    all_r = np.sqrt((all_d**2).sum(-1))
    want = {(a, b) for a in range(len(pos)) for b in range(a + 1, len(pos)) if all_r[a, b] < cutoff}
    assert got == want and np.all(i < j)
    np.testing.assert_allclose(d, all_d[i, j], atol=1e-12)
    np.testing.assert_allclose(r, all_r[i, j], atol=1e-12)
