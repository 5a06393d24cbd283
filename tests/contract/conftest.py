"""Every module's contract tests, run against the local binding and the client binding.

A test module names its contract (``CONTRACT = Inventory``) and uses two
fixtures: ``binding`` (the module under test) and ``collaborator(Contract)``
(the contracts it uses, faked). ``local`` calls the module's code in process;
``remote`` calls the server binding over real HTTP through the client binding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.contract import Contract
from migration.runtime.client import client
from migration.runtime.modules import ModuleSpec
from migration.runtime.serving import ServerThread
from migration.runtime.settings import Settings
from monolith.app import create_app
from monolith.bootstrap import bootstrap
from tests.contract.fakes import FAKES

ROOT = Path(__file__).resolve().parents[2]


def _module_of(settings: Settings, contract: type[Contract]) -> ModuleSpec:
    return next(s for s in settings.project.specs.values() if s.contract is contract)


@pytest.fixture
def settings(sqlite_url: str) -> Iterator[Settings]:
    settings = Settings.from_env(ROOT / "carve.toml", {"DATABASE_URL": sqlite_url})
    settings.project.upgrade()
    yield settings
    settings.project.close()


@pytest.fixture
def collaborators(request: pytest.FixtureRequest, settings: Settings) -> dict[str, Contract]:
    """Fakes of the contracts the module under test uses, by module name."""
    spec = _module_of(settings, request.module.CONTRACT)
    return {_module_of(settings, used).name: FAKES[used]() for used in spec.uses}


@pytest.fixture
def collaborator(collaborators: dict[str, Contract]) -> Callable[[type], Any]:
    by_contract = {type(fake).__mro__[1]: fake for fake in collaborators.values()}
    return lambda contract: by_contract[contract]


@pytest.fixture(params=["local", "remote"])
def binding(
    request: pytest.FixtureRequest, settings: Settings, collaborators: dict[str, Contract]
) -> Iterator[Any]:
    contract = request.module.CONTRACT
    name = _module_of(settings, contract).name
    if request.param == "local":
        yield bootstrap(settings, collaborators).services[name]
        return
    with ServerThread(create_app(settings, collaborators)) as server:
        proxy = client(contract, server.url)
        yield proxy
        proxy.close()
