"""NGINX (http context, for ``conf.d/``): split_clients canaries, mirror shadows, backups."""

from __future__ import annotations

import re

from migration.gateway.exports.spec import ExportInput, distinct, share
from migration.gateway.gateway_settings import MONOLITH
from migration.gateway.routes import Route, RouteMode, StickyKey
from migration.runtime.errors import ConfigError

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

# What NGINX reads as a ``$cookie_…`` variable's name; other cookie names need a map.
_VARIABLE_NAME = re.compile(r"[A-Za-z0-9_]+")
# RFC 6265 cookie names (RFC 7230 tokens); nothing else can be a cookie's name.
_COOKIE_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# Header names NGINX reads (with ``underscores_in_headers on``); it drops all others.
_HEADER_NAME = re.compile(r"[a-z0-9_-]+")


def _spell(name: str, attempt: int) -> str:
    # NGINX compares upstream names without case: "Users" and "users" are one group.
    spelled = re.sub(r"[^a-z0-9_]", "_", name.lower())
    return spelled if attempt == 1 else f"{spelled}_{attempt}"


def groups(spec: ExportInput) -> dict[str, str]:
    """Each upstream's group name in NGINX, distinct even where two names spell alike."""
    return {name: "carve_" + spelled
            for name, spelled in distinct(spec.upstreams, _spell).items()}


def render_nginx(spec: ExportInput) -> str:
    """The configuration text; the same input always gives the same text."""
    out = [f"# carve export nginx: routes version {spec.table.version}. Include in http {{}}.",
           'map $http_x_request_id $carve_request_id { "" $request_id; default '
           "$http_x_request_id; }", ""]
    names = groups(spec)
    monolith = spec.upstream(MONOLITH)
    out += upstream_block(names[MONOLITH], [f"server {monolith.authority}"])
    for name in sorted(n for n in spec.upstreams if n != MONOLITH):
        out += upstream_block(names[name], [
            f"server {spec.upstreams[name].authority} max_fails=3 fail_timeout=10s",
            f"server {monolith.authority} backup"])
    for index, route in enumerate(spec.table.routes):
        if route.mode is RouteMode.CANARY:
            out += _split(index, route, names[spec.upstream(route.service).name], names)
    out += ["server {", f"    listen {spec.listen_port};",
            f"    client_max_body_size {spec.max_body_mb}m;", _PROXY.rstrip("\n")]
    if reads_underscored_header(spec):
        out.append("    underscores_in_headers on;")
    if not spec.has_root_route():
        out += ["    location / {", f"        proxy_pass http://{names['monolith']};",
                "        add_header X-Carve-Upstream monolith always;", "    }"]
    for index, route in enumerate(spec.table.routes):
        out += _locations(index, route, spec, names)
    out += ["}", ""]
    return "\n".join(out)


def upstream_block(group: str, servers: list[str]) -> list[str]:
    """An upstream group of these servers, its connections kept alive."""
    return [f"upstream {group} {{", *(f"    {s};" for s in servers),
            "    keepalive 64;", "}", ""]


def split_percent(shares: int) -> str:
    """``shares`` hundredths as split_clients writes a percent: at most two decimals."""
    whole, hundredths = divmod(shares, 100)
    return f"{whole}.{hundredths:02d}".rstrip("0").rstrip(".")


def _split(index: int, route: Route, service: str, names: dict[str, str]) -> list[str]:
    return [*split_block(index, route, f"carve_split_{index}", service, names["monolith"]),
            f"map $carve_split_{index} $carve_upstream_{index} {{ "
            f"{service} {route.service}; default monolith; }}", ""]


def split_block(index: int, route: Route, variable: str, service: str,
                monolith: str) -> list[str]:
    """The sticky key's map and the split_clients block that sets ``$variable`` to
    ``service`` for the canary's share of users and to ``monolith`` for the others."""
    lines = [*sticky_key_map(index, route),
             f'split_clients "${{carve_key_{index}}}{route.prefix}" ${variable} {{']
    shares = share(route.percent)
    # split_clients takes two decimals and refuses "0%": a canary at zero sends nothing and
    # "*" alone says so; any percent above zero is at least 0.01% (see share). "*" takes
    # what the service does not, so the two sides always make up 100%.
    if shares:
        lines.append(f"    {split_percent(shares)}% {service};")
    return [*lines, f"    * {monolith};", "}"]


