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
``iteration``, and ``neb_status`` (``dw``, ``non_dw``, ``split``,
``unconverged``).  A pair whose path has intermediate minima is split by the
NEB stage into elementary double wells; the pair itself is labelled non-DW
(its path is not one double well).  A band that did not converge is labelled
non-DW too, so that it is not selected again, and is kept apart by its
``neb_status`` (the ML stage trains on it as a non-DW: conservative).
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
from .io import write_json, write_parquet
from .ml import check_labels_table, empty_labels, read_labels
from .schema import defaults
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
    """Splitting below which a DW is a TLS in the loop's preset (k_B T_Q, eps)."""
    return get_preset(config["model"]["name"], LoopSettings.from_config(config).preset).kT_Q


def n_batches(n_selected: int, batch_size: int) -> int:
    return max(0, math.ceil(n_selected / batch_size))


def labels_from_neb(table: pd.DataFrame, iteration: int, preset: str) -> pd.DataFrame:
    """One label per selected pair from an NEB batch table (rows of origin ``input``)."""
    if len(table) == 0:
        return empty_labels().assign(neb_status=pd.Series(dtype=str))
    rows = table[table["origin"] == "input"] if "origin" in table.columns else table
    col = f"E_{preset}"
    if col not in rows.columns:
        raise TLSFinderError(f"NEB table has no splitting column {col!r} for preset {preset!r}; "
                             f"columns: {sorted(c for c in rows.columns if c.startswith('E_'))}")
    is_dw = rows["status"].to_numpy() == "dw"
    out = pd.DataFrame({
        "glass": rows["glass"].astype(str).to_numpy(),
        "i": rows["i"].to_numpy(dtype=np.int64),
        "j": rows["j"].to_numpy(dtype=np.int64),
        "is_dw": is_dw,
        "splitting": np.where(is_dw, rows[col].to_numpy(dtype=float), np.nan),
        "iteration": np.full(len(rows), int(iteration), dtype=np.int64),
        "neb_status": rows["status"].astype(str).to_numpy(),
    })
    return out


def merge_labels(previous: str | Path | None, batch_files: list[str], iteration: int, preset: str,
                 out: str | Path) -> pd.DataFrame:
    """Labels so far plus those of iteration ``iteration``'s NEB batches; written to ``out``."""
    prev = read_labels(previous) if previous else empty_labels()
    if "neb_status" not in prev.columns:
        prev = prev.assign(neb_status="imported")
    new = [labels_from_neb(pd.read_parquet(f), iteration, preset) for f in batch_files]
    merged = pd.concat([prev] + new, ignore_index=True)
    merged = merged.drop_duplicates(["glass", "i", "j"], keep="first").reset_index(drop=True)
    merged = check_labels_table(merged, source=str(out))
    write_parquet(out, merged)
    return merged


def decide(labels: pd.DataFrame, iteration: int, n_selected: int, settings: LoopSettings,
           tls_splitting_max: float) -> dict[str, Any]:
    """Whether to run iteration ``iteration + 1`` (see the module docstring)."""
    labels = check_labels_table(labels)
    tls = labels["is_dw"].to_numpy() & (labels["splitting"].to_numpy() < tls_splitting_max)
    per_iter = []
    for k in range(iteration + 1):
        mask = labels["iteration"].to_numpy() == k
        n = int(mask.sum())
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
            "total_tls": int(tls.sum()), "total_neb": int(len(labels))}


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
