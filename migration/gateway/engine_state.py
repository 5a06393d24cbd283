"""What the data plane in front of carve's gateway runs, when it is not carve's own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EngineState:
    """NGINX's routes version and why it is not the table's (``--engine nginx``).

    Written by the engine's steering, read by the admin API: a table NGINX could not take
    leaves it on an older one, which the health check and the metrics say.
    """

    name: str
    routes_version: int = -1  # not started yet
    problem: str | None = None  # why the latest table is not applied
