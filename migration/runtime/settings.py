"""Settings of a running process: the project and the environment it runs in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from migration.runtime.errors import ConfigError
from migration.runtime.project import Project


@dataclass
class Settings:
    """What ``create_app`` needs: the project plus tunables read from the environment."""

    project: Project
    retry_interval: float = 2.0
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, config_path: Path | str | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from ``carve.toml`` (``CARVE_CONFIG`` or the current folder) and env."""
        env = dict(os.environ if environ is None else environ)
        project = Project.load(config_path or env.get("CARVE_CONFIG"), env)
        return cls(
            project=project,
            retry_interval=_positive_seconds(env, "CARVE_RETRY_INTERVAL", 2.0),
            environ=env,
        )


def _positive_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r}: must be more than 0 seconds")
    return value
