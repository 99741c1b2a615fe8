"""The workflow runs on Slurm through profiles/slurm, with the same results as locally.

The `slurm` tests start a one-node Slurm cluster on this machine with
tests/slurm/start_slurm.sh (root needed; the script installs slurm-wlm and
munge with apt-get when they are missing) and check that

* the whole tiny pipeline (prepare, explore, pairs, two loop iterations with
  NEB, report) runs with every science step as a Slurm job, through a
  cancelled pending job, a cancelled running job and a restarted slurmd, and
  gives the same results as the same config run locally (conftest's
  ``tiny_reference``): glass files bit for bit (provenance time and host
  aside), IS libraries, pairs, labels, catalogue and Table I;
* an exploration that hits its time limit is retried by the profile and
  resumes from its checkpoint.

They are skipped, with the reason printed, only when Slurm cannot be
installed or started here (not root, no apt-get).  A cluster that these tests
started is stopped at the end unless TLSF_SLURM_KEEP=1; one that was already
up (e.g. started for the whole session by conftest) is left alone.

The other tests check the profiles themselves: every key is a Snakemake
option, and the settings the test cluster needs are there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import SLURM_SCRIPTS, slurm_up

ROOT = Path(__file__).resolve().parents[1]
START = SLURM_SCRIPTS / "start_slurm.sh"
STOP = SLURM_SCRIPTS / "stop_slurm.sh"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


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
@pytest.fixture(scope="module")
def slurm_cluster():
    if shutil.which("bash") is None or not sys.platform.startswith("linux"):
        pytest.skip("Slurm test cluster needs Linux and bash")
    was_up = slurm_up()
    proc = subprocess.run(["bash", str(START), "--install"], capture_output=True, text=True, timeout=900)
    print(proc.stdout + proc.stderr)
    if proc.returncode == 2:
        pytest.skip(f"Slurm cannot be installed or started here: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"start_slurm.sh failed:\n{proc.stdout}\n{proc.stderr}"
    yield
    if not was_up and os.environ.get("TLSF_SLURM_KEEP") != "1":
        subprocess.run(["bash", str(STOP)], timeout=120)


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


def squeue_jobs(after: int = 0) -> list[dict[str, str]]:
    """Jobs Slurm still knows (finished ones stay MinJobAge = 600 s) with ids above ``after`` (those of
    earlier tests are older): id, state, comment (rule and wildcards), run time."""
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%M"], capture_output=True,
                         text=True, env=clean_env()).stdout
    keys = ("id", "state", "comment", "elapsed")
    jobs = [dict(zip(keys, line.split("|"))) for line in out.splitlines() if line.count("|") == 3]
    return [j for j in jobs if int(j["id"].split("_")[0]) > after]


def last_job_id() -> int:
    return max((int(j["id"].split("_")[0]) for j in squeue_jobs()), default=0)


def restart_slurmd() -> None:
    pid = int(Path("/run/slurmd.pid").read_text())
    os.kill(pid, 15)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def job_processes(job_id: str, needle: str) -> list[int]:
    """PIDs of this node's processes that run in Slurm job ``job_id`` with ``needle`` in their command line."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone, or not ours to read
            continue
        if f"SLURM_JOB_ID={job_id}".encode() in env and needle in cmd:
            pids.append(int(proc.name))
    return pids


