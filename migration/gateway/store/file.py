"""The route table in a local JSON file, watched for edits; the audit log beside it."""

from __future__ import annotations

import asyncio
import fcntl
import inspect
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from migration.gateway.routes import Route, RouteTable
from migration.gateway.store.base import (
    AuditEntry,
    Mutation,
    OnChange,
    RouteStoreError,
    audit_entry,
)

log = logging.getLogger("carve.gateway")
POLL_SECONDS = 0.25


def parse_table(text: str, source: str) -> RouteTable:
    """A route table from its JSON document; a bad one names the file and the problem."""
    try:
        document = json.loads(text) if text.strip() else {}
        routes = [Route.model_validate(item) for item in document.get("routes", [])]
        return RouteTable(routes, int(document.get("version", 0)))
    except (ValueError, ValidationError, AttributeError, TypeError) as exc:
        raise RouteStoreError(f"{source}: not a valid route table: {exc}") from exc


class FileToggleStore:
    """``routes.json`` plus ``routes.audit.jsonl``; changes are locked and atomic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.audit_path = path.with_name(path.stem + ".audit.jsonl")
        self.description = f"file {path}"
        self.problem: str | None = None

    async def load(self) -> RouteTable:
        """The table in the file (empty when there is no file yet)."""
        return self._read()

    def _read(self) -> RouteTable:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return RouteTable()
        except OSError as exc:
            raise RouteStoreError(f"{self.description}: cannot read: {exc}") from exc
        return parse_table(text, str(self.path))

    async def change(self, prefix: str, mutate: Mutation, reason: str,
                     automatic: bool = False) -> AuditEntry:
        """Read, change and rewrite under an exclusive lock, so concurrent writers queue."""
        try:
            return await asyncio.to_thread(self._change, prefix, mutate, reason, automatic)
        except OSError as exc:
            raise RouteStoreError(f"{self.description}: cannot write: {exc}") from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's exclusive lock, shared with every process that uses the same file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _change(self, prefix: str, mutate: Mutation, reason: str, automatic: bool) -> AuditEntry:
        with self._locked():
            table = self._read()
            old = table.get(prefix)
            new = mutate(old)
            routes = [r for r in table.routes if r.prefix != prefix] + ([new] if new else [])
            updated = RouteTable(routes, table.version + 1)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(updated.to_json(), indent=2) + "\n")
            os.replace(temporary, self.path)
            entry = audit_entry(prefix, old, new, reason, automatic, updated.version)
            self._append([entry])
        return entry

    def _append(self, entries: list[AuditEntry]) -> None:
        with open(self.audit_path, "a") as audit:
            audit.writelines(entry.model_dump_json() + "\n" for entry in entries)

    def _audit_edits(self, before: RouteTable, after: RouteTable) -> None:
        """Audit the routes an edit of the file changed, unless already audited.

        A change through :meth:`change` writes its own entry; so does an edit seen first by
        another gateway on the same file: a route whose newest entry already says what it is
        now is left alone. What is left was edited by hand (or by a tool).
        """
        prefixes = {r.prefix for r in before.routes} | {r.prefix for r in after.routes}
        changed = sorted(p for p in prefixes if before.get(p) != after.get(p))
        if not changed:
            return
        with self._locked():
            newest: dict[str, AuditEntry] = {}
            for entry in self._entries():
                newest.setdefault(entry.prefix, entry)
            edits = [audit_entry(p, before.get(p), after.get(p), f"edited in {self.path.name}",
                                 False, after.version) for p in changed]
            self._append([e for e in edits
                          if e.prefix not in newest or newest[e.prefix].new != e.new])

    async def audit(self, prefix: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first."""
        entries = self._entries()
        return [e for e in entries if prefix is None or e.prefix == prefix][:limit]

    def _entries(self) -> list[AuditEntry]:
        """Every audit entry, newest first."""
        try:
            lines = self.audit_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [AuditEntry.model_validate_json(line) for line in reversed(lines) if line]

    async def watch(self, on_change: OnChange) -> None:
        """Poll the file's identity; reload on change. A broken edit keeps the last table."""
        seen = self._stamp()
        try:
            last = self._read()
        except RouteStoreError:
            last = RouteTable()
        while True:
            await asyncio.sleep(POLL_SECONDS)
            stamp = self._stamp()
            if stamp == seen:
                continue
            seen = stamp
            try:
                table = self._read()
            except RouteStoreError as exc:
                self.problem = str(exc)
                log.error("keeping the current routes: %s", exc)
                continue
            self.problem = None
            try:
                await asyncio.to_thread(self._audit_edits, last, table)
            except OSError as exc:
                log.error("the edit of %s is applied but could not be audited: %s",
                          self.path, exc)
            last = table
            outcome = on_change(table)
            if inspect.isawaitable(outcome):
                await outcome

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    async def close(self) -> None:
        """Nothing to release."""
