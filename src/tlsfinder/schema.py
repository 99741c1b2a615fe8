"""The configuration schema and its defaults: the one place every default is written.

``schemas/config.schema.json`` lists every config key with its default.  Settings dataclasses,
commands and the ML step read their defaults from here instead of repeating the numbers.  This
module imports nothing else from the package, so any module may import it without an import circle.
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


@functools.cache
def _schema() -> dict[str, Any]:
    return json.loads(resources.files("tlsfinder").joinpath(_RESOURCE).read_text())


def schema() -> dict[str, Any]:
    """The configuration schema (a fresh copy the caller may change)."""
    return copy.deepcopy(_schema())


def schema_path() -> Path:
    return Path(str(resources.files("tlsfinder").joinpath(_RESOURCE)))


def fill_defaults(instance: dict, sch: dict) -> None:
    """Fill, in place, the defaults of ``sch``'s properties missing from ``instance``, recursing into objects."""
    for key, sub in sch.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            fill_defaults(instance[key], sub)


def _node(dotted: str) -> dict:
    node = _schema()
    for part in dotted.split("."):
        node = node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            raise TLSFinderError(f"'{dotted}' is not a key of the configuration schema")
    return node


def defaults(section: str) -> dict[str, Any]:
    """Defaults of config section ``section`` (e.g. ``"neb"``), as a validated config gets them.

    The section's own default (usually ``{}``) filled with its properties' defaults, nested
    objects included.  Keys without a default (e.g. ``model.n``) are absent.
    """
    node = _node(section)
    if node.get("type") != "object":
        raise TLSFinderError(f"'{section}' is not a section (object) of the configuration schema")
    out = copy.deepcopy(node["default"]) if isinstance(node.get("default"), dict) else {}
    fill_defaults(out, node)
    return out


_NO_DEFAULT = object()


def lookup_default(dotted: str, missing: Any = _NO_DEFAULT) -> Any:
    """Default of the dotted key, or ``missing`` if it has none.

    As :func:`fill_defaults` applies them: the shallowest default that reaches the key wins (an
    object's own default, then its properties').
    """
    parts = dotted.split(".")
    node = _schema()
    for n, part in enumerate(parts):
        node = node.get("properties", {}).get(part)
        if not isinstance(node, dict):
            return missing
        if "default" in node:
            value = node["default"]
            for rest in parts[n + 1:]:
                if not (isinstance(value, dict) and rest in value):
                    break
                value = value[rest]
            else:
                return copy.deepcopy(value)
    return missing


def default(dotted: str) -> Any:
    """Default of one config key, e.g. ``default("neb.fmax")``; TLSFinderError if it has none."""
    value = lookup_default(dotted)
    if value is _NO_DEFAULT:
        _node(dotted)  # names an unknown key
        raise TLSFinderError(f"config key '{dotted}' has no default in the schema")
    return value


def enum(dotted: str) -> tuple:
    """The allowed values of one config key, e.g. ``enum("ml.order")``; TLSFinderError if it has no enum."""
    node = _node(dotted)
    if "enum" not in node:
        raise TLSFinderError(f"config key '{dotted}' has no enum in the schema")
    return tuple(node["enum"])
