"""The files of a new module, as ``string.Template`` files in ``module_template/``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from string import Template


@cache
def _template(name: str) -> Template:
    folder = files("migration.scaffold") / "module_template"
    return Template((folder / name).read_text(encoding="utf-8"))


def render(template: str, /, **values: str) -> str:
    """``module_template/<template>`` filled in; a missing value is a KeyError."""
    return _template(template).substitute(values)
