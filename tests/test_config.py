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
    cfg = load_config(ROOT / "config" / "config.yaml")
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
