"""NGINX (http context, for ``conf.d/``): split_clients canaries, mirror shadows, backups."""

from __future__ import annotations

import re

from migration.gateway.exports import ExportInput
from migration.gateway.routes import Route, RouteMode

_PROXY = """    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $proxy_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Request-Id $carve_request_id;
    proxy_connect_timeout 2s;
    proxy_read_timeout 30s;
    # Idempotent requests only (NGINX's default): a failed service call is answered by the
    # monolith, the backup server of every service group.
    proxy_next_upstream error timeout http_502 http_503 http_504;
    proxy_request_buffering off;
"""


def group(name: str) -> str:
    """The upstream group's name in NGINX."""
    return "carve_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def render_nginx(spec: ExportInput) -> str:
    """The configuration text; the same input always gives the same text."""
    out = [f"# carve export nginx: routes version {spec.table.version}. Include in http {{}}.",
           'map $http_x_request_id $carve_request_id { "" $request_id; default '
           "$http_x_request_id; }", ""]
    monolith = spec.upstream("monolith")
    out += _upstream_block("monolith", [f"server {monolith.host}:{monolith.port}"])
    for name in sorted(n for n in spec.upstreams if n != "monolith"):
        service = spec.upstreams[name]
        out += _upstream_block(name, [
            f"server {service.host}:{service.port} max_fails=3 fail_timeout=10s",
            f"server {monolith.host}:{monolith.port} backup"])
    for index, route in enumerate(spec.table.routes):
        if route.mode is RouteMode.CANARY:
            spec.upstream(route.service)
            out += _split(index, route)
    out += ["server {", f"    listen {spec.listen_port};",
            f"    client_max_body_size {spec.max_body_mb}m;", _PROXY.rstrip("\n"),
            "    location / {", f"        proxy_pass http://{group('monolith')};",
            "        add_header X-Carve-Upstream monolith always;", "    }"]
    for index, route in enumerate(spec.table.routes):
        out += _locations(index, route, spec)
    out += ["}", ""]
    return "\n".join(out)


def _upstream_block(name: str, servers: list[str]) -> list[str]:
    return [f"upstream {group(name)} {{", *(f"    {s};" for s in servers),
            "    keepalive 64;", "}", ""]


def _split(index: int, route: Route) -> list[str]:
    sticky = route.sticky
    source = ("$cookie_" + sticky.name if sticky.kind == "cookie"
              else "$http_" + sticky.name.replace("-", "_") if sticky.kind == "header"
              else "$remote_addr")
    lines = [f'map {source} $carve_key_{index} {{ "" $remote_addr; default {source}; }}']
    lines += [f'split_clients "${{carve_key_{index}}}{route.prefix}" $carve_split_{index} {{']
    if route.percent > 0:
        lines.append(f"    {route.percent:g}% {group(route.service or '')};")
    lines += [f"    * {group('monolith')};", "}",
              f"map $carve_split_{index} $carve_upstream_{index} {{ "
              f"{group(route.service or '')} {route.service}; default monolith; }}", ""]
    return lines


def _locations(index: int, route: Route, spec: ExportInput) -> list[str]:
    body = _location_body(index, route, spec)
    # "= /p" and "/p/": NGINX prefixes are not segment-bound, these two together are.
    selectors = ["= /", "/"] if route.prefix == "/" else [f"= {route.prefix}",
                                                           f"{route.prefix}/"]
    lines = [f"    # {route.prefix}: {route.mode.value}"]
    for selector in dict.fromkeys(selectors):
        lines += [f"    location {selector} {{", *body, "    }"]
    if route.mode is RouteMode.SHADOW:
        service = group(spec.upstream(route.service).name)
        lines += [f"    location = /_carve_mirror_{index} {{", "        internal;",
                  f"        proxy_pass http://{service}$request_uri;", "    }"]
    return lines


def _location_body(index: int, route: Route, spec: ExportInput) -> list[str]:
    mode = route.mode
    if mode is RouteMode.RETIRED:
        return ["        return 410;"]
    if mode is RouteMode.CANARY:
        return [f"        proxy_pass http://$carve_split_{index};",
                f"        add_header X-Carve-Upstream $carve_upstream_{index} always;"]
    if mode is RouteMode.SERVICE:
        service = spec.upstream(route.service).name
        return [f"        proxy_pass http://{group(service)};",
                f"        add_header X-Carve-Upstream {service} always;"]
    lines = [f"        proxy_pass http://{group('monolith')};",
             "        add_header X-Carve-Upstream monolith always;"]
    if mode is RouteMode.SHADOW:
        # NGINX mirrors every method; the carve gateway mirrors safe ones unless allowed.
        lines += [f"        mirror /_carve_mirror_{index};", "        mirror_request_body on;"]
    return lines
