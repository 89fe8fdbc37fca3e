"""The one context variable and the global proxies that read it.

``_cv_app`` holds the active :class:`~kettle.ctx.AppContext` of the current thread or
asyncio task. Only :mod:`kettle.ctx` sets or resets it. Each proxy looks it up again
on every operation, so code written against ``request`` or ``g`` sees the context of
whoever runs it.
"""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, cast

from .errors import UnboundProxyError
from .proxy import make_proxy

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext, AppCtxGlobals
    from .sessions import SessionMixin
    from .websocket import Websocket
    from .wrappers import Request

__all__ = [
    "_cv_app",
    "app_ctx",
    "current_app",
    "g",
    "request",
    "request_ctx",
    "session",
    "websocket",
]

_cv_app: ContextVar[AppContext] = ContextVar("kettle.app_ctx")
_get_ctx = _cv_app.get


def _handover_hint() -> str:
    """Explain context hand-over when the caller runs in a worker thread or a task."""
    in_task = False
    try:
        in_task = asyncio.current_task() is not None
    except RuntimeError:
        pass
    if not in_task and threading.current_thread() is threading.main_thread():
        return ""
    if in_task:
        where = (
            "an asyncio task, which only sees the context that was active where the"
            " task was created"
        )
    else:
        where = "a background thread, which does not inherit the caller's context"
    return (
        f"\n\nThis code runs in {where}. Hand the context over explicitly: start the"
        " work with `kettle.spawn(func, *args)` from the view (the request's teardown"
        " then waits for it), or decorate the function with"
        " `kettle.copy_current_request_context`; outside a request, run it inside"
        " `with app.app_context():`."
    )


def _outside_app(name: str) -> UnboundProxyError:
    return UnboundProxyError(
        f"Working outside of application context: '{name}' was used, but no Kettle"
        " context is active in this thread or task.\n\nPush one with"
        " `with app.app_context():` in a script, a test or a CLI command that does not"
        " use `kettle.cli`; during a request the context is pushed for you."
        + _handover_hint()
    )


def _outside_request(name: str, ctx: AppContext | None) -> UnboundProxyError:
    if ctx is None:
        detail = "no Kettle context is active in this thread or task"
    else:
        detail = f"the active context ({ctx!r}) is an application context without one"
    return UnboundProxyError(
        f"Working outside of request context: '{name}' needs an HTTP request, but"
        f" {detail}.\n\nThe request globals work in views, request hooks and"
        " teardown functions. To simulate a request in a test or a script, use"
        " `with app.test_request_context('/path'):`." + _handover_hint()
    )


def _resolve_app_ctx() -> AppContext:
    ctx = _get_ctx(None)
    if ctx is None:
        raise _outside_app("app_ctx")
    return ctx


def _resolve_app() -> Kettle:
    ctx = _get_ctx(None)
    if ctx is None:
        raise _outside_app("current_app")
    return ctx.app


def _resolve_g() -> AppCtxGlobals:
    ctx = _get_ctx(None)
    if ctx is None:
        raise _outside_app("g")
    return ctx.g


def _resolve_request() -> Request:
    ctx = _get_ctx(None)
    if ctx is not None:
        req = ctx._request
        if req is not None:
            return req
    raise _outside_request("request", ctx)


def _resolve_session() -> SessionMixin:
    ctx = _get_ctx(None)
    if ctx is None or ctx._request is None:
        raise _outside_request("session", ctx)
    return ctx.session


def _resolve_websocket() -> Websocket:
    ctx = _get_ctx(None)
    if ctx is not None and ctx._websocket is not None:
        return ctx._websocket
    where = "no Kettle context is active" if ctx is None else f"{ctx!r} is not one"
    raise UnboundProxyError(
        "Working outside of a WebSocket connection: 'websocket' is only available in"
        f" a view registered with `@app.websocket(rule)`, served over ASGI; {where}."
    )


app_ctx: AppContext = cast("AppContext", make_proxy("app_ctx", _resolve_app_ctx))
current_app: Kettle = cast(
    "Kettle",
    make_proxy("current_app", _resolve_app, get_ctx=_get_ctx, field="app"),
)
g: AppCtxGlobals = cast(
    "AppCtxGlobals",
    make_proxy("g", _resolve_g, get_ctx=_get_ctx, field="_g", lazy=True),
)
request: Request = cast(
    "Request",
    make_proxy("request", _resolve_request, get_ctx=_get_ctx, field="_request"),
)
session: SessionMixin = cast("SessionMixin", make_proxy("session", _resolve_session))

#: The name Flask 3.1 used for the context of a request; in Kettle it is the same
#: object as :data:`app_ctx`.
request_ctx: AppContext = app_ctx
websocket: Websocket = cast(
    "Websocket",
    make_proxy("websocket", _resolve_websocket, get_ctx=_get_ctx, field="_websocket"),
)
