"""Resume after partial failure: SIGKILL the whole run at several points, run the same command again.

Each time, the rerun finishes, recomputes no job that had finished before the kill, and the final
TLS catalogue equals the one of an uninterrupted run.  Kill points: inside an exploration job,
inside a NEB batch, between loop iterations, and at two arbitrary moments.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import science_columns, tiny_pipeline_config
from test_workflow import SNAKEMAKE, workflow_copy

pytestmark = pytest.mark.slow

# Files each written last by its job: when one exists, that job had finished.
FINISHED_MARKERS = ("glass.h5", "is_library.h5", "pairs.parquet", "ranking.parquet", "yield.parquet",
                    "labels.parquet", "decision.json")


def incomplete(wf: Path) -> set[str]:
    """Outputs Snakemake itself marks incomplete (their job was killed before Snakemake recorded it)."""
    from base64 import urlsafe_b64decode

    folder = wf / ".snakemake" / "incomplete"
    names = set()
    for p in folder.rglob("*") if folder.exists() else []:
        if not p.is_file():
            continue
        # long ids are split into folders, every part but the last prefixed with "@"
        b64 = "".join(part.lstrip("@") for part in p.relative_to(folder).parts)
        try:
            name = urlsafe_b64decode(b64.encode()).decode()
            names.add(str(Path(name).relative_to(wf)) if Path(name).is_absolute() else name)
        except ValueError:
            continue
    return names


def finished_outputs(wf: Path) -> dict[str, int]:
    """Marker outputs of finished jobs: present and not marked incomplete by Snakemake."""
    skip = incomplete(wf)
    out = {}
    for p in (wf / "results").rglob("*"):
        if p.is_file() and (p.name in FINISHED_MARKERS or (p.parent.name == "neb" and p.suffix == ".parquet")):
            rel = str(p.relative_to(wf))
            if rel not in skip:
                out[rel] = p.stat().st_mtime_ns
    return out


def start(wf: Path) -> subprocess.Popen:
    # a SIGKILLed Snakemake leaves its lock behind: release it first, as the README tells users
    subprocess.run([SNAKEMAKE, "--unlock"], cwd=wf, capture_output=True, timeout=120)
    return subprocess.Popen([SNAKEMAKE, "--cores", "2", "--rerun-incomplete"], cwd=wf, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def kill_when(wf: Path, proc: subprocess.Popen, condition, timeout: float = 600) -> bool:
    """SIGKILL the run (and its jobs) as soon as ``condition(wf)`` holds; False if it finished first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if condition(wf):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.2)
    raise AssertionError("kill condition never met")


def exploring(wf):  # an exploration job has started but not finished
    logs = list((wf / "logs/explore").rglob("g*.log")) if (wf / "logs/explore").exists() else []
    return any(not (wf / "results/explore" / p.parent.name / p.stem / "is_library.h5").exists() and
               "exploring glass" in p.read_text() for p in logs)


def in_neb(wf):  # a NEB batch job has started but not finished
    logs = list((wf / "logs/loop").rglob("batch*.log")) if (wf / "logs/loop").exists() else []
    return any(not (wf / "results/loop" / p.parent.parent.name / "neb" / f"{p.stem}.parquet").exists() for p in logs)


def between_iterations(wf):
    return (wf / "results/loop/iter0/decision.json").exists() and not (wf / "results/loop/iter1/ranking.parquet").exists()


def after(seconds):
    t0 = time.time()
    return lambda wf: time.time() - t0 > seconds


def test_killed_runs_resume_without_recomputing_and_match(tmp_path):
    cfg = tiny_pipeline_config()
    ref = workflow_copy(tmp_path / "ref", cfg)
    res = subprocess.run([SNAKEMAKE, "--cores", "2"], cwd=ref, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    expected = pd.read_parquet(ref / "results/report/tls_catalogue.parquet")

    wf = workflow_copy(tmp_path / "run", cfg)
    kills = []
    for name, cond in [("inside exploration", exploring), ("arbitrary 1", after(8)), ("inside NEB batch", in_neb),
                       ("between iterations", between_iterations), ("arbitrary 2", after(5))]:
        before = finished_outputs(wf)
        proc = start(wf)
        killed = kill_when(wf, proc, cond)
        if killed:
            kills.append(name)
        now = finished_outputs(wf)
        changed = [f for f, t in before.items() if now.get(f) != t]
        assert not changed, f"after the kill '{name}', finished outputs were recomputed: {changed}"
    assert len(kills) >= 4, kills
    before = finished_outputs(wf)
    subprocess.run([SNAKEMAKE, "--unlock"], cwd=wf, capture_output=True, timeout=120)
    res = subprocess.run([SNAKEMAKE, "--cores", "2", "--rerun-incomplete"], cwd=wf, capture_output=True, text=True,
                         timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    now = finished_outputs(wf)
    assert not [f for f, t in before.items() if now.get(f) != t]
    got = pd.read_parquet(wf / "results/report/tls_catalogue.parquet")
    assert len(got) == len(expected) > 0
    pd.testing.assert_frame_equal(science_columns(got), science_columns(expected))
    assert yaml.safe_load((wf / "results/run_config.json").read_text())["seed"] == cfg["seed"]
