"""Real PostgreSQL and Redis for tests: a fresh database or key prefix per test.

A missing service fails the test with the reason; it is never skipped, so a
green run always means the integration tests ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis
from sqlalchemy import create_engine, text

ADMIN_URL = os.environ.get("CARVE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CARVE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, drop it afterwards."""
    name = f"carve_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise RuntimeError(f"PostgreSQL at {ADMIN_URL} is required by this test: {exc}") from exc
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_redis_prefix() -> Iterator[tuple[redis.Redis, str]]:
    """A Redis client and a key prefix no other test uses; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"Redis at {REDIS_URL} is required by this test: {exc}") from exc
    prefix = f"carve-test-{uuid.uuid4().hex[:12]}"
    try:
        yield client, prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def scalar(url: str, sql: str) -> object:
    """One value a query returns from the database at ``url`` (a test's own check)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()
