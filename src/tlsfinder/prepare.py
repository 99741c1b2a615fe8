"""Glass preparation: equilibrium liquids at T_f by hybrid swap Monte Carlo / MD.

Protocol (Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass
model", section II.C): from a jittered lattice, melt at
``melt_temperature``, then repeat blocks of ``md_steps`` Nose-Hoover NVT steps
(dt = 0.005) followed by ``swaps_per_particle`` * N attempted swaps at T_f
(:mod:`tlsfinder.swap`).  The final configuration is the glass sample; the next
stage quenches it to T_exp.

Outputs of :func:`prepare_sample` in ``out_dir``:

``glass.h5``
    the configuration (:mod:`tlsfinder.io` layout), ``meta`` holds T_f, seed,
    energy per particle, acceptance rates and tau_alpha.
``thermo.parquet``
    one row per record: ``block``, ``time`` (tau), ``e_pot`` (per particle),
    ``pressure``, ``temperature`` (kinetic), ``fs`` (F_s(q, t) since the
    reference time, NaN before it), ``acc_<kind>`` (acceptance over the
    records' interval, kinds ``AC``, ``BC`` for KA2 and ``swap`` for PSS).
``summary.json``
    acceptance rates, mean energy in the two last quarters and their drift in
    units of its error (a plateau check), tau_alpha (first time F_s < 1/e under
    swap dynamics, ``null`` if not reached), wall time, force evaluations.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import TLSFinderError, paths
from .engine import Engine
from .io import Glass, provenance, write_glass, write_json, write_parquet
from .models import KA2, Model, model_from_config
from .schema import defaults
from .seeding import stage_rng
from .swap import SwapMC, SwapStats

log = logging.getLogger(__name__)

SWAP_KINDS = {"KA2": ("AC", "BC"), "PSS": ("swap",)}


_DEFAULTS = defaults("prepare")  # the config schema holds every default; the fields below only read them


@dataclass
class PrepareSettings:
    """Protocol numbers (config section ``prepare``; defaults from the config schema, after
    Mocanu et al. (2023), section II.C)."""

    md_dt: float = _DEFAULTS["md_dt"]
    md_steps: int = _DEFAULTS["md_steps"]  # MD steps per block
    swaps_per_particle: float = _DEFAULTS["swaps_per_particle"]  # attempted swaps per block, per particle
    blocks: int = _DEFAULTS["blocks"]  # swap/MD blocks at T_f
    record_every: int = _DEFAULTS["record_every"]  # blocks between records of the time series
    melt_temperature: float = _DEFAULTS["melt_temperature"]
    melt_steps: int = _DEFAULTS["melt_steps"]
    thermostat_damping: float = _DEFAULTS["thermostat_damping"]  # Nose-Hoover T damping (tau)
    fs_q: float = _DEFAULTS["fs_q"]  # wave number of F_s(q, t)
    fs_start_fraction: float = _DEFAULTS["fs_start_fraction"]  # F_s reference time as a fraction of the run

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "PrepareSettings":
        fields = cls.__dataclass_fields__
        unknown = set(cfg) - set(fields) - {"temperatures", "n_glasses"}
        if unknown:
            raise TLSFinderError(f"prepare: unknown key(s) {sorted(unknown)}")
        return cls(**{k: v for k, v in cfg.items() if k in fields})


def self_intermediate_scattering(displacements: np.ndarray, q: float) -> float:
    """Isotropic F_s(q) = <sin(q r)/(q r)> over particles for displacement vectors (N, 3)."""
    qr = q * np.sqrt(np.einsum("ij,ij->i", displacements, displacements))
    return float(np.mean(np.sinc(qr / np.pi)))


def prepare_sample(model: Model, temperature: float, settings: PrepareSettings, seed: int, *,
                   glass_id: str = "", config: dict | None = None) -> tuple[Glass, pd.DataFrame, dict]:
    """Equilibrate one sample of ``model`` at ``temperature`` = T_f; pure function of its arguments."""
    if temperature <= 0:
        raise TLSFinderError(f"prepare.temperatures: T_f must be > 0, got {temperature}")
    t0 = time.perf_counter()
    rng = stage_rng(seed, "prepare", glass_id)
    species = model.make_species(rng)
    positions = model.lattice_positions(rng)
    kinds = SWAP_KINDS[model.name]
    swap = SwapMC(model, temperature, rng)
    n_swaps = int(round(settings.swaps_per_particle * model.n))
    records = []
    with Engine(model, positions, model.box, species) as eng:
        # Relax lattice overlaps (large PSS diameters) before any MD step.
        eng.minimize("fire", ftol=0.1, maxiter=1000)
        eng.thermalize(settings.melt_temperature, int(rng.integers(1, 2**31 - 1)))
        eng.run_nvt(settings.melt_steps, settings.melt_temperature, settings.md_dt,
                    damping=settings.thermostat_damping)
        # Velocities rescaled to T_f by a fresh Maxwell-Boltzmann draw, then blocks at T_f.
        eng.thermalize(temperature, int(rng.integers(1, 2**31 - 1)))
        eng.set_thermostat("nose-hoover", temperature, settings.thermostat_damping)
        fs_block = int(settings.fs_start_fraction * settings.blocks)
        ref = None
        interval = SwapStats(np.zeros(len(kinds), int), np.zeros(len(kinds), int))
        total = SwapStats(np.zeros(len(kinds), int), np.zeros(len(kinds), int))
        for block in range(settings.blocks + 1):
            if block > 0:
                eng.run(settings.md_steps, settings.md_dt)
                if n_swaps > 0:
                    pos = eng.get_positions()
                    new_species, stats = swap.run(pos, model.box, eng.get_species(), n_swaps)
                    eng.set_species(new_species)
                    interval += stats
                    total += stats
            if block == fs_block:
                ref = eng.get_positions()
            if block % settings.record_every == 0 or block == settings.blocks:
                e = eng.energy()
                v = eng.get_velocities()
                kin_t = float(np.sum(v * v) / (3 * model.n - 3))
                row = {
                    "block": block,
                    "time": block * settings.md_steps * settings.md_dt,
                    "e_pot": e / model.n,
                    "pressure": eng.pressure(kin_t),
                    "temperature": kin_t,
                    "fs": self_intermediate_scattering(eng.get_positions() - ref, settings.fs_q)
                    if ref is not None else np.nan,
                }
                for k, name in enumerate(kinds):
                    row[f"acc_{name}"] = interval.rate[k] if interval.attempted[k] else np.nan
                records.append(row)
                interval = SwapStats(np.zeros(len(kinds), int), np.zeros(len(kinds), int))
                if block % (settings.record_every * 10) == 0 or block == settings.blocks:
                    log.info("%s T_f=%g block %d/%d e_pot=%.5f P=%.4f acc=%s", glass_id, temperature, block,
                             settings.blocks, row["e_pot"], row["pressure"],
                             np.array2string(total.rate, precision=4))
        final_pos = eng.get_positions()
        final_vel = eng.get_velocities()
        final_species = eng.get_species()
        e_final = eng.energy() / model.n
        evals = eng.force_evaluations
    thermo = pd.DataFrame.from_records(records)
    summary = _summary(thermo, total, kinds, settings, temperature)
    summary.update({"glass": glass_id, "e_pot_final": e_final, "wall_time_s": time.perf_counter() - t0,
                    "force_evaluations": evals, "n": model.n, "model": model.name})
    glass = Glass(
        model=model.to_config(), positions=final_pos, box=model.box, species=final_species, velocities=final_vel,
        meta={"stage": "prepare", "T_f": temperature, "glass": glass_id, "e_pot": e_final,
              "acceptance": summary["acceptance"], "tau_alpha": summary["tau_alpha"]},
        provenance=provenance(config, seed),
    )
    return glass, thermo, summary


def _summary(thermo: pd.DataFrame, total: SwapStats, kinds, settings: PrepareSettings, temperature: float) -> dict:
    n = len(thermo)
    q3, q4 = thermo["e_pot"].iloc[n // 2: 3 * n // 4], thermo["e_pot"].iloc[3 * n // 4:]
    err = np.sqrt(q3.var(ddof=1) / max(len(q3), 1) + q4.var(ddof=1) / max(len(q4), 1)) if n >= 8 else np.nan
    drift = float((q4.mean() - q3.mean()) / err) if n >= 8 and err > 0 else None
    fs = thermo.dropna(subset=["fs"])
    below = fs[fs["fs"] < np.exp(-1.0)]
    t_ref = settings.fs_start_fraction * settings.blocks * settings.md_steps * settings.md_dt
    tau = float(below["time"].iloc[0] - t_ref) if len(below) else None
    return {
        "T_f": temperature,
        "acceptance": {k: float(total.rate[i]) for i, k in enumerate(kinds)},
        "swaps_attempted": {k: int(total.attempted[i]) for i, k in enumerate(kinds)},
        "e_pot_third_quarter": float(q3.mean()) if len(q3) else None,
        "e_pot_last_quarter": float(q4.mean()) if len(q4) else None,
        "e_pot_drift_sigma": drift,
        "tau_alpha": tau,
        "fs_final": float(fs["fs"].iloc[-1]) if len(fs) else None,
    }


def run_prepare(config: dict, temperature: float, glass_index: int, out_dir: str | Path) -> dict:
    """Prepare sample ``glass_index`` at T_f = ``temperature`` from a validated config; write outputs."""
    out = Path(out_dir)
    model = model_from_config(config["model"])
    settings = PrepareSettings.from_config(config.get("prepare", {}))
    gid = paths.glass_id(temperature, glass_index)
    glass, thermo, summary = prepare_sample(model, temperature, settings, int(config["seed"]), glass_id=gid,
                                            config=config)
    write_parquet(out / "thermo.parquet", thermo)
    write_json(out / "summary.json", summary)
    write_glass(out / "glass.h5", glass)  # last: its presence marks the sample done
    return summary
