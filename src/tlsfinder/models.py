"""Glass models as data: one definition per model, used everywhere.

Every model here is a smoothed pair potential of the form

    v_ij(r) = eps_ij * [a12 x^-12 - a6 x^-6 + c0 + c2 x^2 + c4 x^4],   x = r / sigma_ij,

for r < x_c sigma_ij and zero beyond; the polynomial makes v, v' and v''
vanish at the cutoff.  The form and its evaluators are defined once in
:mod:`tlsfinder.potentials`; a model adds the mixing rule (eps_ij, sigma_ij).
The same coefficients feed

* the LAMMPS set-up (:meth:`Model.lammps_commands`),
* our own energy / forces / Hessian (:meth:`Model.energy_forces`, :meth:`Model.hessian`),
  used by NEB and vibrational analysis,
* the tests, which compare the two.

Units are reduced Lennard-Jones units: energy eps_AA (KA2) or eps (PSS), length
sigma_AA (KA2) or the mean diameter (PSS), all masses 1, k_B = 1.

Conventions: ``positions`` is an (N, 3) float array in an orthorhombic periodic
box ``box`` = (Lx, Ly, Lz) with its origin at 0 (positions outside the box are
wrapped by minimum image, so unwrapped coordinates are fine).  ``species`` is
the per-particle model attribute: integer types 0, 1, 2 (= A, B, C) for KA2,
float diameters for PSS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import TLSFinderError
from .geometry import periodic_pairs
from .io import atomic_path
from .potentials import TERMS, PairForm
from .schema import default

# --------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------


@dataclass
class Model:
    """Common machinery: neighbour pairs, energy, forces, Hessian for a PairForm."""

    n: int
    density: float
    name: str = field(init=False, default="")

    # -- to be provided by subclasses -------------------------------------
    form: PairForm = field(init=False, repr=False)

    def pair_params(self, species, i, j) -> tuple[np.ndarray, np.ndarray]:
        """(eps_ij, sigma_ij) for the pairs (i, j)."""
        raise NotImplementedError

    def max_cutoff(self, species=None) -> float:
        raise NotImplementedError

    def make_species(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def check_species(self, species, where: str = "species") -> np.ndarray:
        raise NotImplementedError

    def lammps_commands(self, workdir: Path, species=None) -> list[str]:
        raise NotImplementedError

    def lammps_types(self, species) -> tuple[int, np.ndarray]:
        """(number of LAMMPS atom types, the type 1.. of each particle) for ``species``."""
        raise NotImplementedError

    def to_config(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- geometry -----------------------------------------------------------
    @property
    def box_length(self) -> float:
        return (self.n / self.density) ** (1.0 / 3.0)

    @property
    def box(self) -> np.ndarray:
        return np.full(3, self.box_length)

    def check_box(self) -> None:
        """Minimum image needs the box to exceed twice the largest cutoff."""
        if self.box_length <= 2.0 * self.max_cutoff():
            raise TLSFinderError(
                f"model.n = {self.n} is too small at density {self.density}: box length {self.box_length:.3f} "
                f"must exceed twice the cutoff {self.max_cutoff():.3f} (minimum image)"
            )

    def random_positions(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform random positions (overlapping: use :meth:`lattice_positions` to start MD)."""
        return rng.uniform(0.0, self.box_length, size=(self.n, 3))

    def lattice_positions(self, rng: np.random.Generator) -> np.ndarray:
        """N random sites of the smallest simple cubic lattice with >= N sites, slightly jittered.

        A start without overlaps, from which MD at high temperature melts the system.
        """
        m = int(math.ceil(self.n ** (1.0 / 3.0) - 1e-9))
        a = self.box_length / m
        g = np.arange(m) * a + 0.5 * a
        sites = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
        pick = rng.choice(len(sites), size=self.n, replace=False)
        return sites[np.sort(pick)] + rng.normal(0.0, 0.02 * a, size=(self.n, 3))

    # -- pair search --------------------------------------------------------
    def pairs(self, positions, box, species):
        """Interacting pairs: (i, j, rij vectors (minimum image, r_j - r_i), r, eps, sigma)."""
        pos = np.asarray(positions, dtype=float)
        box = np.asarray(box, dtype=float)
        if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] != len(species):
            raise TLSFinderError(
                f"positions of shape {pos.shape} do not match {len(species)} particles of model {self.name}"
            )
        i, j, d, r = periodic_pairs(pos, box, self.max_cutoff(species))
        eps, sig = self.pair_params(species, i, j)
        keep = r < self.form.x_c * sig
        return i[keep], j[keep], d[keep], r[keep], eps[keep], sig[keep]

    # -- energies and forces -------------------------------------------------
    def energy(self, positions, box, species) -> float:
        """Total potential energy (eps)."""
        _, _, _, r, eps, sig = self.pairs(positions, box, species)
        return float(np.sum(eps * self.form.u(r / sig)))

    def energy_forces(self, positions, box, species) -> tuple[float, np.ndarray]:
        """Total potential energy (eps) and forces (N, 3) (eps/sigma)."""
        i, j, d, r, eps, sig = self.pairs(positions, box, species)
        x = r / sig
        e = float(np.sum(eps * self.form.u(x)))
        # f_i = dv/dr * d/r  (d = r_j - r_i), f_j = -f_i
        fr = (eps / sig * self.form.du(x) / r)[:, None] * d
        n = len(species)
        f = np.zeros((n, 3))
        for k in range(3):
            f[:, k] = np.bincount(i, weights=fr[:, k], minlength=n) - np.bincount(j, weights=fr[:, k], minlength=n)
        return e, f

    def per_particle_energy(self, positions, box, species) -> np.ndarray:
        """Energy of each particle (half of each pair term), summing to the total."""
        i, j, _, r, eps, sig = self.pairs(positions, box, species)
        v = 0.5 * eps * self.form.u(r / sig)
        n = len(species)
        return np.bincount(i, weights=v, minlength=n) + np.bincount(j, weights=v, minlength=n)

    def hessian(self, positions, box, species) -> sp.csr_matrix:
        """Hessian d^2E / dx_a dx_b as a sparse symmetric (3N, 3N) matrix (eps/sigma^2)."""
        i, j, d, r, eps, sig = self.pairs(positions, box, species)
        x = r / sig
        v1 = eps / sig * self.form.du(x)  # dv/dr
        v2 = eps / sig**2 * self.form.d2u(x)  # d2v/dr2
        nhat = d / r[:, None]
        outer = nhat[:, :, None] * nhat[:, None, :]
        eye = np.eye(3)[None]
        # Block d^2v / dr_i dr_j for a pair: -(v2 nn + v1/r (I - nn)).
        k = (v2 - v1 / r)[:, None, None] * outer + (v1 / r)[:, None, None] * eye
        n = len(species)
        rows, cols, vals = [], [], []
        a = np.arange(3)
        for (p, q, sign) in ((i, j, -1.0), (j, i, -1.0), (i, i, 1.0), (j, j, 1.0)):
            rr = (3 * p[:, None, None] + a[None, :, None]).repeat(3, axis=2)
            cc = (3 * q[:, None, None] + a[None, None, :]).repeat(3, axis=1)
            rows.append(rr.ravel())
            cols.append(cc.ravel())
            vals.append((sign * k).ravel())
        h = sp.coo_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(3 * n, 3 * n)
        )
        return h.tocsr()

    def pressure(self, positions, box, species, temperature: float = 0.0) -> float:
        """Pressure rho T + virial / (3V) (eps/sigma^3)."""
        _, _, _, r, eps, sig = self.pairs(positions, box, species)
        vol = float(np.prod(box))
        virial = -np.sum(r * eps / sig * self.form.du(r / sig))
        return len(species) * temperature / vol + virial / (3.0 * vol)


