"""The figures of the modes report section (tlsfinder.report.modes_plots, rule report_modes,
``tlsfinder report``): what each panel draws, from the modes stage's real tables of a KA2 N = 300
glass and from tables whose answer is known; empty inputs give figures that say why."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_is_library

from tlsfinder import modes_stage as S
from tlsfinder.io import write_parquet
from tlsfinder.report import modes_plots as MP
from tlsfinder.report.modes import MODES_FILES, discover_modes_inputs, make_modes_report
from tlsfinder.units import get_preset

AR = get_preset("KA2", "Ar")
N = 300
CONFIG = {"seed": 3, "model": {"name": "KA2", "n": N}, "units": {"presets": ["Ar"]}, "loop": {"preset": "Ar"},
          "modes": {"sample": 2}}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch):
    """Every figure the report section draws, by file name (drawn and then written as usual)."""
    drawn = {}
    save = MP._save

    def keep(fig, path):
        drawn[str(path).rsplit("/", 1)[-1]] = fig
        save(fig, path)

    monkeypatch.setattr(MP, "_save", keep)
    return drawn


def _texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def _stairs(ax) -> dict:
    """label -> (values, edges) of the step distributions of a panel."""
    from matplotlib.patches import StepPatch

    return {p.get_label(): p.get_data()[:2] for p in ax.patches if isinstance(p, StepPatch)}


def _points(ax) -> np.ndarray:
    """All scattered points of a panel, (n, 2)."""
    offs = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    return np.concatenate(offs) if offs else np.zeros((0, 2))


@pytest.fixture(scope="module")
def stage(ka2_three_minima, tmp_path_factory):
    """The modes stage run for real on two KA2 N = 300 glasses of T_f 0.5 (IS 0 and one other IS
    each), with three DWs, and the report catalogue rows of those DWs (splittings chosen)."""
    model, species, lib = ka2_three_minima
    d = tmp_path_factory.mktemp("stage")
    libs = [write_is_library(d / "g0.h5", model, species, lib, glass="T0.5/g0"),
            write_is_library(d / "g1.h5", model, species, [lib[1], lib[0], lib[2]], glass="T0.5/g1")]
    settings = S.section(CONFIG, "modes")
    modes, summaries, dws = [], [], []
    # splittings: one TLS of Ar (k_B T_Q = 0.005), two not; (1, 0) is the pair (0, 1) reversed
    pairs = {"T0.5/g0": [(0, 1, 0.003), (1, 2, 0.02)], "T0.5/g1": [(1, 0, 0.2)]}
    cat = []
    for f, (glass, prs) in zip(libs, pairs.items()):
        t, s = S.glass_modes(f, settings, CONFIG["seed"])
        modes.append(t)
        summaries.append(s)
        c = pd.DataFrame({"glass": glass, "T_f": 0.5, "i": [p[0] for p in prs], "j": [p[1] for p in prs],
                          "pair_id": [f"{glass}/{p[0]}-{p[1]}" for p in prs], "E_loop": [p[2] for p in prs],
                          "kT_Q": AR.kT_Q})
        dws.append(S.dw_modes(c, S.Minima(f), settings))
        cat.append(c.assign(E_Ar=c["E_loop"], is_TLS_Ar=c["E_loop"] < AR.kT_Q,
                            i=c["j"] if glass == "T0.5/g1" else c["i"], j=c["i"] if glass == "T0.5/g1" else c["j"]))
    return {"modes": modes, "summaries": summaries, "dw": dws, "cat": pd.concat(cat, ignore_index=True),
            "libs": libs}


def _write_stage(stage, root):
    """The stage's tables in the workflow's layout under ``root`` (results folder)."""
    for n, glass in enumerate(("g0", "g1")):
        write_parquet(root / f"modes/T0.5/{glass}/modes.parquet", stage["modes"][n])
        write_parquet(root / f"modes/T0.5/{glass}/summary.parquet", stage["summaries"][n])
        write_parquet(root / f"modes/T0.5/{glass}/dw_modes.parquet", stage["dw"][n])


def test_figures_from_the_stage_tables(stage, tmp_path, figures):
    _write_stage(stage, tmp_path / "results")
    out = tmp_path / "report"
    write_parquet(out / "tls_catalogue.parquet", stage["cat"])
    pd.DataFrame({"T_f": [0.5], "preset": ["Ar"], "n0": [0.4], "n0_err_poisson": [0.1], "n0_vol": [0.54],
                  "n0_upper95": [0.9]}).to_csv(out / "n0.csv", index=False)
    inputs = discover_modes_inputs(tmp_path / "results", out)
    assert len(inputs["modes_table"]) == len(inputs["dw_modes"]) == 2 and inputs["elastic"] == []
    tables = make_modes_report(inputs, CONFIG, out)
    for name in MODES_FILES.values():
        assert (out / name).exists()
    for name in MP.MODES_FIGURE_FILES.values():
        assert (out / name).read_bytes()[:8] == PNG
    dw = pd.concat(stage["dw"], ignore_index=True)

    a, b, c = figures["dw_linear_modes.png"].axes
    pts = _points(a)  # every DW once, at (PR, c) of its best mode
    assert len(pts) == 3
    np.testing.assert_allclose(np.sort(pts[:, 1]), np.sort(dw["mode_c"]), rtol=1e-12)
    np.testing.assert_allclose(np.sort(pts[:, 0]), np.sort(dw["mode_c_pr"]), rtol=1e-12)
    assert a.get_xlabel() == "PR of the best mode" and "Fig. 4" in a.get_title()
    dist = _stairs(b)  # r_AB only: no NEB path files, so no r_AS
    assert list(dist) == ["r_AB, T_f=0.5 (n=3)"]
    values, edges = dist["r_AB, T_f=0.5 (n=3)"]
    assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)  # a probability density
    pts = _points(c)  # E (matched to the catalogue, the reversed pair too) against omega of the best mode
    assert sorted(map(tuple, np.round(pts, 12))) == sorted(
        zip(np.round(dw["mode_c_omega"], 12), [0.003, 0.02, 0.2]))
    assert c.get_ylabel() == "splitting E (Ar, eps)"
    assert any(abs(ln.get_ydata()[0] - AR.kT_Q) < 1e-15 for ln in c.lines)  # the TLS threshold

    for ax, (_, _, lin, nl) in zip(figures["dw_nonlinear_modes.png"].axes, MP._NONLINEAR_PANELS):
        dist = _stairs(ax)
        n_lin, n_nl = int(np.isfinite(dw[lin]).sum()), int(np.isfinite(dw[nl]).sum())
        assert f"linear, T_f=0.5 (n={n_lin})" in dist and n_lin == 3
        assert (f"nonlinear, T_f=0.5 (n={n_nl})" in dist) == (n_nl > 0)
        pre = nl.split("_")[0]  # the searches' outcomes, counted from the DW table
        n_mix, n_fail = int(dw[f"{pre}_mixing"].lt(1).sum()), int((~dw[f"{pre}_converged"].astype(bool)).sum())
        assert ax.get_xlabel().endswith(f"3 DWs, damped {n_mix}, failed {n_fail}")

    a, b, c = figures["qlm_dos.png"].axes
    summ = pd.concat(stage["summaries"])
    freqs = pd.concat(stage["modes"])["frequency"].to_numpy()
    n_is = len(summ)
    assert n_is == 4 and len(freqs) == n_is * (3 * N - 3)  # two IS per glass, complete spectra
    curve = [ln for ln in b.lines if ln.get_label().startswith("T_f=0.5")][0]
    w, y = curve.get_xdata(), curve.get_ydata()
    assert len(w) == int(np.sum(freqs > 0))
    # I(omega) at the top of the spectrum: every non-zero mode, (3N - 3) / 3N of the degrees of freedom
    assert y[-1] * w[-1] ** 5 == pytest.approx((3 * N - 3) / (3 * N), rel=1e-12)
    omega_t = summ["omega_t"].mean()
    count = int(np.sum(freqs < omega_t))
    plateau = [coll for coll in b.collections if coll.get_label().startswith("A_4/5")]
    assert len(plateau) == 1 and f"({count} modes)" in plateau[0].get_label()
    seg = plateau[0].get_segments()[0]
    assert seg[0, 1] == pytest.approx(count / (3 * N * n_is * omega_t**5), rel=1e-12)  # A_4/5 = count/(3N n_s w_t^5)
    # Fig. 10b: one point, A_4 of modes.csv times omega_D^5 (the Hessian's: no elastic stage here)
    point = [ln for ln in c.lines if ln.get_marker() == "o"]
    assert len(point) == 1
    a4 = tables["modes"]["A4"].iloc[0]
    assert point[0].get_xdata()[0] == pytest.approx(0.4)
    assert point[0].get_ydata()[0] == pytest.approx(a4 * summ["omega_D"].mean() ** 5, rel=1e-12)


def test_plateau_of_a_spectrum_with_known_a4(figures, tmp_path):
    """Frequencies placed at the quantiles of D(omega) = A_4 omega^4 below omega_t (then a bulk
    above it): the panel's plateau of I(omega)/omega^5 is A_4 / 5 and its fitted D(omega) line
    A_4 omega^4, to the 1/count of the discrete count."""
    a4_true, omega_t, n_is = 1e-2, 2.0, 3
    count = int(3 * N * n_is * a4_true * omega_t**5 / 5)  # modes below omega_t for this D
    k = np.arange(1, count + 1) - 0.5
    low = (5 * k / (3 * N * n_is * a4_true)) ** 0.2
    bulk = np.linspace(omega_t * 1.01, 30.0, n_is * (3 * N - 3) - count)
    per_is = np.array_split(np.concatenate([low, bulk]), n_is)
    table = pd.concat([pd.DataFrame({"glass": "T0.4/g0", "is_id": n, "frequency": x}) for n, x in enumerate(per_is)])
    summ = pd.DataFrame({"glass": "T0.4/g0", "is_id": range(n_is), "omega_t": omega_t, "omega_D": 20.0,
                         "error": ""})
    MP.plot_dos(tmp_path / "dos.png", table, summ, N, MP.a4_versus_n0(pd.DataFrame(), pd.DataFrame(), summ,
                                                                      pd.DataFrame()))
    drawn = {"fig": figures["dos.png"]}
    a, b, c = drawn["fig"].axes
    plateau = [coll for coll in b.collections if coll.get_label().startswith("A_4/5")][0]
    assert plateau.get_segments()[0][0, 1] == pytest.approx(a4_true / 5, rel=1.0 / count)
    fit = [ln for ln in a.lines if ln.get_linestyle() == "--"][0]
    x, y = fit.get_xdata(), fit.get_ydata()
    np.testing.assert_allclose(y, a4_true * np.asarray(x) ** 4, rtol=1.0 / count)
    assert x[-1] == omega_t
    # the curve itself sits on the plateau just below omega_t
    curve = [ln for ln in b.lines if ln.get_label().startswith("T_f=0.4")][0]
    w, i5 = curve.get_xdata(), curve.get_ydata()
    near = (w > 0.7 * omega_t) & (w < omega_t)
    np.testing.assert_allclose(i5[near], a4_true / 5, rtol=0.03)
    assert "no A_4 and n0" in _texts(c)


def test_a4_versus_n0_points():
    """A_4 omega_D^5 with omega_D of elastic.csv (else the Hessian mean of the sampled IS), n0 at the
    common exploration time when known, the 95 % upper limit where no TLS was counted."""
    modes_tab = pd.DataFrame({"T_f": [0.4, 0.5], "A4": [1e-3, 3e-3], "A4_err": [1e-4, 5e-4]})
    elastic = pd.DataFrame({"T_f": [0.4], "G": [20.0], "K": [100.0], "omega_D": [18.0]})
    summ = pd.DataFrame({"glass": ["T0.5/g0", "T0.5/g1", "T0.4/g0"], "omega_D": [16.0, 17.0, 99.0]})
    n0 = pd.DataFrame({"T_f": [0.4, 0.4, 0.5], "preset": ["Ar", "NiP", "Ar"], "n0": [0.2, 0.0, 0.5],
                       "n0_err_poisson": [0.05, 0.0, 0.1], "n0_upper95": [0.9, 0.3, 1.0],
                       "n0_t_common": [0.1, 0.0, np.nan], "n0_t_common_err_poisson": [0.02, 0.0, np.nan],
                       "n0_t_common_upper95": [0.5, 0.25, np.nan]})
    pts = MP.a4_versus_n0(modes_tab, elastic, summ, n0).set_index(["T_f", "preset"])
    assert len(pts) == 3
    r = pts.loc[(0.4, "Ar")]
    assert r["A4_omega_D5"] == pytest.approx(1e-3 * 18.0**5) and r["A4_omega_D5_err"] == pytest.approx(1e-4 * 18.0**5)
    assert (r["n0"], r["n0_err"], r["n0_upper"]) == (0.1, 0.02, False)  # at the common time
    r = pts.loc[(0.4, "NiP")]
    assert r["n0"] == 0.25 and r["n0_upper"]  # no TLS: the upper limit at the common time
    r = pts.loc[(0.5, "Ar")]
    assert r["omega_D"] == pytest.approx(16.5)  # no elastic row for 0.5: the Hessian mean of its IS
    assert (r["n0"], r["n0_upper"]) == (0.5, False)  # the common time unknown: the whole run


def test_empty_inputs_give_figures_that_say_so(tmp_path, figures):
    """No DW, no TLS, no modes (stage off or nothing found): every figure is written and each panel says why."""
    cat = pd.DataFrame({"glass": pd.Series([], dtype=str), "T_f": pd.Series([], dtype=float)})
    write_parquet(tmp_path / "tls_catalogue.parquet", cat)
    pd.DataFrame(columns=["T_f", "preset", "n0"]).to_csv(tmp_path / "n0.csv", index=False)
    make_modes_report({"catalogue": [str(tmp_path / "tls_catalogue.parquet")], "n0": [str(tmp_path / "n0.csv")]},
                      CONFIG, tmp_path)
    for name in MP.MODES_FIGURE_FILES.values():
        assert (tmp_path / name).read_bytes()[:8] == PNG
        for ax in figures[name].axes:
            assert "no " in _texts(ax), (name, ax.get_title())
            assert not _stairs(ax) and not len(_points(ax))
    assert "no double wells" in _texts(figures["dw_linear_modes.png"].axes[0])
    assert "no modes" in _texts(figures["qlm_dos.png"].axes[0])


def test_dw_figures_without_nonlinear_modes_or_tls(figures, tmp_path):
    """DW rows of a run with non-unit masses (no nonlinear columns) and no TLS: the linear panels draw
    the DWs, the nonlinear ones say why they are empty; the catalogue match ignores the pair's order."""
    dw = pd.DataFrame({"glass": ["T0.5/g0", "T0.6/g0"], "i": [3, 7], "j": [4, 2], "mode_c": [0.8, 0.3],
                       "mode_c_pr": [0.05, 0.4], "mode_c_omega": [0.7, 1.9], "mode_c_AS": [0.6, np.nan],
                       "lin_c": [0.8, 0.3], "lin_a": [0.9, 0.5]})
    cat = pd.DataFrame({"glass": ["T0.5/g0", "T0.6/g0"], "T_f": [0.5, 0.6], "i": [4, 2], "j": [3, 7],
                        "E_Ar": [0.05, 0.5], "is_TLS_Ar": [False, False]})
    d = MP.dw_table(dw, cat, "Ar")
    assert d["E"].tolist() == [0.05, 0.5] and d["T_f"].tolist() == [0.5, 0.6] and not d["is_TLS"].any()
    MP.plot_dw_linear(tmp_path / "lin.png", d, 0.1, AR.kT_Q, "Ar")
    MP.plot_dw_nonlinear(tmp_path / "nl.png", d)
    a, b, c = figures["lin.png"].axes
    assert len(_points(a)) == 2 and len(_points(c)) == 2
    assert sorted(_stairs(b)) == ["r_AB, T_f=0.5 (n=1)", "r_AB, T_f=0.6 (n=1)", "r_AS, T_f=0.5 (n=1)"]
    for ax in figures["nl.png"].axes:
        assert "unit masses" in _texts(ax) and not _stairs(ax)


