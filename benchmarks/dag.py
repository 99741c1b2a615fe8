"""Cost of rebuilding the workflow's DAG as the outer loop grows (issue 6).

Builds a scratch Snakemake working directory (a temporary folder) for a tiny
config (one T_f, two glasses; ``loop.max_iter`` well above the largest k),
fabricates the outputs of every upstream job (prepare, explore, pairs) and of
k finished loop iterations, then times ``snakemake -n --cores 1`` with the
repository's Snakefile (``--snakefile``, ``--directory``).

The checkpoint outputs and the tables the input functions and the loop's steps
read are written with the project's own code, so they are what a real run
leaves behind: pairs tables with every column of :mod:`tlsfinder.pairs`
(random values), rankings by :func:`tlsfinder.ml.rank_from_files` (heuristic
order), ``selected.parquet`` / ``yield.parquet`` by
:func:`tlsfinder.ml.select_from_files`, NEB batch tables in the DW-table
format of :mod:`tlsfinder.neb` (batch b of n takes selected rows b, b+n, ...;
random DW / non-DW outcomes and splittings), labels by
:func:`tlsfinder.loop.merge_labels` and decisions by :func:`tlsfinder.loop.decide`
(all "continue").  Files nobody reads in a dry run (glass and IS library
files, plots, models) are small placeholders.  Modification times increase in
the order a real run writes the files, so nothing is outdated: the dry run
plans only iteration k (train, rank, select, merge, decide) and the report.
The script checks this from the dry run's job table.

Printed per k: jobs in the DAG (finished + planned; the finished ones are
counted from what was fabricated, the planned ones from the dry run), jobs
planned, the dry run's wall time and CPU time (user + system of the snakemake
process; best of ``--repeat``; wall time on a shared machine mostly measures
the load, CPU time is the cost), CPU time per iteration (CPU / k) and the
marginal CPU cost per iteration between successive k; then the ratios
t(k_max) / t(k_min) and the growth exponent of the k-dependent part,
CPU(k) - CPU(0) ~ k^a (fit over k >= 5), with k = 0 (no finished iteration)
measured in the same run as the reference.

Usage: python benchmarks/dag.py [--iterations 1 5 10 20 30] [--select 8] [--batch-size 4]
                                [--repeat 2] [--profile K] [--keep DIR]

``--select`` (ml.k) / ``--batch-size`` (loop.batch_size) set the NEB jobs per
iteration (ceil(select / batch_size)); the defaults are the demo's
(config/config.yaml).  ``--profile K`` also runs the dry run at K iterations
in-process under cProfile and prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

from tlsfinder import paths  # noqa: E402
from tlsfinder.config import glasses, tf_labels  # noqa: E402
from tlsfinder.io import write_parquet  # noqa: E402
from tlsfinder.loop import LoopSettings, decide, merge_labels, n_batches, tls_threshold, write_decision  # noqa: E402
from tlsfinder.ml import ml_setting, rank_from_files, read_labels, select_from_files  # noqa: E402
from tlsfinder.pairs import PAIR_COLUMNS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def bench_config(max_iter: int, select: int, batch_size: int) -> dict:
    """The demo config (config/config.yaml) shrunk to one T_f and two glasses, with a long loop."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cfg["prepare"]["temperatures"] = cfg["prepare"]["temperatures"][:1]
    cfg["prepare"]["n_glasses"] = 2
    cfg.setdefault("ml", {})["k"] = select
    cfg["loop"] = {**cfg.get("loop", {}), "mode": "ml", "max_iter": max_iter, "min_yield": 0.0,
                   "batch_size": batch_size}
    return cfg


