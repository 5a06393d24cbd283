"""The supervisor's check that the workers' port is free before any worker starts."""

from __future__ import annotations

import socket

import pytest

from migration.runtime.errors import ConfigError
from migration.runtime.serving import check_can_listen


def test_a_port_another_gateways_workers_listen_on_is_taken():
    # Another `--workers` gateway listens with SO_REUSEPORT: new workers binding the same
    # port would silently share its connections with it.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(ConfigError, match="cannot listen"):
            check_can_listen("127.0.0.1", other.getsockname()[1])


def test_a_free_port_passes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_can_listen("127.0.0.1", port)
