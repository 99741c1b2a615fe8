"""The command line: one registry of subcommands, every one reachable, README's commands valid."""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tlsfinder import commands
from tlsfinder.cli import build_parser, main
from tlsfinder.io import write_parquet
from tlsfinder.splitting import MEP, analyse_mep
from tlsfinder.units import get_preset

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tlsfinder"


def subcommand_names(module=None) -> list[str]:
    """Subcommands registered by one command module (all of them without one), in order."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for m in [module] if module else commands.COMMANDS:
        m.add_cli(sub)
    return list(sub.choices)


ALL = subcommand_names()


def test_registry_lists_each_module_once_and_no_name_twice():
    assert len(set(commands.COMMANDS)) == len(commands.COMMANDS)
    per_module = [subcommand_names(m) for m in commands.COMMANDS]
    names = [n for names in per_module for n in names]
    assert all(per_module) and len(names) == len(set(names)), names
    assert set(ALL) == {"models", "validate-config", "prepare", "explore", "pairs", "import-tlsml", "train", "rank",
                        "select", "neb", "splitting", "report", "modes"}


def test_every_command_module_is_registered():
    on_disk = {p.stem for p in (PACKAGE / "commands").glob("*.py") if p.stem != "__init__"}
    assert on_disk == {m.__name__.rsplit(".", 1)[1] for m in commands.COMMANDS}


def test_console_script_help_lists_every_subcommand():
    exe = Path(sys.executable).with_name("tlsfinder")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tlsfinder.cli"]
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    listed = re.search(r"\{([a-z,-]+)\}", res.stdout).group(1).split(",")
    assert listed == ALL


@pytest.mark.parametrize("name", ALL)
def test_every_subcommand_help_runs(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert f"usage: tlsfinder {name}" in capsys.readouterr().out


def readme_commands() -> list[list[str]]:
    """Every ``tlsfinder ...`` command line of README.md's code blocks (continuations joined, comments cut)."""
    text = (ROOT / "README.md").read_text()
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if argv[:1] == ["tlsfinder"]:
                out.append(argv[1:])
    return out


