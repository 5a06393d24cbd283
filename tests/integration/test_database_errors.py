"""A database error no command anticipated ends the CLI in one line naming the database."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from migration.cli import app as cli
from migration.cli.database_errors import describe_database_failure, remember_database_urls


def _failure(url: str) -> ProgrammingError:
    engine = create_engine(url)
    try:
        with engine.connect() as connection, pytest.raises(ProgrammingError) as caught:
            connection.execute(text("SELECT * FROM inventory_outbox"))
    finally:
        engine.dispose()
    return caught.value


def test_a_missing_table_is_one_line_with_the_url_and_no_password(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:s3cret@", 1)
    remember_database_urls()
    remember_database_urls()  # twice is harmless: one listener
    failure = _failure(with_password)
    safe = with_password.replace("s3cret", "***")
    assert describe_database_failure(failure) == (
        f'database {safe}: relation "inventory_outbox" does not exist '
        "(is it migrated? run carve db upgrade)")

    def command() -> None:
        raise failure

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: {describe_database_failure(failure)}"]
    assert "s3cret" not in err and "Traceback" not in err
