"""The loop's bookkeeping: labels from NEB tables, the stopping rule, classical selection, run records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.config import check_results_config, record_results_config
from tlsfinder.loop import LoopSettings, classical_selection, decide, labels_from_neb, merge_labels, n_batches


def neb_table(statuses, splittings, glass="T0.6/g0", start=0):
    n = len(statuses)
    return pd.DataFrame({
        "glass": glass, "i": np.arange(start, start + n), "j": np.arange(start, start + n) + 100,
        "origin": "input", "status": statuses, "E_NiP": splittings, "E_Ar": np.asarray(splittings) * 2,
    })


def test_labels_from_neb_use_the_preset_and_keep_non_dw():
    t = neb_table(["dw", "non_dw", "unconverged", "dw"], [1e-3, np.nan, np.nan, 0.2])
    split_child = t.iloc[[0]].assign(origin="split", i=8, j=7)
    skipped = t.iloc[[1]].assign(origin="split", i=0, j=100, status="known")
    lab = labels_from_neb(pd.concat([t, split_child, skipped]), 2, "NiP")
    # every pair computed is labelled, sub-pairs too (written i < j); a "known" row labels nothing
    assert len(lab) == 5 and (lab["i"] < lab["j"]).all()
    assert lab["is_dw"].tolist() == [True, False, False, True, True]
    assert lab["origin"].tolist() == ["input"] * 4 + ["split"]
    assert lab["neb_status"].tolist() == ["dw", "non_dw", "unconverged", "dw", "dw"]
    assert lab["splitting"].iloc[0] == 1e-3 and np.isnan(lab["splitting"].iloc[1])
    assert (lab["iteration"] == 2).all()
    assert labels_from_neb(t, 0, "Ar")["splitting"].iloc[0] == 2e-3
    with pytest.raises(TLSFinderError, match="E_Cu"):
        labels_from_neb(t, 0, "Cu")


def test_merge_keeps_earlier_labels_and_adds_new_ones(tmp_path):
    b0 = tmp_path / "b0.parquet"
    neb_table(["dw", "non_dw"], [1e-3, np.nan]).to_parquet(b0)
    m0 = merge_labels(None, [str(b0)], 0, "NiP", tmp_path / "iter1.parquet")
    b1 = tmp_path / "b1.parquet"
    neb_table(["dw"], [5e-4], start=10).to_parquet(b1)
    m1 = merge_labels(tmp_path / "iter1.parquet", [str(b1)], 1, "NiP", tmp_path / "iter2.parquet")
    assert len(m0) == 2 and len(m1) == 3
    assert m1["iteration"].tolist() == [0, 0, 1]
    assert pd.read_parquet(tmp_path / "iter2.parquet")["is_dw"].sum() == 2


def labels(per_iter):
    rows = []
    for k, (n, n_tls) in enumerate(per_iter):
        for m in range(n):
            rows.append({"glass": "g", "i": 1000 * k + m, "j": 1000 * k + m + 1, "is_dw": True,
                         "splitting": 1e-4 if m < n_tls else 1.0, "iteration": k})
    return pd.DataFrame(rows)


def test_decide_stops_on_saturation_max_iter_and_empty_selection():
    s = LoopSettings(max_iter=5, min_yield=0.05, patience=2)
    assert not decide(labels([(20, 5)]), 0, 20, s, 1e-3)["stop"]
    d = decide(labels([(20, 5), (20, 0)]), 1, 20, s, 1e-3)
    assert not d["stop"]  # one saturated iteration, patience 2
    d = decide(labels([(20, 5), (20, 0), (20, 0)]), 2, 20, s, 1e-3)
    assert d["stop"] and "saturated" in d["reason"]
    assert [y["n_tls"] for y in d["yields"]] == [5, 0, 0] and d["total_tls"] == 5
    d = decide(labels([(20, 5)] * 5), 4, 20, s, 1e-3)
    assert d["stop"] and "max_iter" in d["reason"]
    d = decide(labels([(20, 5)]), 0, 0, s, 1e-3)
    assert d["stop"] and "no unlabelled" in d["reason"]
    assert decide(labels([(3, 1)]), 0, 3, LoopSettings(mode="classical"), 1e-3)["stop"]


def test_sub_pairs_add_tls_but_not_nebs():
    lab = labels([(10, 1)]).assign(origin="input")
    subs = labels([(4, 2)]).assign(origin="split", i=lambda d: d["i"] + 500, j=lambda d: d["j"] + 500)
    d = decide(pd.concat([lab, subs], ignore_index=True), 0, 10, LoopSettings(max_iter=5), 1e-3)
    assert d["yields"][0]["n_neb"] == 10 and d["yields"][0]["n_tls"] == 3 and d["total_neb"] == 10
    assert d["yields"][0]["tls_per_neb"] == pytest.approx(0.3)


def test_classical_selection_takes_every_bidirectional_pair():
    pairs = pd.DataFrame({"glass": "g", "i": [0, 0, 1, 2], "j": [1, 2, 2, 3], "Delta_E": [0.5, -0.1, 0.2, 0.01],
                          "Tij": [1, 2, 0, 3], "Tji": [1, 1, 4, 0]})
    sel = classical_selection(pairs)
    assert sel[["i", "j"]].values.tolist() == [[0, 2], [0, 1]]
    assert n_batches(0, 10) == 0 and n_batches(21, 10) == 3


def test_results_folder_of_another_config_is_refused(tmp_path):
    cfg = {"seed": 1, "model": {"name": "KA2", "n": 300}, "loop": {"max_iter": 3}, "prepare": {"blocks": 10}}
    rec = tmp_path / "results" / "run_config.json"
    check_results_config(cfg, rec)  # nothing recorded yet
    record_results_config(cfg, rec)
    check_results_config({**cfg, "loop": {"max_iter": 9}}, rec)  # running the loop longer is fine
    with pytest.raises(TLSFinderError, match=r"model.n: 300 -> 400.*prepare.blocks: 10 -> 20"):
        check_results_config({**cfg, "model": {"name": "KA2", "n": 400}, "prepare": {"blocks": 20}}, rec)