def test_readme_commands_parse_and_their_help_runs(capsys):
    lines = readme_commands()
    assert len(lines) >= 10
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`tlsfinder ([a-z][a-z-]*)", text)) | {argv[0] for argv in lines if argv[:1] != ["--help"]}
    assert named <= set(ALL), named - set(ALL)
    parser = build_parser()
    for argv in lines:
        if argv == ["--help"]:
            continue
        args = parser.parse_args(argv)  # every option exists and every required one is given
        assert callable(args.func)
    for name in sorted(named):
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0


def test_science_modules_hold_no_command_line():
    """argparse and add_cli live in tlsfinder.cli and tlsfinder.commands only."""
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "cli.py" or rel.startswith("commands/"):
            continue
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert "argparse" not in imported, rel
        defs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not defs & {"add_cli", "run_cli"}, rel


def test_options_that_mirror_config_keys_default_to_the_schema():
    from tlsfinder.schema import default

    ml = build_parser().parse_args(["select", "--ranking", "r", "--out", "o"])
    assert (ml.k, ml.explore_fraction, ml.min_p_dw) == (
        default("ml.k"), default("ml.explore_fraction"), default("ml.min_p_dw"))
    # the TLS threshold is not an ml key: the preset's k_B T_Q (--model-name/--preset) or an explicit number
    assert (ml.tls_splitting_max, ml.model_name, ml.preset) == (None, None, None)
    tr = build_parser().parse_args(["train", "--pairs", "p", "--labels", "l", "--out", "o"])
    assert (tr.val_fraction, tr.sigma, tr.order) == (default("ml.val_fraction"), default("ml.sigma"),
                                                      default("ml.order"))
    pa = build_parser().parse_args(["pairs", "--is-library", "x.h5", "--glass", "T0.5/g0", "--out", "o"])
    assert pa.delta_e_max == default("ml.delta_e_max")
    sp = build_parser().parse_args(["splitting", "path.csv"])
    assert (sp.n_xi, sp.continuation, sp.bc) == (default("splitting.n_xi"), default("splitting.continuation"),
                                                 default("splitting.bc"))


# ---------------------------------------------------------------------------
# tlsfinder report on a finished results folder
# ---------------------------------------------------------------------------

AR, NIP = get_preset("KA2", "Ar"), get_preset("KA2", "NiP")


def double_well(asymmetry: float) -> dict:
    """The splitting row of a quartic double well (barrier 0.05 eps) as the NEB tables hold it."""
    x = np.linspace(0.0, 1.0, 64)
    v = 0.05 * (16 * (x - 0.5) ** 4 - 8 * (x - 0.5) ** 2 + 1) + asymmetry * x
    return analyse_mep(MEP(x, v), [AR, NIP], check_convergence=False)


def test_report_command_on_a_finished_results_folder(tmp_path, capsys):
    res = tmp_path / "results"
    glasses = ["T0.5/g0", "T0.5/g1"]
    rows = []
    for n, (g, asym) in enumerate([(glasses[0], 0.0005), (glasses[0], 0.02), (glasses[1], 0.003)]):
        rows.append({**double_well(asym), "glass": g, "i": n, "j": n + 5, "status": "dw", "origin": "input",
                     "pair_id": f"{g}/{n}-{n + 5}"})
    rows.append({"glass": glasses[1], "i": 1, "j": 2, "status": "non_dw", "origin": "input",
                 "pair_id": f"{glasses[1]}/1-2"})
    write_parquet(res / "loop/iter0/neb.parquet", pd.DataFrame(rows))
    write_parquet(res / "explore/T0.5/glasses.parquet",
                  pd.DataFrame({"glass": glasses, "n_IS": [7, 9], "intervals": [40, 40], "time": [2.0, 2.0]}))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"seed": 3, "model": {"name": "KA2", "n": 300}, "prepare": {"temperatures": [0.5], "n_glasses": 2},
         "explore": {"tau_cg": 0.05, "n_cg": 40}}))
    out = tmp_path / "report"
    assert main(["report", "--config", str(tmp_path / "config.yaml"), "--results", str(res), "--out", str(out)]) == 0

    cat = pd.read_parquet(out / "tls_catalogue.parquet")
    assert sorted(cat["pair_id"]) == sorted(r["pair_id"] for r in rows[:3])  # the DWs, not the non-DW
    for p in (AR, NIP):
        assert cat[f"is_TLS_{p.name}"].tolist() == ((cat[f"E_{p.name}"] < p.kT_Q)
                                                    & cat[f"converged_{p.name}"].astype(bool)
                                                    & (cat["n_interior_minima"] == 0)).tolist()
    # asymmetry 0.0005: TLS in both presets; 0.003: NiP only; 0.02 tilts the right end off its
    # minimum (an interior minimum next to it), so its E_Ar = 0.0028 < k_B T_Q decides nothing
    assert (int(cat["is_TLS_Ar"].sum()), int(cat["is_TLS_NiP"].sum())) == (1, 2)
    assert cat.loc[cat["n_interior_minima"] > 0, "E_Ar"].lt(AR.kT_Q).all()
    t1 = pd.read_csv(out / "table1.csv").iloc[0]
    assert (t1["N_g"], t1["N_IS"], t1["N_DW"], t1["N_NEB"]) == (2, 16, 3, 4)
    assert t1["tau_total"] == pytest.approx(40 * 0.05)
    n0 = pd.read_csv(out / "n0.csv").set_index("preset")
    for p in (AR, NIP):  # the plateau estimate N_DW(E < kT_Q) / (N N_g kT_Q)
        count = int(cat[f"is_TLS_{p.name}"].sum())  # E < kT_Q where the splitting decides
        assert n0.loc[p.name, "n0"] == pytest.approx(count / (300 * 2 * p.kT_Q), rel=1e-5)
    summary = (out / "summary.txt").read_text()
    assert "catalogue: 3 double well(s)" in summary
    assert capsys.readouterr().out == summary
