"""The Snakemake workflow as a user drives it: dry run, lint, bad config, a real tiny run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tlsfinder.workflow import loop_inputs

from conftest import ROOT, SNAKEMAKE, workflow_copy


def snakemake(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


TINY = {
    "seed": 3,
    "model": {"name": "KA2", "n": 200},
    "prepare": {"temperatures": [0.8, 0.6], "n_glasses": 2, "blocks": 40, "record_every": 10, "melt_steps": 200},
}


def test_loop_inputs():
    """Iteration 0 reads only what the config names; iteration k > 0 the model and labels of iteration k."""
    assert loop_inputs({}, 0) == {}
    assert loop_inputs({"ml": {"pretrained_model": "m", "initial_labels": "l.parquet"}}, 0) == {
        "model": "m", "labels": "l.parquet"}
    assert loop_inputs({}, 3) == {"model": "results/loop/iter3/model", "labels": "results/loop/iter3/labels.parquet"}


def test_dry_run_lists_the_dag(tmp_path):
    wf = workflow_copy(tmp_path)
    res = snakemake(wf, "-n", "--cores", "2")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    demo = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    n_glasses = len(demo["prepare"]["temperatures"]) * demo["prepare"]["n_glasses"]
    assert f"prepare                    {n_glasses}" in out
    assert "prepare_diagnostics" in out


def test_lint_is_clean(tmp_path):
    wf = workflow_copy(tmp_path)
    res = snakemake(wf, "--lint")
    assert res.returncode == 0 and "Congratulations" in res.stdout + res.stderr, res.stdout + res.stderr


@pytest.mark.parametrize("bad, words", [
    ({"prepare": {"temperatures": [-0.1], "n_glasses": 1}}, ["prepare.temperatures[0]", "-0.1"]),
    ({"model": {"name": "KA3"}}, ["model.name", "KA3"]),
    ({"seed": "abc"}, ["seed", "abc"]),
])
def test_bad_config_stops_before_any_job(tmp_path, bad, words):
    wf = workflow_copy(tmp_path)
    (wf / "bad.yaml").write_text(yaml.safe_dump(bad))
    res = snakemake(wf, "--cores", "1", "--configfile", "bad.yaml")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for w in words:
        assert w in out, out
    assert "Traceback" not in out
    assert not (wf / "results").exists()  # nothing started


def test_tiny_run_prepares_glasses_and_rerun_does_nothing(tmp_path):
    wf = workflow_copy(tmp_path, TINY)
    res = snakemake(wf, "--cores", "2", "prepare_all")
    assert res.returncode == 0, res.stderr[-3000:]
    for tf in ("0.8", "0.6"):
        for g in (0, 1):
            assert (wf / f"results/prepare/T{tf}/g{g}/glass.h5").exists()
            assert "block 40/40" in (wf / f"logs/prepare/T{tf}/g{g}.log").read_text()
        table = pd.read_parquet(wf / f"results/prepare/T{tf}/samples.parquet")
        assert len(table) == 2 and (wf / f"results/prepare/T{tf}/diagnostics.png").stat().st_size > 10000
    again = snakemake(wf, "--cores", "2", "prepare_all")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
