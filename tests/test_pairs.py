"""Pairs of inherent structures and their features (tlsfinder.pairs)."""

from __future__ import annotations

import argparse
import json
import math
import re

import h5py
import numpy as np
import pandas as pd
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.explore import ISLIB_FORMAT
from tlsfinder.pairs import (
    PAIR_COLUMNS,
    PUBLISHED_FEATURES,
    candidate_pairs,
    check_pairs_table,
    count_transitions,
    load_transitions,
    pair_features,
    pairs_from_files,
    read_pairs,
)

BOX = np.array([4.0, 5.0, 6.0])


def hand_built():
    """Three IS of 5 particles in a 4 x 5 x 6 box.

    IS 0 (energy -1.998 per particle) and IS 1 (-2.000) differ by:
      particle 0: x 3.9 -> 0.1, i.e. +0.2 across the periodic boundary;
      particle 1: (0, +0.3, +0.4), |d| = 0.5;
      particle 2: z 5.5 -> 5.6, |d| = 0.1;
    particles 3 and 4 do not move.  IS 2 is 5 eps above: outside a window of 1.
    """
    a = np.array([[3.9, 1.0, 1.0], [1.0, 2.0, 3.0], [2.0, 4.8, 5.5], [0.5, 0.5, 0.5], [3.0, 3.0, 3.0]])
    b = a.copy()
    b[0, 0] = 0.1
    b[1] += [0.0, 0.3, 0.4]
    b[2, 2] = 5.6
    c = a + 0.02 * np.arange(1, 6)[:, None] * np.array([1.0, -2.0, 0.5])  # distinct displacements
    positions = np.stack([a, b, c])
    energies = np.array([-1.998, -2.0, -1.0])
    transitions = np.zeros((3, 3), dtype=int)
    transitions[1, 0] = 3  # lower (IS 1) -> upper (IS 0)
    transitions[0, 1] = 5  # upper -> lower
    ids = np.array([7, 3, 9])
    return positions, energies, transitions, ids


