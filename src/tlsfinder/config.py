"""Load and validate the workflow configuration against its JSON schema.

The schema (``schemas/config.schema.json``) is the one list of keys; defaults
are filled in from it.  Errors name the key path and the offending value, and
are raised before any job starts.
"""

from __future__ import annotations

import copy
import json
import logging
import math
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
from .units import get_preset

__all__ = ["validate_config", "load_config", "n_glasses", "glasses", "tf_labels", "model_n", "ml_inputs",
           "check_ml_inputs", "check_results_config", "record_results_config", "schema", "schema_path",
           "MIXABLE_KEYS", "OPTIONAL_SECTIONS"]

log = logging.getLogger(__name__)


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


def _drop_removed_threshold(config: dict, source: str) -> dict:
    """Accept ``ml.tls_splitting_max`` only when it equals loop.preset's k_B T_Q; drop it.

    The TLS threshold of selection, stopping rule and report is the preset's k_B T_Q
    (tlsfinder.loop.tls_threshold); a second number that could disagree is refused.
    """
    ml = config.get("ml")
    if not isinstance(ml, dict) or "tls_splitting_max" not in ml:
        return config
    model = (config.get("model") or {}).get("name")
    preset = (config.get("loop") or {}).get("preset", lookup_default("loop.preset"))
    value = ml["tls_splitting_max"]
    try:
        kt_q = get_preset(model, preset).kT_Q
    except TLSFinderError:
        kt_q = None  # unknown model or preset: the schema check below names it
    if kt_q is None or not isinstance(value, (int, float)) or not math.isclose(value, kt_q, rel_tol=1e-9):
        raise TLSFinderError(
            f"{source}: ml.tls_splitting_max = {value!r} is no longer a config key: the TLS threshold of the "
            f"ranking, the stopping rule and the report is loop.preset's k_B T_Q"
            + (f" ({model} {preset}: {kt_q:g} eps)" if kt_q is not None else "")
            + ". Remove ml.tls_splitting_max, and choose the threshold with loop.preset (or a custom preset "
              "in units.presets)")
    log.warning("%s: ml.tls_splitting_max = %g is loop.preset %s's k_B T_Q, the TLS threshold; the key is no "
                "longer needed (remove it)", source, value, preset)
    config = copy.deepcopy(config)
    del config["ml"]["tls_splitting_max"]
    return config


def validate_config(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Return a validated copy of ``config`` with defaults filled in; raise TLSFinderError otherwise.

    Keys with per-model defaults (``x-model-defaults`` in the schema: exploration temperature,
    time step, thermostat, N, density) get those of ``model.name``; each one applied is logged.
    ``ml.tls_splitting_max`` (removed) is accepted only equal to loop.preset's k_B T_Q, and dropped.
    A pretrained model or initial labels of another model or preset are refused (:func:`check_ml_inputs`).
    """
    if not isinstance(config, dict):
        raise TLSFinderError(f"{source}: the configuration must be a mapping of keys, got {type(config).__name__}")
    config = _drop_removed_threshold(config, source)
    sch = schema()
    errors = sorted(jsonschema.Draft202012Validator(sch).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise TLSFinderError(f"{source}: invalid configuration:\n  {lines}")
    cfg = copy.deepcopy(config)
    model = cfg["model"]["name"]
    applied: dict[str, Any] = {}
    fill_defaults(cfg, sch, model, applied)
    if any(not k.startswith("model.") for k in applied):
        log.info("%s: %s defaults for %s", source, model,
                 ", ".join(f"{k} = {v!r}" for k, v in applied.items() if not k.startswith("model.")))
    # Checks the schema cannot express (composition, box size, per-T_f lists, tau_cg vs dt).
    try:
        model_from_config(cfg["model"])
        n_glasses(cfg)
        ExploreSettings.from_config(cfg.get("explore", {}), model=model)
        check_ml_inputs(cfg)
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
    """Files the user gives iteration 0: ``model`` (ml.pretrained_model; ``builtin:NAME`` is the model
    folder shipped with the package, e.g. builtin:pss-T0.07), ``labels`` (ml.initial_labels)."""
    from .ml import resolve_model_path

    ml = config.get("ml") or {}
    model = ml.get("pretrained_model")
    named = {"model": str(resolve_model_path(model)) if model else None, "labels": ml.get("initial_labels")}
    return {k: v for k, v in named.items() if v}


def check_ml_inputs(config: dict) -> None:
    """Refuse ml.pretrained_model / ml.initial_labels made for another model or preset (naming both).

    Files not there yet are left to the workflow (it names missing inputs); files without a
    record of their model and preset are accepted (written before the record existed).
    """
    from .ml import check_labels_provenance, check_model_provenance, warn_tf_range

    model, preset = config["model"]["name"], (config.get("loop") or {}).get("preset", lookup_default("loop.preset"))
    inputs = ml_inputs(config)
    if "model" in inputs and Path(inputs["model"], "model.json").exists():
        check_model_provenance(inputs["model"], model, preset)
        warn_tf_range(inputs["model"], (config.get("prepare") or {}).get("temperatures", []))
    if "labels" in inputs and Path(inputs["labels"]).is_file():
        check_labels_provenance(inputs["labels"], model, preset)


def read_optional_config(path: str | Path | None) -> dict[str, Any]:
    """The YAML of a command's ``--config`` as it is (no schema, no defaults: the commands take
    single sections from it), or {} without one."""
    if not path:
        return {}
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TLSFinderError(f"{path}: cannot read config ({exc})")


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
#: The optional sections (modes, moduli, coupling; tlsfinder.modes_stage).  Their jobs carry their
#: section as params, so Snakemake reruns them when it changes, and they feed nothing upstream:
#: switching them on in an existing results folder mixes nothing.
OPTIONAL_SECTIONS = ("modes", "elastic", "coupling")


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
    results made before the key existed are results of its default (``ml.transition_count`` aside:
    pair features counted every change of the time series before it existed).
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
    model = (config.get("model") or {}).get("name")
    # A removed threshold recorded by an older version is the same science if it equals the preset's.
    from .loop import tls_threshold  # here: the loop imports the ML stage, which config need not load

    if model and "ml.tls_splitting_max" in a and math.isclose(a["ml.tls_splitting_max"], tls_threshold(config)):
        del a["ml.tls_splitting_max"]
    # Pair features counted every change of the time series before ml.transition_count existed.
    if "ml.delta_e_max" in a:
        a.setdefault("ml.transition_count", "every_change")

    def differs(k: str) -> bool:
        if k in MIXABLE_KEYS or k.split(".")[0] in OPTIONAL_SECTIONS or a.get(k) == b.get(k):
            return False
        return k in a or k not in b or b[k] != lookup_default(k, unset, model=model)

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
