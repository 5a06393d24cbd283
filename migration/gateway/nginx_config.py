"""The route table as the configuration of a whole NGINX that carve runs and steers.

``carve export nginx`` writes a table for someone else's NGINX; this one is for the NGINX
that ``carve run gateway --engine nginx`` starts (``nginx_engine.py``), and it carries what
the carve gateway adds to every request besides routing:

- ``X-Request-Id`` kept from the client or made, sent upstream and back to the client;
  ``X-Carve-Upstream`` says who answered (the monolith when a service's call fell back);
- the W3C trace context continued with a new span of the gateway's (a new trace when the
  client sent none or an invalid one);
- a failed service call (no connection, a timeout, a 5xx) answered by the monolith for the
  requests carve falls back with: reads, and PUT and DELETE when the route says
  ``idempotent_writes``; other methods go to a group with the service alone;
- one line per request in an access log that carve reads for its metrics and the
  canaries' SLO windows (``access_log.py``);
- what NGINX cannot do the carve way goes to carve's own gateway on a loopback port: the
  admin API, shadow routes (mirrored and compared), retired routes and refused paths (with
  carve's problem bodies), each counted by carve itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migration.gateway.body import REPLAYABLE_LIMIT
from migration.gateway.exports.nginx import groups, split_block, upstream_block
from migration.gateway.exports.spec import ExportInput, Upstream
from migration.gateway.gateway_settings import GATEWAY, MONOLITH
from migration.gateway.routes import Route, RouteMode, RouteTable
from migration.gateway.traffic_metrics import UNROUTED
from migration.gateway.upstream import Timeouts
from migration.runtime.errors import ConfigError

log = logging.getLogger("carve.gateway")

# The access log's fields, tab-separated (see access_log.py, which reads them).
LOG_FORMAT = ("$carve_route\\t$carve_upstream\\t$status\\t$request_time\\t$carve_fallback"
              "\\t$upstream_status\\t$upstream_response_time")
# Methods a failing service hands to the monolith: reads always, PUT and DELETE when the
# route allows it (FallbackOptions).
_READS = ("GET", "HEAD", "OPTIONS")
_IDEMPOTENT_WRITES = ("PUT", "DELETE")
# carve's own gateway as NGINX's upstream: a name groups() never gives a service ("-").
CARVE_GROUP = "carve-gateway"
# The status a refused path is turned into inside NGINX, to hand it to carve's gateway
# (error_page): never sent to a client.
_REFUSED = 418
# The status a request whose body streams is turned into on a route that falls back, to
# send it on from a location that does not read the body first (never sent to a client).
_STREAMED = 419
_STREAMED_LOCATION = "@carve_streamed"


@dataclass(frozen=True)
class EngineSetup:
    """Where the engine listens, its folder, and what carve's own gateway is at."""

    host: str
    port: int
    folder: Path
    carve_port: int  # carve's own gateway, on 127.0.0.1
    upstreams: Mapping[str, Upstream]
    # Each upstream's address as NGINX is to use and report it (ip:port, resolved when the
    # configuration is written); a service missing here could not be resolved.
    addresses: Mapping[str, str]
    workers: int = 1
    open_files: int = 4096  # what each worker may hold (connections, both sides)
    timeouts: Timeouts = Timeouts()
    max_body_mb: int = 256
    flush_ms: int = 250  # how late the access log may reach carve

    @property
    def access_log(self) -> Path:
        """The log carve reads."""
        return self.folder / "access.log"

    @property
    def temp_dirs(self) -> dict[str, Path]:
        """Where NGINX keeps each kind of temporary file (all of them in the folder, so
        that NGINX needs no write access elsewhere)."""
        return {kind: self.folder / "temp" / kind
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}

    @property
    def pid_file(self) -> Path:
        """The master's pid, as NGINX writes it."""
        return self.folder / "nginx.pid"

    @property
    def error_log(self) -> Path:
        """NGINX's own complaints."""
        return self.folder / "error.log"


