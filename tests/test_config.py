"""The config schema is the documented list of keys; its defaults agree with the code's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tlsfinder.config import load_config, schema
from tlsfinder.explore import ExploreSettings
from tlsfinder.loop import LoopSettings
from tlsfinder.neb import NEBSettings
from tlsfinder.ml import DEFAULTS as ML_DEFAULTS
from tlsfinder.pairs import DEFAULT_DELTA_E_MAX
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


def test_schema_defaults_match_the_ml_defaults():
    props = schema()["properties"]["ml"]["properties"]
    for key, value in ML_DEFAULTS.items():
        assert props[key]["default"] == value, key
    assert props["delta_e_max"]["default"] == DEFAULT_DELTA_E_MAX


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
