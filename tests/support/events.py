"""Support for event-delivery tests: a plan per test, a Redis server of its own, effects."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from tests.support.processes import ROOT, free_port

# The one poll-until helper; tests that import it with the other event helpers find it here.
from tests.support.waiting import wait_for


def write_plan(folder: Path, database_url: str, transport: str = "inprocess") -> Path:
    """A carve.toml for one test: the reference monolith on the test's own database."""
    plan = folder / "carve.toml"
    plan.write_text(
        "# a test's migration plan\n"
        f'[project]\nmodules = "monolith.modules"\nsource = "{ROOT}"\n\n'
        f'[database]\nurl = "{database_url}"\n\n'
        '[events."order.created"]\n'
        f'transport = "{transport}"   # swapped by the test\n',
        encoding="utf-8",
    )
    return plan


def queue_env(plan: Path, database_url: str, broker_url: str, namespace: str) -> dict[str, str]:
    """Environment for carve processes of one test: its plan, database, broker and namespace."""
    return {
        "CARVE_CONFIG": str(plan), "DATABASE_URL": database_url,
        "CARVE_BROKER_URL": broker_url, "CARVE_BROKER_NAMESPACE": namespace,
        "CARVE_BROKER_MIN_BACKOFF_MS": "50", "CARVE_BROKER_MAX_BACKOFF_MS": "500",
        "CARVE_BROKER_MAX_RETRIES": "3", "CARVE_BROKER_HEARTBEAT_MS": "3000",
        "CARVE_BROKER_MAINTENANCE": "200000", "CARVE_RETRY_INTERVAL": "0.5",
    }


def effects(database_url: str) -> dict[str, int]:
    """Counts that tell whether every order had its effects exactly once."""
    queries = {
        "orders": "SELECT count(*) FROM orders_orders",
        "notified": "SELECT count(DISTINCT reference) FROM notifications_notifications",
        "notifications": "SELECT count(*) FROM notifications_notifications",
        "reserved": "SELECT count(DISTINCT order_id) FROM inventory_reservations",
        "reservations": "SELECT count(*) FROM inventory_reservations",
        "pending": "SELECT count(*) FROM orders_outbox WHERE dispatched_at IS NULL",
        "dead": "SELECT (SELECT count(*) FROM notifications_dead_letters)"
                " + (SELECT count(*) FROM inventory_dead_letters)",
    }
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {name: connection.execute(text(sql)).scalar_one()
                    for name, sql in queries.items()}
    finally:
        engine.dispose()


class RedisServer:
    """A redis-server process of the test's own, durable (AOF, fsync always), restartable."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the redis-server binary is required by this test")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        if not wait_for(lambda: _pings(client), timeout=10, interval=0.05):
            raise RuntimeError(f"redis-server on port {self.port} did not start")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Redis flushes its append-only file and exits
            self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@contextmanager
def redis_server(folder: Path) -> Iterator[RedisServer]:
    """Start a :class:`RedisServer` for the block."""
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class CarveProcess:
    """``carve ARGS`` in the background, its output in a file; killable and restartable."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CarveProcess:
        import os
        import sys

        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "migration.cli", *self.args], cwd=ROOT,
                env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to finish, acknowledge or clean up."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def carve_background(args: list[str], env: dict[str, str], log: Path) -> Iterator[CarveProcess]:
    """Run a :class:`CarveProcess` for the block."""
    process = CarveProcess(args, env, log).start()
    try:
        yield process
    finally:
        process.stop()


def seed_shop(system, stock: int = 1_000_000) -> str:  # type: ignore[no-untyped-def]
    """A user and plenty of stock of ``sku-1``; returns the user's id."""
    from contracts.inventory import StockLevel
    from contracts.users import NewUser

    user = system.services["users"].register_user(NewUser(email="ada@example.com", name="Ada"))
    system.services["inventory"].set_stock("sku-1", StockLevel(quantity=stock))
    return user.id


def place_order(system, user_id: str) -> str:  # type: ignore[no-untyped-def]
    """Place a one-line order through the orders module; returns its id."""
    from contracts.orders import OrderLine, PlaceOrder

    command = PlaceOrder(user_id=user_id, items=[OrderLine(sku="sku-1", quantity=1)])
    return system.services["orders"].place_order(command).id
