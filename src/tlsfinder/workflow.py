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


def glasses(config: dict) -> list[tuple[str, int]]:
    """All (T_f label, glass index) pairs of the config."""
    prep = config["prepare"]
    return [(tf_label(tf), g) for tf in prep["temperatures"] for g in range(int(prep["n_glasses"]))]


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
