"""The outer loop: labels from NEB results, the stopping rule, the classical protocol.

Iteration k of the workflow (rules/loop.smk) ranks the candidate pairs, selects
K of them, runs NEB + splitting on them in batches and merges the new labels
into ``results/loop/iter{k+1}/labels.parquet`` (every label so far).  A cheap
local checkpoint then writes ``results/loop/iter{k}/decision.json``:

* stop when the TLS found per NEB in each of the last ``patience`` iterations is
  below ``min_yield``, or when k + 1 reaches ``max_iter``, or when iteration k
  selected no pair (nothing left to compute);
* otherwise continue with iteration k + 1.

``mode: classical`` is the protocol of Mocanu et al., "Microscopic observation of
two-level systems in a metallic glass model", J. Chem. Phys. 158, 014501 (2023),
Sec. III.B, for comparison on the same glasses:
one iteration that runs NEB on every pair crossed in both directions
(T_ij >= 1 and T_ji >= 1), no model.

Labels (columns of :mod:`tlsfinder.ml`): ``glass``, ``i``, ``j``, ``is_dw``,
``splitting`` (the splitting E in the loop's unit preset, NaN unless a DW),
``iteration``, ``neb_status`` (``dw``, ``non_dw``, ``split``, ``unconverged``,
``same_minimum``) and ``origin`` (``input``: a selected pair; ``split``: an
elementary sub-pair of a selected pair's path).  Every pair NEB computed is
labelled once, by its real IS ids (:mod:`tlsfinder.identity`), so no labelled pair
is selected again.  A pair whose path has intermediate minima (``split``) is a
class of its own, connected through intermediates: not a DW, not trained on as a
non-DW; its elementary sub-pairs carry their own labels.  An unconverged band is
labelled (never selected again) and not trained on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import TLSFinderError
from .identity import IdentityRule, library_header, merge_iteration, read_minima, write_minima
from .io import write_json, write_parquet
from .ml import check_labels_table, empty_labels, read_labels, selected_mask, write_labels
from .schema import defaults
from .splitting import valid_splitting
from .units import get_preset

_DEFAULTS = defaults("loop")


@dataclass
class LoopSettings:
    """The outer loop (config section ``loop``; defaults and meanings in the config schema)."""

    mode: str = _DEFAULTS["mode"]  # "ml" or "classical"
    max_iter: int = _DEFAULTS["max_iter"]
    min_yield: float = _DEFAULTS["min_yield"]  # TLS per NEB below which an iteration counts as saturated
    patience: int = _DEFAULTS["patience"]
    batch_size: int = _DEFAULTS["batch_size"]  # NEB pairs per job
    preset: str = _DEFAULTS["preset"]  # unit preset whose splitting labels the pairs and defines a TLS

    @classmethod
    def from_config(cls, config: dict) -> "LoopSettings":
        section = config.get("loop") or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise TLSFinderError(f"loop: unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**section)


def tls_threshold(config: dict) -> float:
    """Splitting below which a DW is a TLS in the loop's preset (k_B T_Q, eps): the one threshold of the
    ranking, the selection's yields, the stopping rule and the report (no separate ML threshold)."""
    return get_preset(config["model"]["name"], LoopSettings.from_config(config).preset).kT_Q


def n_batches(n_selected: int, batch_size: int) -> int:
    return max(0, math.ceil(n_selected / batch_size))


#: NEB-table statuses that label a pair; "known" rows (a sub-pair computed elsewhere) do not.
LABELLING_STATUSES = ("dw", "non_dw", "split", "unconverged", "same_minimum")


def labels_from_neb(table: pd.DataFrame, iteration: int, preset: str) -> pd.DataFrame:
    """Labels from a merged NEB table (real IS ids, :mod:`tlsfinder.identity`): one per selected
    pair and one per elementary sub-pair it was split into, written with i < j.

    ``neb_status`` is the row's outcome: ``dw``, ``non_dw``, ``split`` (connected through
    intermediate minima: a class of its own, not trained on, :data:`tlsfinder.ml.UNTRAINED_STATUSES`),
    ``unconverged`` or ``same_minimum``; ``origin`` says whether the pair was selected
    (``input``) or is a sub-pair (``split``).  Within the table the first row of a pair wins.
    """
    if len(table) == 0:
        return empty_labels().assign(neb_status=pd.Series(dtype=str), origin=pd.Series(dtype=str))
    col = f"E_{preset}"
    if col not in table.columns and (table["status"] == "dw").any():
        raise TLSFinderError(f"NEB table has no splitting column {col!r} for preset {preset!r}; "
                             f"columns: {sorted(c for c in table.columns if c.startswith('E_'))}")
    rows = table[table["status"].astype(str).isin(LABELLING_STATUSES)]
    i, j = rows["i"].to_numpy(dtype=np.int64), rows["j"].to_numpy(dtype=np.int64)
    ok = i != j  # a sub-pair whose ends are one IS is no pair
    is_dw = rows["status"].to_numpy() == "dw"
    split = rows[col].to_numpy(dtype=float) if col in rows.columns else np.full(len(rows), np.nan)
    # a splitting that decides nothing (splitting.decides) is no label, nor a TLS for the stopping rule
    split = np.where(valid_splitting(rows, preset), split, np.nan)
    origin = rows["origin"].astype(str).to_numpy() if "origin" in rows.columns else np.full(len(rows), "input")
    out = pd.DataFrame({
        "glass": rows["glass"].astype(str).to_numpy(),
        "i": np.minimum(i, j),
        "j": np.maximum(i, j),
        "is_dw": is_dw,
        "splitting": np.where(is_dw, split, np.nan),
        "iteration": np.full(len(rows), int(iteration), dtype=np.int64),
        "neb_status": rows["status"].astype(str).to_numpy(),
        "origin": origin,
    })[ok]
    return out.drop_duplicates(["glass", "i", "j"], keep="first").reset_index(drop=True)


