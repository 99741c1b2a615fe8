"""benchmarks/compare_published.py on a synthetic results folder and synthetic published tables.

The published tables hold two glasses with identical rows, ours is one of them: every empirical
distribution is the same, so every KS distance is exactly 0.  Shifting our Delta_E by 0.25 on a
uniform grid of width 1 must give D = 0.25 (plus at most one grid step) and the same shift of the medians.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.pairs import PUBLISHED_FEATURES

ROOT = Path(__file__).resolve().parents[1]
N_PAIRS = 200
KT_Q = 0.0015  # PSS argon k_B T_Q


def _script():
    spec = importlib.util.spec_from_file_location("compare_published", ROOT / "benchmarks" / "compare_published.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CMP = _script()


def _one_glass(rng) -> pd.DataFrame:
    """Published-style rows of one glass: Delta_E on a uniform grid in (0, 1), DWs every other pair."""
    n = N_PAIRS
    i2 = np.arange(1, n + 1)
    df = pd.DataFrame({
        "displacement_0": rng.uniform(0.2, 0.6, n), "displacement_1": rng.uniform(0.05, 0.2, n),
        "displacement_2": rng.uniform(0.01, 0.05, n), "Delta_E": (np.arange(n) + 0.5) / n,
        "0to1": rng.uniform(0.8, 3, n), "0to2": rng.uniform(0.8, 3, n), "total_displacement": rng.uniform(0.1, 1, n),
        "PR": rng.uniform(1, 10, n), "i2": i2, "j2": i2 + 1000,
        "Tij": rng.integers(0, 6, n).astype(float), "Tji": rng.integers(0, 6, n).astype(float),
    })
    df["i"] = 0.21 + 1e-6 * i2
    df["j"] = df["i"] + df["Delta_E"] / 1500
    df["is_dw"] = (np.arange(n) % 2 == 0).astype(float)
    return df


def _published(folder: Path, rng) -> pd.DataFrame:
    """Classifier, predictor and exact tables of two identical glasses (conf 1, 2); returns conf 1's rows."""
    folder.mkdir()
    g = _one_glass(rng)
    dws = g["is_dw"] == 1
    splitting = np.full(len(g), np.nan)
    splitting[dws.to_numpy()] = np.geomspace(1e-4, 1e-1, int(dws.sum()))  # 39.2 % below KT_Q
    g["quantum_splitting"] = splitting
    both = pd.concat([g.assign(conf=1), g.assign(conf=2)], ignore_index=True).assign(T=0.07)
    both["index"] = np.arange(len(both))
    both.drop(columns="quantum_splitting").to_feather(folder / "pretraining-classifier-T007.feather")
    pred = both[both["is_dw"] == 1].drop(columns="is_dw").reset_index(drop=True)
    pred.to_feather(folder / "pretraining-predictor-T007.feather")
    exact = pred[["conf", "i2", "j2", "quantum_splitting"]].set_axis(["conf", "i", "j", "out"], axis=1)
    for name in ("quantum_splitting_T007.csv", "quantum_splitting_T0092.csv"):
        exact.to_csv(folder / name)
    return g


def _results(folder: Path, g: pd.DataFrame, tf: str = "0.07", shift: float = 0.0) -> Path:
    """A results folder whose glass g0 at ``tf`` holds the published rows ``g``; its DWs from the NEB table."""
    glass = f"T{tf}/g0"
    pairs = pd.DataFrame({"glass": pd.Series([glass] * len(g), dtype="string"), "i": g["i2"].astype("int64"),
                          "j": g["j2"].astype("int64"), **{f: g[f].to_numpy(float) for f in PUBLISHED_FEATURES},
                          "e_i": g["i"], "e_j": g["j"]})
    pairs["Delta_E"] += shift
    p = folder / "results" / "pairs" / f"T{tf}" / "g0" / "pairs.parquet"
    p.parent.mkdir(parents=True)
    pairs.to_parquet(p)
    dw = g[g["is_dw"] == 1]
    neb = pd.DataFrame({"glass": glass, "i": dw["i2"].astype("int64"), "j": dw["j2"].astype("int64"),
                        "pair_id": [f"{glass}/{a}-{b}" for a, b in zip(dw["i2"], dw["j2"])], "status": "dw",
                        "e_A": 0.0, "e_B": dw["Delta_E"] + shift, "PR": dw["PR"],
                        "total_displacement": dw["total_displacement"], "E_Ar": dw["quantum_splitting"],
                        "is_TLS_Ar": dw["quantum_splitting"] < KT_Q})
    n = folder / "results" / "loop" / "iter0" / "neb.parquet"
    n.parent.mkdir(parents=True)
    neb.to_parquet(n)
    return folder / "results"


