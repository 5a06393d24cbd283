"""The ``carve`` command's entry point: a plain ``carve lint`` first, then typer.

The typer application (:mod:`migration.cli.root`) costs typer, click and rich at start-up,
more than a ``carve lint`` served from its cache costs in all. :func:`main` hands the
arguments to :func:`migration.cli.lint_command.lean_lint` first: it runs ``carve lint``
when it can read every argument from the command's one declaration of its options, and
leaves everything else (``--help``, a mistake, any other command) to typer.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from migration.runtime.errors import CarveError


def __getattr__(name: str) -> Any:
    """``app`` (the typer application) and the rest of :mod:`migration.cli.root`, on demand."""
    if name.startswith("__"):
        raise AttributeError(name)
    from migration.cli import root

    return getattr(root, name)


def main() -> None:
    """Console entry point: a user's error is one line on stderr and a non-zero exit."""
    try:
        from migration.cli.lint_command import lean_lint

        code = lean_lint(sys.argv[1:])
        if code is not None:
            _exit_now(code)
        sys.modules[__name__].app()  # the attribute: a test may put its own app in its place
    except CarveError as exc:
        from migration.cli.output import report_error

        report_error(str(exc))
        sys.exit(exc.exit_code)
    except Exception as exc:  # a database failure no command anticipated: one line
        if "sqlalchemy" not in sys.modules:  # never imported: it cannot be its error
            raise
        from migration.cli.database_errors import DATABASE_FAILURES, describe_database_failure

        if not isinstance(exc, DATABASE_FAILURES):
            raise
        from migration.cli.output import report_error

        report_error(describe_database_failure(exc))
        sys.exit(1)


def _exit_now(code: int) -> NoReturn:
    """End a finished ``carve lint`` without the interpreter's teardown.

    Freeing grimp's graph, the modules and every object one by one takes 10 ms at 2,000
    files and 35 at 20,000, for nothing: the report is printed and no file is open. The
    output is flushed first; if that fails (a closed pipe), Python's usual exit reports it.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)
    os._exit(code)
