"""Raw HTTP/1.1 over a socket for the gateway's server tests: responses parsed as they come."""

from __future__ import annotations

import asyncio

import httptools


class Responses:
    """Responses parsed off one connection, in order."""

    def __init__(self) -> None:
        self.done: list[tuple[int, dict[bytes, bytes], bytes]] = []
        self._parser = httptools.HttpResponseParser(self)
        self._headers: dict[bytes, bytes] = {}
        self._body = b""

    def feed(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_begin(self) -> None:
        self._headers, self._body = {}, b""

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.done.append((self._parser.get_status_code(), self._headers, self._body))


async def read_responses(reader: asyncio.StreamReader, count: int) -> Responses:
    """Read until ``count`` responses are complete, the connection closes, or 5 s pass."""
    responses = Responses()
    while len(responses.done) < count:
        data = await asyncio.wait_for(reader.read(65536), 5)
        if not data:
            break
        responses.feed(data)
    return responses


def run(coroutine):
    """Run a test's coroutine, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, 30))
