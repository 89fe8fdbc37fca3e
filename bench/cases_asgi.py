"""Suite "asgi": in-process requests into ASGI 3 ``app(scope, receive, send)``.

No server and no sockets.  The HTTP scope is built once per workload and
shallow-copied per request (apps such as Starlette write into it).
``receive`` returns one ``http.request`` message with an empty body, then
``http.disconnect``; ``send`` records the messages.  One sample runs ``n``
requests one after another inside a single ``loop.run_until_complete`` on an
event loop that belongs to the case and is created before timing, so loop
start-up is not measured.  The garbage collector is paused during a sample,
as ``timeit`` does for the WSGI suite.

To add an ASGI peer, write a factory that returns its ASGI callable serving
the same routes with ``async def`` handlers and add it to `ASGI_APPS`.
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

from cases_wsgi import WORKLOADS as WSGI_WORKLOADS
from cases_wsgi import HttpWorkload, Response
from harness import BatchTimer, Prepared, register

SUITE = "asgi"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Same routes, expected responses and validators as the WSGI suite.
WORKLOAD_NAMES = ("GET /hello", "GET /user/7?q=x")
WORKLOADS = [w for w in WSGI_WORKLOADS if w.name in WORKLOAD_NAMES]


# --- apps -------------------------------------------------------------------


def _tiny_async_flask_api_app(app_class: Any, request: Any) -> Any:
    """The benchmark app with async handlers, for Flask-API frameworks."""
    app = app_class(__name__)

    @app.route("/hello")
    async def hello() -> str:
        return "Hello, World!"

    @app.route("/user/<int:user_id>")
    async def user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "q": request.args["q"]}

    return app


def kettle_app() -> ASGIApp:
    import kettle

    app = _tiny_async_flask_api_app(kettle.Kettle, kettle.request)
    return app.asgi  # type: ignore[no-any-return]


def starlette_app() -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("Hello, World!")

    async def user(request: Request) -> JSONResponse:
        user_id = request.path_params["user_id"]
        return JSONResponse({"id": user_id, "q": request.query_params["q"]})

    routes = [Route("/hello", hello), Route("/user/{user_id:int}", user)]
    return Starlette(routes=routes)


def quart_app() -> ASGIApp:
    # No `await app.startup()`: Quart serves requests without a lifespan
    # startup (it only runs before_serving hooks, and there are none).
    from quart import Quart, request

    return _tiny_async_flask_api_app(Quart, request)  # type: ignore[no-any-return]


# Column order of the report; the first entry is the reference for ratios.
ASGI_APPS: dict[str, Callable[[], ASGIApp]] = {
    "Kettle": kettle_app,
    "Starlette": starlette_app,
    "Quart": quart_app,
}


# --- driver -----------------------------------------------------------------


def build_scope(workload: HttpWorkload) -> Scope:
    """An HTTP scope like the one a server (e.g. uvicorn) passes for the request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": workload.path,
        "raw_path": workload.path.encode("ascii"),
        "query_string": workload.query.encode("ascii"),
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


class Exchange:
    """``receive``/``send`` for one request; keeps what the app sent."""

    __slots__ = ("_request_sent", "messages")

    def __init__(self) -> None:
        self._request_sent = False
        self.messages: list[Message] = []

    async def receive(self) -> Message:
        if self._request_sent:
            return {"type": "http.disconnect"}
        self._request_sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def complete(self) -> bool:
        """True once the last body message (``more_body`` false) was sent."""
        last = self.messages[-1] if self.messages else {}
        return last.get("type") == "http.response.body" and not last.get("more_body")


async def request_once(app: ASGIApp, scope: Scope) -> Exchange:
    exchange = Exchange()
    await app(scope.copy(), exchange.receive, exchange.send)
    return exchange


async def request_many(app: ASGIApp, scope: Scope, number: int) -> int:
    """Send ``number`` requests; return how many responses were incomplete."""
    incomplete = 0
    for _ in range(number):
        exchange = Exchange()
        await app(scope.copy(), exchange.receive, exchange.send)
        if not exchange.complete:
            incomplete += 1
    return incomplete


def to_response(exchange: Exchange) -> Response:
    """(status, headers, body) in the WSGI suite's form, for its validators."""
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
    loop: asyncio.AbstractEventLoop, app: ASGIApp, scope: Scope
) -> BatchTimer:
    def run(number: int) -> float:
        coro = request_many(app, scope, number)
        with gc_paused():
            start = time.perf_counter()
            incomplete = loop.run_until_complete(coro)
            elapsed = time.perf_counter() - start
        if incomplete:
            raise RuntimeError(f"{incomplete} of {number} responses incomplete")
        return elapsed

    return run


def asgi_case(make_app: Callable[[], ASGIApp], workload: HttpWorkload) -> Prepared:
    app = make_app()
    scope = build_scope(workload)
    loop = _new_loop()

    def check() -> list[str]:
        exchange = loop.run_until_complete(request_once(app, scope))
        problems = workload.validate(to_response(exchange))
        if not exchange.complete:
            problems.append("response not completed (no final http.response.body)")
        return problems

    return Prepared(batch_timer(loop, app, scope), check)


def register_all() -> None:
    for subject, make_app in ASGI_APPS.items():
        for workload in WORKLOADS:
            register(
                SUITE, subject, workload.name, partial(asgi_case, make_app, workload)
            )


register_all()
