"""The admin API seen from the command line (``carve route …``), over httpx."""

from __future__ import annotations

import os
from typing import Any

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from migration.gateway.admin_views import RouteListing
from migration.gateway.shadow_diff import ShadowReport
from migration.gateway.store.base import AuditEntry
from migration.runtime.errors import CarveError

DEFAULT_URL = "http://127.0.0.1:8080"


class AdminRefused(CarveError):
    """The gateway answered the admin call with an error."""

    exit_code = 1


class GatewayUnreachable(CarveError):
    """No gateway answers at the configured URL."""

    exit_code = 1


class AdminClient:
    """Calls to ``/_carve/`` with ``CARVE_ADMIN_TOKEN``, at ``CARVE_GATEWAY_URL``."""

    def __init__(self, url: str | None = None, token: str | None = None,
                 timeout: float = 10.0) -> None:
        self.url = (url or os.environ.get("CARVE_GATEWAY_URL") or DEFAULT_URL).rstrip("/")
        token = token if token is not None else os.environ.get("CARVE_ADMIN_TOKEN", "")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def routes(self) -> RouteListing:
        """The route table with live SLO and shadow figures."""
        return self._read(RouteListing, self._call("GET", "/_carve/routes"))

    def set_route(self, change: BaseModel) -> AuditEntry:
        """Change one route; returns the audit entry."""
        body = change.model_dump(mode="json", exclude_none=True)
        return self._read(AuditEntry, self._call("PUT", "/_carve/routes", json=body))

    def rollback(self, prefix: str, reason: str = "") -> AuditEntry:
        """Put one route back to the monolith; returns the audit entry."""
        return self._read(AuditEntry, self._call("POST", "/_carve/routes/rollback",
                                                 json={"prefix": prefix, "reason": reason}))

    def diffs(self, prefix: str | None = None) -> dict[str, ShadowReport]:
        """Shadow diff rates and samples, by route prefix."""
        return self._read(dict[str, ShadowReport], self._call(
            "GET", "/_carve/diffs", params={"prefix": prefix} if prefix else None))

    def audit(self, prefix: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """The latest route changes, newest first."""
        params: dict[str, Any] = {"limit": limit}
        if prefix:
            params["prefix"] = prefix
        return self._read(list[AuditEntry], self._call("GET", "/_carve/audit", params=params))

    def _read(self, shape: Any, data: Any) -> Any:
        """The answer as typed data; an answer of another shape is a gateway of another kind."""
        try:
            return TypeAdapter(shape).validate_python(data)
        except ValidationError as exc:
            raise AdminRefused(f"gateway {self.url} answered in an unexpected shape "
                               f"(another carve version?): {exc.errors()[0]['msg']}") from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayUnreachable(f"no gateway at {self.url} ({exc}); "
                                     "set CARVE_GATEWAY_URL") from exc
        if response.headers.get("x-carve-upstream") != "gateway":
            raise GatewayUnreachable(f"{self.url} answered {response.status_code}, but not as "
                                     "a carve gateway's admin API; set CARVE_GATEWAY_URL")
        if response.status_code == 401:
            raise AdminRefused(f"gateway {self.url} wants the admin token: "
                               "set CARVE_ADMIN_TOKEN to the gateway's token")
        if response.status_code == 403:
            raise AdminRefused(f"gateway {self.url} refused the admin token: "
                               "set CARVE_ADMIN_TOKEN to the gateway's token")
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail") or response.text
            except ValueError:
                detail = response.text
            raise AdminRefused(f"gateway {self.url} answered {response.status_code}: {detail}")
        return response.json()
