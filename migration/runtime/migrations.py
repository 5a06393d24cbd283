"""Alembic, per module: each module keeps its own history and version table.

The history lives in the module (``migrations/``); the version table is
``alembic_version_<module>``, so modules sharing one database never collide
and a module's history moves with it when it is extracted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, MetaData

from migration.runtime.errors import ConfigError

ENV_DIR = Path(__file__).parent / "alembic_env"


@dataclass(frozen=True)
class ModuleMigrations:
    """The migration history of one module, applied to one engine."""

    module: str
    versions: Path
    metadata: MetaData

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.module}"

    def _config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(ENV_DIR))
        config.set_main_option("version_locations", str(self.versions))
        config.set_main_option("path_separator", "os")
        config.attributes["target_metadata"] = self.metadata
        config.attributes["version_table"] = self.version_table
        return config

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """Bring the module's tables up to ``revision``."""
        self._run(engine, command.upgrade, revision)

    def downgrade(self, engine: Engine, revision: str = "base") -> None:
        """Take the module's tables down to ``revision``."""
        self._run(engine, command.downgrade, revision)

    def current(self, engine: Engine) -> str | None:
        """The revision the database is at, or None before the first migration."""
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"version_table": self.version_table}
            )
            return context.get_current_revision()

    def head(self) -> str | None:
        """The newest revision in the module's history."""
        return ScriptDirectory.from_config(self._config()).get_current_head()

    def _run(self, engine: Engine, action, revision: str) -> None:  # type: ignore[no-untyped-def]
        config = self._config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            try:
                action(config, revision)
            except CommandError as exc:
                raise ConfigError(f"module '{self.module}': revision '{revision}': {exc}") from None
