"""Worker threads for the server binding: an implementation's call, off the event loop.

An implementation is synchronous (it waits on its database), so the server binding runs
it in a worker thread. anyio's ``to_thread`` (what FastAPI and Starlette use) does that
through a capacity limiter, a cancel scope and a worker queue of its own, and
``loop.run_in_executor`` through two futures; each costs more per call than the hop
itself. :class:`WorkerThreads` is that hop and nothing else: one queue, the caller's
context copied to the thread as anyio does (request id, trace context), the answer
handed back with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("carve.server")
#: As many threads as anyio's default limiter lets run at once, for each event loop.
DEFAULT_LIMIT = 40
#: How long a thread waits for another call before it ends (anyio's: 10 s).
IDLE_SECONDS = 10.0


class WorkerThreads:
    """Up to ``limit`` threads for each event loop, started as calls need them and ended
    after ``idle_seconds`` without one.

    Each loop has threads of its own, as each has its own limiter with anyio: two servers in
    one process (one calling the other, say) cannot take each other's threads.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, name: str = "carve-worker",
                 idle_seconds: float = IDLE_SECONDS) -> None:
        self._limit, self._name, self._idle_seconds = limit, name, idle_seconds
        self._forget_threads()
        _POOLS.add(self)

    def _forget_threads(self) -> None:
        """No thread yet (and, in a forked child, none of the parent's, which it lacks)."""
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Threads] = \
            weakref.WeakKeyDictionary()

    def run(self, function: Callable[[Any], T], argument: Any) -> asyncio.Future[T]:
        """A future of ``function(argument)``, called in a worker thread in this context.

        A call beyond the limit at once waits for a thread, as one beyond anyio's limiter
        does. Cancelling the future does not stop the call: it runs to its end, unobserved.
        """
        loop = asyncio.get_running_loop()
        threads = self._by_loop.get(loop)
        if threads is None:
            threads = self._by_loop[loop] = _Threads(self._limit, self._name,
                                                     self._idle_seconds)
            # The loop gone, its threads end as their calls do, not after idle_seconds.
            weakref.finalize(loop, threads.stop)
        future: asyncio.Future[T] = loop.create_future()
        threads.put((loop, future, contextvars.copy_context(), function, argument))
        return future


class _Threads:
    """One loop's threads and their calls, counted under one lock.

    ``_idle``: threads waiting for a call that no call has counted on yet; ``_owed``: calls
    queued while every thread was busy at the limit, each taken by the next thread done
    with its call instead of that thread counting as idle. A call counts on an idle thread,
    else starts one (up to the limit), else is owed. A thread idle for ``idle_seconds``
    ends only if it can be taken off ``_idle``: otherwise a call counts on it.
    """

    def __init__(self, limit: int, name: str, idle_seconds: float) -> None:
        self._limit, self._name, self._idle_seconds = limit, name, idle_seconds
        self._jobs: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0  # threads running now
        self._idle = 0
        self._owed = 0
        self._named = 0  # threads ever started (their names' numbers)

    def put(self, job: tuple[Any, ...]) -> None:
        name = None
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif self._started < self._limit:
                self._started += 1
                self._named += 1
                name = f"{self._name}-{self._named}"
            else:
                self._owed += 1
        if name is not None:
            # Started before the call is queued: a thread that cannot start leaves no call
            # behind for another to run after the caller was told it failed.
            try:
                threading.Thread(target=self._work, name=name, daemon=True).start()
            except BaseException:
                with self._lock:
                    self._started -= 1
                raise
        self._jobs.put(job)

    def stop(self) -> None:
        """No more calls will come: each thread ends once it is done with its call."""
        with self._lock:
            running, self._started = self._started, 0
        for _ in range(running):
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
                if job is None:
                    return  # stopped
            except queue.Empty:
                with self._lock:
                    if self._idle:
                        self._idle -= 1
                        self._started -= 1
                        return
                continue
            _call(*job)
            del job  # its objects are not kept while the thread waits
            with self._lock:
                if self._owed:
                    self._owed -= 1
                else:
                    self._idle += 1


_POOLS: weakref.WeakSet[WorkerThreads] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._forget_threads()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _call(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any],
          context: contextvars.Context, function: Callable[[Any], Any], argument: Any) -> None:
    """One call, its answer or its error handed back to the loop (its objects dropped after)."""
    try:
        result = context.run(function, argument)
    except BaseException as exc:  # handed to the awaiting task, as anyio hands it
        _hand_back(loop, future, None, exc)
    else:
        _hand_back(loop, future, result, None)


def _hand_back(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any,
               error: BaseException | None) -> None:
    try:
        loop.call_soon_threadsafe(_settle, future, result, error)
    except RuntimeError:  # the loop closed while the call ran: nobody waits for it
        pass


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        if isinstance(error, Exception):
            # Nobody awaits it any more (the request was cancelled): said here, not lost.
            log.error("a call whose caller was cancelled failed", exc_info=error)
        return
    if error is None:
        future.set_result(result)
    elif isinstance(error, StopIteration):  # a future refuses to carry one (PEP 479)
        future.set_exception(RuntimeError(f"the call raised StopIteration: {error}"))
    else:
        future.set_exception(error)