# --------------------------------------------------------------------------
# KA2 ternary Lennard-Jones
# --------------------------------------------------------------------------

# Pair parameters of KA2 (Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass model",
# Eq. 1; Parmar, Ozawa, Berthier, PRL 125, 085505 (2020)).
KA2_EPS = np.array([[1.0, 1.5, 1.25], [1.5, 0.5, 1.0], [1.25, 1.0, 0.75]])
KA2_SIGMA = np.array([[1.0, 0.8, 0.9], [0.8, 0.88, 0.84], [0.9, 0.84, 0.94]])
# Composition A:B:C = 4:1:1 of KA2 as stated by Mocanu et al. (2023, section II.B: "A (large),
# B (small), and C (medium), in a ratio A:B:C=4:1:1"), the model of Parmar, Ozawa, Berthier,
# PRL 125, 085505 (2020), ref. [31] there.  N = 1200 gives 800:200:200.
KA2_COMPOSITION = (4.0, 1.0, 1.0)
TYPE_NAMES = ("A", "B", "C")


@dataclass
class KA2(Model):
    """Ternary Lennard-Jones KA2 with the C2-smooth cutoff of Mocanu et al. (2023) (types A, B, C = 0, 1, 2)."""

    composition: tuple[float, float, float] = KA2_COMPOSITION  # ratios A:B:C, normalised
    x_c: float = 2.5
    lammps_style: str = "table"
    table_points: int = 20000

    def __post_init__(self):
        self.name = "KA2"
        self.form = PairForm.lennard_jones(self.x_c)
        comp = np.asarray(self.composition, dtype=float)
        if comp.shape != (3,) or np.any(comp < 0) or comp.sum() <= 0 or comp[2] == 0:
            raise TLSFinderError(
                f"model.composition must be three non-negative ratios A:B:C with C > 0, got {self.composition}")
        if self.lammps_style not in ("table", "lepton"):
            raise TLSFinderError(f"model.lammps_style must be 'table' or 'lepton', got {self.lammps_style!r}")

    @property
    def counts(self) -> np.ndarray:
        """Particles per type; rounding leftovers go to A."""
        frac = np.asarray(self.composition, dtype=float) / float(np.sum(self.composition))
        c = np.floor(frac * self.n + 1e-9).astype(int)
        c[0] += self.n - c.sum()
        return c

    def pair_params(self, species, i, j):
        t = np.asarray(species)
        return KA2_EPS[t[i], t[j]], KA2_SIGMA[t[i], t[j]]

    def max_cutoff(self, species=None) -> float:
        return self.x_c * float(KA2_SIGMA.max())

    def make_species(self, rng: np.random.Generator) -> np.ndarray:
        t = np.repeat(np.arange(3), self.counts)
        rng.shuffle(t)
        return t

    def check_species(self, species, where: str = "species") -> np.ndarray:
        t = np.asarray(species)
        if t.shape != (self.n,) or not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() > 2:
            raise TLSFinderError(f"{where}: KA2 needs {self.n} integer types in 0..2, got shape {t.shape} dtype {t.dtype}")
        return t.astype(np.int64)

    def lammps_types(self, species) -> tuple[int, np.ndarray]:
        """LAMMPS types 1, 2, 3 = A, B, C."""
        return 3, np.asarray(species, dtype=np.int64) + 1

    def lammps_commands(self, workdir: Path, species=None) -> list[str]:
        """Pair style commands for LAMMPS.

        ``lammps_style = "table"`` (default): ``pair_style table spline`` with ``table_points``
        points uniform in r^2 from 0.5 sigma_ab to the cutoff, written from :class:`PairForm`.
        At 20000 points the tabulation error is ~1e-13 relative in energy and forces
        (tests/test_models.py asserts < 1e-9) and MD runs ~4x faster than Lepton.
        ``lammps_style = "lepton"``: the analytic expression, exact to rounding.
        """
        if self.lammps_style == "lepton":
            cmds = [f"pair_style lepton {self.max_cutoff():.12g}"]
            for a in range(3):
                for b in range(a, 3):
                    s = KA2_SIGMA[a, b]
                    expr = self.form.lepton(repr(float(s)), repr(float(KA2_EPS[a, b])))
                    cmds.append(f'pair_coeff {a + 1} {b + 1} "{expr}" {float(self.x_c * s)!r}')
        else:
            path = Path(workdir) / f"ka2_xc{self.x_c:g}_{self.table_points}.table"
            if not path.exists():
                write_table(path, self.form, self.table_points)
            cmds = [f"pair_style table spline {self.table_points}"]
            for a in range(3):
                for b in range(a, 3):
                    cmds.append(f"pair_coeff {a + 1} {b + 1} {path} {TYPE_NAMES[a]}{TYPE_NAMES[b]} {float(self.x_c * KA2_SIGMA[a, b])!r}")
        cmds.append("pair_modify shift no")
        return cmds

    def to_config(self) -> dict[str, Any]:
        return {"name": "KA2", "n": self.n, "density": self.density, "composition": list(self.composition),
                "x_c": self.x_c, "lammps_style": self.lammps_style, "table_points": self.table_points}


