"""carve.toml as the lint reads it: pydantic's verdict, without pydantic when it is certain.

Importing pydantic and building the models of :mod:`migration.runtime.config` costs a
lint more than checking 500 files. :data:`SHAPE` describes those models (it is derived
from them: ``python -m migration.boundaries.lint_config`` prints it, and a test keeps
it equal). When every value in carve.toml has exactly the type and bounds the shape
gives its key (a ``str`` where the model wants one, an ``int`` within its bounds, a
name a ``Literal`` lists...), pydantic would accept the file as written, and the lint
takes ``[project]`` from it, defaults filled in from the shape. Anything else (an
unknown key, a value pydantic would coerce or refuse, a TOML error) goes to
:func:`~migration.runtime.config.load_config`: the same errors as every command.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from migration.runtime.config import CarveConfig

CONFIG_FILE = "carve.toml"  # migration.runtime.config's, not imported: it imports pydantic

# Derived from migration.runtime.config.CarveConfig by shape_of (a test compares them).
SHAPE: dict[str, Any] = {
    "project": {"type": "model", "fields": {
        "modules": {"type": "str", "default": "monolith.modules"},
        "source": {"type": "str", "default": "."},
        "shared": {"type": "list[str]", "default": ["contracts", "migration.runtime"]},
        "allowed_third_party": {"type": "list[str]", "default": []},
    }},
    "database": {"type": "model", "fields": {
        "url": {"type": "str", "default": "sqlite:///carve.db"},
    }},
    "broker": {"type": "model", "fields": {
        "url": {"type": "str", "default": "redis://127.0.0.1:6379/0"},
        "namespace": {"type": "str", "default": "carve"},
        "max_retries": {"type": "int", "default": 5, "ge": 0},
        "min_backoff_ms": {"type": "int", "default": 500, "ge": 1},
        "max_backoff_ms": {"type": "int", "default": 60000, "ge": 1},
        "heartbeat_timeout_ms": {"type": "int", "default": 60000, "ge": 1000},
    }},
    "modules": {"type": "dict[model]", "fields": {
        "binding": {"type": "literal", "default": "local", "values": ["local", "remote"]},
        "url": {"type": "str|None", "default": None},
        "database": {"type": "str|None", "default": None},
    }},
    "events": {"type": "dict[model]", "fields": {
        "transport": {"type": "literal", "default": "inprocess",
                      "values": ["inprocess", "queue"]},
    }},
    "gateway": {"type": "model", "fields": {
        "routes": {"type": "str|None", "default": None},
        "port": {"type": "int", "default": 8080, "ge": 1, "le": 65535},
        "engine": {"type": "literal", "default": "carve", "values": ["carve", "nginx"]},
    }},
    "path": {"type": "other"},
}


class LintSettings(SimpleNamespace):
    """What the lint reads of carve.toml: ``project``, with the models' defaults."""

    project: SimpleNamespace


def read_settings(file: Path) -> LintSettings | CarveConfig:
    """carve.toml at ``file`` (defaults if absent), validated as :func:`load_config` does."""
    if not file.exists():
        return _settings({})
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        data = None
    if data is not None and _certain(data, SHAPE):
        return _settings(data.get("project", {}))
    from migration.runtime.config import load_config

    return load_config(file)


def _settings(project: dict[str, Any]) -> LintSettings:
    fields = SHAPE["project"]["fields"]
    values = {name: project.get(name, field["default"]) for name, field in fields.items()}
    return LintSettings(project=SimpleNamespace(**values))


def _certain(table: Any, fields: dict[str, Any]) -> bool:
    """Whether pydantic certainly accepts ``table`` as written for a model of ``fields``."""
    return isinstance(table, dict) and all(
        key in fields and _fits(value, fields[key]) for key, value in table.items())


def _fits(value: Any, field: dict[str, Any]) -> bool:
    kind = field["type"]
    if kind in ("str", "str|None"):
        return type(value) is str
    if kind == "int":
        return (type(value) is int and value >= field.get("ge", value)
                and value <= field.get("le", value))
    if kind == "literal":
        return type(value) is str and value in field["values"]
    if kind == "list[str]":
        return type(value) is list and all(type(item) is str for item in value)
    if kind == "model":
        return _certain(value, field["fields"])
    if kind == "dict[model]":
        return isinstance(value, dict) and all(
            _certain(item, field["fields"]) for item in value.values())
    return False  # a kind the shape does not describe: pydantic decides


def shape_of(model: type[BaseModel]) -> dict[str, Any]:
    """The shape of a pydantic model's fields, as :data:`SHAPE` writes it."""
    import types
    import typing

    def describe(annotation: Any, field: Any) -> dict[str, Any]:
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        nested = getattr(annotation, "model_fields", None)
        if nested is not None:
            return {"type": "model", "fields": shape_of(annotation)}
        if origin is dict and args[0] is str and hasattr(args[1], "model_fields"):
            return {"type": "dict[model]", "fields": shape_of(args[1])}
        found: dict[str, Any]
        if annotation is str:
            found = {"type": "str"}
        elif annotation is int:
            found = {"type": "int"}
        elif origin in (typing.Union, types.UnionType) and set(args) == {str, type(None)}:
            found = {"type": "str|None"}
        elif origin is typing.Literal and all(type(a) is str for a in args):
            found = {"type": "literal"}
        elif origin is list and args == (str,):
            found = {"type": "list[str]"}
        else:
            return {"type": "other"}
        found["default"] = field.get_default(call_default_factory=True)
        if found["type"] == "literal":
            found["values"] = list(args)
        for bound in field.metadata:
            for name in ("ge", "le"):
                if getattr(bound, name, None) is not None:
                    found[name] = getattr(bound, name)
        unknown = [m for m in field.metadata if not any(hasattr(m, n) for n in ("ge", "le"))]
        return {"type": "other"} if unknown else found

    return {name: describe(field.annotation, field) for name, field in model.model_fields.items()}


if __name__ == "__main__":
    import pprint

    from migration.runtime.config import CarveConfig

    pprint.pprint(shape_of(CarveConfig), sort_dicts=False, width=96)
