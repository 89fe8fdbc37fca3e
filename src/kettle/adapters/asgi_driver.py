"""Running the request pipeline and user callables on an event loop.

``async def`` callables are awaited on the loop; sync ones run in the request's
worker thread (see :mod:`.asgi_threads`) with a copy of the caller's context
variables, so the proxies work there and the loop is never blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from types import CoroutineType, FunctionType
from typing import TYPE_CHECKING, Any, TypeVar

from ..dispatch import Pipeline, Step
from .asgi_threads import RequestThread, ThreadPool

if TYPE_CHECKING:
    from ..app import Kettle

__all__ = ["RequestRunner", "drive_async"]

T = TypeVar("T")


def _is_async(app: Kettle, func: Callable[..., Any]) -> bool:
    # Plain functions (views, hooks) are asked once; other callables, such as the
    # bound methods made anew for each request, every time, to keep the cache small.
    if type(func) is not FunctionType:
        return asyncio.iscoroutinefunction(func)
    cache = app._async_callables
    found = cache.get(func)
    if found is None:
        found = cache[func] = asyncio.iscoroutinefunction(func)
    return found


async def _run_sync_step(
    thread: RequestThread,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> Any:
    result = await thread.run(func, *args, **kwargs)
    if type(result) is CoroutineType:
        # A sync callable that returned a coroutine: await it here, on the loop.
        result = await result
    return result


async def drive_async(app: Kettle, pipeline: Pipeline[T], thread: RequestThread) -> T:
    """Run a pipeline on the event loop: await async steps, thread the sync ones."""
    # PERF: called for every ASGI request; kept flat.
    send = pipeline.send
    known = app._async_callables
    try:
        step = send(None)
        while True:
            try:
                func, args, kwargs = step
                is_async = known.get(func)  # what _is_async caches, looked up here
                if is_async is None:
                    is_async = _is_async(app, func)
                if is_async:
                    result = await func(*args, **kwargs)
                else:
                    result = await _run_sync_step(thread, func, args, kwargs)
            except Exception as e:
                step = pipeline.throw(e)
            else:
                step = send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class RequestRunner(RequestThread):
    """The request's worker thread, plus the teardown runner its context needs."""

    __slots__ = ("app",)

    def __init__(self, app: Kettle, pool: ThreadPool) -> None:
        # PERF: one per ASGI request; RequestThread's two fields set here directly.
        self._pool = pool
        self._worker = None
        self.app = app

    async def run_steps(self, steps: Iterator[Step]) -> list[BaseException]:
        """Run teardown steps on the loop, every one of them; return their errors.

        Async functions are awaited, sync ones run in this request's thread.
        """
        # PERF: runs for every request that has a teardown; _is_async's cache
        # lookup is inline.
        app = self.app
        known = app._async_callables
        errors: list[BaseException] = []
        for func, args, kwargs in steps:
            try:
                is_async = known.get(func)
                if is_async is None:
                    is_async = _is_async(app, func)
                if is_async:
                    await func(*args, **kwargs)
                else:
                    await _run_sync_step(self, func, args, kwargs)
            except BaseException as e:
                errors.append(e)
        return errors