def merge_labels(previous: str | Path | None, neb_tables: list[str], iteration: int, preset: str,
                 out: str | Path, model: str | None = None) -> pd.DataFrame:
    """Labels so far plus those of iteration ``iteration``'s merged NEB table; written to ``out``
    (with ``model``: recording the glass model and preset, :func:`tlsfinder.ml.write_labels`).
    A pair labelled before keeps its first label."""
    prev = read_labels(previous, model, preset) if previous else empty_labels()
    if "neb_status" not in prev.columns:
        prev = prev.assign(neb_status="imported")
    if "origin" not in prev.columns:
        prev = prev.assign(origin="imported")
    new = [labels_from_neb(pd.read_parquet(f), iteration, preset) for f in neb_tables]
    merged = pd.concat([prev] + new, ignore_index=True)
    merged = merged.drop_duplicates(["glass", "i", "j"], keep="first").reset_index(drop=True)
    merged = check_labels_table(merged, source=str(out))
    if model is None:
        write_parquet(out, merged)
    else:
        write_labels(out, merged, model, preset)
    return merged


def merge_neb(batch_tables: list[str], batch_minima: list[str], previous_minima: str | None,
              libraries: list[str], config: dict, iteration: int, out_table, out_minima) -> pd.DataFrame:
    """The NEB table of one iteration (all batches, every IS id real) and the NEB minima so far
    (:func:`tlsfinder.identity.merge_iteration`); written to ``out_table`` and ``out_minima``."""
    if len(batch_tables) != len(batch_minima):
        raise TLSFinderError(f"iteration {iteration}: {len(batch_tables)} NEB tables but {len(batch_minima)} "
                             "minima files")
    libs = {}
    for path in libraries:
        glass, n_is, box = library_header(path)
        libs[glass] = (n_is, box)
    merged, minima = merge_iteration([pd.read_parquet(f) for f in batch_tables],
                                     [read_minima(f) for f in batch_minima],
                                     read_minima(previous_minima) if previous_minima else None, libs,
                                     IdentityRule.from_config(config), iteration)
    write_minima(out_minima, minima)
    write_parquet(out_table, merged)
    return merged


def decide(labels: pd.DataFrame, iteration: int, n_selected: int, settings: LoopSettings,
           tls_splitting_max: float) -> dict[str, Any]:
    """Whether to run iteration ``iteration + 1`` (see the module docstring)."""
    labels = check_labels_table(labels)
    tls = labels["is_dw"].to_numpy() & (labels["splitting"].to_numpy() < tls_splitting_max)
    selected = selected_mask(labels)
    per_iter = []
    for k in range(iteration + 1):
        mask = labels["iteration"].to_numpy() == k
        n = int((mask & selected).sum())
        per_iter.append({"iteration": k, "n_neb": n, "n_tls": int(tls[mask].sum()),
                         "tls_per_neb": float(tls[mask].sum() / n) if n else 0.0})
    recent = per_iter[-settings.patience:]
    if settings.mode == "classical":
        stop, reason = True, "classical protocol: one pass over all pairs crossed both ways"
    elif n_selected == 0:
        stop, reason = True, "no unlabelled candidate pair left"
    elif iteration + 1 >= settings.max_iter:
        stop, reason = True, f"reached loop.max_iter = {settings.max_iter}"
    elif len(per_iter) >= settings.patience and all(r["tls_per_neb"] < settings.min_yield for r in recent):
        stop, reason = True, (f"saturated: TLS per NEB below loop.min_yield = {settings.min_yield} in the last "
                              f"{settings.patience} iteration(s)")
    else:
        stop, reason = False, "continue"
    return {"iteration": iteration, "stop": stop, "reason": reason, "yields": per_iter,
            "total_tls": int(tls.sum()), "total_neb": int(selected.sum())}


def write_decision(path: str | Path, decision: dict) -> None:
    write_json(path, decision)


def read_decision(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def classical_selection(pairs: pd.DataFrame) -> pd.DataFrame:
    """The classical candidates (Mocanu et al. 2023, Sec. III.B): every pair crossed in both directions,
    smallest |Delta_E| first."""
    both = (pairs["Tij"].to_numpy() >= 1) & (pairs["Tji"].to_numpy() >= 1)
    sel = pairs.loc[both, ["glass", "i", "j", "Delta_E"]].copy()
    sel = sel.iloc[np.argsort(np.abs(sel["Delta_E"].to_numpy()), kind="stable")].reset_index(drop=True)
    sel["rank"] = np.arange(len(sel), dtype=np.int64)
    sel["reason"] = "classical"
    return sel.drop(columns="Delta_E")
