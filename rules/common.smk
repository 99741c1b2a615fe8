# Shared set-up: config validation (before any job starts), the glass list, the container.

import os

from tlsfinder import TLSFinderError
from tlsfinder.config import check_results_config, record_results_config, schema_path, validate_config
from tlsfinder.workflow import glasses, tf_label

try:
    config.update(validate_config(config, "config"))
except TLSFinderError as exc:
    raise WorkflowError(str(exc)) from None
validate(config, str(schema_path()))
RUN_RECORD = "results/run_config.json"
try:
    check_results_config(config, RUN_RECORD)
except TLSFinderError as exc:
    raise WorkflowError(str(exc)) from None


CONTAINER = config["container"]
# envs/tlsfinder.yaml installs the package from here (conda copies the env file elsewhere).
os.environ.setdefault("TLSFINDER_ROOT", workflow.basedir)
GLASSES = glasses(config)
TFS = [tf_label(t) for t in config["prepare"]["temperatures"]]
