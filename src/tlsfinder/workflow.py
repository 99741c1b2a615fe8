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
