"""Worker threads for the sync code of ASGI requests: one thread per request.

Every sync callable of one request (hooks, the view, a streamed body's generator,
teardown functions) runs in the same worker thread, the way it would under a WSGI
server. Code that is bound to its thread, such as a ``sqlite3`` connection kept on
``g`` or an extension's thread-local session, therefore keeps working. A request
takes a thread from the pool at its first sync call and gives it back when it ends;
requests that only run ``async def`` code never take one.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["RequestThread", "ThreadPool"]

T = TypeVar("T")
_STOP: Any = None


def _resolve(
    future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class WorkerThread:
    """A daemon thread running submitted calls one after the other."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=name, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            loop, future, context, func, args, kwargs = item
            try:
                result = context.run(func, *args, **kwargs)
            except BaseException as e:  # handed to the awaiting coroutine
                loop.call_soon_threadsafe(_resolve, future, None, e)
            else:
                loop.call_soon_threadsafe(_resolve, future, result, None)

    def submit(
        self, func: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[T]:
        """Run ``func`` in this thread with the caller's context variables."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        self._calls.put((loop, future, context, func, args, kwargs))
        return future

    def stop(self) -> None:
        """Let the thread end once its queued calls are done."""
        self._calls.put(_STOP)


class ThreadPool:
    """Up to ``limit`` worker threads, lent to one request at a time."""

    def __init__(self, limit: int = 40) -> None:
        self.limit = limit
        self._idle: list[WorkerThread] = []
        self._started = 0
        self._waiting: deque[asyncio.Future[WorkerThread]] = deque()

    async def acquire(self) -> WorkerThread:
        """An idle worker, a new one below the limit, or the next one freed."""
        if self._idle:
            return self._idle.pop()
        if self._started < self.limit:
            self._started += 1
            return WorkerThread(f"kettle-asgi-{self._started}")
        waiter: asyncio.Future[WorkerThread] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append(waiter)
        return await waiter

    def release(self, worker: WorkerThread) -> None:
        """Give a worker back: to the first request waiting for one, else idle."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._idle.append(worker)

    def close(self) -> None:
        """Stop the idle workers (busy ones stop when given back after this)."""
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()
        self._started -= len(idle)


class RequestThread:
    """The worker thread of one request, taken on its first sync call."""

    __slots__ = ("_pool", "_worker")

    def __init__(self, pool: ThreadPool) -> None:
        self._pool = pool
        self._worker: WorkerThread | None = None

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``func`` in the request's thread, with the caller's context."""
        worker = self._worker
        if worker is None:
            worker = self._worker = await self._pool.acquire()
        return await worker.submit(func, args, kwargs)

    def release(self) -> None:
        """Give the thread back to the pool (at the end of the request)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._pool.release(worker)
