"""Landscape exploration: MD at T_exp with quenches, the library of inherent structures.

Protocol (Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass
model", Sec. II.D): velocities from Maxwell-Boltzmann at T_exp, MD with dt = 0.0025 and a
Berendsen thermostat; every tau_cg the configuration is quenched (conjugate gradient) to
its inherent structure (IS) and the trajectory continues from the exact pre-quench state.
T_exp, dt and the thermostat time default per model (the schema's ``x-model-defaults``):
KA2 0.4, 0.0025, 0.25; PSS 0.04 (the T_MD of Khomenko, Reichman, Zamponi, Phys. Rev.
Materials 5, 055602 (2021), Sec. II; T_MCT = 0.104, so 0.4 would melt the glass), 0.005, 0.5;
so does the identity tolerance ``distance_tol`` (below).

Which configurations of each interval get quenched is the exploration protocol
(``ExploreSettings.protocol``: ``every_step``, ``fixed`` or ``bisect``, the default), a
strategy class of :mod:`tlsfinder.explore_protocols` chosen by name.

IS identity: two quenched configurations are the same IS when their energies per
particle differ by less than ``energy_tol`` and their distance (Mocanu et al. (2023) Eq. 7,
d = sqrt(sum_i |r_i^a - r_i^b|^2 / N), minimum image, same labels;
:func:`tlsfinder.geometry.rms_distance`) is below
``distance_tol``.  With ``ftol`` = 1e-10 on the largest force component, a
minimum is located to ~ftol / k_min (k_min ~ 1e-2 for the softest modes) i.e.
1e-8 sigma and its energy to ~ftol^2 / k_min per particle, so the defaults
(1e-4 sigma, 1e-7 eps) sit many orders above the convergence noise and well
below the distance of a single-particle hop of 0.1 sigma in N = 1200
(0.1 / sqrt(1200) = 3e-3 sigma).  PSS uses distance_tol = 1e-5: its closest published
double wells (Ciarella et al. (2023), N = 1500) are 1.07e-4 apart, and re-quenches of one
PSS IS land within 1e-11 sigma (1e-15 eps per particle) of each other.  An unconverged quench (step limit reached)
is counted in ``failed_quenches`` and never stored.

Outputs (``write_outputs``) in the glass folder:

``is_library.h5``
    ``positions`` (n_IS, N, 3) float64 (unwrapped along the trajectory),
    ``energy`` (n_IS,) per particle, ``first_seen`` (n_IS,) time (tau),
    ``visits`` (n_IS,) quenches that ended there, ``fmax`` (n_IS,), ``species`` (N,);
    attrs ``box``, ``model`` (JSON), ``glass``, ``format`` = ``tlsfinder-islib/1``.
``timeseries.parquet``
    one row per change of IS located in time: ``step``, ``time``, ``is_id``
    (the IS from that step on); the first row is the IS of step 0.
``transitions.parquet``
    ``i``, ``j``, ``count``: observed transitions i -> j between consecutive IS.
``summary.json``
    n_IS, transitions, bidirectional pairs, quenches (full / shortened / failed),
    force evaluations, MD steps, wall time, protocol.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import TLSFinderError
from .engine import Engine, MinResult
from .explore_protocols import PROTOCOLS, get_protocol
from .geometry import displacements, rms_distance
from .io import Glass, atomic_path, provenance, read_glass, write_json, write_parquet
from .models import Model, model_from_config
from .schema import defaults, model_defaults
from .seeding import stage_rng

log = logging.getLogger(__name__)

ISLIB_FORMAT = "tlsfinder-islib/1"

#: Quench minimisers: LAMMPS's ``cg`` and ``fire``, or ``lbfgs`` with the package's force field.
MINIMIZERS = ("cg", "fire", "lbfgs")

_DEFAULTS = defaults("explore")  # the config schema's, the one place defaults are written


@dataclass
class ExploreSettings:
    """Exploration parameters; defaults are the config schema's (Mocanu et al. (2023) Sec. II.D, KA2).

    The PSS defaults differ (temperature, dt, thermostat): :meth:`for_model` or
    ``from_config(..., model="PSS")`` apply the schema's per-model defaults (``x-model-defaults``).
    """

    temperature: float = _DEFAULTS["temperature"]  # T_exp
    dt: float = _DEFAULTS["dt"]
    tau_cg: float = _DEFAULTS["tau_cg"]  # time between quenches (tau); a multiple of dt
    n_cg: int = _DEFAULTS["n_cg"]  # number of quench intervals; total time = n_cg * tau_cg
    thermostat_damping: float = _DEFAULTS["thermostat_damping"]  # Berendsen time constant (tau)
    minimizer: str = _DEFAULTS["minimizer"]
    ftol: float = _DEFAULTS["ftol"]  # largest force component of a converged IS (eps/sigma)
    max_iterations: int = _DEFAULTS["max_iterations"]
    energy_tol: float = _DEFAULTS["energy_tol"]  # per particle (eps)
    distance_tol: float = _DEFAULTS["distance_tol"]  # Eq. 7 distance (sigma)
    protocol: str = _DEFAULTS["protocol"]
    # bisect: excursion screen and recrossing window (tlsfinder.explore_protocols.Bisect)
    screen_stride: int = _DEFAULTS["screen_stride"]  # screen every this many-th MD snapshot (0: no excursion checks)
    screen_iterations: int = _DEFAULTS["screen_iterations"]  # minimiser iterations of the partial relaxation
    excursion_ratio: float = _DEFAULTS["excursion_ratio"]  # flag: particle displacement / its median displacement
    hop_threshold: float = _DEFAULTS["hop_threshold"]  # sigma: flag also when a particle is displaced more than this
    screen_quenches: int = _DEFAULTS["screen_quenches"]  # most quenches of flagged snapshots per interval
    recross_window: int = _DEFAULTS["recross_window"]  # snapshots quenched either side of every located change
    loose_ftol: float = _DEFAULTS["loose_ftol"]
    loose_distance: float = _DEFAULTS["loose_distance"]  # sigma (Eq. 7) for a shortened quench to confirm its IS
    loose_energy_tol: float = _DEFAULTS["loose_energy_tol"]  # per particle
    checkpoint_seconds: float = _DEFAULTS["checkpoint_seconds"]
    # MD steps between LAMMPS set-ups (neighbour lists rebuilt from scratch); checkpoints are taken
    # only there, so a resumed run repeats the uninterrupted one bit for bit. Default (None): the
    # first multiple of tau_cg/dt at or above 1000 steps.
    setup_steps: int | None = _DEFAULTS["setup_steps"]

    @classmethod
    def from_config(cls, cfg: dict[str, Any], model: str | None = None) -> "ExploreSettings":
        """Settings of a config's ``explore`` section; keys it lacks take ``model``'s defaults."""
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise TLSFinderError(f"explore: unknown key(s) {sorted(unknown)}")
        s = cls.for_model(model, **cfg) if model else cls(**cfg)
        s.validate()
        return s

    @classmethod
    def for_model(cls, model: str, **settings) -> "ExploreSettings":
        """Settings with ``model``'s defaults (e.g. PSS: T_exp = 0.04), overridden by ``settings``."""
        own = {k.split(".", 1)[1]: v for k, v in model_defaults(model).items() if k.startswith("explore.")}
        return cls(**{**own, **settings})

    @property
    def steps_per_interval(self) -> int:
        return int(round(self.tau_cg / self.dt))

    @property
    def setup_period(self) -> int:
        n = self.steps_per_interval
        return int(self.setup_steps) if self.setup_steps else n * -(-1000 // n)

    def validate(self) -> None:
        k = self.tau_cg / self.dt
        if self.tau_cg <= 0 or abs(k - round(k)) > 1e-9 * max(1.0, k) or round(k) < 1:
            raise TLSFinderError(f"explore.tau_cg = {self.tau_cg} must be a positive multiple of explore.dt = {self.dt}")
        if self.minimizer not in MINIMIZERS:
            raise TLSFinderError(f"explore.minimizer = {self.minimizer!r}: must be one of {list(MINIMIZERS)}")
        if self.protocol not in PROTOCOLS:
            get_protocol(self.protocol)  # raises, naming the protocols
        if self.setup_steps is not None and (self.setup_steps <= 0 or self.setup_steps % round(k)):
            raise TLSFinderError(f"explore.setup_steps = {self.setup_steps} must be a positive multiple of "
                                 f"tau_cg/dt = {round(k)}")
        for key in ("screen_stride", "screen_iterations", "screen_quenches", "recross_window"):
            if getattr(self, key) < 0:
                raise TLSFinderError(f"explore.{key} = {getattr(self, key)} must be >= 0")
        for key in ("excursion_ratio", "hop_threshold"):
            if getattr(self, key) <= 0:
                raise TLSFinderError(f"explore.{key} = {getattr(self, key)} must be > 0")
        if self.temperature <= 0 or self.dt <= 0 or self.n_cg <= 0:
            raise TLSFinderError("explore.temperature, explore.dt and explore.n_cg must be positive")


@dataclass
class ISLibrary:
    """Distinct inherent structures of one glass."""

    box: np.ndarray
    energy_tol: float
    distance_tol: float
    positions: list = field(default_factory=list)
    energy: list = field(default_factory=list)  # per particle
    first_seen: list = field(default_factory=list)
    visits: list = field(default_factory=list)
    fmax: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.energy)

    def find(self, pos: np.ndarray, e: float, distance_tol: float | None = None, energy_tol: float | None = None,
             prefer: int | None = None) -> int | None:
        """Index of the stored IS matching (pos, e), or None; ``prefer`` is tried first."""
        dtol = self.distance_tol if distance_tol is None else distance_tol
        etol = self.energy_tol if energy_tol is None else energy_tol
        order = []
        if prefer is not None:
            order.append(prefer)
        if self.energy:
            en = np.asarray(self.energy)
            cand = np.nonzero(np.abs(en - e) < etol)[0]
            order.extend(int(c) for c in cand[np.argsort(np.abs(en[cand] - e))] if c != prefer)
        for k in order:
            if abs(self.energy[k] - e) < etol and rms_distance(displacements(pos, self.positions[k], self.box)) < dtol:
                return k
        return None

    def add(self, pos: np.ndarray, e: float, t: float, fmax: float) -> int:
        self.positions.append(np.array(pos))
        self.energy.append(float(e))
        self.first_seen.append(float(t))
        self.visits.append(0)
        self.fmax.append(float(fmax))
        return len(self.energy) - 1


