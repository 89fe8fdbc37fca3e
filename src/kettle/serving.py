"""What runs when a server starts and stops serving the app (the ASGI lifespan).

``before_serving`` functions run at start-up, then each ``while_serving`` generator
runs up to its ``yield``; at shut-down the generators resume, in reverse order, and
the ``after_serving`` functions run. Both phases run inside an app context that the
adapter pushes. Written as pipelines (see :mod:`kettle.dispatch`) so that sync and
async functions and generators are all supported.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Generator, Mapping
from typing import TYPE_CHECKING, Any

from .dispatch import Pipeline

if TYPE_CHECKING:
    from .app import Kettle

__all__ = ["shut_down", "start_up"]

_NO_KWARGS: Mapping[str, Any] = {}
_DONE = object()


async def _advance_async(generator: AsyncGenerator[Any, None]) -> Any:
    try:
        await generator.__anext__()
    except StopAsyncIteration:
        return _DONE
    return None


def _advance_sync(generator: Generator[Any, None, None]) -> Any:
    return next(generator, _DONE)


def _advance(generator: Any) -> tuple[Any, tuple[Any, ...], Mapping[str, Any]]:
    if inspect.isasyncgen(generator):
        return _advance_async, (generator,), _NO_KWARGS
    return _advance_sync, (generator,), _NO_KWARGS


def start_up(app: Kettle) -> Pipeline[None]:
    """Run ``before_serving`` functions, then ``while_serving`` up to their yield."""
    for func in app.before_serving_funcs:
        yield func, (), _NO_KWARGS
    for make_generator in app.while_serving_funcs:
        generator = yield make_generator, (), _NO_KWARGS
        if not (inspect.isgenerator(generator) or inspect.isasyncgen(generator)):
            raise TypeError(
                f"while_serving function {make_generator.__name__!r} must be a"
                " generator (or async generator) function that yields once."
            )
        if (yield _advance(generator)) is _DONE:
            raise RuntimeError(
                f"while_serving function {make_generator.__name__!r} returned"
                " without yielding; put a `yield` between start-up and shut-down."
            )
        app._serving_generators.append(generator)


def shut_down(app: Kettle) -> Pipeline[None]:
    """Resume the ``while_serving`` generators, last first, then ``after_serving``."""
    generators, app._serving_generators = app._serving_generators, []
    for generator in reversed(generators):
        if (yield _advance(generator)) is not _DONE:
            raise RuntimeError(
                f"while_serving generator {generator!r} yielded more than once."
            )
    for func in app.after_serving_funcs:
        yield func, (), _NO_KWARGS