def test_features_of_a_hand_built_pair_equal_hand_values():
    positions, energies, transitions, ids = hand_built()
    df = pair_features(positions, energies, BOX, transitions, ids, glass="g0", delta_e_max=1.0)
    assert list(df.columns) == list(PAIR_COLUMNS)
    assert len(df) == 1  # IS 2 is outside the window
    r = df.iloc[0]
    assert (r["glass"], r["i"], r["j"]) == ("g0", 3, 7)
    # values by hand (see hand_built): displacements 0.5 (p1), 0.2 (p0, across the boundary), 0.1 (p2)
    expected = {
        "displacement_0": 0.5,
        "displacement_1": 0.2,
        "displacement_2": 0.1,
        "Delta_E": 5 * 0.002,  # N (e_upper - e_lower)
        # midpoints: p1 (1, 2.15, 3.2); p0 (0 or 4, 1, 1): minimum image (-1, -1.15, -2.2)
        "0to1": math.sqrt(1.0 + 1.15**2 + 2.2**2),
        # p2 (2, 4.8, 5.55) - p1 = (1, 2.65, 2.35); y > L_y / 2 -> -2.35
        "0to2": math.sqrt(1.0 + 2.35**2 + 2.35**2),
        "total_displacement": math.sqrt(0.25 + 0.04 + 0.01),
        "PR": 0.3**2 / (0.5**4 + 0.2**4 + 0.1**4),
        "Tij": 3.0,  # lower -> upper
        "Tji": 5.0,
        "e_i": -2.0,  # IS id 3 is the lower one
        "e_j": -1.998,
    }
    for key, value in expected.items():
        assert r[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key


def test_features_do_not_depend_on_wrapping_or_listing_order():
    positions, energies, transitions, ids = hand_built()
    ref = pair_features(positions, energies, BOX, transitions, ids, delta_e_max=10.0)
    shifted = positions + np.array([[[4.0, -5.0, 12.0]]])  # whole-box images
    perm = np.array([2, 0, 1])
    got = pair_features(shifted[perm], energies[perm], BOX, transitions[np.ix_(perm, perm)], ids[perm], delta_e_max=10.0)
    pd.testing.assert_frame_equal(got, ref, rtol=1e-12, atol=1e-12)
    assert len(ref) == 3


def _reference(positions, energies, box, transitions, delta_e_max):
    """Straightforward loops over pairs and particles."""
    n_is, n, _ = positions.shape
    rows = []
    for a in range(n_is):
        for b in range(a + 1, n_is):
            if n * abs(energies[a] - energies[b]) > delta_e_max:
                continue
            lo, hi = (a, b) if (energies[a], a) <= (energies[b], b) else (b, a)
            d = positions[hi] - positions[lo]
            d -= box * np.round(d / box)
            dn = np.sqrt((d**2).sum(1))
            o = np.argsort(-dn)
            mid = positions[lo] + d / 2

            def dist(u, v):
                w = u - v
                w -= box * np.round(w / box)
                return float(np.sqrt((w**2).sum()))

            rows.append({"i": a, "j": b, "displacement_0": dn[o[0]], "displacement_1": dn[o[1]],
                         "displacement_2": dn[o[2]], "Delta_E": n * (energies[hi] - energies[lo]),
                         "0to1": dist(mid[o[1]], mid[o[0]]), "0to2": dist(mid[o[2]], mid[o[0]]),
                         "total_displacement": np.sqrt((dn**2).sum()), "PR": (dn**2).sum() ** 2 / (dn**4).sum(),
                         "Tij": transitions[lo, hi], "Tji": transitions[hi, lo]})
    return pd.DataFrame(rows)


def test_random_library_matches_reference_loops_and_window():
    rng = np.random.default_rng(5)
    n_is, n = 30, 40
    base = rng.random((n, 3)) * BOX
    positions = np.mod(base + rng.normal(0, 0.4, (n_is, n, 3)), BOX)
    energies = rng.normal(0, 2e-3, n_is)
    transitions = rng.integers(0, 4, (n_is, n_is)) * (rng.random((n_is, n_is)) < 0.3)
    got = pair_features(positions, energies, BOX, transitions, delta_e_max=0.08)
    ref = _reference(positions, energies, BOX, transitions, 0.08)
    assert 0 < len(got) < n_is * (n_is - 1) // 2  # the window matters
    assert len(got) == len(ref)
    got = got.set_index(["i", "j"]).sort_index()
    ref = ref.set_index(["i", "j"]).sort_index()
    for c in PUBLISHED_FEATURES:
        np.testing.assert_allclose(got[c].to_numpy(), ref[c].to_numpy(dtype=float), rtol=1e-12, atol=1e-12, err_msg=c)
    # pairs never crossed are there, with zero counts
    never = (got["Tij"] == 0) & (got["Tji"] == 0)
    assert never.sum() > 0


def test_candidate_pairs_window_edges():
    e = np.array([0.0, 0.1, 0.25, 0.3])  # per particle, N = 10 -> totals 0, 1, 2.5, 3
    lo, hi = candidate_pairs(e, 10, 1.0)
    assert sorted(zip(lo.tolist(), hi.tolist())) == [(0, 1), (2, 3)]
    lo, hi = candidate_pairs(e, 10, 0.0)
    assert len(lo) == 0


def test_identical_structures_are_dropped():
    positions, energies, transitions, ids = hand_built()
    positions = np.concatenate([positions, positions[:1]])
    energies = np.append(energies, energies[0])
    t = np.zeros((4, 4), dtype=int)
    df = pair_features(positions, energies, BOX, t, delta_e_max=1.0)
    assert set(zip(df["i"], df["j"])) == {(0, 1), (1, 3)}  # (0, 3) are the same structure


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda p, e, b, t: (p[:, :, :2], e, b, t), "shape"),
        (lambda p, e, b, t: (p, e[:2], b, t), "energies"),
        (lambda p, e, b, t: (p, e, np.array([4.0, -5.0, 6.0]), t), "box"),
        (lambda p, e, b, t: (p, e, b, -t), "transitions"),
        (lambda p, e, b, t: (np.where(p > 3, np.nan, p), e, b, t), "NaN"),
    ],
)
def test_bad_inputs_raise_user_errors(change, match):
    positions, energies, transitions, _ = hand_built()
    p, e, b, t = change(positions, energies, BOX, transitions)
    with pytest.raises(TLSFinderError, match=match):
        pair_features(p, e, b, t)


def _write_library(tmp_path, positions, energies, box, drop=(), explore=None):
    """An IS library in the explorer's format (tlsfinder.explore), without the datasets in ``drop``;
    ``explore``: the config section recorded in its provenance, as the explorer records it."""
    path = tmp_path / "is_library.h5"
    n_is, n = positions.shape[:2]
    data = {"positions": positions, "energy": energies, "first_seen": np.arange(n_is, dtype=float),
            "visits": np.ones(n_is, dtype=np.int64), "fmax": np.full(n_is, 1e-11),
            "species": np.zeros(n, dtype=np.int64)}
    with h5py.File(path, "w") as h:
        h.attrs["format"] = ISLIB_FORMAT
        h.attrs["box"] = box
        h.attrs["model"] = json.dumps({"name": "KA2", "n": n})
        h.attrs["glass"] = "T0.5/g1"
        if explore is not None:
            h.attrs["provenance"] = json.dumps({"config": {"explore": explore}, "seed": 1})
        for k, v in data.items():
            if k not in drop:
                h[k] = v
    return path


