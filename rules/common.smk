# Shared set-up: the config validated once (before any job starts), the glass list, the container.
#
# Paths come from tlsfinder.paths; each job gets the config keys it uses as `params:`, so Snakemake
# knows what a job depends on (params are a rerun trigger) and jobs need not re-read the config.

import os

from tlsfinder import TLSFinderError, paths
from tlsfinder.config import OPTIONAL_SECTIONS, check_results_config, glasses, model_n, record_results_config, tf_labels, validate_config
from tlsfinder.workflow import (loop_inputs, loop_n_batches, loop_outputs, neb_batches, previous_labels,
                                previous_neb_minima, report_inputs)

try:
    config.update(validate_config(config, "config"))
    check_results_config(config, paths.RUN_RECORD)
except TLSFinderError as exc:
    raise WorkflowError(str(exc)) from None

# envs/tlsfinder.yaml installs the package from here (conda copies the env file elsewhere).
os.environ.setdefault("TLSFINDER_ROOT", workflow.basedir)
GLASSES = glasses(config)
TFS = tf_labels(config)
N = model_n(config)  # particles per glass, for memory and time estimates


def glasses_at(tf):
    """Indices of the glasses at T_f label ``tf``."""
    return [g for t, g in GLASSES if t == tf]


def per_glass(template):
    return paths.per_glass(template, GLASSES)


def per_tf(template):
    return paths.per_tf(template, TFS)


def iteration_input(key):
    """The model or labels file iteration k starts from, if any (tlsfinder.workflow.loop_inputs)."""
    return lambda wc: {k: v for k, v in loop_inputs(config, wc.k).items() if k == key}


def report_file(name, caption=None, category=None):
    """A file of the report folder; with a caption, also part of `snakemake --report`."""
    path = f"{paths.REPORT_DIR}/{name}"
    return report(path, caption=f"../report/{caption}", category=category) if caption else path
