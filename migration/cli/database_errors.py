"""A database error no command anticipated, as one line naming the database.

SQLAlchemy's errors do not say which database failed; an ``handle_error``
listener on every engine of the CLI process notes the URL (password hidden) on
the error as it passes, so the last-resort message in ``main()`` can name it.
"""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

#: The errors ``main()`` turns into one line: a missing table, a refused connection…
DATABASE_FAILURES = (OperationalError, ProgrammingError)
_URL = "carve_database_url"


def _note_url(context: ExceptionContext) -> None:
    if context.engine is not None and context.sqlalchemy_exception is not None:
        url = context.engine.url.render_as_string(hide_password=True)
        setattr(context.sqlalchemy_exception, _URL, url)


def remember_database_urls() -> None:
    """Make every engine's errors carry its URL, password hidden (idempotent)."""
    if not event.contains(Engine, "handle_error", _note_url):
        event.listen(Engine, "handle_error", _note_url)


def describe_database_failure(exc: DBAPIError) -> str:
    """One line: which database, what it said, and the likely fix for a missing table."""
    reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    where = getattr(exc, _URL, None)
    line = f"database {where or '(unknown)'}: {reason[0] if reason else type(exc).__name__}"
    said = line.lower()
    if "no such table" in said or ("relation" in said and "does not exist" in said):
        line += " (is it migrated? run carve db upgrade)"
    return line
