"""The route table in Redis: shared by every gateway replica, changes pushed by pub/sub.

Keys under one prefix: ``routes`` (a hash prefix → route JSON), ``version`` (an integer
bumped by each change), ``audit`` (a list, newest first) and the channel ``changes``. A
replica reloads when a message arrives on the channel and also polls ``version`` twice a
second, so a message lost during a reconnect delays a change by half a second, no more.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError, WatchError

from migration.gateway.routes import Route, RouteTable
from migration.gateway.slo_window import CanaryEvidence
from migration.gateway.store.base import (
    AuditEntry,
    Mutation,
    OnChange,
    RouteStoreError,
    audit_entry,
)
from migration.runtime.errors import ConfigError

log = logging.getLogger("carve.gateway")
DEFAULT_PREFIX = "carve:gateway:"
POLL_SECONDS = 0.5
AUDIT_KEEP = 10_000


class RedisToggleStore:
    """Routes, version, audit log and change channel under one key prefix."""

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX,
                 description: str = "redis") -> None:
        self._client = client
        self.prefix = prefix
        self._routes = f"{prefix}routes"
        self._version = f"{prefix}version"
        self._audit = f"{prefix}audit"
        self._channel = f"{prefix}changes"
        self.description = description
        self.problem: str | None = None

    @classmethod
    def from_url(cls, url: str) -> RedisToggleStore:
        """``redis://host:port/db?prefix=P``; the prefix defaults to ``carve:gateway:``."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        prefix = next((v for k, v in query if k == "prefix"), DEFAULT_PREFIX)
        rest = urlencode([(k, v) for k, v in query if k != "prefix"])
        try:
            client = aioredis.Redis.from_url(urlunsplit(parts._replace(query=rest)),
                                             socket_connect_timeout=2)
        except ValueError as exc:
            raise ConfigError(f"--routes {url!r}: {exc}") from exc
        # Shown in errors and the health check: host and port, never the password.
        host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        safe = urlunsplit(parts._replace(netloc=netloc, query=""))
        return cls(client, prefix, f"redis {safe} prefix {prefix}")

    async def load(self) -> RouteTable:
        """Routes and version read in one transaction."""
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                raw, version = await pipe.hgetall(self._routes).get(self._version).execute()
        except (RedisError, OSError) as exc:
            raise RouteStoreError(f"route store {self.description}: {exc}") from exc
        routes = [self._route(key, value) for key, value in raw.items()]
        try:
            return RouteTable(routes, int(version or 0))
        except ValueError as exc:
            raise RouteStoreError(f"route store {self.description}: {self._version} holds "
                                  f"{version!r}, not a version number") from exc

    def _route(self, key: bytes, raw: bytes) -> Route:
        """One entry of the hash; one that is not a route names its key and the problem."""
        try:
            return Route.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            what = f"{where}: {first['msg']}" if where else first["msg"]
            raise RouteStoreError(
                f"route store {self.description}: entry {key.decode(errors='replace')!r} of "
                f"{self._routes} is not a valid route ({what})") from exc

    async def change(self, prefix: str, mutate: Mutation, reason: str,
                     automatic: bool = False,
                     evidence: CanaryEvidence | None = None) -> AuditEntry:
        """Optimistic transaction: retried when another writer got in between."""
        try:
            return await self._change(prefix, mutate, reason, automatic, evidence)
        except (RedisError, OSError) as exc:
            raise RouteStoreError(f"route store {self.description}: {exc}") from exc
        except ValueError as exc:  # the version key holds no number
            raise RouteStoreError(f"route store {self.description}: {self._version}: "
                                  f"{exc}") from exc

    async def _change(self, prefix: str, mutate: Mutation, reason: str, automatic: bool,
                      evidence: CanaryEvidence | None) -> AuditEntry:
        async with self._client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self._routes, self._version)
                    raw = await pipe.hget(self._routes, prefix)
                    version = int(await pipe.get(self._version) or 0) + 1
                    old = self._route(prefix.encode(), raw) if raw else None
                    new = mutate(old)
                    entry = audit_entry(prefix, old, new, reason, automatic, version, evidence)
                    pipe.multi()
                    if new is None:
                        pipe.hdel(self._routes, prefix)
                    else:
                        pipe.hset(self._routes, prefix, new.model_dump_json())
                    pipe.set(self._version, version)
                    pipe.lpush(self._audit, entry.model_dump_json())
                    pipe.ltrim(self._audit, 0, AUDIT_KEEP - 1)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._client.publish(self._channel, str(version))
        return entry

    async def audit(self, prefix: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The latest changes, newest first."""
        scan = limit if prefix is None else AUDIT_KEEP
        try:
            raw = await self._client.lrange(self._audit, 0, scan - 1)
        except (RedisError, OSError) as exc:
            raise RouteStoreError(f"route store {self.description}: {exc}") from exc
        entries = []
        for item in raw:
            try:
                entries.append(AuditEntry.model_validate_json(item))
            except ValidationError:
                log.warning("%s holds an item that is not an audit entry; skipped", self._audit)
        return [e for e in entries if prefix is None or e.prefix == prefix][:limit]

    async def watch(self, on_change: OnChange) -> None:
        """Reload on each message or version bump; ride out Redis restarts and bad entries.

        While the table cannot be read (Redis down, or an entry that is not a route), the
        current routes stay, ``problem`` says why (the health check shows it), and the read
        is tried again each second until it succeeds.
        """
        seen: int | None = None
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    while True:
                        await pubsub.get_message(ignore_subscribe_messages=True,
                                                 timeout=POLL_SECONDS)
                        version = await self._client.get(self._version)
                        if version != seen:
                            await self._deliver(on_change)
                            seen = version
            except (RedisError, OSError, RouteStoreError) as exc:
                self._failed(str(exc))
                await asyncio.sleep(1)
            except Exception as exc:  # noqa: BLE001 - the watch must outlive any one change
                log.exception("keeping the current routes")
                self._failed(f"route store {self.description}: {exc}")
                await asyncio.sleep(1)

    def _failed(self, problem: str) -> None:
        if problem != self.problem:
            log.error("keeping the current routes: %s", problem)
        self.problem = problem

    async def _deliver(self, on_change: OnChange) -> None:
        table = await self.load()
        if self.problem is not None:
            log.info("route store %s readable again", self.description)
            self.problem = None
        outcome = on_change(table)
        if inspect.isawaitable(outcome):
            await outcome

    async def ping(self) -> None:
        """Fail with a clear message when Redis cannot be reached."""
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise ConfigError(f"route store {self.description}: {exc}") from exc

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()
