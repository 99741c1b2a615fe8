"""The model shipped with the package (builtin:pss-T0.07): provenance, refusal, physics, rebuild.

Trained on the published PSS T_f = 0.07 tables of Ciarella et al., "Finding defects in glasses
through machine learning", arXiv:2212.05582 (TLS_ML_exploration, MIT licence).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.config import check_ml_inputs
from tlsfinder.ml import (ENSEMBLE_SIZE, REGRESSOR_QUANTILE, TLSRanker, builtin_model_dir, check_model_provenance,
                          resolve_model_path, warn_tf_range)
from tlsfinder.pairs import PUBLISHED_FEATURES
from tlsfinder.units import get_preset

from conftest import TLSML_DATA as DATA  # noqa: E402

BUILTIN = "builtin:pss-T0.07"
ROOT = Path(__file__).resolve().parents[1]

# The median features of the 291 published T_f = 0.07 TLS (splitting < 0.0015): a typical TLS.
TYPICAL_TLS = {"displacement_0": 0.367, "displacement_1": 0.0833, "displacement_2": 0.0612, "Delta_E": 0.00112,
               "0to1": 0.924, "0to2": 1.050, "total_displacement": 0.404, "PR": 1.447, "Tij": 10.0, "Tji": 10.0}


def _pairs(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)[list(PUBLISHED_FEATURES)]
    df.insert(0, "glass", pd.Series(["g"] * len(df), dtype="string"))
    df.insert(1, "i", np.arange(len(df), dtype=np.int64))
    df.insert(2, "j", np.arange(len(df), dtype=np.int64) + len(df))
    return df


def test_shipped_model_loads_with_its_provenance():
    r = TLSRanker.load(BUILTIN, "PSS", "Ar")
    meta = r.meta
    assert (meta["model"], meta["preset"]) == ("PSS", "Ar")
    # the published threshold 0.00151 (argon units) is the PSS Ar preset's k_B T_Q = 0.0015
    assert r.tls_splitting_max == get_preset("PSS", "Ar").kT_Q == 0.0015
    assert r.features == list(PUBLISHED_FEATURES)
    assert r.regressor_quantile == REGRESSOR_QUANTILE
    # the shipped model is the default ensemble: every member of both models is in the folder and used
    assert r.n_models == ENSEMBLE_SIZE == len(r.classifier.boosters_) == len(r.regressor.boosters_)
    assert r.training_data["tf"] == [0.07] and r.training_data["published_tls_threshold"] == 0.00151
    # trained on every published T_f = 0.07 pair: 39,065 labels, 23,535 DW, 291 below 0.0015
    assert (r.info["n_labels"], r.info["n_dw"], r.info["n_tls"], r.info["n_glasses"]) == (39065, 23535, 291, 50)
    folder = builtin_model_dir("pss-T0.07")
    assert resolve_model_path(BUILTIN) == folder
    assert "host" not in meta["provenance"]
    licence = (folder / "DATA_LICENSE").read_text()
    assert "MIT License" in licence and "SCiarella" in licence
    # small text files, shipped in the wheel (5 members per model: ~1.4 MB)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 2_000_000


def test_shipped_model_knows_a_large_asymmetry_is_no_tls():
    """E = sqrt(Delta^2 + Delta_0^2) >= |Delta|: a typical TLS with its energy difference raised to 30 k_B T_Q
    is predicted above the threshold and ranked far below the typical TLS itself."""
    r = TLSRanker.load(BUILTIN, "PSS", "Ar")
    kt_q = r.tls_splitting_max
    pred = r.predict(_pairs([TYPICAL_TLS, {**TYPICAL_TLS, "Delta_E": 30 * kt_q}]))
    typical, asym = pred.iloc[0], pred.iloc[1]
    assert asym["splitting_pred"] > kt_q
    assert typical["p_tls"] > 10 * asym["p_tls"]
    assert typical["p_dw"] > 0.5 and typical["p_tls"] > 0.5


def test_shipped_model_is_refused_by_other_models_and_presets():
    with pytest.raises(TLSFinderError, match=r"model PSS \(PSS Ar\), but this run is model KA2 \(KA2 Ar\)"):
        TLSRanker.load(BUILTIN, "KA2", "Ar")
    with pytest.raises(TLSFinderError, match=r"preset Ar \(PSS Ar\), but this run is preset NiP \(PSS NiP\)"):
        TLSRanker.load(BUILTIN, "PSS", "NiP")
    with pytest.raises(TLSFinderError, match="this run is model KA2"):
        check_model_provenance(BUILTIN, "KA2", "Ar")
    # the config check (ml.pretrained_model) on the shipped folder
    folder = str(builtin_model_dir("pss-T0.07"))
    check_ml_inputs({"model": {"name": "PSS"}, "loop": {"preset": "Ar"}, "ml": {"pretrained_model": folder}})
    for model, preset in (("KA2", "Ar"), ("KA2", "NiP"), ("PSS", "NiP")):
        with pytest.raises(TLSFinderError, match=f"this run is .*\\({model} {preset}\\)"):
            check_ml_inputs({"model": {"name": model}, "loop": {"preset": preset},
                             "ml": {"pretrained_model": folder}})
    with pytest.raises(TLSFinderError, match=r"builtin:nope: no such model.*builtin:pss-T0.07"):
        TLSRanker.load("builtin:nope")


def test_far_fictive_temperatures_are_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="tlsfinder.ml"):
        assert warn_tf_range(BUILTIN, [0.062, 0.07, 0.092]) == []  # the published range
        assert not caplog.records
        assert warn_tf_range(BUILTIN, [0.092, 0.2, 0.03]) == [0.2, 0.03]
    assert "T_f = 0.2 is more than a factor 1.5 away" in caplog.text


def _build_script():
    spec = importlib.util.spec_from_file_location("build_pretrained", ROOT / "benchmarks" / "build_pretrained.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rebuild_reproduces_the_shipped_model(tmp_path):
    if not (DATA / "pretraining-classifier-T007.feather").exists():
        pytest.skip(f"published data not available (set TLSFINDER_TLSML_DATA); looked in {DATA.name}/")
    from tlsfinder.importer import import_tlsml

    _build_script().build(DATA, tmp_path / "model")
    shipped = TLSRanker.load(BUILTIN, "PSS", "Ar")
    rebuilt = TLSRanker.load(tmp_path / "model", "PSS", "Ar")
    pairs, _ = import_tlsml([DATA / "pretraining-classifier-T007.feather"])
    rows = pairs.iloc[np.random.default_rng(0).choice(len(pairs), 300, replace=False)]
    a, b = shipped.predict(rows), rebuilt.predict(rows)
    for col in ("p_dw", "splitting_pred", "p_tls"):
        np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["training"]["classifier"]["rounds"] == shipped.info["classifier"]["rounds"]
    assert meta["training"]["regressor"]["rounds"] == shipped.info["regressor"]["rounds"]
