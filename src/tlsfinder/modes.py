"""Harmonic vibrational modes of an inherent structure (IS) from the model's analytic Hessian.

* :func:`normal_modes`: eigenpairs of the dynamical matrix D = M^-1/2 H M^-1/2 (H the model's
  Hessian, :meth:`tlsfinder.models.Model.hessian`; M the masses, unit by default as in both
  reference papers).  Dense ``eigh`` up to ``dense_max`` particles (all 3N - 3 modes), beyond it
  shift-invert Lanczos (ARPACK ``eigsh`` about ``sigma`` slightly below 0) for the ``k`` lowest.
  The three uniform translations (zero modes) are removed.  Frequencies omega = sqrt(lambda)
  in units of sqrt(eps / (m sigma^2)).
* :func:`participation_ratio`: PR = (sum_i |e_i|^2)^2 / (N sum_i |e_i|^4), e_i the 3-vector of
  particle i in the mode; between 1/N (one particle) and 1 (uniform amplitude).  For a normalised
  mode this is Eq. 4 of Khomenko, Reichman, Zamponi, "Relationship between two-level systems and
  quasilocalized normal modes in glasses", Phys. Rev. Materials 5, 055602 (2021).  (The PR of a
  double-well displacement in :mod:`tlsfinder.geometry` is not divided by N: between 1 and N.)
* :func:`quasi_localised`: their criterion, low-frequency modes with PR < 0.1 are quasi-localised
  modes (QLMs); "low frequency" is an explicit ``omega_max`` here (the paper reads it off its
  Fig. 2); :func:`analyse` uses the first transverse phonon omega_t of the structure.
* :func:`density_of_states`, :func:`integrated_dos`, :func:`fit_a4`: D(omega) normalised per
  3N degrees of freedom (so that integral D = 1 over all modes, the Debye convention
  D = 3 omega^2 / omega_D^3), I(omega) = integral_0^omega D, and the amplitude A_4 of
  D(omega) = A_4 omega^4 below the first phonon, as in Fig. 10a of Mocanu et al., "Microscopic
  observation of two-level systems in a metallic glass model", J. Chem. Phys. 158, 014501 (2023)
  (their plateau of I(omega)/omega^5 = A_4/5 just below omega_t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from . import TLSFinderError
from .elastic import acoustic_summary, check_minimum, hessian_moduli

#: Dense diagonalisation up to this many particles (3N = 6000: ~0.3 GB, about a minute).
DENSE_MAX = 2000
#: PR threshold of Khomenko, Reichman, Zamponi (2021): PR < 0.1 is quasi-localised.
QLM_PR_MAX = 0.1


@dataclass
class NormalModes:
    """Modes of one structure, lowest first, translations removed.

    ``eigenvalues`` lambda of D (eps / (m sigma^2)); ``frequencies`` sqrt(lambda) (NaN where
    lambda < 0); ``vectors`` (3N, n_modes), orthonormal eigenvectors of D (the displacement of
    particle i is e_i / sqrt(m_i)); ``participation`` PR of each; ``complete``: all 3N - 3 modes.
    """

    eigenvalues: np.ndarray
    frequencies: np.ndarray
    vectors: np.ndarray = field(repr=False)
    participation: np.ndarray = field(repr=False)
    n_particles: int = 0
    complete: bool = True
    method: str = "dense"


def participation_ratio(vectors, n_particles: int | None = None) -> np.ndarray:
    """PR = (sum_i |e_i|^2)^2 / (N sum_i |e_i|^4) of each column of ``vectors`` (3N, m) (or of one (3N,))."""
    v = np.asarray(vectors, dtype=float)
    one = v.ndim == 1
    v = v.reshape(v.shape[0], -1)
    n = v.shape[0] // 3 if n_particles is None else n_particles
    a2 = (v.reshape(n, 3, -1) ** 2).sum(axis=1)  # |e_i|^2, (N, m)
    pr = a2.sum(axis=0) ** 2 / (n * (a2 * a2).sum(axis=0))
    return pr[0] if one else pr


def _masses(masses, n: int) -> np.ndarray:
    if masses is None:
        return np.ones(n)
    m = np.broadcast_to(np.asarray(masses, dtype=float), (n,)).copy()
    if not np.all(np.isfinite(m)) or m.min() <= 0:
        raise TLSFinderError(f"masses must be positive and finite (one per particle or one for all), got min {m.min()}")
    return m


def _translations(m: np.ndarray) -> np.ndarray:
    """Orthonormal translation modes of D (3N, 3): e_i proportional to sqrt(m_i) along each axis."""
    n = len(m)
    t = np.zeros((3 * n, 3))
    w = np.sqrt(m / m.sum())
    for a in range(3):
        t[a::3, a] = w
    return t


def normal_modes(model, positions, box, species, k: int | None = None, masses=None, dense_max: int = DENSE_MAX,
                 sigma: float = -1e-3, ftol: float = 1e-6, eig_tol: float = 1e-6) -> NormalModes:
    """Normal modes of the minimum ``positions`` (module docstring).

    ``k``: number of lowest non-zero modes wanted (None: all, dense only).  ``masses``: per
    particle or one number (default 1).  A structure whose largest force component exceeds
    ``ftol`` (eps/sigma), or whose lowest eigenvalue is below -``eig_tol`` times the largest, is not
    a minimum: TLSFinderError.
    """
    species = np.asarray(species)
    n = len(species)
    check_minimum(model, positions, box, species, ftol)
    m = _masses(masses, n)
    minv = sp.diags(np.repeat(1.0 / np.sqrt(m), 3))
    dyn = (minv @ model.hessian(positions, box, species) @ minv).tocsr()
    t = _translations(m)
    if k is not None and not 1 <= k <= 3 * n - 3:
        raise TLSFinderError(f"modes: k = {k} must be between 1 and 3N - 3 = {3 * n - 3}")
    if n <= dense_max:
        d = dyn.toarray()
        # The translations are exact zero modes; lift them above the spectrum so they come last.
        lift = 2.0 * float(np.abs(d).sum(axis=1).max()) + 1.0
        w, v = np.linalg.eigh(d + lift * (t @ t.T))
        w, v = w[:-3], v[:, :-3]
        if k is not None:
            w, v = w[:k], v[:, :k]
        method, complete = "dense", k is None or k == 3 * n - 3
    else:
        if k is None:
            raise TLSFinderError(f"modes: N = {n} is above dense_max = {dense_max}; give k, the number of lowest modes")
        if k + 3 >= 3 * n:
            raise TLSFinderError(f"modes: k = {k} leaves no room for Lanczos (k + 3 < 3N = {3 * n}); use the dense route")
        w, v = sla.eigsh(dyn, k=k + 3, sigma=sigma, which="LM", tol=0.0)
        order = np.argsort(w)
        w, v = w[order], v[:, order]
        # Drop the three modes with the largest weight in the translation subspace.
        weight = ((t.T @ v) ** 2).sum(axis=0)
        keep = np.sort(np.argsort(weight)[:-3])
        w, v = w[keep], v[:, keep]
        method, complete = "shift-invert", k == 3 * n - 3
    scale = max(float(np.abs(w).max()), 1.0)
    if w[0] < -eig_tol * scale:
        raise TLSFinderError(
            f"structure is not a minimum: {int(np.sum(w < -eig_tol * scale))} negative Hessian eigenvalue(s), "
            f"lowest {w[0]:.4g} (a saddle or an unstable point); minimise it first")
    freq = np.sqrt(np.clip(w, 0.0, None))
    return NormalModes(eigenvalues=w, frequencies=freq, vectors=v, participation=participation_ratio(v, n),
                       n_particles=n, complete=complete, method=method)


def quasi_localised(modes: NormalModes, omega_max: float, pr_max: float = QLM_PR_MAX) -> np.ndarray:
    """Mask of the QLMs: frequency below ``omega_max`` and PR below ``pr_max``
    (Khomenko, Reichman, Zamponi (2021): low-frequency modes with PR < 0.1)."""
    return (modes.frequencies < omega_max) & (modes.participation < pr_max)


def density_of_states(frequencies, n_particles: int, bins=50, range_=None, n_structures: int = 1):
    """Histogram D(omega) of the pooled ``frequencies`` of ``n_structures`` structures of
    ``n_particles``, per 3N degrees of freedom (integral over all modes = 1).
    Returns (bin centres, D, bin edges)."""
    f = np.asarray(frequencies, dtype=float)
    counts, edges = np.histogram(f[np.isfinite(f)], bins=bins, range=range_)
    dens = counts / (np.diff(edges) * 3.0 * n_particles * n_structures)
    return 0.5 * (edges[1:] + edges[:-1]), dens, edges


def integrated_dos(frequencies, n_particles: int, n_structures: int = 1):
    """I(omega) at the sorted pooled frequencies: the fraction of the 3N degrees of freedom (per
    structure) with a lower or equal frequency.  Returns (omega, I)."""
    f = np.sort(np.asarray(frequencies, dtype=float))
    return f, np.arange(1, len(f) + 1) / (3.0 * n_particles * n_structures)


@dataclass
class A4Fit:
    """D(omega) = A_4 omega^4 on [omega_min, omega_max): ``A4`` and its Poisson error, from
    ``count`` modes of ``n_structures`` structures."""

    A4: float
    error: float
    count: int
    omega_min: float
    omega_max: float
    n_structures: int


def fit_a4(frequencies, n_particles: int, omega_max: float, omega_min: float = 0.0, n_structures: int = 1) -> A4Fit:
    """A_4 of D(omega) = A_4 omega^4 from the modes below ``omega_max`` (the first phonon omega_t,
    Mocanu et al. (2023) Fig. 10a).

    The number of modes in [omega_min, omega_max) is 3N n_s A_4 (omega_max^5 - omega_min^5) / 5 for
    this D; A_4 is that count inverted (for omega_min = 0, the value of I(omega)/omega^5 times 5 at
    omega_max: the plateau of the paper's figure), with the Poisson error A_4 / sqrt(count).
    ``frequencies``: pooled modes of the ``n_structures`` structures (pass only the QLMs to fit
    their D(omega)).
    """
    if not 0.0 <= omega_min < omega_max:
        raise TLSFinderError(f"fit_a4: need 0 <= omega_min < omega_max, got {omega_min}, {omega_max}")
    f = np.asarray(frequencies, dtype=float)
    c = int(np.sum((f >= omega_min) & (f < omega_max)))
    a4 = 5.0 * c / (3.0 * n_particles * n_structures * (omega_max**5 - omega_min**5))
    err = a4 / math.sqrt(c) if c else float("nan")
    return A4Fit(A4=a4, error=err, count=c, omega_min=omega_min, omega_max=omega_max, n_structures=n_structures)


def analyse(model, positions, box, species, k: int | None = None, masses=None, pr_max: float = QLM_PR_MAX,
            qlm_omega_max: float | None = None, dense_max: int = DENSE_MAX, ftol: float = 1e-6) -> dict:
    """Modes of one IS with its acoustic scales: the NormalModes, the QLM mask (below
    ``qlm_omega_max``, default the structure's first transverse phonon omega_t from the Hessian
    shear and bulk moduli, :mod:`tlsfinder.elastic`), omega_t, omega_D, c_t, c_l, G, K, the
    :class:`~tlsfinder.elastic.HessianModuli`, and per-IS A_4 fits below omega_t of all modes
    (``a4``, Mocanu et al.'s I(omega) counts every mode) and of the QLMs only (``a4_qlm``); None if
    the ``k`` modes do not reach omega_t.  Mean mass for the sound speeds.  Pool frequencies over
    glasses and call :func:`fit_a4` for an ensemble A_4."""
    modes = normal_modes(model, positions, box, species, k=k, masses=masses, dense_max=dense_max, ftol=ftol)
    hm = hessian_moduli(model, positions, box, species, ftol=ftol)
    mass = float(np.mean(_masses(masses, len(species))))
    acoustic = acoustic_summary(hm.G, hm.K, len(species), box, mass=mass)
    omega_q = acoustic["omega_t"] if qlm_omega_max is None else float(qlm_omega_max)
    qlm = quasi_localised(modes, omega_q, pr_max)
    a4 = fit_a4(modes.frequencies, len(species), acoustic["omega_t"])
    a4_qlm = fit_a4(modes.frequencies[qlm], len(species), acoustic["omega_t"])
    if not modes.complete and modes.frequencies[-1] < acoustic["omega_t"]:
        a4 = a4_qlm = None  # the k modes do not reach omega_t: the count below it is incomplete
    return {"modes": modes, "qlm": qlm, "qlm_omega_max": omega_q, "acoustic": acoustic, "a4": a4,
            "a4_qlm": a4_qlm, "n_qlm": int(qlm.sum()), "moduli": hm}
