"""Glue between Snakemake and the package: job logging and the loop's input functions.

Rules (``rules/*.smk``) stay thin: paths come from :mod:`tlsfinder.paths`, the science
from the package, and each job's settings from its rule's ``params:`` (so Snakemake
sees which config keys a job depends on and the config is validated once, when the
workflow loads).

The loop's input functions walk the iterations with a plain loop (no recursion), so
rebuilding the DAG after a checkpoint stays cheap however many iterations have run.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager

import pandas as pd

from . import TLSFinderError, paths
from .config import glasses, ml_inputs, tf_labels
from .loop import LoopSettings, n_batches, read_decision


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
    """Run ``func(snakemake, settings, logger)`` with logging to the rule's log; user errors exit cleanly.

    ``settings`` is the rule's ``params:`` as a dict: the config sections and keys the rule
    declared (already validated and filled with defaults when the workflow loaded).
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    with script_logging(log_path) as logger:
        try:
            func(snakemake, dict(snakemake.params.items()), logger)
        except TLSFinderError as exc:
            logger.error("%s", exc)
            sys.exit(1)


def input_list(snakemake, name: str) -> list[str]:
    """Named input ``name`` as a list of paths.

    Snakemake hands a named input of one file to the script as a plain string, so
    ``list(snakemake.input.x)`` would split a single path into characters.
    """
    if name not in snakemake.input.keys():
        return []
    value = snakemake.input[name]
    return [value] if isinstance(value, str) else list(value)


# ---------------------------------------------------------------------------
# The loop.  ``checkpoints`` is Snakemake's checkpoints object.
#
# Order matters on a fresh invocation after a kill: Snakemake re-evaluates the inputs of a job
# only when a checkpoint that job itself asked for is known to be complete.  A job created while
# another one is being re-evaluated (merge_labels of iteration k + 1, created when the report asks
# for decision k) is not revisited for checkpoints it asks for in turn.  So every walker below
# asks for iteration k's selection *before* its decision: by the time merge_labels(k + 1) is
# created, the selection of iteration k is already known and its batches resolve to real files
# instead of a pending placeholder.
# ---------------------------------------------------------------------------


def loop_n_batches(checkpoints, config: dict, k: int) -> int:
    """Number of NEB jobs of iteration k (known once its selection exists)."""
    selected = checkpoints.ml_select.get(k=k).output.selected
    return n_batches(len(pd.read_parquet(selected, columns=["i"])), LoopSettings.from_config(config).batch_size)


def neb_batches(checkpoints, config: dict, k: int, template: str = paths.NEB_TABLE) -> list[str]:
    """NEB batch tables of iteration k (or another per-batch file: ``template``)."""
    return [paths.fill(template, k=k, b=b) for b in range(loop_n_batches(checkpoints, config, k))]


def previous_neb_minima(k: int) -> list[str]:
    """The NEB minima found before iteration k (none at k = 0)."""
    return [paths.fill(paths.NEB_MINIMA, k=int(k) - 1)] if int(k) > 0 else []


def loop_inputs(config: dict, k: int) -> dict[str, str]:
    """Model and labels iteration k starts from (absent keys: none).

    k = 0: the pretrained model (``ml.pretrained_model``) and initial labels
    (``ml.initial_labels``) if the config names them; without a model the ranking is
    the heuristic.  k >= 1: the model trained in iteration k on the labels gathered
    by iterations < k.
    """
    k = int(k)
    if k == 0:
        return ml_inputs(config)
    return {"model": paths.fill(paths.MODEL, k=k), "labels": paths.fill(paths.LABELS, k=k)}


def previous_labels(config: dict, k: int) -> list[str]:
    """Labels iteration k started from (none, or ml.initial_labels, at k = 0)."""
    labels = loop_inputs(config, k).get("labels")
    return [labels] if labels else []


def walk_iterations(checkpoints, config: dict) -> int:
    """The number of iterations that run, walking the decisions until one says stop (each selection
    asked for before its decision, see above)."""
    k = 0
    while True:
        loop_n_batches(checkpoints, config, k)
        if read_decision(checkpoints.loop_decide.get(k=k).output.decision)["stop"]:
            return k + 1
        k += 1


