"""Plans the deployment exports are tested on: the committed one and a migrated one."""

from __future__ import annotations

import json
from pathlib import Path

from migration.deploy.exports import load_plan
from migration.deploy.plan import SystemPlan
from migration.runtime.modules import discover_modules
from tests.support.processes import ROOT


def migrated_plan(folder: Path) -> SystemPlan:
    """Inventory remote (the committed extraction), users on a database of its own, every
    event on the queue, a gateway with a canary route."""
    events = sorted({e.type for s in discover_modules("monolith.modules").values()
                     for e in s.publishes})
    (folder / "routes.json").write_text(json.dumps({"routes": [
        {"prefix": "/api/v1/inventory", "mode": "canary", "service": "inventory",
         "percent": 25}]}))
    plan = folder / "carve.toml"
    plan.write_text(
        f'[project]\nsource = "{ROOT.as_posix()}"\n\n[gateway]\nroutes = "routes.json"\n\n'
        '[modules.inventory]\nbinding = "remote"\n\n'
        '[modules.users]\ndatabase = "postgresql://127.0.0.1/users"\n\n'
        + "".join(f'[events."{e}"]\ntransport = "queue"\n\n' for e in events),
        encoding="utf-8")
    return load_plan(plan, ROOT / "extracted")