def write_table(path: Path, form: PairForm, npoints: int, inner: float = 0.5) -> None:
    """LAMMPS ``pair_style table`` file with one section per KA2 pair (keywords AA, AB, ...).

    Points are uniform in r^2 on [inner sigma_ab, x_c sigma_ab]; columns: index, r, E, F = -dE/dr.
    """
    chunks = ["# KA2 smoothed Lennard-Jones, written by tlsfinder.models.write_table\n"]
    for a in range(3):
        for b in range(a, 3):
            s, eps = float(KA2_SIGMA[a, b]), float(KA2_EPS[a, b])
            lo, hi = inner * s, form.x_c * s
            r = np.sqrt(np.linspace(lo * lo, hi * hi, npoints))
            x = r / s
            r, e, f = r.tolist(), (eps * form.u(x)).tolist(), (-eps / s * form.du(x)).tolist()
            body = "\n".join(f"{k + 1} {r[k]!r} {e[k]!r} {f[k]!r}" for k in range(npoints))
            chunks.append(f"\n{TYPE_NAMES[a]}{TYPE_NAMES[b]}\nN {npoints} RSQ {lo!r} {hi!r}\n\n{body}\n")
    with atomic_path(path) as tmp:
        Path(tmp).write_text("".join(chunks))


# --------------------------------------------------------------------------
# PSS polydisperse soft spheres
# --------------------------------------------------------------------------


