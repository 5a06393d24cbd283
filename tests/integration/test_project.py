"""A project used as a context manager gives its database connections back on the
way out, whether the block finished or failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from migration.runtime.project import Project

ROOT = Path(__file__).resolve().parents[2]


def _project(postgres_url: str) -> Project:
    return Project.load(ROOT / "carve.toml", {"DATABASE_URL": postgres_url})


def test_leaving_the_block_releases_every_connection(postgres_url: str) -> None:
    with _project(postgres_url) as project:
        database = project.database("users")
        database.ping()
        assert database.engine.pool.checkedin() == 1
    assert database.engine.pool.checkedin() == 0


def test_an_error_in_the_block_still_releases_and_propagates(postgres_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), _project(postgres_url) as project:
        database = project.database("users")
        database.ping()
        raise RuntimeError("boom")
    assert database.engine.pool.checkedin() == 0
