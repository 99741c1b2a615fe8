"""Quantum splitting of a double well along a minimum energy path.

Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass model", Sec. III.C.

The minimum energy path (MEP) between two inherent structures, as found by
NEB, is treated as a 1D potential V(x) along its arc length x in the full
3N-dimensional configuration space (all masses 1, so this is also the
mass-weighted length).  With xi = x / d in [0, 1] and d the total path length,
their Eq. 10 in reduced units with hbar = 1 reads

    -1 / (2 m~ d^2) psi''(xi) + V(xi) psi(xi) = e psi(xi),     m~ = m eps sigma^2 / hbar^2,

energies in eps, lengths in sigma.  We solve it as that paper does:

* V(x) is a cubic spline through the image energies (default: clamped, V' = 0
  at both ends, because NEB endpoints are minima);
* the grid is uniform with spacing d / N_xi (N_xi = 2000) on [0, d];
* the potential is *continued beyond both minima* (their Fig. 5) so that the
  low states do not feel the ends of the path.  ``continuation="cubic"``
  (default) continues each well by its third-order Taylor polynomial at the
  minimum (made monotone if it would turn over), with V'' and V''' from the
  end pieces of the spline, or from the Hessian when the path gives them
  (``MEP.ends``: the NEB step does, see below);
  ``"harmonic"`` uses the Taylor parabola; ``"mirror"`` reflects each well
  about its minimum up to the barrier top; ``"none"`` puts hard walls at the
  minima (for tests).  Each continuation is extended until the WKB action of
  the (estimated) level e2 into it reaches ``wall_action`` = 12, i.e. the
  doublet's amplitude at the outer Dirichlet boundary is below e^-12: E then
  does not depend on where the grid ends (tests/test_splitting.py).
  What the continuation *cannot* remove is the dependence on the unknown
  shape of the wells beyond the minima, which moves the zero-point energies:
  on a symmetric quartic double well (tests) the cubic continuation gives E
  within ~1.5% of the exact potential's splitting, the harmonic one 17% low,
  the mirror one 36% low; for asymmetric wells (E ~ Delta) all agree to 0.4%;
* the Laplacian is the 5-point stencil (-1, 16, -30, 16, -1) / (12 h^2);
* the five lowest eigenvalues e1..e5 come from ARPACK (scipy eigsh) in
  shift-invert mode; the shift lies below the spectrum, so the shifted
  pentadiagonal Hamiltonian is positive definite and is factorised once by a
  compiled LDL^T (numba); E = e2 - e1.  The grid is sized for the doublet;
  e3..e5 are reported but feel the continuation more.
* convergence: the same problem is solved again with N_xi doubled; a result is
  ``converged`` when E changes by less than ``conv_rtol`` (relative) and each
  of e1..e5 by less than ``conv_rtol * (e5 - e1)``.  Unconverged double wells
  are flagged, never dropped.

Conventions (Mocanu et al. (2023)): the lower minimum is put on the left (the path is
reversed if needed; column ``reversed``), energies are measured from it.

* V_a: forward barrier V_TS - V_1; Delta V = V_2 - V_1 >= 0; V_b = V_a - Delta V / 2.
* End curvatures.  A minimum energy path reaches a minimum along the softest Hessian mode it
  has a component on, so V'' there is that mode's eigenvalue.  A band resolves this slowly
  (its end curvature still moved by 10 % from 63 to 125 images on a KA2 well whose two
  softest modes are close), and with it w1, w2, Delta and the continuation.  The NEB step
  therefore gives V'' and V''' at both minima from the Hessian (``neb.end_curvature:
  hessian``, :func:`tlsfinder.neb.minima.end_derivatives`); E and Delta_0 then changed by
  0.1 % or less between 32, 63 and 125 images on the same wells.  Without them (a path
  file without the columns ``k_start, t3_start, k_end, t3_end``), the spline's end pieces
  are used, as Mocanu et al. do.
* w1, w2, w_TS: classical angular frequencies sqrt(|V''|) at the lower minimum,
  the upper minimum and the barrier top (units 1/tau, tau = sigma sqrt(m/eps);
  independent of the unit preset).  With hbar = 1, hbar w = w / sqrt(m~) in eps
  (columns hw1_<preset>, hw2_<preset>).
* Delta = Delta V + hbar (w2 - w1) / 2  (Eq. 13).
* Delta_0 = e_bar exp(-S(e_bar)), e_bar = (e1 + e2) / 2  (Eq. 15), with
  S(e) = int_a^b sqrt(2 m~ (V - e)) dx between the turning points a < x_TS < b
  nearest the barrier.
* Gamma = (1/m~) [int_0^a2 dx / p]^-1 exp(-2 S(e2)), p = sqrt(2 m~ (e2 - V))
  (Eq. 14), taken literally: the integral runs from the lower minimum (x = 0)
  to the turning point a2 of e2 on its side.  For a harmonic well the prefactor
  is 2 w / pi.  Units eps/hbar; ``Gamma_per_s_<preset>`` converts to 1/s.
  ``wkb_ok`` is False when a level lies above the barrier top or below the
  upper minimum (no turning point on one side); the WKB numbers are then
  computed with S = 0 or with the integral stopped at the upper minimum.
* E ~ sqrt(Delta^2 + Delta_0^2) holds within the accuracy of WKB (Mocanu et al.
  Fig. 6a; Delta_0 of Eq. 15 exceeds the exact symmetric splitting by about
  pi / 2 because its prefactor e_bar ~ hbar w / 2 replaces hbar w / pi).

Pair geometry (d of Eq. 7, PR of Eq. 16, minimum-image displacements) lives in
:mod:`tlsfinder.geometry`.

Path files (:func:`read_path`): CSV or Parquet with a column ``energy`` (total
potential energy, eps; aliases ``E``, ``V``) and either ``s`` (arc length
from the first image, sigma; alias ``x``) or ``xi`` in [0, 1] together with the
path length d (a constant column ``d``/``path_length``, or ``path_length=``);
optional constant columns ``k_start, t3_start, k_end, t3_end`` give V'' and V''' outward at the
two ends (``MEP.ends``; the NEB step writes them);
or extended XYZ with one frame per image and the energy in each frame
(``energy=`` in the comment line), from which s is computed with the minimum
image convention.

Output columns of :func:`analyse_mep` (one row per double well):

=================== ========================================================
d_path              path length d in the full 3N space (sigma)
V_a, Delta_V, V_b   forward barrier, asymmetry, barrier height (eps)
w1, w2, w_TS        sqrt(|V''|) at lower min, upper min, barrier top (1/tau)
xi_TS               position of the barrier top (fraction of d, after orientation)
reversed            True if the path was reversed to put the lower minimum left
n_images            number of images in the path
n_interior_minima   local minima of the spline strictly inside the path that
                    change some preset's E by more than conv_rtol when filled
                    (0 for an elementary double well; see analyse_mep)
n_spline_dips       all local minima of the spline strictly inside the path
dip_fill_change     largest |E_filled - E| / E_filled over the presets (0 if none)
<q>_<preset>        per unit preset (e.g. E_Ar, E_NiP):
  e1..e5            the five lowest levels (eps, from the lower minimum)
  E                 splitting e2 - e1 (eps)
  Delta, Delta_0    Eqs. 13 and 15 (eps)
  Gamma             Eq. 14 (eps / hbar);  Gamma_per_s: in 1/s (NaN without SI scales)
  hw1, hw2          hbar w1, hbar w2 (eps)
  E_rel_change      |E(N_xi) - E(2 N_xi)| / E(2 N_xi)
  converged         levels converged with N_xi (see above) and walls high enough
  wkb_ok            both turning points exist for e_bar and e2
  is_TLS            E < kT_Q of the preset, converged, and no interior minimum (decides())
  n_grid            grid points used (path + continuation)
=================== ========================================================
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import scipy.sparse.linalg as sla
from scipy.interpolate import CubicSpline

from . import TLSFinderError
from .geometry import displacements
from .units import UnitPreset, rate_to_per_second

N_XI = 2000
N_LEVELS = 5
WALL_ACTION = 12.0  # WKB action of e2 into each continuation (amplitude e^-12 at the outer boundary)
CONTINUATIONS = ("harmonic", "cubic", "mirror", "none")

# Gauss-Legendre nodes on [0, 1] for the WKB integrals (smooth after the substitutions below).
@functools.cache
def _gauss_legendre() -> tuple[np.ndarray, np.ndarray]:
    """256-point Gauss-Legendre nodes and weights on [0, 1] (computed on first use: ~0.5 s)."""
    x, w = np.polynomial.legendre.leggauss(256)
    return 0.5 * (x + 1.0), 0.5 * w

# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------


@dataclass
class MEP:
    """A minimum energy path as a 1D profile: arc length ``s`` (sigma, s[0] = 0,
    strictly increasing) and total potential energy ``energy`` (eps) of each image."""

    s: np.ndarray
    energy: np.ndarray
    source: str = "<memory>"
    # ((k, t), (k, t)): second and third derivative of the potential at the first and the last
    # image along the outward direction (eps/sigma^2, eps/sigma^3), if known (from the Hessian:
    # :func:`tlsfinder.neb.minima.end_derivatives`); else they come from the spline's end pieces.
    ends: tuple | None = None

    def __post_init__(self):
        self.s = np.asarray(self.s, dtype=float)
        self.energy = np.asarray(self.energy, dtype=float)
        check_path(self.s, self.energy, self.source)
        if self.ends is not None:
            ends = np.asarray(self.ends, dtype=float)
            if ends.shape != (2, 2) or not np.all(np.isfinite(ends)):
                raise TLSFinderError(f"path {self.source}: ends must be ((k, t), (k, t)), finite; got {self.ends!r}")
            self.ends = tuple(tuple(float(v) for v in end) for end in ends)

    @property
    def d(self) -> float:
        """Path length in the full 3N-dimensional space (sigma)."""
        return float(self.s[-1] - self.s[0])

    @classmethod
    def from_images(cls, images, energies, box, source: str = "<memory>") -> "MEP":
        """From image positions (n_images, N, 3), their energies and an orthorhombic box."""
        return cls(path_coordinate(images, box), energies, source)


def path_coordinate(images, box) -> np.ndarray:
    """Cumulative chord length along a sequence of configurations (minimum image), sigma."""
    x = np.asarray(images, dtype=float)
    seg = [np.linalg.norm(displacements(x[k], x[k + 1], box)) for k in range(len(x) - 1)]
    return np.concatenate([[0.0], np.cumsum(seg)])


def check_path(s, energy, source: str = "<memory>") -> None:
    """Raise TLSFinderError naming ``source`` if the profile is unusable."""
    if s.ndim != 1 or energy.ndim != 1 or len(s) != len(energy):
        raise TLSFinderError(f"path {source}: reaction coordinate and energies must be 1D of equal length")
    if len(s) < 4:
        raise TLSFinderError(f"path {source}: needs at least 4 images, got {len(s)}")
    bad = np.flatnonzero(~np.isfinite(energy))
    if len(bad):
        raise TLSFinderError(f"path {source}: energy is NaN/inf at image(s) {bad[:10].tolist()}")
    bad = np.flatnonzero(~np.isfinite(s))
    if len(bad):
        raise TLSFinderError(f"path {source}: reaction coordinate is NaN/inf at image(s) {bad[:10].tolist()}")
    step = np.diff(s)
    bad = np.flatnonzero(step <= 0)
    if len(bad):
        raise TLSFinderError(
            f"path {source}: reaction coordinate is not strictly increasing at image {int(bad[0]) + 1} "
            f"({s[bad[0]]!r} -> {s[bad[0] + 1]!r})"
        )


_ENERGY_NAMES = ("energy", "E", "V")
#: Constant columns of a path file with V'' and V''' outward at its first and last image.
END_COLUMNS = ("k_start", "t3_start", "k_end", "t3_end")


def read_path(path, path_length: float | None = None) -> MEP:
    """Read a path file (CSV, Parquet or extended XYZ; see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"path file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        return _read_path_xyz(path)
    import pandas as pd

    try:
        df = pd.read_parquet(path) if suffix in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a user error here
        kind = "Parquet" if suffix in (".parquet", ".pq") else "CSV"
        raise TLSFinderError(f"path file {path}: cannot be read as {kind}: {exc}")
    ecol = next((c for c in _ENERGY_NAMES if c in df.columns), None)
    if ecol is None:
        raise TLSFinderError(
            f"path file {path}: needs an energy column (one of {_ENERGY_NAMES}); has {list(df.columns)}")
    energy = pd.to_numeric(df[ecol], errors="coerce").to_numpy(float)
    if "s" in df.columns or "x" in df.columns:
        col = "s" if "s" in df.columns else "x"
        s = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
        check_path(s, energy, f"{path} (column {col!r})")
        s = s - s[0]
    elif "xi" in df.columns:
        xi = pd.to_numeric(df["xi"], errors="coerce").to_numpy(float)
        check_path(xi, energy, f"{path} (column 'xi')")
        if abs(xi[0]) > 1e-6 or abs(xi[-1] - 1.0) > 1e-6:
            raise TLSFinderError(f"path file {path}: column 'xi' must run from 0 to 1, got {xi[0]!r} .. {xi[-1]!r}")
        d = path_length
        if d is None:
            dcol = next((c for c in ("d", "path_length") if c in df.columns), None)
            if dcol is None:
                raise TLSFinderError(
                    f"path file {path}: column 'xi' needs the path length: a column 'd' or 'path_length', "
                    "or --path-length"
                )
            dv = pd.to_numeric(df[dcol], errors="coerce").to_numpy(float)
            if not np.all(np.isfinite(dv)) or np.ptp(dv) > 1e-12 * abs(dv[0]):
                raise TLSFinderError(f"path file {path}: column {dcol!r} must be one finite constant path length")
            d = float(dv[0])
        if not (d > 0 and math.isfinite(d)):
            raise TLSFinderError(f"path file {path}: path length must be positive, got {d!r}")
        s = xi * d
    else:
        raise TLSFinderError(f"path file {path}: needs a reaction coordinate column 's' (sigma) or 'xi' (0..1)")
    ends = None
    if all(c in df.columns for c in END_COLUMNS):  # written by the NEB step (neb.end_curvature: hessian)
        k0, t0, k1, t1 = (float(pd.to_numeric(df[c], errors="coerce").iloc[0]) for c in END_COLUMNS)
        ends = ((k0, t0), (k1, t1))
    return MEP(s, energy, str(path), ends=ends)


def _read_path_xyz(path: Path) -> MEP:
    import ase.io

    try:
        frames = ase.io.read(str(path), index=":", format="extxyz")
    except Exception as exc:  # noqa: BLE001
        raise TLSFinderError(f"path file {path}: cannot be read as extended XYZ: {exc}")
    energies = []
    for k, at in enumerate(frames):
        e = at.info.get("energy")
        if e is None and at.calc is not None:
            e = at.calc.results.get("energy")
        if e is None:
            raise TLSFinderError(f"path file {path}: frame {k} has no energy (write energy=... in the comment line)")
        energies.append(float(e))
    if not frames:
        raise TLSFinderError(f"path file {path}: no frames")
    cell = frames[0].cell
    if not cell.orthorhombic:
        raise TLSFinderError(f"path file {path}: only orthorhombic boxes are supported")
    box = cell.lengths()
    n = len(frames[0])
    if any(len(f) != n for f in frames):
        raise TLSFinderError(f"path file {path}: frames have different particle counts")
    images = np.array([f.positions for f in frames])
    energy = np.array(energies)
    check_path(np.arange(len(energy), dtype=float), energy, str(path))
    s = path_coordinate(images, box)
    check_path(s, energy, f"{path} (identical consecutive images)")
    return MEP(s, energy, str(path))


# --------------------------------------------------------------------------
# The 1D profile
# --------------------------------------------------------------------------


@dataclass
class Profile:
    """A path oriented with its lower minimum at x = 0; V(x) measured from it (eps)."""

    d: float
    spline: CubicSpline
    reversed: bool
    x_ts: float
    v_ts: float  # V_a
    x_low: float  # position of the lower minimum (0 unless the end is not the minimum)
    x_high: float
    delta_v: float
    k1: float  # V'' at the lower minimum (eps / sigma^2)
    k2: float
    k_ts: float
    n_images: int
    n_interior_minima: int
    bc: str
    ends: tuple | None = None  # ((k, t) at x = 0, (k, t) at x = d), outward (see MEP.ends)
    _grid_cache: dict = field(default_factory=dict, repr=False)

    def grid_values(self, n_xi: int) -> np.ndarray:
        """V at x_j = j d / n_xi, j = 0..n_xi (cached)."""
        v = self._grid_cache.get(n_xi)
        if v is None:
            v = self.spline(np.linspace(0.0, self.d, n_xi + 1))
            self._grid_cache[n_xi] = v
        return v


def make_profile(mep: MEP, bc: str = "clamped", flat_tol: float = 1e-10) -> Profile:
    """Spline the path, put the lower minimum left, locate the barrier and the curvatures.

    ``bc``: spline end condition ('clamped': V' = 0 at the ends, right for NEB
    endpoints that are minima; or 'not-a-knot', 'natural').  ``flat_tol``
    (eps): extrema of the spline less prominent than this are ignored when
    counting interior minima.  The barrier top is the highest stationary point
    of the spline (or the highest image); the two minima are the lowest points
    on either side of it (normally the two ends).
    """
    if bc not in ("clamped", "not-a-knot", "natural"):
        raise TLSFinderError(f"splitting: spline end condition must be clamped, not-a-knot or natural, got {bc!r}")
    s = mep.s - mep.s[0]
    e = mep.energy - mep.energy.min()
    ends = mep.ends
    prof = _orient(s, e, ends, bc, flat_tol, False)
    if prof is None:
        prof = _orient(s[-1] - s[::-1], e[::-1], None if ends is None else ends[::-1], bc, flat_tol, True)
    return prof


def fill_dips(mep: MEP, bc: str = "clamped", n: int = N_XI) -> MEP:
    """The path with every interior minimum filled: its spline sampled at ``n`` + 1 points, made
    non-decreasing from each end up to the highest point (the least raise that leaves no local
    minimum inside), the end derivatives kept.  For NEB paths, whose ends are minimised, the ends
    are the minima; whatever dips between them is what :func:`analyse_mep` weighs."""
    s = mep.s - mep.s[0]
    x = np.linspace(0.0, float(s[-1]), n + 1)
    v = CubicSpline(s, mep.energy, bc_type=bc)(x)
    top = int(np.argmax(v))
    v[:top + 1] = np.maximum.accumulate(v[:top + 1])
    v[top:] = np.maximum.accumulate(v[top:][::-1])[::-1]
    return MEP(x, v, source=f"{mep.source} (dips filled)", ends=mep.ends)


def _orient(s, e, ends, bc, flat_tol, rev):
    d = float(s[-1])
    spl0 = CubicSpline(s, e, bc_type=bc)
    roots = spl0.derivative().roots(extrapolate=False)
    roots = roots[(roots > 0) & (roots < d)]
    k_img = int(np.argmax(e))
    x_ts = float(s[k_img])
    if len(roots):
        vr = spl0(roots)
        j = int(np.argmax(vr))
        if vr[j] >= e[k_img] - 1e-12 * max(1.0, abs(e[k_img])):
            x_ts = float(roots[j])
    if ends is None:
        xs_l = np.concatenate([[0.0], roots[roots < x_ts]])
        xs_r = np.concatenate([[d], roots[roots > x_ts]])
        x1 = float(xs_l[np.argmin(spl0(xs_l))])
        x2 = float(xs_r[np.argmin(spl0(xs_r))])
    else:
        # Ends with Hessian derivatives are minimised minima: the wells are there, and a spline
        # dip below an end (1e-7 eps on PSS bands) is an interior minimum to weigh, not a well.
        x1, x2 = 0.0, d
    v1, v2 = float(spl0(x1)), float(spl0(x2))
    if v2 < v1 and not rev:
        return None  # the lower minimum is on the right: reverse
    spl = CubicSpline(s, e - v1, bc_type=bc)
    n_int = 0
    for r in roots:
        if spl(r, 2) > 0:
            left = spl(np.linspace(0.0, r, 64)).max()
            right = spl(np.linspace(r, d, 64)).max()
            if min(left, right) - spl(r) > flat_tol:
                n_int += 1
    k1, k2 = float(spl(x1, 2)), float(spl(x2, 2))
    if ends is not None and (x1 != 0.0 or x2 != d):
        ends = None  # the minima are not the ends: their curvatures are not the ends' either
    if ends is not None:
        k1, k2 = ends[0][0], ends[1][0]
    return Profile(
        d=d, spline=spl, reversed=rev, x_ts=x_ts, v_ts=float(spl(x_ts)), x_low=x1, x_high=x2,
        delta_v=v2 - v1, k1=k1, k2=k2, k_ts=float(spl(x_ts, 2)),
        n_images=len(s), n_interior_minima=n_int, bc=bc, ends=ends,
    )


# --------------------------------------------------------------------------
# The eigenvalue problem
# --------------------------------------------------------------------------


def lowest_levels(v, h: float, m_tilde: float, k: int = N_LEVELS, shift: float | None = None,
                  tol: float = 1e-12) -> np.ndarray:
    """The ``k`` lowest eigenvalues of -1/(2 m~) d^2/dx^2 + V on a uniform grid.

    ``v``: potential at the grid points (eps), spacing ``h`` (sigma); Dirichlet
    conditions one point beyond both ends; 5-point Laplacian.  ARPACK
    (``eigsh``) in shift-invert mode.  The shift must lie below the spectrum:
    H - shift is then positive definite, which its LDL^T factorisation checks
    (all pivots > 0); otherwise the shift falls back to min(V), always below
    the spectrum.  ``shift`` defaults to min(V).  ARPACK's start vector is fixed
    (deterministic results); ``tol`` is its relative tolerance on the
    shift-inverted eigenvalues.
    """
    v = np.asarray(v, dtype=float)
    n = len(v)
    if n < 3 * k:
        raise TLSFinderError(f"splitting: grid of {n} points is too small for {k} levels")
    if not np.all(np.isfinite(v)):
        raise TLSFinderError("splitting: potential on the grid is not finite")
    c = 1.0 / (24.0 * m_tilde * h * h)
    vmin = float(v.min())
    e1 = np.full(n - 1, -16.0 * c)
    e2 = np.full(n - 2, c)
    shifts = [vmin] if shift is None or shift <= vmin else [float(shift), vmin]
    shifts += [vmin - 10.0**-j for j in (9, 6, 3)]  # rounding safety for absurd inputs
    for sh in shifts:
        dd, l1, l2 = _ldl_factor(30.0 * c + (v - sh), e1, e2)
        if np.all(dd > 0):
            break
    else:
        raise TLSFinderError("splitting: shifted Hamiltonian is not positive definite")

    def solve(b):
        return _ldl_solve(dd, l1, l2, np.ascontiguousarray(b, dtype=float).reshape(-1))

    def apply_h(x):  # H x (for completeness: eigsh's shift-invert mode only uses OPinv)
        x = np.asarray(x, dtype=float).reshape(-1)
        y = (30.0 * c + v) * x
        y[1:] -= 16.0 * c * x[:-1]
        y[:-1] -= 16.0 * c * x[1:]
        y[2:] += c * x[:-2]
        y[:-2] += c * x[2:]
        return y

    a_op = sla.LinearOperator((n, n), matvec=apply_h, dtype=float)
    op = sla.LinearOperator((n, n), matvec=solve, dtype=float)
    try:
        lam = sla.eigsh(a_op, k=k, sigma=sh, which="LM", OPinv=op, v0=_start_vector(n),
                        return_eigenvectors=False, tol=tol)
    except sla.ArpackNoConvergence as exc:
        raise TLSFinderError(f"splitting: ARPACK did not converge ({exc})")
    return np.sort(lam)


@numba.njit(cache=True)
def _ldl_factor(d0, e1, e2):  # pragma: no cover - compiled
    """LDL^T of the symmetric pentadiagonal matrix (diag d0, off-diagonals e1, e2).

    L is unit lower triangular with L[i, i-1] = l1[i], L[i, i-2] = l2[i].
    """
    n = d0.shape[0]
    dd = np.empty(n)
    l1 = np.zeros(n)
    l2 = np.zeros(n)
    for i in range(n):
        if i >= 2:
            l2[i] = e2[i - 2] / dd[i - 2]
        if i >= 1:
            t = e1[i - 1]
            if i >= 2:
                t -= l2[i] * dd[i - 2] * l1[i - 1]
            l1[i] = t / dd[i - 1]
        x = d0[i]
        if i >= 1:
            x -= l1[i] * l1[i] * dd[i - 1]
        if i >= 2:
            x -= l2[i] * l2[i] * dd[i - 2]
        dd[i] = x
        if not x > 0.0:  # not positive definite: stop (caller checks dd > 0)
            for j in range(i + 1, n):
                dd[j] = 0.0
            break
    return dd, l1, l2


@numba.njit(cache=True)
def _ldl_solve(dd, l1, l2, b):  # pragma: no cover - compiled
    n = b.shape[0]
    y = np.empty(n)
    for i in range(n):
        t = b[i]
        if i >= 1:
            t -= l1[i] * y[i - 1]
        if i >= 2:
            t -= l2[i] * y[i - 2]
        y[i] = t
    for i in range(n):
        y[i] /= dd[i]
    for i in range(n - 1, -1, -1):
        t = y[i]
        if i + 1 < n:
            t -= l1[i + 1] * y[i + 1]
        if i + 2 < n:
            t -= l2[i + 2] * y[i + 2]
        y[i] = t
    return y


_V0_CACHE: dict[int, np.ndarray] = {}


def _start_vector(n: int) -> np.ndarray:
    v0 = _V0_CACHE.get(n)
    if v0 is None:
        v0 = np.random.default_rng(20240501).standard_normal(n)
        if len(_V0_CACHE) > 64:
            _V0_CACHE.clear()
        _V0_CACHE[n] = v0
    return v0


def _end_taylor(profile: Profile, side: str) -> tuple[float, float, float, float]:
    """(V, dV/du, d2V/du2, d3V/du3) at the ``side`` end, u the outward distance (cached)."""
    key = ("taylor", side)
    val = profile._grid_cache.get(key)
    if val is None:
        spl = profile.spline
        x0 = 0.0 if side == "left" else profile.d
        sgn = -1.0 if side == "left" else 1.0
        if profile.ends is not None:
            k0, t0 = profile.ends[0 if side == "left" else 1]
        else:
            k0, t0 = float(spl(x0, 2)), float(spl(x0, 3)) * sgn
        val = (float(spl(x0)), float(spl(x0, 1)) * sgn, max(k0, _curvature_floor(profile)), t0)
        profile._grid_cache[key] = val
    return val


def continuation_values(profile: Profile, side: str, u: np.ndarray, kind: str, n_xi: int) -> np.ndarray:
    """Potential (eps) beyond the ``side`` ('left' or 'right') end at outward distances u = j h.

    ``harmonic``: V0 + V0' u + V0'' u^2 / 2.  ``cubic`` (default): the third-order
    Taylor polynomial, i.e. the end piece of the cubic spline extrapolated; where
    the third derivative softens the wall (negative outward) the polynomial is
    followed, from the point where the curvature has dropped to V0''/2, by a parabola
    of curvature V0''/2 (C^2 and monotone).  ``mirror``: the well reflected about
    its end up to the barrier top, then a parabola of curvature V0''.  V0'' is
    floored at 1e-3 of the largest |curvature| of the profile.  The grid spacing
    h = d / n_xi is needed by ``mirror`` only.
    """
    v0, s0, k0, t0 = _end_taylor(profile, side)
    if kind == "harmonic":
        return v0 + s0 * u + 0.5 * k0 * u * u
    if kind == "cubic":
        out = v0 + s0 * u + 0.5 * k0 * u * u + t0 * u**3 / 6.0
        if t0 < 0:
            us = -0.5 * k0 / t0
            far = u > us
            vs = v0 + s0 * us + 0.5 * k0 * us * us + t0 * us**3 / 6.0
            ss = s0 + k0 * us + 0.5 * t0 * us * us
            du = u[far] - us
            out[far] = vs + ss * du + 0.25 * k0 * du * du
        return out
    if kind == "mirror":
        path_vals = profile.grid_values(n_xi)
        h = profile.d / n_xi
        u_ts = profile.x_ts if side == "left" else profile.d - profile.x_ts
        j = np.rint(u / h).astype(int)
        j_ts = int(min(round(u_ts / h), n_xi))
        inside = j <= j_ts
        out = np.empty_like(u)
        out[inside] = path_vals[j[inside] if side == "left" else n_xi - j[inside]]
        v_top = path_vals[j_ts if side == "left" else n_xi - j_ts]
        du = u[~inside] - j_ts * h
        out[~inside] = v_top + 0.5 * k0 * du * du
        return out
    raise TLSFinderError(f"splitting: continuation must be one of {CONTINUATIONS}, got {kind!r}")


def _curvature_floor(profile: Profile) -> float:
    """Smallest curvature used for a continuation (guards against flat or concave ends)."""
    scale = max(abs(profile.k1), abs(profile.k2), abs(profile.k_ts), 1e-12)
    return 1e-3 * scale


def _wall(profile, side, kind, m_tilde, e_ref, n_xi, wall_action, n_max, n_fixed=None) -> np.ndarray:
    """Continuation values on u = h, 2h, ... until the WKB action of e_ref reaches ``wall_action``."""
    if kind == "none":
        return np.empty(0)
    h = profile.d / n_xi
    if n_fixed is not None:
        return continuation_values(profile, side, h * np.arange(1, n_fixed + 1), kind, n_xi)
    v0, _, k0, _ = _end_taylor(profile, side)
    # First guess from the parabola: turning point plus the width where the action reaches W.
    ut = math.sqrt(2.0 * max(e_ref - v0, 0.0) / k0)
    guess = ut + 2.0 * math.sqrt(wall_action / math.sqrt(m_tilde * k0)) + 4.0 * h
    n = int(min(max(16, 1.25 * guess / h), n_max))
    while True:
        v = continuation_values(profile, side, h * np.arange(1, n + 1), kind, n_xi)
        act = np.cumsum(np.sqrt(2.0 * m_tilde * np.clip(v - e_ref, 0.0, None))) * h
        k = int(np.searchsorted(act, wall_action))
        if k < n or n >= n_max:
            return v[: min(k + 1, n)]
        n = min(2 * n, n_max)


@dataclass
class Levels:
    """Levels of one solve and the grid used."""

    e: np.ndarray  # e1..e5 (eps, from the lower minimum)
    n_left: int
    n_right: int
    n_xi: int
    wall_ok: bool

    @property
    def n_grid(self) -> int:
        return self.n_xi + 1 + self.n_left + self.n_right


def solve_profile(profile: Profile, m_tilde: float, n_xi: int = N_XI, continuation: str = "cubic",
                  wall_action: float = WALL_ACTION, k: int = N_LEVELS, ext: tuple[int, int] | None = None,
                  max_ext: float | None = None) -> Levels:
    """The ``k`` lowest levels of Eq. 10 for ``profile`` with ``n_xi`` intervals on [0, d].

    The continuations are sized for the splitting doublet: each is extended
    until the WKB action of e_ref into it reaches ``wall_action``, with e_ref
    the harmonic estimate min(1.5 hbar w1, Delta V + hbar w2 / 2) + hbar w1 / 4 of e2
    (raised and re-solved if the computed e2 is higher).  ``ext`` = (n_left,
    n_right) forces the continuation lengths in grid points (the convergence
    check uses it to keep the same physical domain); ``max_ext`` caps each
    continuation (sigma, default 4 d).  Levels above e2 see lower walls: e3..e5
    are reported but depend more on the continuation.
    """
    if continuation not in CONTINUATIONS:
        raise TLSFinderError(f"splitting: continuation must be one of {CONTINUATIONS}, got {continuation!r}")
    if n_xi < 50:
        raise TLSFinderError(f"splitting: n_xi must be >= 50, got {n_xi}")
    h = profile.d / n_xi
    vals = profile.grid_values(n_xi)
    n_max = max(16, int((4.0 * profile.d if max_ext is None else max_ext) / h))
    hw_low = math.sqrt(max(profile.k1, _curvature_floor(profile)) / m_tilde)
    hw_high = math.sqrt(max(profile.k2, _curvature_floor(profile)) / m_tilde)
    e_ref = min(1.5 * hw_low, profile.delta_v + 0.5 * hw_high) + 0.25 * hw_low
    wall_ok = True
    for attempt in range(4):
        if ext is None:
            wl = _wall(profile, "left", continuation, m_tilde, e_ref, n_xi, wall_action, n_max)
            wr = _wall(profile, "right", continuation, m_tilde, e_ref, n_xi, wall_action, n_max)
        else:
            wl = _wall(profile, "left", continuation, m_tilde, e_ref, n_xi, wall_action, n_max, ext[0])
            wr = _wall(profile, "right", continuation, m_tilde, e_ref, n_xi, wall_action, n_max, ext[1])
        v = np.concatenate([wl[::-1], vals, wr])
        e = lowest_levels(v, h, m_tilde, k, shift=0.3 * hw_low)
        if continuation == "none" or ext is not None or e[1] <= e_ref:
            break
        e_ref = e[1] + 0.5 * hw_low
    if continuation != "none":  # the walls must hold e2
        for w in (wl, wr):
            act = float(np.sum(np.sqrt(2.0 * m_tilde * np.clip(w - e[1], 0.0, None))) * h)
            if act < 0.5 * wall_action:
                wall_ok = False
    return Levels(e=e, n_left=len(wl), n_right=len(wr), n_xi=n_xi, wall_ok=wall_ok)


# --------------------------------------------------------------------------
# WKB (Eqs. 14, 15)
# --------------------------------------------------------------------------


def turning_points(profile: Profile, e: float) -> tuple[float, float, bool]:
    """Crossings a < x_TS < b of V(x) = e nearest the barrier top.

    Returns (a, b, ok); if e is above the barrier top a = b = x_TS; if e is
    below the upper minimum b is that minimum; ok is False in both cases.
    """
    spl = profile.spline
    if e >= profile.v_ts:
        return profile.x_ts, profile.x_ts, False
    roots = spl.solve(e, extrapolate=False)
    roots = roots[np.isfinite(roots)]
    left = roots[(roots >= 0.0) & (roots < profile.x_ts)]
    right = roots[(roots > profile.x_ts) & (roots <= profile.d)]
    ok = True
    if len(left):
        a = float(left.max())
    else:
        a, ok = profile.x_low, False
    if len(right):
        b = float(right.min())
    else:
        b, ok = profile.x_high, False
    return a, b, ok


def barrier_action(profile: Profile, e: float, m_tilde: float, a: float, b: float) -> float:
    """S = int_a^b sqrt(2 m~ (V - e)) dx (hbar = 1), Gauss-Legendre after x = mid - half cos(theta)."""
    if b <= a:
        return 0.0
    gl_x, gl_w = _gauss_legendre()
    th = math.pi * gl_x
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    x = mid - half * np.cos(th)
    f = np.sqrt(2.0 * m_tilde * np.clip(profile.spline(x) - e, 0.0, None)) * half * np.sin(th)
    return float(math.pi * np.dot(gl_w, f))


def half_period_integral(profile: Profile, e: float, m_tilde: float, a: float) -> float:
    """int_{x_low}^a dx / p, p = sqrt(2 m~ (e - V)), with x = a - t^2 to remove the 1/sqrt at a."""
    x0 = profile.x_low
    if a <= x0:
        return float("nan")
    tmax = math.sqrt(a - x0)
    gl_x, gl_w = _gauss_legendre()
    t = tmax * gl_x
    x = a - t * t
    p2 = 2.0 * m_tilde * (e - profile.spline(x))
    # Near the turning point p2 ~ 2 m~ F t^2: use the slope there where t is tiny.
    slope = max(float(profile.spline(a, 1)), 0.0)
    tiny = t * t < 1e-14 * max(a - x0, 1e-300)
    p2 = np.where(tiny, 2.0 * m_tilde * slope * t * t, p2)
    p2 = np.clip(p2, 1e-300, None)
    return float(tmax * np.dot(gl_w, 2.0 * t / np.sqrt(p2)))


# --------------------------------------------------------------------------
# One double well, one mass
# --------------------------------------------------------------------------


@dataclass
class SplittingResult:
    """Quantum quantities of one profile for one effective mass (energies in eps)."""

    m_tilde: float
    levels: np.ndarray
    E: float
    Delta: float
    Delta_0: float
    Gamma: float  # eps / hbar
    hw1: float
    hw2: float
    E_rel_change: float
    converged: bool
    wkb_ok: bool
    n_grid: int

    def row(self, suffix: str = "") -> dict:
        out = {f"e{i + 1}": float(x) for i, x in enumerate(self.levels)}
        out.update(E=self.E, Delta=self.Delta, Delta_0=self.Delta_0, Gamma=self.Gamma, hw1=self.hw1, hw2=self.hw2,
                   E_rel_change=self.E_rel_change, converged=self.converged, wkb_ok=self.wkb_ok, n_grid=self.n_grid)
        return {f"{k}{suffix}": v for k, v in out.items()}


def splitting(profile: Profile, m_tilde: float, n_xi: int = N_XI, continuation: str = "cubic",
              check_convergence: bool = True, conv_rtol: float = 1e-3,
              wall_action: float = WALL_ACTION) -> SplittingResult:
    """Splitting and TLS parameters of ``profile`` for effective mass ``m_tilde``."""
    if not (m_tilde > 0 and math.isfinite(m_tilde)):
        raise TLSFinderError(f"splitting: m_tilde must be positive, got {m_tilde!r}")
    lv = solve_profile(profile, m_tilde, n_xi, continuation, wall_action)
    e = lv.e
    E = float(e[1] - e[0])
    converged = lv.wall_ok
    rel = float("nan")
    if check_convergence:
        lv2 = solve_profile(profile, m_tilde, 2 * n_xi, continuation, wall_action,
                            ext=(2 * lv.n_left, 2 * lv.n_right))
        E2 = float(lv2.e[1] - lv2.e[0])
        rel = abs(E - E2) / abs(E2) if E2 != 0 else float("inf")
        span = float(lv2.e[-1] - lv2.e[0])
        converged = converged and rel <= conv_rtol and bool(np.all(np.abs(e - lv2.e) <= conv_rtol * span))
    sq = math.sqrt(m_tilde)
    hw1 = math.sqrt(abs(profile.k1)) / sq
    hw2 = math.sqrt(abs(profile.k2)) / sq
    delta = profile.delta_v + 0.5 * (hw2 - hw1)
    ebar = 0.5 * (e[0] + e[1])
    a, b, ok1 = turning_points(profile, ebar)
    delta0 = ebar * math.exp(-barrier_action(profile, ebar, m_tilde, a, b))
    a2, b2, ok2 = turning_points(profile, float(e[1]))
    s2 = barrier_action(profile, float(e[1]), m_tilde, a2, b2)
    tint = half_period_integral(profile, float(e[1]), m_tilde, a2)
    gamma = (1.0 / m_tilde) / tint * math.exp(-2.0 * s2) if tint > 0 else float("nan")
    return SplittingResult(m_tilde=m_tilde, levels=e, E=E, Delta=delta, Delta_0=delta0, Gamma=gamma, hw1=hw1,
                           hw2=hw2, E_rel_change=rel, converged=bool(converged), wkb_ok=bool(ok1 and ok2),
                           n_grid=lv.n_grid)


# --------------------------------------------------------------------------
# One double well, all presets: the DW-table row
# --------------------------------------------------------------------------


def profile_row(profile: Profile) -> dict:
    """The preset-independent columns of a DW row."""
    return {
        "d_path": profile.d,
        "V_a": profile.v_ts,
        "Delta_V": profile.delta_v,
        "V_b": profile.v_ts - 0.5 * profile.delta_v,
        "w1": math.sqrt(abs(profile.k1)),
        "w2": math.sqrt(abs(profile.k2)),
        "w_TS": math.sqrt(abs(profile.k_ts)),
        "xi_TS": profile.x_ts / profile.d,
        "reversed": profile.reversed,
        "n_images": profile.n_images,
        "n_interior_minima": profile.n_interior_minima,
    }


def decides(converged, n_interior_minima):
    """Whether a splitting E decides "TLS or not": only a converged solve (E does not move with the
    grid, the walls hold e2) of an elementary double well (no local minimum inside the path).  On a
    path with interior minima the lowest levels may sit in one flat stretch of it: PSS paths with
    2-3 interior minima gave evenly spaced levels (E_Ar = 0.0005, a vibrational ladder) although
    their asymmetry Delta was 0.09-0.11 eps.  Works on scalars and on table columns."""
    return np.logical_and(np.asarray(converged, dtype=bool), np.asarray(n_interior_minima) == 0)


def valid_splitting(table, preset: str):
    """:func:`decides` for the rows of a DW table and preset ``preset`` (columns ``converged_<preset>``
    and ``n_interior_minima``; a table lacking one is taken as passing that test)."""
    n = len(table)
    conv = table[f"converged_{preset}"].fillna(False).to_numpy(dtype=bool) \
        if f"converged_{preset}" in table.columns else np.ones(n, bool)
    inner = table["n_interior_minima"].fillna(0).to_numpy() if "n_interior_minima" in table.columns else np.zeros(n)
    return decides(conv, inner)


def analyse_mep(mep: MEP, presets: list[UnitPreset], n_xi: int = N_XI, continuation: str = "cubic",
                bc: str = "clamped", check_convergence: bool = True, conv_rtol: float = 1e-3) -> dict:
    """Everything about one double well: the preset-independent columns and, for each
    preset, its quantum columns with suffix ``_<preset name>`` (see the module docstring).

    Interior minima of the spline are weighed by what they do to the splitting: each preset's E is
    solved again with them filled (:func:`fill_dips`); if no E moves by more than ``conv_rtol``
    (the resolution of E on the grid anyway), they are interpolation wiggles, not wells
    (``n_interior_minima`` = 0, ``n_spline_dips`` keeps their number).  Why: on PSS paths
    (N = 500) the clamped spline dips 1e-7 to 1e-5 eps inside the first or last image interval
    next to a minimum, where the band has no image; counting those made 14 of 22 double wells
    undecided.
    """
    prof = make_profile(mep, bc=bc)
    row = profile_row(prof)
    res = {p.name: splitting(prof, p.m_tilde, n_xi, continuation, check_convergence, conv_rtol) for p in presets}
    change = 0.0
    if prof.n_interior_minima:
        try:
            filled = make_profile(fill_dips(mep, bc), bc=bc)
            for p in presets:
                ef = splitting(filled, p.m_tilde, n_xi, continuation, False).E
                e = res[p.name].E
                change = max(change, abs(ef - e) / abs(ef) if ef != 0 else math.inf)
        except TLSFinderError:
            change = math.inf  # no splitting without the dips: they count
    relevant = prof.n_interior_minima if change > conv_rtol else 0
    row.update(n_interior_minima=relevant, n_spline_dips=prof.n_interior_minima, dip_fill_change=change)
    for p in presets:
        r = res[p.name]
        row.update(r.row(f"_{p.name}"))
        row[f"Gamma_per_s_{p.name}"] = float(rate_to_per_second(r.Gamma, p)) if p.has_si else float("nan")
        row[f"is_TLS_{p.name}"] = bool(decides(r.converged, relevant) and p.is_tls(r.E))
    return row
