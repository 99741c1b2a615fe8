"""TLS-strain coupling: the deformation potential of a double well and the tunneling strength C.

Definitions.  A double well (DW) is two minima A and B of one glass.  Its asymmetry, signed from A
to B, is

* classical:  Delta_V = E_B - E_A (eps);
* quantum, Eq. 13 of Mocanu et al., "Microscopic observation of two-level systems in a metallic
  glass model", J. Chem. Phys. 158, 014501 (2023):  Delta = Delta_V + hbar (w_B - w_A) / 2, with
  w = sqrt(V'') the angular frequency of the 1D potential at each minimum, V'' the eigenvalue of
  the softest Hessian mode the path leaves the minimum along (as in
  :func:`tlsfinder.neb.minima.end_derivatives`), hbar w = w / sqrt(m~) in eps (unit masses).

Swapping A and B flips the sign of Delta and of its derivatives; gamma^2 and C do not change.

Strain.  The strain tensor eps_ij is symmetric (tensor, not engineering, shear: the engineering
shear strain is 2 eps_ij, i != j).  A homogeneous strain deforms the periodic box by F = 1 + eps
(no rotation; :class:`tlsfinder.elastic.Deformed`): each minimum is strained affinely and
re-minimised in the strained box.  Voigt order xx, yy, zz, yz, xz, xy; a shear component
(i, j) is applied as eps_ij = eps_ji = h, so Delta changes by 2 h dDelta/deps_ij.

Derivative and its convention.  ``dDelta[i, j]`` = d Delta / d eps_ij, the symmetric tensor with
delta Delta = sum_ij dDelta_ij eps_ij (no factor 1/2).
The deformation potential of the tunneling model, Anderson, Halperin, Varma, "Anomalous
low-temperature thermal properties of glasses and spin glasses", Philos. Mag. 25, 1 (1972);
Phillips, "Tunneling states in amorphous solids", J. Low Temp. Phys. 7, 351 (1972); Phillips,
"Two-level states in glasses", Rep. Prog. Phys. 50, 1657 (1987), enters the TLS Hamiltonian
H = (Delta sigma_z + Delta_0 sigma_x) / 2 + gamma_ij eps_ij sigma_z, i.e. a strain changes Delta by
2 gamma_ij eps_ij.  ``gamma`` here is that one:

    gamma_ij = (1/2) d Delta / d eps_ij  (eps),

and it is this gamma that enters the tunneling strength C measured in experiments.

Classical route, exactly.  At a minimum the energy's strain derivative is the virial stress,
dE/deps_ij = V sigma_ij (the relaxation does not contribute to first order), so
d Delta_V / d eps_ij = V (sigma^B_ij - sigma^A_ij): ``dDelta_V_stress``.  The finite differences
(``dDelta_V``) check it and are what the quantum term needs anyway.

Finite differences.  For each Voigt component, strains +-h1 and +-h2 (default 2.5e-5, 5e-5: in KA2
glasses of N = 300, 4 of 9 double wells had a minimum that vanished or changed identity at some
strain of 2e-4, none at 5e-5, while the energies resolve 2.5e-5 to a relative 1e-5); central
differences D(h) = (X(h) - X(-h)) / (2h) and the Richardson estimate
(r^2 D(h1) - D(h2)) / (r^2 - 1), r = h2 / h1; ``*_err`` = |D(h1) - Richardson|.  For w the strained
value is the Rayleigh quotient e0.H(eps).e0 of the unstrained mode e0 (its derivative at eps = 0 is
the eigenvalue's, by Hellmann-Feynman, and it follows the mode through crossings).

Identity.  Each strained minimum must be the unstrained one: the non-affine displacement
u = F^-1 x - x0 (reference coordinates, mean removed) has no particle beyond ``same_min_tol`` and is
odd and linear in the strain (:func:`tlsfinder.elastic.identity_problem`).  A Voigt component where
either minimum fails is reported in ``problems`` and its entries are NaN: never differentiated.

Orientational averages (isotropic medium).  A longitudinal wave along n strains eps = u n n, a
transverse one eps = u (n m + m n) / 2 (m perpendicular to n), so gamma_l = n.gamma.n and
gamma_t = n.gamma.m.  Averaged over n uniform on the sphere and m uniform in the plane normal to n:

    <gamma_l^2> = ((tr gamma)^2 + 2 tr(gamma^2)) / 15,   <gamma_t^2> = (3 tr(gamma^2) - (tr gamma)^2) / 30.

Tunneling strength.  C_l = P <gamma_l^2> / (rho c_l^2), C_t = P <gamma_t^2> / (rho c_t^2) with
rho c_t^2 = G, rho c_l^2 = K + 4G/3 (:mod:`tlsfinder.elastic`) and P the TLS density per unit
energy and volume (n0 of Mocanu et al. (2023), eps^-1 sigma^-3).  C is dimensionless (the same in
reduced units and SI); :func:`tunneling_strength` also gives the SI ingredients per unit preset.
Glasses measured at low temperature have C ~ 1e-4 to 1e-3 (Pohl, Liu, Thompson, "Low-temperature
thermal conductivity and acoustic attenuation in amorphous solids", Rev. Mod. Phys. 74, 991 (2002)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import TLSFinderError
from .elastic import Deformed, PinnedSolver, _newton, check_minimum, identity_problem, relax
from .geometry import displacements
from .units import UnitPreset

#: Voigt order of the six strain components.
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
VOIGT_NAMES = ("xx", "yy", "zz", "yz", "xz", "xy")
EV_J = 1.602176634e-19


def voigt_direction(c: int) -> np.ndarray:
    """Strain tensor per unit amplitude of Voigt component ``c``: e_i e_i^T, or e_i e_j^T + e_j e_i^T
    (tensor shear eps_ij = eps_ji = 1)."""
    i, j = VOIGT[c]
    e = np.zeros((3, 3))
    e[i, j] = 1.0
    e[j, i] = 1.0
    return e


def _tensor(voigt_slopes) -> np.ndarray:
    """Symmetric tensor d X / d eps_ij from the slopes dX/dh of the six Voigt components (a shear
    slope is 2 dX/deps_ij)."""
    t = np.zeros((3, 3))
    for c, (i, j) in enumerate(VOIGT):
        v = voigt_slopes[c] if i == j else 0.5 * voigt_slopes[c]
        t[i, j] = t[j, i] = v
    return t


def richardson(d1, d2, ratio: float):
    """Extrapolation to h -> 0 of central differences d1 (amplitude h) and d2 (amplitude ratio * h),
    whose error is even in h."""
    r2 = ratio * ratio
    return (r2 * np.asarray(d1) - np.asarray(d2)) / (r2 - 1.0)


@dataclass
class CouplingResult:
    """Strain derivatives of the asymmetry of one double well (module docstring).

    Tensors (3, 3) are d/d eps_ij (tensor strain); ``*_h`` hold the central differences at each
    amplitude (n_amp, 3, 3), ``*_err`` |first amplitude - Richardson|.  ``dw_A``, ``dw_B``: dw/deps
    (1/tau per unit strain) of the tracked soft mode at each minimum, None without the quantum part.
    """

    Delta_V: float  # E_B - E_A (eps)
    dDelta_V: np.ndarray  # Richardson (eps)
    dDelta_V_h: np.ndarray = field(repr=False)
    dDelta_V_err: np.ndarray = field(repr=False)
    dDelta_V_stress: np.ndarray = field(repr=False)  # V (sigma_B - sigma_A), exact
    amplitudes: tuple = ()
    w_A: float = math.nan  # 1/tau
    w_B: float = math.nan
    dw_A: np.ndarray | None = field(default=None, repr=False)
    dw_B: np.ndarray | None = field(default=None, repr=False)
    dw_A_err: np.ndarray | None = field(default=None, repr=False)
    dw_B_err: np.ndarray | None = field(default=None, repr=False)
    mode_overlap: tuple = (math.nan, math.nan)  # |e . tangent| of the mode chosen at A, B
    identity_ok: np.ndarray = field(default_factory=lambda: np.ones(6, dtype=bool))
    max_nonaffine: np.ndarray = field(default=None, repr=False)  # (6, 2) largest |u| (sigma), A and B
    amplitudes_used: np.ndarray = field(default=None, repr=False)  # (6, 2) h1, h2 of each component (NaN: failed)
    problems: list = field(default_factory=list)

    @property
    def quantum(self) -> bool:
        return self.dw_A is not None

    def dDelta(self, preset: UnitPreset | float | None = None) -> np.ndarray:
        """d Delta / d eps_ij (eps): classical without ``preset``, else Eq. 13 with the preset's m~
        (or a number m~)."""
        if preset is None:
            return self.dDelta_V
        if not self.quantum:
            raise TLSFinderError("coupling: the quantum Delta needs the soft modes (quantum=True); "
                                 f"not available: {'; '.join(self.problems) or 'not computed'}")
        m_tilde = preset.m_tilde if isinstance(preset, UnitPreset) else float(preset)
        return self.dDelta_V + (self.dw_B - self.dw_A) / (2.0 * math.sqrt(m_tilde))

    def gamma(self, preset: UnitPreset | float | None = None) -> np.ndarray:
        """The deformation potential gamma_ij = (1/2) d Delta / d eps_ij (eps)."""
        return 0.5 * self.dDelta(preset)

    def row(self, presets=()) -> dict:
        """Flat catalogue columns: gamma_<ij> (classical), gamma_l, gamma_t and per preset
        gamma_l_<preset>, gamma_t_<preset> (Eq. 13), identity_ok, n_problems."""
        out = {"Delta_V": self.Delta_V}
        g = self.gamma()
        for c, (i, j) in enumerate(VOIGT):
            out[f"gamma_{VOIGT_NAMES[c]}"] = float(g[i, j])
        out["gamma_l"], out["gamma_t"] = orientational_averages(g)
        ok = np.isfinite(self.dDelta_V)
        out["gamma_rel_err"] = (float(np.abs(self.dDelta_V_err[ok]).max() / max(np.abs(self.dDelta_V[ok]).max(), 1e-300))
                                if ok.any() else math.nan)
        for p in presets:
            if self.quantum:
                out[f"gamma_l_{p.name}"], out[f"gamma_t_{p.name}"] = orientational_averages(self.gamma(p))
            else:
                out[f"gamma_l_{p.name}"] = out[f"gamma_t_{p.name}"] = math.nan
        out["identity_ok"] = bool(self.identity_ok.all())
        out["n_problems"] = len(self.problems)
        return out


def _pick_mode(w, v, tangent, min_overlap):
    """The softest mode with |e . t| >= min_overlap (end_derivatives' rule), or None."""
    t = np.asarray(tangent, dtype=float).ravel()
    t = t / np.linalg.norm(t)
    over = np.abs(v.T @ t)
    ok = np.flatnonzero(over >= min_overlap)
    if not len(ok):
        return None
    m = int(ok[0])
    return float(w[m]), v[:, m], float(over[m])


def _strained_component(model, box, species, ends, c, amps, quantum, ftol, same_min_tol, identity_tol):
    """Both minima re-minimised at strains +-amps of Voigt component ``c``: ({"E_A": (2, 2), ...,
    "max_u": (2,)}, None) or (partial, reason) when a minimum changes identity."""
    direction = voigt_direction(c)
    got = {"max_u": np.full(2, np.nan)}
    for side, (name, e) in enumerate(ends.items()):
        got[f"E_{name}"] = np.full((2, 2), np.nan)
        got[f"lam_{name}"] = np.full((2, 2), np.nan)
        u = {}
        for ia, amp in enumerate(amps):
            for isg, sign in enumerate((1.0, -1.0)):
                d = Deformed(model, box, np.eye(3) + sign * amp * direction)
                # Newton only (the unstrained factorisation first, then fresh Hessians): a minimiser
                # with line searches could carry the structure into a neighbouring basin unnoticed.
                x, en, fm = _newton(d, e["x0"] @ d.F.T, species, ftol, 12, e["solver"])
                if not fm <= ftol:
                    x, en, fm = _newton(d, x, species, ftol, 20)
                if not fm <= 100 * ftol:
                    return got, (f"minimum {name} at strain {sign * amp:g} not re-minimised by Newton steps "
                                 f"(max |F| = {fm:.3g}): it may vanish under this strain")
                uu = x @ d.Finv.T - e["x0"]
                u[sign * amp] = uu - uu.mean(axis=0)
                got[f"E_{name}"][ia, isg] = en
                if quantum:
                    m = e["mode"]
                    got[f"lam_{name}"][ia, isg] = float(m @ (d.hessian(x, None, species) @ m))
        umax = max(float(np.sqrt((v * v).sum(axis=1)).max()) for v in u.values())
        got["max_u"][side] = umax
        if umax >= same_min_tol:
            return got, f"minimum {name}: a particle moved by {umax:.3g} sigma non-affinely (same_min_tol {same_min_tol})"
        problem = identity_problem(u, identity_tol)
        if problem is not None:
            return got, f"minimum {name}: {problem}"
    return got, None


def _soft_modes(model, x, box, species, k):
    """The ``k`` lowest eigenpairs of the Hessian, translations removed (dense below 3N = 3000)."""
    n = 3 * len(species)
    if n > 3000:
        from .neb.minima import soft_modes
        return soft_modes(model, x, box, species, k=k)
    h = model.hessian(x, box, species).toarray()
    t = np.zeros((n, 3))
    for a in range(3):
        t[a::3, a] = 1.0 / math.sqrt(n // 3)
    lift = 2.0 * float(np.abs(h).sum(axis=1).max()) + 1.0  # translations above the spectrum
    w, v = np.linalg.eigh(h + lift * (t @ t.T))
    return w[:k], v[:, :k]


def strain_coupling(model, box, species, pos_a, pos_b, amplitudes=(2.5e-5, 5e-5), quantum: bool = True,
                    tangent_a=None, tangent_b=None, ftol_input: float = 1e-6, ftol: float = 1e-10,
                    same_min_tol: float = 0.05, identity_tol: float = 0.2, n_modes: int = 6,
                    min_overlap: float = 0.2, shrink: float = 4.0, shrink_tries: int = 2,
                    strict: bool = False) -> CouplingResult:
    """Strain derivatives of the asymmetry of the double well (``pos_a``, ``pos_b``) (module docstring).

    Both structures must be minima (max |F| <= ``ftol_input``, else TLSFinderError); they are polished
    to ``ftol`` and re-minimised to ``ftol`` (at most 100 ``ftol`` accepted) at each strain.
    ``amplitudes``: two strain amplitudes h1 < h2.  ``quantum``: also the soft-mode frequencies of
    Eq. 13; the mode at A (B) is the softest of the ``n_modes`` lowest with overlap at least
    ``min_overlap`` with ``tangent_a`` (``tangent_b``), the directions in which the path leaves each
    minimum (default: the straight line to the other minimum; pass the band's end segments when known).
    A Voigt component where a minimum changes identity (or cannot be re-minimised: it may vanish
    under the strain) is recorded in ``problems`` and tried again with both amplitudes divided by
    ``shrink``, at most ``shrink_tries`` times; if it still fails its entries are NaN
    (TLSFinderError instead if ``strict``).  ``amplitudes_used`` says which strains each component used.
    """
    species = np.asarray(species)
    box = np.asarray(box, dtype=float)
    h = tuple(float(a) for a in amplitudes)
    if len(h) != 2 or not (0 < h[0] < h[1] <= 0.05):
        raise TLSFinderError(f"coupling: amplitudes must be two strains 0 < h1 < h2 <= 0.05, got {list(amplitudes)}")
    ends = {}
    for name, pos in (("A", pos_a), ("B", pos_b)):
        pos = np.asarray(pos, dtype=float)
        if pos.shape != (len(species), 3):
            raise TLSFinderError(f"coupling: minimum {name} has shape {pos.shape}, expected ({len(species)}, 3)")
        check_minimum(model, pos, box, species, ftol_input, what=f"double-well minimum {name}")
        x0, e0, fm = relax(Deformed(model, box), pos, species, ftol=ftol)
        if not fm <= 100 * ftol:
            raise TLSFinderError(f"coupling: minimum {name} polished only to max |F| = {fm:.3g} (ftol {ftol:g})")
        moved = displacements(pos, x0, box)
        if np.sqrt(((moved - moved.mean(axis=0)) ** 2).sum(axis=1)).max() >= same_min_tol:
            raise TLSFinderError(f"coupling: polishing minimum {name} to max |F| <= {ftol:g} moved it by "
                                 f"{same_min_tol} sigma or more: not a minimum at the input tolerance")
        ends[name] = {"x0": x0, "e0": e0, "stress": Deformed(model, box).stress(x0, species),
                      "solver": PinnedSolver(model.hessian(x0, box, species))}
    vol = float(np.prod(box))
    d_ab = displacements(ends["A"]["x0"], ends["B"]["x0"], box)
    if np.sqrt((d_ab**2).sum(axis=1)).max() < same_min_tol:
        raise TLSFinderError(f"coupling: minima A and B are the same minimum (no particle moves by {same_min_tol} sigma)")
    problems = []
    if quantum:
        tangents = {"A": d_ab if tangent_a is None else tangent_a, "B": -d_ab if tangent_b is None else tangent_b}
        for name, e in ends.items():
            w, v = _soft_modes(model, e["x0"], box, species, n_modes)
            pick = _pick_mode(w, v, tangents[name], min_overlap)
            if pick is None or pick[0] <= 0:
                problems.append(f"minimum {name}: no soft mode among the {n_modes} lowest has overlap >= "
                                f"{min_overlap} with the path (or it is not positive); no quantum Delta")
                quantum = False
                break
            e["lam0"], e["mode"], e["overlap"] = pick
    # X(strain) for X = E_A, E_B (and lambda_A, lambda_B): per component, amplitude and sign.
    values = {k: np.full((6, 2, 2), np.nan) for k in ("E_A", "E_B", "lam_A", "lam_B")}
    ok = np.zeros(6, dtype=bool)
    max_u = np.full((6, 2), np.nan)
    used = np.full((6, 2), np.nan)
    for c in range(6):
        scale = 1.0
        for attempt in range(shrink_tries + 1):
            amps = (h[0] * scale, h[1] * scale)
            got, why = _strained_component(model, box, species, ends, c, amps, quantum, ftol, same_min_tol,
                                           identity_tol)
            if why is None:
                break
            problems.append(f"{VOIGT_NAMES[c]} strains up to {amps[1]:g}: {why}"
                            + ("; retried with smaller strains" if attempt < shrink_tries else ""))
            scale /= shrink
        max_u[c] = got.pop("max_u")
        if why is None:
            ok[c] = True
            used[c] = amps
            for k, v in got.items():
                values[k][c] = v
    if strict and not ok.all():
        raise TLSFinderError("coupling: " + "; ".join(problems) + "; use smaller strains")

    def derivative(x):  # x (6, 2, 2) -> (Richardson tensor, per-amplitude tensors, error tensor)
        slopes = (x[:, :, 0] - x[:, :, 1]) / (2.0 * used)  # (6, n_amp); NaN where not ok
        rich = richardson(slopes[:, 0], slopes[:, 1], h[1] / h[0])
        per = np.array([_tensor(slopes[:, k]) for k in range(2)])
        r = _tensor(rich)
        return r, per, np.abs(per[0] - r)

    delta = values["E_B"] - values["E_A"]
    dv, dv_h, dv_err = derivative(delta)
    res = CouplingResult(Delta_V=ends["B"]["e0"] - ends["A"]["e0"], dDelta_V=dv, dDelta_V_h=dv_h, dDelta_V_err=dv_err,
                         dDelta_V_stress=vol * (ends["B"]["stress"] - ends["A"]["stress"]), amplitudes=h,
                         identity_ok=ok, max_nonaffine=max_u, amplitudes_used=used, problems=problems)
    if quantum:
        for name in ("A", "B"):
            lam0 = ends[name]["lam0"]
            w = np.sqrt(np.clip(values[f"lam_{name}"], 0.0, None))
            r, _, err = derivative(w)
            setattr(res, f"w_{name}", math.sqrt(lam0))
            setattr(res, f"dw_{name}", r)
            setattr(res, f"dw_{name}_err", err)
        res.mode_overlap = (ends["A"]["overlap"], ends["B"]["overlap"])
    return res


# --------------------------------------------------------------------------
# Orientational averages and tunneling strength
# --------------------------------------------------------------------------


def _sym(gamma) -> np.ndarray:
    g = np.asarray(gamma, dtype=float)
    if g.shape != (3, 3) or not np.all(np.isfinite(g)):
        raise TLSFinderError(f"coupling: gamma must be a finite 3x3 tensor, got shape {g.shape}")
    return 0.5 * (g + g.T)


def orientational_averages(gamma) -> tuple[float, float]:
    """(gamma_l, gamma_t): sqrt<(n.g.n)^2> and sqrt<(n.g.m)^2> over directions n and m perpendicular
    to n (module docstring), from the invariants tr g and tr g^2.  NaN if ``gamma`` has NaN entries."""
    g = np.asarray(gamma, dtype=float)
    if g.shape == (3, 3) and not np.all(np.isfinite(g)):
        return math.nan, math.nan
    g = _sym(g)
    t1, t2 = float(np.trace(g)), float(np.sum(g * g))
    return math.sqrt((t1 * t1 + 2.0 * t2) / 15.0), math.sqrt(max(3.0 * t2 - t1 * t1, 0.0) / 30.0)


#: Tunneling strengths C measured in glasses (acoustic attenuation, sound velocity, thermal
#: conductivity below 1 K): about 1e-4 to 1e-3 across many glasses (Pohl, Liu, Thompson, "Low-
#: temperature thermal conductivity and acoustic attenuation in amorphous solids: A complementary
#: approach", Rev. Mod. Phys. 74, 991 (2002)); C ~ 3e-4 is the often quoted universal value
#: (Carruzzo, Yu, "Why phonon scattering in glasses is universally small at low temperatures",
#: arXiv:1909.09258).  The report sets C_l, C_t beside this range.
EXPERIMENT_C_RANGE = (1e-4, 1e-3)


def tunneling_strength(gamma_l, gamma_t, P: float, G: float, K: float, number_density: float, mass: float = 1.0,
                       preset: UnitPreset | None = None) -> dict:
    """C_l = P <gamma_l^2> / (rho c_l^2), C_t = P <gamma_t^2> / (rho c_t^2) (dimensionless).

    ``gamma_l``, ``gamma_t``: one value or one per TLS (eps; their squares are averaged);
    ``P``: TLS density per unit energy and volume (eps^-1 sigma^-3, the n0 of Mocanu et al. (2023));
    ``G``, ``K`` (eps/sigma^3), ``number_density`` (sigma^-3), ``mass`` (m) give rho = mass * density
    and rho c_t^2 = G, rho c_l^2 = K + 4G/3.  With a ``preset`` that has SI scales, also the
    ingredients in SI (gamma in eV, P in J^-1 m^-3, rho in kg/m^3, c in m/s) and C recomputed from them.
    """
    gl2 = float(np.mean(np.square(np.asarray(gamma_l, dtype=float))))
    gt2 = float(np.mean(np.square(np.asarray(gamma_t, dtype=float))))
    if not (P >= 0 and G > 0 and K + 4.0 * G / 3.0 > 0 and number_density > 0 and mass > 0):
        raise TLSFinderError(f"tunneling strength needs P >= 0, G > 0, K + 4G/3 > 0, density > 0, mass > 0; got "
                             f"P = {P}, G = {G}, K = {K}, density = {number_density}, mass = {mass}")
    rho = mass * number_density
    c_t, c_l = math.sqrt(G / rho), math.sqrt((K + 4.0 * G / 3.0) / rho)
    out = {"gamma_l_rms": math.sqrt(gl2), "gamma_t_rms": math.sqrt(gt2), "P": P, "rho": rho, "c_l": c_l, "c_t": c_t,
           "C_l": P * gl2 / (rho * c_l**2), "C_t": P * gt2 / (rho * c_t**2)}
    if preset is not None and preset.has_si:
        eps_j, sig = preset.eps_J, preset.sigma_m
        vel = sig / preset.tau_s
        si = {"gamma_l_rms_eV": out["gamma_l_rms"] * eps_j / EV_J, "gamma_t_rms_eV": out["gamma_t_rms"] * eps_j / EV_J,
              "P_per_J_m3": P / (eps_j * sig**3), "rho_kg_m3": rho * preset.mass_kg / sig**3,
              "c_l_m_s": c_l * vel, "c_t_m_s": c_t * vel}
        for a in ("l", "t"):
            g_j = si[f"gamma_{a}_rms_eV"] * EV_J
            si[f"C_{a}_si"] = si["P_per_J_m3"] * g_j**2 / (si["rho_kg_m3"] * si[f"c_{a}_m_s"] ** 2)
        out.update({f"{k}_{preset.name}": v for k, v in si.items()})
    return out
