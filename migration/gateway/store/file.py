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
from migration.gateway.slo_window import CanaryEvidence
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
                     automatic: bool = False,
                     evidence: CanaryEvidence | None = None) -> AuditEntry:
        """Read, change and rewrite under an exclusive lock, so concurrent writers queue."""
        try:
            return await asyncio.to_thread(self._change, prefix, mutate, reason, automatic,
                                           evidence)
        except OSError as exc:
            raise RouteStoreError(f"{self.description}: cannot write: {exc}") from exc

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's exclusive lock, shared with every process that uses the same file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _change(self, prefix: str, mutate: Mutation, reason: str, automatic: bool,
                evidence: CanaryEvidence | None) -> AuditEntry:
        with self._locked():
            table = self._read()
            old = table.get(prefix)
            new = mutate(old)
            routes = [r for r in table.routes if r.prefix != prefix] + ([new] if new else [])
            updated = RouteTable(routes, table.version + 1)
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(updated.to_json(), indent=2) + "\n")
            os.replace(temporary, self.path)
            entry = audit_entry(prefix, old, new, reason, automatic, updated.version, evidence)
            self._append([entry])
        return entry

    def _append(self, entries: list[AuditEntry]) -> None:
        with open(self.audit_path, "a+b") as audit:
            # After a torn last line, start a new one: an entry appended to it would be lost.
            if audit.tell() and (audit.seek(-1, os.SEEK_END), audit.read(1))[1] != b"\n":
                audit.write(b"\n")
            audit.writelines(entry.model_dump_json().encode() + b"\n" for entry in entries)

    def _audit_edits(self, before: RouteTable) -> RouteTable:
        """Audit the routes changed since ``before`` that no entry accounts for; the table now.

        The file is read again under the store's lock, so every change :meth:`change` made
        meanwhile is in it together with its entry: a route whose newest entry already says
        what it is now is left alone (so is an edit another gateway on the file audited
        first). What is left was edited by hand, or by a tool.
        """
        with self._locked():
            after = self._read()
            prefixes = {r.prefix for r in before.routes} | {r.prefix for r in after.routes}
            changed = sorted(p for p in prefixes if before.get(p) != after.get(p))
            if changed:
                newest: dict[str, AuditEntry] = {}
                for entry in self._entries():
                    newest.setdefault(entry.prefix, entry)
                edits = [audit_entry(p, before.get(p), after.get(p),
                                     f"edited in {self.path.name}", False, after.version)
                         for p in changed]
                self._append([e for e in edits
                              if e.prefix not in newest or newest[e.prefix].new != e.new])
        return after

    async def audit(self, prefix: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first."""
        entries = self._entries()
        return [e for e in entries if prefix is None or e.prefix == prefix][:limit]

    def _entries(self) -> list[AuditEntry]:
        """Every audit entry, newest first; a line that is not one (torn by a crash) is skipped."""
        try:
            lines = self.audit_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        entries = []
        for number, line in zip(range(len(lines), 0, -1), reversed(lines), strict=True):
            try:
                entries.append(AuditEntry.model_validate_json(line))
            except ValidationError:
                if line.strip():
                    log.warning("%s:%d is not an audit entry; skipped", self.audit_path, number)
        return entries

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
                last = await self._take(last, on_change)
            except RouteStoreError as exc:
                self.problem = str(exc)
                log.error("keeping the current routes: %s", exc)
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any one change
                self.problem = f"{self.description}: {exc}"
                log.exception("keeping the current routes")

    async def _take(self, last: RouteTable, on_change: OnChange) -> RouteTable:
        """Audit and apply the table in the file; the table taken."""
        table = self._read()
        try:
            table = await asyncio.to_thread(self._audit_edits, last)
        except OSError as exc:
            log.error("the edit of %s is applied but could not be audited: %s", self.path, exc)
        self.problem = None
        outcome = on_change(table)
        if inspect.isawaitable(outcome):
            await outcome
        return table

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    async def close(self) -> None:
        """Nothing to release."""
