"""One identity for the minima of a glass, and real ids for the minima NEB finds.

Two minima of one glass are the same inherent structure (IS) when their energies
per particle differ by less than ``explore.energy_tol`` and their distance
(Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass model",
J. Chem. Phys. 158, 014501, Eq. 7; minimum image) is below
``explore.distance_tol``: the exploration's rule (:mod:`tlsfinder.explore`), with
the rigid translation between the two removed first, because the NEB aligns its
endpoints that way (:func:`tlsfinder.neb.minima.align`).  Energies of the same
minimum from the exploration (LAMMPS) and from the NEB's own force field agree to
~1e-13 per particle, so the exploration's tolerances apply unchanged.

Ids.  The IS library of a glass numbers its IS 0 .. n_IS - 1.  A minimum that a
NEB finds inside a path and that the library lacks continues the numbering: the
workflow's merge step (:func:`merge_iteration`) gives it the id n_IS + m, m
counting the NEB minima of that glass in the order they were first found
(iteration, then batch, then row), and keeps it in the iteration's NEB-minima
file (:data:`tlsfinder.paths.NEB_MINIMA`, the library's extension), with the pair
that found it.  Inside one NEB batch such a minimum has a provisional negative id
(-1, -2, ... in the order the batch found it; its positions are in the batch's
minima file), replaced by the real id when the iteration's batches are merged.
So every id of the merged NEB table, the labels and the catalogue is real: one
catalogue row per unordered pair of IS per glass.

NEB-minima file (HDF5, ``format = "tlsfinder-nebminima/1"``): datasets ``glass``
(strings), ``id`` (int64; negative in a batch file), ``positions`` (m, N, 3),
``energy`` (m,) per particle (eps), ``found_by`` (pair id, strings),
``iteration`` (int64).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import TLSFinderError
from .geometry import displacements, rms_distance
from .io import atomic_path
from .schema import default

log = logging.getLogger(__name__)

NEB_MINIMA_FORMAT = "tlsfinder-nebminima/1"


@dataclass(frozen=True)
class IdentityRule:
    """When two minima of one glass are the same IS (module docstring).

    energy_tol: energy per particle (eps); distance_tol: Eq. 7 distance after removing
    the rigid translation (sigma).
    """

    energy_tol: float = default("explore.energy_tol")
    distance_tol: float = default("explore.distance_tol")

    @classmethod
    def from_config(cls, config: dict) -> "IdentityRule":
        """The rule of a config's ``explore`` section (its tolerances, else the schema's defaults)."""
        section = config.get("explore") or {}
        return cls(float(section.get("energy_tol", cls.energy_tol)),
                   float(section.get("distance_tol", cls.distance_tol)))

    def distance(self, pos_a, pos_b, box) -> float:
        """Eq. 7 distance between two configurations, rigid translation removed (sigma)."""
        d = displacements(pos_a, pos_b, box)
        return rms_distance(d - d.mean(axis=0))

    def same(self, pos_a, e_a: float, pos_b, e_b: float, box) -> bool:
        """Same IS?  ``e_a``, ``e_b``: energies per particle."""
        return abs(e_a - e_b) < self.energy_tol and self.distance(pos_a, pos_b, box) < self.distance_tol


class MinimaIndex:
    """The known minima of one glass with their ids; :meth:`find` applies the identity rule,
    comparing positions only for minima within the energy tolerance."""

    def __init__(self, box, rule: IdentityRule, positions=(), energies=(), ids=None):
        self.box = np.asarray(box, dtype=float)
        self.rule = rule
        self.positions = [np.asarray(p, dtype=float) for p in positions]
        self.energies = [float(e) for e in energies]
        self.ids = [int(k) for k in (range(len(self.energies)) if ids is None else ids)]
        if len(self.positions) != len(self.energies) or len(self.ids) != len(self.energies):
            raise TLSFinderError("MinimaIndex: positions, energies and ids differ in length")

    def __len__(self) -> int:
        return len(self.energies)

    def find(self, pos, e: float) -> int | None:
        """Id of the known minimum that is the same IS as (``pos``, ``e`` per particle), or None."""
        if not self.energies:
            return None
        en = np.asarray(self.energies)
        cand = np.flatnonzero(np.abs(en - e) < self.rule.energy_tol)
        for c in cand[np.argsort(np.abs(en[cand] - e), kind="stable")]:
            if self.rule.distance(pos, self.positions[c], self.box) < self.rule.distance_tol:
                return self.ids[c]
        return None

    def add(self, pos, e: float, ident: int) -> int:
        self.positions.append(np.asarray(pos, dtype=float))
        self.energies.append(float(e))
        self.ids.append(int(ident))
        return int(ident)


# ---------------------------------------------------------------------------
# NEB-minima files
# ---------------------------------------------------------------------------


def empty_minima() -> dict:
    return {"glass": [], "id": [], "positions": [], "energy": [], "found_by": [], "iteration": []}


def write_minima(path, minima: dict) -> None:
    """Write a NEB-minima file (module docstring); ``minima``: lists by dataset name."""
    import h5py

    m = len(minima["id"])
    pos = np.asarray(minima["positions"], dtype=float) if m else np.zeros((0, 0, 3))
    str_dt = h5py.string_dtype()
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h:
            h.attrs["format"] = NEB_MINIMA_FORMAT
            h["glass"] = np.asarray([str(g) for g in minima["glass"]], dtype=object).astype(str_dt)
            h["id"] = np.asarray(minima["id"], dtype=np.int64)
            h["positions"] = pos
            h["energy"] = np.asarray(minima["energy"], dtype=float)
            h["found_by"] = np.asarray([str(g) for g in minima["found_by"]], dtype=object).astype(str_dt)
            h["iteration"] = np.asarray(minima["iteration"], dtype=np.int64)


def read_minima(path) -> dict:
    """Read a NEB-minima file into lists by dataset name (``positions``: a list of (N, 3) arrays)."""
    import h5py

    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: no such NEB-minima file")
    try:
        with h5py.File(path, "r") as h:
            if h.attrs.get("format") != NEB_MINIMA_FORMAT:
                raise TLSFinderError(f"{path}: not a NEB-minima file (format {h.attrs.get('format')!r})")
            out = {
                "glass": list(h["glass"].asstr()[()]),
                "id": [int(k) for k in h["id"][()]],
                "positions": list(h["positions"][()]),
                "energy": [float(e) for e in h["energy"][()]],
                "found_by": list(h["found_by"].asstr()[()]),
                "iteration": [int(k) for k in h["iteration"][()]],
            }
    except TLSFinderError:
        raise
    except (OSError, KeyError) as exc:
        raise TLSFinderError(f"{path}: unreadable or truncated NEB-minima file ({exc})") from exc
    return out


def library_header(path) -> tuple[str, int, np.ndarray]:
    """(glass id, n_IS, box) of an IS library, without reading its positions."""
    from .explore import read_is_library

    lib = read_is_library(path, positions=False)
    return lib["glass"], int(len(lib["energy"])), np.asarray(lib["box"], dtype=float)


def merge_iteration(tables: list[pd.DataFrame], batch_minima: list[dict], previous: dict | None,
                    libraries: dict[str, tuple[int, np.ndarray]], rule: IdentityRule,
                    iteration: int) -> tuple[pd.DataFrame, dict]:
    """The NEB table of one iteration with real ids, and the NEB minima so far.

    ``tables``, ``batch_minima``: each batch's table and minima (same order);
    ``previous``: the NEB minima of earlier iterations (None at iteration 0);
    ``libraries``: glass -> (n_IS, box).  A batch minimum that is the same IS as
    one found before (earlier iteration, batch or row) takes its id; otherwise it
    gets the next id of its glass (module docstring).
    """
    reg = {k: list(v) for k, v in (previous or empty_minima()).items()}
    index: dict[str, MinimaIndex] = {}
    next_id: dict[str, int] = {}
    for g, (n_is, box) in libraries.items():
        mine = [n for n, gg in enumerate(reg["glass"]) if gg == g]
        index[g] = MinimaIndex(box, rule, [reg["positions"][n] for n in mine], [reg["energy"][n] for n in mine],
                               [reg["id"][n] for n in mine])
        next_id[g] = max([n_is - 1] + [reg["id"][n] for n in mine]) + 1
    frames = []
    for b, (table, found) in enumerate(zip(tables, batch_minima)):
        real: dict[tuple[str, int], int] = {}
        for g, k, pos, e, by in zip(found["glass"], found["id"], found["positions"], found["energy"],
                                    found["found_by"]):
            if g not in index:
                raise TLSFinderError(f"NEB batch {b}: a minimum of glass {g!r}, which has no IS library among the "
                                     "inputs")
            ident = index[g].find(pos, e)
            if ident is None:
                ident = index[g].add(pos, e, next_id[g])
                next_id[g] += 1
                for key, v in (("glass", g), ("id", ident), ("positions", np.asarray(pos)), ("energy", e),
                               ("found_by", by), ("iteration", iteration)):
                    reg[key].append(v)
            real[(g, int(k))] = ident
        t = table.copy()
        if len(t):
            for c in ("i", "j"):
                v = t[c].to_numpy(dtype=np.int64)
                out = v.copy()
                for n in np.flatnonzero(v < 0):
                    key = (str(t["glass"].iloc[n]), int(v[n]))
                    if key not in real:
                        raise TLSFinderError(f"NEB batch {b}: row {t['pair_id'].iloc[n]} has provisional IS id "
                                             f"{v[n]} but the batch's minima file does not hold it")
                    out[n] = real[key]
                t[c] = out
        t["iteration"] = np.int64(iteration)
        t["batch"] = np.int64(b)
        frames.append(t)
    merged = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else (
        frames[0] if frames else pd.DataFrame())
    return merged, reg
