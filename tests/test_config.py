"""The config schema is the documented list of keys; its defaults agree with the code's."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from tlsfinder import TLSFinderError
from tlsfinder.config import check_results_config, load_config, record_results_config, schema
from tlsfinder.explore import ExploreSettings
from tlsfinder.loop import LoopSettings
from tlsfinder.neb import NEBSettings
from tlsfinder.prepare import PrepareSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("section, cls", [("prepare", PrepareSettings), ("explore", ExploreSettings),
                                          ("loop", LoopSettings), ("neb", NEBSettings)])
def test_schema_defaults_match_the_settings_classes(section, cls):
    props = schema()["properties"][section]["properties"]
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    for key, sub in props.items():
        if "default" in sub:
            assert fields[key] == pytest.approx(sub["default"]) if isinstance(sub["default"], float) \
                else fields[key] == sub["default"], key
    assert set(fields) <= set(props), set(fields) - set(props)


def test_every_schema_key_is_documented():
    text = (ROOT / "config" / "README.md").read_text()
    for section, sub in schema()["properties"].items():
        keys = sub.get("properties", {}) if sub.get("type") == "object" else {section: None}
        for key in keys:
            assert f"`{key}`" in text, f"{section}.{key} is not in config/README.md"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_shipped_configs_validate(name):
    cfg = load_config(ROOT / "config" / name)
    assert cfg["model"]["name"] in ("KA2", "PSS")


def test_results_record_without_a_newer_key_is_refused_only_off_its_default(tmp_path):
    """A results folder recorded before a key existed holds results of that key's default."""
    rec = tmp_path / "results" / "run_config.json"
    props = schema()["properties"]
    default_tol = props["explore"]["properties"]["distance_tol"]["default"]
    cfg = load_config(ROOT / "config" / "ka2_demo.yaml")  # KA2: its distance_tol default is the schema's
    cfg["explore"]["distance_tol"] = default_tol
    cfg["splitting"] = {k: v["default"] for k, v in props["splitting"]["properties"].items() if "default" in v}
    # the record of an older version: it knew neither explore.distance_tol nor the splitting section
    record_results_config(cfg, rec)
    old = json.loads(rec.read_text())
    del old["explore"]["distance_tol"]
    del old["splitting"]
    rec.write_text(json.dumps(old))

    check_results_config(cfg, rec)  # the current config uses both defaults: the same science
    off = copy.deepcopy(cfg)
    off["explore"]["distance_tol"] = 2 * default_tol
    with pytest.raises(TLSFinderError, match=r"explore\.distance_tol: not recorded -> 0\.0002\)") as err:
        check_results_config(off, rec)
    assert "splitting" not in str(err.value)
    # a key the record has still counts when it differs, default or not
    record_results_config(off, rec)
    with pytest.raises(TLSFinderError, match=r"explore\.distance_tol: 0\.0002 -> 0\.0001\)"):
        check_results_config(cfg, rec)


def test_a_results_record_from_before_transition_count_holds_every_change_counts(tmp_path):
    """Pair features of folders recorded before ml.transition_count counted every change: the new
    default ("interval") is other science there, "every_change" the same."""
    rec = tmp_path / "run_config.json"
    cfg = load_config(ROOT / "config" / "ka2_demo.yaml")
    assert cfg["ml"]["transition_count"] == "interval"
    record_results_config(cfg, rec)
    old = json.loads(rec.read_text())
    del old["ml"]["transition_count"]
    rec.write_text(json.dumps(old))
    with pytest.raises(TLSFinderError, match=r"ml\.transition_count: 'every_change' -> 'interval'"):
        check_results_config(cfg, rec)
    same = copy.deepcopy(cfg)
    same["ml"]["transition_count"] = "every_change"
    check_results_config(same, rec)