def loop_outputs(checkpoints, config: dict) -> dict[str, list[str]]:
    """Everything the finished loop produced."""
    n_iter = walk_iterations(checkpoints, config)
    iters = range(n_iter)
    return {
        "labels": [paths.fill(paths.LABELS, k=n_iter)],
        "decisions": [paths.fill(paths.DECISION, k=k) for k in iters],
        "rankings": [paths.fill(paths.RANKING, k=k) for k in iters],
        "selected": [paths.fill(paths.SELECTED, k=k) for k in iters],
        "yields": [paths.fill(paths.YIELD, k=k) for k in iters],
        "neb": [paths.fill(paths.NEB_MERGED, k=k) for k in iters],
    }


def report_inputs(checkpoints, config: dict) -> dict[str, list[str]]:
    """Inputs of rule report (keys: tlsfinder.report.REPORT_INPUT_KEYS)."""
    lo = loop_outputs(checkpoints, config)
    last = len(lo["decisions"]) - 1
    tfs = tf_labels(config)
    gl = glasses(config)
    return {
        "neb": lo["neb"],
        "glasses": paths.per_tf(paths.GLASSES_TABLE, tfs),
        "n_is": paths.per_tf(paths.N_IS, tfs),
        "persistence": paths.per_tf(paths.PERSISTENCE, tfs),
        "timeseries": paths.per_glass(paths.TIMESERIES, gl),
        "ranking": lo["rankings"],
        "labels": [paths.fill(paths.LABELS, k=k) for k in range(1, last + 2)],
        "yields": lo["yields"],
        # catalogue columns of the modes and coupling stages, when on (tlsfinder.modes_stage)
        **{k: v for k, v in modes_report_inputs(config).items() if k in ("dw_modes", "coupling") and v},
    }


# ---------------------------------------------------------------------------
# Modes, elastic moduli and coupling (rules/modes.smk; tlsfinder.modes_stage).  Nothing here asks
# for a file of a stage that is off, so with the three sections disabled the DAG is unchanged.
# ---------------------------------------------------------------------------


def dw_stage_inputs(checkpoints, config: dict, tf: str, g) -> dict[str, list[str]]:
    """Inputs of the after-loop jobs of one glass (rules dw_modes, coupling): every iteration's merged
    NEB table and NEB path folders, the glass's IS library and the last iteration's NEB minima."""
    n_iter = walk_iterations(checkpoints, config)
    return {
        "neb": [paths.fill(paths.NEB_MERGED, k=k) for k in range(n_iter)],
        "neb_paths": [p for k in range(n_iter) for p in neb_batches(checkpoints, config, k, paths.NEB_PATHS)],
        "library": [paths.fill(paths.IS_LIBRARY, tf=tf, g=g)],
        "neb_minima": [paths.fill(paths.NEB_MINIMA, k=n_iter - 1)],
    }


def modes_report_inputs(config: dict) -> dict[str, list[str]]:
    """The per-glass and per-T_f files of the stages that are on (keys of rule report_modes and, for
    ``dw_modes`` and ``coupling``, of rule report)."""
    from .modes_stage import stages

    on = stages(config)
    gl, tfs = glasses(config), tf_labels(config)
    return {
        "modes_summary": paths.per_glass(paths.MODES_SUMMARY, gl) if on["modes"] else [],
        "dw_modes": paths.per_glass(paths.DW_MODES, gl) if on["modes"] else [],
        "elastic": paths.per_tf(paths.ELASTIC_TF, tfs) if on["elastic"] else [],
        "coupling": paths.per_glass(paths.COUPLING, gl) if on["coupling"] else [],
    }


def modes_targets(config: dict) -> list[str]:
    """What rule all asks of this stage: the report section's tables, or nothing when all three are off."""
    from .modes_stage import stages
    from .report.inputs import MODES_OUTPUT_FILES

    if not any(stages(config).values()):
        return []
    return [f"{paths.REPORT_DIR}/{name}" for name in MODES_OUTPUT_FILES.values()]