def render_engine(table: RouteTable, setup: EngineSetup) -> str:
    """The whole ``nginx.conf``; the same table and setup always give the same text.

    A route NGINX cannot carry the carve way (a service with no URL or no address, a
    sticky header or cookie NGINX cannot read) goes to carve's own gateway, as do the
    admin API, shadow and retired routes and the refused paths.
    """
    spec = ExportInput(table, setup.upstreams, setup.port, setup.max_body_mb)
    names = groups(spec)
    monolith = setup.addresses[MONOLITH]
    carried = {index: choice for index, route in enumerate(table.routes)
               if (choice := _choice(index, route, setup, names)) is not None}
    # The services NGINX sends to: those of the service and canary routes it carries (a
    # monolith, shadow or retired route may still name one, with no address here).
    used = sorted({route.service for index, route in enumerate(table.routes)
                   if carried.get(index) and route.service})
    answers = _answers(setup, used, names)
    out = [f"# carve run gateway --engine nginx: routes version {table.version}",
           f"worker_processes {setup.workers};", f"worker_rlimit_nofile {setup.open_files};",
           # The maps' regular expressions compiled to machine code (NGINX's default is
           # PCRE's interpreter): 62.6k → 53.7k instructions per proxied GET (callgrind).
           "pcre_jit on;",
           f"pid {setup.pid_file};", f"error_log {setup.error_log} warn;",
           f"events {{ worker_connections {max(64, setup.open_files - 64)}; }}",
           # (before any map: room for the longest key, a group and two addresses)
           "http {", f"map_hash_bucket_size {_bucket_size(answers)};",
           "access_log off;", "server_tokens off;",
           *(f"{kind}_temp_path {path};" for kind, path in setup.temp_dirs.items()),
           f"log_format carve escape=none '{LOG_FORMAT}';", *_REQUEST_MAPS,
           *_who_answered(answers), ""]
    out += upstream_block(CARVE_GROUP, [f"server 127.0.0.1:{setup.carve_port}"])
    out += upstream_block(names[MONOLITH], [f"server {monolith}"])
    for name in used:
        service = setup.addresses[name]
        # With the monolith as backup: NGINX's passive health check is the breaker.
        out += upstream_block(names[name], [f"server {service} max_fails=3 fail_timeout=10s",
                                    # never marked down itself: with the service marked
                                    # down, the group would have no server left
                                    f"server {monolith} backup max_fails=0"])
        out += upstream_block(_alone(names[name]), [f"server {service}"])
    for lines in carried.values():
        out += lines
    out += ["server {", *_server(setup, names)]
    if table.get("/") is None:
        out += ["location / {", *_proxied(f"http://{names[MONOLITH]}"), "}"]
    for index, route in enumerate(table.routes):
        out += _locations(index, route, index in carried, setup, names)
    out += ["}", "}", ""]
    return "\n".join(out)