def test_file_level_matches_pure_function(tmp_path):
    positions, energies, transitions, _ = hand_built()
    lib = _write_library(tmp_path, positions, energies, BOX)
    trans = tmp_path / "transitions.parquet"
    # (1 -> 0) split over two rows: counts are summed
    pd.DataFrame({"i": [1, 1, 0], "j": [0, 0, 1], "count": [1, 2, 5]}).to_parquet(trans)
    out = tmp_path / "pairs" / "pairs.parquet"
    df = pairs_from_files(lib, trans, glass="T0.5/g1", delta_e_max=10.0, transition_count="every_change", out=out)
    ref = pair_features(positions, energies, BOX, transitions, glass="T0.5/g1", delta_e_max=10.0)
    pd.testing.assert_frame_equal(df, ref)
    back = read_pairs(out)
    assert len(back) == 3 and back.loc[(back["i"] == 0) & (back["j"] == 1), "Tij"].item() == 3.0


def test_file_level_errors_name_the_file(tmp_path):
    positions, energies, _, _ = hand_built()
    path = _write_library(tmp_path, positions, energies, BOX, drop=("energy",))
    with pytest.raises(TLSFinderError, match=re.escape(f"{path}: IS library lacks energy")):
        pairs_from_files(path, None, glass="g")
    with pytest.raises(TLSFinderError, match=re.escape(f"{tmp_path / 'none.h5'}: no such IS library")):
        pairs_from_files(tmp_path / "none.h5", None, glass="g")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h:  # the old, loosely checked layout: no format attribute
        h["positions"], h["energy"], h.attrs["box"] = positions, energies, BOX
    with pytest.raises(TLSFinderError, match=re.escape(f"{foreign}: not a tlsfinder IS library")):
        pairs_from_files(foreign, None, glass="g")
    trans = tmp_path / "t.parquet"
    pd.DataFrame({"i": [0], "j": [9], "count": [1]}).to_parquet(trans)
    with pytest.raises(TLSFinderError, match="outside"):
        load_transitions(trans, 3)
    pd.DataFrame({"i": [0], "count": [1]}).to_parquet(trans)
    with pytest.raises(TLSFinderError, match="'j'"):
        load_transitions(trans, 3)


def test_check_pairs_table_names_missing_and_nonfinite_columns():
    positions, energies, transitions, ids = hand_built()
    df = pair_features(positions, energies, BOX, transitions, ids, glass="g", delta_e_max=10.0)
    check_pairs_table(df)
    with pytest.raises(TLSFinderError, match=r"0to2.*PR|missing column\(s\) \['0to2', 'PR'\]"):
        check_pairs_table(df.drop(columns=["PR", "0to2"]))
    bad = df.copy()
    bad.loc[0, "Delta_E"] = np.nan
    bad.loc[1, "Tji"] = np.inf
    with pytest.raises(TLSFinderError) as err:
        check_pairs_table(bad)
    assert "Delta_E" in str(err.value) and "Tji" in str(err.value) and "PR" not in str(err.value)


def test_cli_pairs(tmp_path):
    from tlsfinder.commands import pairs as mod

    positions, energies, _, _ = hand_built()
    lib = _write_library(tmp_path, positions, energies, BOX)
    parser = argparse.ArgumentParser()
    mod.add_cli(parser.add_subparsers())
    out = tmp_path / "p.parquet"
    args = parser.parse_args(["pairs", "--is-library", str(lib), "--glass", "g7", "--delta-e-max", "1", "--out", str(out)])
    assert args.func(args)["pairs"] == 1
    df = pd.read_parquet(out)
    assert df["glass"].tolist() == ["g7"] and df["Tij"].tolist() == [0.0]


# ---------------------------------------------------------------------------
# counting Tij / Tji from the exploration's time series (ml.transition_count)
# ---------------------------------------------------------------------------

# IS 0 = a, 1 = b, 2 = c; quench intervals of 100 MD steps (tau_cg / dt).
A, B, C = 0, 1, 2


def _counts(steps, ids, mode):
    return count_transitions(np.array(steps), np.array(ids), 3, mode, interval_steps=100)


def test_quick_excursion_inside_one_interval_counts_only_every_change():
    # a, then a -> c at step 130 and c -> a at step 160: both inside the interval (100, 200]
    steps, ids = [0, 130, 160], [A, C, A]
    assert _counts(steps, ids, "interval").sum() == 0
    t = _counts(steps, ids, "every_change")
    assert t.sum() == 2 and t[A, C] == 1 and t[C, A] == 1


