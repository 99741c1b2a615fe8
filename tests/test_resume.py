"""Resume after a kill at any moment: SIGKILL the whole run, unlock, run the same command again.

One uninterrupted reference run (conftest's ``tiny_reference``, shared with the Slurm test), then
one chain of interrupted runs in a second folder: each segment starts ``snakemake
--rerun-incomplete`` and is killed (the whole process group, jobs included) at its kill point; the
next segment resumes from what the kill left.  Kill points:

* deterministic: inside an exploration, right after each checkpoint (ml_select, loop_decide) of
  both iterations, inside a NEB batch, neb_merge and merge_labels;
* random (at least ``TLSF_RESUME_KILLS``, default 3, as the deterministic points cover every stage;
  more for a longer soak): a delay drawn from a seeded generator after the segment starts (the seed
  is printed, ``TLSF_RESUME_SEED`` replays it; the delay grows while segments make no progress, so
  every job eventually finishes).

After every kill: no job that had finished is recomputed by any later segment, and the next segment
does not fail.  At the end: the last segment finishes, and the catalogue, labels and NEB tables equal
the reference run's.  The finished run, copied to another folder, still resumes and reports there.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import SNAKEMAKE, science_columns, workflow_copy

pytestmark = pytest.mark.slow

# Files each written last by its job: when one exists and Snakemake does not mark it incomplete,
# that job had finished.
FINISHED_MARKERS = ("glass.h5", "is_library.h5", "pairs.parquet", "ranking.parquet", "yield.parquet", "neb.parquet",
                    "labels.parquet", "decision.json", "summary.txt")


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
    """Marker outputs of finished jobs (present, not marked incomplete) and their mtimes."""
    skip = incomplete(wf)
    out = {}
    for p in (wf / "results").rglob("*"):
        if p.is_file() and (p.name in FINISHED_MARKERS or (p.parent.name == "neb" and p.suffix == ".parquet")):
            rel = str(p.relative_to(wf))
            if rel not in skip:
                out[rel] = p.stat().st_mtime_ns
    return out


def exists(wf: Path, rel: str) -> bool:
    return (wf / rel).exists()


def log_started(wf: Path, rel_log: str, marker: str | None = None) -> bool:
    p = wf / rel_log
    return p.exists() and (marker is None or marker in p.read_text())


# Deterministic kill points: (name, kill when, skip if already at the segment's start).  A job that
# runs "inside" may finish between two polls: then the kill comes right after it instead.
def inside(log: str, output: str, marker: str | None = None):
    return (lambda wf: log_started(wf, log, marker) or exists(wf, output)), (lambda wf: exists(wf, output))


def right_after(output: str):
    return (lambda wf: exists(wf, output)), (lambda wf: exists(wf, output))


def deterministic_points() -> list[tuple[str, object, object]]:
    """Inside an exploration; after both checkpoints of iteration 0 (the folder moves after the
    second); in iteration 1, after each checkpoint and inside each job of its NEB stage.  Iteration
    0's NEB stage runs the same rules on the same kind of inputs."""
    pts = [("inside an exploration",
            *inside("logs/explore/T0.7/g0.log", "results/explore/T0.7/g0/is_library.h5", "exploring glass")),
           ("right after checkpoint ml_select of iteration 0", *right_after("results/loop/iter0/selected.parquet")),
           ("right after checkpoint loop_decide of iteration 0", *right_after("results/loop/iter0/decision.json"))]
    k = 1
    pts += [
        (f"right after checkpoint ml_select of iteration {k}", *right_after(f"results/loop/iter{k}/selected.parquet")),
        (f"inside NEB batch 0 of iteration {k}",
         *inside(f"logs/loop/iter{k}/neb/batch0.log", f"results/loop/iter{k}/neb/batch0.parquet")),
        (f"inside neb_merge of iteration {k}",
         *inside(f"logs/loop/iter{k}/neb_merge.log", f"results/loop/iter{k}/neb.parquet")),
        (f"inside merge_labels of iteration {k + 1}",
         *inside(f"logs/loop/iter{k + 1}/merge_labels.log", f"results/loop/iter{k + 1}/labels.parquet")),
        (f"right after checkpoint loop_decide of iteration {k}", *right_after(f"results/loop/iter{k}/decision.json")),
    ]
    return pts


