"""NGINX as the gateway's data plane, steered by carve: ``carve run gateway --engine nginx``.

carve's own data plane spends about twice NGINX's CPU on a proxied request (ADR 0017);
with this engine NGINX carries the routed traffic and carve is its control plane, as
Envoy's is to a service mesh (docs/adr/0018-nginx-engine.md):

- carve's gateway runs as ever, on a loopback port, for what NGINX hands it (the admin
  API, shadow and retired routes, refused paths: ``nginx_config.py``);
- NGINX is started on the gateway's port with the table rendered, and reloaded (SIGHUP:
  new workers take the new table, the old ones finish their requests) whenever the table
  changes — a ``carve route`` command, another gateway's change through the store, the SLO
  guard's rollback; a configuration NGINX refuses is logged and the running one kept;
- its access log is read four times a second into carve's metrics and canary windows;
- it stops with carve (SIGQUIT: requests in flight finish), and with carve's process even
  when that is killed (the kernel's parent-death signal); if NGINX dies, carve stops with
  an error rather than serve half a gateway.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path

from migration.gateway.access_log import AccessLog
from migration.gateway.engine_state import EngineState
from migration.gateway.exports.spec import Upstream
from migration.gateway.gateway_settings import MONOLITH, GatewaySettings
from migration.gateway.http_server import event_loop_runner, serve
from migration.gateway.nginx_config import EngineSetup, render_engine
from migration.gateway.proxy import Gateway
from migration.gateway.routes import RouteMode, RouteTable
from migration.runtime.errors import CarveError, ConfigError
from migration.runtime.serving import check_can_listen

log = logging.getLogger("carve.gateway")
STEER_SECONDS = 0.25  # how often the log is read and the table looked at
START_SECONDS = 10.0  # how long NGINX gets to listen
STOP_SECONDS = 15.0  # how long NGINX gets to finish its requests on a stop
RETRY_SECONDS = 5.0  # how soon a table NGINX could not take is tried again
RELOAD_SECONDS = 10.0  # how long NGINX gets to take a new table on a reload
SETTLE_SECONDS = 0.02  # how often a reload's old workers are looked at until they stop
WORKER_TITLE = b"nginx: worker process"  # ``... is shutting down`` once it stops accepting
PROC = Path("/proc")  # where Linux says what each process is
_PR_SET_PDEATHSIG = 1


class EngineFailed(CarveError):
    """NGINX would not start, or died while serving."""

    exit_code = 1


# Where NGINX is installed when not on PATH (sbin folders are often not on a user's).
USUAL_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def find_nginx(given: str | None = None) -> str:
    """The NGINX binary: ``given``, else on PATH or in one of the ``USUAL_PLACES``."""
    found = shutil.which(given) if given else (
        shutil.which("nginx") or next((p for p in USUAL_PLACES if os.access(p, os.X_OK)),
                                      None))
    if not found:
        what = f"no NGINX at {given}" if given else "NGINX is not installed"
        raise ConfigError(f"--engine nginx: {what} (Debian and Ubuntu: apt-get install nginx; "
                          "or give --nginx PATH)")
    return found


def engine_upstreams(settings: GatewaySettings) -> dict[str, Upstream]:
    """Each upstream as NGINX addresses it (``http://host:port``, no base path)."""
    return {name: Upstream.from_url(name, url) for name, url in settings.upstreams().items()}


def resolve(upstreams: Mapping[str, Upstream]) -> dict[str, str]:
    """Each upstream's address as ``ip:port``, which NGINX is given and reports.

    Resolved by carve whenever the configuration is written, so that a service's answer is
    told from the monolith's by address, and one name is one server (NGINX would make a
    server of each address a name has). Of a name's addresses, the first that accepts a
    connection, as carve's own data plane connects (``localhost`` may give ``::1`` first to
    a service listening on 127.0.0.1 only); the first one when none does yet. A service
    that does not resolve is left out (its routes go to carve's own gateway, and the
    engine says so); a monolith that does not resolve is an error.
    """
    addresses = {}
    for name, upstream in upstreams.items():
        try:
            found = socket.getaddrinfo(upstream.host, upstream.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            if name == MONOLITH:
                raise EngineFailed(f"the monolith's host {upstream.host!r} does not resolve: "
                                   f"{exc}") from exc
            continue
        candidates = [(family, address[0]) for family, _, _, _, address in found]
        if len(candidates) > 1:
            candidates.sort(key=lambda c: not _listening(c[1], upstream.port, 0.5))
        family, ip = candidates[0]
        addresses[name] = f"[{ip}]:{upstream.port}" if family == socket.AF_INET6 \
            else f"{ip}:{upstream.port}"
    return addresses


def unresolved(table: RouteTable, setup: EngineSetup) -> list[str]:
    """The services routes send to that have a URL here but no address now."""
    return sorted({route.service for route in table.routes
                   if route.mode in (RouteMode.SERVICE, RouteMode.CANARY)
                   and route.service in setup.upstreams
                   and route.service not in setup.addresses})


@dataclass(frozen=True)
class PendingReload:
    """A table NGINX was told to take (SIGHUP) and is not yet seen running.

    NGINX's master starts the new workers at once and tells the old ones to stop accepting
    about 100 ms later: until then a new connection may still meet the old table.
    """

    table: RouteTable
    old: frozenset[int]  # the workers before the signal: it runs once none of them accepts
    signalled: float  # when (time.monotonic)


class NginxEngine:
    """One NGINX master process, its folder and its configuration."""

    def __init__(self, setup: EngineSetup, binary: str, state: EngineState | None = None) -> None:
        self.setup = setup  # with the addresses of the configuration NGINX runs
        self.binary = binary
        self.config = setup.folder / "nginx.conf"
        self.process: subprocess.Popen[bytes] | None = None
        self._text = ""
        # The routes version NGINX runs and why a later one is not, for the admin API.
        self.state = state or EngineState("nginx")
        self.pending: PendingReload | None = None
        self._watch = False  # whether its workers can be watched (Linux's /proc, titled)

    def start(self, table: RouteTable) -> None:
        """Write the configuration, have NGINX check it, start it and wait until it listens.

        Called from the thread that will outlive NGINX (the parent-death signal is sent
        when that thread ends).
        """
        check_can_listen(self.setup.host, self.setup.port)
        for path in self.setup.temp_dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        # A folder used before: its log was read then, its errors are not this run's.
        for old in (self.setup.access_log, self.setup.error_log):
            old.unlink(missing_ok=True)
        self.setup, self._text = self.render(table)
        self.config.write_text(self._text)
        self.check(self.config)
        self.state.routes_version = table.version
        self._note_unresolved(table)
        # Its own session: a Ctrl-C or a signal to carve's process group reaches carve,
        # which stops NGINX gracefully, not NGINX's workers directly.
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [self.binary, "-p", str(self.setup.folder), "-c", str(self.config),
             "-g", "daemon off;"], stdin=subprocess.DEVNULL,
            preexec_fn=_dying_with(os.getpid()), start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while not _listening(self.setup.host, self.setup.port):
            if self.exited() is not None:
                raise EngineFailed(f"nginx exited with code {self.process.returncode} at start: "
                                   f"{self.last_error()}")
            if time.monotonic() > deadline:
                self.stop(0)
                raise EngineFailed(f"nginx did not listen on {self.setup.host}:"
                                   f"{self.setup.port} within {START_SECONDS:g}s")
            time.sleep(0.02)
        # The master listens before it has forked its workers; a reload is confirmed by
        # watching them, so they are waited for too (for a second: where they cannot be
        # watched, a reload is taken as done at its signal).
        deadline = time.monotonic() + 1.0
        while not (workers := accepting_workers(self.process.pid)) \
                and self.exited() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        self._watch = bool(workers)
        log.info("nginx (pid %d) serving on http://%s:%d, configuration %s",
                 self.process.pid, self.setup.host, self.setup.port, self.config)

    def apply(self, table: RouteTable) -> bool:
        """Have NGINX take ``table``: reload it when its configuration differs.

        True when NGINX was given it: it runs it once :meth:`settle` says so. False when it
        cannot be given (the monolith's name no longer resolves, NGINX refuses the
        configuration, the folder cannot be written): said in the log and by the health
        check, and NGINX keeps the table it runs.
        """
        try:
            setup, text = self.render(table)
            if text != self._text:
                candidate = self.config.with_name("nginx.conf.new")
                candidate.write_text(text)
                self.check(candidate)
                os.replace(candidate, self.config)
                self._reload(table)
                log.info("nginx reloading with routes version %d", table.version)
            elif self.pending is not None and self._overdue(self.pending):
                self._reload(table)  # a master that did not act on the last signal: again
            elif self.pending is not None:  # the same configuration, a later version
                self.pending = replace(self.pending, table=table)
        except Exception as exc:  # noqa: BLE001 - the running table is kept whatever failed
            problem = f"routes version {table.version} not applied: {exc}"
            if problem != self.state.problem:  # (said once, not at every retry)
                log.error("%s (nginx keeps version %d)", problem, self.state.routes_version)
            self.state.problem = problem
            return False
        self.setup, self._text = setup, text
        if self.pending is None:
            self._runs(table)
        else:
            self.settle()
        return True

    def _reload(self, table: RouteTable) -> None:
        """SIGHUP, and the reload to be confirmed (unless the workers cannot be watched:
        then it counts as done at the signal)."""
        # A reload not yet confirmed: its old workers are still to be seen stopping too.
        old = set(self.pending.old) if self.pending is not None else set()
        if self._watch and self.process is not None:
            old |= accepting_workers(self.process.pid) or set()
        self.signal(signal.SIGHUP)
        self.pending = PendingReload(table, frozenset(old), time.monotonic()) if old else None

    def settle(self) -> bool:
        """Whether NGINX runs the latest table it was given.

        A reload is over once none of the workers from before its signal accepts
        connections and a new one does; a master that has not got there ``RELOAD_SECONDS``
        after the signal is said in the log and by the health check (the next try signals
        again).
        """
        pending, process = self.pending, self.process
        if pending is None or process is None:  # (a reload is pending only once it runs)
            return True
        if any(_accepts(pid) for pid in pending.old) \
                or not (accepting_workers(process.pid) or set()) - pending.old:
            if self._overdue(pending):
                problem = (f"routes version {pending.table.version} not applied: nginx did "
                           f"not take it within {RELOAD_SECONDS:g}s of its reload signal "
                           f"({self.last_error()})")
                if problem != self.state.problem:
                    log.error("%s (nginx runs version %d)", problem, self.state.routes_version)
                self.state.problem = problem
            return False
        self.pending = None
        self._runs(pending.table)
        log.info("nginx runs routes version %d", pending.table.version)
        return True

    @staticmethod
    def _overdue(pending: PendingReload) -> bool:
        return time.monotonic() - pending.signalled > RELOAD_SECONDS

    def _runs(self, table: RouteTable) -> None:
        """NGINX runs ``table``: said by the health check (with any unresolved service)."""
        self.state.routes_version, self.state.problem = table.version, None
        self._note_unresolved(table)

    def _note_unresolved(self, table: RouteTable) -> None:
        """A service whose name did not resolve: its routes go through carve's own gateway
        until it does (the engine tries again, and the health check says so meanwhile)."""
        missing = unresolved(table, self.setup)
        if missing:
            problem = (f"service {', '.join(missing)} does not resolve: its routes go "
                       "through carve's own gateway")
            if problem != self.state.problem:
                log.warning("--engine nginx: %s", problem)
            self.state.problem = problem

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the master (SIGUSR1: reopen the logs)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def exited(self) -> int | None:
        """The master's exit code once it has ended (its workers then stopped too)."""
        if self.process is None:
            return None
        code = self.process.poll()
        if code is not None:
            # Workers outlive a master that was killed: none may serve on without carve.
            self._kill_group()
        return code

    def stop(self, seconds: float = STOP_SECONDS) -> None:
        """Graceful stop (SIGQUIT), then a kill of every NGINX process past ``seconds``."""
        process = self.process
        if process is None or process.poll() is not None:
            self._kill_group()
            return
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            log.warning("nginx did not stop within %gs: killed", seconds)
            self._kill_group()
            process.wait()
        self._kill_group()

    def last_error(self) -> str:
        """The last line NGINX wrote to its error log."""
        with suppress(OSError):
            lines = self.setup.error_log.read_text(errors="replace").strip().splitlines()
            if lines:
                return lines[-1]
        return "(nothing in its error log)"

    def render(self, table: RouteTable) -> tuple[EngineSetup, str]:
        """The setup with addresses resolved now, and the configuration of ``table``."""
        setup = replace(self.setup, addresses=resolve(self.setup.upstreams))
        return setup, render_engine(table, setup)

    def _kill_group(self) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def check(self, config: Path) -> None:
        """Have NGINX test ``config`` (``nginx -t``); its complaint as the error."""
        done = subprocess.run(  # noqa: S603 - our own binary and arguments
            [self.binary, "-t", "-q", "-p", str(self.setup.folder), "-c", str(config),
             "-g", "daemon off;"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            said = [line for line in done.stderr.splitlines() if line.strip()]
            worst = next((line for line in said if "[emerg]" in line), said[0] if said else "")
            raise EngineFailed("nginx refused its configuration: "
                               + (worst.partition("] ")[2] or worst or f"exit {done.returncode}"))


# prctl from the C library, loaded here: a child between fork and exec must not load one.
_LIBC = ctypes.CDLL(None, use_errno=True)


def _dying_with(parent: int) -> Callable[[], None]:
    def die_with_parent() -> None:
        # In the child, before exec: NGINX gets SIGTERM when carve's process ends, killed
        # or not; and if it has ended already (between the fork and here), NGINX never runs.
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent


def accepting_workers(master: int) -> set[int] | None:
    """The NGINX worker processes of ``master`` that accept connections: its children
    titled ``nginx: worker process`` (one that stopped accepting on a reload or a stop
    says ``... is shutting down``). None where there is no ``/proc``."""
    if not PROC.is_dir():
        return None
    return {pid for pid in child_processes(PROC, master) if _accepts(pid)}


def _accepts(pid: int) -> bool:
    """Whether process ``pid`` is an NGINX worker that accepts connections (by its title:
    an ended process has none)."""
    with suppress(OSError):
        return (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[0].strip() == WORKER_TITLE
    return False


def child_processes(proc: Path, parent: int) -> list[int]:
    """``parent``'s child processes: from the kernel's list of its main thread's children
    where it keeps one, else by reading every process's parent."""
    with suppress(OSError, ValueError):
        return [int(pid) for pid in
                (proc / str(parent) / "task" / str(parent) / "children").read_text().split()]
    children = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                # ``pid (name) state ppid ...``: the name may hold spaces and parentheses.
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == parent:
                    children.append(int(entry.name))
    return children


def _listening(host: str, port: int, timeout: float = 0.2) -> bool:
    with suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def serve_with_nginx(gateway: Gateway, settings: GatewaySettings,
                     upstreams: Mapping[str, Upstream], host: str, port: int, workers: int,
                     binary: str, folder: str | None = None) -> None:
    """Run carve's gateway on a loopback port and NGINX on ``host:port`` until a signal.

    ``upstreams``: each as NGINX addresses it (:func:`engine_upstreams`)."""
    runner = event_loop_runner()
    own = folder is None
    place = Path(folder or tempfile.mkdtemp(prefix="carve-nginx-"))
    place.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        place.chmod(0o755)  # NGINX's workers (not root) reopen the log in it
    try:
        with runner:
            runner.run(_serve(gateway, settings, upstreams, host, port, workers, binary,
                              place))
    finally:
        if own:
            shutil.rmtree(place, ignore_errors=True)


async def _serve(gateway: Gateway, settings: GatewaySettings,
                 upstreams: Mapping[str, Upstream], host: str, port: int, workers: int,
                 binary: str, folder: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()  # carve's own server stops once set
    quitting = asyncio.Event()  # a signal: stop NGINX first, then carve
    engines: list[NginxEngine] = []

    def on_signal() -> None:
        if quitting.is_set():  # a second one: stop waiting for requests in flight
            for engine in engines:
                engine.signal(signal.SIGTERM)
        quitting.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    listening: asyncio.Future[int] = loop.create_future()
    server = loop.create_task(serve(gateway, "127.0.0.1", 0, stop=stop,
                                    listening=listening.set_result, direct=gateway.direct))
    await asyncio.wait([listening, server], return_when=asyncio.FIRST_COMPLETED)
    if not listening.done():
        await server  # it failed to start: its error
        return
    setup = EngineSetup(host, port, folder, listening.result(), upstreams, {}, workers,
                        _open_files(), settings.timeouts, settings.max_body_bytes // 1024 ** 2)
    engine = NginxEngine(setup, binary, gateway.engine)
    engines.append(engine)
    reader = AccessLog(setup.access_log, gateway.metrics, gateway.guard.tracker,
                       gateway.current)
    died: int | None = None
    try:
        engine.start(gateway.current.table)
        died = await _steer(engine, reader, gateway, quitting)
    finally:
        await asyncio.to_thread(engine.stop)
        reader.close()
        stop.set()
        await server
    if died is not None:
        raise EngineFailed(f"nginx exited with code {died} while serving: {engine.last_error()}")


async def _steer(engine: NginxEngine, reader: AccessLog, gateway: Gateway,
                 quitting: asyncio.Event) -> int | None:
    """Read the log, reload on a new table, watch NGINX; its exit code if it died.

    While NGINX does not run the table as it should (a table it could not take, a service
    whose name did not resolve), the table is tried again every ``RETRY_SECONDS`` as well
    as whenever it changes.
    """
    loop = asyncio.get_running_loop()
    tried = gateway.current.table
    retry_at = loop.time() + RETRY_SECONDS
    while True:
        with suppress(TimeoutError):
            await asyncio.wait_for(quitting.wait(),
                                   SETTLE_SECONDS if engine.pending else STEER_SECONDS)
        if quitting.is_set():
            return None  # carve was asked to stop: NGINX is stopped gracefully next
        died = engine.exited()
        if died is not None:
            return died
        reader.read()
        reader.rotate_if_large(lambda: engine.signal(signal.SIGUSR1))
        engine.settle()
        table = gateway.current.table
        if table is not tried or (engine.state.problem and loop.time() >= retry_at):
            tried = table
            await asyncio.to_thread(engine.apply, table)
            retry_at = loop.time() + RETRY_SECONDS


def _open_files() -> int:
    """What each NGINX worker may hold open: the system's hard limit, at most 65,536."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
