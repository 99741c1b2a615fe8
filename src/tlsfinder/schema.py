"""The configuration schema and its defaults: the one place every default is written.

``schemas/config.schema.json`` lists every config key with its default.  Settings dataclasses,
commands and the ML step read their defaults from here instead of repeating the numbers.  This
module imports nothing else from the package, so any module may import it without an import circle.

Per-model defaults.  A key whose physics depends on the glass model carries, beside (or instead
of) its ``default``, the annotation ``"x-model-defaults": {"PSS": value, ...}``: the default for a
config whose ``model.name`` is listed there.  Every function below takes ``model`` (a model name);
without it, or for a model not listed, the plain ``default`` applies.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

from . import TLSFinderError

_RESOURCE = "schemas/config.schema.json"

#: Schema annotation holding the per-model defaults of a key (``{model name: default}``).
MODEL_DEFAULTS = "x-model-defaults"


@functools.cache
def _schema() -> dict[str, Any]:
    return json.loads(resources.files("tlsfinder").joinpath(_RESOURCE).read_text())


def schema() -> dict[str, Any]:
    """The configuration schema (a fresh copy the caller may change)."""
    return copy.deepcopy(_schema())


def schema_path() -> Path:
    return Path(str(resources.files("tlsfinder").joinpath(_RESOURCE)))


_NO_DEFAULT = object()


def _node_default(node: dict, model: str | None) -> Any:
    """Default of one schema node for ``model`` (its per-model default, else its default), or _NO_DEFAULT."""
    per_model = node.get(MODEL_DEFAULTS) or {}
    if model is not None and model in per_model:
        return copy.deepcopy(per_model[model])
    return copy.deepcopy(node["default"]) if "default" in node else _NO_DEFAULT


def fill_defaults(instance: dict, sch: dict, model: str | None = None, applied: dict | None = None,
                  prefix: str = "") -> None:
    """Fill, in place, the defaults of ``sch``'s properties missing from ``instance``, recursing into objects.

    ``model``: the model name whose per-model defaults apply.  ``applied``: if given, receives
    ``{dotted key: value}`` of every per-model default that was filled in (for the log and record).
    """
    for key, sub in sch.get("properties", {}).items():
        if key not in instance:
            value = _node_default(sub, model)
            if value is not _NO_DEFAULT:
                instance[key] = value
                if applied is not None and model in (sub.get(MODEL_DEFAULTS) or {}):
                    applied[prefix + key] = value
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            fill_defaults(instance[key], sub, model, applied, f"{prefix}{key}.")


def _node(dotted: str) -> dict:
    node = _schema()
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            raise TLSFinderError(f"'{dotted}' is not a key of the configuration schema")
    return node


def defaults(section: str, model: str | None = None) -> dict[str, Any]:
    """Defaults of config section ``section`` (e.g. ``"neb"``), as a validated config of ``model`` gets them.

    The section's own default (usually ``{}``) filled with its properties' defaults, nested
    objects included.  Keys without a default (e.g. ``model.n`` without a model) are absent.
    """
    node = _node(section)
    if node.get("type") != "object":
        raise TLSFinderError(f"'{section}' is not a section (object) of the configuration schema")
    out = copy.deepcopy(node["default"]) if isinstance(node.get("default"), dict) else {}
    fill_defaults(out, node, model)
    return out


def lookup_default(dotted: str, missing: Any = _NO_DEFAULT, model: str | None = None) -> Any:
    """Default of the dotted key for ``model``, or ``missing`` if it has none.

    As :func:`fill_defaults` applies them: the shallowest default that reaches the key wins (an
    object's own default, then its properties').
    """
    parts = dotted.split(".")
    node = _schema()
    for n, part in enumerate(parts):
        node = node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            return missing
        value = _node_default(node, model)
        if value is not _NO_DEFAULT:
            for rest in parts[n + 1:]:
                if not (isinstance(value, dict) and rest in value):
                    break
                value = value[rest]
            else:
                return value
    return missing


def default(dotted: str, model: str | None = None) -> Any:
    """Default of one config key, e.g. ``default("neb.fmax")`` or ``default("explore.temperature", "PSS")``.

    TLSFinderError if it has none (for that model).
    """
    value = lookup_default(dotted, model=model)
    if value is _NO_DEFAULT:
        _node(dotted)  # names an unknown key
        raise TLSFinderError(f"config key '{dotted}' has no default in the schema"
                             + (f" for model {model}" if model else ""))
    return value


def model_defaults(model: str) -> dict[str, Any]:
    """``{dotted key: value}`` of every per-model default of ``model`` (keys with x-model-defaults)."""
    out: dict[str, Any] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, sub in node.get("properties", {}).items():
            if model in (sub.get(MODEL_DEFAULTS) or {}):
                out[prefix + key] = copy.deepcopy(sub[MODEL_DEFAULTS][model])
            walk(sub, f"{prefix}{key}.")

    walk(_schema(), "")
    return out


def enum(dotted: str) -> tuple:
    """The allowed values of one config key, e.g. ``enum("ml.order")``; TLSFinderError if it has no enum."""
    node = _node(dotted)
    if "enum" not in node:
        raise TLSFinderError(f"config key '{dotted}' has no enum in the schema")
    return tuple(node["enum"])
