"""Every module's Alembic history goes up and down on SQLite and PostgreSQL,
and what it builds is exactly what the module's tables declare."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from migration.runtime.project import Project
from tests.builders import settings_for

MODULES = ["inventory", "notifications", "orders", "users"]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, sqlite_url: str) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return sqlite_url
    return request.getfixturevalue("postgres_url")


def _project(url: str) -> Project:
    return settings_for(url).project


@pytest.mark.parametrize("module", MODULES)
def test_migrations_match_the_declared_tables_and_go_back_down(
    database_url: str, module: str
) -> None:
    project = _project(database_url)
    spec, history = project.module(module), project.migrations(module)
    engine = project.database(module).engine
    try:
        history.upgrade(engine)
        assert history.current(engine) == history.head()
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": history.version_table}
            )
            diff = compare_metadata(context, spec.metadata)
        assert diff == [], f"{module}: migrations and tables.py disagree: {diff}"
        tables = set(inspect(engine).get_table_names())
        assert set(spec.owned_tables) <= tables
        assert f"alembic_version_{module}" in tables
        history.downgrade(engine)
        left = set(inspect(engine).get_table_names()) - {f"alembic_version_{module}"}
        assert left == set()
        assert history.current(engine) is None
    finally:
        project.close()


def test_modules_sharing_a_database_keep_separate_histories(database_url: str) -> None:
    project = _project(database_url)
    try:
        project.upgrade()
        engine = project.database("orders").engine
        project.migrations("orders").downgrade(engine)
        assert project.migrations("orders").current(engine) is None
        users = project.migrations("users")
        assert users.current(project.database("users").engine) == users.head()
    finally:
        project.close()
