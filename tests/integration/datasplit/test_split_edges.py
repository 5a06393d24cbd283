"""The edges of a split: the same database under another name, values moving between rows,
a second split after a rollback, sequences, and finishing a cut-over."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, text
from sqlalchemy.exc import DBAPIError

from migration.datasplit import schema
from migration.datasplit.cutover import check, cutover, finish, rollback
from migration.datasplit.split import run_split, start_split
from migration.datasplit.tables import SplitRefused, SplitTable
from tests.support.datasplit import Split, stock_rows


class Silent:
    def phase(self, journal) -> None:  # type: ignore[no-untyped-def]
        pass

    def rows(self, copied: int, total: int) -> None:
        pass


def test_the_module_s_own_database_under_another_name_is_refused_and_kept(split: Split) -> None:
    stock_rows(split, 100)
    alias = split.source.replace("@127.0.0.1:", "@localhost:")
    assert alias != split.source
    with split.project() as project, pytest.raises(SplitRefused, match="reaches the database"):
        start_split(project, "inventory", alias, force=True)
    assert split.scalar(split.source, "SELECT count(*) FROM inventory_stock") == 100


def test_a_unique_value_that_moves_from_one_row_to_another_is_replayed(split: Split) -> None:
    split.execute(split.source, "INSERT INTO users_users (id, email, name, created_at) VALUES "
                                "('a', 'x@example.com', 'A', now()), "
                                "('c', 'y@example.com', 'C', now())")
    with split.project() as project:
        run_split(project, start_split(project, "users", split.target), Silent())
        # x moves from a (deleted) to b; y from c to a new d, c renamed: replayed in order.
        split.execute(split.source, "DELETE FROM users_users WHERE id = 'a'")
        split.execute(split.source, "INSERT INTO users_users (id, email, name, created_at) "
                                    "VALUES ('b', 'x@example.com', 'B', now())")
        split.execute(split.source, "UPDATE users_users SET email = 'z@example.com' "
                                    "WHERE id = 'c'")
        split.execute(split.source, "INSERT INTO users_users (id, email, name, created_at) "
                                    "VALUES ('d', 'y@example.com', 'D', now())")
        move = cutover(project, "users")
    assert move.verification is not None and move.verification.equal
    emails = split.scalar(split.target, "SELECT string_agg(id || '=' || email, ',' ORDER BY id) "
                                        "FROM users_users")
    assert emails == "b=x@example.com,c=z@example.com,d=y@example.com"


def test_a_second_split_after_a_rollback_copies_every_row_again(split: Split) -> None:
    with split.project() as project:
        run_split(project, start_split(project, "inventory", split.target), Silent())
        cutover(project, "inventory")
        rollback(project, "inventory")
        split.execute(split.target, "DELETE FROM inventory_stock")  # emptied by hand
        stock_rows(split, 10)
        again = run_split(project, start_split(project, "inventory", split.target), Silent())
        assert again.rows_copied == 10
        assert check(project, "inventory").equal
        cutover(project, "inventory")  # the first split's guard is gone from the target
    assert split.scalar(split.target, "SELECT count(*) FROM inventory_stock") == 10


def test_finish_stops_capture_and_refuses_a_rollback(split: Split) -> None:
    stock_rows(split, 10)
    with split.project() as project:
        run_split(project, start_split(project, "inventory", split.target), Silent())
        cutover(project, "inventory")
        assert finish(project, "inventory").phase.value == "finished"
        split.execute(split.target, "UPDATE inventory_stock SET on_hand = 0")
        assert split.scalar(split.target, "SELECT count(*) FROM carve_changes") == 0
        with pytest.raises(SplitRefused, match="nothing to roll back"):
            rollback(project, "inventory")
        with pytest.raises(DBAPIError, match="carve:moved:inventory"):  # the old one refuses
            split.execute(split.source, "UPDATE inventory_stock SET on_hand = 1")


def test_sequences_follow_the_copied_keys(split: Split) -> None:
    table = Table("things", MetaData(), Column("id", Integer, primary_key=True),
                  Column("name", String(10)))
    engine = create_engine(split.target)
    try:
        table.create(engine)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO things (id, name) VALUES (41, 'copied')"))
        schema.advance_sequences(engine, [SplitTable(table)])
        with engine.begin() as connection:
            made = connection.execute(text("INSERT INTO things (name) VALUES ('new') "
                                           "RETURNING id")).scalar_one()
    finally:
        engine.dispose()
    assert made == 42
