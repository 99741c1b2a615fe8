"""The end-to-end measures the benchmarks print: the ML advantage at a recall of the classical
protocol's TLS (benchmarks/ml_loop.py) and the TLS the published rate lets a run expect
(benchmarks/end_to_end.py), on small hand-made inputs whose answers follow by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_advantage_is_taken_at_the_first_iteration_reaching_the_recall():
    ml_loop = load("ml_loop")
    thr = ml_loop.TLS_SPLITTING_MAX
    # iteration 0: one classical TLS and a non-DW; iteration 1: a second classical TLS and a TLS the
    # classical protocol never runs (not crossed both ways); iteration 2: a DW above threshold
    labels = pd.DataFrame({"glass": ["g"] * 5, "i": [0, 1, 2, 3, 4], "j": [5, 6, 7, 8, 9],
                           "is_dw": [True, False, True, True, True],
                           "splitting": [thr / 2, np.nan, thr / 3, thr / 4, 10 * thr],
                           "iteration": [0, 0, 1, 1, 2]})
    classical = {("g", 0, 5), ("g", 2, 7)}
    history = [10.0, 20.0, 30.0]
    a = ml_loop.advantage(labels, history, classical, n_classical=100, neb_core_s=5.0, recall=0.8)
    assert (a["iteration"], a["nebs"], a["tls"], a["recall"]) == (1, 4, 3, 1.0)
    # 3 TLS in 4 NEBs x 5 s + 30 s of ML, against 2 TLS in 100 NEBs x 5 s
    assert a["ratio"] == pytest.approx((3 / 50.0) / (2 / 500.0))
    half = ml_loop.advantage(labels, history, classical, n_classical=100, neb_core_s=5.0, recall=0.5)
    assert half["iteration"] == 0 and half["recall"] == 0.5
    assert ml_loop.advantage(labels.iloc[:2], history, classical, 100, 5.0, 0.8) is None


def test_expectation_uses_the_published_rate(capsys, tmp_path):
    e2e = load("end_to_end")
    summary = tmp_path / "results/explore/T0.092/g0/summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text('{"wall_time_s": 7200}')
    cfg = {"model": {"name": "PSS"}, "prepare": {"temperatures": [0.092]}}
    e2e.expectation(cfg, {"n_dw": 100, "neb": 150, "seconds": 3600.0}, tmp_path)
    out = capsys.readouterr().out
    lam = 100 * 1008 / 117339
    assert f"expect {lam:.2f} TLS" in out and f"P(any) = {1 - np.exp(-lam):.0%}" in out
    # 10 TLS need 10 / rate DW: 11.64x this run, so 11.64 NEB core-hours and 23.3 of exploration
    assert "~1164 DW" in out and "~1746 NEBs" in out and "11.6 NEB core-hours" in out and "23.3 core-hours" in out
    e2e.expectation({"model": {"name": "KA2"}, "prepare": {"temperatures": [0.5]}}, {"n_dw": 1}, tmp_path)
    assert "no published TLS-per-DW rate" in capsys.readouterr().out
