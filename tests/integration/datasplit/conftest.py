"""Each step-2 test gets two real PostgreSQL databases and a plan on the first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.datasplit import Split, split_databases


@pytest.fixture
def split(tmp_path: Path) -> Iterator[Split]:
    with split_databases(tmp_path) as databases:
        yield databases