class Explorer:
    """Explore the landscape of one glass; resumable from its checkpoint file."""

    def __init__(self, model: Model, glass: Glass, settings: ExploreSettings, seed: int, glass_id: str,
                 checkpoint: str | Path | None = None):
        self.model, self.glass, self.s, self.glass_id = model, glass, settings, glass_id
        self.box = np.asarray(glass.box, dtype=float)
        self.checkpoint_path = Path(checkpoint) if checkpoint else None
        self.lib = ISLibrary(self.box, settings.energy_tol, settings.distance_tol)
        self.changes: list[tuple[int, int]] = []  # (step, IS id from that step on)
        self.interval = 0
        self.counters = {"quenches": 0, "shortened_quenches": 0, "failed_quenches": 0, "md_steps": 0,
                         "quench_force_evaluations": 0, "md_force_evaluations": 0, "excursion_checks": 0}
        self.wall_before = 0.0
        # Two LAMMPS instances: the MD one only ever runs the trajectory (so every protocol follows
        # the same trajectory, bit for bit); quenches happen in the other one from copied positions.
        self.engine = Engine(model, glass.positions, self.box, glass.species)
        self.engine.set_thermostat("berendsen", settings.temperature, settings.thermostat_damping)
        self.engine.set_lean_output()
        self.quencher = Engine(model, glass.positions, self.box, glass.species)
        self._ff = None  # the compiled force field of minimizer "lbfgs", made on first use
        self.protocol = get_protocol(settings.protocol)
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            self._load_checkpoint()
        else:
            rng = stage_rng(seed, "explore", glass_id)
            self.engine.thermalize(settings.temperature, int(rng.integers(1, 2**31 - 1)))
            self.engine._cmd("reset_timestep 0")
            k = self.quench(self.engine.get_positions(), 0, None)
            if k is None:
                raise TLSFinderError(f"{glass_id}: the initial quench did not converge within "
                                     f"{settings.max_iterations} iterations (explore.max_iterations)")
            self.changes.append((0, k))

    # ------------------------------------------------------------------ quench
    @property
    def current(self) -> int:
        return self.changes[-1][1]

    def quench(self, positions: np.ndarray, step: int, expect: int | None) -> int | None:
        """IS id of the configuration ``positions`` (at MD step ``step``); None if unconverged.

        ``expect``: the IS this configuration is likely in (tried first); with a protocol that
        shortens quenches, a quench to ``loose_ftol`` that lands next to it confirms it.
        """
        s, eng = self.s, self.quencher
        ev0 = eng.force_evaluations
        eng.set_positions(positions)
        try:
            if expect is not None and self.protocol.shortened_quenches:
                res = self._minimize(s.loose_ftol)
                pos = eng.get_positions()
                if rms_distance(displacements(pos, self.lib.positions[expect], self.box)) < s.loose_distance and \
                        abs(res.energy / self.model.n - self.lib.energy[expect]) < s.loose_energy_tol:
                    self.counters["shortened_quenches"] += 1
                    self.lib.visits[expect] += 1
                    return expect
            res = self._minimize(s.ftol)
            self.counters["quenches"] += 1
            if not res.converged:
                self.counters["failed_quenches"] += 1
                log.warning("%s: quench at step %d not converged (fmax %.2e > %.1e, %s); not stored",
                            self.glass_id, step, res.fmax, s.ftol, res.reason)
                return None
            pos, e = eng.get_positions(), res.energy / self.model.n
            k = self.lib.find(pos, e, prefer=expect)
            if k is None:
                k = self.lib.add(pos, e, step * s.dt, res.fmax)
            self.lib.visits[k] += 1
            return k
        finally:
            self.counters["quench_force_evaluations"] += eng.force_evaluations - ev0

    def _minimize(self, ftol: float):
        """Minimise the quencher's configuration to max |F| <= ``ftol``, in place.

        ``minimizer: lbfgs`` minimises with the package's compiled force field (L-BFGS, then Newton
        steps below 1e-7; :func:`tlsfinder.neb.minima.minimize`), several times faster per quench
        than LAMMPS's CG, above all for PSS, whose LAMMPS style evaluates an expression per pair.
        """
        s, eng = self.s, self.quencher
        if s.minimizer != "lbfgs":
            return eng.minimize(s.minimizer, ftol=ftol, maxiter=s.max_iterations)
        from .neb.minima import minimize

        # Newton steps only where L-BFGS's own tolerance (1e-7) is not enough
        m = minimize(self._forcefield(), eng.get_positions(), ftol=ftol, maxiter=s.max_iterations, newton=ftol < 1e-7)
        eng.set_positions(m.positions)
        eng.force_evaluations += m.evaluations
        return MinResult(m.energy, m.fmax, m.evaluations, m.evaluations, m.converged,
                         "force tolerance" if m.converged else "L-BFGS/Newton stopped above ftol")

    def relax_steps(self, positions: np.ndarray, iterations: int) -> tuple[np.ndarray, int]:
        """``positions`` after ``iterations`` minimiser iterations, no convergence test; returns them and
        the force evaluations used (the bisect protocol's screen).  With ``minimizer: lbfgs`` the
        package's force field does it: on PSS (N = 500) the LAMMPS ``minimize`` commands of the screen
        took 37 % of an exploration's wall time."""
        if self.s.minimizer != "lbfgs":
            eng, k = self.quencher, int(iterations)
            eng.set_positions(positions)
            eng._cmd("min_style cg", "min_modify norm inf dmax 0.1 line quadratic", f"minimize 0 0 {k} {3 * k + 1}")
            return eng.get_positions(), 3 * k + 1  # LAMMPS reports no count: its bound, maxeval
        from .neb.minima import minimize

        m = minimize(self._forcefield(), positions, ftol=0.0, maxiter=int(iterations), newton=False)
        return m.positions, m.evaluations

    def _forcefield(self):
        """The package's compiled force field of this glass (``minimizer: lbfgs``), made on first use."""
        if self._ff is None:
            from .neb.forcefield import BatchForceField

            self._ff = BatchForceField(self.model, self.box, self.glass.species)
        return self._ff

    # ------------------------------------------------------------------- MD
    def run_md(self, nsteps: int, first: bool) -> None:
        """MD steps continuing the trajectory.

        LAMMPS is set up afresh (``pre yes``: neighbour lists rebuilt) only at multiples of
        ``setup_period`` steps (and the first step), in every protocol, so the trajectory does not
        depend on the protocol; checkpoints are taken only there, so neither on an interruption.
        """
        eng = self.engine
        ev0 = eng.force_evaluations
        if first:
            eng._cmd(f"timestep {self.s.dt!r}")
        eng._cmd(f"run {int(nsteps)} pre {'yes' if first else 'no'} post no")
        eng.force_evaluations += nsteps + (1 if first else 0)
        self.counters["md_steps"] += nsteps
        self.counters["md_force_evaluations"] += eng.force_evaluations - ev0

    def record(self, step: int, k: int) -> None:
        """Note that from MD step ``step`` on the trajectory is in IS ``k``."""
        if k != self.current:
            self.changes.append((step, k))

    def step_interval(self) -> None:
        """One quench interval of tau_cg, explored by the protocol."""
        self.protocol.step_interval(self, setup=self.engine.timestep % self.s.setup_period == 0)
        self.interval += 1

    def run(self, progress_every: int = 100) -> None:
        """Explore until n_cg intervals are done, checkpointing every ``checkpoint_seconds``."""
        t0 = time.perf_counter()
        last_ckpt = t0
        while self.interval < self.s.n_cg:
            self.step_interval()
            now = time.perf_counter()
            if self.checkpoint_path is not None and now - last_ckpt >= self.s.checkpoint_seconds and \
                    self.engine.timestep % self.s.setup_period == 0:
                self.wall_before += now - t0
                t0 = now
                self.save_checkpoint()
                last_ckpt = now
            if self.interval % progress_every == 0 or self.interval == self.s.n_cg:
                log.info("%s interval %d/%d t=%.3g n_IS=%d changes=%d quenches=%d(+%d short)", self.glass_id,
                         self.interval, self.s.n_cg, self.interval * self.s.tau_cg, len(self.lib),
                         len(self.changes) - 1, self.counters["quenches"], self.counters["shortened_quenches"])
        self.wall_before += time.perf_counter() - t0

    # ----------------------------------------------------------- checkpoint
    def save_checkpoint(self) -> None:
        st = self.engine.save_state()
        data = {
            "format": "tlsfinder-explore-ckpt/1",
            "glass": self.glass_id,
            "settings": asdict(self.s),
            "state": st,
            "lib": {k: getattr(self.lib, k) for k in ("positions", "energy", "first_seen", "visits", "fmax")},
            "changes": self.changes,
            "interval": self.interval,
            "counters": self.counters,
            "wall_before": self.wall_before,
        }
        with atomic_path(self.checkpoint_path) as tmp:
            with open(tmp, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        log.info("%s checkpoint at interval %d (%s)", self.glass_id, self.interval, self.checkpoint_path)

    def _load_checkpoint(self) -> None:
        try:
            with open(self.checkpoint_path, "rb") as fh:
                data = pickle.load(fh)
        except Exception as exc:  # a checkpoint is always complete (atomic), but be clear if not
            raise TLSFinderError(f"{self.checkpoint_path}: unreadable exploration checkpoint ({exc})") from exc
        if data.get("format") != "tlsfinder-explore-ckpt/1" or data.get("glass") != self.glass_id:
            raise TLSFinderError(f"{self.checkpoint_path}: checkpoint of another glass or format")
        if data["settings"] != asdict(self.s):
            diff = sorted(k for k in data["settings"] if data["settings"][k] != asdict(self.s).get(k))
            raise TLSFinderError(f"{self.checkpoint_path}: written with different explore settings ({diff}); "
                                 "delete it to start over")
        self.engine.restore_state(data["state"])
        for k, v in data["lib"].items():
            setattr(self.lib, k, v)
        self.changes, self.interval = data["changes"], data["interval"]
        self.counters, self.wall_before = data["counters"], data["wall_before"]
        log.info("%s resumed from checkpoint at interval %d", self.glass_id, self.interval)

    def close(self) -> None:
        self.engine.close()
        self.quencher.close()

    # ---------------------------------------------------------------- results
    def timeseries(self) -> pd.DataFrame:
        steps = np.array([c[0] for c in self.changes], dtype=np.int64)
        return pd.DataFrame({"step": steps, "time": steps * self.s.dt,
                             "is_id": np.array([c[1] for c in self.changes], dtype=np.int64)})

    def transitions(self) -> pd.DataFrame:
        ids = [c[1] for c in self.changes]
        counts: dict[tuple[int, int], int] = {}
        for a, b in zip(ids[:-1], ids[1:]):
            counts[(a, b)] = counts.get((a, b), 0) + 1
        rows = sorted(counts.items())
        return pd.DataFrame({"i": np.array([r[0][0] for r in rows], dtype=np.int64),
                             "j": np.array([r[0][1] for r in rows], dtype=np.int64),
                             "count": np.array([r[1] for r in rows], dtype=np.int64)})

    def summary(self) -> dict[str, Any]:
        tr = self.transitions()
        pairs = {(min(i, j), max(i, j)) for i, j in zip(tr["i"], tr["j"])}
        seen = set(zip(tr["i"], tr["j"]))
        bidir = sum(1 for i, j in pairs if (i, j) in seen and (j, i) in seen)
        return {
            "glass": self.glass_id, "protocol": self.s.protocol, "n_IS": len(self.lib),
            "transitions": int(tr["count"].sum()) if len(tr) else 0, "distinct_transition_pairs": len(pairs),
            "bidirectional_pairs": bidir, "intervals": self.interval, "time": self.interval * self.s.tau_cg,
            **self.counters,
            "force_evaluations": self.counters["quench_force_evaluations"] + self.counters["md_force_evaluations"],
            "wall_time_s": self.wall_before,
        }

    def write_outputs(self, out_dir: str | Path, config: dict | None = None, seed: int | None = None) -> dict:
        import h5py

        out = Path(out_dir)
        write_parquet(out / "timeseries.parquet", self.timeseries())
        write_parquet(out / "transitions.parquet", self.transitions())
        summary = self.summary()
        write_json(out / "summary.json", summary)
        with atomic_path(out / "is_library.h5") as tmp:
            with h5py.File(tmp, "w") as h:
                h.attrs["format"] = ISLIB_FORMAT
                h.attrs["box"] = self.box
                h.attrs["model"] = json.dumps(self.glass.model, sort_keys=True)
                h.attrs["glass"] = self.glass_id
                h.attrs["provenance"] = json.dumps(provenance(config, seed), sort_keys=True, default=str)
                h["positions"] = np.asarray(self.lib.positions).reshape(len(self.lib), self.model.n, 3)
                h["energy"] = np.asarray(self.lib.energy)
                h["first_seen"] = np.asarray(self.lib.first_seen)
                h["visits"] = np.asarray(self.lib.visits)
                h["fmax"] = np.asarray(self.lib.fmax)
                h["species"] = np.asarray(self.glass.species)
        return summary


def read_is_library(path: str | Path, positions: bool = True) -> dict[str, Any]:
    """The IS library of one glass as a dict of arrays (see the module docstring), with ``glass``
    the glass id as a str (the one place the attribute is decoded: h5py may hand back bytes for a
    fixed-length string) and ``box``, ``model`` (dict) from the attributes.  ``positions=False``
    skips the (n_IS, N, 3) positions, e.g. to read only the header."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: no such IS library")
    datasets = ("positions", "energy", "first_seen", "visits", "fmax", "species")
    try:
        with h5py.File(path, "r") as h:
            if h.attrs.get("format") != ISLIB_FORMAT:
                raise TLSFinderError(f"{path}: not a tlsfinder IS library (format {h.attrs.get('format')!r})")
            missing = [k for k in datasets if k not in h]
            missing += [f"attr {k}" for k in ("box", "model", "glass") if k not in h.attrs]
            if missing:
                raise TLSFinderError(f"{path}: IS library lacks {', '.join(missing)} (has {sorted(h.keys())})")
            out = {k: h[k][()] for k in datasets if positions or k != "positions"}
            glass = h.attrs["glass"]
            glass = glass.decode() if isinstance(glass, bytes) else str(glass)  # np.bytes_ is a bytes
            out.update(box=np.asarray(h.attrs["box"]), model=json.loads(h.attrs["model"]), glass=glass)
            return out
    except TLSFinderError:
        raise
    except (OSError, KeyError, ValueError) as exc:  # ValueError: bad JSON in attr 'model'
        raise TLSFinderError(f"{path}: unreadable or truncated IS library ({exc})") from exc


def run_explore(config: dict, glass_path: str | Path, out_dir: str | Path, glass_id: str) -> dict:
    """Explore one prepared glass with the config's settings; write outputs; resume from a checkpoint."""
    out = Path(out_dir)
    model = model_from_config(config["model"])
    glass = read_glass(glass_path, expect_model=config["model"] | {"n": model.n})
    settings = ExploreSettings.from_config(config.get("explore", {}), model=model.name)
    ex = Explorer(model, glass, settings, int(config["seed"]), glass_id, checkpoint=out / "checkpoint.pkl")
    try:
        ex.run()
        summary = ex.write_outputs(out, config, int(config["seed"]))
    finally:
        ex.close()
    ckpt = out / "checkpoint.pkl"
    if ckpt.exists():
        ckpt.unlink()
    return summary


def persistence_times(timeseries: pd.DataFrame) -> np.ndarray:
    """Times spent in each IS between located changes (Mocanu et al. (2023) Fig. 3a); the open last stay is dropped."""
    t = timeseries["time"].to_numpy()
    return np.diff(t) if len(t) > 1 else np.zeros(0)


def aggregate(summary_files: list[str], timeseries_files: list[str], table_path: str, persistence_path: str,
              n_is_path: str) -> pd.DataFrame:
    """Per-T_f data of Mocanu et al. (2023) Fig. 3 and Table I: per-glass summary, persistence times, n_IS(t).

    ``n_is`` columns: ``glass``, ``time``, ``n_is`` (distinct IS found up to that time).
    """
    rows, pers, nis = [], [], []
    for sf, tf in zip(summary_files, timeseries_files):
        s = json.loads(Path(sf).read_text())
        rows.append(s)
        ts = pd.read_parquet(tf)
        pers.append(pd.DataFrame({"glass": s["glass"], "tau_p": persistence_times(ts)}))
        first = ts.drop_duplicates("is_id")
        nis.append(pd.DataFrame({"glass": s["glass"], "time": first["time"].to_numpy(),
                                 "n_is": np.arange(1, len(first) + 1)}))
    table = pd.DataFrame(rows)
    write_parquet(table_path, table)
    write_parquet(persistence_path, pd.concat(pers, ignore_index=True))
    write_parquet(n_is_path, pd.concat(nis, ignore_index=True))
    return table