def test_schema_defaults_are_what_a_validated_config_gets():
    from tlsfinder.schema import default, defaults

    minimal = {"model": {"name": "KA2"}, "prepare": {"temperatures": [0.5], "n_glasses": 1}}
    cfg = load_config_dict(minimal)
    for section in ("prepare", "explore", "ml", "loop", "neb", "units", "splitting"):
        filled = {k: v for k, v in cfg[section].items() if k not in minimal.get(section, {})}
        assert defaults(section) == filled, section
    assert defaults("model") == {}  # model keys default per model (tlsfinder.models), not in the schema
    assert default("neb.fmax") == 1e-3 and default("explore.setup_steps") is None and default("seed") == 12345
    assert default("units.presets") == ["Ar", "NiP"]
    with pytest.raises(TLSFinderError, match="no default"):
        default("model.n")
    with pytest.raises(TLSFinderError, match="not a key"):
        default("neb.nope")
    with pytest.raises(TLSFinderError, match="not a section"):
        defaults("seed")


def load_config_dict(raw: dict) -> dict:
    from tlsfinder.config import validate_config

    return validate_config(copy.deepcopy(raw))


def test_glasses_of_a_config_one_count_or_one_per_temperature():
    from tlsfinder.config import glasses, n_glasses, validate_config

    cfg = {"model": {"name": "KA2"}, "prepare": {"temperatures": [0.5, 0.617], "n_glasses": 2}}
    assert n_glasses(cfg) == [2, 2]
    assert glasses(cfg) == [("0.5", 0), ("0.5", 1), ("0.617", 0), ("0.617", 1)]
    cfg["prepare"]["n_glasses"] = [1, 3]
    assert glasses(cfg) == [("0.5", 0), ("0.617", 0), ("0.617", 1), ("0.617", 2)]
    cfg["prepare"]["n_glasses"] = [1, 2, 3]
    with pytest.raises(TLSFinderError, match="prepare.n_glasses has 3 entries but prepare.temperatures has 2"):
        validate_config(cfg)


# ---------------------------------------------------------------------------
# per-model physics defaults
# ---------------------------------------------------------------------------

PSS_MIN = {"model": {"name": "PSS"}, "prepare": {"temperatures": [0.07], "n_glasses": 1}}


def test_pss_explores_at_its_own_temperature_not_at_ka2s(caplog):
    """T_exp = 0.4 would melt a PSS glass (T_MCT = 0.104): PSS gets T_MD = 0.04 of Khomenko et al. (2021)."""
    from tlsfinder.models import model_from_config
    from tlsfinder.schema import default, defaults

    with caplog.at_level("INFO", logger="tlsfinder.config"):
        pss = load_config_dict(PSS_MIN)
    ka2 = load_config_dict({**PSS_MIN, "model": {"name": "KA2"}})
    assert (pss["explore"]["temperature"], pss["explore"]["dt"], pss["explore"]["thermostat_damping"]) == (0.04, 0.005, 0.5)
    assert (ka2["explore"]["temperature"], ka2["explore"]["dt"], ka2["explore"]["thermostat_damping"]) == (0.4, 0.0025, 0.25)
    assert (pss["explore"]["distance_tol"], ka2["explore"]["distance_tol"]) == (1e-5, 1e-4)
    # the exploration stays well below the glass transition of either model, and both thermostats act over 100 dt
    assert pss["explore"]["temperature"] < 0.104 / 2 and ka2["explore"]["temperature"] < 0.435
    for cfg in (pss, ka2):
        assert cfg["explore"]["thermostat_damping"] / cfg["explore"]["dt"] == pytest.approx(100)
    # the log names every per-model default used; the validated config records the values
    assert "PSS defaults for explore.temperature = 0.04, explore.dt = 0.005, explore.thermostat_damping = 0.5" \
        in caplog.text
    # N and density of the papers, in the schema too
    assert (pss["model"]["n"], pss["model"]["density"], ka2["model"]["n"], ka2["model"]["density"]) == (1500, 1.0, 1200, 1.35)
    assert model_from_config({"name": "PSS"}).n == 1500 and defaults("model", "KA2") == {"n": 1200, "density": 1.35}
    # what the user sets wins; the settings class applies the same defaults without a config
    own = load_config_dict({**PSS_MIN, "explore": {"temperature": 0.03}})
    assert own["explore"]["temperature"] == 0.03 and own["explore"]["dt"] == 0.005
    assert dataclasses.asdict(ExploreSettings.for_model("PSS")) == pss["explore"]
    assert dataclasses.asdict(ExploreSettings.from_config({}, model="KA2")) == ka2["explore"]
    assert default("explore.temperature", "PSS") == 0.04 and default("explore.temperature") == 0.4
    # a tau_cg that is no multiple of the PSS dt is refused, naming both
    with pytest.raises(TLSFinderError, match=r"explore.tau_cg = 0.0075 must be a positive multiple of explore.dt = 0.005"):
        load_config_dict({**PSS_MIN, "explore": {"tau_cg": 0.0075}})


