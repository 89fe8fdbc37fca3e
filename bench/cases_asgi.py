"""Suite "asgi": in-process requests into ASGI 3 ``app(scope, receive, send)``.

No server and no sockets.  The HTTP scope is built once per workload and
shallow-copied per request (apps such as Starlette write into it).
``receive`` returns one ``http.request`` message with the whole body, then
``http.disconnect``; ``send`` records the messages.  One sample runs ``n``
requests one after another inside a single ``loop.run_until_complete`` on an
event loop that belongs to the case and is created before timing, so loop
start-up is not measured.  The garbage collector is paused during a sample,
as ``timeit`` does for the WSGI suite.

The apps are in `apps_asgi`; to add an ASGI peer, add its factory to
`apps_asgi.ASGI_APPS`.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from apps_asgi import (
    ASGI_APPS,
    ASGI_SKIPS,
    ASGI_STARTUP,
    ASGIApp,
    Message,
    Scope,
)
from cases_wsgi import make_check, prime_session
from harness import BatchTimer, Prepared, register
from workloads import WORKLOADS, HttpWorkload, Response

SUITE = "asgi"


# --- driver -----------------------------------------------------------------


def build_scope(workload: HttpWorkload, cookie: str | None = None) -> Scope:
    """An HTTP scope like the one a server (e.g. uvicorn) passes for the request."""
    headers = [(b"host", b"localhost")]
    if workload.body:
        headers.append((b"content-type", workload.content_type.encode()))
        headers.append((b"content-length", str(len(workload.body)).encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode("latin-1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": workload.method,
        "scheme": "http",
        "path": workload.path,
        "raw_path": workload.path.encode("ascii"),
        "query_string": workload.query.encode("ascii"),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


class Exchange:
    """``receive``/``send`` for one request; keeps what the app sent."""

    __slots__ = ("_body", "_request_sent", "messages")

    def __init__(self, body: bytes = b"") -> None:
        self._body = body
        self._request_sent = False
        self.messages: list[Message] = []

    async def receive(self) -> Message:
        if self._request_sent:
            return {"type": "http.disconnect"}
        self._request_sent = True
        return {"type": "http.request", "body": self._body, "more_body": False}

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def complete(self) -> bool:
        """True once the last body message (``more_body`` false) was sent."""
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body")


async def request_once(app: ASGIApp, scope: Scope, body: bytes = b"") -> Exchange:
    exchange = Exchange(body)
    await app(scope.copy(), exchange.receive, exchange.send)
    return exchange


async def request_many(app: ASGIApp, scope: Scope, body: bytes, number: int) -> int:
    """Send ``number`` requests; return how many responses were incomplete."""
    incomplete = 0
    for _ in range(number):
        exchange = Exchange(body)
        await app(scope.copy(), exchange.receive, exchange.send)
        if not exchange.complete:
            incomplete += 1
    return incomplete


def to_response(exchange: Exchange) -> Response:
    """(status, headers, body) in the WSGI suite's form, for the validators."""
    start = next(
        (m for m in exchange.messages if m["type"] == "http.response.start"), None
    )
    if start is None:
        return "<no http.response.start>", [], b""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start["headers"]]
    bodies = (m for m in exchange.messages if m["type"] == "http.response.body")
    body = b"".join(m.get("body", b"") for m in bodies)
    return str(start["status"]), headers, body


@contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _new_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    atexit.register(loop.close)
    return loop


def batch_timer(
    loop: asyncio.AbstractEventLoop, app: ASGIApp, scope: Scope, body: bytes = b""
) -> BatchTimer:
    def run(number: int) -> float:
        coro = request_many(app, scope, body, number)
        with gc_paused():
            start = time.perf_counter()
            incomplete = loop.run_until_complete(coro)
            elapsed = time.perf_counter() - start
        if incomplete:
            raise RuntimeError(f"{incomplete} of {number} responses incomplete")
        return elapsed

    return run


def asgi_case(
    app: ASGIApp,
    workload: HttpWorkload,
    startup: Callable[[Any], Awaitable[None]] | None = None,
) -> Prepared:
    """Time requests of ``workload`` into the ASGI callable ``app``."""
    loop = _new_loop()
    if startup is not None:
        loop.run_until_complete(startup(app))
    incomplete: list[str] = []

    def request_with(cookie: str | None) -> Response:
        scope = build_scope(workload, cookie)
        exchange = loop.run_until_complete(request_once(app, scope, workload.body))
        if not exchange.complete:
            incomplete.append("response not completed (no final http.response.body)")
        return to_response(exchange)

    cookie = prime_session(workload, request_with)
    validate = make_check(workload, request_with, cookie)

    def check() -> list[str]:
        incomplete.clear()
        return validate() + incomplete

    timer = batch_timer(loop, app, build_scope(workload, cookie), workload.body)
    return Prepared(timer, check)


def _factory_case(
    make_app: Callable[[str], Any],
    workload: HttpWorkload,
    startup: Callable[[Any], Awaitable[None]] | None,
) -> Prepared:
    return asgi_case(make_app(workload.name), workload, startup)


def register_all() -> None:
    for subject, make_app in ASGI_APPS.items():
        skips = ASGI_SKIPS.get(subject, frozenset())
        startup = ASGI_STARTUP.get(subject)
        for workload in WORKLOADS:
            if workload.name not in skips:
                factory = partial(_factory_case, make_app, workload, startup)
                register(SUITE, subject, workload.name, factory)


register_all()
