"""Importer of the published TLS_ML_exploration data (tlsfinder.importer)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlsfinder import TLSFinderError
from tlsfinder.importer import (
    import_configurations,
    import_exact_csv,
    import_feather,
    import_tlsml,
    read_fortran_conf,
    read_lammps_data,
    tf_from_name,
)
from tlsfinder.pairs import PUBLISHED_FEATURES, pair_features

from conftest import TLSML_DATA as DATA  # noqa: E402
needs_data = pytest.mark.skipif(not DATA.exists(), reason="published data not available")


def test_tf_from_names():
    assert tf_from_name("quantum_splitting_T007.csv") == "0.07"
    assert tf_from_name("nonDW_T0092.csv") == "0.092"
    assert tf_from_name("pretraining-classifier-T007.feather") == "0.07"
    assert tf_from_name("/T0.062") == "0.062"
    assert tf_from_name("splitting.csv") is None


@needs_data
def test_feather_import_reproduces_every_row():
    raw = pd.read_feather(DATA / "pretraining-classifier-T007.feather")
    pairs, labels = import_feather(DATA / "pretraining-classifier-T007.feather")
    assert len(pairs) == len(raw) == 39065 and len(labels) == len(raw)
    assert pairs["glass"].nunique() == 50
    assert pairs["glass"].iloc[0] == f"T0.07/c{int(raw['conf'].iloc[0])}"
    np.testing.assert_array_equal(pairs["i"], raw["i2"].astype(int))
    np.testing.assert_array_equal(pairs["j"], raw["j2"].astype(int))
    for c in PUBLISHED_FEATURES:
        np.testing.assert_array_equal(pairs[c].to_numpy(), raw[c].to_numpy(), err_msg=c)
    np.testing.assert_array_equal(pairs["e_i"], raw["i"])
    np.testing.assert_array_equal(labels["is_dw"], raw["is_dw"] == 1)
    assert labels["splitting"].isna().all() and (labels["iteration"] == -1).all()


@needs_data
def test_classifier_and_predictor_combine_into_one_population():
    pairs, labels = import_tlsml([DATA / "pretraining-classifier-T007.feather",
                                  DATA / "pretraining-predictor-T007.feather"])
    raw = pd.read_feather(DATA / "pretraining-predictor-T007.feather")
    assert len(pairs) == 39065  # every predictor pair is also a classifier pair, with the same features
    assert len(labels) == 39065 and labels["is_dw"].sum() == 23535
    got = labels.set_index(["glass", "i", "j"])["splitting"]
    keys = list(zip("T0.07/c" + raw["conf"].astype(int).astype(str), raw["i2"].astype(int), raw["j2"].astype(int)))
    np.testing.assert_array_equal(got.loc[keys].to_numpy(), raw["quantum_splitting"].to_numpy())
    assert int((labels["splitting"] < 0.00151).sum()) == 293


@needs_data
def test_exact_csv_lists():
    q = import_exact_csv(DATA / "quantum_splitting_T007.csv")
    raw = pd.read_csv(DATA / "quantum_splitting_T007.csv", index_col=0)
    assert len(q) == len(raw) == 4064 and q["is_dw"].all()
    np.testing.assert_array_equal(q["splitting"], raw["out"])
    assert q["glass"].iloc[0] == f"T0.07/c{raw['conf'].iloc[0]}"
    nd = import_exact_csv(DATA / "nonDW_T0092.csv")
    raw = pd.read_csv(DATA / "nonDW_T0092.csv", index_col=0)
    assert len(nd) == len(raw.drop_duplicates()) == 1303 - 96
    assert (~nd["is_dw"]).all() and nd["splitting"].isna().all() and nd["glass"].str.startswith("T0.092/").all()


@needs_data
def test_labels_merge_with_published_pairs_and_keep_unpaired_ones():
    pairs, labels = import_tlsml([DATA / "pretraining-predictor-T007.feather", DATA / "quantum_splitting_T007.csv"])
    assert len(pairs) == 23535
    assert len(labels) == 23535 + 4064 - 1172  # 1172 CSV rows are pairs of the feather table, splittings agree
    _, paired = import_tlsml([DATA / "pretraining-predictor-T007.feather", DATA / "quantum_splitting_T007.csv"],
                             paired_only=True)
    assert len(paired) == 23535


def test_conflicting_labels_stop_the_import(tmp_path):
    (tmp_path / "quantum_splitting_T01.csv").write_text(",conf,i,j,out\n0,3,1,2,0.001\n1,3,4,5,0.002\n")
    (tmp_path / "nonDW_T01.csv").write_text(",conf,i,j\n0,3,1,2\n")
    with pytest.raises(TLSFinderError, match="1 pair"):
        import_tlsml([tmp_path / "quantum_splitting_T01.csv", tmp_path / "nonDW_T01.csv"])
    (tmp_path / "bad_T01.csv").write_text(",conf,i,j\n0,3,2,1\n")
    with pytest.raises(TLSFinderError, match="i >= j"):
        import_exact_csv(tmp_path / "bad_T01.csv")
    (tmp_path / "nameless.csv").write_text(",conf,i,j\n0,3,1,2\n")
    with pytest.raises(TLSFinderError, match="T_f"):
        import_exact_csv(tmp_path / "nameless.csv")
    assert import_exact_csv(tmp_path / "nameless.csv", tf=0.5)["glass"].tolist() == ["T0.5/c3"]


def _write_lammps(path, positions, box_half, diam, order):
    """A data file laid out like the published ones (write_data, atom style charge, image flags)."""
    lines = ["LAMMPS data file via write_data, version 17 Nov 2016, timestep = 0", "      ",
             f"  {len(positions)} atoms", "      ", "1 atom types"]
    for a in "xyz":
        lines.append(f"  {-box_half:.16f}        {box_half:.16f}      {a}lo {a}hi")
    lines += ["Masses", "      ", "1 1", "      ", "Pair Coeffs # lj/poly", "      ",
              "                               1 1.0 1.0 2.025 1.25 0.2", "      ", "Atoms # charge", "      "]
    for k in order:
        x, y, z = positions[k]
        lines.append(f"  {k + 1:10d}  1  {diam[k]:.16f}  {x:.16E}  {y:.16E}  {z:.16E}  0  0  0")
    lines += ["      ", "Velocities", "      "] + [f"{k + 1} 0 0 0" for k in range(len(positions))]
    path.write_text("\n".join(lines) + "\n")


def _write_fortran(path, positions, box, diam):
    rec = lambda b: np.int32(len(b)).tobytes() + b + np.int32(len(b)).tobytes()  # noqa: E731
    body = rec(np.int32(len(positions)).tobytes()) + rec(np.array([box], "<f8").tobytes())
    for k in range(len(positions)):
        body += rec(np.array([diam[k], *positions[k]], "<f8").tobytes())
    path.write_bytes(body)


def test_configurations_layout_gives_the_same_pairs_as_pair_features(tmp_path):
    rng = np.random.default_rng(3)
    n, half = 12, 2.5
    base = rng.uniform(-half, half, (n, 3))
    energies = np.array([0.2044404608, 0.2044439470, 0.2044452900, 0.2044528139])
    positions = np.stack([np.mod(base + rng.normal(0, 0.2, (n, 3)) + half, 2 * half) - half for _ in energies])
    diam = rng.uniform(0.8, 1.5, n)
    folder = tmp_path / "Configurations" / "minima" / "T0.062" / "Cnf-148750000"
    folder.mkdir(parents=True)
    for k, e in enumerate(energies):
        if k % 2:
            _write_fortran(folder / f"{e:.9E}.conf", positions[k], 2 * half, diam)
        else:
            _write_lammps(folder / f"{e:.9E}.conf.txt", positions[k], half, diam, rng.permutation(n))
    got = import_configurations(tmp_path / "Configurations", delta_e_max=5e-5)
    ref = pair_features(positions, energies, np.full(3, 2 * half), None, np.arange(1, 5),
                        glass="T0.062/Cnf-148750000", delta_e_max=5e-5)
    assert 0 < len(ref) < 6
    pd.testing.assert_frame_equal(got, ref, rtol=1e-14)
    pos, box = read_lammps_data(next(folder.glob("*.txt")))
    assert box.tolist() == [5.0, 5.0, 5.0] and pos.shape == (n, 3)
    pos2, box2 = read_fortran_conf(folder / f"{energies[1]:.9E}.conf")
    np.testing.assert_array_equal(pos2, positions[1])
    assert box2.tolist() == [5.0, 5.0, 5.0]


def test_broken_files_raise_user_errors(tmp_path):
    p = tmp_path / "2.0E-01.conf.txt"
    p.write_text("LAMMPS data file\n\n3 atoms\n0 1 xlo xhi\n0 1 ylo yhi\n0 1 zlo zhi\n\nAtoms # charge\n\n1 1 1 0 0 0\n")
    with pytest.raises(TLSFinderError, match="1 lines, header says 3"):
        read_lammps_data(p)
    b = tmp_path / "2.0E-01.conf"
    b.write_bytes(b"\x04\x00\x00\x00abc")
    with pytest.raises(TLSFinderError, match="Fortran"):
        read_fortran_conf(b)
    with pytest.raises(TLSFinderError, match="unknown source"):
        import_tlsml([p])


def test_cli_import_writes_tables(tmp_path):
    from tlsfinder.commands import importer

    (tmp_path / "quantum_splitting_T01.csv").write_text(",conf,i,j,out\n0,3,1,2,0.001\n1,3,4,5,0.002\n")
    parser = argparse.ArgumentParser()
    importer.add_cli(parser.add_subparsers())
    out = tmp_path / "labels.parquet"
    args = parser.parse_args(["import-tlsml", str(tmp_path / "quantum_splitting_T01.csv"), "--labels-out", str(out)])
    assert args.func(args)["labels"] == 2
    lab = pd.read_parquet(out)
    assert lab["splitting"].tolist() == [0.001, 0.002] and lab["glass"].tolist() == ["T0.1/c3"] * 2
    # recorded as what the published data are: PSS glasses, argon-unit splittings
    from tlsfinder.ml import labels_provenance, read_labels

    assert labels_provenance(out) == {"model": "PSS", "preset": "Ar"}
    assert len(read_labels(out, "PSS", "Ar")) == 2
    with pytest.raises(TLSFinderError, match=r"model PSS \(PSS Ar\).*model KA2 \(KA2 Ar\)"):
        read_labels(out, "KA2", "Ar")


def _published_feather(path, rows):
    """A classifier table in the published layout (columns of the feather files, a row-number ``index``)."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame({c: rng.uniform(0.1, 1.0, len(rows)) for c in PUBLISHED_FEATURES})
    df["conf"] = [float(r[0]) for r in rows]
    df["i2"], df["j2"] = [float(r[1]) for r in rows], [float(r[2]) for r in rows]
    df["i"], df["j"] = 0.3 + 1e-4 * df["i2"], 0.3 + 1e-4 * df["j2"]  # energies per particle
    df["T"], df["is_dw"] = 0.062, [float(r[3]) for r in rows]
    df["index"] = np.arange(len(df))
    return df