@pytest.mark.slurm
def test_an_exploration_that_hits_its_time_limit_resumes_on_retry(slurm_cluster, tmp_path):
    """Slurm ends a running exploration at its time limit (TIMEOUT); the profile's retry asks for
    twice the time and the exploration continues from its checkpoint instead of starting over.

    Slurm's limits count whole minutes.  So that the limit strikes mid-exploration whatever the
    machine's speed, the test freezes the exploration (SIGSTOP) right after its first checkpoint,
    as a job slowed down would be, and lowers the job's limit to one minute: Slurm's clock runs on,
    the job times out, and the retry has most of the exploration left to do from that checkpoint.
    """
    from conftest import tiny_pipeline_config

    cfg = tiny_pipeline_config()
    cfg["prepare"]["n_glasses"] = 1
    cfg["explore"]["n_cg"] = 200
    cfg["explore"]["checkpoint_seconds"] = 5
    cfgfile = tmp_path / "long_explore.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    wd = tmp_path / "slurm"
    wd.mkdir()
    target = "results/explore/T0.7/g0/is_library.h5"
    checkpoint = wd / "results/explore/T0.7/g0/checkpoint.pkl"
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd),
           "--profile", str(ROOT / "profiles" / "slurm"), "--configfile", str(cfgfile), "--nocolor",
           "--jobs", "2", "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
           target]
    limited, frozen, after = None, [], last_job_id()
    seen: dict[str, dict[str, str]] = {}
    t0 = time.time()
    with open(tmp_path / "slurm.log", "w") as log_fh:
        proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=clean_env())
        while proc.poll() is None and time.time() - t0 < 1200:
            jobs = squeue_jobs(after)
            # Slurm forgets a finished job MinJobAge after it ends; a slow retry can outlast that.
            seen.update({j["id"]: j for j in jobs})
            if limited is None and checkpoint.exists():
                for j in jobs:
                    if j["comment"].startswith("rule_explore_") and j["state"] == "RUNNING":
                        frozen = job_processes(j["id"], "explore.py")
                        for pid in frozen:
                            os.kill(pid, signal.SIGSTOP)
                        subprocess.run(["scontrol", "update", f"JobId={j['id']}", "TimeLimit=1"], check=True,
                                       capture_output=True, env=clean_env())
                        limited = j["id"]
            time.sleep(0.5)
    log = (tmp_path / "slurm.log").read_text()
    assert proc.returncode == 0, log[-4000:]
    assert limited is not None, "no checkpoint of a running exploration was seen"
    assert frozen, "the exploration's process was not found in its Slurm job"
    seen.update({j["id"]: j for j in squeue_jobs(after)})
    explore_jobs = [j for j in seen.values() if j["comment"] == "rule_explore_wildcards_0.7_0"]
    states = {j["id"]: j["state"] for j in explore_jobs}
    assert states[limited] == "TIMEOUT", states
    assert sorted(states.values()) == ["COMPLETED", "TIMEOUT"], states
    assert len([j for j in seen.values() if j["comment"].startswith("rule_prepare_")]) == 1  # not redone
    explore_log = (wd / "logs/explore/T0.7/g0.log").read_text()
    resumed = re.findall(r"resumed from checkpoint at interval (\d+)", explore_log)
    assert len(resumed) == 1 and 0 < int(resumed[0]) < cfg["explore"]["n_cg"], explore_log[-2000:]
    print(f"exploration: {states}; resumed at interval {resumed[0]} of {cfg['explore']['n_cg']}; "
          f"{time.time() - t0:.0f} s")


class FaultInjector:
    """Cluster faults, each once, as the run reaches them.

    * a pending job cancelled (a blocker job holds every CPU when the run starts),
    * a running job cancelled,
    * slurmd restarted while a NEB batch runs.

    (A job hitting its time limit: :func:`test_an_exploration_that_hits_its_time_limit_resumes_on_retry`.)
    """

    def __init__(self):
        self.done: dict[str, str] = {}  # fault -> the job's comment (rule and wildcards)
        self.seen: dict[str, dict[str, str]] = {}  # id -> last squeue row; Slurm forgets jobs MinJobAge after they end
        self.after = last_job_id()
        self.blocker = subprocess.run(["sbatch", "--parsable", "--cpus-per-task", "2", "--job-name", "blocker",
                                       "--output", "/dev/null", "--wrap", "sleep 600"], capture_output=True, text=True, check=True,
                                      env=clean_env()).stdout.strip().split(";")[0]

    def poll(self) -> None:
        jobs = squeue_jobs(self.after)
        self.seen.update({j["id"]: j for j in jobs})
        ours = [j for j in jobs if j["comment"].startswith("rule_")]
        pending = [j for j in ours if j["state"] == "PENDING"]
        running = [j for j in ours if j["state"] == "RUNNING"]
        if "cancel pending" not in self.done:
            if pending:
                self._act("cancel pending", pending[0], ["scancel", pending[0]["id"]])
                subprocess.run(["scancel", self.blocker], env=clean_env())  # let the rest run
            return
        for j in running:
            rule = j["comment"]
            if "cancel running" not in self.done and rule.startswith("rule_prepare"):
                self._act("cancel running", j, ["scancel", j["id"]])
            elif "restart slurmd" not in self.done and rule.startswith("rule_neb"):
                self.done["restart slurmd"] = rule
                restart_slurmd()

    def _act(self, fault: str, job: dict, cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, capture_output=True, env=clean_env())
        self.done[fault] = job["comment"]