def test_report_command_writes_the_modes_section(stage, tmp_path, capsys):
    """``tlsfinder report`` on a results folder with the modes stage's outputs also writes its
    tables and figures; without them it writes none."""
    from test_commands import double_well

    from tlsfinder.cli import main

    res = tmp_path / "results"
    rows = [{**double_well(asym), "glass": g, "i": i, "j": j, "status": "dw", "origin": "input",
             "pair_id": f"{g}/{i}-{j}"} for g, i, j, asym in
            (("T0.5/g0", 0, 1, 0.0005), ("T0.5/g0", 1, 2, 0.02), ("T0.5/g1", 0, 1, 0.003))]
    write_parquet(res / "loop/iter0/neb.parquet", pd.DataFrame(rows))
    write_parquet(res / "explore/T0.5/glasses.parquet",
                  pd.DataFrame({"glass": ["T0.5/g0", "T0.5/g1"], "n_IS": [3, 3], "intervals": [40, 40],
                                "time": [2.0, 2.0]}))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"seed": 3, "model": {"name": "KA2", "n": N},
                                   "prepare": {"temperatures": [0.5], "n_glasses": 2},
                                   "explore": {"tau_cg": 0.05, "n_cg": 40}}))
    bare = tmp_path / "bare"
    assert main(["report", "--config", str(cfg), "--results", str(res), "--out", str(bare)]) == 0
    assert (bare / "summary.txt").exists() and not any((bare / n).exists() for n in MODES_FILES.values())
    _write_stage(stage, res)
    out = tmp_path / "report"
    assert main(["report", "--config", str(cfg), "--results", str(res), "--out", str(out)]) == 0
    assert "modes, elastic and coupling section" in capsys.readouterr().out
    for name in MP.MODES_FIGURE_FILES.values():
        assert (out / name).read_bytes()[:8] == PNG
    got = pd.read_csv(out / "modes.csv")
    assert got["n_IS"].tolist() == [4] and got["n_DW"].tolist() == [3]  # the catalogue's DWs have modes
    assert got["c"].iloc[0] == pytest.approx(pd.concat(stage["dw"])["mode_c"].mean(), rel=1e-5)
    assert pd.read_parquet(out / "tls_catalogue.parquet")["gamma_l"].isna().all()  # coupling off