def start(wf: Path) -> subprocess.Popen:
    # a SIGKILLed Snakemake leaves its lock behind: release it first, as the README tells users
    subprocess.run([SNAKEMAKE, "--unlock"], cwd=wf, capture_output=True, timeout=120)
    return subprocess.Popen([SNAKEMAKE, "--cores", "2", "--rerun-incomplete"], cwd=wf, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_until(wf: Path, proc: subprocess.Popen, condition, timeout: float = 900) -> bool:
    """SIGKILL the run and its jobs as soon as ``condition(wf)`` holds; False if it ended first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if condition(wf):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError("the run neither finished nor met its kill condition in time")


def compare_runs(got: Path, ref: Path) -> None:
    for rel in ["results/report/tls_catalogue.parquet", "results/report/table1.parquet",
                *sorted(str(p.relative_to(ref)) for p in (ref / "results/loop").rglob("labels.parquet")),
                *sorted(str(p.relative_to(ref)) for p in (ref / "results/loop").rglob("batch*.parquet")),
                *sorted(str(p.relative_to(ref)) for p in (ref / "results/loop").rglob("neb.parquet"))]:
        a, b = pd.read_parquet(got / rel), pd.read_parquet(ref / rel)
        pd.testing.assert_frame_equal(science_columns(a), science_columns(b), obj=rel)


def chain(wf: Path, points, on_kill=None, finish_early: bool = False) -> list[str]:
    """Run segment after segment, each killed at its point, then a final run; checks after every kill.

    ``points`` yields (name, kill when, skip if passed) or None when no point is left.  Returns the
    names of the kills made.  ``on_kill(name, wf)`` may move the folder: it returns the folder to go on in.
    With ``finish_early`` a run may end before its kill point (timed points).
    """
    kills: list[str] = []
    finished: dict[str, int] = {}
    while True:
        point = points(wf)
        name, cond = (point[0], point[1]) if point else ("final run", lambda wf: False)
        before = finished_outputs(wf)
        proc = start(wf)
        if callable(getattr(cond, "arm", None)):  # a timed point: its clock starts with the segment
            cond = cond.arm()
        killed = run_until(wf, proc, cond)
        now = finished_outputs(wf)
        known = {**finished, **before}
        redone = sorted(f for f, t in known.items() if f in now and now[f] != t)
        vanished = sorted(f for f in known if f not in now)
        assert not redone and not vanished, (f"after kill points {kills}, segment '{name}' recomputed finished "
                                            f"jobs {redone} or lost {vanished}")
        finished.update(before)
        if not killed:
            out = proc.stdout.read()
            assert proc.returncode == 0, f"after kill points {kills}, the rerun failed:\n{out[-4000:]}"
            assert point is None or finish_early, f"the run finished before kill point '{name}' (after {kills})"
            return kills
        kills.append(name)
        if on_kill is not None:
            wf = on_kill(name, wf)  # may move the folder (paths in `finished` are relative to it)


class After:
    """A kill ``delay`` seconds after its segment starts."""

    def __init__(self, delay: float):
        self.delay = delay

    def __call__(self, wf):
        return False

    def arm(self):
        t = time.time() + self.delay
        return lambda wf: time.time() > t


def test_kills_after_each_checkpoint_and_inside_each_merge_resume(tiny_reference, tmp_path):
    """Deterministic points; half-way the folder is moved to another path and the run goes on there."""
    ref, cfg, _ = tiny_reference
    pending = deterministic_points()
    skipped: list[str] = []

    def points(wf):
        while pending and pending[0][2](wf):  # its moment passed in an earlier segment
            skipped.append(pending.pop(0)[0])
        return pending.pop(0) if pending else None

    def move_once(name, wf):
        if name != "right after checkpoint loop_decide of iteration 0":
            return wf
        new = tmp_path / "project" / "run"
        shutil.move(str(wf), new)
        return new

    kills = chain(workflow_copy(tmp_path / "scratch" / "run", cfg), points, move_once)
    print(f"deterministic kills: {kills}; passed before their turn: {skipped}")
    # the two moments that once left a run unable to finish
    assert "right after checkpoint ml_select of iteration 1" in kills
    assert "inside merge_labels of iteration 2" in kills
    assert len(kills) >= 6, (kills, skipped)
    wf = tmp_path / "project" / "run"
    compare_runs(wf, ref)

    # A finished folder copied elsewhere is complete there, and its report is remade there.
    copy = tmp_path / "copy" / "run"
    shutil.copytree(wf, copy, symlinks=True)
    dry = subprocess.run([SNAKEMAKE, "-n", "--cores", "1"], cwd=copy, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]
    shutil.rmtree(copy / "results/report")
    again = subprocess.run([SNAKEMAKE, "--cores", "1"], cwd=copy, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    compare_runs(copy, ref)
    assert yaml.safe_load((copy / "results/run_config.json").read_text())["seed"] == cfg["seed"]


def test_kills_at_random_moments_resume(tiny_reference, tmp_path):
    ref, cfg, t_ref = tiny_reference
    seed = int(os.environ.get("TLSF_RESUME_SEED", random.SystemRandom().randrange(2**31)))
    n_random = int(os.environ.get("TLSF_RESUME_KILLS", "3"))
    print(f"random kill points: seed {seed} (replay with TLSF_RESUME_SEED={seed}), at least {n_random}; "
          f"reference run {t_ref:.0f} s")
    rng = random.Random(seed)
    state = {"max": max(4.0, t_ref / 8), "n": 0, "before": None}

    def points(wf):
        now = set(finished_outputs(wf))
        if state["before"] is not None:
            # no job finished in the last segment: give the next one longer, so the run always progresses
            state["max"] = state["max"] * 1.5 if now == state["before"] else max(4.0, t_ref / 8)
        state["before"] = now
        state["n"] += 1
        delay = rng.uniform(0.5, state["max"])
        return (f"random {state['n']} at {delay:.1f} s", After(delay), None)

    total, runs = 0, 0
    while total < n_random:  # a run that finishes before enough kills is followed by another
        runs += 1
        state.update(before=None, n=0)
        need = n_random - total
        kills = chain(workflow_copy(tmp_path / f"run{runs}", cfg),
                      lambda wf, need=need: points(wf) if state["n"] < need else None, finish_early=True)
        total += len(kills)
        compare_runs(tmp_path / f"run{runs}", ref)
    print(f"random kills: {total} in {runs} run(s), all resumed to the reference's results")
    assert total >= n_random
