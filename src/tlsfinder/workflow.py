"""Glue between Snakemake and the package: one place for what every rule needs.

* :func:`glasses` - the (T_f, index) list of a config, spelled one way.
* :func:`script_logging` - send a job's progress to its ``log:`` file.
* :func:`run_script` - run a step, turning TLSFinderError into a one-line error in the log.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager


def tf_label(tf: float) -> str:
    """T_f as it appears in paths (``0.617`` -> ``"0.617"``)."""
    return f"{float(tf):g}"


def n_glasses(config: dict) -> list[int]:
    """N_g for each T_f (``prepare.n_glasses`` is one number or one per temperature)."""
    from . import TLSFinderError

    prep = config["prepare"]
    ng = prep["n_glasses"]
    ng = [int(ng)] * len(prep["temperatures"]) if isinstance(ng, int) else [int(x) for x in ng]
    if len(ng) != len(prep["temperatures"]):
        raise TLSFinderError(f"prepare.n_glasses has {len(ng)} entries but prepare.temperatures has "
                             f"{len(prep['temperatures'])}")
    return ng


def glasses(config: dict) -> list[tuple[str, int]]:
    """All (T_f label, glass index) pairs of the config."""
    return [(tf_label(tf), g) for tf, ng in zip(config["prepare"]["temperatures"], n_glasses(config))
            for g in range(ng)]


@contextmanager
def script_logging(log_path: str | None):
    """Log INFO and above to ``log_path`` (and stderr); flush on exit."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    for h in handlers:
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    try:
        yield logging.getLogger("tlsfinder.workflow")
    finally:
        for h in handlers:
            h.flush()
            root.removeHandler(h)


def run_script(snakemake, func) -> None:
    """Run ``func(snakemake, logger)`` with logging to the rule's log; user errors exit cleanly."""
    from . import TLSFinderError
    from .config import validate_config

    log_path = snakemake.log[0] if len(snakemake.log) else None
    with script_logging(log_path) as logger:
        try:
            config = validate_config(dict(snakemake.config))
            func(snakemake, config, logger)
        except TLSFinderError as exc:
            logger.error("%s", exc)
            sys.exit(1)


# ---------------------------------------------------------------------------
# The loop's input functions.  ``checkpoints`` is Snakemake's checkpoints object;
# the iterations are walked with a plain loop (no recursion), so rebuilding the DAG
# after a checkpoint stays cheap however many iterations have run.
# ---------------------------------------------------------------------------


def loop_n_batches(checkpoints, config: dict, k: int) -> int:
    """Number of NEB jobs of iteration k (known once its selection exists)."""
    import pandas as pd

    from .loop import LoopSettings, n_batches

    selected = checkpoints.ml_select.get(k=k).output.selected
    return n_batches(len(pd.read_parquet(selected, columns=["i"])), LoopSettings.from_config(config).batch_size)


def neb_batches(checkpoints, config: dict, k: int) -> list[str]:
    """NEB batch tables of iteration k."""
    return [f"results/loop/iter{k}/neb/batch{b}.parquet" for b in range(loop_n_batches(checkpoints, config, k))]


def previous_labels(config: dict, k: int) -> list[str]:
    """Labels iteration k started from (none, or ml.initial_labels, at k = 0)."""
    from .ml import loop_inputs

    labels = loop_inputs(config, k).get("labels")
    return [labels] if labels else []


def final_iteration(checkpoints) -> int:
    """Last iteration that runs: walk the decisions until one says stop."""
    from .loop import read_decision

    k = 0
    while not read_decision(checkpoints.loop_decide.get(k=k).output.decision)["stop"]:
        k += 1
    return k


def loop_outputs(checkpoints, config: dict) -> dict[str, list[str]]:
    """Everything the finished loop produced."""
    last = final_iteration(checkpoints)
    iters = range(last + 1)
    return {
        "labels": [f"results/loop/iter{last + 1}/labels.parquet"],
        "decisions": [f"results/loop/iter{k}/decision.json" for k in iters],
        "rankings": [f"results/loop/iter{k}/ranking.parquet" for k in iters],
        "selected": [f"results/loop/iter{k}/selected.parquet" for k in iters],
        "yields": [f"results/loop/iter{k}/yield.parquet" for k in iters],
        "neb": [f for k in iters for f in neb_batches(checkpoints, config, k)],
    }


def report_inputs(checkpoints, config: dict) -> dict[str, list[str]]:
    """Inputs of rule report (keys: tlsfinder.report.REPORT_INPUT_KEYS)."""
    lo = loop_outputs(checkpoints, config)
    last = len(lo["decisions"]) - 1
    tfs = [tf_label(t) for t in config["prepare"]["temperatures"]]
    gl = glasses(config)
    return {
        "neb": lo["neb"],
        "glasses": [f"results/explore/T{tf}/glasses.parquet" for tf in tfs],
        "n_is": [f"results/explore/T{tf}/n_is.parquet" for tf in tfs],
        "persistence": [f"results/explore/T{tf}/persistence.parquet" for tf in tfs],
        "timeseries": [f"results/explore/T{tf}/g{g}/timeseries.parquet" for tf, g in gl],
        "libraries": [f"results/explore/T{tf}/g{g}/is_library.h5" for tf, g in gl],
        "ranking": lo["rankings"],
        "labels": [f"results/loop/iter{k}/labels.parquet" for k in range(1, last + 2)],
        "yields": lo["yields"],
    }
