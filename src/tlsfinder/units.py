"""Physical unit presets: from reduced units to a material, and the TLS threshold.

Everything in tlsfinder is computed in reduced units (energy eps, length sigma,
mass m, k_B = 1).  Quantum mechanics enters through one dimensionless number,
the effective mass of Mocanu et al. (2023), "Microscopic observation of TLS in a
metallic glass model", Eq. 11,

    m~ = m eps sigma^2 / hbar^2,

so that with hbar = 1 the 1D Schroedinger equation along a path of length d
(sigma) reads  -1/(2 m~ d^2) psi''(xi) + V(xi) psi = e psi  (energies in eps),
and hbar omega = omega_red / sqrt(m~) with omega_red = sqrt(V'') the classical
angular frequency in units of 1/tau, tau = sigma sqrt(m/eps).

The quantum temperature (Mocanu et al. (2023) Eq. 9), T_Q = 2 pi hbar^2 / (m sigma^2 k_B),
is in reduced units  k_B T_Q / eps = 2 pi / m~.  A double well is a TLS in a
preset when its splitting E < k_B T_Q (the preset's ``kT_Q``, in eps).

Presets (``PRESETS[model][name]``):

===== ====== ============ ========== ============= ====== ========= =====================
model name   sigma (m)    eps/k_B (K) m (kg)        m~     kT_Q (eps) source
===== ====== ============ ========== ============= ====== ========= =====================
KA2   Ar     3.405e-10    125.2      6.634e-26     1200   0.005     [M] III.C, IV.B
KA2   NiP    2.21e-10     934        9.266e-26     5250   0.0012    [M] III.C, IV.B
PSS   Ar     --           --         --            4189*  0.0015    [K] Sec. II
PSS   NiP    --           --         --            31416* 0.0002    [K] Sec. II
===== ====== ============ ========== ============= ====== ========= =====================

[M] Mocanu et al. (2023); [K] Khomenko, Reichman, Zamponi, "Relationship between two-level
systems and quasilocalized normal modes in glasses", Phys. Rev. Materials 5, 055602 (2021).

The KA2 values of m~ and kT_Q are the rounded numbers Mocanu et al. (2023) use (the exact
values from its SI constants are m~ = 1195.6 and 5247.5, 2 pi / m~ = 0.00526
and 0.00120; ``UnitPreset.m_tilde_si`` and ``kT_Q_eq9`` return them).
(*) Khomenko et al. (2021) give only the PSS thresholds E < 0.0015 (argon) and E < 0.0002
(NiP); they state neither m~ nor the SI scales of the PSS mapping.  We take
m~ = 2 pi / kT_Q (Eq. 9 in reduced units); override with a custom preset
(:func:`custom_preset`) if the original mapping (Khomenko et al., PRL 124,
225901 (2020)) is known to differ.  The published ML data (Ciarella et al. (2023),
"Finding defects in glasses through machine learning", TLS_ML_exploration) use
the threshold 0.00151 for PSS argon.

Functions convert the reduced results to SI: :func:`n0_to_si` (TLS density
n0 in eps^-1 sigma^-3 to J^-1 m^-3), :func:`energy_to_kelvin`,
:func:`rate_to_per_second` (a rate in eps/hbar to 1/s), :func:`tau_seconds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import TLSFinderError

# CODATA 2018 exact / recommended values (SI).
K_B = 1.380649e-23  # J/K (exact)
HBAR = 1.054571817e-34  # J s (exact)


@dataclass(frozen=True)
class UnitPreset:
    """A mapping of reduced units to a material.

    ``m_tilde`` (dimensionless) and ``kT_Q`` (eps) are the numbers used in the
    computation; ``sigma_m`` (m), ``eps_K`` (eps/k_B in K) and ``mass_kg`` (kg)
    are the SI scales (None when the source does not give them).
    """

    name: str
    model: str
    m_tilde: float
    kT_Q: float
    sigma_m: float | None = None
    eps_K: float | None = None
    mass_kg: float | None = None
    source: str = ""

    def __post_init__(self):
        if not (self.m_tilde > 0 and math.isfinite(self.m_tilde)):
            raise TLSFinderError(f"unit preset {self.name!r}: m_tilde must be positive, got {self.m_tilde}")
        if not (self.kT_Q > 0 and math.isfinite(self.kT_Q)):
            raise TLSFinderError(f"unit preset {self.name!r}: kT_Q must be positive, got {self.kT_Q}")

    # -- SI scales ----------------------------------------------------------
    @property
    def has_si(self) -> bool:
        return None not in (self.sigma_m, self.eps_K, self.mass_kg)

    def _need_si(self, what: str):
        if not self.has_si:
            raise TLSFinderError(
                f"unit preset {self.model}/{self.name} has no SI scales (sigma, eps, mass); cannot compute {what}"
            )

    @property
    def eps_J(self) -> float:
        """The energy unit eps in joules."""
        self._need_si("eps in J")
        return self.eps_K * K_B

    @property
    def m_tilde_si(self) -> float:
        """m eps sigma^2 / hbar^2 from the SI scales (Mocanu et al. (2023) Eq. 11)."""
        self._need_si("m~")
        return self.mass_kg * self.eps_J * self.sigma_m**2 / HBAR**2

    @property
    def kT_Q_eq9(self) -> float:
        """2 pi / m~: k_B T_Q / eps from Mocanu et al. (2023) Eq. 9 with this preset's ``m_tilde``."""
        return 2.0 * math.pi / self.m_tilde

    @property
    def T_Q_K(self) -> float:
        """T_Q in kelvin: kT_Q (eps) times eps/k_B."""
        self._need_si("T_Q in K")
        return self.kT_Q * self.eps_K

    @property
    def tau_s(self) -> float:
        """The LJ time unit sigma sqrt(m / eps) in seconds."""
        self._need_si("tau")
        return self.sigma_m * math.sqrt(self.mass_kg / self.eps_J)

    def is_tls(self, splitting):
        """E < k_B T_Q (E in eps; works elementwise on arrays)."""
        return splitting < self.kT_Q