class Fabricator:
    """Writes a run's files into ``wd`` and stamps them with increasing mtimes (10 ms apart)."""

    def __init__(self, wd: Path, config: dict, seed: int = 0):
        self.wd = wd
        self.config = config
        self.rng = np.random.default_rng(seed)
        # The "run" happened an hour ago, one file every 10 ms, but after the last edit of a rule's script
        # (Snakemake reruns a job whose outputs are older than its script: "Code has changed").
        newest_script = max(p.stat().st_mtime for p in (ROOT / "workflow" / "scripts").glob("*.py"))
        self.t = max(time.time() - 3600, newest_script + 1)
        self.n_done_jobs = 0
        self.iterations = 0
        self.settings = LoopSettings.from_config(config)

    def stamp(self, *paths) -> None:
        for p in paths:
            p = self.wd / p
            if p.is_dir():  # contents first, the folder last
                for q in sorted(p.rglob("*")):
                    self.t += 0.01
                    os.utime(q, (self.t, self.t))
            self.t += 0.01
            os.utime(p, (self.t, self.t))

    def placeholder(self, *paths) -> None:
        for p in paths:
            p = self.wd / p
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"placeholder for benchmarks/dag.py\n")
        self.stamp(*paths)

    def job(self, *outputs) -> None:
        """Record a finished job whose outputs were just written."""
        self.stamp(*outputs)
        self.n_done_jobs += 1

    def upstream(self, n_pairs_per_glass: int) -> None:
        gl = glasses(self.config)
        tfs = tf_labels(self.config)
        for tf, g in gl:
            self.placeholder(*(paths.fill(t, tf=tf, g=g) for t in (paths.GLASS, paths.PREPARE_THERMO,
                                                                   paths.PREPARE_SUMMARY)))
            self.n_done_jobs += 1
        for tf in tfs:
            self.placeholder(paths.fill(paths.PREPARE_PLOT, tf=tf), paths.fill(paths.PREPARE_SAMPLES, tf=tf))
            self.n_done_jobs += 1
        for tf, g in gl:
            self.placeholder(*(paths.fill(t, tf=tf, g=g) for t in (paths.IS_LIBRARY, paths.TIMESERIES,
                                                                   paths.TRANSITIONS, paths.EXPLORE_SUMMARY)))
            self.n_done_jobs += 1
        for tf in tfs:
            self.placeholder(*(paths.fill(t, tf=tf) for t in (paths.GLASSES_TABLE, paths.PERSISTENCE, paths.N_IS)))
            self.n_done_jobs += 1
        self.pairs_paths = []
        for tf, g in gl:
            path = paths.fill(paths.PAIRS, tf=tf, g=g)
            write_parquet(self.wd / path, self.pairs_table(paths.glass_id(tf, g), n_pairs_per_glass))
            self.job(path)
            self.pairs_paths.append(str(self.wd / path))

    def pairs_table(self, glass: str, n: int) -> pd.DataFrame:
        """Random pairs with every column of a real pairs table (i < j, about a third crossed both ways)."""
        n_is = int(math.ceil((1 + math.sqrt(1 + 8 * n)) / 2)) + 1
        ii, jj = np.triu_indices(n_is, 1)
        pick = np.sort(self.rng.choice(len(ii), n, replace=False))
        df = pd.DataFrame({"glass": glass, "i": ii[pick].astype(np.int64), "j": jj[pick].astype(np.int64)})
        for col in PAIR_COLUMNS[3:]:
            df[col] = self.rng.random(n)
        df["Tij"] = self.rng.integers(0, 3, n).astype(np.float64)
        df["Tji"] = self.rng.integers(0, 3, n).astype(np.float64)
        return df

    def iteration(self) -> None:
        """Everything iteration k writes, k = the number of iterations fabricated so far."""
        k, wd, cfg = self.iterations, self.wd, self.config
        it = paths.fill(paths.ITER, k=k)
        labels = None if k == 0 else wd / it / "labels.parquet"  # ml.initial_labels unset in the bench config
        model = None
        if k >= 1:  # ml_train: a model folder nobody reads in a dry run
            model = wd / it / "model"
            self.placeholder(f"{it}/model/model.json", f"{it}/model/classifier.txt", f"{it}/model/regressor.txt")
            self.job(f"{it}/model")
        # ml_rank (the heuristic order: same table format as a model's ranking)
        rank_from_files(None, self.pairs_paths, wd / it / "ranking.parquet")
        self.job(f"{it}/ranking.parquet")
        # checkpoint ml_select
        sel, _ = select_from_files(wd / it / "ranking.parquet", labels, wd / it / "selected.parquet",
                                   k=int(ml_setting(cfg, "k")), explore_fraction=ml_setting(cfg, "explore_fraction"),
                                   min_p_dw=ml_setting(cfg, "min_p_dw"), seed=1000 + k, iteration=k,
                                   tls_splitting_max=tls_threshold(cfg),
                                   yield_out=wd / it / "yield.parquet")
        self.job(f"{it}/selected.parquet", f"{it}/yield.parquet")
        # neb batches
        nb = n_batches(len(sel), self.settings.batch_size)
        frames = []
        for b in range(nb):
            table = paths.fill(paths.NEB_TABLE, k=k, b=b)
            frames.append(self.neb_table(sel.iloc[b::nb]))
            write_parquet(wd / table, frames[-1])
            (wd / paths.fill(paths.NEB_PATHS, k=k, b=b)).mkdir(parents=True, exist_ok=True)
            minima = paths.fill(paths.NEB_BATCH_MINIMA, k=k, b=b)
            self.placeholder(minima)  # the fabricated batches find no new minimum
            self.job(table, paths.fill(paths.NEB_PATHS, k=k, b=b), minima)
        # neb_merge: the fabricated ids are all library ids already
        merged = paths.fill(paths.NEB_MERGED, k=k)
        write_parquet(wd / merged, pd.concat(frames, ignore_index=True).assign(iteration=np.int64(k)))
        self.placeholder(paths.fill(paths.NEB_MINIMA, k=k))
        self.job(merged, paths.fill(paths.NEB_MINIMA, k=k))
        # merge_labels -> labels of iteration k + 1
        nxt = paths.fill(paths.LABELS, k=k + 1)
        merge_labels(labels, [str(wd / merged)], k, self.settings.preset, wd / nxt)
        self.job(nxt)
        # checkpoint loop_decide
        d = decide(read_labels(wd / nxt), k, len(sel), self.settings, tls_threshold(cfg))
        if d["stop"]:
            raise SystemExit(f"fabricated iteration {k} decided to stop ({d['reason']}); raise --max-iter")
        write_decision(wd / it / "decision.json", d)
        self.job(f"{it}/decision.json")
        self.iterations += 1

    def neb_table(self, rows: pd.DataFrame) -> pd.DataFrame:
        """A DW table (tlsfinder.neb's columns) for the selected rows: one "input" row per pair."""
        n = len(rows)
        status = self.rng.choice(np.array(["dw", "non_dw", "split", "unconverged"]), n, p=[0.4, 0.4, 0.15, 0.05])
        split = 10.0 ** self.rng.uniform(-4, -1, n)
        glass = rows["glass"].astype(str).to_numpy()
        i, j = rows["i"].to_numpy(np.int64), rows["j"].to_numpy(np.int64)
        df = pd.DataFrame({
            "glass": glass, "i": i, "j": j,
            "pair_id": [f"{g}/{a}-{b}" for g, a, b in zip(glass, i, j)],
            "parent": "", "origin": "input", "status": status,
            "neb_converged": status != "unconverged",
            "neb_steps": self.rng.integers(100, 3000, n), "force_calls": self.rng.integers(3000, 90000, n),
            "fmax": self.rng.uniform(1e-4, 1e-2, n), "n_images": 32,
            "e_A": self.rng.normal(-7.0, 0.01, n), "e_B": self.rng.normal(-7.0, 0.01, n),
            "d": self.rng.uniform(0.2, 1.5, n), "PR": self.rng.uniform(5, 50, n),
            "neb_wall_s": self.rng.uniform(10, 200, n),
            f"E_{self.settings.preset}": np.where(status == "dw", split, np.nan),
        })
        for col in ("glass", "pair_id", "parent", "origin", "status"):
            df[col] = df[col].astype("string")
        return df


