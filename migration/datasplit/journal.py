"""The journal of one module's split: where it goes, how far it got, what was verified.

One JSON file per module under ``.carve/splits/`` beside carve.toml (ignored by
git: it holds database URLs), replaced atomically. The copy's own progress is
kept in the target database, committed with each chunk (see ``copying``); the
journal records the phases around it. A lock file keeps two commands from
working on one module's split at once.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from migration.datasplit.tables import SplitRefused


class Phase(StrEnum):
    """Where a split stands, in the order it goes through them."""

    SCHEMA = "schema"
    COPYING = "copying"
    CATCHING_UP = "catching up"
    READY = "ready for cut-over"
    CUT_OVER = "cut over"
    FINISHED = "finished"       # cut over and accepted: no capture, no rollback
    ROLLED_BACK = "rolled back"


class Journal(BaseModel):
    """What ``carve db status`` and ``carve status`` show of a split, and what resuming needs."""

    module: str
    source: str
    target: str
    previous_setting: str | None = None   # [modules.<name>] database before the cut-over
    phase: Phase = Phase.SCHEMA
    batch: int = 50_000
    rows_copied: int = 0
    rows_total: int = 0
    lag: int = 0
    foreign_keys: list[list[str]] = Field(default_factory=list)  # [table, name, definition]
    started_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    freeze_ms: float | None = None
    verification: dict[str, Any] | None = None

    @property
    def moved(self) -> bool:
        """Whether the module writes to its new database now."""
        return self.phase in (Phase.CUT_OVER, Phase.FINISHED)

    @property
    def primary(self) -> str:
        """The database the module writes to in this phase."""
        return self.target if self.moved else self.source

    @property
    def replica(self) -> str:
        return self.source if self.moved else self.target


class Journals:
    """The journals of a project's splits, in ``.carve/splits`` beside carve.toml."""

    def __init__(self, config_path: Path | None) -> None:
        if config_path is None:
            raise SplitRefused("a split needs a carve.toml to record its progress and switch "
                               "the module's database (pass --config or run carve init)")
        self.folder = config_path.parent / ".carve" / "splits"

    def read(self, module: str) -> Journal | None:
        path = self.folder / f"{module}.json"
        if not path.exists():
            return None
        return Journal.model_validate_json(path.read_text(encoding="utf-8"))

    def all(self) -> list[Journal]:
        if not self.folder.is_dir():
            return []
        return [Journal.model_validate_json(p.read_text(encoding="utf-8"))
                for p in sorted(self.folder.glob("*.json"))]

    def write(self, journal: Journal) -> None:
        journal.updated_at = time.time()
        with self._writing(journal.module):
            self._replace(journal)

    def record_verification(self, module: str, result: dict[str, Any], primary: str) -> None:
        """Keep a verification's result, unless the split moved on while it ran.

        The journal is read again under the lock: writing back the copy read before
        verifying would undo a cut-over made in the meantime.
        """
        with self._writing(module):
            journal = self.read(module)
            if journal is not None and journal.primary == primary:
                journal.verification = result
                journal.updated_at = time.time()
                self._replace(journal)

    def _replace(self, journal: Journal) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".journal-")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(journal.model_dump_json(indent=2))
        os.chmod(temporary, 0o600)  # it holds database URLs
        os.replace(temporary, self.folder / f"{journal.module}.json")

    @contextmanager
    def _writing(self, module: str) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{module}.journal.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # short: one read and one rename
            yield

    @contextmanager
    def exclusive(self, module: str) -> Iterator[None]:
        """Hold the module's split lock; another command on the same split is refused."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{module}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SplitRefused(f"another carve db command is working on the split of "
                                   f"'{module}' right now; wait for it to finish") from None
            yield
