"""The modes / elastic / coupling stage in the workflow (rules/modes.smk, tlsfinder.modes_stage):
absent from the DAG unless configured, its jobs when configured, and the glue's numbers on a
KA2 N = 300 glass (conftest ``ka2_three_minima``)."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from conftest import write_is_library
from test_workflow import snakemake, workflow_copy
from tlsfinder import modes_stage as S
from tlsfinder.coupling import orientational_averages
from tlsfinder.elastic import Deformed
from tlsfinder.units import get_preset

TWO_BY_TWO = {
    "seed": 3,
    "model": {"name": "KA2", "n": 200},
    "prepare": {"temperatures": [0.8, 0.6], "n_glasses": 2, "blocks": 40, "record_every": 10, "melt_steps": 200},
}
NEW_RULES = ("modes", "elastic", "elastic_aggregate", "dw_modes", "coupling", "report_modes")


def job_counts(out: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table as {rule: count}."""
    table = out.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.mark.parametrize("on", [False, True])
def test_dry_run_has_the_stage_only_when_configured(tmp_path, on):
    cfg = dict(TWO_BY_TWO)
    if on:
        cfg.update(modes={"enabled": True}, elastic={"enabled": True}, coupling={"enabled": True})
    wf = workflow_copy(tmp_path, cfg)
    res = snakemake(wf, "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr[-3000:]
    counts = job_counts(res.stdout + res.stderr)
    assert counts["prepare"] == 4 and counts["ml_select"] == 1
    if not on:
        assert not set(NEW_RULES) & set(counts), counts
        return
    # per glass: modes, elastic (4); per T_f: elastic_aggregate (2); per glass after the loop (their
    # inputs wait for the loop's checkpoints): dw_modes, coupling (4); the report section (1)
    assert {r: counts.get(r, 0) for r in NEW_RULES} == {
        "modes": 4, "elastic": 4, "elastic_aggregate": 2, "dw_modes": 4, "coupling": 4, "report_modes": 1}


def test_config_switches_and_elastic_follows_coupling():
    assert S.stages({}) == {"modes": False, "elastic": False, "coupling": False}
    assert S.stages({"coupling": {"enabled": True}}) == {"modes": False, "elastic": True, "coupling": True}
    assert S.section({"modes": {"sample": 2}}, "modes")["pr_max"] == 0.1


def test_sample_starts_with_the_glass_own_is_and_is_seeded():
    a = S.sample_ids(40, 5, 7, "T0.5/g0")
    assert a[0] == 0 and len(set(a)) == 5 and all(0 < k < 40 for k in a[1:])
    assert a == S.sample_ids(40, 5, 7, "T0.5/g0") and a != S.sample_ids(40, 5, 7, "T0.5/g1")
    assert S.sample_ids(3, 5, 7, "T0.5/g0") == [0, 1, 2]


@pytest.fixture(scope="module")
def two_glasses(ka2_three_minima, tmp_path_factory):
    """Two IS libraries of one T_f whose IS 0 differ (the first and the second minimum)."""
    model, species, lib = ka2_three_minima
    d = tmp_path_factory.mktemp("libs")
    return model, species, lib, [
        write_is_library(d / "g0.h5", model, species, lib, glass="T0.5/g0"),
        write_is_library(d / "g1.h5", model, species, [lib[1], lib[0], lib[2]], glass="T0.5/g1")]


def test_elastic_per_tf_is_mean_and_standard_error_over_glasses(two_glasses):
    model, species, lib, files = two_glasses
    settings = S.section({}, "elastic")
    rows = [S.glass_elastic(f, settings, mass=1.0) for f in files]
    for r in rows:  # AQS and Hessian routes agree on a KA2 glass (to ~1 %: soft modes of a fast quench)
        assert r["G_aqs"].iloc[0] == pytest.approx(r["G_hessian"].iloc[0], rel=2e-2)
        assert r["K_aqs"].iloc[0] == pytest.approx(r["K_hessian"].iloc[0], rel=2e-2)
        assert r["c_t"].iloc[0] == pytest.approx(math.sqrt(r["G"].iloc[0] / model.density), rel=1e-12)
    tf = S.tf_elastic(rows)
    assert len(tf) == 1 and tf["N_g"].iloc[0] == 2 and tf["T_f"].iloc[0] == 0.5
    for q in ("G", "K", "c_t", "c_l", "omega_t", "omega_D"):
        v = np.array([r[q].iloc[0] for r in rows])
        assert tf[q].iloc[0] == pytest.approx(v.mean(), rel=1e-12)
        assert tf[f"{q}_err"].iloc[0] == pytest.approx(abs(v[0] - v[1]) / 2, rel=1e-9)  # std/sqrt(2) of two
    assert rows[0]["G"].iloc[0] != rows[1]["G"].iloc[0]  # two different structures


def test_glass_modes_tables(two_glasses):
    model, species, lib, files = two_glasses
    table, summary = S.glass_modes(files[0], S.section({"modes": {"sample": 2}}, "modes"), seed=1)
    assert list(summary["is_id"]) == [0, S.sample_ids(3, 2, 1, "T0.5/g0")[1]]
    n = 3 * len(species) - 3
    assert (table.groupby("is_id").size() == n).all()  # every mode but the translations
    assert (summary["n_qlm"] == table.groupby("is_id")["qlm"].sum().to_numpy()).all()
    assert (table["frequency"] > 0).all() and (table["PR"] <= 1).all()


def _catalogue(i, j, e):
    cat = pd.DataFrame({"glass": ["T0.5/g0"], "T_f": [0.5], "i": [i], "j": [j], "pair_id": [f"T0.5/g0/{i}-{j}"],
                        "E_loop": [e], "kT_Q": [0.005], "is_TLS_Ar": [e < 0.005], "is_TLS_NiP": [e < 0.0012]})
    return cat


def test_dw_coupling_matches_the_stress_route_and_enters_the_catalogue(two_glasses):
    """gamma of the glue's table = (1/2) V (sigma_j - sigma_i), the exact classical derivative at the
    minima (tlsfinder.coupling docstring): the glue hands over the right minima in the right order."""
    model, species, lib, files = two_glasses
    minima = S.Minima(files[0])
    presets = [get_preset("KA2", "Ar")]
    settings = S.section({"coupling": {"quantum": False}}, "coupling")
    far = S.dw_coupling(_catalogue(0, 1, 1.0), minima, settings, presets)
    assert len(far) == 0  # E above select_kT_factor k_B T_Q: not coupled
    cp = S.dw_coupling(_catalogue(1, 0, 0.004), minima, settings, presets)
    assert len(cp) == 1 and bool(cp["is_TLS_Ar"].iloc[0])
    d = Deformed(model, model.box)
    ds = model.box.prod() * (d.stress(lib[0], species) - d.stress(lib[1], species))  # A = 1, B = 0
    for name, (a, b) in zip(("xx", "yy", "zz", "yz", "xz", "xy"), ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
        assert cp[f"gamma_{name}"].iloc[0] == pytest.approx(0.5 * ds[a, b], rel=1e-3, abs=1e-3 * np.abs(ds).max())
    gl, gt = orientational_averages(0.5 * ds)
    assert cp["gamma_l"].iloc[0] == pytest.approx(gl, rel=1e-3)

    # catalogue columns: matched on the unordered pair, NaN where not computed or switched off
    cat = pd.DataFrame({"glass": ["T0.5/g0", "T0.5/g0"], "i": [0, 0], "j": [1, 2]})
    off = S.catalogue_columns(cat, None, None)
    assert set(S.CATALOGUE_COLUMNS) <= set(off.columns) and off[list(S.CATALOGUE_COLUMNS)].isna().all().all()
    on = S.catalogue_columns(cat, None, cp)
    assert on["gamma_l"].iloc[0] == cp["gamma_l"].iloc[0] and math.isnan(on["gamma_l"].iloc[1])

    # C_l = P <gamma_l^2> / (K + 4G/3), C_t = P <gamma_t^2> / G with P = n0_vol of the report
    n0 = pd.DataFrame({"T_f": [0.5], "preset": ["Ar"], "n0_vol": [0.02]})
    el = pd.DataFrame({"T_f": [0.5], "G": [20.0], "K": [100.0]})
    tab = S.coupling_table(cp, n0, el, presets, density=model.density, mass=1.0)
    row = tab.iloc[0]
    assert row["n_TLS"] == 1 and row["n_near"] == 0
    assert row["C_l"] == pytest.approx(0.02 * gl**2 / (100.0 + 80.0 / 3.0), rel=1e-3)
    assert row["C_t"] == pytest.approx(0.02 * gt**2 / 20.0, rel=1e-3)
    assert row["C_l_si"] == pytest.approx(row["C_l"], rel=1e-9)  # C is dimensionless


def test_dw_modes_overlap_and_qlm_flag(two_glasses):
    model, species, lib, files = two_glasses
    n3 = 3 * len(species) - 3
    every = S.dw_modes(_catalogue(0, 1, 0.004), S.Minima(files[0]),
                       S.section({"modes": {"pr_max": 1.0, "qlm_omega_max": 1e3}}, "modes")).iloc[0]
    none = S.dw_modes(_catalogue(0, 1, 0.004), S.Minima(files[0]),
                      S.section({"modes": {"pr_max": 1e-9}}, "modes")).iloc[0]
    for r in (every, none):
        # c of the best mode is at least the rms of all c_alpha, 1/sqrt(3N - 3) (the modes are complete)
        assert 1 >= r["mode_c"] >= 1 / math.sqrt(n3) and r["mode_c"] == pytest.approx(r["lin_c"], rel=1e-12)
        assert math.isnan(r["path_1d_doubtful"])  # no band file: no 1D check
    assert every["mode_c_qlm"] == 1.0 and none["mode_c_qlm"] == 0.0  # the QLM settings reach the flag
    assert every["mode_c"] == none["mode_c"]


def test_report_section_tables_written(tmp_path, two_glasses):
    from tlsfinder.report.inputs import MODES_OUTPUT_FILES
    from tlsfinder.report.modes import make_modes_report

    model, species, lib, files = two_glasses
    el = S.tf_elastic([S.glass_elastic(f, S.section({"elastic": {"aqs": False}}, "elastic"), 1.0) for f in files])
    el.to_parquet(tmp_path / "el.parquet")
    cat = pd.DataFrame({"glass": ["T0.5/g0"], "T_f": [0.5], "i": [0], "j": [1], "mode_c": [np.nan]})
    cat.to_parquet(tmp_path / "cat.parquet")
    pd.DataFrame({"T_f": [0.5], "preset": ["Ar"], "n0_vol": [0.0]}).to_csv(tmp_path / "n0.csv", index=False)
    config = {"model": {"name": "KA2", "n": 300}, "units": {"presets": ["Ar"]}}
    make_modes_report({"catalogue": [str(tmp_path / "cat.parquet")], "n0": [str(tmp_path / "n0.csv")],
                       "elastic": [str(tmp_path / "el.parquet")]}, config, tmp_path)
    for name in MODES_OUTPUT_FILES.values():
        assert (tmp_path / name).exists()
    got = pd.read_csv(tmp_path / "elastic.csv")
    assert got["G"].iloc[0] == pytest.approx(el["G_hessian"].iloc[0], rel=1e-5)  # Hessian route only
    assert pd.read_csv(tmp_path / "coupling.csv").empty


def test_is_library_glass_id_is_str_whatever_h5py_returns(two_glasses, tmp_path):
    """read_is_library gives the glass id as str, also from a fixed-length bytes attribute (what h5py
    returns for one written as numpy bytes), and so do its users: the modes stage and the loop's
    library header (n_IS and box without the positions)."""
    import h5py

    from tlsfinder.explore import read_is_library
    from tlsfinder.identity import library_header

    model, species, lib, files = two_glasses
    f = write_is_library(tmp_path / "bytes.h5", model, species, lib[:2], glass="T0.5/g7")
    with h5py.File(f, "r+") as h:
        h.attrs["glass"] = np.bytes_(b"T0.5/g7")
    with h5py.File(f, "r") as h:
        assert isinstance(h.attrs["glass"], bytes)  # the case the decoding is for
    for path, glass in ((files[0], "T0.5/g0"), (f, "T0.5/g7")):
        got = read_is_library(path)
        assert type(got["glass"]) is str and got["glass"] == glass
        header = library_header(path)
        assert header[0] == glass and type(header[0]) is str
        assert header[1] == len(got["energy"]) and np.array_equal(header[2], model.box)
        assert S.Minima(path).glass == glass
    assert "positions" not in read_is_library(f, positions=False)


def test_report_modes_rule_outputs_are_the_section_files():
    """rule report_modes declares exactly the files make_modes_report writes (tables and figures), each
    with a caption file of the Snakemake report."""
    from pathlib import Path

    from tlsfinder.report.modes import MODES_FILES

    root = Path(__file__).resolve().parents[1]
    text = (root / "rules/modes.smk").read_text()
    rule = text[text.index("rule report_modes:"):]
    outputs = rule[rule.index("output:"):rule.index("log:")]
    declared = re.findall(r'(\w+)=report_file\("([^"]+)", "([^"]+)"', outputs)
    assert {k: name for k, name, _ in declared} == MODES_FILES
    for _, _, caption in declared:
        assert (root / "report" / caption).read_text().strip()