def test_published_exact_duplicates_import_once_conflicting_ones_are_refused(tmp_path, caplog):
    """The T_f = 0.062 classifier table of the published repository repeats pairs with identical
    values: those import once, with a count in the log; a pair repeated with another value is refused."""
    rows = [(1, 2, 5, 1), (1, 3, 4, 0), (2, 2, 5, 0), (2, 6, 9, 1)]
    df = _published_feather(None, rows)
    repeated = pd.concat([df, df.iloc[[0, 3, 3]]], ignore_index=True)
    repeated["index"] = np.arange(len(repeated))  # as published: the repeats have their own row number
    repeated.to_feather(tmp_path / "pretraining-classifier-T0062.feather")
    with caplog.at_level("INFO", logger="tlsfinder.importer"):
        pairs, labels = import_feather(tmp_path / "pretraining-classifier-T0062.feather")
    assert len(pairs) == len(labels) == 4 and "3 exact duplicate row(s) dropped" in caplog.text
    got = labels.set_index(["glass", "i", "j"])["is_dw"]
    assert [bool(got[(f"T0.062/c{c}", i, j)]) for c, i, j, _ in rows] == [bool(r[3]) for r in rows]
    np.testing.assert_array_equal(pairs.sort_values(["glass", "i", "j"])[list(PUBLISHED_FEATURES)].to_numpy(),
                                  df.sort_values(["conf", "i2", "j2"])[list(PUBLISHED_FEATURES)].to_numpy())

    conflicting = pd.concat([df, df.iloc[[1]].assign(is_dw=1.0)], ignore_index=True)
    conflicting.to_feather(tmp_path / "clash-T0062.feather")
    with pytest.raises(TLSFinderError, match=r"clash-T0062.feather: 1 pair\(s\) listed twice with different values "
                                             r"\(columns \['is_dw'\]\), e.g. T = 0.062, conf = 1, i2 = 3, j2 = 4;"):
        import_feather(tmp_path / "clash-T0062.feather")
    # the same in the exact-calculation lists: a repeated row is dropped, a repeated pair with another splitting is not
    (tmp_path / "quantum_splitting_T01.csv").write_text(",conf,i,j,out\n0,3,1,2,0.001\n1,3,1,2,0.001\n2,3,4,5,0.002\n")
    assert len(import_exact_csv(tmp_path / "quantum_splitting_T01.csv")) == 2
    (tmp_path / "quantum_splitting_T02.csv").write_text(",conf,i,j,out\n0,3,1,2,0.001\n1,3,1,2,0.003\n")
    with pytest.raises(TLSFinderError, match=r"listed twice with different values \(columns \['out'\]\), "
                                             r"e.g. conf = 3, i = 1, j = 2"):
        import_exact_csv(tmp_path / "quantum_splitting_T02.csv")


