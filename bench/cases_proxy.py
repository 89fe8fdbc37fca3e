"""Suite "proxy": cost of one ``request.method`` access through a context proxy.

Every accessor is timed inside a freshly pushed ``test_request_context('/x')``
(pushed and popped outside the timed loop).  The LocalProxy row is built by
this file over *Kettle's* ``_cv_app`` exactly the way Flask builds its own
proxies, so it reads the very same context object as the Kettle row; Flask's
real ``flask.request`` is listed separately for reference.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from harness import BatchTimer, Prepared, loop_timer, register

SUITE = "proxy"
WORKLOAD = "request.method"
EXPECTED = "GET"

KETTLE = "kettle.request"
LOCALPROXY = 'LocalProxy(_cv_app, "request")'
FLASK = "flask.request"
DIRECT = "_cv_app.get().request.method"
EMPTY = "(empty loop)"

ContextFactory = Callable[[], AbstractContextManager[Any]]


def _in_context(make_ctx: ContextFactory, timer: BatchTimer) -> BatchTimer:
    def run(number: int) -> float:
        with make_ctx():
            return timer(number)

    return run


def _accessor_case(make_ctx: ContextFactory, expr: str, **names: object) -> Prepared:
    """Time ``expr`` (which must evaluate to the request method) in a context."""

    def check() -> list[str]:
        with make_ctx():
            value = eval(expr, {}, dict(names))
        if value != EXPECTED:
            return [f"{expr} returned {value!r}, expected {EXPECTED!r}"]
        return []

    timer = _in_context(make_ctx, loop_timer(expr, **names))
    return Prepared(timer, check)


def _kettle_ctx() -> ContextFactory:
    from kettle import Kettle

    app = Kettle(__name__)
    return lambda: app.test_request_context("/x")


def kettle_request() -> Prepared:
    import kettle

    return _accessor_case(_kettle_ctx(), "p.method", p=kettle.request)


def flask_style_localproxy() -> Prepared:
    from werkzeug.local import LocalProxy

    from kettle.globals import _cv_app

    proxy = LocalProxy(_cv_app, "request", unbound_message="no request context")
    return _accessor_case(_kettle_ctx(), "p.method", p=proxy)


def flask_request() -> Prepared:
    import flask

    app = flask.Flask(__name__)
    return _accessor_case(
        lambda: app.test_request_context("/x"), "p.method", p=flask.request
    )


def direct_contextvar() -> Prepared:
    from kettle.globals import _cv_app

    return _accessor_case(_kettle_ctx(), "cv.get().request.method", cv=_cv_app)


def empty_loop() -> Prepared:
    return Prepared(loop_timer("pass"))


register(SUITE, KETTLE, WORKLOAD, kettle_request)
register(SUITE, LOCALPROXY, WORKLOAD, flask_style_localproxy)
register(SUITE, FLASK, WORKLOAD, flask_request)
register(SUITE, DIRECT, WORKLOAD, direct_contextvar)
register(SUITE, EMPTY, WORKLOAD, empty_loop)