def test_hop_mid_interval_counts_once_either_way():
    steps, ids = [0, 150], [A, B]  # a -> b at step 150, stays in b
    for mode in ("interval", "every_change"):
        t = _counts(steps, ids, mode)
        assert t[A, B] == 1 and t.sum() == 1, mode


def test_two_hops_inside_one_interval_count_as_one_between_its_ends():
    steps, ids = [0, 120, 170], [A, C, B]  # a -> c -> b inside (100, 200]
    t = _counts(steps, ids, "interval")
    assert t[A, B] == 1 and t.sum() == 1
    t = _counts(steps, ids, "every_change")
    assert t[A, C] == 1 and t[C, B] == 1 and t[A, B] == 0


def test_changes_on_quench_times_count_alike_and_boundaries_belong_to_the_later_is():
    # the fixed protocol locates each change at an interval end: both countings agree
    steps, ids = [0, 100, 300, 400, 700], [A, B, A, C, A]
    np.testing.assert_array_equal(_counts(steps, ids, "interval"), _counts(steps, ids, "every_change"))
    # a change at step 200 is the IS at t = 200 (last entered at or before); a -> b -> a over
    # (100, 200] and (200, 300] are two intervals, so two counts
    t = _counts([0, 200, 250], [A, B, A], "interval")
    assert t[A, B] == 1 and t[B, A] == 1


def test_count_transitions_bad_inputs_name_the_fault():
    with pytest.raises(TLSFinderError, match="transition_count = 'sometimes'"):
        count_transitions(np.array([0]), np.array([0]), 3, "sometimes", 100)
    with pytest.raises(TLSFinderError, match="outside 0..2"):
        _counts([0, 50], [A, 5], "every_change")
    with pytest.raises(TLSFinderError, match="never decrease"):
        _counts([0, 50, 40], [A, B, A], "interval")
    with pytest.raises(TLSFinderError, match="tau_cg / dt"):
        count_transitions(np.array([0, 50]), np.array([A, B]), 3, "interval", None)


def test_file_level_counts_from_the_time_series_beside_the_transitions(tmp_path):
    """The exploration writes timeseries.parquet beside transitions.parquet and records tau_cg, dt."""
    positions, energies, _, _ = hand_built()
    lib = _write_library(tmp_path, positions, energies, BOX, explore={"tau_cg": 0.5, "dt": 0.005})
    # IS 1 (lower) -> 0 at step 150, an excursion 0 -> 1 -> 0 inside (200, 300], 0 -> 1 at step 450
    pd.DataFrame({"step": np.array([0, 150, 230, 260, 450]), "time": [0.0, 0.75, 1.15, 1.3, 2.25],
                  "is_id": np.array([1, 0, 1, 0, 1])}).to_parquet(tmp_path / "timeseries.parquet")
    trans = tmp_path / "transitions.parquet"  # what the explorer writes: every change
    pd.DataFrame({"i": np.array([0, 1]), "j": np.array([1, 0]), "count": np.array([2, 2])}).to_parquet(trans)

    def tij_tji(**kw):
        df = pairs_from_files(lib, trans, glass="g", delta_e_max=10.0, **kw)
        r = df[(df["i"] == 0) & (df["j"] == 1)].iloc[0]
        return r["Tij"], r["Tji"]  # lower (IS 1) -> upper (IS 0), and back

    assert tij_tji() == (1.0, 1.0)  # the default counts per quench interval of 100 steps
    out = tmp_path / "pairs.parquet"
    pairs_from_files(lib, trans, glass="g", delta_e_max=10.0, out=out)
    assert pd.read_parquet(out).attrs == {"transition_count": "interval", "interval_steps": 100}
    assert tij_tji(transition_count="every_change") == (2.0, 2.0)
    assert tij_tji(interval_steps=1000) == (0.0, 0.0)  # one interval [0, 1000]: starts and ends in IS 1
    bare = tmp_path / "bare"
    bare.mkdir()
    lib2 = _write_library(bare, positions, energies, BOX)  # no recorded explore config
    with pytest.raises(TLSFinderError, match=re.escape(f"{lib2}: no explore.tau_cg / explore.dt recorded")):
        pairs_from_files(lib2, trans, glass="g")
    with pytest.raises(TLSFinderError, match=re.escape(f"{bare / 'timeseries.parquet'}: no such time series")):
        pairs_from_files(lib2, bare / "transitions.parquet", glass="g", interval_steps=100)