def pss_diameter_bounds(polydispersity: float = 0.23, mean: float = 1.0) -> tuple[float, float]:
    """s_min, s_max of P(s) ~ s^-3 with the given mean and polydispersity (std/mean)."""

    def moments(ratio):  # for s_max = 1
        a, b = ratio, 1.0
        norm = 0.5 * (1 / a**2 - 1 / b**2)
        m1 = (1 / a - 1 / b) / norm
        m2 = math.log(b / a) / norm
        return m1, m2

    lo, hi = 0.05, 0.999
    for _ in range(200):  # polydispersity decreases monotonically with the ratio
        mid = 0.5 * (lo + hi)
        m1, m2 = moments(mid)
        if math.sqrt(m2 - m1 * m1) / m1 > polydispersity:
            lo = mid
        else:
            hi = mid
    ratio = 0.5 * (lo + hi)
    m1, _ = moments(ratio)
    s_max = mean / m1
    return ratio * s_max, s_max


@dataclass
class PSS(Model):
    """Polydisperse soft spheres (Ninarello, Berthier, Coslovich, PRX 7, 021039 (2017)).

    v = (s_ij/r)^12 + c0 + c2 (r/s_ij)^2 + c4 (r/s_ij)^4 for r < x_c s_ij, with the
    non-additive s_ij = (s_i + s_j)/2 (1 - nonadditivity |s_i - s_j|).  Species are
    diameters, drawn from P(s) ~ s^-3 by stratified inverse-CDF sampling (so every
    sample has the target mean and polydispersity) and shuffled.
    """

    polydispersity: float = 0.23
    nonadditivity: float = 0.2
    x_c: float = 1.25

    def __post_init__(self):
        self.name = "PSS"
        self.form = PairForm.soft_sphere(self.x_c)
        if not 0.0 < self.polydispersity < 0.5:
            raise TLSFinderError(f"model.polydispersity must be in (0, 0.5), got {self.polydispersity}")
        self.s_min, self.s_max = pss_diameter_bounds(self.polydispersity)

    def sigma_ij(self, si, sj):
        return 0.5 * (si + sj) * (1.0 - self.nonadditivity * np.abs(si - sj))

    def pair_params(self, species, i, j):
        s = np.asarray(species, dtype=float)
        sig = self.sigma_ij(s[i], s[j])
        return np.ones_like(sig), sig

    def max_cutoff(self, species=None) -> float:
        smax = self.s_max if species is None else float(np.max(species))
        return self.x_c * smax

    def make_species(self, rng: np.random.Generator) -> np.ndarray:
        a, b = self.s_min, self.s_max
        u = (np.arange(self.n) + 0.5) / self.n
        # inverse CDF of P(s) ~ s^-3 on [a, b]
        s = 1.0 / np.sqrt(1.0 / a**2 - u * (1.0 / a**2 - 1.0 / b**2))
        rng.shuffle(s)
        return s

    def check_species(self, species, where: str = "species") -> np.ndarray:
        s = np.asarray(species, dtype=float)
        if s.shape != (self.n,) or not np.all(np.isfinite(s)) or s.min() <= 0:
            raise TLSFinderError(f"{where}: PSS needs {self.n} positive finite diameters, got shape {s.shape}")
        return s

    #: Diameter bins that serve as LAMMPS atom types (see :meth:`lammps_commands`).
    LAMMPS_BINS = 8

    def _bin_edges(self) -> np.ndarray:
        """Inner edges of LAMMPS_BINS diameter bins holding equal shares of P(s) ~ s^-3 on [s_min, s_max]."""
        u = np.arange(1, self.LAMMPS_BINS) / self.LAMMPS_BINS
        a, b = self.s_min, self.s_max
        return 1.0 / np.sqrt(1.0 / a**2 - u * (1.0 / a**2 - 1.0 / b**2))

    def lammps_types(self, species) -> tuple[int, np.ndarray]:
        """Type k + 1 for the diameters in bin k, (edge_{k-1}, edge_k]: LAMMPS_BINS types."""
        s = np.asarray(species, dtype=float)
        return self.LAMMPS_BINS, np.searchsorted(self._bin_edges(), s, side="left").astype(np.int64) + 1

    def lammps_commands(self, workdir: Path, species=None) -> list[str]:
        """lepton/sphere with per-atom radii (radius = diameter / 2), exact to rounding.

        Lepton interprets the expression and its symbolic r-derivative operation by operation,
        which is ~97% of the MD time, so two things make it faster, both exact:

        * fewer evaluations: atom types are diameter bins (:meth:`lammps_types`) and each pair of
          bins gets the cutoff of its largest s_ij (at the two upper edges: s_ij grows with both
          diameters while s < 1 / (2 nonadditivity)), so LAMMPS skips most pairs beyond their own
          x_c s_ij (the global cutoff x_c max(s) evaluates ~3x more pairs than interact);
          the expression still cuts at x_c s_ij, so the bins only drop zeros;
        * fewer operations per evaluation: every term is a power of the one subexpression
          q = s_ij / r (u = q^12 + c0 + c2 q^-2 + c4 q^-4, cut where q < 1 / x_c).

        Together 1.65-1.9x the MD throughput of one type with u in r / s_ij (benchmarks/engine.py);
        the bins change no bit of the forces (the same pairs, summed in the same order, plus exact zeros).
        Energies and forces agree with :meth:`energy_forces` to rounding (tests/test_models.py).
        The largest diameter sets the top bin's cutoff: ``species`` must hold it (Engine checks
        that set_species never exceeds it).
        """
        # s_ij in terms of the radii radi, radj that LAMMPS stores: (s_i + s_j)/2 = radi + radj.
        q = f"(((radi+radj)*(1.0-{2.0 * self.nonadditivity!r}*abs(radi-radj)))/r)"
        u = ""
        for sign, name, power in TERMS:
            c = float(getattr(self.form, name))
            if c == 0.0:  # PSS has no x^-6 term
                continue
            factor = "" if c == 1.0 else f"{c!r}*"
            # x^p = q^-p
            term = repr(c) if power == 0 else f"{factor}{q}^{-power}" if power < 0 else f"{factor}{q}^({-power})"
            u += f"{'' if not u and sign == '+' else sign}{term}"
        expr = f'"step({q}-{1.0 / self.x_c!r})*({u})"'
        top = max(self.s_max, float(np.max(species))) if species is not None else self.s_max
        if not 0.0 <= self.nonadditivity < 0.5 / top:
            raise TLSFinderError(f"model.nonadditivity = {self.nonadditivity}: the LAMMPS bin cutoffs need s_ij to grow "
                                 f"with both diameters, i.e. 0 <= nonadditivity < 1 / (2 s_max) = {0.5 / top:.4g}")
        upper = np.append(self._bin_edges(), top)
        cmds = [f"pair_style lepton/sphere {self.x_c * top:.12g}"]
        for a in range(self.LAMMPS_BINS):
            for b in range(a, self.LAMMPS_BINS):
                # a hair above the bound, so rounding of r^2 never drops an interacting pair
                cut = float(self.x_c * self.sigma_ij(upper[a], upper[b])) * (1.0 + 1e-12)
                cmds.append(f"pair_coeff {a + 1} {b + 1} {expr} {cut!r}")
        return cmds + ["pair_modify shift no"]

    def to_config(self) -> dict[str, Any]:
        return {
            "name": "PSS",
            "n": self.n,
            "density": self.density,
            "polydispersity": self.polydispersity,
            "nonadditivity": self.nonadditivity,
            "x_c": self.x_c,
        }


