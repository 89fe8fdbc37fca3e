"""Work that outlives the view, with the view's context: :func:`spawn`.

``spawn(func, *args)`` runs ``func`` with the caller's context (the same ``request``,
``session``, ``g`` and ``current_app``) in a worker thread, or, for a coroutine
function, as a task on the running event loop (or on a background event loop when
none runs, as under WSGI). The context is kept alive until the work has finished:
its teardown functions run after the response is sent *and* every piece of spawned
work is done, exactly once. A failure is logged and sent on the
``got_background_exception`` signal; it is never lost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from . import signals
from .errors import ContextError
from .globals import _cv_app

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext

__all__ = ["BackgroundWork", "spawn"]

T = TypeVar("T")


def spawn(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in the background, with the current context.

    Returns a ``concurrent.futures.Future`` for a plain function (run in a worker
    thread of the app's bounded pool, ``BACKGROUND_WORKERS``); for a coroutine
    function, the ``asyncio.Task`` on the running loop, or a Future when no loop
    runs. The context's teardown waits until the work is done.
    """
    ctx = _cv_app.get(None)
    if ctx is None:
        raise ContextError(
            f"kettle.spawn({getattr(func, '__name__', func)!r}) needs an active"
            " context to hand over, and none is active in this thread or task. Call"
            " it from a view, a hook or a CLI command, or inside"
            " `with app.app_context():`."
        )
    work = ctx.app.background
    ctx.retain()
    try:
        if inspect.iscoroutinefunction(func):
            return work.start_coroutine(ctx, func(*args, **kwargs))
        return work.start_call(ctx, func, args, kwargs)
    except BaseException:
        ctx.release()
        raise


class BackgroundWork:
    """An app's spawned work: a bounded thread pool, a loop thread, what is pending."""

    def __init__(self, app: Kettle) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._pending: set[Any] = set()
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Lets go of a context from async code on the server's loop, running its
        #: teardown as the server's adapter runs user code (set by the ASGI
        #: adapter); None means the sync ``release()``.
        self.release_async: Callable[[AppContext], Awaitable[None]] | None = None

    # -- starting work ---------------------------------------------------------------

    def start_call(
        self,
        ctx: AppContext,
        func: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> concurrent.futures.Future[T]:
        """Run a sync callable in the pool, with ``ctx`` active; release it after."""
        runner = contextvars.copy_context()
        future = self._pool().submit(runner.run, self._call, ctx, func, args, kwargs)
        self._track(future)
        future.add_done_callback(lambda f: self._if_cancelled_early(f, ctx))
        return future

    def _if_cancelled_early(self, future: Any, ctx: AppContext) -> None:
        # A pool future cancelled before it ran never calls _call: let go here.
        if future.cancelled():
            self._release(ctx)

    def _call(
        self,
        ctx: AppContext,
        func: Callable[..., T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> T:
        try:
            return func(*args, **kwargs)
        except BaseException as e:
            self._report(func, e)
            raise
        finally:
            self._release(ctx)

    def start_coroutine(self, ctx: AppContext, coro: Coroutine[Any, Any, T]) -> Any:
        """Run a coroutine as a task (on the running loop, else the background loop)."""
        loop = asyncio._get_running_loop()
        # A WSGI thread's private loop stops when its view returns: not there.
        started: list[bool] = []
        if loop is not None and not self.app._loops.owns(loop):
            task = loop.create_task(self._await(ctx, coro, started, True))
            self._track(task)
            task.add_done_callback(lambda t: self._if_never_started(ctx, coro, started))
            return task
        runner = contextvars.copy_context()
        future = runner.run(
            asyncio.run_coroutine_threadsafe,
            self._await(ctx, coro, started),
            self._loop_thread(),
        )
        self._track(future)
        future.add_done_callback(lambda f: self._if_never_started(ctx, coro, started))
        return future

    def _if_never_started(
        self, ctx: AppContext, coro: Coroutine[Any, Any, Any], started: list[bool]
    ) -> None:
        # A task cancelled before its first step never runs _await: let go here.
        if not started:
            coro.close()
            self._release(ctx)

    async def _await(
        self,
        ctx: AppContext,
        coro: Coroutine[Any, Any, T],
        started: list[bool],
        on_server_loop: bool = False,
    ) -> T:
        started.append(True)
        try:
            return await coro
        except BaseException as e:
            self._report(coro, e)
            raise
        finally:
            release_async = self.release_async
            if on_server_loop and release_async is not None:
                try:
                    await release_async(ctx)
                except BaseException as e:  # a teardown function failed
                    self._report(ctx.release, e)
            else:
                self._release(ctx)

    # -- bookkeeping -----------------------------------------------------------------

    def _release(self, ctx: AppContext) -> None:
        try:
            ctx.release()
        except BaseException as e:  # a teardown function failed: report it too
            self._report(ctx.release, e)

    def _report(self, what: Any, error: BaseException) -> None:
        name = getattr(what, "__qualname__", None) or repr(what)
        self.app.logger.error(
            f"Exception in background work {name}",
            exc_info=(type(error), error, error.__traceback__),
        )
        if signals.got_background_exception.receivers:
            signals.got_background_exception.send(self.app, exception=error)

    def _track(self, future: Any) -> None:
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._untrack)

    def _untrack(self, future: Any) -> None:
        with self._lock:
            self._pending.discard(future)

    def _pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=int(self.app.config["BACKGROUND_WORKERS"]),
                    thread_name_prefix=f"kettle-background-{self.app.name}",
                )
            return self._executor

    def _loop_thread(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_loop,
                    args=(loop,),
                    name="kettle-background-loop",
                    daemon=True,
                )
                thread.start()
                self._loop = loop
            return self._loop

    @property
    def pending(self) -> int:
        """How many pieces of spawned work have not finished yet."""
        with self._lock:
            return len(self._pending)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the pending work (up to ``timeout`` seconds); True if all done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = [
                    f for f in self._pending if isinstance(f, concurrent.futures.Future)
                ]
                tasks = len(self._pending) - len(pending)
            if not pending and not tasks:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            if pending:
                concurrent.futures.wait(pending, timeout=remaining)
            else:
                time.sleep(0.01 if remaining is None else min(0.01, remaining))

    async def await_all(self, timeout: float | None = None) -> bool:
        """:meth:`wait` for async code (the ASGI shutdown): tasks are awaited too."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            waitables = [
                asyncio.wrap_future(f)
                if isinstance(f, concurrent.futures.Future)
                else f
                for f in pending
            ]
            await asyncio.wait(waitables, timeout=remaining)

    def shutdown(self, timeout: float | None = None) -> int:
        """Wait for pending work up to ``timeout``; log and return what was cut off."""
        self.wait(timeout)
        return self._close()

    async def ashutdown(self, timeout: float | None = None) -> int:
        """:meth:`shutdown` for async code."""
        await self.await_all(timeout)
        return self._close()

    def _close(self) -> int:
        with self._lock:
            cut_off = list(self._pending)
            executor, self._executor = self._executor, None
            loop, self._loop = self._loop, None
        for future in cut_off:
            future.cancel()
        if cut_off:
            self.app.logger.warning(
                "Shutting down with %d piece(s) of background work unfinished: %s",
                len(cut_off),
                ", ".join(repr(f) for f in cut_off),
            )
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        return len(cut_off)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The background loop's thread: run until stopped by shutdown, then close it."""
    try:
        loop.run_forever()
        # Let the work shutdown cut off unwind: its cancellation runs its finally
        # blocks and releases its context, so the teardown still runs.
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.wait(tasks))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
