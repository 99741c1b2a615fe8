"""The workflow runs on Slurm through profiles/slurm, with the same results as locally.

The `slurm` test starts a one-node Slurm cluster on this machine with
tests/slurm/start_slurm.sh (root needed; the script installs slurm-wlm and
munge with apt-get when they are missing), runs the prepare stage of the demo
config (config/config.yaml, one glass per T_f) once through Slurm with
profiles/slurm and once locally with profiles/local, and checks that

* every prepare job was a Slurm job (Snakemake reported its Slurm job id,
  Slurm knows the job as COMPLETED, and its Slurm log is in
  .snakemake/slurm_logs/),
* the outputs exist, and the glass files of both runs are identical (same
  seed, same configuration: same positions, velocities and species, bit for
  bit; provenance differs only in time).

It is skipped, with the reason printed, only when Slurm cannot be installed
or started here (not root, no apt-get).  A cluster that this test started is
stopped at the end unless TLSF_SLURM_KEEP=1; one that was already up is
left alone.

The other tests check the profiles themselves: every key is a Snakemake
option, and the settings the test cluster needs are there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
START = ROOT / "tests" / "slurm" / "start_slurm.sh"
STOP = ROOT / "tests" / "slurm" / "stop_slurm.sh"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGET = "prepare_all"


def clean_env() -> dict[str, str]:
    """Our environment without a surrounding Slurm job's variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"}


# ------------------------------------------------------------- the profiles
@pytest.fixture(scope="module")
def snakemake_options() -> set[str]:
    out = subprocess.run([SNAKEMAKE, "--help"], capture_output=True, text=True, check=True)
    return set(re.findall(r"--([a-z][a-z0-9-]+)", out.stdout))


def load_profile(name: str) -> dict:
    with open(ROOT / "profiles" / name / "config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("name", ["slurm", "local"])
def test_profile_keys_are_snakemake_options(name, snakemake_options):
    unknown = sorted(set(load_profile(name)) - snakemake_options)
    assert unknown == [], f"profiles/{name}/config.yaml: not Snakemake options: {unknown}"


def test_slurm_profile_settings():
    prof = load_profile("slurm")
    assert prof["executor"] == "slurm"
    # the test cluster (and any cluster) without an accounting database
    assert prof["slurm-no-account"] is True
    assert prof["slurm-status-command"] == "squeue"
    assert prof["rerun-incomplete"] is True
    res = prof["default-resources"]
    assert set(res) >= {"mem_mb", "runtime", "cpus_per_task"}
    assert res["cpus_per_task"] == "threads"
    assert isinstance(res["mem_mb"], int) and isinstance(res["runtime"], int)


def test_local_profile_settings():
    prof = load_profile("local")
    assert prof["cores"] == 2
    assert "executor" not in prof


@pytest.mark.parametrize("script", [START, STOP])
def test_cluster_scripts_are_valid_bash(script):
    assert os.access(script, os.X_OK), f"{script} is not executable"
    subprocess.run(["bash", "-n", str(script)], check=True)


# ------------------------------------------------------ the one-node cluster
def _cluster_up() -> bool:
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "UP" in out.stdout


@pytest.fixture(scope="module")
def slurm_cluster():
    if shutil.which("bash") is None or not sys.platform.startswith("linux"):
        pytest.skip("Slurm test cluster needs Linux and bash")
    was_up = _cluster_up()
    proc = subprocess.run(["bash", str(START), "--install"], capture_output=True, text=True, timeout=900)
    print(proc.stdout + proc.stderr)
    if proc.returncode == 2:
        pytest.skip(f"Slurm cannot be installed or started here: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"start_slurm.sh failed:\n{proc.stdout}\n{proc.stderr}"
    yield
    if not was_up and os.environ.get("TLSF_SLURM_KEEP") != "1":
        subprocess.run(["bash", str(STOP)], timeout=120)


def demo_config(tmp_path: Path) -> Path:
    """config/config.yaml with one glass per T_f (keeps the test short)."""
    with open(ROOT / "config" / "config.yaml") as fh:
        cfg = yaml.safe_load(fh)
    cfg["prepare"]["n_glasses"] = 1
    path = tmp_path / "demo_one_glass.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_snakemake(workdir: Path, configfile: Path, profile: str, *extra: str, target: str = TARGET) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--profile", str(ROOT / "profiles" / profile), "--configfile", str(configfile),
        "--nocolor", *extra, target,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=1200)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-6000:]}"
    return out