MODELS = {"KA2": KA2, "PSS": PSS}
# N and number density of the papers (KA2: Mocanu et al. (2023); PSS: Khomenko et al. (2021),
# Ciarella et al. (2023)), as the config schema's per-model defaults write them.
MODEL_DEFAULTS = {name: {key: default(f"model.{key}", name) for key in ("n", "density")} for name in MODELS}


def model_from_config(cfg: dict[str, Any]) -> Model:
    """Build a model from the ``model:`` section of the config (already schema-validated)."""
    cfg = dict(cfg)
    name = cfg.pop("name", None)
    if name not in MODELS:
        raise TLSFinderError(f"model.name must be one of {sorted(MODELS)}, got {name!r}")
    cls = MODELS[name]
    cfg = {**MODEL_DEFAULTS[name], **cfg}
    allowed = {f for f in cls.__dataclass_fields__ if cls.__dataclass_fields__[f].init}
    unknown = set(cfg) - allowed
    if unknown:
        raise TLSFinderError(f"model ({name}): unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    if "composition" in cfg:
        cfg["composition"] = tuple(float(c) for c in cfg["composition"])
    if cfg.get("n", 1) <= 0:
        raise TLSFinderError(f"model.n must be positive, got {cfg.get('n')}")
    if cfg.get("density", 1.0) <= 0:
        raise TLSFinderError(f"model.density must be positive, got {cfg.get('density')}")
    model = cls(**cfg)
    model.check_box()
    return model
