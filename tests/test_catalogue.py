"""One identity for minima and double wells: every IS id real, each DW catalogued and computed once.

The glass (conftest ``ka2_three_minima``) has IS0 -> IS1 -> IS2 with the path IS0 -> IS2 passing
through IS1, so the NEB of (0, 2) splits into the elementary wells 0-1 and 1-2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import write_is_library

from tlsfinder import TLSFinderError
from tlsfinder import neb as N
from tlsfinder.identity import IdentityRule, MinimaIndex, merge_iteration, read_minima
from tlsfinder.loop import labels_from_neb, merge_labels, merge_neb
from tlsfinder.ml import select_pairs
from tlsfinder.report.tables import catalogue
from tlsfinder.units import get_preset

GLASS = "T0.5/g0"
# Identity, not precision.  On the 0-2 band the dip of IS1 shows after ~800 FIRE steps with 16
# images (after ~2000 with 24); the band, unconverged at max_steps, is split at its end check all
# the same, and the elementary wells converge in ~250 steps.
FAST = dict(n_images=16, fmax=1e-3, max_steps=1000, check_every=200, refine=False, retries=0)
CONFIG = {"neb": FAST, "units": {"presets": ["NiP"]}}


def _selected(path, pairs):
    pd.DataFrame({"glass": [GLASS] * len(pairs), "i": [p[0] for p in pairs], "j": [p[1] for p in pairs]}).to_parquet(
        path)
    return path


def _run_iteration(tmp_path, model, lib_path, pairs, n_batches, name):
    """NEB on ``pairs`` in ``n_batches`` batches, then the merge step: (merged table, minima, batch tables)."""
    cfg = {"model": model.to_config(), **CONFIG}
    d = tmp_path / name
    d.mkdir()
    sel = _selected(d / "selected.parquet", pairs)
    tables, minima = [], []
    for b in range(n_batches):
        N.run_batch(cfg, sel, {GLASS: lib_path}, b, n_batches, d / f"batch{b}.parquet", d / f"paths{b}",
                    minima_path=d / f"batch{b}_minima.h5")
        tables.append(str(d / f"batch{b}.parquet"))
        minima.append(str(d / f"batch{b}_minima.h5"))
    merged = merge_neb(tables, minima, None, [str(lib_path)], cfg, 0, d / "neb.parquet", d / "neb_minima.h5")
    return merged, read_minima(d / "neb_minima.h5"), [pd.read_parquet(t) for t in tables]


def _runs_of(table, a, b):
    """Rows of ``table`` in which NEB actually ran the pair {a, b} (status other than "known")."""
    lo, hi = np.minimum(table["i"], table["j"]), np.maximum(table["i"], table["j"])
    return table[(lo == min(a, b)) & (hi == max(a, b)) & (table["status"] != "known")]


def test_split_through_library_is_is_catalogued_once(ka2_three_minima, tmp_path):
    """(0, 2) passes through library IS 1 while (0, 1) is also selected: 0-1 runs once, one catalogue row."""
    model, species, lib = ka2_three_minima
    lib_path = write_is_library(tmp_path / "is_library.h5", model, species, lib, GLASS)
    # two batches: the direct run of 0-1 and the split path 0-2 cannot see each other's results
    merged, minima, batches = _run_iteration(tmp_path, model, lib_path, [(0, 2), (0, 1)], 2, "it0")

    parent = merged[merged["pair_id"] == f"{GLASS}/0-2"]
    assert parent["status"].tolist() == ["split"]
    subs = merged[merged["parent"] == f"{GLASS}/0-2"]
    # the sub-pairs are named by the library's ids: the intermediate minimum is IS 1
    assert sorted(map(sorted, zip(subs["i"], subs["j"]))) == [[0, 1], [1, 2]]
    assert (merged[["i", "j"]].to_numpy() >= 0).all() and not minima["id"]
    assert len(_runs_of(merged, 0, 1)) == 1, "the double well 0-1 was computed twice"
    assert subs.loc[(np.minimum(subs["i"], subs["j"]) == 0), "status"].tolist() == ["known"]

    cat, n_dup = catalogue(merged, [get_preset("KA2", "NiP")])
    keys = list(zip(cat["glass"], np.minimum(cat["i"], cat["j"]), np.maximum(cat["i"], cat["j"])))
    assert len(keys) == len(set(keys)) and n_dup == 0
    assert (GLASS, 0, 1) in keys and (GLASS, 1, 2) in keys

    # labels: one per pair computed, the split parent in its own class; nothing labelled is selected again
    lab = labels_from_neb(merged, 0, "NiP")
    cls = {(i, j): s for i, j, s in zip(lab["i"], lab["j"], lab["neb_status"])}
    assert cls == {(0, 1): "dw", (0, 2): "split", (1, 2): cls[(1, 2)]} and cls[(1, 2)] != "known"
    assert not lab.loc[lab["neb_status"] == "split", "is_dw"].any()
    ranking = pd.DataFrame({"glass": [GLASS] * 3, "i": [0, 0, 1], "j": [1, 2, 2], "rank": [0, 1, 2],
                            "p_dw": [0.9] * 3, "splitting_pred": [np.nan] * 3, "p_tls": [np.nan] * 3})
    assert len(select_pairs(ranking, lab, 3)) == 0


def test_labelled_sub_pair_is_not_run_again(ka2_three_minima, tmp_path):
    """Sub-pairs labelled in an earlier iteration are not recomputed when a later path splits onto them."""
    model, species, lib = ka2_three_minima
    lib_path = write_is_library(tmp_path / "is_library.h5", model, species, lib, GLASS)
    labels = pd.DataFrame({"glass": [GLASS] * 2, "i": [0, 1], "j": [1, 2], "is_dw": [True, False],
                           "splitting": [1e-3, np.nan], "iteration": [0, 0]})
    labels.to_parquet(tmp_path / "labels.parquet")
    cfg = {"model": model.to_config(), **CONFIG}
    sel = _selected(tmp_path / "selected.parquet", [(0, 2)])
    out = N.run_batch(cfg, sel, {GLASS: lib_path}, 0, 1, tmp_path / "b0.parquet", tmp_path / "p0",
                      labels_path=tmp_path / "labels.parquet", minima_path=tmp_path / "m0.h5")
    assert out["status"].tolist() == ["split", "known", "known"]
    assert len(_runs_of(out, 0, 1)) == 0 and len(_runs_of(out, 1, 2)) == 0


def test_minimum_found_by_neb_gets_a_real_id(ka2_three_minima, tmp_path):
    """The library lacks IS1: the split path's intermediate minimum gets id n_IS and is kept with its finder."""
    model, species, lib = ka2_three_minima
    lib_path = write_is_library(tmp_path / "is_library.h5", model, species, [lib[0], lib[2]], GLASS)
    merged, minima, batches = _run_iteration(tmp_path, model, lib_path, [(0, 1)], 1, "it0")
    assert (batches[0][["i", "j"]].to_numpy() < 0).any()  # provisional in the batch table
    assert minima["id"] == [2] and minima["found_by"][0].startswith(f"{GLASS}/0-1")
    assert (merged[["i", "j"]].to_numpy() >= 0).all()
    subs = merged[merged["origin"] == "split"]
    assert sorted(map(sorted, zip(subs["i"], subs["j"]))) == [[0, 2], [1, 2]]
    # the new minimum is the one the library lacked
    rule = IdentityRule()
    e1 = model.energy(lib[1], model.box, species) / model.n
    assert rule.same(minima["positions"][0], minima["energy"][0], lib[1], e1, model.box)

    # a later iteration that finds the same minimum again reuses id 2; a new one would get 3
    again = merged.copy()
    again.loc[again["i"] == 2, "i"] = -1
    again.loc[again["j"] == 2, "j"] = -1
    found = {"glass": [GLASS], "id": [-1], "positions": [lib[1] + 1e-7], "energy": [e1], "found_by": ["x"],
             "iteration": [-1]}
    lib_info = {GLASS: (2, model.box)}
    t2, reg2 = merge_iteration([again], [found], minima, lib_info, rule, 1)
    assert set(t2["i"]) | set(t2["j"]) <= {0, 1, 2} and reg2["id"] == [2]
    hop = lib[1].copy()
    hop[5] += 0.05  # one particle 0.05 sigma away: Eq. 7 distance 2.9e-3 sigma, another IS
    found_new = dict(found, positions=[hop])
    t3, reg3 = merge_iteration([again], [found_new], minima, lib_info, rule, 1)
    assert reg3["id"] == [2, 3] and 3 in set(t3["i"]) | set(t3["j"])


