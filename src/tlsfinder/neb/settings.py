"""NEB settings (config section ``neb``) and what a full config gives the NEB step."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import TLSFinderError
from ..schema import default, defaults, enum
from ..units import presets_from_config

#: ASE NEB methods offered.  ASE's "string" method re-spaces the images after every
#: step; with FIRE (and a climbing image) it did not converge on KA2 test pairs
#: (ASE 3.29: fmax stuck near 0.5 after 3000-5000 steps, 100x slower per step),
#: so it is not offered; "aseneb" (ASE's old default) gives poor bands.
NEB_METHODS = ("improvedtangent",)
END_CURVATURES = enum("neb.end_curvature")

_DEFAULTS = defaults("neb")  # the schema holds every default; the fields below only read them


@dataclass
class NEBSettings:
    """NEB parameters (config section ``neb``).  The defaults, from the config schema, follow
    Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass model", Sec. II.D:
    64 images, springs 0.125 eps/sigma^2, FIRE and a climbing image.

    n_images: images including both endpoints; spring: eps/sigma^2; fmax: NEB
    force tolerance (eps/sigma); max_steps: FIRE iterations; fire_dt,
    fire_dtmax (tau) and fire_maxstep (sigma, largest move of any single atom
    per step); endpoint_ftol: max |F| component of the re-minimised endpoints
    (eps/sigma); intermediate_tol: an interior image is an intermediate minimum
    if it lies this much (eps) below both neighbours; same_min_tol: two minima
    are the same when no particle differs by more than this (sigma);
    split_depth: how many times a path may be split into elementary wells;
    check_every: every so many FIRE steps the band is checked for intermediate
    minima (a band that has found one is split without waiting for it to
    converge); skin: Verlet skin of the pair list (sigma); retries: further runs of
    max_steps for a band that has not converged, each from the last band with FIRE
    restarted (:func:`~tlsfinder.neb.band.relax_band`).

    Refinement (:mod:`~tlsfinder.neb.pair`, step 5): refine switches it on for
    double wells with E < refine_kT_factor k_B T_Q of some preset; the band is
    relaxed again to min(refine_fmax, fmax) (eps/sigma) and then with the image
    intervals halved (spline midpoints added), until E, Delta_0 (those presets)
    and d_path change by less than refine_rtol between the last two bands or the
    next band would exceed refine_max_images images.

    end_curvature: where the 1D potential's curvature and third derivative at the two minima
    come from (Eq. 13's omega_1, omega_2 and the continuation beyond the minima): ``hessian``
    (:func:`~tlsfinder.neb.minima.end_derivatives`) or ``spline`` (the spline's end pieces).
    """

    n_images: int = _DEFAULTS["n_images"]
    spring: float = _DEFAULTS["spring"]
    method: str = _DEFAULTS["method"]
    climb: bool = _DEFAULTS["climb"]
    fmax: float = _DEFAULTS["fmax"]
    max_steps: int = _DEFAULTS["max_steps"]
    fire_dt: float = _DEFAULTS["fire_dt"]
    fire_dtmax: float = _DEFAULTS["fire_dtmax"]
    fire_maxstep: float = _DEFAULTS["fire_maxstep"]
    endpoint_ftol: float = _DEFAULTS["endpoint_ftol"]
    intermediate_tol: float = _DEFAULTS["intermediate_tol"]
    same_min_tol: float = _DEFAULTS["same_min_tol"]
    split_depth: int = _DEFAULTS["split_depth"]
    check_every: int = _DEFAULTS["check_every"]
    skin: float = _DEFAULTS["skin"]
    retries: int = _DEFAULTS["retries"]
    refine: bool = _DEFAULTS["refine"]
    refine_fmax: float = _DEFAULTS["refine_fmax"]
    refine_kT_factor: float = _DEFAULTS["refine_kT_factor"]
    refine_rtol: float = _DEFAULTS["refine_rtol"]
    refine_max_images: int = _DEFAULTS["refine_max_images"]
    end_curvature: str = _DEFAULTS["end_curvature"]

    def __post_init__(self):
        if self.end_curvature not in END_CURVATURES:
            raise TLSFinderError(f"neb.end_curvature must be one of {END_CURVATURES}, got {self.end_curvature!r}")
        if self.method not in NEB_METHODS:
            raise TLSFinderError(f"neb.method must be one of {NEB_METHODS}, got {self.method!r}")
        if int(self.n_images) < 3:
            raise TLSFinderError(f"neb.n_images must be >= 3, got {self.n_images}")
        for key in ("spring", "fmax", "fire_dt", "fire_dtmax", "fire_maxstep", "endpoint_ftol", "same_min_tol"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise TLSFinderError(f"neb.{key} must be a positive number, got {v!r}")
        if int(self.max_steps) < 1:
            raise TLSFinderError(f"neb.max_steps must be >= 1, got {self.max_steps}")
        for key in ("refine_fmax", "refine_rtol"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
                raise TLSFinderError(f"neb.{key} must be a positive number, got {v!r}")
        if not (isinstance(self.refine_kT_factor, (int, float)) and self.refine_kT_factor >= 0):
            raise TLSFinderError(f"neb.refine_kT_factor must be >= 0, got {self.refine_kT_factor!r}")
        if int(self.retries) < 0:
            raise TLSFinderError(f"neb.retries must be >= 0, got {self.retries}")
        if int(self.refine_max_images) < 3:
            raise TLSFinderError(f"neb.refine_max_images must be >= 3, got {self.refine_max_images}")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "NEBSettings":
        cfg = dict(cfg or {})
        known = set(cls.__dataclass_fields__)
        unknown = set(cfg) - known
        if unknown:
            raise TLSFinderError(f"neb: unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**cfg)


def settings_from_config(config: dict) -> tuple[NEBSettings, list, dict]:
    """(NEB settings, unit presets, splitting options) from a full config (sections
    ``neb``, ``units``, ``splitting``, all optional)."""
    settings = NEBSettings.from_config(config.get("neb"))
    model_name = config.get("model", {}).get("name", "KA2")
    unit_cfg = dict(config.get("units") or {})
    presets = presets_from_config(model_name, unit_cfg.get("presets", default("units.presets")))
    sopts = dict(config.get("splitting") or {})
    allowed = set(defaults("splitting"))  # the keyword arguments of splitting.analyse_mep
    bad = set(sopts) - allowed
    if bad:
        raise TLSFinderError(f"splitting: unknown key(s) {sorted(bad)}; allowed: {sorted(allowed)}")
    return settings, presets, sopts
