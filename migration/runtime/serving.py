"""Serving an ASGI app with uvicorn in a background thread, on a free loopback port.

Used where a real HTTP server is needed inside one process: the parity tests of
the bindings, the generated tests of an extracted service and the benchmarks.
:func:`check_can_listen` is for the commands that serve in the foreground.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from migration.runtime.errors import ConfigError


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check_can_listen(host: str, port: int) -> None:
    """Refuse in one line an address a server could not listen on (a port in use, say).

    ``carve run monolith`` and ``carve run service`` check it before they migrate:
    uvicorn finds out only once started, and says so in several log lines.
    """
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
                host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
            _bind_once(family, kind, proto, address)
    except OSError as exc:  # the gateway's words for it (migration.gateway.http_server)
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _bind_once(family: int, kind: int, proto: int, address: Any) -> None:
    """Bind as uvicorn's event loop will, and let go; it skips a family the host lacks too."""
    try:
        probe = socket.socket(family, kind, proto)
    except OSError:
        return
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        probe.bind(address)


class ServerThread:
    """``with ServerThread(app) as server:`` serves ``app`` at ``server.url`` until the end."""

    def __init__(self, app: Any, port: int | None = None, startup_timeout: float = 20) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="carve-server",
                                        daemon=True)
        self._startup_timeout = startup_timeout

    def start(self) -> ServerThread:
        """Start serving; return once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server to finish."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
