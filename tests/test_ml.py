"""DW classifier, splitting regressor, ranking and selection (tlsfinder.ml)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from tlsfinder import TLSFinderError
from tlsfinder.ml import (
    ENSEMBLE_SIZE,
    DWClassifier,
    SplittingRegressor,
    TLSRanker,
    glass_split,
    heuristic_ranking,
    iteration_yield,
    select_pairs,
)
from tlsfinder.pairs import PUBLISHED_FEATURES

from conftest import TLSML_DATA as DATA  # noqa: E402


def synthetic(n_glasses=16, per_glass=250, seed=0):
    """Pairs whose labels follow a known rule.

    DW when crossed both ways and the largest displacement is below 0.45 (5 %
    of labels flipped); -log10(splitting) = 1.2 + 2 displacement_0 + 30 Delta_E
    + noise 0.05, only for DWs.
    """
    rng = np.random.default_rng(seed)
    n = n_glasses * per_glass
    d0 = rng.uniform(0.05, 0.9, n)
    df = pd.DataFrame({
        "glass": pd.Series(np.repeat([f"g{k}" for k in range(n_glasses)], per_glass), dtype="string"),
        "i": np.tile(np.arange(per_glass), n_glasses),
        "j": np.tile(np.arange(per_glass), n_glasses) + 1000,
        "displacement_0": d0,
        "displacement_1": d0 * rng.uniform(0.1, 1, n),
        "displacement_2": d0 * rng.uniform(0.05, 0.5, n),
        "Delta_E": rng.exponential(0.03, n),
        "0to1": rng.uniform(0.7, 5, n),
        "0to2": rng.uniform(0.7, 5, n),
        "total_displacement": d0 * rng.uniform(1.1, 2, n),
        "PR": rng.uniform(1, 10, n),
        "Tij": rng.poisson(1.0, n).astype(float),
        "Tji": rng.poisson(1.0, n).astype(float),
    })
    is_dw = (df["Tij"] >= 1) & (df["Tji"] >= 1) & (df["displacement_0"] < 0.45)
    is_dw = is_dw.to_numpy() ^ (rng.random(n) < 0.05)
    y = 1.2 + 2 * d0 + 30 * df["Delta_E"].to_numpy() + rng.normal(0, 0.05, n)
    labels = pd.DataFrame({"glass": df["glass"], "i": df["i"], "j": df["j"], "is_dw": is_dw,
                           "splitting": np.where(is_dw, 10.0 ** -y, np.nan), "iteration": np.int64(0)})
    return df, labels


# ---------------------------------------------------------------------------
# predictions are LightGBM's own
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", [DWClassifier, SplittingRegressor])
def test_predictions_are_lightgbms_whatever_the_memory_layout(model, tmp_path):
    """Rankings come from Booster.predict: a table (column-major matrix) gives its numbers bit for bit."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(3000, 5)), columns=[f"f{k}" for k in range(5)])
    X["f3"] = rng.integers(0, 4, 3000).astype(float)  # ties and zeros, as in Tij
    X.loc[rng.random(3000) < 0.1, "f2"] = 0.0
    y = X["f0"] + np.sin(3 * X["f1"]) + 0.3 * X["f3"] + rng.normal(0, 0.3, 3000)
    target = (y > 0.5).to_numpy() if model is DWClassifier else 10.0 ** -(2 + y.to_numpy())
    m = model(seed=0).fit(X, target, groups=np.repeat(np.arange(10), 300))
    Xt = pd.DataFrame(rng.normal(size=(5000, 5)) * 1.5, columns=X.columns)
    Xt["f3"] = rng.integers(-1, 5, 5000).astype(float)
    Xt.iloc[:200] = X.iloc[:200].to_numpy()  # training points sit exactly on thresholds' sides
    # the ensemble's prediction is the average of its members' own Booster.predict
    assert len(m.boosters_) == m.n_models == ENSEMBLE_SIZE > 1
    C = np.ascontiguousarray(Xt.to_numpy())
    members = [lgb.Booster(model_str=b.model_to_string()).predict(C) for b in m.boosters_]
    want = np.sum(members, axis=0) / len(members)
    assert np.ptp(members, axis=0).max() > 1e-3  # the members differ (own validation glasses and seed)
    got = m.predict_proba(Xt)[:, 1] if model is DWClassifier else m.predict(Xt)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    m.save(tmp_path / "m.txt")
    assert (tmp_path / f"m-{ENSEMBLE_SIZE - 1}.txt").exists()
    again = model()._load(tmp_path / "m.txt", list(X.columns), ENSEMBLE_SIZE)
    np.testing.assert_allclose(again.predict_matrix(np.asfortranarray(Xt.to_numpy())), want, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------


def test_ranker_learns_a_known_rule_on_held_out_glasses():
    pairs, labels = synthetic()
    test = pairs["glass"].isin(["g0", "g1", "g2", "g3"]).to_numpy()
    r = TLSRanker(seed=3).fit(pairs, labels[~test])
    pred = r.predict(pairs[test])
    truth = labels[test]
    acc = ((pred["p_dw"] >= 0.5).to_numpy() == truth["is_dw"].to_numpy()).mean()
    assert acc > 0.92  # 5 % of labels are flipped: 0.95 is the ceiling
    dw = truth["is_dw"].to_numpy()
    rho = spearmanr(pred["splitting_pred"].to_numpy()[dw], truth["splitting"].to_numpy()[dw])[0]
    assert rho > 0.9
    assert r.info["classifier"]["early_stopping"] and r.info["classifier"]["rounds"] < 1000
    assert 0 <= pred["p_tls"].min() and pred["p_tls"].max() <= 1


def test_validation_split_takes_whole_glasses():
    groups = np.repeat(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"], [1, 5, 9, 2, 8, 3, 7, 4, 6, 10])
    val = glass_split(groups, 0.2, np.random.default_rng(0))
    per_glass = pd.Series(val).groupby(groups).agg(["min", "max"])
    assert (per_glass["min"] == per_glass["max"]).all()  # never splits a glass
    assert per_glass["min"].sum() == 2
    assert not glass_split(["a"] * 5, 0.2, np.random.default_rng(0)).any()  # one glass: no validation
    pairs, labels = synthetic(n_glasses=10)
    r = TLSRanker(seed=1).fit(pairs, labels)
    assert len(r.info["val_glasses"]) == 2 and r.info["classifier"]["n_glasses_val"] == 2


def test_sklearn_style_models_and_sample_weights():
    pairs, labels = synthetic(n_glasses=8)
    X = pairs[list(PUBLISHED_FEATURES)]
    groups = pairs["glass"].to_numpy()
    c = DWClassifier(seed=0).fit(X, labels["is_dw"], groups=groups)
    proba = c.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(1), 1)
    assert (c.predict(X) == (proba[:, 1] >= 0.5)).all()
    # weights that ignore the crossed-both-ways pairs change what the classifier learns
    w = np.where((pairs["Tij"] >= 1) & (pairs["Tji"] >= 1), 0.0, 1.0)
    cw = DWClassifier(seed=0).fit(X, labels["is_dw"], groups=groups, sample_weight=w)
    assert not np.allclose(cw.predict_proba(X)[:, 1], proba[:, 1], atol=0.05)
    with pytest.raises(TLSFinderError, match="sample_weight"):
        DWClassifier().fit(X, labels["is_dw"], sample_weight=w[:10])
    dw = labels["is_dw"].to_numpy()
    reg = SplittingRegressor(seed=0).fit(X[dw], labels["splitting"][dw], groups=groups[dw])
    np.testing.assert_allclose(reg.predict_splitting(X), 10.0 ** -reg.predict(X))
    with pytest.raises(TLSFinderError, match="positive"):
        SplittingRegressor().fit(X[:5], [1.0, 0.0, 1.0, 1.0, 1.0])


# ---------------------------------------------------------------------------
# on disk, command line
# ---------------------------------------------------------------------------


def _cli(module, argv):
    parser = argparse.ArgumentParser()
    module.add_cli(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_train_rank_select_round_trip_on_disk(tmp_path):
    from tlsfinder.commands import ml

    pairs, labels = synthetic(n_glasses=10)
    half = pairs["glass"].isin([f"g{k}" for k in range(5)])
    pairs[half].to_parquet(tmp_path / "p1.parquet")
    pairs[~half].to_parquet(tmp_path / "p2.parquet")
    known = labels.sample(frac=0.5, random_state=0).drop(columns="iteration")  # iteration is optional
    known.to_parquet(tmp_path / "labels.parquet")
    model = tmp_path / "iter1" / "model"
    out = _cli(ml, ["train", "--pairs", str(tmp_path / "p1.parquet"), str(tmp_path / "p2.parquet"),
                    "--labels", str(tmp_path / "labels.parquet"), "--out", str(model), "--seed", "4"])
    assert out["n_labels"] == len(known)
    meta = json.loads((model / "model.json").read_text())
    assert meta["features"] == list(PUBLISHED_FEATURES)
    assert meta["provenance"]["versions"]["lightgbm"] == lgb.__version__
    assert (model / "classifier.txt").exists() and (model / "regressor.txt").exists()

    ranking_path = tmp_path / "iter1" / "ranking.parquet"
    _cli(ml, ["rank", "--model", str(model), "--pairs", str(tmp_path / "p1.parquet"), str(tmp_path / "p2.parquet"),
              "--out", str(ranking_path)])
    ranking = pd.read_parquet(ranking_path)
    assert len(ranking) == len(pairs) and (ranking["rank"].to_numpy() == np.arange(len(pairs))).all()
    assert (np.diff(ranking["p_tls"].to_numpy()) <= 0).all()
    # the same model trained in memory gives the same ranking, to the last bit
    mem = TLSRanker(seed=4).fit(pairs, known).rank(pairs)
    pd.testing.assert_frame_equal(ranking.astype({"glass": str}), mem.astype({"glass": str}), check_exact=True)

    sel_path = tmp_path / "iter1" / "selected.parquet"
    res = _cli(ml, ["select", "--ranking", str(ranking_path), "--labels", str(tmp_path / "labels.parquet"),
                    "--out", str(sel_path), "-k", "30", "--iteration", "1", "--seed", "2"])
    sel = pd.read_parquet(sel_path)
    assert len(sel) == 30 and res["yield"][0]["n_neb"] == len(known)
    keys = set(zip(known["glass"], known["i"], known["j"]))
    assert not any(k in keys for k in zip(sel["glass"], sel["i"], sel["j"]))


def test_rank_without_a_model_uses_the_bidirectional_heuristic(tmp_path):
    from tlsfinder.commands import ml

    pairs, _ = synthetic(n_glasses=2, per_glass=50)
    pairs.to_parquet(tmp_path / "p.parquet")
    _cli(ml, ["rank", "--pairs", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "r.parquet")])
    r = pd.read_parquet(tmp_path / "r.parquet").merge(pairs, on=["glass", "i", "j"])
    both = ((r["Tij"] >= 1) & (r["Tji"] >= 1)).to_numpy()
    n_both = both.sum()
    assert both[:n_both].all() and not both[n_both:].any()
    assert (np.diff(r["Delta_E"].to_numpy()[:n_both]) >= 0).all()
    assert r["p_dw"].isna().all()


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


def test_bad_pairs_tables_name_the_columns():
    pairs, labels = synthetic(n_glasses=4, per_glass=60)
    with pytest.raises(TLSFinderError, match=r"missing column\(s\) \['0to1'\]"):
        TLSRanker().fit(pairs.drop(columns="0to1"), labels)
    bad = pairs.copy()
    bad.loc[3, "PR"] = np.nan
    bad.loc[5, "Tij"] = -np.inf
    with pytest.raises(TLSFinderError) as err:
        TLSRanker().fit(bad, labels)
    assert "PR (1 NaN/inf)" in str(err.value) and "Tij (1 NaN/inf)" in str(err.value)
    r = TLSRanker(seed=0).fit(pairs, labels)
    with pytest.raises(TLSFinderError, match=r"\['PR', 'Tij'\]"):
        r.predict(bad)


def test_labels_of_unknown_pairs_are_refused_with_count_and_examples():
    pairs, labels = synthetic(n_glasses=4, per_glass=60)
    extra = pd.DataFrame({"glass": ["g9", "g0", "g1"], "i": [1, 2, 3], "j": [5, 7000, 8000], "is_dw": [True, False, False],
                          "splitting": [0.01, np.nan, np.nan], "iteration": [0, 0, 0]})
    with pytest.raises(TLSFinderError) as err:
        TLSRanker().fit(pairs, pd.concat([labels, extra], ignore_index=True))
    msg = str(err.value)
    assert "3 of 243 labelled pair(s) are not in the pairs table" in msg and "'g9'" in msg
    with pytest.raises(TLSFinderError, match="not a DW"):
        TLSRanker().fit(pairs, labels.assign(splitting=0.01))


def test_a_model_trained_on_other_features_is_refused(tmp_path):
    pairs, labels = synthetic(n_glasses=4, per_glass=60)
    pairs["n_moved"] = np.arange(len(pairs)) % 7
    feats = [f for f in PUBLISHED_FEATURES if f != "PR"] + ["n_moved"]
    r = TLSRanker(feats, seed=0).fit(pairs, labels)
    r.save(tmp_path / "m")
    loaded = TLSRanker.load(tmp_path / "m")
    with pytest.raises(TLSFinderError, match=r"missing here: \['n_moved'\]"):
        loaded.predict(pairs.drop(columns="n_moved"))
    from tlsfinder.ml import rank_from_files

    pairs.drop(columns="n_moved").to_parquet(tmp_path / "p.parquet")
    with pytest.raises(TLSFinderError, match=r"trained on features .* lacks \['n_moved'\]"):
        rank_from_files(tmp_path / "m", [tmp_path / "p.parquet"], tmp_path / "r.parquet")
    # a model folder whose feature list does not match its boosters
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["features"] = list(PUBLISHED_FEATURES)
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(TLSFinderError, match="differ"):
        TLSRanker.load(tmp_path / "m")


# ---------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------


def _ranking(n=100):
    rng = np.random.default_rng(0)
    p_dw = rng.random(n)
    return pd.DataFrame({"glass": ["g"] * n, "i": np.arange(n), "j": np.arange(n) + 1000, "rank": np.arange(n),
                         "p_dw": p_dw, "splitting_pred": np.linspace(1e-3, 1e-1, n), "p_tls": np.linspace(1, 0, n)})


def test_select_takes_unlabelled_predicted_dws_in_order_plus_a_random_share():
    ranking = _ranking()
    labels = pd.DataFrame({"glass": ["g"] * 3, "i": [0, 1, 2], "j": [1000, 1001, 1002], "is_dw": [True] * 3,
                           "splitting": [1e-3] * 3, "iteration": [0, 0, 1]})
    sel = select_pairs(ranking, labels, 20, explore_fraction=0.1, min_p_dw=0.5, seed=7, iteration=2)
    assert len(sel) == 20 and (sel["iteration"] == 2).all()
    model = sel[sel["reason"] == "ranked"]
    assert len(model) == 18 and (model["p_dw"] >= 0.5).all()
    expected = ranking[(ranking["p_dw"] >= 0.5) & (ranking["i"] > 2)].head(18)
    assert model["i"].tolist() == expected["i"].tolist()
    explore = sel[sel["reason"] == "explore"]
    assert len(explore) == 2 and not set(explore["i"]) & set(model["i"]) and not set(explore["i"]) & {0, 1, 2}
    again = select_pairs(ranking, labels, 20, explore_fraction=0.1, seed=7, iteration=2)
    pd.testing.assert_frame_equal(sel, again)
    others = [set(select_pairs(ranking, labels, 20, explore_fraction=0.1, seed=s)["i"]) for s in range(5)]
    assert len({frozenset(o) for o in others}) > 1  # the random share depends on the seed
    everything = select_pairs(ranking, labels, 500, explore_fraction=0.0)
    assert len(everything) == 97  # only unlabelled pairs exist to choose from


def test_selection_is_written_after_its_yield_table(tmp_path, monkeypatch):
    """The loop's input functions take the selection's existence for the end of checkpoint ml_select:
    a run killed between its two writes must find no selection without its yield table."""
    import tlsfinder.ml as ml

    ranking = tmp_path / "ranking.parquet"
    _ranking().to_parquet(ranking)
    written = []
    real = ml.write_parquet
    monkeypatch.setattr(ml, "write_parquet", lambda path, df: (written.append(Path(path).name), real(path, df)))
    sel, yld = ml.select_from_files(ranking, None, tmp_path / "selected.parquet", k=5, model="PSS", preset="Ar",
                                    yield_out=tmp_path / "yield.parquet", iteration=0)
    assert written == ["yield.parquet", "selected.parquet"]
    assert len(pd.read_parquet(tmp_path / "selected.parquet")) == len(sel) == 5


def test_iteration_yield_counts_tls_per_neb():
    labels = pd.DataFrame({
        "glass": ["g"] * 6, "i": range(6), "j": range(10, 16),
        "is_dw": [True, True, False, True, True, False],
        "splitting": [1e-3, 5e-2, np.nan, 1e-4, 1.6e-3, np.nan],
        "iteration": [0, 0, 0, 1, 1, 1],
    })
    y = iteration_yield(labels, 0.00151)
    assert y["n_neb"].tolist() == [3, 3] and y["n_dw"].tolist() == [2, 2] and y["n_tls"].tolist() == [1, 1]
    assert y["tls_per_neb"].tolist() == pytest.approx([1 / 3, 1 / 3]) and y["cum_tls"].tolist() == [1, 2]


def test_heuristic_ranking_without_transitions_orders_by_delta_e():
    pairs, _ = synthetic(n_glasses=1, per_glass=30)
    pairs["Tij"] = 0.0
    r = heuristic_ranking(pairs)
    assert (np.diff(pairs.set_index(["i"]).loc[r["i"], "Delta_E"].to_numpy()) >= 0).all()


# ---------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------


@pytest.mark.skipif(not DATA.exists(), reason="published data not available")
def test_on_published_data_held_out_glasses_rank_tls_first():
    from tlsfinder.importer import import_tlsml

    pairs, labels = import_tlsml([DATA / "pretraining-classifier-T007.feather",
                                  DATA / "pretraining-predictor-T007.feather"])
    glasses = np.array(sorted(pairs["glass"].unique()), dtype=object)
    test = set(np.random.default_rng(1).permutation(glasses)[:15])
    held = pairs["glass"].isin(test).to_numpy()
    r = TLSRanker(seed=0).fit(pairs, labels[~labels["glass"].isin(test)])
    ranked = r.rank(pairs[held]).merge(labels, on=["glass", "i", "j"], how="left", sort=False)
    acc = ((ranked["p_dw"] >= 0.5) == ranked["is_dw"]).mean()
    tls = (ranked["is_dw"] & (ranked["splitting"] < 0.00151)).to_numpy()
    found = np.cumsum(tls)
    top = (np.searchsorted(found, np.ceil(0.9 * tls.sum())) + 1) / len(tls)
    assert acc > 0.85
    assert tls.sum() > 20 and top < 0.06  # random order would need ~0.9


def test_tiny_label_sets_of_the_first_iterations_still_train():
    pairs, labels = synthetic(n_glasses=2, per_glass=80)
    one = labels[labels["glass"] == "g0"]
    r = TLSRanker(seed=0, fallback_rounds=30).fit(pairs, one)
    assert not r.info["classifier"]["early_stopping"] and r.info["classifier"]["rounds"] == 30
    # every DW in one glass: that glass cannot be both validation and the regressor's only data
    two = labels[(labels["glass"] == "g0") | ~labels["is_dw"]]
    r = TLSRanker(seed=0).fit(pairs, two)
    assert r.predict(pairs)["p_tls"].between(0, 1).all()


def test_ml_settings_default_to_the_schema():
    from tlsfinder.ml import DEFAULTS, TLS_SPLITTING_MAX, ml_setting
    from tlsfinder.schema import default, schema

    assert ml_setting({}, "k") == DEFAULTS["k"] == 200 and ml_setting({"ml": {"k": 50}}, "k") == 50
    assert TLS_SPLITTING_MAX == 0.00151  # the published TLS criterion (Ciarella et al. 2023)
    for key in schema()["properties"]["ml"]["properties"]:
        assert ml_setting({}, key) == default(f"ml.{key}"), key
    with pytest.raises(TLSFinderError, match="unknown ml setting"):
        ml_setting({}, "kk")


def test_quantile_regressor_learns_the_upper_tail_of_a_known_noise():
    """y = f(x) + N(0, 0.3): the 0.84 quantile sits one noise width above f (Phi(1) = 0.841), so 84 % of
    held-out y fall below it; the mean regression sits on f, with half of them below."""
    rng = np.random.default_rng(5)
    n, width = 12000, 0.3
    X = pd.DataFrame({"a": rng.uniform(0, 1, n), "b": rng.uniform(0, 1, n)})
    f = 1.5 + X["a"].to_numpy() + 0.5 * np.sin(4 * X["b"].to_numpy())
    y = f + rng.normal(0, width, n)
    groups = np.repeat(np.arange(24), n // 24)
    test = groups >= 20
    for q, share, offset in ((0.84, 0.841, width), (None, 0.5, 0.0)):
        m = SplittingRegressor(seed=0, quantile=q).fit(X[~test], 10.0 ** -y[~test], groups=groups[~test])
        pred = m.predict(X[test])
        assert abs(np.mean(y[test] < pred) - share) < 0.03, q
        assert abs(np.mean(pred - f[test]) - offset) < 0.05, q
    with pytest.raises(TLSFinderError, match="quantile must be in"):
        SplittingRegressor(quantile=1.0)


def test_the_regressor_quantile_is_saved_with_the_model(tmp_path):
    pairs, labels = synthetic(n_glasses=6, per_glass=120)
    for q in (0.84, None):
        TLSRanker(seed=0, regressor_quantile=q).fit(pairs, labels).save(tmp_path / str(q))
        r = TLSRanker.load(tmp_path / str(q))
        assert r.regressor_quantile == q and r.regressor.quantile == q
        assert ("objective=quantile" in r.regressor.booster_.model_to_string()) == (q is not None)


def test_ensemble_members_are_saved_and_older_single_model_folders_still_load(tmp_path):
    """An ensemble folder holds member k of each model in {model}-{k}.txt (member 0 in {model}.txt) and
    predicts their average; a folder of one booster per model (n_models 1, or no n_models as written
    before ensembles) loads as one; a missing member is named."""
    pairs, labels = synthetic(n_glasses=6, per_glass=120)
    ens = TLSRanker(seed=0, n_models=3).fit(pairs, labels)
    assert len(ens.classifier.boosters_) == len(ens.regressor.boosters_) == 3
    assert ens.info["classifier"]["n_models"] == 3 and len(ens.info["regressor"]["rounds_each"]) == 3
    ens.save(tmp_path / "ens")
    names = sorted(p.name for p in (tmp_path / "ens").glob("*.txt"))
    assert names == ["classifier-1.txt", "classifier-2.txt", "classifier.txt",
                     "regressor-1.txt", "regressor-2.txt", "regressor.txt"]
    back = TLSRanker.load(tmp_path / "ens")
    pd.testing.assert_frame_equal(back.predict(pairs), ens.predict(pairs), check_exact=True)
    one = ens.predict(pairs)
    single = ens.classifier.boosters_[0].predict(pairs[list(PUBLISHED_FEATURES)].to_numpy())
    assert np.abs(one["p_dw"].to_numpy() - single).max() > 1e-3  # the average is not member 0 alone

    TLSRanker(seed=0, n_models=1).fit(pairs, labels).save(tmp_path / "one")
    meta = json.loads((tmp_path / "one" / "model.json").read_text())
    assert meta["n_models"] == 1
    del meta["n_models"]  # as written before ensembles
    (tmp_path / "one" / "model.json").write_text(json.dumps(meta))
    old = TLSRanker.load(tmp_path / "one")
    assert old.n_models == 1 and len(old.classifier.boosters_) == 1
    np.testing.assert_array_equal(old.predict(pairs)["p_dw"].to_numpy(),
                                  old.classifier.boosters_[0].predict(pairs[list(PUBLISHED_FEATURES)].to_numpy()))

    (tmp_path / "ens" / "regressor-2.txt").unlink()
    with pytest.raises(TLSFinderError, match=r"regressor-2\.txt: model file missing \(member 2 of an ensemble of 3\)"):
        TLSRanker.load(tmp_path / "ens")
    with pytest.raises(TLSFinderError, match="n_models must be an integer >= 1"):
        TLSRanker(n_models=0)


def test_too_few_labelled_double_wells_keep_the_prior_model(tmp_path):
    """With a prior (the run's pretrained model), labels holding fewer than min_dw double wells leave the
    ranking to it: the iteration's model folder ranks exactly as the prior; enough DW train anew."""
    from tlsfinder.ml import train_from_files

    pairs, labels = synthetic(n_glasses=6, per_glass=120)
    pairs.to_parquet(tmp_path / "pairs.parquet")
    prior = tmp_path / "prior"
    TLSRanker(seed=1, n_models=2).fit(pairs, labels).save(prior)
    few = labels[labels["glass"] == "g0"].head(40)
    few.to_parquet(tmp_path / "few.parquet")
    n_dw = int(few["is_dw"].sum())
    assert 0 < n_dw < 30
    kept = train_from_files(tmp_path / "pairs.parquet", tmp_path / "few.parquet", tmp_path / "kept", seed=3,
                            prior_model=prior, min_dw=30)
    ref = TLSRanker.load(prior).rank(pairs)
    pd.testing.assert_frame_equal(TLSRanker.load(tmp_path / "kept").rank(pairs), ref, check_exact=True)
    assert kept.n_models == 2
    # at the threshold it trains on the labels: from scratch, another model whose ranking differs from
    # the prior's; by default it continues the prior (too few rows here for a new split) and says so
    new = train_from_files(tmp_path / "pairs.parquet", tmp_path / "few.parquet", tmp_path / "new", seed=3,
                           prior_model=prior, min_dw=n_dw, retrain_from="scratch")
    assert new.info["n_labels"] == len(few)
    assert not TLSRanker.load(tmp_path / "new").rank(pairs)["p_tls"].equals(ref["p_tls"])
    cont = train_from_files(tmp_path / "pairs.parquet", tmp_path / "few.parquet", tmp_path / "cont", seed=3,
                            prior_model=prior, min_dw=n_dw)
    assert cont.info["n_labels"] == len(few)
    assert TLSRanker.load(tmp_path / "cont").continued_from["source"] == str(prior)


def test_a_member_with_a_handful_of_training_rows_trains_on_all_of_them():
    """Two glasses, one holding 2 labelled DW: when it is the training glass LightGBM refuses the set
    (seen on the PSS demo's second iteration); such a member trains on every row, without early stopping."""
    pairs, labels = synthetic(n_glasses=2, per_glass=80)
    dw = labels[labels["is_dw"]]
    few = pd.concat([dw[dw["glass"] == "g0"].head(15), dw[dw["glass"] == "g1"].head(2)])
    r = TLSRanker(seed=0, n_models=5).fit(pairs, few)
    p = r.predict(pairs)
    assert np.isfinite(p["splitting_pred"]).all() and p["p_tls"].between(0, 1).all()
    assert r.info["n_labels"] == 17
