"""What is forwarded: hop-by-hop headers stripped, X-Forwarded-*, request id, traceparent."""

import pytest

from migration.gateway.forwarding import read_inbound, request_head, response_headers
from migration.gateway.traffic_metrics import GatewayMetrics

SCOPE = {
    "type": "http", "scheme": "https", "client": ("203.0.113.9", 5555),
    "headers": [
        (b"host", b"shop.example"), (b"connection", b"keep-alive, x-private"),
        (b"x-private", b"hop"), (b"keep-alive", b"timeout=5"), (b"te", b"trailers"),
        (b"upgrade", b"h2c"), (b"proxy-authorization", b"Basic x"),
        (b"x-forwarded-for", b"198.51.100.1"), (b"x-user-id", b"u-7"),
        (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        (b"x-request-id", b"req-1"), (b"accept", b"application/json"),
    ],
}


def forwarded_headers() -> dict[bytes, bytes]:
    inbound = read_inbound(SCOPE, b"x-user-id")
    head = request_head("GET", b"/api/v1/x?y=1", inbound, SCOPE, b"10.0.0.5:9000", 0)
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET /api/v1/x?y=1 HTTP/1.1"
    return dict(line.split(b": ", 1) for line in lines[1:] if line)


def test_hop_by_hop_headers_and_those_named_in_connection_are_stripped():
    headers = forwarded_headers()
    for name in (b"connection", b"x-private", b"keep-alive", b"te", b"upgrade",
                 b"proxy-authorization"):
        assert name not in headers
    assert headers[b"accept"] == b"application/json"


def test_forwarded_headers_describe_the_client():
    headers = forwarded_headers()
    assert headers[b"host"] == b"10.0.0.5:9000"
    assert headers[b"x-forwarded-for"] == b"198.51.100.1, 203.0.113.9"
    assert headers[b"x-forwarded-proto"] == b"https"
    assert headers[b"x-forwarded-host"] == b"shop.example"
    assert headers[b"x-request-id"] == b"req-1"


def test_the_trace_goes_on_with_the_gateway_as_parent_span():
    trace = forwarded_headers()[b"traceparent"].split(b"-")
    assert trace[1] == b"4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace[2] != b"00f067aa0ba902b7" and len(trace[2]) == 16


@pytest.mark.parametrize("invalid", [
    b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper-case hex
    b"zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    b"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
])
def test_a_trace_context_that_is_not_w3c_starts_a_new_trace(invalid: bytes):
    headers = [(n, invalid if n == b"traceparent" else v) for n, v in SCOPE["headers"]]
    inbound = read_inbound({**SCOPE, "headers": headers}, None)
    head = request_head("GET", b"/", inbound, SCOPE, b"up", 0)
    sent = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if line)
    version, trace, span, flags = sent[b"traceparent"].split(b"-")
    assert (version, flags, len(trace), len(span)) == (b"00", b"01", 32, 16)
    assert trace != invalid.split(b"-")[1]


def test_a_request_without_an_id_or_trace_gets_both():
    inbound = read_inbound({**SCOPE, "headers": [(b"host", b"h")]}, None)
    head = request_head("GET", b"/", inbound, SCOPE, b"up", 0)
    assert len(inbound.request_id) == 32
    assert b"traceparent: 00-" in head


def test_the_sticky_header_is_picked_up_in_the_same_pass():
    assert read_inbound(SCOPE, b"x-user-id").sticky_value == b"u-7"


def test_response_hop_by_hop_headers_are_stripped_and_the_upstream_named():
    upstream = [(b"connection", b"close, x-hop"), (b"x-hop", b"1"),
                (b"transfer-encoding", b"chunked"), (b"content-type", b"text/plain")]
    headers = dict(response_headers(upstream, b"inventory", b"req-1", b"http://inv:8001"))
    assert headers == {b"x-carve-upstream": b"inventory", b"x-request-id": b"req-1",
                       b"content-type": b"text/plain"}


@pytest.mark.parametrize(("location", "sent"), [
    (b"http://inv:8001/base/items/", b"/items/"),  # its own address: back through us
    (b"http://inv:8001/base?page=2", b"/?page=2"),
    (b"http://inv:8001/base", b"/"),
    (b"/base/items", b"/base/items"),  # already relative: as it is
    (b"http://inv:8001/basement", b"http://inv:8001/basement"),  # not under its base
    (b"https://login.example/", b"https://login.example/"),  # elsewhere: as it is
])
def test_a_redirect_to_the_upstreams_own_address_comes_back_through_the_gateway(
        location, sent):
    upstream = [(b"location", location)]
    headers = dict(response_headers(upstream, b"inventory", b"r", b"http://inv:8001/base"))
    assert headers[b"location"] == sent


def test_metrics_render_in_the_prometheus_text_format():
    metrics = GatewayMetrics()
    metrics.observe("/api", "inventory", 200, 0.003)
    text = metrics.render({"carve_gateway_routes_version": [({}, 3)]})
    assert 'carve_gateway_requests_total{route="/api",upstream="inventory",status="200"} 1' in text
    assert 'le="0.005"} 1' in text and "carve_gateway_routes_version{} 3" in text
