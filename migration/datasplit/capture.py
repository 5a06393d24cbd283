"""Capture: triggers that log every changed key of a module's tables, and the guard they obey.

Each database a split touches gets two small tables: ``carve_changes`` (the
change log: module, table, key as JSON) and ``carve_split_guard`` (one row per
module: ``capture`` or ``moved``). A trigger on every table of the module logs
the old and new key of each changed row, in the writer's own transaction, so a
change is logged exactly when it commits. Once the guard says ``moved`` the
trigger refuses the write: a process that has not yet followed the cut-over
cannot write where nobody reads any more.

On PostgreSQL the trigger also takes a shared advisory lock for the module;
the cut-over's freeze takes it exclusively, so it waits for the writes in
flight and holds new ones until it has switched (ADR 0012).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, text

from migration.datasplit.tables import Key, SplitTable

CAPTURE = "capture"
MOVED = "moved"

_PG_SETUP = """
CREATE TABLE IF NOT EXISTS carve_split_guard (module text PRIMARY KEY, state text NOT NULL);
CREATE TABLE IF NOT EXISTS carve_changes (
    id bigserial PRIMARY KEY, module text NOT NULL, table_name text NOT NULL, pk jsonb NOT NULL);
CREATE INDEX IF NOT EXISTS carve_changes_by_module ON carve_changes (module, id);
CREATE OR REPLACE FUNCTION carve_capture() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  mod text := TG_ARGV[0];
  guard text;
  old_key jsonb := '[]'::jsonb;
  new_key jsonb := '[]'::jsonb;
  i int;
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtext('carve.split'), hashtext(mod));
  SELECT g.state INTO guard FROM carve_split_guard g WHERE g.module = mod;
  IF guard = 'moved' THEN
    RAISE EXCEPTION 'carve:moved:% (the module now lives in another database)', mod;
  END IF;
  FOR i IN 1 .. TG_NARGS - 1 LOOP
    IF TG_OP <> 'INSERT' THEN
      old_key := old_key || jsonb_build_array(to_jsonb(OLD) -> TG_ARGV[i]);
    END IF;
    IF TG_OP <> 'DELETE' THEN
      new_key := new_key || jsonb_build_array(to_jsonb(NEW) -> TG_ARGV[i]);
    END IF;
  END LOOP;
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO carve_changes (module, table_name, pk) VALUES (mod, TG_TABLE_NAME, old_key);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND new_key <> old_key) THEN
    INSERT INTO carve_changes (module, table_name, pk) VALUES (mod, TG_TABLE_NAME, new_key);
  END IF;
  RETURN NULL;
END
$fn$;
"""

_SQLITE_SETUP = """
CREATE TABLE IF NOT EXISTS carve_split_guard (module TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS carve_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, module TEXT NOT NULL, table_name TEXT NOT NULL,
    pk TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS carve_changes_by_module ON carve_changes (module, id);
"""


@dataclass(frozen=True)
class Change:
    """One logged change: its id in the log, the table and the key of the row."""

    id: int
    table: str
    key: Key


def trigger_name(table: str) -> str:
    return f"carve_capture_{table}"


def install(engine: Engine, module: str, tables: Sequence[SplitTable]) -> None:
    """Create the log, the guard (``capture``) and a trigger on every table; idempotent."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # Straight to the driver: with no parameters it leaves RAISE's % alone.
            connection.connection.driver_connection.execute(_PG_SETUP)
            for table in tables:
                _pg_trigger(connection, module, table)
        else:
            for statement in _statements(_SQLITE_SETUP):
                connection.exec_driver_sql(statement)
            for table in tables:
                _sqlite_triggers(connection, module, table)
        set_guard(connection, module, CAPTURE)


def remove(engine: Engine, module: str, tables: Sequence[SplitTable]) -> None:
    """Drop the module's triggers, log rows and guard; the shared tables stay for others."""
    with engine.begin() as connection:
        present = [t for t in tables if inspect(connection).has_table(t.name)]
        for table in present:
            for suffix in ("", "_ins", "_upd", "_del"):
                on = f" ON {_quote(table.name)}" if engine.dialect.name == "postgresql" else ""
                connection.exec_driver_sql(
                    f"DROP TRIGGER IF EXISTS {trigger_name(table.name)}{suffix}{on}")
        if _has_log(connection):
            connection.execute(text("DELETE FROM carve_changes WHERE module = :m"), {"m": module})
            connection.execute(text("DELETE FROM carve_split_guard WHERE module = :m"),
                               {"m": module})


def same_database(first: Engine, second: Engine) -> bool:
    """Whether two engines reach one database, however their URLs spell it.

    A probe row written through the first is looked for through the second (a host
    name and an address, a symlinked SQLite file, a pooler in front: a URL says too
    little). Only the guard table is created, and the probe is removed.
    """
    probe = f"probe:{uuid.uuid4().hex}"
    with first.begin() as connection:
        _create_guard_table(connection)
        connection.execute(
            text("INSERT INTO carve_split_guard (module, state) VALUES (:m, 'probe')"),
            {"m": probe})
    try:
        with second.connect() as connection:
            if not inspect(connection).has_table("carve_split_guard"):
                return False
            seen = connection.execute(text("SELECT 1 FROM carve_split_guard WHERE module = :m"),
                                      {"m": probe}).first()
            return seen is not None
    finally:
        with first.begin() as connection:
            connection.execute(text("DELETE FROM carve_split_guard WHERE module = :m"),
                               {"m": probe})


def _create_guard_table(connection: Connection) -> None:
    connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS carve_split_guard "
                               "(module TEXT PRIMARY KEY, state TEXT NOT NULL)")