PRESETS: dict[str, dict[str, UnitPreset]] = {
    "KA2": {
        "Ar": UnitPreset(
            "Ar", "KA2", m_tilde=1200.0, kT_Q=0.005, sigma_m=3.405e-10, eps_K=125.2, mass_kg=6.634e-26,
            source="Mocanu et al. (2023) Sec. III.C (m~, k_B T_Q) and IV.B (sigma, eps, m)",
        ),
        "NiP": UnitPreset(
            "NiP", "KA2", m_tilde=5250.0, kT_Q=0.0012, sigma_m=2.21e-10, eps_K=934.0, mass_kg=9.266e-26,
            source="Mocanu et al. (2023) Sec. III.C (m~, k_B T_Q) and IV.B (sigma, eps, m)",
        ),
    },
    "PSS": {
        "Ar": UnitPreset(
            "Ar", "PSS", m_tilde=2.0 * math.pi / 0.0015, kT_Q=0.0015,
            source="Khomenko et al. (2021) Sec. II (threshold E < 0.0015); "
                   "m~ = 2 pi / kT_Q by Eq. 9 (not stated there)",
        ),
        "NiP": UnitPreset(
            "NiP", "PSS", m_tilde=2.0 * math.pi / 0.0002, kT_Q=0.0002,
            source="Khomenko et al. (2021) Sec. II (threshold E < 0.0002); "
                   "m~ = 2 pi / kT_Q by Eq. 9 (not stated there)",
        ),
    },
}


def get_preset(model: str, name: str) -> UnitPreset:
    """The preset ``name`` ('Ar', 'NiP') of ``model`` ('KA2', 'PSS')."""
    if model not in PRESETS:
        raise TLSFinderError(f"units: no presets for model {model!r}; known models: {sorted(PRESETS)}")
    if name not in PRESETS[model]:
        raise TLSFinderError(f"units: model {model} has no preset {name!r}; known: {sorted(PRESETS[model])}")
    return PRESETS[model][name]


def custom_preset(name: str, model: str = "custom", *, m_tilde: float | None = None, kT_Q: float | None = None,
                  sigma_m: float | None = None, eps_K: float | None = None, mass_kg: float | None = None) -> UnitPreset:
    """A preset from SI scales (m~ and kT_Q = 2 pi / m~ derived) or from m~ / kT_Q directly.

    Missing m~ is computed from sigma, eps, m (Eq. 11); missing kT_Q is 2 pi / m~ (Eq. 9).
    """
    if m_tilde is None:
        if None in (sigma_m, eps_K, mass_kg):
            if kT_Q is None:
                raise TLSFinderError(f"unit preset {name!r}: give m_tilde, kT_Q, or all of sigma_m, eps_K, mass_kg")
            m_tilde = 2.0 * math.pi / kT_Q
        else:
            m_tilde = mass_kg * eps_K * K_B * sigma_m**2 / HBAR**2
    if kT_Q is None:
        kT_Q = 2.0 * math.pi / m_tilde
    return UnitPreset(name, model, float(m_tilde), float(kT_Q), sigma_m, eps_K, mass_kg, source="custom")


def presets_from_config(model: str, entries) -> list[UnitPreset]:
    """Presets named in the config: a list of names ('Ar') or mappings (custom presets).

    A mapping needs ``name`` and any of m_tilde, kT_Q, sigma_m, eps_K, mass_kg (see
    :func:`custom_preset`).
    """
    out = []
    for k, e in enumerate(entries):
        if isinstance(e, str):
            out.append(get_preset(model, e))
        elif isinstance(e, dict) and "name" in e:
            extra = set(e) - {"name", "m_tilde", "kT_Q", "sigma_m", "eps_K", "mass_kg"}
            if extra:
                raise TLSFinderError(f"units.presets[{k}]: unknown key(s) {sorted(extra)}")
            out.append(custom_preset(model=model, **e))
        else:
            raise TLSFinderError(f"units.presets[{k}]: expected a preset name or a mapping with 'name', got {e!r}")
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise TLSFinderError(f"units.presets: duplicate preset names {names}")
    return out


# --------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------


def n0_to_si(n0, preset: UnitPreset):
    """TLS density n0 from eps^-1 sigma^-3 to J^-1 m^-3: n0 / (eps sigma^3)."""
    return n0 / (preset.eps_J * preset.sigma_m**3)


def energy_to_kelvin(e, preset: UnitPreset):
    """An energy in eps to kelvin (E / k_B)."""
    preset._need_si("energies in K")
    return e * preset.eps_K


def rate_to_per_second(rate, preset: UnitPreset):
    """A rate in eps / hbar (as Gamma from :mod:`tlsfinder.splitting`) to 1/s.

    With hbar = 1 and mass m~, the time unit is hbar/eps = tau / sqrt(m~).
    """
    return rate * preset.eps_J / HBAR
