"""Files of the NEB step: the path files written for each pair, and the endpoint files read by
``tlsfinder neb``.

Outputs of :func:`write_pair_files` for a pair ``<name>`` (:func:`safe_name` of its id):

* ``<name>.path.csv``: image, s (arc length in 3N space, sigma), xi = s / d,
  energy (total, eps), f_par (true force along the tangent, eps/sigma), and for a double well
  analysed with ``neb.end_curvature: hessian`` the constants k_start, t3_start, k_end, t3_end
  (V'' and V''' outward at the two minima);
  readable by ``tlsfinder splitting``;
* ``<name>.path.xyz``: extended XYZ of all images (energy in each frame;
  KA2 types A, B, C as atomic numbers 1, 2, 3; PSS diameters in ``diameter``);
* ``<name>.saddle.xyz``: the climbing image (the saddle) in extended XYZ.

ASE is imported inside the functions that use it (about a second to import, which every
command would otherwise pay).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from .. import TLSFinderError
from ..explore import read_is_library
from ..io import atomic_path, read_glass
from ..splitting import END_COLUMNS
from .pair import PairResult


def safe_name(pair_id: str) -> str:
    """A file name for a pair id ('T0.617/g3/12-45' -> 'T0.617_g3_12-45')."""
    return "".join(c if (c.isalnum() or c in "-._") else "_" for c in str(pair_id))


def write_pair_files(result: PairResult, outdir, species, box) -> dict:
    """Path CSV, path extended XYZ and saddle extended XYZ of one pair; returns their paths."""
    import ase  # imported here: see the module docstring
    import ase.io

    band = result.band
    if band is None:
        return {}
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    stem = outdir / safe_name(result.pair_id)
    s = band.s
    df = pd.DataFrame({"image": np.arange(len(s)), "s": s, "xi": s / s[-1], "energy": band.energies,
                       "f_par": band.f_par})
    for col in END_COLUMNS:  # V'' and V''' at the minima, when the analysis took them from the Hessian
        if result.row.get(col) is not None:
            df[col] = float(result.row[col])
    files = {"path_csv": f"{stem}.path.csv", "path_xyz": f"{stem}.path.xyz", "saddle_xyz": f"{stem}.saddle.xyz"}
    with atomic_path(files["path_csv"]) as tmp:
        df.to_csv(tmp, index=False, float_format="%.17g")
    numbers = _numbers(species)
    cell = np.diag(np.asarray(box, dtype=float))
    frames = []
    for k, (x, e) in enumerate(zip(band.images, band.energies)):
        at = ase.Atoms(numbers=numbers, positions=x, cell=cell, pbc=True)
        if not np.issubdtype(np.asarray(species).dtype, np.integer):
            at.arrays["diameter"] = np.asarray(species, dtype=float)
        at.info.update(energy=float(e), image=k, pair_id=result.pair_id)
        frames.append(at)
    with atomic_path(files["path_xyz"]) as tmp:
        ase.io.write(tmp, frames, format="extxyz")
    sad = frames[band.climb_index].copy()
    sad.info.update(energy=float(band.energies[band.climb_index]), image=band.climb_index, pair_id=result.pair_id)
    with atomic_path(files["saddle_xyz"]) as tmp:
        ase.io.write(tmp, [sad], format="extxyz")
    return files


def _numbers(species) -> np.ndarray:
    """Atomic numbers for viewers: KA2 types A, B, C -> 1, 2, 3; PSS -> 1 (diameters in arrays)."""
    sp_ = np.asarray(species)
    if np.issubdtype(sp_.dtype, np.integer):
        return sp_.astype(int) + 1
    return np.ones(len(sp_), dtype=int)


def read_endpoint(spec: str, model_cfg: dict | None):
    """(positions, box, species, model config) from 'glass.h5', 'library.h5:ID' or an extended XYZ file."""
    path, _, idx = spec.partition(":") if spec.count(":") == 1 and not Path(spec).exists() else (spec, "", "")
    p = Path(path)
    if not p.exists():
        raise TLSFinderError(f"{path}: no such file")
    if p.suffix.lower() in (".h5", ".hdf5"):
        with h5py.File(p, "r") as h:
            fmt = h.attrs.get("format")
        if idx:
            lib = read_is_library(p)
            k = int(idx)
            if not 0 <= k < len(lib["energy"]):
                raise TLSFinderError(f"{spec}: IS id {k} not in the library (0..{len(lib['energy']) - 1})")
            return lib["positions"][k], lib["box"], lib["species"], lib["model"]
        if fmt is not None and "islib" in str(fmt):
            raise TLSFinderError(f"{path}: an IS library: give the IS id as {path}:ID")
        g = read_glass(p)
        return g.positions, g.box, g.species, g.model
    import ase.io  # imported here: see the module docstring

    try:
        at = ase.io.read(str(p), index=-1, format="extxyz")
    except Exception as exc:  # noqa: BLE001
        raise TLSFinderError(f"{path}: cannot be read as extended XYZ ({exc})")
    if model_cfg is None:
        raise TLSFinderError(f"{path}: an XYZ file does not say its model: pass --config with a model section")
    if "diameter" in at.arrays:
        species = np.asarray(at.arrays["diameter"], dtype=float)
    else:
        species = at.numbers.astype(np.int64) - 1
    return at.positions, at.cell.lengths(), species, dict(model_cfg, n=len(at))
