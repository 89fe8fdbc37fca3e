"""Running coroutines from synchronous code on a reusable event loop per thread.

Under WSGI there is no event loop, yet views and hooks may be ``async def``. Flask
starts a new loop in a new thread for every such call; Kettle keeps one private loop
per worker thread, created on first use and closed when the thread ends, so
loop-bound resources (clients, pools) can be reused from one request to the next.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["ThreadLoops"]

T = TypeVar("T")


class _LoopHolder:
    """Owns one thread's loop; closing it when the thread's locals are dropped."""

    __slots__ = ("__weakref__", "_closer", "loop")

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        # A finalizer rather than __del__: it holds the loop itself, so when the
        # holder is collected with a reference cycle (an app's locals), the loop and
        # its self-pipe sockets are still intact when it closes them; the collector
        # would otherwise finalize the sockets first, in any order.
        self._closer = weakref.finalize(self, _close_loop, self.loop)

    def close(self) -> None:
        self._closer()


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed() and not loop.is_running():
        # Collected while another loop runs in this thread (an ASGI server's):
        # this loop cannot run any more there; just close it.
        if asyncio._get_running_loop() is None:
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class ThreadLoops(threading.local):
    """One private event loop per thread, for running coroutines to completion."""

    holder: _LoopHolder | None = None

    def __init__(self) -> None:
        #: Tasks started by :meth:`run_or_schedule`, kept until they finish.
        self.tasks: set[asyncio.Task[Any]] = set()

    def run_or_schedule(
        self, coro: Coroutine[Any, Any, T], on_error: Callable[[BaseException], None]
    ) -> T | None:
        """Run ``coro`` to completion, or, on a thread whose loop is running (ASGI),
        start it as a task on that loop and return None.

        Used for async signal receivers, which sync code cannot wait for on the
        server's loop; a failure of the task is passed to ``on_error``.
        """
        loop = asyncio._get_running_loop()
        if loop is None:
            return self.run(coro)
        task = loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, on_error))
        return None

    def _finished(
        self, task: asyncio.Task[Any], on_error: Callable[[BaseException], None]
    ) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            on_error(task.exception())  # type: ignore[arg-type]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this thread's loop and return its result.

        The coroutine sees the caller's context variables, so Kettle's proxies work
        in it. Calling this from a thread whose own event loop is running is an
        error: await the coroutine there instead.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()
            raise RuntimeError(
                "Cannot run an async function synchronously from a thread whose event"
                " loop is running; await it instead (serve the app with an ASGI"
                " server through `app.asgi` to run async views on the server's loop)."
            )
        holder = self.holder
        if holder is None or holder.loop.is_closed():
            holder = self.holder = _LoopHolder()
        return holder.loop.run_until_complete(coro)

    def owns(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether ``loop`` is this thread's private loop."""
        holder = self.holder
        return holder is not None and holder.loop is loop

    def close(self) -> None:
        """Close the calling thread's loop, if it has one."""
        holder = self.holder
        if holder is not None:
            self.holder = None
            holder.close()