def _server(setup: EngineSetup, names: dict[str, str]) -> list[str]:
    """The server's own directives: what every request gets, whatever its route."""
    listen = f"{setup.host}:{setup.port}" if ":" not in setup.host else \
        f"[{setup.host}]:{setup.port}"
    timeouts = setup.timeouts
    return [f"listen {listen} backlog=2048{' reuseport' if setup.workers > 1 else ''};",
            f"client_max_body_size {setup.max_body_mb}m;",
            # Headers with "_" pass, as through carve's own data plane.
            "underscores_in_headers on;",
            f"access_log {setup.access_log} carve buffer=64k flush={setup.flush_ms}ms;",
            "proxy_http_version 1.1;", 'proxy_set_header Connection "";',
            "proxy_set_header Host $carve_host;",
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_set_header X-Forwarded-Proto $scheme;",
            "proxy_set_header X-Forwarded-Host $http_host;",
            "proxy_set_header X-Request-Id $carve_request_id;",
            "proxy_set_header traceparent $carve_traceparent;",
            "proxy_hide_header X-Request-Id;", "proxy_hide_header X-Carve-Upstream;",
            f"proxy_connect_timeout {_ms(timeouts.connect)};",
            f"proxy_read_timeout {_ms(timeouts.read)};",
            f"proxy_send_timeout {_ms(timeouts.read)};",
            "proxy_next_upstream error timeout http_500 http_502 http_503 http_504;",
            "proxy_next_upstream_tries 2;",
            # Bodies stream through, but on a route that falls back: there a body of up to
            # 64 KiB (REPLAYABLE_LIMIT) is read whole first, in memory, so that NGINX can
            # send it again to the monolith, as carve's own data plane does; a longer or
            # chunked one goes on from _STREAMED_LOCATION, streaming, and is not replayed.
            "proxy_request_buffering off;", f"error_page {_STREAMED} = {_STREAMED_LOCATION};",
            # A slow client is written to as the upstream answers (flow control), never
            # through a temporary file.
            "proxy_max_temp_file_size 0;",
            "set $carve_route " + UNROUTED + ";", f"set $carve_upstream {MONOLITH};",
            f"set $carve_host {setup.upstreams[MONOLITH].authority};",
            f"set $carve_group {names[MONOLITH]};",
            # A path carve refuses (an encoded slash, a dot segment…) gets carve's 400.
            f"error_page {_REFUSED} = @carve;", f"if ($carve_refused) {{ return {_REFUSED}; }}",
            # A redirect to an upstream's own address comes back through the gateway, as a
            # path (absolute_redirect would write NGINX's own address in front).
            *(f"proxy_redirect http://{authority}/ /;"
              for upstream in setup.upstreams.values() for authority in _spellings(upstream)),
            "absolute_redirect off;",
            # What NGINX answers itself gets carve's problem bodies: both the service and
            # the monolith failed, or the body is too large.
            "error_page 502 = @carve_bad_gateway;", "error_page 504 = @carve_timeout;",
            "error_page 413 = @carve_too_large;", "error_page 400 /_carve/malformed;",
            *_to_carve("@carve"), *_to_carve("= /_carve"), *_to_carve("/_carve/"),
            f"location {_STREAMED_LOCATION} {{",
            *("    " + line for line in _proxied("http://$carve_group")), "}",
            *_problem("@carve_bad_gateway", 502, "gateway.upstream_unavailable",
                      "Upstream failed", "no upstream answered", "$carve_upstream"),
            *_problem("@carve_timeout", 504, "gateway.upstream_timeout", "Upstream failed",
                      "the upstream did not answer in time", "$carve_upstream"),
            *_problem("@carve_too_large", 413, "gateway.body_too_large",
                      "Request body refused", "the request body is larger than "
                      f"{setup.max_body_mb * 1024 * 1024} bytes", GATEWAY),
            # A request NGINX cannot parse (or one climbing above the root): as carve's own
            # server answers it. (A URI, not a named location: NGINX cannot go to one for
            # a request it could not parse; in the admin API's space, never routed.)
            "location = /_carve/malformed {", "    internal;", "    default_type text/plain;",
            f"    add_header X-Carve-Upstream {GATEWAY} always;",
            "    return 400 'malformed HTTP request';", "}"]


def at_most(limit: int) -> str:
    """A regular expression for the decimal numbers from 0 to ``limit``: fewer digits, or as
    many with a smaller digit after a common beginning, or ``limit`` itself."""
    digits = str(limit)
    shorter = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    smaller = [f"{digits[:i]}[0-{int(d) - 1}]" + (f"[0-9]{{{rest}}}" if rest else "")
               for i, d in enumerate(digits) if d != "0"
               for rest in [len(digits) - i - 1]]
    return f"({'|'.join([*shorter, *smaller, digits])})"


# The request id, the trace context, the refused paths and the reason a call was passed
# on, as carve decides them. Each regular expression is anchored at the start (PCRE would
# otherwise try every offset).
_REQUEST_MAPS = [
    'map $http_x_request_id $carve_request_id { "" $request_id; default $http_x_request_id; }',
    # The trace context continued with the gateway's span, 64 random bits of the request's
    # 128 ($request_id, read with the client's header by one regex); a new trace, the
    # request's 128 bits, when the client sent none or an invalid one.
    'map "$http_traceparent $request_id" $carve_traceparent {',
    '    "~^([0-9a-f]{2}-[0-9a-f]{32}-)[0-9a-f]{16}(-[0-9a-f]{2}) [0-9a-f]{16}([0-9a-f]{16})$"'
    ' "$1$3$2";',
    '    "~^.* ([0-9a-f]{16})([0-9a-f]{16})$" "00-$1$2-$2-01";', "}",
    # Whether a request's body streams through (longer than carve's own data plane buffers
    # to be able to send it again, or of unknown length: chunked) or is read whole first,
    # so that a fallback can replay it (see _STREAMED).
    'map "$content_length|$http_transfer_encoding" $carve_streamed {', '    "|" "";',
    f'    "~^{at_most(REPLAYABLE_LIMIT)}[|]$" "";', "    default 1;", "}",
    # As paths.refusal_reason: an encoded slash or backslash, a backslash or NUL, a dot
    # segment (also percent-encoded) — in the path, not the query.
    "map $request_uri $carve_refused {",
    '    "~*^[^?]*(%2f|%5c|%00|\\x5c|#|/(\\.|%2e){1,2}(/|\\?|$))" 1;',
    '    default "";', "}",
    # Why the monolith answered a request meant for the service, when the first call was
    # passed on (see _who_answered), as carve's own data plane says it: "a, b" in
    # $upstream_status when it was passed on to the next server, "a : b" across an error
    # page; no header time ("-") when no answer came at all (no connection, the connection
    # closed, a timeout).
    'map "$upstream_status|$upstream_header_time" $carve_failed_call {',
    '    "~^502 *[,:][^|]*[|]-" gateway.upstream_unavailable;',
    '    "~^504 *[,:][^|]*[|]-" gateway.upstream_timeout;',
    '    "~^(?<carve_failed>[0-9]+) *[,:]" status_$carve_failed;', '    default "";', "}",
]