def snakemake_cmd(wd: Path, *extra: str) -> list[str]:
    return [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(wd), "--cores", "1", *extra]


def dry_run(wd: Path) -> tuple[float, float, dict[str, int], str]:
    """(wall time, CPU time (user + system) of the snakemake process, job stats, output)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(snakemake_cmd(wd, "-n"), capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    out = res.stdout + res.stderr
    if res.returncode != 0:
        raise SystemExit(f"dry run failed in {wd}:\n{out[-4000:]}")
    return dt, cpu, job_stats(out), out


def job_stats(out: str) -> dict[str, int]:
    """The dry run's "Job stats" table: rule -> count (the last table printed)."""
    blocks = out.split("Job stats:")
    if len(blocks) < 2:
        return {}
    stats = {}
    for line in blocks[-1].splitlines()[3:]:
        m = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not m:
            break
        stats[m.group(1)] = int(m.group(2))
    return stats


def check_plan(stats: dict[str, int], k: int) -> None:
    """Only iteration k's jobs and the report may be planned (otherwise a fabricated file looks outdated)."""
    allowed = {"ml_rank", "ml_select", "merge_labels", "loop_decide", "report", "all", "total"}
    if k >= 1:
        allowed.add("ml_train")
    extra = {r: c for r, c in stats.items() if r not in allowed or (r not in ("total",) and c > 1)}
    if extra:
        raise SystemExit(f"k = {k}: the dry run plans more than iteration {k}: {stats}")


