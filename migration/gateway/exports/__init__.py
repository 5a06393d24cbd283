"""The route table as configuration for engines that scale past one Python process."""

from __future__ import annotations

from collections.abc import Callable

from migration.gateway.exports.envoy import render_envoy
from migration.gateway.exports.httproute import render_httproute
from migration.gateway.exports.nginx import render_nginx
from migration.gateway.exports.spec import SHARES, ExportInput, Upstream, distinct, share

__all__ = ["SHARES", "ExportInput", "Upstream", "distinct", "exporters", "share"]


def exporters() -> dict[str, Callable[[ExportInput], str]]:
    """Each target's renderer by name."""
    return {"nginx": render_nginx, "envoy": render_envoy, "httproute": render_httproute}
