"""Service discovery and binding choice: where a module's service answers, and whether to call it.

A module's URL comes from the environment (``CARVE_<MODULE>_URL``), then
``[modules.<name>] url`` in ``carve.toml``, then the DNS name that compose and
Kubernetes give a service (``http://<module>-service:8000``). Its binding comes
from ``CARVE_<MODULE>_BINDING``, then ``[modules.<name>] binding``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from migration.runtime.config import CarveConfig
from migration.runtime.errors import ConfigError

BINDINGS = ("local", "remote")


def env_name(module: str, setting: str) -> str:
    """The environment variable of one module's setting: ``CARVE_<MODULE>_<SETTING>``."""
    return f"CARVE_{module.upper().replace('-', '_')}_{setting}"


def dns_url(module: str) -> str:
    """The URL the DNS convention of compose and Kubernetes gives a module's service."""
    return f"http://{module}-service:8000"


@dataclass(frozen=True)
class Discovery:
    """Finds the base URL of a module's service."""

    config: CarveConfig = field(default_factory=CarveConfig)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def url_for(self, module: str) -> str:
        """The module's base URL (scheme, host, port), without a trailing slash."""
        url = (
            self.environ.get(env_name(module, "URL"))
            or self.config.module(module).url
            or dns_url(module)
        )
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"URL of module '{module}' must start with http:// or https://: "
                              f"'{url}'")
        return url.rstrip("/")


def binding_of(module: str, config: CarveConfig, environ: Mapping[str, str]) -> str:
    """``local`` or ``remote``: how the monolith reaches a module."""
    variable = env_name(module, "BINDING")
    value = environ.get(variable)
    if value is None:
        return config.module(module).binding
    if value not in BINDINGS:
        raise ConfigError(f"{variable}='{value}': expected one of {', '.join(BINDINGS)}")
    return value