def test_identity_rule_and_index():
    box = np.array([5.0, 5.0, 5.0])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, size=(50, 3))
    rule = IdentityRule(energy_tol=1e-7, distance_tol=1e-4)
    # a rigid translation and a periodic image are the same IS
    assert rule.same(x, -3.0, x + 0.3 + np.array([5.0, 0, 0]), -3.0, box)
    y = x.copy()
    y[7] += 0.1  # one particle hops 0.1 sigma: Eq. 7 distance 0.1 / sqrt(50) = 0.014 > 1e-4
    assert not rule.same(x, -3.0, y, -3.0, box)
    assert not rule.same(x, -3.0, x, -3.0 + 2e-7, box)
    idx = MinimaIndex(box, rule, [x, y], [-3.0, -3.0], [4, 9])
    assert idx.find(y + 1e-6, -3.0) == 9 and idx.find(x, -3.0) == 4 and idx.find(x, -2.0) is None


def test_merge_refuses_unknown_provisional_id(tmp_path):
    t = pd.DataFrame({"glass": [GLASS], "i": [0], "j": [-1], "pair_id": [f"{GLASS}/0-5.1"], "status": ["dw"]})
    with pytest.raises(TLSFinderError, match="provisional IS id -1"):
        merge_iteration([t], [{"glass": [], "id": [], "positions": [], "energy": [], "found_by": [],
                               "iteration": []}], None, {GLASS: (6, np.ones(3) * 5)}, IdentityRule(), 0)


def test_catalogue_refuses_batch_tables():
    t = pd.DataFrame({"glass": [GLASS], "i": [0], "j": [-1], "pair_id": ["x"], "status": ["dw"], "source": ["b.parquet"]})
    with pytest.raises(TLSFinderError, match="provisional"):
        catalogue(t)


def test_merge_labels_keeps_first_label(tmp_path):
    t = pd.DataFrame({"glass": [GLASS] * 3, "i": [3, 1, 0], "j": [1, 3, 2], "status": ["dw", "non_dw", "split"],
                      "origin": ["input", "split", "input"], "E_Ar": [1e-3, np.nan, np.nan]})
    t.to_parquet(tmp_path / "neb.parquet")
    lab = merge_labels(None, [str(tmp_path / "neb.parquet")], 0, "Ar", tmp_path / "labels.parquet")
    assert list(zip(lab["i"], lab["j"], lab["neb_status"])) == [(1, 3, "dw"), (0, 2, "split")]
