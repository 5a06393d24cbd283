"""Prometheus metrics of the data plane, kept in plain dicts (the hot path only adds)."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

UNROUTED = "unrouted"  # the route label of a request no route covers
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Series:
    """One route and upstream: answers by status, and the latency histogram."""

    __slots__ = ("statuses", "buckets")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        # Bucket counts, then the sum and the count.
        self.buckets = [0.0] * (len(_BUCKETS) + 3)


class GatewayMetrics:
    """Counters and latency histograms, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str], _Series] = {}
        self.fallbacks: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.rollbacks: defaultdict[str, int] = defaultdict(int)
        self.refused: defaultdict[int, int] = defaultdict(int)

    def observe(self, route: str, upstream: str, status: int, seconds: float,
                count: int = 1) -> None:
        """Count an answered request and its latency (one dict lookup on the hot path);
        ``count`` answers alike at once (an access log's identical lines)."""
        series = self._series.get((route, upstream))
        if series is None:
            series = self._series[(route, upstream)] = _Series()
        statuses = series.statuses
        statuses[status] = statuses.get(status, 0) + count
        buckets = series.buckets
        buckets[bisect_left(_BUCKETS, seconds)] += count
        buckets[-2] += seconds * count
        buckets[-1] += count

    def snapshot(self) -> dict:
        """Every count as JSON-ready data, for the sibling workers' scrapes to add up."""
        return {
            "series": [[route, upstream, {str(k): v for k, v in one.statuses.items()},
                        one.buckets] for (route, upstream), one in self._series.items()],
            "fallbacks": [[route, reason, n] for (route, reason), n in self.fallbacks.items()],
            "rollbacks": dict(self.rollbacks),
            "refused": {str(k): v for k, v in self.refused.items()},
        }

    def add(self, snapshot: dict) -> None:
        """Add another worker's counts (a :meth:`snapshot`) to these."""
        for route, upstream, statuses, buckets in snapshot["series"]:
            series = self._series.get((route, upstream))
            if series is None:
                series = self._series[(route, upstream)] = _Series()
            for status, count in statuses.items():
                series.statuses[int(status)] = series.statuses.get(int(status), 0) + count
            series.buckets = [a + b for a, b in zip(series.buckets, buckets, strict=True)]
        for route, reason, count in snapshot["fallbacks"]:
            self.fallbacks[(route, reason)] += count
        for route, count in snapshot["rollbacks"].items():
            self.rollbacks[route] += count
        for status, count in snapshot["refused"].items():
            self.refused[int(status)] += count

    def requests(self) -> int:
        """How many requests were answered (every route, upstream and status)."""
        return sum(sum(one.statuses.values()) for one in self._series.values())


    def render(self, gauges: dict[str, list[tuple[dict[str, str], float]]]) -> str:
        """The exposition text, with the caller's current gauges appended."""
        series = sorted(self._series.items())
        out = ["# TYPE carve_gateway_requests_total counter"]
        for (route, upstream), one in series:
            for status, count in sorted(one.statuses.items()):
                out.append(_line("carve_gateway_requests_total",
                                 {"route": route, "upstream": upstream, "status": str(status)},
                                 count))
        out.append("# TYPE carve_gateway_request_duration_seconds histogram")
        for (route, upstream), one in series:
            out.extend(_histogram_lines({"route": route, "upstream": upstream}, one.buckets))
        out.append("# TYPE carve_gateway_fallbacks_total counter")
        for (route, reason), count in sorted(self.fallbacks.items()):
            out.append(_line("carve_gateway_fallbacks_total",
                             {"route": route, "reason": reason}, count))
        out.append("# TYPE carve_gateway_rollbacks_total counter")
        for route, count in sorted(self.rollbacks.items()):
            out.append(_line("carve_gateway_rollbacks_total", {"route": route}, count))
        out.append("# TYPE carve_gateway_refused_total counter")
        for status, count in sorted(self.refused.items()):
            out.append(_line("carve_gateway_refused_total", {"status": str(status)}, count))
        for name, samples in gauges.items():
            out.append(f"# TYPE {name} gauge")
            out.extend(_line(name, labels, value) for labels, value in samples)
        return "\n".join(out) + "\n"


def requests_in(snapshot: dict) -> int:
    """How many requests a :meth:`GatewayMetrics.snapshot` counts."""
    return sum(sum(statuses.values()) for _, _, statuses, _ in snapshot["series"])


def _histogram_lines(labels: dict[str, str], histogram: list[float]) -> list[str]:
    name = "carve_gateway_request_duration_seconds"
    lines, cumulative = [], 0.0
    for bound, count in zip((*_BUCKETS, float("inf")), histogram[:-2], strict=True):
        cumulative += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        lines.append(_line(f"{name}_bucket", {**labels, "le": le}, cumulative))
    lines.append(_line(f"{name}_sum", labels, histogram[-2]))
    lines.append(_line(f"{name}_count", labels, histogram[-1]))
    return lines


def _line(name: str, labels: dict[str, str], value: float) -> str:
    rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    number = int(value) if float(value).is_integer() else value
    return f"{name}{{{rendered}}} {number}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
