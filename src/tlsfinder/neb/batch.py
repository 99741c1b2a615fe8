"""The DW table: NEB on a batch of selected pairs (the workflow's ``neb`` rule), one row per pair.

DW table columns (one row per pair or elementary sub-pair): ``pair_id``,
``parent`` (pair id it was split from, or empty), ``origin`` ("input" or
"split"), ``status`` ("dw", "non_dw", "unconverged", "split", "same_minimum", and in the
workflow's batches "known": a sub-pair not run again, see :func:`run_batch`),
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
workflow's batch tables also ``glass``, ``i``, ``j`` (IS ids; negative, provisional,
for a minimum the IS library lacks, :mod:`tlsfinder.identity`).  ``force_calls`` counts every
single-configuration force evaluation made while the band relaxed, including
minimisations of intermediate dips.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import TLSFinderError, paths
from ..explore import read_is_library
from ..identity import IdentityRule, MinimaIndex, empty_minima, write_minima
from ..io import write_parquet
from ..ml import read_labels
from ..models import model_from_config
from .files import write_pair_files
from .minima import Minimum
from .pair import ElementaryWellSplitter, PairResult, neb_pair
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


class _CatalogueSplitter(ElementaryWellSplitter):
    """The splitter of a workflow batch: a sub-pair whose two minima are IS already labelled,
    selected in this iteration (any batch) or run earlier in this batch is not run again
    (status ``known``): its own NEB gives its row and label."""

    def __init__(self, *args, ids: "_GlassIds", done: set, **kwargs):
        super().__init__(*args, **kwargs)
        self.ids, self.done = ids, done

    def split(self, ma, mb, pair_id, parent, origin, depth, *args, **kwargs):
        if depth > 0:
            a, b = self.ids.resolve(ma, pair_id), self.ids.resolve(mb, pair_id)
            key = (min(a, b), max(a, b))
            if a != b and key in self.done:
                row = dict(pair_id=pair_id, parent=parent, origin=origin, status="known", e_A=ma.energy,
                           e_B=mb.energy, neb_converged=False, neb_steps=0, force_calls=0, n_intermediate=0)
                log.info("pair %s: IS %d-%d already labelled or selected: not run again", pair_id, *key)
                return [PairResult(pair_id, parent, origin, "known", ma.positions, mb.positions, ma.energy,
                                   mb.energy, None, row)]
            self.done.add(key)
        return super().split(ma, mb, pair_id, parent, origin, depth, *args, **kwargs)


class _GlassIds:
    """Ids of the minima of the glass being worked on: its IS library, then the minima this batch
    found that the library lacks (provisional ids -1, -2, ...; :mod:`tlsfinder.identity`)."""

    def __init__(self, lib: dict, glass: str, rule: IdentityRule, found: dict):
        self.glass, self.n = glass, len(lib["species"])
        self.index = MinimaIndex(lib["box"], rule, lib["positions"], lib["energy"])
        self.found = found  # the batch's new minima, all glasses (identity.write_minima's lists)
        for g, k, pos, e in zip(found["glass"], found["id"], found["positions"], found["energy"]):
            if g == glass:
                self.index.add(pos, e, k)

    def resolve(self, m, pair_id: str) -> int:
        """Id of minimum ``m`` (a :class:`Minimum` or an (positions, total energy) pair)."""
        pos, e = (m.positions, m.energy) if isinstance(m, Minimum) else m
        k = self.index.find(pos, e / self.n)
        if k is None:
            k = self.index.add(pos, e / self.n, -1 - len(self.found["id"]))
            for key, v in (("glass", self.glass), ("id", k), ("positions", np.array(pos)),
                           ("energy", e / self.n), ("found_by", pair_id), ("iteration", -1)):
                self.found[key].append(v)
        return k


def run_batch(config: dict, selected_path, libraries: dict, batch: int, n_batches: int, out_path,
              paths_dir, labels_path=None, minima_path=None) -> pd.DataFrame:
    """NEB on the selected pairs with row number % n_batches == batch; write the DW table.

    ``libraries``: glass id (e.g. "T0.617/g3") -> IS library path.  Pair ids are
    "<glass>/<i>-<j>"; sub-pairs from splits append ".1", ".2", ...  Every
    endpoint is matched against the glass's IS library with the identity rule
    (:class:`tlsfinder.identity.IdentityRule`, the config's ``explore``
    tolerances); a minimum the library lacks gets a provisional id -1, -2, ... and
    is written to ``minima_path`` (the merge step gives it its real id).  A
    sub-pair of two IS already labelled (``labels_path``, the labels the
    iteration started from), selected in this iteration or run earlier in this
    batch is not run again (status ``known``).
    """
    sel = pd.read_parquet(selected_path)
    for col in ("glass", "i", "j"):
        if col not in sel.columns:
            raise TLSFinderError(f"{selected_path}: column {col!r} missing (have {list(sel.columns)})")
    if not 0 <= batch < n_batches:
        raise TLSFinderError(f"batch {batch} out of range 0..{n_batches - 1}")
    mine = sel.iloc[batch::n_batches]
    settings, presets, sopts = settings_from_config(config)
    rule = IdentityRule.from_config(config)
    done: dict[str, set] = {}
    known = [sel] + ([read_labels(labels_path)] if labels_path else [])
    for t in known:
        for g, i, j in zip(t["glass"].astype(str), t["i"].astype(int), t["j"].astype(int)):
            done.setdefault(g, set()).add((min(i, j), max(i, j)))
    found = empty_minima()
    lib, ids, glass_now = None, None, None
    frames = []
    for _, p in mine.iterrows():
        glass, i, j = str(p["glass"]), int(p["i"]), int(p["j"])
        if glass not in libraries:
            raise TLSFinderError(f"{selected_path}: glass {glass!r} has no IS library among the inputs")
        if glass != glass_now:  # one glass at a time in memory
            lib = read_is_library(libraries[glass])
            ids, glass_now = _GlassIds(lib, glass, rule, found), glass
        n_is = len(lib["energy"])
        for v in (i, j):
            if not 0 <= v < n_is:
                raise TLSFinderError(f"{selected_path}: IS id {v} of glass {glass} not in its library (0..{n_is - 1})")
        model = model_from_config(lib["model"])
        pair_id = paths.pair_id(glass, i, j)
        t0 = time.perf_counter()
        splitter = functools.partial(_CatalogueSplitter, ids=ids, done=done.setdefault(glass, set()))
        res = neb_pair(model, lib["box"], lib["species"], lib["positions"][i], lib["positions"][j], settings,
                       presets, pair_id=pair_id, splitting_options=sopts, splitter_factory=splitter)
        for r in res:
            files = write_pair_files(r, paths_dir, lib["species"], lib["box"])
            r.row.update({k: str(Path(v).name) for k, v in files.items()})
        df = dw_table(res, {"glass": glass})
        # The selected pair keeps its ids; the minima of sub-pairs are looked up.
        df["i"] = [i if r.origin == "input" else ids.resolve((r.pos_a, r.e_a), r.pair_id) for r in res]
        df["j"] = [j if r.origin == "input" else ids.resolve((r.pos_b, r.e_b), r.pair_id) for r in res]
        frames.append(df)
        log.info("pair %s: %s in %.1f s (%d sub-pairs)", pair_id, res[0].status, time.perf_counter() - t0,
                 len(res) - 1)
    out = pd.concat(frames, ignore_index=True) if frames else dw_table([])
    for c in ("i", "j"):
        out[c] = out[c].astype("int64") if c in out.columns else pd.Series([], dtype="int64")
    if minima_path is not None:
        write_minima(minima_path, found)
    if found["id"]:
        log.info("batch %d: %d minimum(s) found by NEB that the IS libraries lack", batch, len(found["id"]))
    write_parquet(out_path, out)
    return out
