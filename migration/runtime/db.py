"""Databases: one engine and session factory per module, and the URL it resolves to.

Every module resolves its own URL, in this order: ``DATABASE_URL_<MODULE>``,
``[modules.<name>] database`` in ``carve.toml``, ``DATABASE_URL``,
``[database] url``, then a SQLite file shared by all modules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from migration.runtime.config import CarveConfig
from migration.runtime.errors import ConfigError, DatabaseUnreachable


def module_database_url(
    module: str, config: CarveConfig, environ: Mapping[str, str] | None = None
) -> str:
    """The database URL a module uses, from the environment and ``carve.toml``."""
    env = os.environ if environ is None else environ
    return (
        env.get(f"DATABASE_URL_{module.upper()}")
        or config.module(module).database
        or env.get("DATABASE_URL")
        or config.database.url
    )


def safe_url(url: str) -> str:
    """``url`` with any password hidden; one that cannot be parsed is not echoed at all."""
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "an unreadable database URL"


def normalize_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` URLs and use the psycopg 3 driver."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url


def create_module_engine(url: str, *, immediate: bool = True) -> Engine:
    """An engine for one module; SQLite gets WAL, a busy timeout and real transactions.

    ``immediate`` makes every SQLite transaction take the write lock at BEGIN (a unit
    of work then waits its turn instead of failing at its first write); tools that
    only read while another connection holds that lock turn it off.
    """
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL '{url}' is not a valid SQLAlchemy URL") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            return _sqlite_engine(url, in_memory=parsed.database in (None, "", ":memory:"),
                                  immediate=immediate)
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except NoSuchModuleError:
        raise ConfigError(f"database URL '{url}': no driver for this scheme") from None


def _sqlite_engine(url: str, *, in_memory: bool, immediate: bool) -> Engine:
    extra = {"poolclass": StaticPool} if in_memory else {}
    engine = create_engine(url, connect_args={"check_same_thread": False}, **extra)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # pysqlite's own transaction handling defers BEGIN; take it over so that a
        # unit of work is one real transaction that waits for the write lock.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@dataclass
class Database:
    """A module's engine and session factory."""

    module: str
    url: str
    immediate: bool = True
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = create_module_engine(self.url, immediate=self.immediate)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, fit for messages and logs."""
        return safe_url(self.url)

    def ping(self) -> None:
        """Run ``SELECT 1`` or raise :class:`DatabaseUnreachable` naming the URL."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
            raise DatabaseUnreachable(
                f"module '{self.module}': cannot reach database {self.safe_url}: {reason}"
            ) from None

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
