"""Suite "wsgi": in-process requests through ``app(environ, start_response)``.

No server and no sockets: each environ is built once with Werkzeug's
``EnvironBuilder`` and copied per call (a WSGI app may mutate it), with a
fresh ``wsgi.input`` holding the request body.  The body iterable is fully
consumed and closed, as a server would.  The apps are in `apps_wsgi`; to add
a WSGI peer, add its factory to `apps_wsgi.WSGI_APPS`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from typing import Any

from apps_wsgi import WSGI_APPS, WSGI_SKIPS, Environ, WSGIApp
from harness import Prepared, call_timer, register
from workloads import (
    WORKLOADS,
    Headers,
    HttpWorkload,
    Response,
    expect_session,
    session_cookie,
    session_follow_up,
)

SUITE = "wsgi"


def build_environ(workload: HttpWorkload, cookie: str | None = None) -> Environ:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path=workload.path,
        query_string=workload.query,
        method=workload.method,
        data=workload.body or None,
        content_type=workload.content_type or None,
        headers={"Cookie": cookie} if cookie else None,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ.pop("wsgi.input", None)  # a fresh one per request
    return environ


def call_wsgi(app: WSGIApp, base_environ: Environ, body: bytes = b"") -> Response:
    """One request, the way a server does it; returns (status, headers, body)."""
    environ = base_environ.copy()
    environ["wsgi.input"] = io.BytesIO(body)
    started: list[tuple[str, Headers]] = []

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
        started.append((status, headers))
        return _discard_write

    body_iter = app(environ, start_response)
    try:
        out = b"".join(body_iter)
    finally:
        close = getattr(body_iter, "close", None)
        if close is not None:
            close()
    status, headers = started[-1] if started else ("<start_response not called>", [])
    return status, headers, out


def _discard_write(data: bytes) -> None:
    pass


def prime_session(
    workload: HttpWorkload, request_with: Callable[[str | None], Response]
) -> str | None:
    """The cookie to send with every timed request (None: no cookie).

    For the session workload, one request without a cookie comes first (n=1);
    its cookie goes with every timed request (n=2).
    """
    if not workload.session:
        return None
    first = request_with(None)
    problems = expect_session(1, first)
    if problems:
        raise RuntimeError(f"first session request: {'; '.join(problems)}")
    return session_cookie(first[1])


def make_check(
    workload: HttpWorkload,
    request_with: Callable[[str | None], Response],
    cookie: str | None,
) -> Callable[[], list[str]]:
    """One request, validated; a session response's cookie must give n=3."""

    def check() -> list[str]:
        response = request_with(cookie)
        problems = workload.validate(response)
        if workload.session and not problems:
            problems += session_follow_up(request_with, response)
        return problems

    return check


def wsgi_case(app: WSGIApp, workload: HttpWorkload) -> Prepared:
    """Time requests of ``workload`` into the WSGI callable ``app``."""

    def request_with(cookie: str | None) -> Response:
        return call_wsgi(app, build_environ(workload, cookie), workload.body)

    cookie = prime_session(workload, request_with)
    timed = partial(call_wsgi, app, build_environ(workload, cookie), workload.body)
    return Prepared(call_timer(timed), make_check(workload, request_with, cookie))


def _factory_case(make_app: Callable[[str], Any], workload: HttpWorkload) -> Prepared:
    return wsgi_case(make_app(workload.name), workload)


def register_all() -> None:
    for subject, make_app in WSGI_APPS.items():
        skips = WSGI_SKIPS.get(subject, frozenset())
        for workload in WORKLOADS:
            if workload.name not in skips:
                factory = partial(_factory_case, make_app, workload)
                register(SUITE, subject, workload.name, factory)


register_all()