def sticky_key_map(index: int, route: Route) -> list[str]:
    """The map that gives ``$carve_key_N``: the sticky header or cookie, else the client."""
    sticky = route.sticky
    if sticky.kind == "cookie" and not _VARIABLE_NAME.fullmatch(sticky.name):
        # "$cookie_my.sid" is $cookie_my followed by ".sid": read the Cookie header instead.
        pattern = "".join(c if c.isalnum() else "\\" + c for c in _cookie(route))
        return [f'map $http_cookie $carve_key_{index} {{ "~(?:^|;)\\s*{pattern}=([^;]+)" $1; '
                "default $remote_addr; }"]
    source = ("$remote_addr" if sticky.kind == "client"
              else "$cookie_" + sticky.name if sticky.kind == "cookie"
              else "$http_" + _header(route).replace("-", "_"))
    return [f'map {source} $carve_key_{index} {{ "" $remote_addr; default {source}; }}']


def _cookie(route: Route) -> str:
    if not _COOKIE_NAME.fullmatch(route.sticky.name):
        raise ConfigError(f"route {route.prefix}: sticky cookie {route.sticky.name!r} is not "
                          "a valid cookie name (RFC 6265), so no request carries it")
    return route.sticky.name


def _header(route: Route) -> str:
    if not _HEADER_NAME.fullmatch(route.sticky.name):
        raise ConfigError(f"route {route.prefix}: NGINX ignores the sticky header "
                          f"{route.sticky.name!r} (only letters, digits, '-' and '_'); "
                          "choose another header or a cookie")
    return route.sticky.name


def reads_underscored_header(spec: ExportInput) -> bool:
    """Whether a canary is sticky on a header with ``_``, which NGINX drops by default."""
    return any(_is_underscored_header(route.sticky) for route in spec.table.routes
               if route.mode is RouteMode.CANARY)


def _is_underscored_header(sticky: StickyKey) -> bool:
    return sticky.kind == "header" and "_" in sticky.name


def _locations(index: int, route: Route, spec: ExportInput, names: dict[str, str]) -> list[str]:
    body = _location_body(index, route, spec, names)
    # "= /p" and "/p/": NGINX prefixes are not segment-bound, these two together are. A
    # route on "/" is the catch-all, in place of the default location to the monolith.
    selectors = ["/"] if route.prefix == "/" else [f"= {route.prefix}", f"{route.prefix}/"]
    lines = [f"    # {route.prefix}: {route.mode.value}"]
    for selector in selectors:
        lines += [f"    location {selector} {{", *body, "    }"]
    if route.mode is RouteMode.SHADOW:
        service = names[spec.upstream(route.service).name]
        lines += [f"    location = /_carve_mirror_{index} {{", "        internal;",
                  f"        proxy_pass http://{service}$request_uri;", "    }"]
    return lines


def _location_body(index: int, route: Route, spec: ExportInput,
                   names: dict[str, str]) -> list[str]:
    mode = route.mode
    if mode is RouteMode.RETIRED:
        return ["        return 410;"]
    if mode is RouteMode.CANARY:
        return [f"        proxy_pass http://$carve_split_{index};",
                f"        add_header X-Carve-Upstream $carve_upstream_{index} always;"]
    if mode is RouteMode.SERVICE:
        service = spec.upstream(route.service).name
        return [f"        proxy_pass http://{names[service]};",
                f"        add_header X-Carve-Upstream {service} always;"]
    lines = [f"        proxy_pass http://{names['monolith']};",
             "        add_header X-Carve-Upstream monolith always;"]
    if mode is RouteMode.SHADOW:
        # NGINX mirrors every method; the carve gateway mirrors safe ones unless allowed.
        lines += [f"        mirror /_carve_mirror_{index};", "        mirror_request_body on;"]
    return lines
