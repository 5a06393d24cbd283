"""A service's HTTP metrics: label sets a client cannot multiply."""

from migration.runtime.metrics import HttpMetrics


def test_a_method_http_does_not_define_is_counted_as_other() -> None:
    metrics = HttpMetrics("inventory")
    for method in ("GET", "FOO", "BAR", "GET"):
        metrics.observe(method, "/api/items", 200, 0.01)
    text = metrics.exposition().body.decode()
    assert ('carve_http_requests_total{method="GET",route="/api/items",service="inventory",'
            'status="200"} 2.0') in text
    assert ('carve_http_requests_total{method="OTHER",route="/api/items",service="inventory",'
            'status="200"} 2.0') in text
    assert 'method="FOO"' not in text and 'method="BAR"' not in text
