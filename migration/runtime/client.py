"""The client binding: a contract's methods called over HTTP (the seed's ServiceProxy).

``client(Inventory, "http://127.0.0.1:8001")`` returns an ``Inventory`` whose
methods call the server binding of the same contract. A caller cannot tell it
from the local binding: answers are parsed into the declared return types and
errors come back as the same :class:`ContractError` subclasses. Anything else
(the service down, slow, broken, or its breaker open) is a ``ServiceUnavailable``.
"""

from __future__ import annotations

import inspect
import random
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from contracts.contract import Contract, OperationSpec
from contracts.errors import ContractError, ServiceUnavailable
from migration.runtime.breaker import BreakerOpen, BreakerPolicy, CircuitBreaker
from migration.runtime.discovery import Discovery
from migration.runtime.keepalive import Answer, KeepAliveTransport, header_lines, request_line
from migration.runtime.tracing import client_span, trace_headers

C = TypeVar("C", bound=Contract)
_PROBLEM_KEYS = frozenset({"type", "title", "status", "detail", "code"})
_RETRYABLE_STATUS = frozenset({502, 503, 504})
# A path and query httpx would send exactly as written: unreserved characters, "/", the
# query's "?", "=" and "&", and upper-case escapes (what ``quote`` and ``QueryParams`` give).
_AS_WRITTEN = re.compile(r"(?:[A-Za-z0-9\-._~/?=&]|%[0-9A-F]{2})*").fullmatch
# Answer headers only httpx knows what to do with: a cookie to keep, a coding to undo.
_HTTPX_HEADERS = frozenset({b"set-cookie", b"content-encoding"})


