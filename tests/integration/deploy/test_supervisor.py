"""``carve up``'s supervisor: a process that keeps failing is restarted ever more slowly,
and one that is stopping is not restarted."""

from __future__ import annotations

import threading
from pathlib import Path

from migration.deploy.local import LocalProcess
from migration.deploy.supervisor import Supervisor
from tests.support.events import wait_for
from tests.support.processes import ROOT


def test_a_crashing_process_is_restarted_with_a_growing_backoff() -> None:
    events: list[dict] = []
    failing = LocalProcess("broken", "worker", ("run", "relay", "--batch", "0"), stage=0)
    supervisor = Supervisor([failing], Path(ROOT), events.append, base_backoff=0.1)
    stop = threading.Event()
    runner = threading.Thread(target=supervisor.run, args=(stop,))
    runner.start()
    try:
        assert wait_for(lambda: len([e for e in events if e["event"] == "exited"]) >= 3, 60)
    finally:
        stop.set()
        runner.join(30)
    exits = [e for e in events if e["event"] == "exited"]
    assert [e["restart_in"] for e in exits[:3]] == [0.1, 0.2, 0.4]
    assert all(e["code"] == 2 for e in exits)  # a usage error, every time
    assert any("--batch" in e.get("line", "") for e in events if e["event"] == "log")
    assert supervisor.rows()[0]["pid"] is None and not runner.is_alive()
