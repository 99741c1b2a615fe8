"""The DW table: NEB on a batch of selected pairs (the workflow's ``neb`` rule), one row per pair.

DW table columns (one row per pair or elementary sub-pair): ``pair_id``,
``parent`` (pair id it was split from, or empty), ``origin`` ("input" or
"split"), ``status`` ("dw", "non_dw", "unconverged", "split", "same_minimum"),
``neb_converged``,
``neb_steps``, ``force_calls``, ``fmax``, ``n_images``, ``e_A``, ``e_B``
(total energies of the minimised endpoints, eps), ``d`` (sigma),
``total_displacement`` (sqrt of sum |dr_i|^2, sigma), ``PR``
(:mod:`tlsfinder.geometry`),
``translation_removed`` (norm of the removed rigid shift, sigma),
``n_intermediate`` (intermediate minima found), ``saddle_image``,
``neb_wall_s``, ``path_csv``/``path_xyz``/``saddle_xyz`` (file names, when
written, :func:`write_pair_files`), and for ``status = "dw"`` the columns of
:func:`tlsfinder.splitting.analyse_mep` (per preset suffix).  In the
workflow's batch tables also ``glass``, ``i``, ``j`` (IS ids; -1 for a
sub-pair endpoint that is a new minimum).  ``force_calls`` counts every
single-configuration force evaluation made while the band relaxed, including
minimisations of intermediate dips.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pandas as pd

from .. import TLSFinderError, paths
from ..explore import read_is_library
from ..io import write_parquet
from ..models import model_from_config
from .files import write_pair_files
from .minima import same_minimum
from .pair import PairResult, neb_pair
from .settings import settings_from_config

log = logging.getLogger(__name__)

#: Columns every DW-table row has (the splitting columns follow, per preset).
ROW_COLUMNS = ("glass", "i", "j", "pair_id", "parent", "origin", "status", "neb_converged", "neb_steps",
               "force_calls", "fmax", "n_images", "saddle_image", "neb_wall_s", "n_intermediate", "e_A", "e_B",
               "d", "total_displacement", "PR", "translation_removed")


def dw_table(results: list[PairResult], extra: dict | None = None) -> pd.DataFrame:
    """Rows of the DW table (module docstring) for a list of pair results."""
    rows = []
    for r in results:
        row = {k: r.row.get(k) for k in ROW_COLUMNS if k in r.row}
        row.update({k: v for k, v in r.row.items() if k not in row})
        row.update(extra or {})
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("glass", "pair_id", "parent", "origin", "status"):
        if col in df:
            df[col] = df[col].astype("string")
    return df


def run_batch(config: dict, selected_path, libraries: dict, batch: int, n_batches: int, out_path,
              paths_dir) -> pd.DataFrame:
    """NEB on the selected pairs with row number % n_batches == batch; write the DW table.

    ``libraries``: glass id (e.g. "T0.617/g3") -> IS library path.  Pair ids are
    "<glass>/<i>-<j>"; sub-pairs from splits append ".1", ".2", ...; their
    endpoints that are new minima have i or j = -1 (the ids of the input pair's
    minima are kept where they coincide).
    """
    sel = pd.read_parquet(selected_path)
    for col in ("glass", "i", "j"):
        if col not in sel.columns:
            raise TLSFinderError(f"{selected_path}: column {col!r} missing (have {list(sel.columns)})")
    if not 0 <= batch < n_batches:
        raise TLSFinderError(f"batch {batch} out of range 0..{n_batches - 1}")
    mine = sel.iloc[batch::n_batches]
    settings, presets, sopts = settings_from_config(config)
    cache: dict = {}
    frames = []
    for _, p in mine.iterrows():
        glass, i, j = str(p["glass"]), int(p["i"]), int(p["j"])
        if glass not in libraries:
            raise TLSFinderError(f"{selected_path}: glass {glass!r} has no IS library among the inputs")
        if glass not in cache:
            cache = {glass: read_is_library(libraries[glass])}  # one glass at a time in memory
        lib = cache[glass]
        n_is = len(lib["energy"])
        for v in (i, j):
            if not 0 <= v < n_is:
                raise TLSFinderError(f"{selected_path}: IS id {v} of glass {glass} not in its library (0..{n_is - 1})")
        model = model_from_config(lib["model"])
        pair_id = paths.pair_id(glass, i, j)
        t0 = time.perf_counter()
        res = neb_pair(model, lib["box"], lib["species"], lib["positions"][i], lib["positions"][j], settings,
                       presets, pair_id=pair_id, splitting_options=sopts)
        for r in res:
            files = write_pair_files(r, paths_dir, lib["species"], lib["box"])
            r.row.update({k: str(Path(v).name) for k, v in files.items()})
        df = dw_table(res, {"glass": glass})
        df["i"] = [i if r.origin == "input" else _known_id(r, lib, i, j, settings, True) for r in res]
        df["j"] = [j if r.origin == "input" else _known_id(r, lib, i, j, settings, False) for r in res]
        frames.append(df)
        log.info("pair %s: %s in %.1f s (%d sub-pairs)", pair_id, res[0].status, time.perf_counter() - t0,
                 len(res) - 1)
    out = pd.concat(frames, ignore_index=True) if frames else dw_table([])
    write_parquet(out_path, out)
    return out


def _known_id(r: PairResult, lib, i, j, settings, first: bool) -> int:
    pos = r.pos_a if first else r.pos_b
    for v in (i, j):
        if same_minimum(pos, lib["positions"][v], lib["box"], settings.same_min_tol):
            return v
    return -1
