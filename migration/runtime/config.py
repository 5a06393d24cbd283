"""The migration plan in ``carve.toml``: modules, bindings, databases, transports.

Loading validates everything up front so a typo fails with the file and key
that are wrong, never later with a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from migration.runtime.errors import ConfigError

CONFIG_FILE = "carve.toml"
DEFAULT_DATABASE_URL = "sqlite:///carve.db"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectConfig(_Strict):
    """Where the monolith's modules live."""

    modules: str = "monolith.modules"
    source: str = "."
    shared: list[str] = Field(default_factory=lambda: ["contracts", "migration.runtime"])
    allowed_third_party: list[str] = Field(default_factory=list)


class DatabaseConfig(_Strict):
    """The database every module uses unless it has its own."""

    url: str = DEFAULT_DATABASE_URL


class ModuleConfig(_Strict):
    """One module's place in the migration: bound locally or remotely, its database."""

    binding: Literal["local", "remote"] = "local"
    url: str | None = None
    database: str | None = None


class EventConfig(_Strict):
    """How one event type is delivered."""

    transport: Literal["inprocess", "queue"] = "inprocess"


class BrokerConfig(_Strict):
    """The message broker used by events whose transport is ``queue``.

    ``namespace`` prefixes every Redis key (on RabbitMQ, isolate with a vhost in
    the URL); the retry settings apply to every consumer's queue.
    """

    url: str = "redis://127.0.0.1:6379/0"
    namespace: str = "carve"
    max_retries: int = Field(default=5, ge=0)
    min_backoff_ms: int = Field(default=500, ge=1)
    max_backoff_ms: int = Field(default=60_000, ge=1)
    heartbeat_timeout_ms: int = Field(default=60_000, ge=1000)


class GatewayConfig(_Strict):
    """The gateway ``carve up`` and the exports run in front of the system.

    Without ``routes`` there is no gateway: the monolith is the front door.
    """

    routes: str | None = None
    port: int = Field(default=8080, ge=1, le=65535)
    # Its data plane: carve's own (Python), or NGINX run and steered by carve (needs NGINX
    # where the gateway runs: ``carve up`` checks before starting anything).
    engine: Literal["carve", "nginx"] = "carve"

    @model_validator(mode="after")
    def _engine_needs_routes(self) -> GatewayConfig:
        if self.engine != "carve" and not self.routes:
            raise ValueError(f'engine = "{self.engine}" needs routes: without them no '
                             "gateway runs (set gateway.routes, or remove gateway.engine)")
        return self


class CarveConfig(_Strict):
    """The whole of ``carve.toml``."""

    project: ProjectConfig = Field(default_factory=ProjectConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    modules: dict[str, ModuleConfig] = Field(default_factory=dict)
    events: dict[str, EventConfig] = Field(default_factory=dict)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    path: Path | None = Field(default=None, exclude=True)

    def module(self, name: str) -> ModuleConfig:
        """The module's settings, defaults when ``carve.toml`` does not mention it."""
        return self.modules.get(name) or ModuleConfig()

    def transport(self, event_type: str) -> str:
        """The transport of an event type (``inprocess`` unless configured)."""
        event = self.events.get(event_type)
        return event.transport if event else "inprocess"


def load_config(path: Path | str | None = None) -> CarveConfig:
    """Read ``carve.toml``; without a path, from the current directory if present."""
    file = Path(path) if path else Path.cwd() / CONFIG_FILE
    if not file.exists():
        if path:
            raise ConfigError(f"{file}: no such file")
        return CarveConfig()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    try:
        config = CarveConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{file}: {_describe(exc)}") from None
    return _anchor_sqlite_paths(config.model_copy(update={"path": file.resolve()}))


def _anchor_sqlite_paths(config: CarveConfig) -> CarveConfig:
    """Relative SQLite files in ``carve.toml`` live beside it, wherever carve runs from."""
    assert config.path is not None
    base = config.path.parent
    database = config.database.model_copy(update={"url": _anchored(config.database.url, base)})
    modules = {
        name: module.model_copy(update={"database": _anchored(module.database, base)})
        for name, module in config.modules.items()
    }
    return config.model_copy(update={"database": database, "modules": modules})


def _anchored(url: str | None, base: Path) -> str | None:
    prefix = "sqlite:///"
    if url is None or not url.startswith(prefix):
        return url
    path = url[len(prefix):]
    if not path or path.startswith("/") or path == ":memory:":
        return url
    return prefix + str(base / path)


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"key '{key}': {first['msg']}{more}"