def _who_answered(answers: dict[str, str]) -> list[str]:
    """``$carve_fallback``, why the monolith answered a request meant for a service (""
    when it did not), and ``$carve_answered``, who answered; see ``_answers``."""
    empty = '""'  # NGINX's empty string
    return ['map "$carve_group $upstream_addr" $carve_fallback {',
            *(f'    "{key}" {reason or empty};'
              for key, reason in answers.items()),
            "    default $carve_failed_call;", "}",
            'map $carve_fallback $carve_answered { "" $carve_upstream; default monolith; }']


def _answers(setup: EngineSetup, used: list[str], names: dict[str, str]) -> dict[str, str]:
    """The fallback reason of what NGINX tried, keyed by the group and the addresses it
    tried (``$carve_group $upstream_addr``: map keys compare without case, and group names
    differ without it), found in the map's hash without a regex. The group is the one the
    location set (``$proxy_host``, the proxy's, is gone once an error page is served, and
    a 502 whose reason is logged after it is one):

    - a group's own first server, alone: nothing (the common case);
    - a service's group that went straight to its backup (the service marked down after
      its failures, NGINX's breaker): the monolith's address first (then the group's name,
      when the monolith failed too and no server was left). A service at the monolith's
      own address cannot be told from it, and counts as the service;
    - anything else, a call passed on to the next server, is ``$carve_failed_call``'s.
    """
    monolith = setup.addresses[MONOLITH]
    answers = {f"{names[MONOLITH]} {monolith}": ""}
    for name in used:
        group, address = names[name], setup.addresses[name]
        answers |= {f"{group} {address}": "", f"{_alone(group)} {address}": ""}
        if address != monolith:
            answers |= {f"{group} {monolith}": "breaker_open",
                        f"{group} {monolith}, {group}": "breaker_open"}
    return answers


def _bucket_size(answers: dict[str, str]) -> int:
    """NGINX's map hash bucket (a power of two) with room for the longest key, one of
    ``_answers`` (64, NGINX's default, is too small for two long names)."""
    longest = max(map(len, answers))
    size = 64
    while size < longest + 32:
        size *= 2
    return size


def _spellings(upstream: Upstream) -> list[str]:
    """How a URL of this upstream is written: with its port, and without it when it is
    the default one."""
    return [upstream.authority, *([upstream.authority.rpartition(":")[0]]
                                  if upstream.port == 80 else [])]


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def _alone(group: str) -> str:
    # "-" is never in a group's own name (groups() spells names with [a-z0-9_]).
    return group + "-alone"


def _falls_back(route: Route) -> tuple[str, ...]:
    return _READS + (_IDEMPOTENT_WRITES if route.fallback.idempotent_writes else ())


