"""The teardown of a context, written once: the calls it makes, in order.

When a context ends (see ``AppContext``), these run with the context still active:

1. ``teardown_request`` functions, blueprints innermost first then the app, each
   list in reverse registration order (request contexts only);
2. the ``request_tearing_down`` signal, then ``request.close()``;
3. ``teardown_appcontext`` functions, in reverse registration order;
4. the ``appcontext_tearing_down`` signal.

Each receives the unhandled exception or None. Every call runs even when earlier ones
raise; :func:`run_steps` returns their errors for the caller to raise together.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from . import signals

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext
    from .dispatch import Step
    from .wrappers import Request

__all__ = [
    "appcontext_teardown_steps",
    "has_teardown",
    "request_teardown_steps",
    "run_steps",
    "teardown_steps",
]

_NO_KWARGS: dict[str, Any] = {}
_REQUEST_TEARING_DOWN = signals.request_tearing_down
_APPCONTEXT_TEARING_DOWN = signals.appcontext_tearing_down


def request_teardown_steps(
    app: Kettle, req: Request, exc: BaseException | None
) -> Iterator[Step]:
    """The calls that end a request: its teardown functions, signal, and close."""
    funcs = app.teardown_request_funcs
    if funcs:
        for scope in (*req.blueprints, None):
            for func in reversed(funcs.get(scope, ())):
                yield func, (exc,), _NO_KWARGS
    if signals.request_tearing_down.receivers:
        yield (
            signals.request_tearing_down.send,
            (app,),
            {"_async_wrapper": app.ensure_sync, "exc": exc},
        )
    if req._close_at_teardown:
        yield req.close, (), _NO_KWARGS


def appcontext_teardown_steps(app: Kettle, exc: BaseException | None) -> Iterator[Step]:
    """The calls that end any context: teardown_appcontext functions and signal."""
    for func in reversed(app.teardown_appcontext_funcs):
        yield func, (exc,), _NO_KWARGS
    if signals.appcontext_tearing_down.receivers:
        yield (
            signals.appcontext_tearing_down.send,
            (app,),
            {"_async_wrapper": app.ensure_sync, "exc": exc},
        )


def teardown_steps(
    app: Kettle, ctx: AppContext, exc: BaseException | None
) -> Iterator[Step] | None:
    """Every call of the teardown of ``ctx``, in order; None when there are none."""
    # PERF: most requests register no teardown and parse no upload; skip building
    # the step generators for them. With only app-wide teardown_appcontext
    # functions, the steps are listed directly.
    req = ctx._request
    if _needs_general_steps(app, req):
        return _all_steps(app, req, exc)
    funcs = app.teardown_appcontext_funcs
    if not funcs:
        return None
    return iter([(func, (exc,), _NO_KWARGS) for func in reversed(funcs)])


def has_teardown(app: Kettle, ctx: AppContext) -> bool:
    """Whether ending ``ctx`` calls anything (:func:`teardown_steps` is not None)."""
    # PERF: asked once or twice per request; flat (_needs_general_steps written
    # out), no bool() calls.
    if (
        app.teardown_appcontext_funcs
        or app.teardown_request_funcs
        or _REQUEST_TEARING_DOWN.receivers
        or _APPCONTEXT_TEARING_DOWN.receivers
    ):
        return True
    req = ctx._request
    return req is not None and req._close_at_teardown


def _needs_general_steps(app: Kettle, req: Request | None) -> bool:
    if (
        app.teardown_request_funcs
        or _REQUEST_TEARING_DOWN.receivers
        or _APPCONTEXT_TEARING_DOWN.receivers
    ):
        return True
    return req is not None and req._close_at_teardown


def _all_steps(
    app: Kettle, req: Request | None, exc: BaseException | None
) -> Iterator[Step]:
    if req is not None:
        yield from request_teardown_steps(app, req, exc)
    yield from appcontext_teardown_steps(app, exc)


def run_steps(app: Kettle, steps: Iterator[Step]) -> list[BaseException]:
    """Run every step synchronously, coroutines on the thread's loop; collect errors."""
    errors: list[BaseException] = []
    for func, args, kwargs in steps:
        try:
            result = func(*args, **kwargs)
            if type(result) is CoroutineType:
                app._loops.run_or_schedule(result, app._log_task_error)
        except BaseException as e:
            errors.append(e)
    return errors
