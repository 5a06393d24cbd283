"""Upstreams shared by the gateway end-to-end tests (stateless echo servers)."""

from collections.abc import Iterator

import pytest

from tests.support.gateway_processes import echo_backend


@pytest.fixture(scope="module")
def monolith_url() -> Iterator[str]:
    with echo_backend("monolith") as url:
        yield url


@pytest.fixture(scope="module")
def inventory_url() -> Iterator[str]:
    with echo_backend("inventory") as url:
        yield url


@pytest.fixture(scope="module")
def failing_url() -> Iterator[str]:
    """A service that answers every request with 500."""
    with echo_backend("broken", status=500) as url:
        yield url
