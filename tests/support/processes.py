"""Starting real server processes for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Poll ``url`` until it answers 200; fail with the process output if it dies."""
    if not wait_for(lambda: _answers(url, process), timeout, interval=0.1):
        raise TimeoutError(f"{url} did not answer within {timeout}s")


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        output = process.stdout.read().decode() if process.stdout else ""
        raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def carve_process(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
    ready_url: str | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``carve ARGS`` (through this Python) until the block ends."""
    command = [sys.executable, "-m", "migration.cli", *args]
    full_env = {**os.environ, **(env or {})}
    process = subprocess.Popen(
        command, cwd=cwd or ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        if ready_url:
            wait_until_serving(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
