"""The report stage: read the workflow's tables, write the catalogue, tables, plots and summary."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping

import numpy as np

from .. import TLSFinderError, paths
from ..io import atomic_path, read_table, write_parquet
from ..loop import tls_threshold
from ..models import model_from_config
from ..modes_stage import catalogue_columns
from ..neb import settings_from_config
from ..schema import default
from .inputs import OUTPUT_FILES, check_inputs, glass_tf, read_neb_tables, read_tables
from .plots import plot_cdfs, plot_exploration, plot_growth, plot_ml, plot_n_over_e, plot_vs_e
from .summary import summary_text
from .tables import (catalogue, combine_yields, crossing_times, loop_yield, n_of_e, plateau_n0, table_one,
                     truth_vs_prediction)

log = logging.getLogger(__name__)


def run_settings(config: dict):
    """(presets, model name, N, density, tau_cg, dt, seed, TLS threshold = loop.preset's k_B T_Q) of a config."""
    if "model" not in config:
        raise TLSFinderError("config: section 'model' missing")
    model = model_from_config(config["model"])
    _, presets, _ = settings_from_config(config)
    ex = dict(config.get("explore") or {})
    tau_cg = float(ex.get("tau_cg", default("explore.tau_cg")))
    dt = float(ex.get("dt", default("explore.dt")))
    return (presets, config["model"]["name"], int(model.n), float(model.density), tau_cg, dt,
            int(config.get("seed", 0)), float(tls_threshold(config)))


def make_report(inputs: Mapping[str, list[str]], config: dict, out_dir) -> dict:
    """Read the workflow's tables (``inputs``: lists of paths by :data:`.inputs.REPORT_INPUT_KEYS`)
    and write :data:`.inputs.OUTPUT_FILES` into ``out_dir``.

    Returns a dict with the output paths and the headline numbers.
    """
    inputs = check_inputs(inputs)
    out_dir = Path(out_dir)
    out = {k: out_dir / v for k, v in OUTPUT_FILES.items()}
    presets, model_name, n_particles, density, tau_cg, dt, seed, ml_max = run_settings(config)

    neb = read_neb_tables(inputs["neb"])
    glasses = read_tables(inputs["glasses"], ("glass", "n_IS"), "explore glasses table")
    if len(glasses):
        glasses["glass"] = glasses["glass"].astype(str)
        glasses = glasses.drop_duplicates("glass", keep="last")
    n_is = read_tables(inputs["n_is"], ("glass", "time", "n_is"), "n_IS table")
    persistence = read_tables(inputs["persistence"], ("glass", "tau_p"), "persistence table")
    ts = {paths.glass_of_path(p): read_table(p, ("time", "is_id"), what="time series", empty_ok=True)
          for p in inputs["timeseries"]}
    # t_found: when the pair was first crossed both ways
    cat, n_dup = catalogue(neb, presets, crossing_times(ts))
    # the columns of the modes and coupling stages: NaN where not computed (stage off)
    cat = catalogue_columns(cat, read_tables(inputs["dw_modes"], ("glass", "i", "j"), "DW modes table"),
                            read_tables(inputs["coupling"], ("glass", "i", "j"), "coupling table"))
    write_parquet(out["catalogue"], cat)

    t1 = table_one(glasses, cat, presets, tau_cg, dt, neb)
    write_parquet(out["table1"], t1)
    with atomic_path(out["table1_csv"]) as tmp:
        t1.to_csv(tmp, index=False, float_format="%.6g")

    g_tf = glass_tf(glasses["glass"].to_numpy(), "glasses table") if len(glasses) else np.zeros(0)
    glass_ids = {float(tf): sorted(glasses["glass"][g_tf == tf]) for tf in sorted(set(g_tf))}
    for tf in sorted(set(cat["T_f"]) if len(cat) else set()):
        if tf not in glass_ids:
            raise TLSFinderError(f"DWs at T_f={tf:g} but no 'glasses' table for it among {inputs['glasses']}")
    n_glasses = {tf: len(v) for tf, v in glass_ids.items()}
    nE = n_of_e(cat, presets, n_particles, n_glasses)
    write_parquet(out["nE"], nE)
    tau_total = {float(r["T_f"]): float(r["tau_total"]) for _, r in t1.iterrows() if float(r["T_f"]) in glass_ids}
    n0_time = (config.get("report") or {}).get("n0_time", default("report.n0_time"))
    if isinstance(n0_time, bool) or not isinstance(n0_time, (int, float)) or not 0 < n0_time < float("inf"):
        raise TLSFinderError(f"report.n0_time must be a positive time (tau), got {n0_time!r}")
    n0 = plateau_n0(cat, glass_ids, presets, n_particles, density, seed, tau_total=tau_total, t_common=n0_time,
                    timed_glasses=[g for g, t in ts.items() if len(t)])
    with atomic_path(out["n0"]) as tmp:
        n0.to_csv(tmp, index=False, float_format="%.6g")

    yld = loop_yield(neb, cat, presets)
    with atomic_path(out["loop_yield"]) as tmp:
        yld.to_csv(tmp, index=False, float_format="%.6g")
    ranking = read_tables(inputs["ranking"], ("glass", "i", "j", "splitting_pred"), "ranking", add_iteration=True)
    labels = read_tables(inputs["labels"], ("glass", "i", "j", "is_dw", "splitting"), "labels table")
    tvp = truth_vs_prediction(ranking, labels)
    ml_yield = combine_yields(read_tables(inputs["yields"], ("iteration",), "yield table", add_iteration=True))

    tfs = sorted(glass_ids)
    t_end = {}
    if "time" in glasses.columns and len(glasses):
        for tf in tfs:
            t_end[tf] = float(glasses["time"][g_tf == tf].max())
    plot_n_over_e(out["plot_nE"], nE, n0, presets, tfs)
    plot_cdfs(out["plot_cdf"], cat, presets, tfs)
    plot_vs_e(out["plot_vs_E"], cat, presets, tfs)
    plot_exploration(out["plot_exploration"], persistence, n_is, t_end)
    plot_growth(out["plot_growth"], n_is, cat, presets, t_end)
    plot_ml(out["plot_ml"], tvp, yld, ml_yield, presets, ml_max)

    inp = neb[neb["origin"].astype(str) == "input"] if len(neb) and "origin" in neb.columns else neb
    counts = {str(k): int(v) for k, v in inp["status"].value_counts().items()} if len(inp) else {}
    n_iter = int(neb["iteration"].nunique()) if len(neb) else 0
    text = summary_text(t1, n0, presets, counts, n_iter, n_dup, out_dir, model_name, n_particles)
    with atomic_path(out["summary"]) as tmp:
        tmp.write_text(text)
    log.info("report: %d DW(s), %s", len(cat),
             ", ".join(f"{int(cat[f'is_TLS_{p.name}'].sum()) if len(cat) else 0} TLS ({p.name})" for p in presets))
    return {"files": {k: str(v) for k, v in out.items()}, "n_dw": int(len(cat)), "n_duplicates": n_dup,
            "n_tls": {p.name: int(cat[f"is_TLS_{p.name}"].sum()) if len(cat) else 0 for p in presets},
            "neb_outcomes": counts, "summary": text}