def set_guard(connection: Connection, module: str, state: str) -> None:
    """Set the module's guard state, in the caller's transaction."""
    connection.execute(text("DELETE FROM carve_split_guard WHERE module = :m"), {"m": module})
    connection.execute(text("INSERT INTO carve_split_guard (module, state) VALUES (:m, :s)"),
                       {"m": module, "s": state})


def guard_state(engine: Engine, module: str) -> str | None:
    """The module's guard state in this database, None when there is no guard."""
    with engine.connect() as connection:
        if not _has_log(connection):
            return None
        row = connection.execute(text("SELECT state FROM carve_split_guard WHERE module = :m"),
                                 {"m": module}).first()
        return row[0] if row else None


def pending(engine: Engine, module: str, limit: int, after: int = 0) -> list[Change]:
    """The oldest logged changes of the module (ids above ``after``)."""
    query = text("SELECT id, table_name, pk FROM carve_changes WHERE module = :m AND id > :a "
                 "ORDER BY id LIMIT :n")
    with engine.connect() as connection:
        if not _has_log(connection):
            return []
        rows = connection.execute(query, {"m": module, "a": after, "n": limit}).all()
    return [Change(row[0], row[1], _key(row[2])) for row in rows]


def forget(engine: Engine, ids: Iterable[int]) -> None:
    """Delete replayed changes from the log."""
    chosen = list(ids)
    with engine.begin() as connection:
        for start in range(0, len(chosen), 5000):
            batch = chosen[start:start + 5000]
            connection.execute(text(f"DELETE FROM carve_changes WHERE id IN ({_ints(batch)})"))


def lag(engine: Engine, module: str) -> int:
    """How many logged changes of the module wait to be replayed."""
    with engine.connect() as connection:
        if not _has_log(connection):
            return 0
        return connection.execute(text("SELECT count(*) FROM carve_changes WHERE module = :m"),
                                  {"m": module}).scalar_one()


def pending_keys(engine: Engine, module: str) -> dict[str, set[Key]]:
    """Every key with a change not yet replayed, by table."""
    keys: dict[str, set[Key]] = {}
    for change in pending(engine, module, limit=10_000_000):
        keys.setdefault(change.table, set()).add(change.key)
    return keys


def _pg_trigger(connection: Connection, module: str, table: SplitTable) -> None:
    arguments = ", ".join(_literal(v) for v in [module, *table.key_names])
    name = trigger_name(table.name)
    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {_quote(table.name)}")
    connection.exec_driver_sql(
        f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {_quote(table.name)} "
        f"FOR EACH ROW EXECUTE FUNCTION carve_capture({arguments})")


def _sqlite_triggers(connection: Connection, module: str, table: SplitTable) -> None:
    refuse = (f"SELECT RAISE(ABORT, 'carve:moved:{module} (the module now lives in another "
              f"database)') WHERE (SELECT state FROM carve_split_guard WHERE module = "
              f"{_literal(module)}) = 'moved';")
    for suffix, event, rows in (("_ins", "INSERT", ["NEW"]), ("_upd", "UPDATE", ["OLD", "NEW"]),
                                ("_del", "DELETE", ["OLD"])):
        logs = "".join(
            f"INSERT INTO carve_changes (module, table_name, pk) VALUES ({_literal(module)}, "
            f"{_literal(table.name)}, json_array("
            f"{', '.join(f'{row}.{_quote(k)}' for k in table.key_names)}));"
            for row in rows)
        name = f"{trigger_name(table.name)}{suffix}"
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE TRIGGER {name} AFTER {event} ON "
                                   f"{_quote(table.name)} BEGIN {refuse} {logs} END")


def _has_log(connection: Connection) -> bool:
    return inspect(connection).has_table("carve_changes")


def _key(raw: object) -> Key:
    values = json.loads(raw) if isinstance(raw, str) else raw
    assert isinstance(values, list)
    return tuple(values)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ints(values: Sequence[int]) -> str:
    return ", ".join(str(int(v)) for v in values)