@pytest.mark.slurm
def test_whole_pipeline_through_slurm_recovers_faults_and_matches_local_run(slurm_cluster, tiny_reference, tmp_path):
    """Prepare, explore, pairs, two loop iterations with NEB, and the report, every job a Slurm job,
    through cancelled and orphaned jobs; the same results as a local run."""
    import pandas as pd

    from conftest import science_columns

    local_dir, cfg, _ = tiny_reference  # the same config run locally, uninterrupted
    cfgfile = tmp_path / "tiny.yaml"
    cfgfile.write_text(yaml.safe_dump(cfg))
    slurm_dir = tmp_path / "slurm"
    slurm_dir.mkdir()
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(slurm_dir),
           "--profile", str(ROOT / "profiles" / "slurm"), "--configfile", str(cfgfile), "--nocolor",
           "--jobs", "4", "--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2",
           "all"]
    faults = FaultInjector()
    t0 = time.time()
    with open(tmp_path / "slurm.log", "w") as log_fh:
        proc = subprocess.Popen(cmd, stdout=log_fh, stderr=subprocess.STDOUT, env=clean_env())
        while proc.poll() is None and time.time() - t0 < 1800:
            faults.poll()
            time.sleep(0.5)
    subprocess.run(["scancel", faults.blocker], env=clean_env())
    log = (tmp_path / "slurm.log").read_text()
    runs = 1
    if proc.returncode != 0:  # the profile's one retry was not enough: the next run must finish it
        runs = 2
        rerun = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=1800)
        assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
        log += rerun.stdout + rerun.stderr
    print(f"faults injected: {faults.done}; snakemake runs needed: {runs}; {time.time() - t0:.0f} s")
    assert set(faults.done) == {"cancel pending", "cancel running", "restart slurmd"}, faults.done

    # Only the faulted jobs ran twice: every other Slurm job of the run ran once.
    faults.seen.update({j["id"]: j for j in squeue_jobs(faults.after)})
    ours = [j for j in faults.seen.values() if j["comment"].startswith("rule_")]
    counts: dict[str, int] = {}
    for j in ours:
        counts[j["comment"]] = counts.get(j["comment"], 0) + 1
    redone = {c for c, n in counts.items() if n > 1}
    faulted = {c for f, c in faults.done.items() if f != "restart slurmd"}
    assert redone <= faulted, (redone, faulted)
    states = {j["comment"]: j["state"] for j in ours}
    assert all(states[c] == "COMPLETED" for c in counts if c not in faulted) or runs == 2, states

    rules_run = set(p.name for p in (slurm_dir / ".snakemake" / "slurm_logs").iterdir())
    # the cheap loop bookkeeping runs locally by design; every science step is a Slurm job
    assert {"rule_prepare", "rule_explore", "rule_pairs", "rule_ml_rank", "rule_neb", "rule_report"} <= rules_run, \
        rules_run
    for rel in ("results/report/tls_catalogue.parquet", "results/loop/iter2/labels.parquet",
                "results/explore/T0.7/g1/transitions.parquet", "results/pairs/T0.7/g0/pairs.parquet"):
        a, b = pd.read_parquet(slurm_dir / rel), pd.read_parquet(local_dir / rel)
        pd.testing.assert_frame_equal(science_columns(a), science_columns(b), obj=rel)
    for rel in ("results/prepare/T0.7/g0/glass.h5", "results/prepare/T0.7/g1/glass.h5"):
        ca, cb = glass_contents(slurm_dir / rel), glass_contents(local_dir / rel)  # bit for bit, but provenance
        assert ca["attrs"] == cb["attrs"] and set(ca["data"]) == set(cb["data"]) and ca["data"], rel
        for name in ca["data"]:
            assert ca["data"][name].dtype == cb["data"][name].dtype, (rel, name)
            assert np.array_equal(ca["data"][name], cb["data"][name]), (rel, name)
    faulted_ids = {i for i, j in faults.seen.items() if j["comment"] in faulted}
    for p in (slurm_dir / ".snakemake" / "slurm_logs" / "rule_prepare").rglob("*.log"):  # the job's own log
        text = p.read_text()
        assert "rule prepare:" in text and "Finished" in text or p.stem in faulted_ids, text[-2000:]
    for rel in ("results/explore/T0.7/g0/is_library.h5", "results/explore/T0.7/g1/is_library.h5"):
        with h5py.File(slurm_dir / rel) as fa, h5py.File(local_dir / rel) as fb:
            assert np.array_equal(fa["positions"][()], fb["positions"][()])
    assert pd.read_csv(slurm_dir / "results/report/table1.csv").equals(pd.read_csv(local_dir / "results/report/table1.csv"))
