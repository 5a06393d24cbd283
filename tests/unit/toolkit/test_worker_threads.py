"""The server binding's worker threads: answers, errors, context, and calls side by side."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from contextvars import ContextVar

import pytest

from migration.runtime.worker_threads import WorkerThreads

current: ContextVar[str] = ContextVar("current", default="none")


def test_a_call_answers_in_another_thread_in_the_callers_context() -> None:
    workers = WorkerThreads(name="test-worker")

    async def main() -> tuple[str, str]:
        current.set("request-1")
        return await workers.run(lambda x: (x + current.get(), threading.current_thread().name),
                                 "seen by ")

    seen, thread = asyncio.run(main())
    assert seen == "seen by request-1"
    assert thread.startswith("test-worker-")


def test_an_error_reaches_the_caller_as_it_was_raised() -> None:
    workers = WorkerThreads()

    def fail(message: str) -> None:
        raise LookupError(message)

    with pytest.raises(LookupError, match="no such thing"):
        asyncio.run(_run(workers, fail, "no such thing"))


def test_a_stop_iteration_cannot_hang_the_caller() -> None:
    workers = WorkerThreads()

    def stop(_: object) -> None:
        raise StopIteration

    with pytest.raises(RuntimeError, match="StopIteration"):
        asyncio.run(_run(workers, stop, None))


def test_calls_run_side_by_side_up_to_the_limit_and_threads_are_kept() -> None:
    workers = WorkerThreads(limit=2)
    arrived = threading.Barrier(2, timeout=5)

    def meet(_: object) -> str:
        arrived.wait()  # only passes when two calls run at once
        return threading.current_thread().name

    async def main() -> set[str]:
        names: set[str] = set()
        for _ in range(3):
            names |= set(await asyncio.gather(workers.run(meet, 1), workers.run(meet, 2)))
        return names

    assert len(asyncio.run(main())) == 2


def test_beyond_the_limit_a_call_waits_for_a_free_thread() -> None:
    workers, release = WorkerThreads(limit=1), threading.Event()
    order: list[int] = []

    def hold(n: int) -> int:
        if n == 1:
            release.wait(5)
        order.append(n)
        return n

    async def main() -> list[int]:
        first = workers.run(hold, 1)
        second = workers.run(hold, 2)
        await asyncio.sleep(0.05)
        assert not second.done()
        release.set()
        return list(await asyncio.gather(first, second))

    assert asyncio.run(main()) == [1, 2]
    assert order == [1, 2]


async def _run(workers: WorkerThreads, function: object, argument: object) -> object:
    return await workers.run(function, argument)  # type: ignore[arg-type]


def test_a_forked_child_starts_threads_of_its_own() -> None:
    workers = WorkerThreads()
    assert asyncio.run(_run(workers, str, 1)) == "1"  # a thread started and now idle
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        try:
            answer = asyncio.run(asyncio.wait_for(_run(workers, str, 2), 5))
            os.write(write, str(answer).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answered:
        assert answered.read() == b"2"
    os.waitpid(child, 0)


def test_a_loop_filling_the_limit_does_not_starve_another_loops_calls() -> None:
    """Two servers in one process, the first's implementation waiting on the second: each
    loop has threads of its own, as each has its own limiter with anyio."""
    pool = WorkerThreads(limit=2)
    second_ran = threading.Event()

    def waits_for_the_other_loop(_: object) -> bool:
        return second_ran.wait(timeout=2)

    def other(_: object) -> None:
        second_ran.set()

    async def first_loop() -> list[bool]:
        return list(await asyncio.gather(*(pool.run(waits_for_the_other_loop, None)
                                           for _ in range(2))))

    results: list[bool] = []
    runner = threading.Thread(target=lambda: results.extend(asyncio.run(first_loop())))
    runner.start()
    time.sleep(0.2)  # both threads of the pool are busy on the first loop

    async def second_loop() -> None:
        await asyncio.wait_for(pool.run(other, None), timeout=3)

    asyncio.run(second_loop())
    runner.join()
    assert results == [True, True]


def test_a_thread_idle_past_its_time_ends_and_a_later_call_starts_another() -> None:
    workers = WorkerThreads(name="idle-test", idle_seconds=0.1)

    def running() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name.startswith("idle-test-")]

    async def main() -> tuple[str, list[str], str]:
        first = await workers.run(lambda _: threading.current_thread().name, None)
        await asyncio.sleep(0.5)
        left = running()
        second = await workers.run(lambda _: threading.current_thread().name, None)
        return first, left, second

    first, left, second = asyncio.run(main())
    assert left == []  # the first thread ended
    assert (first, second) == ("idle-test-1", "idle-test-2")


def test_many_calls_racing_idle_threads_all_answer() -> None:
    """Threads ending while calls arrive: no call is left in the queue without a thread."""
    workers = WorkerThreads(limit=3, idle_seconds=0.001)

    async def main() -> list[int]:
        answers = []
        for n in range(200):
            answers += await asyncio.wait_for(asyncio.gather(
                *(workers.run(lambda x: x, n) for _ in range(3))), timeout=5)
            if n % 20 == 0:
                await asyncio.sleep(0.01)  # long enough for idle threads to end
        return answers

    assert asyncio.run(main()) == [n for n in range(200) for _ in range(3)]


def test_a_call_queued_at_the_limit_leaves_no_thread_counted_twice() -> None:
    """A call waiting for the one busy thread, then both done and the thread ended: the
    next call starts a thread (it once counted on one that had ended, and waited forever)."""
    workers, gate = WorkerThreads(limit=1, idle_seconds=0.05), threading.Event()

    async def main() -> list[object]:
        first = workers.run(lambda _: gate.wait(5), None)
        await asyncio.sleep(0.01)
        second = workers.run(lambda _: "second", None)  # queued behind the only thread
        gate.set()
        answers = [await first, await second]
        await asyncio.sleep(0.3)  # the thread ends
        answers.append(await asyncio.wait_for(workers.run(lambda _: "third", None), 2))
        return answers

    assert asyncio.run(main()) == [True, "second", "third"]


def test_bursts_past_the_limit_with_threads_ending_between_them() -> None:
    """Every call runs, and never more at once than the limit, whatever the timing."""
    import random

    running, peak, lock = 0, 0, threading.Lock()

    def job(seconds: float) -> float:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(seconds)
        with lock:
            running -= 1
        return seconds

    async def bursts(seed: int) -> tuple[int, int]:
        rng = random.Random(seed)
        limit = rng.randint(1, 3)
        workers = WorkerThreads(limit=limit, idle_seconds=rng.choice([0.001, 0.003, 0.01]))
        calls = []
        for _ in range(rng.randint(2, 6)):
            calls += [workers.run(job, rng.choice([0, 0.0005, 0.002]))
                      for _ in range(rng.randint(1, 5))]
            await asyncio.sleep(rng.choice([0, 0.001, 0.005, 0.03]))
        _, pending = await asyncio.wait(calls, timeout=2)
        return limit, len(pending)

    for seed in range(60):
        peak = 0
        limit, pending = asyncio.run(bursts(seed))
        assert (pending, peak <= limit) == (0, True), seed


def test_a_thread_that_cannot_start_leaves_no_call_behind(monkeypatch) -> None:
    workers = WorkerThreads(name="test-unstartable")
    calls: list[int] = []

    def no_thread(self) -> None:
        raise RuntimeError("can't start new thread")

    async def main() -> None:
        with monkeypatch.context() as patched:
            patched.setattr(threading.Thread, "start", no_thread)
            with pytest.raises(RuntimeError, match="can't start new thread"):
                workers.run(calls.append, 1)
        assert await workers.run(calls.append, 2) is None  # a thread starts for the next
        await asyncio.sleep(0.1)

    asyncio.run(main())
    assert calls == [2]  # the refused call never ran, later or elsewhere


def test_the_error_of_a_call_nobody_awaits_any_more_is_logged(caplog) -> None:
    workers = WorkerThreads()
    started = threading.Event()

    def fail(_: None) -> None:
        started.set()
        time.sleep(0.1)
        raise LookupError("failed after its caller left")

    async def main() -> None:
        future = workers.run(fail, None)
        await asyncio.to_thread(started.wait, 5)
        future.cancel()
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert any(record.exc_info and isinstance(record.exc_info[1], LookupError)
               for record in caplog.records)


def test_a_loop_gone_its_threads_end_without_waiting_out_their_idle_time() -> None:
    workers = WorkerThreads(name="test-loop-gone", idle_seconds=60)

    async def main() -> None:
        await asyncio.gather(*(workers.run(time.sleep, 0.05) for _ in range(3)))

    asyncio.run(main())
    gc.collect()  # the loop, collected
    deadline = time.monotonic() + 5
    while any(t.name.startswith("test-loop-gone") for t in threading.enumerate()) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("test-loop-gone")]