def test_a_pss_results_folder_recorded_before_per_model_defaults_counts_its_old_temperature(tmp_path):
    """A record lacking a key compares with that key's default *for the record's model*."""
    rec = tmp_path / "run_config.json"
    cfg = load_config_dict(PSS_MIN)
    old = copy.deepcopy(cfg)
    del old["explore"]["dt"], old["model"]["n"]  # an older record: neither key written
    rec.write_text(json.dumps(old))
    check_results_config(cfg, rec)  # dt = 0.005 and N = 1500 are PSS's defaults: the same science
    old["explore"]["temperature"] = 0.4  # made when PSS explored at KA2's temperature
    rec.write_text(json.dumps(old))
    with pytest.raises(TLSFinderError, match=r"explore\.temperature: 0\.4 -> 0\.04"):
        check_results_config(cfg, rec)


# ---------------------------------------------------------------------------
# one TLS threshold per preset
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model, preset, kt_q", [("KA2", "Ar", 0.005), ("KA2", "NiP", 0.0012), ("PSS", "Ar", 0.0015),
                                                 ("PSS", "NiP", 0.0002)])
def test_selection_stopping_rule_and_report_share_the_presets_threshold(model, preset, kt_q):
    from tlsfinder.loop import tls_threshold
    from tlsfinder.ml import TLSRanker, tls_threshold_of
    from tlsfinder.report.make import run_settings

    cfg = load_config_dict({**PSS_MIN, "model": {"name": model}, "loop": {"preset": preset}})
    assert tls_threshold(cfg) == run_settings(cfg)[-1] == tls_threshold_of(model, preset) == kt_q
    assert TLSRanker(model=model, preset=preset).tls_splitting_max == kt_q
    with pytest.raises(TLSFinderError, match=f"differs from the TLS threshold of {model} {preset}"):
        TLSRanker(model=model, preset=preset, tls_splitting_max=2 * kt_q)


def test_the_removed_ml_threshold_is_refused_unless_it_is_the_presets(caplog):
    base = {**PSS_MIN, "model": {"name": "KA2"}, "loop": {"preset": "NiP"}}
    with caplog.at_level("WARNING", logger="tlsfinder.config"):
        cfg = load_config_dict({**base, "ml": {"tls_splitting_max": 0.0012}})
    assert "tls_splitting_max" not in cfg["ml"] and "no longer needed" in caplog.text
    with pytest.raises(TLSFinderError, match=r"ml.tls_splitting_max = 0.005 is no longer a config key: the TLS threshold "
                                             r".* is loop.preset's k_B T_Q \(KA2 NiP: 0.0012 eps\)"):
        load_config_dict({**base, "ml": {"tls_splitting_max": 0.005}})
    from tlsfinder.ml import ml_setting

    with pytest.raises(TLSFinderError, match="loop.preset's k_B T_Q"):
        ml_setting(cfg, "tls_splitting_max")