def profile_in_process(wd: Path, top: int = 30) -> None:
    import cProfile
    import io
    import pstats

    from snakemake.cli import main as sm_main

    prof = cProfile.Profile()
    cwd = os.getcwd()
    try:
        prof.enable()
        try:
            sm_main(snakemake_cmd(wd, "-n", "--quiet")[1:])
        except SystemExit:
            pass
        prof.disable()
    finally:
        os.chdir(cwd)
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(top)
    print(s.getvalue())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, nargs="+", default=[1, 5, 10, 20, 30])
    ap.add_argument("--select", type=int, default=None, help="ml.k, pairs selected per iteration (demo's)")
    ap.add_argument("--batch-size", type=int, default=None, help="loop.batch_size (demo's)")
    ap.add_argument("--repeat", type=int, default=2, help="dry runs per k (the best is kept)")
    ap.add_argument("--profile", type=int, default=None, metavar="K", help="cProfile the dry run at K iterations")
    ap.add_argument("--keep", type=Path, default=None, help="build the scratch folder here and keep it")
    args = ap.parse_args(argv)

    demo = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    select = args.select or demo["ml"]["k"]
    batch_size = args.batch_size or demo["loop"]["batch_size"]
    ks = sorted(set(args.iterations) | {0})
    cfg = bench_config(max(ks) + 10, select, batch_size)

    tmp = None
    if args.keep:
        wd = args.keep.resolve()
        if wd.exists():
            shutil.rmtree(wd)
        wd.mkdir(parents=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tlsfinder-dag-")
        wd = Path(tmp.name)
    try:
        (wd / "config").mkdir()
        (wd / "config" / "config.yaml").write_text(yaml.safe_dump(cfg))
        fab = Fabricator(wd, cfg)
        fab.upstream(n_pairs_per_glass=max(2000, 2 * select * (max(ks) + 1)))
        print(f"scratch workflow in {wd}: {len(glasses(cfg))} glasses, ml.k = {select}, loop.batch_size = "
              f"{batch_size} ({n_batches(select, batch_size)} NEB jobs per iteration), loop.max_iter = "
              f"{cfg['loop']['max_iter']}; snakemake -n --cores 1, best of {args.repeat}")
        rows = []
        for k in ks:
            t_fab = time.perf_counter()
            while fab.iterations < k:
                fab.iteration()
            t_fab = time.perf_counter() - t_fab
            walls, cpus = [], []
            for _ in range(args.repeat):
                wall, cpu, stats, _out = dry_run(wd)
                walls.append(wall)
                cpus.append(cpu)
            check_plan(stats, k)
            rows.append({"k": k, "done": fab.n_done_jobs, "planned": stats.get("total", 0), "wall": min(walls),
                         "cpu": min(cpus), "t_fab": t_fab})
            if args.profile == k:
                print(f"--- cProfile of the dry run at k = {k} ---")
                profile_in_process(wd)

        print()
        print(f"{'iterations':>10} {'jobs in DAG':>11} {'planned':>7} {'wall [s]':>9} {'CPU [s]':>8} "
              f"{'CPU/iter [s]':>12} {'marginal CPU [s/iter]':>21}")
        prev = None
        for r in rows:
            per = f"{r['cpu'] / r['k']:.3f}" if r["k"] else "-"
            marg = f"{(r['cpu'] - prev['cpu']) / (r['k'] - prev['k']):.4f}" if prev else "-"
            print(f"{r['k']:>10} {r['done'] + r['planned']:>11} {r['planned']:>7} {r['wall']:>9.2f} {r['cpu']:>8.2f} "
                  f"{per:>12} {marg:>21}")
            prev = r
        lo, hi, ref = (rows[1] if len(rows) > 1 else rows[0]), rows[-1], rows[0]
        if lo is not hi:
            print(f"\nt({hi['k']}) / t({lo['k']}): wall {hi['wall'] / lo['wall']:.2f}, CPU {hi['cpu'] / lo['cpu']:.2f}"
                  f"   (reference k = 0, start-up and upstream jobs only: wall {ref['wall']:.2f} s, CPU {ref['cpu']:.2f} s)")
        # Fit only where the k-dependent part stands well out of the noise (~0.1 s between repeats).
        fit = [r for r in rows if r["k"] >= 5 and r["cpu"] - ref["cpu"] > max(0.5, 0.2 * ref["cpu"])]
        if len(fit) >= 2:
            a = np.polyfit(np.log([r["k"] for r in fit]), np.log([r["cpu"] - ref["cpu"] for r in fit]), 1)[0]
            kind = "linear (or better)" if a < 1.25 else "superlinear"
            print(f"k-dependent CPU time, CPU(k) - CPU(0) ~ k^{a:.2f} over k = {fit[0]['k']}..{fit[-1]['k']}: {kind}")
        else:
            print(f"k-dependent CPU time too small to fit an exponent (CPU({hi['k']}) - CPU(0) = "
                  f"{hi['cpu'] - ref['cpu']:.2f} s); try more iterations or --select 200 --batch-size 10")
        if hi["wall"] > 30:
            print(f"WARNING: the dry run at {hi['k']} iterations took {hi['wall']:.1f} s wall (> 30 s)")
        print("(wall time depends on the machine's load; CPU time is the snakemake process's user + system time)")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
