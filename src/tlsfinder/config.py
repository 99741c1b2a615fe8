"""Load and validate the workflow configuration against its JSON schema.

The schema (``schemas/config.schema.json``) is the one list of keys; defaults
are filled in from it.  Errors name the key path and the offending value, and
are raised before any job starts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import TLSFinderError
from .explore import ExploreSettings
from .io import write_json
from .models import model_from_config
from .paths import tf_label
from .schema import fill_defaults, lookup_default, schema, schema_path

__all__ = ["validate_config", "load_config", "n_glasses", "glasses", "tf_labels", "model_n", "ml_inputs",
           "check_results_config", "record_results_config", "schema", "schema_path", "MIXABLE_KEYS"]


def _key_path(err: jsonschema.ValidationError) -> str:
    parts = []
    for p in err.absolute_path:
        parts.append(f"[{p}]" if isinstance(p, int) else (f".{p}" if parts else str(p)))
    return "".join(parts) or "<top level>"


def _describe(err: jsonschema.ValidationError) -> str:
    key = _key_path(err)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        return f"unknown key(s) {extra} in '{key}'; allowed: {allowed}"
    if err.validator == "required":
        return f"'{key}': {err.message}"
    return f"key '{key}' = {err.instance!r}: {err.message}"


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated copy of ``config`` with defaults filled in; raise TLSFinderError otherwise."""
    if not isinstance(config, dict):
        raise TLSFinderError(f"{source}: the configuration must be a mapping of keys, got {type(config).__name__}")
    sch = schema()
    errors = sorted(jsonschema.Draft202012Validator(sch).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise TLSFinderError(f"{source}: invalid configuration:\n  {lines}")
    cfg = copy.deepcopy(config)
    fill_defaults(cfg, sch)
    # Checks the schema cannot express (composition, box size, per-T_f lists, tau_cg vs dt).
    try:
        model_from_config(cfg["model"])
        n_glasses(cfg)
        ExploreSettings.from_config(cfg.get("explore", {}))
    except TLSFinderError as exc:
        raise TLSFinderError(f"{source}: {exc}") from None
    return cfg


def n_glasses(config: dict) -> list[int]:
    """N_g for each T_f (``prepare.n_glasses`` is one number or one per temperature)."""
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


def tf_labels(config: dict) -> list[str]:
    """The T_f labels of the config, in its order."""
    return [tf_label(tf) for tf in config["prepare"]["temperatures"]]


def model_n(config: dict) -> int:
    """The number of particles N of the config's model (the model's own default if not set)."""
    return model_from_config(config["model"]).n


def ml_inputs(config: dict) -> dict[str, str]:
    """Files the user gives iteration 0: ``model`` (ml.pretrained_model), ``labels`` (ml.initial_labels)."""
    ml = config.get("ml") or {}
    named = {"model": ml.get("pretrained_model"), "labels": ml.get("initial_labels")}
    return {k: v for k, v in named.items() if v}


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TLSFinderError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise TLSFinderError(f"{path}: not valid YAML ({exc})") from None
    return validate_config(raw, str(path))


# Keys that may change between runs into the same results folder without invalidating what is
# there: how long the loop runs, and how jobs run.  Every other key shapes the science.
MIXABLE_KEYS = {"container", "loop.max_iter", "loop.min_yield", "loop.patience", "explore.checkpoint_seconds"}


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def check_results_config(config: dict, record: str | Path) -> None:
    """Refuse to mix a results folder made with another config; name the differing keys.

    ``record`` holds the validated config that made the folder (:func:`record_results_config`).
    Keys in :data:`MIXABLE_KEYS` may differ.  A key the record lacks (added to the schema after the
    folder was made) counts as different only if the current value is not the key's schema default:
    results made before the key existed are results of its default.
    """
    record = Path(record)
    if not record.exists():
        return
    try:
        old = json.loads(record.read_text())
    except (OSError, ValueError) as exc:
        raise TLSFinderError(f"{record}: unreadable record of the config that made these results ({exc})") from None
    a, b = _flatten(old), _flatten(json.loads(json.dumps(config)))
    unset = object()

    def differs(k: str) -> bool:
        if k in MIXABLE_KEYS or a.get(k) == b.get(k):
            return False
        return k in a or k not in b or b[k] != lookup_default(k, unset)

    diff = sorted(k for k in set(a) | set(b) if differs(k))
    if diff:
        shown = ", ".join(f"{k}: {repr(a[k]) if k in a else 'not recorded'} -> {repr(b[k]) if k in b else 'not set'}"
                          for k in diff[:8])
        raise TLSFinderError(
            f"{record.parent}/ holds results of a different config ({shown}{', ...' if len(diff) > 8 else ''}). "
            f"Use another results folder (--directory), or remove {record.parent}/ to start over."
        )


def record_results_config(config: dict, record: str | Path) -> None:
    """Keep the validated config that made a results folder, for :func:`check_results_config`."""
    write_json(record, config)