# ---------------------------------------------------------------------------
# a pretrained model or initial labels of another model or preset
# ---------------------------------------------------------------------------


def _tiny_ranker(model, preset, seed=0):
    import numpy as np
    import pandas as pd

    from tlsfinder.ml import TLSRanker
    from tlsfinder.pairs import PUBLISHED_FEATURES

    rng = np.random.default_rng(seed)
    n = 120
    pairs = pd.DataFrame({c: rng.uniform(0.1, 1, n) for c in PUBLISHED_FEATURES})
    pairs.insert(0, "glass", pd.Series([f"g{k % 3}" for k in range(n)], dtype="string"))
    pairs.insert(1, "i", np.arange(n))
    pairs.insert(2, "j", np.arange(n) + n)
    is_dw = pairs["displacement_0"].to_numpy() < 0.6
    labels = pd.DataFrame({"glass": pairs["glass"], "i": pairs["i"], "j": pairs["j"], "is_dw": is_dw,
                           "splitting": np.where(is_dw, 10 ** (-1 - 3 * pairs["PR"].to_numpy()), np.nan)})
    return TLSRanker(model=model, preset=preset, seed=seed, fallback_rounds=5).fit(pairs, labels), labels


def test_a_pretrained_model_or_labels_of_another_model_or_preset_are_refused(tmp_path):
    from tlsfinder.ml import TLSRanker, labels_provenance, read_labels, write_labels

    ranker, labels = _tiny_ranker("KA2", "Ar")
    ranker.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert (meta["model"], meta["preset"], meta["tls_splitting_max"]) == ("KA2", "Ar", 0.005)
    write_labels(tmp_path / "labels.parquet", labels, "KA2", "Ar")
    assert labels_provenance(tmp_path / "labels.parquet") == {"model": "KA2", "preset": "Ar"}
    assert len(read_labels(tmp_path / "labels.parquet", "KA2", "Ar")) == len(labels)

    ml = {"pretrained_model": str(tmp_path / "model"), "initial_labels": str(tmp_path / "labels.parquet")}
    base = {"prepare": {"temperatures": [0.5], "n_glasses": 1}, "ml": ml}
    load_config_dict({**base, "model": {"name": "KA2"}, "loop": {"preset": "Ar"}})  # the run they were made for
    with pytest.raises(TLSFinderError, match=r"model.*a model trained on splittings of preset Ar \(KA2 Ar\), but this "
                                             r"run is preset NiP \(KA2 NiP\)"):
        load_config_dict({**base, "model": {"name": "KA2"}, "loop": {"preset": "NiP"}})
    with pytest.raises(TLSFinderError, match=r"model KA2 \(KA2 Ar\), but this run is model PSS \(PSS Ar\)"):
        load_config_dict({**base, "model": {"name": "PSS"}, "loop": {"preset": "Ar"}})
    with pytest.raises(TLSFinderError, match=r"labels.parquet: labels of preset Ar \(KA2 Ar\), but this run is preset "
                                             r"NiP \(KA2 NiP\)"):
        load_config_dict({**base, "ml": {"initial_labels": ml["initial_labels"]}, "model": {"name": "KA2"},
                          "loop": {"preset": "NiP"}})
    # at use time too: loading the model, reading the labels
    with pytest.raises(TLSFinderError, match="this run is model PSS"):
        TLSRanker.load(tmp_path / "model", "PSS", "Ar")
    with pytest.raises(TLSFinderError, match="this run is preset NiP"):
        read_labels(tmp_path / "labels.parquet", "KA2", "NiP")
    # a loaded model keeps its preset's threshold and provenance
    loaded = TLSRanker.load(tmp_path / "model", "KA2", "Ar")
    assert (loaded.model, loaded.preset, loaded.tls_splitting_max) == ("KA2", "Ar", 0.005)