@needs_data
def test_pss_identity_tolerance_keeps_every_published_double_well_apart():
    """Two minima closer than explore.distance_tol are one IS: for PSS the tolerance must stay well below
    the distance (Eq. 7, Mocanu et al. 2023) of the closest published double wells, N = 1500."""
    from tlsfinder.schema import default

    dw = pd.read_feather(DATA / "pretraining-predictor-T007.feather")
    eq7 = dw["total_displacement"].to_numpy() / np.sqrt(1500)  # published d is not divided by N
    assert eq7.min() > 10 * default("explore.distance_tol", "PSS")
    assert eq7.min() < 2 * default("explore.distance_tol")  # KA2's tolerance would sit next to them


@needs_data
def test_published_files_import_with_their_repeats_counted(caplog):
    """Every published file imports; the nonDW lists repeat rows exactly (counted, dropped)."""
    with caplog.at_level("INFO", logger="tlsfinder.importer"):
        pairs, labels = import_tlsml(sorted(DATA.glob("*.feather")) + sorted(DATA.glob("*.csv")))
    assert "nonDW_T007.csv: 59 exact duplicate row(s) dropped" in caplog.text
    assert "nonDW_T0092.csv: 96 exact duplicate row(s) dropped" in caplog.text
    raw = {f.name: len(pd.read_csv(f, index_col=0).drop_duplicates()) for f in DATA.glob("*.csv")}
    # feather pairs are all labelled; the CSV lists of both T_f label pairs of their own (no features here)
    assert len(pairs) == 39065 and labels["glass"].str.startswith("T0.092/").sum() == (
        raw["quantum_splitting_T0092.csv"] + raw["nonDW_T0092.csv"])
