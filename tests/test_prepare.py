"""Glass preparation: reproducible, complete outputs, clear errors for bad input."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.config import validate_config
from tlsfinder.io import read_glass
from tlsfinder.models import model_from_config
from tlsfinder.prepare import run_prepare


def small_config(**prepare):
    return validate_config({
        "seed": 5,
        "model": {"name": "KA2", "n": 200},
        "prepare": {"temperatures": [0.8], "n_glasses": 1, "blocks": 60, "record_every": 5, "melt_steps": 200,
                    **prepare},
    })


def test_prepare_writes_documented_outputs_and_is_reproducible(tmp_path):
    cfg = small_config()
    s1 = run_prepare(cfg, 0.8, 0, tmp_path / "a")
    s2 = run_prepare(cfg, 0.8, 0, tmp_path / "b")
    g1, g2 = read_glass(tmp_path / "a/glass.h5"), read_glass(tmp_path / "b/glass.h5")
    assert np.array_equal(g1.positions, g2.positions) and np.array_equal(g1.species, g2.species)
    assert np.array_equal(g1.velocities, g2.velocities)
    assert s1["acceptance"] == s2["acceptance"]
    th = pd.read_parquet(tmp_path / "a/thermo.parquet")
    assert list(th.columns) == ["block", "time", "e_pot", "pressure", "temperature", "fs", "acc_AC", "acc_BC"]
    assert th["block"].iloc[-1] == 60 and len(th) == 13
    assert th["fs"].dropna().iloc[0] == pytest.approx(1.0)  # F_s(q, 0) = 1
    assert np.all(th["fs"].dropna().iloc[1:] < 1.0)
    assert 0 < s1["acceptance"]["AC"] < 0.2 and 0 < s1["acceptance"]["BC"] < 0.2
    # the composition is conserved by type swaps, the glass is in the box and consistent with the model
    assert np.bincount(g1.species).tolist() == [134, 33, 33]
    assert np.all((g1.positions >= 0) & (g1.positions < g1.box))
    m = model_from_config(g1.model)
    assert g1.meta["e_pot"] == pytest.approx(m.energy(g1.positions, g1.box, g1.species) / m.n, rel=1e-9)
    assert g1.provenance["seed"] == 5 and "lammps" in g1.provenance["versions"]
    summary = json.loads((tmp_path / "a/summary.json").read_text())
    assert summary["glass"] == "T0.8/g0"


def test_different_glasses_and_seeds_differ(tmp_path):
    cfg = small_config()
    run_prepare(cfg, 0.8, 0, tmp_path / "g0")
    run_prepare(cfg, 0.8, 1, tmp_path / "g1")
    cfg2 = dict(cfg, seed=6)
    run_prepare(cfg2, 0.8, 0, tmp_path / "s6")
    p = [read_glass(tmp_path / d / "glass.h5").positions for d in ("g0", "g1", "s6")]
    assert not np.allclose(p[0], p[1]) and not np.allclose(p[0], p[2])


def test_pss_preparation_swaps_diameters(tmp_path):
    cfg = validate_config({"seed": 1, "model": {"name": "PSS", "n": 200},
                           "prepare": {"temperatures": [0.15], "n_glasses": 1, "blocks": 30, "record_every": 5,
                                       "melt_steps": 200, "melt_temperature": 0.5}})
    s = run_prepare(cfg, 0.15, 0, tmp_path)
    g = read_glass(tmp_path / "glass.h5")
    m = model_from_config(g.model)
    np.testing.assert_allclose(np.sort(g.species), np.sort(m.make_species(np.random.default_rng(0))))
    assert s["acceptance"]["swap"] > 0.01


@pytest.mark.parametrize("change, words", [
    ({"prepare": {"temperatures": [0.8], "n_glasses": 1, "colour": 3}}, ["colour", "prepare"]),
    ({"prepare": {"temperatures": [0.0], "n_glasses": 1}}, ["prepare.temperatures[0]", "0.0"]),
    ({"prepare": {"temperatures": [-0.5], "n_glasses": 1}}, ["prepare.temperatures[0]", "-0.5"]),
    ({"prepare": {"temperatures": [0.8], "n_glasses": "two"}}, ["prepare.n_glasses", "two"]),
    ({"model": {"name": "KA2", "n": -10}}, ["model.n", "-10"]),
    ({"model": {"name": "KA2", "density": -1.35}}, ["model.density", "-1.35"]),
    ({"model": {"name": "LJ"}}, ["model.name", "LJ"]),
    ({"modle": {"name": "KA2"}}, ["modle"]),
])
def test_bad_config_names_key_and_value(change, words):
    cfg = {"seed": 1, "model": {"name": "KA2"}, "prepare": {"temperatures": [0.8], "n_glasses": 1}}
    cfg.update(change)
    with pytest.raises(TLSFinderError) as exc:
        validate_config(cfg, "my.yaml")
    for w in words + ["my.yaml"]:
        assert w in str(exc.value)


def test_truncated_or_foreign_glass_file_is_named(tmp_path):
    cfg = small_config()
    run_prepare(cfg, 0.8, 0, tmp_path)
    good = tmp_path / "glass.h5"
    data = good.read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(TLSFinderError, match="truncated.h5"):
        read_glass(bad)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h:
        h["x"] = np.zeros(3)
    with pytest.raises(TLSFinderError, match="foreign.h5.*not a tlsfinder glass"):
        read_glass(foreign)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(TLSFinderError, match="notes.h5"):
        read_glass(text)
    with pytest.raises(TLSFinderError, match="PSS"):
        read_glass(good, expect_model={"name": "PSS", "n": 200})


def test_box_too_small_for_the_cutoff_is_refused():
    with pytest.raises(TLSFinderError, match="model.n = 150 is too small"):
        validate_config({"model": {"name": "KA2", "n": 150}, "prepare": {"temperatures": [0.8], "n_glasses": 1}})