def glass_contents(path: Path) -> dict:
    """Every dataset and root attribute of a glass file, provenance time and host removed."""
    with h5py.File(path, "r") as f:
        data = {name: np.asarray(f[name]) for name in f if isinstance(f[name], h5py.Dataset)}
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
    if "provenance" in attrs:
        prov = json.loads(attrs["provenance"])
        prov.pop("time", None)
        prov.pop("host", None)
        attrs["provenance"] = prov
    return {"data": data, "attrs": attrs}


@pytest.mark.slurm
def test_prepare_stage_through_slurm_matches_local_run(slurm_cluster, tmp_path):
    cfg = demo_config(tmp_path)
    with open(cfg) as fh:
        temps = yaml.safe_load(fh)["prepare"]["temperatures"]
    glasses = [f"results/prepare/T{float(t):g}/g0/glass.h5" for t in temps]

    slurm_dir = tmp_path / "slurm"
    log = run_snakemake(slurm_dir, cfg, "slurm", "--jobs", "4",
                        "--slurm-init-seconds-before-status-checks", "5")
    local_dir = tmp_path / "local"
    run_snakemake(local_dir, cfg, "local")

    # Every prepare job went through Slurm: reported job id, Slurm log, COMPLETED in Slurm.
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))
    assert len(submitted) >= len(glasses), log[-4000:]
    logs = sorted((slurm_dir / ".snakemake" / "slurm_logs" / "rule_prepare").rglob("*.log"))
    assert len(logs) == len(glasses), [str(p) for p in logs]
    slurm_ids = {p.stem for p in logs}
    assert slurm_ids <= set(submitted.values())
    states = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--jobs", ",".join(sorted(slurm_ids))],
        capture_output=True, text=True, check=True,
    ).stdout
    assert {line.split("|")[1] for line in states.split()} == {"COMPLETED"}, states
    for p in logs:  # each Slurm job ran the prepare rule for one glass
        text = p.read_text()
        assert "rule prepare:" in text and "Finished" in text, text[-2000:]

    # Same outputs, identical glasses.
    for rel in glasses:
        a, b = slurm_dir / rel, local_dir / rel
        assert a.is_file() and b.is_file(), rel
        ca, cb = glass_contents(a), glass_contents(b)
        assert ca["attrs"] == cb["attrs"], rel
        assert set(ca["data"]) == set(cb["data"]) and ca["data"], rel
        for name in ca["data"]:
            assert ca["data"][name].dtype == cb["data"][name].dtype, (rel, name)
            assert np.array_equal(ca["data"][name], cb["data"][name]), (rel, name)
    for t in temps:
        assert (slurm_dir / f"results/prepare/T{float(t):g}/diagnostics.png").is_file()


@pytest.mark.slurm
def test_whole_pipeline_through_slurm_matches_local_run(slurm_cluster, tmp_path):
    """Prepare, explore, pairs, two loop iterations with NEB, and the report, every job a Slurm job."""
    import pandas as pd

    from conftest import science_columns, tiny_pipeline_config

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_pipeline_config()))
    slurm_dir, local_dir = tmp_path / "slurm", tmp_path / "local"
    log = run_snakemake(slurm_dir, cfg, "slurm", "--jobs", "4", "--slurm-init-seconds-before-status-checks", "2",
                        "--seconds-between-status-checks", "2", target="all")
    run_snakemake(local_dir, cfg, "local", target="all")
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    rules_run = set(p.name for p in (slurm_dir / ".snakemake" / "slurm_logs").iterdir())
    # the cheap loop bookkeeping runs locally by design; every science step is a Slurm job
    assert {"rule_prepare", "rule_explore", "rule_pairs", "rule_ml_rank", "rule_neb", "rule_report"} <= rules_run, \
        rules_run
    assert len(submitted) >= 10
    for rel in ("results/report/tls_catalogue.parquet", "results/loop/iter2/labels.parquet",
                "results/explore/T0.7/g1/transitions.parquet", "results/pairs/T0.7/g0/pairs.parquet"):
        a, b = pd.read_parquet(slurm_dir / rel), pd.read_parquet(local_dir / rel)
        pd.testing.assert_frame_equal(science_columns(a), science_columns(b), obj=rel)
    for rel in ("results/explore/T0.7/g0/is_library.h5",):
        with h5py.File(slurm_dir / rel) as fa, h5py.File(local_dir / rel) as fb:
            assert np.array_equal(fa["positions"][()], fb["positions"][()])
    assert pd.read_csv(slurm_dir / "results/report/table1.csv").equals(pd.read_csv(local_dir / "results/report/table1.csv"))