def _choice(index: int, route: Route, setup: EngineSetup,
            names: dict[str, str]) -> list[str] | None:
    """The maps a service or canary route picks its group by: the side (a canary's sticky
    split), then the method (whether a failed call may fall back). ``[]`` for a route
    that needs none; ``None`` for one NGINX cannot carry (carve's own gateway does)."""
    if route.mode not in (RouteMode.SERVICE, RouteMode.CANARY):
        return []
    if route.service not in setup.addresses or route.service not in setup.upstreams:
        return None  # no URL, or no address: carve's gateway says so as it always does
    service = setup.upstreams[route.service]
    group, alone = names[service.name], _alone(names[service.name])
    # Exact keys, found in the map's hash: the map compares without case, and NGINX takes
    # only upper-case methods (any other is its 400), so these match what a regex would.
    by_method = (f"{{ {' '.join(f'{method} {group};' for method in _falls_back(route))} "
                 f"default {alone}; }}")
    if route.mode is RouteMode.SERVICE:
        return [f"map $request_method $carve_group_{index} {by_method}", ""]
    try:
        lines = split_block(index, route, f"carve_side_{index}", "service", "monolith")
    except ConfigError as exc:  # a sticky header or cookie NGINX cannot read
        log.warning("--engine nginx: %s; carve's own gateway serves %s", exc, route.prefix)
        return None
    monolith = setup.upstreams[MONOLITH]
    lines += [f"map $request_method $carve_by_method_{index} {by_method}",
              f"map $carve_side_{index} $carve_group_{index} {{ service $carve_by_method_{index}; "
              f"default {names[MONOLITH]}; }}",
              f"map $carve_side_{index} $carve_service_{index} {{ service {service.name}; "
              f"default {MONOLITH}; }}",
              f"map $carve_side_{index} $carve_host_{index} {{ service {service.authority}; "
              f"default {monolith.authority}; }}", ""]
    return lines


def _locations(index: int, route: Route, carried: bool, setup: EngineSetup,
               names: dict[str, str]) -> list[str]:
    # "= /p" and "/p/": NGINX prefixes are not segment-bound, these two together are. A
    # route on "/" is the catch-all.
    selectors = ["/"] if route.prefix == "/" else [f"= {route.prefix}", f"{route.prefix}/"]
    mode = route.mode
    if mode is RouteMode.SHADOW or mode is RouteMode.RETIRED or not carried:
        # Mirrored and compared, answered 410, or a route NGINX cannot carry: carve's own
        # gateway, which counts them itself.
        body = _carve_body()
    else:
        body = [f"set $carve_route {route.prefix};"]
        if mode is RouteMode.MONOLITH:
            body += _proxied(f"http://{names[MONOLITH]}")
        else:
            if mode is RouteMode.SERVICE:
                service = setup.upstreams[route.service or ""]
                body += [f"set $carve_upstream {service.name};",
                         f"set $carve_host {service.authority};"]
            else:  # a canary
                body += [f"set $carve_upstream $carve_service_{index};",
                         f"set $carve_host $carve_host_{index};"]
            body += [f"set $carve_group $carve_group_{index};", "proxy_request_buffering on;",
                     f"client_body_buffer_size {REPLAYABLE_LIMIT};",  # in memory, whole
                     # A 502, 504 or 413 past the turn to _STREAMED_LOCATION still gets its
                     # error page (NGINX takes one error page per request without it).
                     "recursive_error_pages on;",
                     f"if ($carve_streamed) {{ return {_STREAMED}; }}",
                     *_proxied("http://$carve_group")]
    lines = [f"# {route.prefix}: {mode.value}"]
    for selector in selectors:
        lines += [f"location {selector} {{", *("    " + line for line in body), "}"]
    return lines


def _proxied(target: str) -> list[str]:
    # add_header in a location replaces the server's: both are given here.
    return [f"proxy_pass {target};", "add_header X-Carve-Upstream $carve_answered always;",
            "add_header X-Request-Id $carve_request_id always;",
            # Why the monolith answered for the service (empty, so not sent, when it did not).
            "add_header X-Carve-Fallback $carve_fallback always;"]


def _carve_body() -> list[str]:
    # The client's own headers go on as they came (a location's proxy_set_header replaces
    # all of the server's): carve's gateway reads them itself.
    return ["access_log off;", f"proxy_pass http://{CARVE_GROUP};",
            "proxy_set_header Host $http_host;", 'proxy_set_header Connection "";',
            "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "proxy_pass_header X-Request-Id;", "proxy_pass_header X-Carve-Upstream;"]


def _to_carve(selector: str) -> list[str]:
    return [f"location {selector} {{", *("    " + line for line in _carve_body()), "}"]


def _problem(name: str, status: int, code: str, title: str, detail: str,
             upstream: str) -> list[str]:
    body = (f'{{"type":"urn:carve:problem:{code}","title":"{title}",'
            f'"status":{status},"detail":"{detail}","code":"{code}"}}')
    return [f"location {name} {{", "    default_type application/problem+json;",
            f"    add_header X-Carve-Upstream {upstream} always;",
            "    add_header X-Request-Id $carve_request_id always;",
            f"    return {status} '{body}';", "}"]