@dataclass(frozen=True)
class Timeouts:
    """How long to wait to connect and for an answer, in seconds."""

    connect: float = 1.0
    read: float = 5.0

    def httpx(self) -> httpx.Timeout:
        return httpx.Timeout(self.read, connect=self.connect)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of idempotent operations: exponential backoff with full jitter."""

    attempts: int = 3
    base_seconds: float = 0.05
    max_seconds: float = 1.0

    def pause(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)))


class _Failure(Exception):
    """One attempt that did not get a usable answer (always becomes ServiceUnavailable)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class _Operation:
    """How one operation's arguments become a request, worked out once per contract."""

    def __init__(self, contract: type[Contract], spec: OperationSpec) -> None:
        self.path = contract.prefix() + spec.path
        self.arguments = tuple((param.name, param.location, _adapter(param.annotation))
                               for param in spec.parameters)
        self.returns = None if spec.returns is None else _adapter(spec.returns)

    def request(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The request's path, its target (the path and the query) and its JSON body."""
        path, params, body = self.path, {}, None
        for name, location, adapter in self.arguments:
            value = adapter.dump_python(arguments[name], mode="json")
            if location == "path":
                path = path.replace("{" + name + "}", quote(str(value), safe=""))
            elif location == "body":
                body = value
            elif value is not None:
                params[name] = value
        # Joined to the base URL as one URL for httpx to parse, not a path to join and then
        # a query to merge into it (three parses); the query is encoded by httpx as before.
        query = f"?{httpx.QueryParams(params)}" if params else ""
        return {"path": path, "target": path + query, "json": body}


class RemoteCall:
    """Makes the HTTP calls of one contract: breaker, retries, trace, error mapping."""

    def __init__(
        self, contract: type[Contract], base_url: str, timeouts: Timeouts,
        retries: RetryPolicy, breaker: CircuitBreaker, transport: httpx.BaseTransport | None,
    ) -> None:
        self.contract = contract
        self.base_url = base_url
        self.retries = retries
        self.breaker = breaker
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self.http = httpx.Client(
            base_url=base_url, timeout=timeouts.httpx(), limits=limits,
            transport=transport or KeepAliveTransport(limits),
        )
        self._operations = {spec.name: _Operation(contract, spec)
                            for spec in contract.operations()}
        self._direct = _Direct.for_client(self.http, base_url)

    def call(self, spec: OperationSpec, arguments: dict[str, Any]) -> Any:
        """Call one operation with bound arguments; return its parsed result."""
        request = self._operations[spec.name].request(arguments)
        attempts = self.retries.attempts if spec.idempotent else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(spec, request)
            except _Failure as failure:
                if not failure.retryable or attempt == attempts:
                    raise self._unavailable(spec, str(failure)) from None
                time.sleep(self.retries.pause(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt(self, spec: OperationSpec, request: dict[str, Any]) -> Any:
        try:
            self.breaker.acquire()
        except BreakerOpen as exc:
            raise _Failure(str(exc), retryable=False) from None
        started, failed, generation = time.monotonic(), True, self.breaker.generation
        try:
            with client_span(f"{self.contract.name}.{spec.name}", spec.method, request["path"]):
                response = self._exchange(spec.method, request)
            failed = response.status_code >= 500
            return self._answer(spec, response)
        except httpx.TimeoutException as exc:
            raise _Failure(f"no answer in time ({type(exc).__name__})", retryable=True) from None
        except httpx.TransportError as exc:
            raise _Failure(f"cannot connect ({type(exc).__name__}: {exc})",
                           retryable=True) from None
        finally:
            self.breaker.record(failed=failed, seconds=time.monotonic() - started,
                                generation=generation)

    def _exchange(self, method: str, request: dict[str, Any]) -> httpx.Response | _Answered:
        """One request, read to its end: written straight to the keep-alive pool if it can be.

        A request without a body, to a service reached through the binding's own
        :class:`KeepAliveTransport` and with no cookie to send, is written by
        :class:`_Direct` with the bytes httpx would send; a 2xx answer that httpx would
        leave as it is (no cookie, no content coding) is used as it came. Anything else
        takes, or continues on, the httpx way.
        """
        url, body, trace = self.base_url + request["target"], request["json"], trace_headers()
        direct = self._direct
        if direct is None or body is not None or self.http.cookies:
            return self._through_httpx(method, url, body, trace)
        answer = direct.send(method, request["target"], trace)
        if answer is None:
            return self._through_httpx(method, url, body, trace)
        if 200 <= answer.status < 300 and not any(
                name.lower() in _HTTPX_HEADERS for name, _ in answer.headers):
            return _Answered(answer.status, answer.content)
        sent = self.http.build_request(method, url, json=body, headers=trace)
        return self._received(sent, answer.response(sent))

    def _through_httpx(self, method: str, url: str, body: Any,
                       trace: dict[str, str]) -> httpx.Response:
        """The request built by httpx.Client, sent to the transport it would use for it.

        The request is built by the client (its default headers, cookies and timeouts) and
        goes to the transport it would use (its pool, a proxy named by the environment, or
        the one given), without the layers of ``Client.send`` this binding never uses (auth,
        redirects, event hooks) or its log line; answer cookies are kept as it keeps them.
        """
        request = self.http.build_request(method, url, json=body, headers=trace)
        response = self.http._transport_for_url(request.url).handle_request(request)
        return self._received(request, response)

    def _received(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        response.request = request
        try:
            response.read()
        finally:
            response.close()
        if "set-cookie" in response.headers:
            self.http.cookies.extract_cookies(response)
        return response

    def _answer(self, spec: OperationSpec, response: httpx.Response | _Answered) -> Any:
        if response.is_success:
            returns = self._operations[spec.name].returns
            if returns is None or response.status_code == 204:
                return None
            try:
                return returns.validate_json(response.content)
            except ValidationError as exc:
                raise _Failure(f"answer does not match the contract: {exc.errors()[0]['msg']}",
                               retryable=False) from None
        raise self._error(response)

    def _error(self, response: httpx.Response | _Answered) -> Exception:
        assert isinstance(response, httpx.Response)  # an _Answered is a success
        try:
            body = response.json()
        except ValueError:
            body = None
        code = body.get("code") if isinstance(body, dict) else None
        error_class = ContractError.for_code(code) if isinstance(code, str) else None
        if error_class is not None and error_class is not ServiceUnavailable:
            extra = {k: v for k, v in body.items() if k not in _PROBLEM_KEYS}
            return error_class(str(body.get("detail") or ""), **extra)
        described = f"{code}: {body.get('detail')}" if code else "not a problem body"
        return _Failure(f"answered {response.status_code} ({described})",
                        retryable=response.status_code in _RETRYABLE_STATUS)

    def _unavailable(self, spec: OperationSpec, reason: str) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"{self.contract.name} service at {self.base_url} could not answer "
            f"{spec.name}: {reason}",
            service=self.contract.name, operation=spec.name, breaker=self.breaker.state.value,
        )

    def close(self) -> None:
        self.http.close()


class _Answered:
    """A 2xx answer as it came: its status and body, all the binding reads of it."""

    __slots__ = ("status_code", "content")
    is_success = True

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code, self.content = status_code, content


class _Direct:
    """Bodiless requests written as httpx would write them, straight to the keep-alive pool.

    httpx builds a URL, headers, a request and a response object for each call, which
    cost the client binding more than everything else it does. For a base URL httpx
    sends as written, to a host the client's own :class:`KeepAliveTransport` serves (no
    proxy mounted for it), a request without a body is the client's header lines for
    its method (taken once from ``build_request``, so the same headers in the same
    order), the trace headers after them, as ``build_request`` puts them, and the path
    and query as written when httpx would not rewrite them (else: None, the httpx way).
    """

    def __init__(self, http: httpx.Client, transport: KeepAliveTransport,
                 base: httpx.URL, prefix: str) -> None:
        self._http, self._transport, self._prefix = http, transport, prefix
        self._address = (base.host, base.port or 80)
        self._root = str(base) + "/"
        self._timeouts = http.timeout.as_dict()
        self._heads: dict[str, tuple[bytes, frozenset[bytes]]] = {}

    @classmethod
    def for_client(cls, http: httpx.Client, base_url: str) -> _Direct | None:
        """The direct way for ``http``'s calls to ``base_url``, if they can take it."""
        base = httpx.URL(base_url)
        transport = http._transport_for_url(base)
        if (not isinstance(transport, KeepAliveTransport) or base.scheme != "http"
                or str(base) != base_url or base.userinfo or base.query or base.fragment):
            return None
        prefix = base_url[len(f"http://{base.netloc.decode('ascii')}"):]
        if not _as_written(prefix):
            return None
        return cls(http, transport, base, prefix)

    def send(self, method: str, target: str, trace: dict[str, str]) -> Answer | None:
        """Send ``method target`` with the trace headers; None if httpx would write it otherwise."""
        if not _as_written(target):
            return None
        head, names = self._head(method)
        try:
            extra = [(k.encode("ascii"), v.encode("ascii")) for k, v in trace.items()]
        except UnicodeEncodeError:
            return None
        if any(name.lower() in names for name, _ in extra):
            return None
        message = (request_line(method, (self._prefix + target).encode("ascii")) + head
                   + header_lines(extra) + b"\r\n")
        return self._transport.exchange(self._address, message, self._timeouts,
                                        head_only=method == "HEAD")

    def _head(self, method: str) -> tuple[bytes, frozenset[bytes]]:
        """The client's header lines for a bodiless ``method``, and their names."""
        if method not in self._heads:
            raw = self._http.build_request(method, self._root).headers.raw
            self._heads[method] = (header_lines(raw), frozenset(k.lower() for k, _ in raw))
        return self._heads[method]


def _as_written(target: str) -> bool:
    """Whether httpx would send this path and query unchanged (no dot segment to resolve)."""
    return _AS_WRITTEN(target) is not None and "/." not in target


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(annotation: Any) -> TypeAdapter[Any]:
    # Building a TypeAdapter is costly; the annotations of a contract are few and fixed.
    try:
        return _ADAPTERS[annotation]
    except KeyError:
        return _ADAPTERS.setdefault(annotation, TypeAdapter(annotation))
    except TypeError:  # an unhashable annotation: build it each time
        return TypeAdapter(annotation)


def client(
    contract: type[C],
    base_url: str | None = None,
    *,
    discovery: Discovery | None = None,
    timeout: Timeouts | None = None,
    retries: RetryPolicy | None = None,
    breaker: CircuitBreaker | BreakerPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> C:
    """A ``contract`` whose methods call its service over HTTP.

    ``base_url`` wins; without it ``discovery`` (``CARVE_<MODULE>_URL``, ``carve.toml``,
    then ``http://<module>-service:8000``) finds the service.
    """
    url = (base_url or (discovery or Discovery()).url_for(contract.name)).rstrip("/")
    if not isinstance(breaker, CircuitBreaker):
        breaker = CircuitBreaker(f"{contract.name}-service", breaker)
    remote = RemoteCall(contract, url, timeout or Timeouts(), retries or RetryPolicy(),
                        breaker, transport)
    return _proxy_class(contract)(remote)


class _Proxy:
    """Base of generated proxies: holds the remote call, closes its connections."""

    def __init__(self, remote: RemoteCall) -> None:
        self._remote = remote

    @cached_property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker in front of the service."""
        return self._remote.breaker

    @property
    def base_url(self) -> str:
        return self._remote.base_url

    def close(self) -> None:
        """Release the pooled connections."""
        self._remote.close()


_PROXY_CLASSES: dict[type[Contract], type] = {}


def _proxy_class(contract: type[Contract]) -> type:
    if contract not in _PROXY_CLASSES:
        methods = {spec.name: _method(contract, spec) for spec in contract.operations()}
        name = f"Remote{contract.__name__}"
        _PROXY_CLASSES[contract] = type(name, (_Proxy, contract), {
            **methods, "__doc__": f"The client binding of {contract.__name__}.",
        })
    return _PROXY_CLASSES[contract]


def _method(contract: type[Contract], spec: OperationSpec) -> Any:
    declared = getattr(contract, spec.name)
    signature = inspect.signature(declared)

    def call(self: _Proxy, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(list(bound.arguments.items())[1:])
        return self._remote.call(spec, arguments)

    call.__name__ = call.__qualname__ = spec.name
    call.__doc__ = declared.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call