@pytest.fixture
def published(tmp_path):
    return tmp_path / "pub", _published(tmp_path / "pub", np.random.default_rng(3))


def test_identical_samples_give_ks_zero(tmp_path, published):
    data, g = published
    r = CMP.run_comparison(_results(tmp_path, g), data=data)
    feats = r["features"]
    assert set(feats["pairs"]) == {"all", "both ways"}
    assert (feats["KS_D"] == 0).all(), feats[["pairs", "feature", "KS_D"]]
    assert (feats.loc[feats["pairs"] == "all", "n_pub"] == 2 * N_PAIRS).all()
    assert (feats.loc[feats["pairs"] == "all", "n_ours"] == N_PAIRS).all()
    n_both = int(((g["Tij"] >= 1) & (g["Tji"] >= 1)).sum())
    assert (feats.loc[feats["pairs"] == "both ways", "n_ours"] == n_both).all()
    dist = r["dw"]["distributions"]
    assert (dist["KS_D"] == 0).all(), dist[["quantity", "reference", "KS_D"]]
    # TLS/DW: geomspace(1e-4, 1e-1) has log10(15) / 3 = 39.2 % of its points below 0.0015
    tls = r["dw"]["tls_per_dw"].set_index("sample")
    assert tls.loc["ours", "n"] == N_PAIRS // 2
    assert tls.loc["ours", "share"] == pytest.approx(np.log10(15) / 3, abs=2 / N_PAIRS)
    assert tls.loc["ours", "share"] == tls.loc["predictor T_f=0.07 (all DW)", "share"]
    text = CMP.report_text(r)
    assert "NOTE" not in text  # same T_f as the published features


def test_shifted_delta_e_gives_the_shift_as_ks_distance(tmp_path, published):
    data, g = published
    r = CMP.run_comparison(_results(tmp_path, g, shift=0.25), data=data)
    feats = r["features"].set_index(["pairs", "feature"])
    # a shift s of a grid of step 1/n moves the empirical CDF by s, plus at most one step at ties
    assert 0.25 <= feats.loc[("all", "Delta_E"), "KS_D"] <= 0.25 + 1.0 / N_PAIRS
    assert feats.loc[("all", "Delta_E"), "ours_med"] - feats.loc[("all", "Delta_E"), "pub_med"] == pytest.approx(0.25)
    assert feats.loc[("all", "Delta_E"), "KS_p"] < 1e-4
    assert feats.loc[("all", "PR"), "KS_D"] == 0  # only Delta_E moved
    dist = r["dw"]["distributions"].set_index(["quantity", "reference"])
    assert 0.25 <= dist.loc[("Delta_E", "predictor T_f=0.07"), "KS_D"] <= 0.25 + 2.0 / N_PAIRS  # DWs: grid step 2/n


def test_other_tf_is_compared_with_the_nearest_and_says_so(tmp_path, published):
    data, g = published
    r = CMP.run_comparison(_results(tmp_path, g, tf="0.092"), data=data)
    assert r["tf"] == 0.092 and r["pub"]["tf_features"] == 0.07 and r["pub"]["tf_exact"] == 0.092
    text = CMP.report_text(r)
    assert "no pair features are published at T_f = 0.092" in text
    assert "nearest published T_f = 0.07" in text
    assert "1008" in text and "117339" in text  # TLS/DW of every DW at T_f = 0.092 (Khomenko et al. 2021)


def test_missing_inputs_name_the_path(tmp_path, published):
    data, g = published
    results = _results(tmp_path, g)
    with pytest.raises(TLSFinderError, match="pairs/T0.092/g"):
        CMP.run_comparison(results, tf=0.092, data=data)
    with pytest.raises(TLSFinderError, match="no such results folder"):
        CMP.run_comparison(tmp_path / "nowhere", data=data)
    (data / "quantum_splitting_T007.csv").unlink()
    with pytest.raises(TLSFinderError, match="quantum_splitting_T007.csv: published table missing"):
        CMP.run_comparison(results, data=data)
    (results / "loop" / "iter0" / "neb.parquet").unlink()
    with pytest.raises(TLSFinderError, match="tls_catalogue.parquet: no report catalogue"):
        CMP.run_comparison(results, data=data)
