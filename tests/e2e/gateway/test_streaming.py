"""Bodies stream both ways: 100 MB through the gateway without the gateway holding them."""

import threading

import httpx

from tests.support.gateway_processes import gateway_process, write_routes

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """Samples a process's resident memory in the background; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def upload_body(megabytes: int):
    chunk = b"u" * MIB
    for _ in range(megabytes):
        yield chunk


def test_100_mb_up_and_down_stream_through_with_bounded_memory(tmp_path, monolith_url):
    routes = write_routes(tmp_path / "routes.json", [])
    with gateway_process(routes, monolith_url, {}) as gw:
        httpx.get(gw.url + "/warm-up", timeout=10)
        before = rss_bytes(gw.process.pid)
        with PeakRss(gw.process.pid) as upload_rss:
            uploaded = httpx.post(gw.url + "/upload", content=upload_body(100),
                                  headers={"content-length": str(100 * MIB)}, timeout=120)
        with PeakRss(gw.process.pid) as chunked_rss:
            chunked = httpx.post(gw.url + "/upload", content=upload_body(100), timeout=120)
        received = 0
        with PeakRss(gw.process.pid) as download_rss, \
                httpx.stream("GET", gw.url + "/download?mb=100", timeout=120) as response:
            for piece in response.iter_bytes():
                received += len(piece)
    assert uploaded.json()["body_bytes"] == 100 * MIB
    assert chunked.json()["body_bytes"] == 100 * MIB
    assert received == 100 * MIB
    for peak in (upload_rss.peak, chunked_rss.peak, download_rss.peak):
        assert peak - before < 30 * MIB, f"gateway grew by {(peak - before) / MIB:.0f} MiB"
