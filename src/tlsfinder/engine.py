"""A small wrapper around one serial LAMMPS instance.

The :class:`Engine` holds one periodic box of one :class:`~tlsfinder.models.Model`
and offers what the pipeline needs: get/set positions, velocities, species and
box; energy, forces and pressure; NVT MD with a Nose-Hoover or Berendsen
thermostat; CG and FIRE minimisation; and an in-memory snapshot of the full
dynamical state so that a quench can be done from a snapshot and the MD
trajectory continued exactly where it was.

Conventions: reduced LJ units, all masses 1.  Arrays are ordered by particle
index 0..N-1 (LAMMPS atom id - 1).  Positions are returned *unwrapped*
(LAMMPS coordinates plus image flags times the box), so displacements along a
trajectory are continuous.

Exact continuation: atom sorting is off and the engine runs on one MPI rank,
so the order of force summation depends only on the state; a snapshot stores
positions, image flags, velocities, species, the timestep counter and (for
Nose-Hoover) is restored bit for bit as long as the thermostat variables are
untouched, which minimisation guarantees.  For checkpoints that must survive
the process (thermostat included) use :meth:`Engine.write_restart`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import TLSFinderError
from ._lammps import new_lammps
from .models import KA2, PSS, Model


@dataclass
class State:
    """Full dynamical state of an :class:`Engine` (copies, safe to keep)."""

    positions: np.ndarray  # unwrapped (N, 3)
    velocities: np.ndarray  # (N, 3)
    species: np.ndarray  # types 0..2 (KA2) or diameters (PSS)
    timestep: int
    # LAMMPS's own wrapped coordinates and packed image flags: restoring these (rather than
    # re-splitting the unwrapped positions, which rounds) makes the continuation bit for bit.
    raw_x: np.ndarray | None = None
    raw_image: np.ndarray | None = None


@dataclass
class MinResult:
    """Outcome of one minimisation."""

    energy: float  # total potential energy at the end (eps)
    fmax: float  # largest force component at the end (eps/sigma)
    iterations: int
    evaluations: int  # force/energy evaluations
    converged: bool  # fmax <= ftol (the criterion we trust, whatever LAMMPS's stop reason)
    reason: str


class Engine:
    """One LAMMPS box of ``model`` with given positions (N,3), box (3,) and species.

    Parameters
    ----------
    model : Model
        KA2 or PSS; its ``lammps_commands`` define the pair interaction.
    positions, box, species :
        Initial configuration; see :mod:`tlsfinder.models` for conventions.
    neighbor_skin : float
        Verlet skin (sigma); neighbour lists are rebuilt when needed.
    """

    def __init__(self, model: Model, positions, box, species, *, neighbor_skin: float = 0.3):
        self.model = model
        self.n = model.n
        species = model.check_species(species)
        pos = np.asarray(positions, dtype=float)
        if pos.shape != (self.n, 3):
            raise TLSFinderError(f"positions have shape {pos.shape}, model {model.name} expects ({self.n}, 3)")
        self.box = np.asarray(box, dtype=float).copy()
        self._tmp = tempfile.TemporaryDirectory(prefix="tlsfinder-lmp-")
        self._identity = np.arange(self.n, dtype=np.int64)
        self.lmp = new_lammps()
        self._fix_ids: list[str] = []
        self._lean = False
        self.force_evaluations = 0
        self.thermostat: tuple | None = None
        L = self.box
        self._cmd(
            "units lj",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"atom_style {'sphere' if isinstance(model, PSS) else 'atomic'}",
            f"region box block 0 {_num(L[0])} 0 {_num(L[1])} 0 {_num(L[2])}",
            f"create_box {model.lammps_types(species)[0]} box",
        )
        wrapped = np.mod(pos, self.box)
        types = model.lammps_types(species)[1]
        self.lmp.create_atoms(self.n, list(range(1, self.n + 1)), [int(t) for t in types], wrapped.ravel().tolist())
        if isinstance(model, KA2):
            self._cmd("mass * 1.0")
        else:
            # radius first (set would reset the mass from a density), then unit masses
            self._set_radius(species)
            self._cmd("set group all mass 1.0")
        self._cmd(*model.lammps_commands(Path(self._tmp.name), species))
        # PSS: the pair cutoffs were set for these diameters (models.PSS.lammps_commands)
        self._max_species = float(np.max(species))
        self._cmd(
            f"neighbor {_num(neighbor_skin)} bin",
            "neigh_modify every 1 delay 0 check yes",
            "thermo_style custom step pe press",
            "compute pe all pe",
            "compute press all pressure NULL virial",
            "velocity all set 0 0 0",
        )
        self.set_positions(pos)
        self._cmd("run 0 post no")

    # ------------------------------------------------------------------ basics
    def _cmd(self, *lines: str) -> None:
        for line in lines:
            self.lmp.command(line)

    def close(self) -> None:
        if self.lmp is not None:
            self.lmp.close()
            self.lmp = None
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _order(self) -> np.ndarray | None:
        """Particle index of each local atom, or None when they are already in order."""
        ids = np.asarray(self.lmp.numpy.extract_atom("id")[: self.n], dtype=np.int64) - 1
        return None if np.array_equal(ids, self._identity) else ids

    def _get(self, name: str) -> np.ndarray:
        nloc = self.lmp.extract_global("nlocal")
        arr = np.array(self.lmp.numpy.extract_atom(name)[:nloc])
        order = self._order()
        if order is None:  # no atom sorting, one rank: the usual case, no copy needed
            return arr
        out = np.empty_like(arr)
        out[order] = arr
        return out

    def _set(self, name: str, values) -> None:
        nloc = self.lmp.extract_global("nlocal")
        view = self.lmp.numpy.extract_atom(name)
        order = self._order()
        view[:nloc] = np.asarray(values) if order is None else np.asarray(values)[order]

    # ------------------------------------------------------------- get / set
    def get_positions(self) -> np.ndarray:
        """Unwrapped positions (N, 3)."""
        # LAMMPS packs image flags into one int: 10 bits per dimension, offset 512.
        return self.unwrap(*self.raw_snapshot())

    def set_positions(self, positions) -> None:
        """Set (possibly unwrapped) positions; image flags keep them unwrapped."""
        pos = np.asarray(positions, dtype=float)
        if pos.shape != (self.n, 3) or not np.all(np.isfinite(pos)):
            raise TLSFinderError(f"positions must be finite with shape ({self.n}, 3), got {pos.shape}")
        img = np.floor(pos / self.box).astype(np.int64)
        x = pos - img * self.box
        x[x >= self.box] -= self.box[np.nonzero(x >= self.box)[1]]  # rounding at the upper edge
        packed = ((img[:, 2] + 512) << 20) | ((img[:, 1] + 512) << 10) | (img[:, 0] + 512)
        self._set("x", x)
        self._set("image", packed.astype(np.int32))

    def get_velocities(self) -> np.ndarray:
        return self._get("v")

    def set_velocities(self, velocities) -> None:
        self._set("v", np.asarray(velocities, dtype=float))

    def get_species(self) -> np.ndarray:
        if isinstance(self.model, KA2):
            return self._get("type").astype(np.int64) - 1
        return 2.0 * self._get("radius")

    def set_species(self, species) -> None:
        species = self.model.check_species(species)
        if isinstance(self.model, KA2):
            self._set("type", (species + 1).astype(np.int32))
        else:
            if float(np.max(species)) > self._max_species:
                raise TLSFinderError(f"set_species: diameter {float(np.max(species))!r} exceeds the largest one "
                                     f"({self._max_species!r}) the LAMMPS cutoffs of this Engine were set for")
            self._set_radius(species)
            self._set("type", self.model.lammps_types(species)[1].astype(np.int32))

    def _set_radius(self, diameters) -> None:
        self._set("radius", 0.5 * np.asarray(diameters, dtype=float))

    @property
    def timestep(self) -> int:
        return int(self.lmp.extract_global("ntimestep"))

    # ------------------------------------------------------- observables
    def _evaluate(self) -> None:
        if self._lean:
            self._cmd("thermo_style custom step pe press", "run 0 post no", "thermo_style custom step")
        else:
            self._cmd("run 0 post no")
        self.force_evaluations += 1

    def set_lean_output(self, lean: bool = True) -> None:
        """Skip the energy and virial tally LAMMPS does for thermo output at the ends of every ``run``.

        Worth it when MD is driven one step per ``run`` call (exploration snapshots); the
        observables above switch the full output back on for their own evaluation.
        """
        self._lean = bool(lean)
        self._cmd("thermo_style custom step" if lean else "thermo_style custom step pe press")

    def raw_snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of LAMMPS's wrapped coordinates and packed image flags, ordered by particle.

        Cheaper than :meth:`get_positions`; :meth:`unwrap` turns a snapshot into positions.
        """
        return self._get("x"), self._get("image")

    def unwrap(self, x: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Unwrapped positions from a :meth:`raw_snapshot`."""
        ix = (image & 1023) - 512
        iy = ((image >> 10) & 1023) - 512
        iz = (image >> 20) - 512
        return x + np.stack([ix, iy, iz], axis=1) * self.box

    def energy(self) -> float:
        """Total potential energy (eps)."""
        self._evaluate()
        return float(self.lmp.numpy.extract_compute("pe", 0, 0))

    def forces(self) -> np.ndarray:
        """Forces (N, 3) (eps/sigma) at the current positions."""
        self._evaluate()
        return self._get("f")

    def energy_forces(self) -> tuple[float, np.ndarray]:
        self._evaluate()
        return float(self.lmp.numpy.extract_compute("pe", 0, 0)), self._get("f")

    def pressure(self, temperature: float | None = None) -> float:
        """Pressure (eps/sigma^3): virial part plus rho*T (T from velocities unless given)."""
        self._evaluate()
        p_vir = float(self.lmp.numpy.extract_compute("press", 0, 0))
        if temperature is None:
            v = self.get_velocities()
            temperature = float(np.sum(v * v) / (3 * self.n - 3))
        return p_vir + self.n * temperature / float(np.prod(self.box))

    # ------------------------------------------------------------- dynamics
    def thermalize(self, temperature: float, seed: int) -> None:
        """Maxwell-Boltzmann velocities at ``temperature``, zero total momentum (reproducible in ``seed``)."""
        if not 1 <= seed < 2**31:
            seed = 1 + seed % (2**31 - 2)
        self._cmd(f"velocity all create {_num(temperature)} {int(seed)} dist gaussian mom yes rot no loop geom")

    def set_thermostat(self, kind: str, temperature: float, damping: float) -> None:
        """Install an NVT integrator: ``nose-hoover`` (fix nvt) or ``berendsen`` (fix nve + temp/berendsen)."""
        key = (kind, float(temperature), float(damping))
        if self.thermostat == key:
            return
        for fid in self._fix_ids:
            self._cmd(f"unfix {fid}")
        self._fix_ids = []
        if kind == "nose-hoover":
            self._cmd(f"fix nvt all nvt temp {_num(temperature)} {_num(temperature)} {_num(damping)}")
            self._fix_ids = ["nvt"]
        elif kind == "berendsen":
            self._cmd("fix nve all nve", f"fix ber all temp/berendsen {_num(temperature)} {_num(temperature)} {_num(damping)}")
            self._fix_ids = ["nve", "ber"]
        else:
            raise TLSFinderError(f"thermostat must be 'nose-hoover' or 'berendsen', got {kind!r}")
        self.thermostat = key

    def run(self, nsteps: int, dt: float) -> None:
        """Run ``nsteps`` MD steps of size ``dt`` with the installed thermostat."""
        if self.thermostat is None:
            raise TLSFinderError("no thermostat installed: call set_thermostat() before run()")
        self._cmd(f"timestep {_num(dt)}", f"run {int(nsteps)} post no")
        self.force_evaluations += int(nsteps) + 1

    def run_nvt(self, nsteps: int, temperature: float, dt: float, *, thermostat: str = "nose-hoover",
                damping: float | None = None) -> None:
        """Convenience: install (if changed) the thermostat and run. Default damping = 100 dt."""
        self.set_thermostat(thermostat, temperature, 100 * dt if damping is None else damping)
        self.run(nsteps, dt)

    # -------------------------------------------------------- minimisation
    def minimize(self, method: str = "cg", *, ftol: float = 1e-10, etol: float = 0.0, maxiter: int = 100000,
                 maxeval: int = 1000000, dmax: float = 0.1, fallback: bool = True) -> MinResult:
        """Minimise the potential energy in place (positions change, velocities are untouched).

        ``ftol`` bounds the largest force component (LAMMPS ``min_modify norm inf``); ``converged``
        re-checks it on the final forces, whatever LAMMPS gives as its stopping reason.  CG's line
        search can stall far from a minimum ("linesearch alpha is zero") on rough landscapes; with
        ``fallback`` such a stop is followed by FIRE and a final CG, within the same step budget.
        """
        res = self._minimize_once(method, ftol, etol, maxiter, maxeval, dmax)
        if fallback and method == "cg" and not res.converged and "iterations" not in res.reason:
            left = max(maxiter - res.iterations, 1)
            fire = self._minimize_once("fire", ftol, etol, left, maxeval, dmax)
            res2 = fire if fire.converged else self._minimize_once("cg", ftol, etol, max(left - fire.iterations, 1),
                                                                   maxeval, dmax)
            res = MinResult(res2.energy, res2.fmax, res.iterations + fire.iterations + (res2.iterations if res2 is not fire else 0),
                            res.evaluations + fire.evaluations + (res2.evaluations if res2 is not fire else 0),
                            res2.converged, f"{res.reason}; then FIRE/CG: {res2.reason}")
        return res

    def _minimize_once(self, method, ftol, etol, maxiter, maxeval, dmax) -> MinResult:
        styles = {"cg": "cg", "fire": "fire"}
        if method not in styles:
            raise TLSFinderError(f"minimiser must be one of {sorted(styles)}, got {method!r}")
        step0 = self.timestep
        log = Path(self._tmp.name) / "min.log"
        # The minimiser's statistics exist only in LAMMPS's log: write one per call and parse it.
        self._cmd(f"log {log}", f"min_style {styles[method]}", "min_modify norm inf")
        if method == "cg":
            self._cmd(f"min_modify dmax {_num(dmax)} line quadratic")
        self._cmd(f"minimize {_num(etol)} {_num(ftol)} {int(maxiter)} {int(maxeval)}", "log none")
        iters, evals, reason = _parse_min_log(log)
        self.force_evaluations += evals
        self._cmd(f"reset_timestep {step0}")
        e, f = self.energy_forces()
        self.force_evaluations -= 1  # that check is bookkeeping, not the minimiser's cost
        fmax = float(np.abs(f).max())
        return MinResult(e, fmax, iters, evals, bool(fmax <= ftol), reason)

    # -------------------------------------------------------------- state
    def save_state(self) -> State:
        return State(self.get_positions(), self.get_velocities(), self.get_species(), self.timestep,
                     raw_x=self._get("x"), raw_image=self._get("image"))

    def restore_state(self, state: State) -> None:
        self.set_species(state.species)
        if state.raw_x is not None and state.raw_image is not None:
            self._set("x", state.raw_x)
            self._set("image", state.raw_image)
        else:
            self.set_positions(state.positions)
        self.set_velocities(state.velocities)
        self._cmd(f"reset_timestep {int(state.timestep)}")

    def write_restart(self, path: str | Path) -> None:
        """LAMMPS binary restart (includes thermostat variables) for cross-process checkpoints."""
        self._cmd(f"write_restart {path}")


def _num(x) -> str:
    """A float as LAMMPS reads it, with full precision."""
    return repr(float(x))


def _parse_min_log(path: Path) -> tuple[int, int, str]:
    """(iterations, force evaluations, stopping criterion) from a LAMMPS minimisation log."""
    iters = evals = 0
    reason = "unknown"
    for line in Path(path).read_text().splitlines():
        if "Stopping criterion" in line:
            reason = line.split("=", 1)[1].strip()
        elif "Iterations, force evaluations" in line:
            a, b = line.split("=", 1)[1].split()
            iters, evals = int(a), int(b)
    return iters, evals, reason
