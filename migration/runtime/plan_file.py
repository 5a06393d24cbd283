"""Edits of carve.toml that keep its comments, installed atomically if carve reads them back.

``carve events swap``, ``carve new module`` and ``carve db cutover`` change the
plan while processes run and re-read it; they see the old file or the new one,
never half of it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import tomlkit
from tomlkit import TOMLDocument

from migration.runtime.config import CarveConfig, load_config
from migration.runtime.errors import ConfigError

#: Sees the new plan as carve will read it back, and raises to refuse it.
PlanCheck = Callable[[CarveConfig], None]


def edit_plan(path: Path | None, change: Callable[[TOMLDocument], None],
              check: PlanCheck | None = None) -> None:
    """Apply ``change`` to carve.toml; ``check`` sees the new plan and raises to refuse it."""
    if path is None:
        raise ConfigError("there is no carve.toml to update (pass --config or create one)")
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    change(document)
    replace_plan(path, tomlkit.dumps(document), check)


def set_module_database(path: Path | None, module: str, url: str | None) -> None:
    """``[modules.<module>] database = url``; None removes the key (the shared database)."""
    def change(document: TOMLDocument) -> None:
        modules = document.setdefault("modules", tomlkit.table(is_super_table=True))
        entry = modules.setdefault(module, tomlkit.table())
        if url is None:
            entry.pop("database", None)
        else:
            entry["database"] = url

    edit_plan(path, change)


def replace_plan(path: Path, text: str, check: PlanCheck | None = None) -> None:
    """Write ``text`` to ``path`` by renaming a finished file over it.

    The new plan must load (and pass ``check``); otherwise ``path`` is left as it was
    and the error propagates.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".carve-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, path.stat().st_mode)
        planned = load_config(temporary)  # never install a plan carve could not read back
        if check is not None:
            check(planned)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
