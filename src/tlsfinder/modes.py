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
* :func:`mode_overlaps`, :func:`overlap_c`, :func:`overlap_a`, :func:`band_displacements`: the
  overlaps c (Eq. 7) and a (Eq. 8) of Khomenko et al. (2021) between the linear modes of a minimum
  and a double well's displacement (the path's tangent r_12, minimum-to-saddle r_AS,
  minimum-to-minimum r_AB).
* :func:`path_spectrum`: Hessian eigenvalues along a minimum energy path and transverse to it, the
  check of the 1D reduction in Mocanu et al. (2023), Appendix C and Fig. 13.
* :func:`nonlinear_mode`, :func:`cubic_contraction`, :func:`double_well_nonlinear_modes`: cubic
  nonlinear modes pi, H pi = (H : pi pi) / (U : pi pi pi) U : pi pi (Khomenko et al. (2021),
  Eqs. 5-6, the construction of Gartner and Lerner, "Nonlinear modes disentangle glassy and
  Goldstone modes in structural glasses", SciPost Phys. 1, 016 (2016)), found by their
  fixed-point iteration from a given start, and for a double well the modes started from r_AB and
  from the softest QLM of A with their overlaps c and a (Khomenko et al. (2021) Figs. 7 and 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from . import TLSFinderError
from .elastic import acoustic_summary, check_minimum, hessian_moduli
from .neb.minima import lowest_in_complement

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


# --------------------------------------------------------------------------
# Overlap of linear modes with a double well's displacement
# --------------------------------------------------------------------------


def _displacement_columns(modes: NormalModes, masses=None) -> np.ndarray:
    """Particle displacements of the modes (3N, m): e_i / sqrt(m_i)."""
    v = modes.vectors
    if masses is None:
        return v
    m = _masses(masses, modes.n_particles)
    return v / np.repeat(np.sqrt(m), 3)[:, None]


def overlap_c(vectors, r) -> np.ndarray:
    """c = |r . v| / (|r| |v|) (Khomenko, Reichman, Zamponi (2021), Eq. 7) of each column v of
    ``vectors`` (3N, m) with the displacement ``r`` (N, 3) or (3N,)."""
    v = np.asarray(vectors, dtype=float).reshape(np.size(r), -1)
    r = np.asarray(r, dtype=float).ravel()
    return np.abs(r @ v) / (np.linalg.norm(r) * np.linalg.norm(v, axis=0))


def overlap_a(vectors, r) -> np.ndarray:
    """a = sum_i |r_i| |v_i| / sqrt(sum_i |r_i|^2 sum_i |v_i|^2) (Khomenko et al. (2021), Eq. 8): the
    overlap of the particle displacement magnitudes, blind to their directions."""
    r = np.asarray(r, dtype=float).reshape(-1, 3)
    v = np.asarray(vectors, dtype=float).reshape(len(r), 3, -1)
    rn = np.linalg.norm(r, axis=1)
    vn = np.linalg.norm(v, axis=1)  # (N, m)
    return (rn @ vn) / np.sqrt((rn @ rn) * (vn * vn).sum(axis=0))


@dataclass
class ModeOverlap:
    """Linear modes of a minimum against one displacement field r: all c_alpha and a_alpha (lowest
    mode first) and the best mode by each, with its frequency and PR (Khomenko et al. (2021), Figs. 4-7)."""

    c_alpha: np.ndarray = field(repr=False)
    a_alpha: np.ndarray = field(repr=False)
    c: float
    c_mode: int  # index among the non-zero modes, 0 = softest
    c_omega: float
    c_pr: float
    a: float
    a_mode: int
    a_omega: float
    a_pr: float


def mode_overlaps(modes: NormalModes, r, masses=None) -> ModeOverlap:
    """c_alpha and a_alpha of every mode in ``modes`` (of the minimum r starts from) with the
    displacement ``r`` (N, 3), the best of each (c = max_alpha c_alpha, as in Khomenko et al. (2021)).
    The rigid translation of r is removed first (the modes carry none)."""
    r = np.asarray(r, dtype=float).reshape(-1, 3)
    if r.shape[0] != modes.n_particles:
        raise TLSFinderError(f"mode overlaps: displacement for {r.shape[0]} particles, modes for {modes.n_particles}")
    r = r - r.mean(axis=0)
    if not np.linalg.norm(r) > 0:
        raise TLSFinderError("mode overlaps: the displacement is zero (after removing the rigid translation)")
    v = _displacement_columns(modes, masses)
    c, a = overlap_c(v, r), overlap_a(v, r)
    ic, ia = int(np.argmax(c)), int(np.argmax(a))
    return ModeOverlap(c_alpha=c, a_alpha=a, c=float(c[ic]), c_mode=ic, c_omega=float(modes.frequencies[ic]),
                       c_pr=float(modes.participation[ic]), a=float(a[ia]), a_mode=ia,
                       a_omega=float(modes.frequencies[ia]), a_pr=float(modes.participation[ia]))


def band_displacements(images, box, saddle_index: int) -> dict:
    """The displacement fields of Khomenko et al. (2021) from a band (n, N, 3) that starts at minimum
    A: r_12 (first segment, the path's tangent at A), r_AS (A to the saddle image ``saddle_index``,
    e.g. the NEB's climbing image) and r_AB (A to the last image); minimum image, each (N, 3)."""
    from .geometry import displacements

    x = np.asarray(images, dtype=float)
    if x.ndim != 3 or len(x) < 3 or not 0 < saddle_index < len(x) - 1:
        raise TLSFinderError(f"band displacements: images must be (n >= 3, N, 3) with an interior saddle index; "
                             f"got shape {x.shape}, saddle_index {saddle_index}")
    return {"r_12": displacements(x[0], x[1], box), "r_AS": displacements(x[0], x[saddle_index], box),
            "r_AB": displacements(x[0], x[-1], box)}


# --------------------------------------------------------------------------
# Hessian along a minimum energy path: is the 1D reduction sound?
# --------------------------------------------------------------------------


@dataclass
class PathSpectrum:
    """Hessian spectra along the images of a path (Mocanu et al. (2023), Appendix C, Fig. 13).

    Per image (n images): ``s`` arc length (sigma), ``kappa`` = t.H.t the curvature along the unit
    tangent t (eps/sigma^2); ``eigenvalues`` (n, k) the lowest eigenvalues of H, translations removed
    (their Fig. 13a), ``overlaps`` (n, n_overlap) |e_m . t| of the lowest eigenvectors (Fig. 13b);
    ``transverse`` (n, k) the lowest eigenvalues of P H P on the subspace orthogonal to t and the
    translations; ``n_negative`` negative eigenvalues of H; flags ``transverse_negative``
    (lowest transverse eigenvalue < 0) and ``transverse_softer`` (lowest transverse eigenvalue below
    kappa); ``doubtful``: any image flagged.
    """

    s: np.ndarray
    kappa: np.ndarray
    eigenvalues: np.ndarray
    overlaps: np.ndarray
    transverse: np.ndarray
    n_negative: np.ndarray
    transverse_negative: np.ndarray
    transverse_softer: np.ndarray
    energy: np.ndarray = field(default=None, repr=False)  # eps, total
    saddle_index: int = -1  # highest image
    end_overlap: tuple = (math.nan, math.nan)  # |e . chord| of the mode used as tangent at each end

    @property
    def stationary(self) -> np.ndarray:
        """Indices of the stationary images: the two ends and the highest image."""
        return np.unique([0, self.saddle_index, len(self.s) - 1])

    @property
    def doubtful(self) -> bool:
        """A transverse direction is unstable anywhere, or softer than the path at a stationary image
        (there t.H.t is the 1D potential's curvature; elsewhere it also holds the path's bending,
        V''(s) = t.H.t - F . dt/ds, so ``transverse_softer`` there is reported, not decisive)."""
        return bool(self.transverse_negative.any() or self.transverse_softer[self.stationary].any())

    @property
    def transverse_variation(self) -> np.ndarray:
        """(max - min) / mean along the path of each of the lowest transverse eigenvalues: Mocanu et al.
        find them nearly independent of the reaction coordinate."""
        t = self.transverse
        return (t.max(axis=0) - t.min(axis=0)) / np.abs(t.mean(axis=0))


def path_spectrum(model, images, box, species, k: int = 10, n_overlap: int = 6, dense_max: int = 3000,
                  neg_tol: float = 1e-6, min_overlap: float = 0.2) -> PathSpectrum:
    """Hessian eigenvalues along and transverse to a path (images (n, N, 3), e.g. a relaxed NEB band).

    The tangent at an interior image is the central difference of its neighbours (minimum image),
    at the ends the first and last segment; all unit vectors in 3N space (unit masses).  At an end
    that is a minimum the tangent is then replaced by the softest Hessian mode with overlap at least
    ``min_overlap`` with that segment: a path reaches a minimum along that mode, which a band's end
    chord resolves only slowly (as :func:`tlsfinder.neb.minima.end_derivatives`).  The 1D
    reduction of the tunnelling problem (Mocanu et al. (2023), Sec. III.C, Appendix C) assumes the
    motion transverse to the path harmonic and stiffer than along it: ``transverse_negative`` marks
    images where a transverse direction is unstable (the band is not a minimum energy path there or
    a second path branches off), ``transverse_softer`` those where a transverse direction is softer
    than the path itself (near a minimum: the path does not leave along the softest mode).  Both
    with the tolerance ``neg_tol`` times the largest |eigenvalue| reported.  Dense below 3N =
    ``dense_max``, else ARPACK.
    """
    from .geometry import displacements

    species = np.asarray(species)
    x = np.asarray(images, dtype=float)
    n_img, n = x.shape[0], len(species)
    if x.ndim != 3 or x.shape[1:] != (n, 3) or n_img < 3:
        raise TLSFinderError(f"path spectrum: images must be (n >= 3, {n}, 3), got {x.shape}")
    if not 1 <= k <= 3 * n - 4 or not 0 <= n_overlap <= k:
        raise TLSFinderError(f"path spectrum: need 1 <= k <= 3N - 4 and n_overlap <= k; got k = {k}, "
                             f"n_overlap = {n_overlap}")
    seg = [displacements(x[i], x[i + 1], box).ravel() for i in range(n_img - 1)]
    s = np.concatenate([[0.0], np.cumsum([np.linalg.norm(d) for d in seg])])
    trans = _translations(np.ones(n))
    out = {q: [] for q in ("kappa", "eig", "over", "trans", "neg")}
    end_overlap = [math.nan, math.nan]
    for i in range(n_img):
        t = seg[0] if i == 0 else seg[-1] if i == n_img - 1 else seg[i - 1] + seg[i]
        t = t - trans @ (trans.T @ t)
        t /= np.linalg.norm(t)
        h = model.hessian(x[i], box, species)
        w, v = lowest_in_complement(h, trans, k, dense_max)
        if i in (0, n_img - 1) and w[0] > 0:
            over = np.abs(v.T @ t)
            ok = np.flatnonzero(over >= min_overlap)
            if len(ok):
                t = v[:, ok[0]]
                end_overlap[0 if i == 0 else 1] = float(over[ok[0]])
        wt, _ = lowest_in_complement(h, np.column_stack([trans, t]), k, dense_max)
        out["kappa"].append(float(t @ (h @ t)))
        out["eig"].append(w)
        out["over"].append(np.abs(v[:, :n_overlap].T @ t))
        out["trans"].append(wt)
    eig, tr = np.array(out["eig"]), np.array(out["trans"])
    kappa = np.array(out["kappa"])
    tol = neg_tol * max(float(np.abs(eig).max()), 1.0)
    energy = np.array([model.energy(xi, box, species) for xi in x])
    return PathSpectrum(s=s, kappa=kappa, eigenvalues=eig, overlaps=np.array(out["over"]), transverse=tr,
                        n_negative=(eig < -tol).sum(axis=1), transverse_negative=tr[:, 0] < -tol,
                        transverse_softer=tr[:, 0] < kappa - tol, energy=energy,
                        saddle_index=int(np.argmax(energy)), end_overlap=tuple(end_overlap))


# --------------------------------------------------------------------------
# Cubic nonlinear modes (Gartner & Lerner; Khomenko et al. (2021), Eqs. 5-6)
# --------------------------------------------------------------------------

#: Step h (sigma, the 3N-norm of the displacement h pi) of the second difference of the forces
#: giving U : pi pi.  Truncation error (h^2 / 12) d^4 grad V / ds^4, rounding ~ eps_mach |F_pair| / h^2,
#: plus O(h) from pairs within h of the cutoff, where the smoothed potential's third derivative
#: jumps.  On a KA2 glass (N = 300) the largest error relative to the largest component of the
#: exact contraction is 3e-7 to 8e-7 at h = 3e-4 (1e-6 to 1e-5 at h = 1e-3, rounding-limited
#: 1e-7 to 1e-6 at h = 1e-4).
NL_STEP = 3e-4


def _remove_translation(v) -> np.ndarray:
    """(3N,) with the mean displacement of the particles removed (unit masses)."""
    v = np.asarray(v, dtype=float).reshape(-1, 3)
    return (v - v.mean(axis=0)).ravel()


def cubic_contraction(model, positions, box, species, direction, step: float = NL_STEP, forces=None) -> np.ndarray:
    """U : pi pi (3N,), U the third-derivative tensor of the potential energy at ``positions`` and
    pi = ``direction`` ((3N,) or (N, 3)), i.e. d^2/ds^2 grad V(x + s pi) at s = 0 (eps/sigma^3 for
    a pi in sigma).

    Second central difference of the model's forces F = -grad V over +-``step`` h along pi/|pi|
    (then rescaled by |pi|^2): -[F(x + h e) - 2 F(x) + F(x - h e)] / h^2, error O(h^2) (see
    :data:`NL_STEP`); two force calls (three without ``forces``, F(x) (N, 3)).  Its translation part
    (zero for a translation-invariant potential, up to rounding) is removed.  Any configuration, not
    only a minimum: the forces at x enter the difference.
    """
    x = np.asarray(positions, dtype=float)
    p = np.asarray(direction, dtype=float).ravel()
    norm = float(np.linalg.norm(p))
    if p.size != x.size or not norm > 0 or not math.isfinite(norm):
        raise TLSFinderError(f"cubic contraction: direction of size {p.size} (norm {norm:g}) for {x.size // 3} "
                             f"particles; need a non-zero finite (3N,) vector")
    if not step > 0:
        raise TLSFinderError(f"cubic contraction: step must be positive, got {step}")
    e = (p / norm).reshape(x.shape)
    f0 = model.energy_forces(x, box, species)[1] if forces is None else np.asarray(forces, dtype=float)
    fp = model.energy_forces(x + step * e, box, species)[1]
    fm = model.energy_forces(x - step * e, box, species)[1]
    return _remove_translation(-(fp - 2.0 * f0 + fm) / step**2 * norm**2)


@dataclass
class NonlinearMode:
    """A cubic nonlinear mode pi of a minimum (Khomenko, Reichman, Zamponi (2021), Eq. 5).

    ``pi`` (3N,) unit vector, no net translation (unit masses: it is a particle displacement field),
    oriented so that ``tau`` <= 0; ``kappa`` = H : pi pi (eps/sigma^2) and ``tau`` = U : pi pi pi
    (eps/sigma^3), the stiffness and asymmetry of the cubic expansion V(x + s pi) - V(x) =
    kappa s^2 / 2 + tau s^3 / 6; ``barrier`` = 2 kappa^3 / (3 tau^2) (eps), that expansion's
    barrier, at s = -2 kappa / tau along +pi (the quantity pi makes stationary);
    ``participation`` its PR (:func:`participation_ratio`).  ``iterations`` done with ``mixing``
    (1 = Eq. 6 as published), ``change`` = |pi^n - pi^(n-1)| at the last one, ``residual`` =
    |H pi - (kappa / tau) U : pi pi| / |H pi| (Eq. 5) at the result; ``converged``: change <= the
    tolerance asked; ``reason``: why not ("" when converged).
    """

    pi: np.ndarray = field(repr=False)
    kappa: float
    tau: float
    barrier: float
    participation: float
    iterations: int
    change: float
    residual: float
    converged: bool
    mixing: float = 1.0
    reason: str = ""


def nonlinear_mode(model, positions, box, species, initial, tol: float = 1e-6, max_iter: int = 500,
                   step: float = NL_STEP, ftol: float = 1e-6, solver=None, strict: bool = True,
                   mixing: float = 1.0, hessian=None) -> NonlinearMode:
    """The cubic nonlinear mode reached from ``initial`` ((3N,) or (N, 3), any norm) at the minimum
    ``positions`` by the iteration of Khomenko, Reichman, Zamponi (2021), Eq. 6 (the scheme of
    Gartner and Lerner, SciPost Phys. 1, 016 (2016)):

        T(pi^n) = (kappa_n / tau_n) H^+ (U : pi^n pi^n),   pi^(n+1) = T(pi^n) / |T(pi^n)|,

    kappa_n = H : pi^n pi^n, tau_n = U : pi^n pi^n pi^n; its fixed points solve Eq. 5,
    H pi = (H : pi pi) / (U : pi pi pi) U : pi pi.  H^+ is the inverse of the Hessian on the
    complement of the three translations (:class:`tlsfinder.elastic.PinnedSolver`, one sparse LU
    for all iterations; pass ``solver`` and the model's ``hessian`` at ``positions`` to share
    them between searches), U : pi pi is :func:`cubic_contraction`
    (``step``); unit masses, as in the paper.  Each iteration costs two force calls and one LU
    back-substitution.  Stops when |pi^(n+1) - pi^n| <= ``tol`` (compared up to sign).  The mode
    found depends on the start; the paper uses r_AB / |r_AB| (its Fig. 7) or the softest QLM of
    minimum A (its Fig. 8): :func:`double_well_nonlinear_modes`.

    ``mixing`` beta in (0, 1]: pi^(n+1) is (1 - beta) pi^n + beta T(pi^n) / |T(pi^n)|, normalised;
    the same fixed points, but one where Eq. 6 (beta = 1) alternates between two directions
    (a 2-cycle, met on KA2 glasses) becomes attracting for beta = 0.5 when the offending
    eigenvalue of the map's Jacobian lies in (-3, -1).  A 2-cycle (|pi^(n+1) - pi^(n-1)| <= tol
    while |pi^(n+1) - pi^n| > 100 tol) stops the iteration at once.

    Not converged after ``max_iter`` iterations, a 2-cycle, a start or iterate with no cubic
    coupling (U : pi pi = 0) or a non-positive kappa: TLSFinderError, or with ``strict=False``
    the last iterate with ``converged=False`` and the ``reason``.  Not a minimum (max |F| >
    ``ftol``) or bad arguments: always TLSFinderError.
    """
    from .elastic import PinnedSolver

    if not (max_iter >= 1 and tol > 0 and 0 < mixing <= 1):
        raise TLSFinderError(f"nonlinear mode: need max_iter >= 1, tol > 0 and 0 < mixing <= 1, got {max_iter}, "
                             f"{tol}, {mixing}")
    x = np.asarray(positions, dtype=float)
    n3 = x.size
    check_minimum(model, x, box, species, ftol)
    f0 = model.energy_forces(x, box, species)[1]
    p = _remove_translation(initial)
    if p.size != n3 or not np.linalg.norm(p) > 0:
        raise TLSFinderError(f"nonlinear mode: the initial vector must be a non-zero (3N,) = ({n3},) displacement "
                             f"with more than a rigid translation; got size {p.size}")
    p /= np.linalg.norm(p)
    h = model.hessian(x, box, species) if hessian is None else hessian
    solver = solver if solver is not None else PinnedSolver(h)

    def state(v):
        u = cubic_contraction(model, x, box, species, v, step, forces=f0)
        return u, float(v @ (h @ v)), float(v @ u)

    def result(converged, reason=""):
        if reason and strict:
            raise TLSFinderError(f"nonlinear mode: {reason}")
        return _nonlinear_result(p, h, u, kappa, tau, it, change, converged, n3, mixing, reason)

    def distance(a, b):  # directions compared up to sign
        return float(min(np.linalg.norm(a - b), np.linalg.norm(a + b)))

    u, kappa, tau = state(p)
    change, it, before = math.inf, 0, None
    while True:
        if not kappa > 0:
            return result(False, f"H : pi pi = {kappa:.3g} <= 0 at iteration {it}: the structure is not a stable "
                                 f"minimum along the iterate")
        if change <= tol:
            return result(True)
        if tau == 0.0 or not np.linalg.norm(u) > 0:
            return result(False, f"no cubic coupling along the iterate (U : pi pi pi = {tau:.3g}) at iteration "
                                 f"{it}; start from a direction on which the potential is anharmonic")
        if it == max_iter:
            return result(False, f"not converged after {max_iter} iterations of Eq. 6 (mixing {mixing:g}): last "
                                 f"change |pi^n - pi^(n-1)| = {change:.3g} > tol = {tol:g}; raise max_iter or "
                                 f"lower mixing")
        q = _remove_translation(solver.solve(u).ravel() * math.copysign(1.0, kappa / tau))
        q /= np.linalg.norm(q)
        if mixing < 1.0:
            q = (1.0 - mixing) * p + mixing * math.copysign(1.0, float(q @ p)) * q
            q /= np.linalg.norm(q)
        change = distance(q, p)
        cycle = before is not None and distance(q, before) <= tol and change > 100 * tol
        before, p, it = p, q, it + 1
        u, kappa, tau = state(p)
        if cycle:
            return result(False, f"Eq. 6 alternates between two directions (a 2-cycle, |pi^n - pi^(n-1)| = "
                                 f"{change:.3g}) at iteration {it} with mixing {mixing:g}; retry with a smaller "
                                 f"mixing (e.g. 0.5)")


def _nonlinear_result(p, h, u, kappa, tau, iterations, change, converged, n3, mixing, reason) -> NonlinearMode:
    if tau > 0:  # orientation: the cubic barrier lies along +pi (U : pi pi is even in pi)
        p, tau = -p, -tau
    hp = h @ p
    resid = float(np.linalg.norm(hp - (kappa / tau) * u) / np.linalg.norm(hp)) if tau != 0 else math.inf
    barrier = 2.0 * kappa**3 / (3.0 * tau**2) if tau != 0 else math.inf
    pr = float(participation_ratio(p, n3 // 3))
    return NonlinearMode(pi=p, kappa=kappa, tau=tau, barrier=barrier, participation=pr, iterations=int(iterations),
                         change=float(change), residual=resid, converged=bool(converged), mixing=float(mixing),
                         reason=reason)


@dataclass
class DoubleWellModes:
    """Linear and nonlinear modes of minimum A of a double well against r_AB (Khomenko et al. (2021),
    Sec. IV.D, Figs. 7 and 8).

    ``linear``: the :class:`ModeOverlap` of all linear modes of A with r_AB (best c and best a,
    Fig. 7's linear curves).  ``from_rab``: the nonlinear mode started from r_AB / |r_AB| (Fig. 7),
    with ``c_rab``, ``a_rab`` its overlaps (Eqs. 7, 8) with r_AB.  ``from_qlm``: the nonlinear mode
    started from the softest QLM of A (mode index ``qlm_mode`` among the non-zero modes, 0 =
    softest; ``start_is_qlm`` False when A has no QLM and the softest mode was used), with
    ``c_qlm_start``, ``a_qlm_start`` the overlaps of that linear mode and ``c_qlm``, ``a_qlm``
    those of the nonlinear mode (Fig. 8).  Overlaps of a nonlinear mode that did not converge are
    NaN (the mode object keeps its last iterate).  ``rab_pr``: PR of r_AB (between 1 and N,
    :func:`tlsfinder.geometry.participation_ratio`), ``rab_norm`` |r_AB| (sigma).
    """

    linear: ModeOverlap
    from_rab: NonlinearMode
    c_rab: float
    a_rab: float
    from_qlm: NonlinearMode
    qlm_mode: int
    start_is_qlm: bool
    c_qlm_start: float
    a_qlm_start: float
    c_qlm: float
    a_qlm: float
    rab_norm: float
    rab_pr: float

    def row(self) -> dict:
        """Flat scalar columns for a catalogue (names stable; ``nl_`` from r_AB, ``nlq_`` from the QLM).
        Per search: ``*_converged``, ``*_mixing`` (1 = Eq. 6 as published; the fallback value, e.g. 0.5,
        when the undamped search failed, e.g. in a 2-cycle) and ``*_reason`` (why the last search
        did not converge, "" if it did)."""
        out = {"lin_c": self.linear.c, "lin_c_mode": self.linear.c_mode, "lin_c_omega": self.linear.c_omega,
               "lin_c_pr": self.linear.c_pr, "lin_a": self.linear.a, "lin_a_mode": self.linear.a_mode,
               "lin_a_omega": self.linear.a_omega, "lin_a_pr": self.linear.a_pr,
               "rab_norm": self.rab_norm, "rab_pr": self.rab_pr,
               "nl_c": self.c_rab, "nl_a": self.a_rab, "qlm_mode": self.qlm_mode, "qlm_start_is_qlm": self.start_is_qlm,
               "qlm_c": self.c_qlm_start, "qlm_a": self.a_qlm_start, "nlq_c": self.c_qlm, "nlq_a": self.a_qlm}
        for pre, m in (("nl", self.from_rab), ("nlq", self.from_qlm)):
            out.update({f"{pre}_converged": m.converged, f"{pre}_iterations": m.iterations, f"{pre}_mixing": m.mixing,
                        f"{pre}_reason": m.reason,
                        f"{pre}_kappa": m.kappa,
                        f"{pre}_tau": m.tau, f"{pre}_barrier": m.barrier, f"{pre}_pr": m.participation,
                        f"{pre}_residual": m.residual})
        return out


def double_well_nonlinear_modes(model, pos_a, pos_b, box, species, analysis: dict | None = None,
                                tol: float = 1e-6, max_iter: int = 500, step: float = NL_STEP,
                                ftol: float = 1e-6, fallback_mixing: float | None = 0.5) -> DoubleWellModes:
    """Linear and nonlinear modes of minimum A (``pos_a``) against r_AB = ``pos_b`` - ``pos_a``
    (minimum image), as in Khomenko et al. (2021) Sec. IV.D: the best linear c and a, the
    nonlinear mode from r_AB / |r_AB| and the one from the softest QLM of A (:func:`nonlinear_mode`,
    ``tol``, ``max_iter``, ``step``; one Hessian factorisation shared), each with c and a.

    ``analysis``: :func:`analyse` of A (unit masses) if already computed (its modes and QLM mask,
    by default the QLMs below the structure's omega_t), else computed here (all modes for N <=
    :data:`DENSE_MAX`; with fewer modes, the best linear c and a are over those).  Each search is Eq. 6 as published (mixing 1); one that does not converge
    (e.g. a 2-cycle) is repeated from the same start with ``fallback_mixing`` (None: no retry), the
    mixing used kept in the mode.  A search that still does not converge does not raise: its
    overlaps are NaN, its ``converged`` flag False and its ``reason`` says why.  ``pos_a`` not a
    minimum: TLSFinderError.
    """
    from .elastic import PinnedSolver
    from .geometry import displacements
    from .geometry import participation_ratio as dw_participation

    species = np.asarray(species)
    if analysis is None:
        analysis = analyse(model, pos_a, box, species, ftol=ftol)
    modes, qlm = analysis["modes"], np.asarray(analysis["qlm"])
    if modes.n_particles != len(species):
        raise TLSFinderError(f"double-well modes: analysis of {modes.n_particles} particles for {len(species)}")
    r = np.asarray(displacements(pos_a, pos_b, box), dtype=float)
    r = r - r.mean(axis=0)
    lin = mode_overlaps(modes, r)
    hess = model.hessian(pos_a, box, species)
    solver = PinnedSolver(hess)

    def search(start) -> NonlinearMode:
        kw = dict(tol=tol, max_iter=max_iter, step=step, ftol=ftol, solver=solver, hessian=hess, strict=False)
        m = nonlinear_mode(model, pos_a, box, species, start, **kw)
        if not m.converged and fallback_mixing is not None and fallback_mixing < 1.0:
            m = nonlinear_mode(model, pos_a, box, species, start, mixing=fallback_mixing, **kw)
        return m

    nl = search(r)
    start_is_qlm = bool(qlm.any())
    k = int(np.flatnonzero(qlm)[0]) if start_is_qlm else 0
    nlq = search(modes.vectors[:, k])

    def over(m: NonlinearMode):
        if not m.converged:
            return math.nan, math.nan
        return float(overlap_c(m.pi[:, None], r)[0]), float(overlap_a(m.pi[:, None], r)[0])

    (c1, a1), (c2, a2) = over(nl), over(nlq)
    return DoubleWellModes(linear=lin, from_rab=nl, c_rab=c1, a_rab=a1, from_qlm=nlq, qlm_mode=k,
                           start_is_qlm=start_is_qlm, c_qlm_start=float(lin.c_alpha[k]),
                           a_qlm_start=float(lin.a_alpha[k]), c_qlm=c2, a_qlm=a2,
                           rab_norm=float(np.linalg.norm(r)), rab_pr=dw_participation(r))
