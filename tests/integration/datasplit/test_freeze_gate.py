"""A running process during a cut-over: writes wait out a freeze, reads do not, threads are safe."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from migration.runtime.plan_file import set_module_database
from migration.runtime.project import Project
from migration.runtime.routing import ModuleMoving, freeze_file
from monolith.modules.inventory.tables import stock
from tests.support.datasplit import write_plan


@pytest.fixture
def project(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    with Project.load(write_plan(tmp_path, sqlite_url), environ={}) as project:
        project.upgrade(["inventory"])
        yield project


def freeze(project: Project, seconds: float) -> Path:
    path = freeze_file(project.config.path, "inventory")
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"until": time.time() + seconds}), encoding="utf-8")
    return path


def write(project: Project, sku: str) -> None:
    with project.sessions("inventory").begin() as session:
        session.execute(insert(stock).values(sku=sku, on_hand=1, reserved=0,
                                             updated_at=_now()))


def _now() -> datetime:
    return datetime.now(UTC)


def test_a_write_waits_for_the_freeze_to_end_and_a_read_does_not(project: Project) -> None:
    held = freeze(project, 30)
    threading.Timer(0.3, held.unlink).start()
    with project.sessions("inventory")() as session:
        started = time.monotonic()
        session.execute(select(stock)).all()
        assert time.monotonic() - started < 0.2  # reads go on during a freeze
    started = time.monotonic()
    write(project, "MUG")
    assert time.monotonic() - started >= 0.25  # the write waited for the freeze to end
    with project.sessions("inventory")() as session:
        assert session.execute(select(stock.c.sku)).scalars().all() == ["MUG"]


def test_a_write_frozen_too_long_is_refused_as_moving_and_an_expired_freeze_is_ignored(
    tmp_path: Path, project: Project
) -> None:
    impatient = Project.load(project.config.path, environ={"CARVE_FREEZE_WAIT_MS": "200"})
    freeze(project, 30)
    routed = impatient.sessions("inventory")
    with pytest.raises(ModuleMoving):
        with routed.begin() as session:
            session.execute(insert(stock).values(sku="A", on_hand=1, reserved=0,
                                                 updated_at=_now()))
    freeze(project, -1)  # a cut-over that died: its freeze has expired
    write(impatient, "B")
    impatient.close()


def test_many_threads_first_using_a_module_at_once(project: Project) -> None:
    routed = project.sessions("inventory")
    start, failures = threading.Barrier(16), []

    def first_use(n: int) -> None:
        start.wait()
        try:
            with routed.begin() as session:
                session.execute(insert(stock).values(sku=f"T{n}", on_hand=n, reserved=0,
                                                     updated_at=_now()))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=first_use, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_a_unit_of_work_that_read_on_the_old_database_is_not_moved_to_the_new_one(
    tmp_path: Path, project: Project
) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'moved.db'}"
    with Project.load(project.config.path, {"DATABASE_URL_INVENTORY": elsewhere}) as there:
        there.upgrade(["inventory"])
    write(project, "MUG")
    routed = project.sessions("inventory")
    with routed() as session:
        # What it read, and any row it locked, is on the old database: the switch
        # lands between its read and its write, so its write must start over.
        assert session.execute(select(stock.c.on_hand)).scalar_one() == 1
        set_module_database(project.config.path, "inventory", elsewhere)
        with pytest.raises(ModuleMoving):
            session.execute(update(stock).values(on_hand=stock.c.on_hand + 1))
    write(project, "CUP")  # a new unit of work writes where the module lives now
    with Project.load(project.config.path, {"DATABASE_URL_INVENTORY": elsewhere}) as there:
        with there.sessions("inventory")() as session:
            assert session.execute(select(stock.c.sku)).scalars().all() == ["CUP"]
