"""ASGI apps of the benchmark: one factory per framework, one app per workload.

Every handler is ``async def``.  ``factory(workload_name)`` returns an ASGI 3
callable serving only that workload's route (plus what it needs), or raises
`NotApplicableError`.  bench/README.md describes what each app does.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from apps_wsgi import FALCON_ROUTES
from workloads import (
    APP_NAME,
    CTX,
    CTX_READS,
    DB,
    ECHO,
    HELLO,
    SECRET_KEY,
    SESSION,
    SESSION_COOKIE,
    USER,
    USER_DICT,
    NotApplicableError,
    db_path,
    load_session,
    sign_session,
)

try:  # BlackSheep resolves handler annotations in this module's globals
    from blacksheep import Request as BlackSheepRequest
except ImportError:  # then its cells show n/a
    BlackSheepRequest = Any  # type: ignore[misc, assignment]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
AppFactory = Callable[[str], Any]


# --- Kettle and Quart: Flask's API with async views and hooks -----------------


def async_flask_api_app(module_name: str, class_name: str, workload: str) -> Any:
    """The app for one workload, Flask's API with ``async def`` views and hooks.

    The only difference between Kettle and Quart is the JSON body: Quart's
    ``request.get_json()`` is a coroutine, Kettle's returns the value (the
    body, up to 64 KiB, has been read before the view runs).
    """
    m = importlib.import_module(module_name)
    app = getattr(m, class_name)(__name__)
    request, g, session, current_app = m.request, m.g, m.session, m.current_app

    if workload == HELLO:

        @app.route("/hello")
        async def hello() -> str:
            return "Hello, World!"

    elif workload == USER:

        @app.route("/user/<int:user_id>")
        async def user(user_id: int) -> Any:
            return m.jsonify({"id": user_id, "q": request.args["q"]})

    elif workload == USER_DICT:

        @app.route("/user-dict/<int:user_id>")
        async def user_dict(user_id: int) -> Any:
            return {"id": user_id, "q": request.args["q"]}

    elif workload == ECHO and module_name == "quart":

        @app.post("/echo")
        async def echo() -> Any:
            return await request.get_json()

    elif workload == ECHO:

        @app.post("/echo")
        async def echo() -> Any:
            return request.get_json()

    elif workload == SESSION:
        app.secret_key = SECRET_KEY

        @app.route("/session")
        async def count() -> str:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

    elif workload == DB:
        path = db_path()

        @app.before_request
        async def open_db() -> None:
            g.db = sqlite3.connect(path)

        @app.teardown_appcontext
        async def close_db(exc: BaseException | None) -> None:
            db = g.pop("db", None)
            if db is not None:
                db.close()

        @app.route("/db")
        async def select_one() -> str:
            return str(g.db.execute("select 1").fetchone()[0])

    elif workload == CTX:

        @app.route("/ctx")
        async def ctx() -> str:
            g.value = "v"
            for _ in range(CTX_READS):
                method = request.method
                path = request.path
                value = g.value
                name = current_app.name
            return f"{method} {path} {value} {name}"

    else:
        raise NotApplicableError(workload)
    return app


def kettle_app(workload: str) -> ASGIApp:
    return async_flask_api_app("kettle", "Kettle", workload).asgi  # type: ignore[no-any-return]


def quart_app(workload: str) -> ASGIApp:
    # No `await app.startup()`: Quart serves requests without a lifespan
    # startup (it only runs before_serving hooks, and there are none).
    return async_flask_api_app("quart", "Quart", workload)  # type: ignore[no-any-return]


# --- Starlette ----------------------------------------------------------------


class StarletteDb:
    """Pure ASGI middleware: a connection per request on ``request.state.db``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        db = sqlite3.connect(db_path())
        scope.setdefault("state", {})["db"] = db
        try:
            await self.app(scope, receive, send)
        finally:
            db.close()


def starlette_app(workload: str) -> ASGIApp:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.sessions import SessionMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def hello(request: Request) -> Response:
        return PlainTextResponse("Hello, World!")

    async def user(request: Request) -> Response:
        user_id = request.path_params["user_id"]
        return JSONResponse({"id": user_id, "q": request.query_params["q"]})

    async def echo(request: Request) -> Response:
        return JSONResponse(await request.json())

    async def count(request: Request) -> Response:
        n = request.session.get("n", 0) + 1
        request.session["n"] = n
        return PlainTextResponse(str(n))

    async def select_one(request: Request) -> Response:
        return PlainTextResponse(
            str(request.state.db.execute("select 1").fetchone()[0])
        )

    async def ctx(request: Request) -> Response:
        request.state.value = "v"
        for _ in range(CTX_READS):
            method = request.method
            path = request.url.path
            value = request.state.value
            name = request.app.state.name
        return PlainTextResponse(f"{method} {path} {value} {name}")

    routes = {
        HELLO: Route("/hello", hello),
        USER: Route("/user/{user_id:int}", user),
        ECHO: Route("/echo", echo, methods=["POST"]),
        SESSION: Route("/session", count),
        DB: Route("/db", select_one),
        CTX: Route("/ctx", ctx),
    }
    if workload not in routes:
        raise NotApplicableError(workload)
    middleware = {
        SESSION: [Middleware(SessionMiddleware, secret_key=SECRET_KEY)],
        DB: [Middleware(StarletteDb)],
    }.get(workload, [])
    app = Starlette(routes=[routes[workload]], middleware=middleware)
    app.state.name = APP_NAME
    return app


# --- Falcon (falcon.asgi.App) -------------------------------------------------


class FalconAsyncDb:
    """Falcon ASGI middleware: a connection per request on ``req.context.db``."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def process_request(self, req: Any, resp: Any) -> None:
        req.context.db = sqlite3.connect(self.path)

    async def process_response(
        self, req: Any, resp: Any, resource: Any, req_succeeded: bool
    ) -> None:
        db = req.context.get("db")
        if db is not None:
            db.close()


class FalconAsyncResource:
    """The same responders as the WSGI Falcon app, as coroutines."""

    app_name = APP_NAME

    async def on_get_hello(self, req: Any, resp: Any) -> None:
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = "Hello, World!"

    async def on_get_user(self, req: Any, resp: Any, user_id: int) -> None:
        resp.media = {"id": user_id, "q": req.get_param("q")}

    async def on_post_echo(self, req: Any, resp: Any) -> None:
        resp.media = await req.get_media()

    async def on_get_db(self, req: Any, resp: Any) -> None:
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = str(req.context.db.execute("select 1").fetchone()[0])

    async def on_get_ctx(self, req: Any, resp: Any) -> None:
        req.context.value = "v"
        for _ in range(CTX_READS):
            method = req.method
            path = req.path
            value = req.context.value
            name = self.app_name
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = f"{method} {path} {value} {name}"


def falcon_asgi_app(workload: str) -> ASGIApp:
    import falcon.asgi

    if workload not in FALCON_ROUTES:
        raise NotApplicableError(workload)
    route, suffix = FALCON_ROUTES[workload]
    middleware = [FalconAsyncDb(db_path())] if workload == DB else []
    app = falcon.asgi.App(middleware=middleware)
    app.add_route(route, FalconAsyncResource(), suffix=suffix)
    return app  # type: ignore[no-any-return]


# --- BlackSheep ---------------------------------------------------------------


def blacksheep_app(workload: str) -> ASGIApp:
    """Needs ``await app.start()`` before serving (see `ASGI_STARTUP`)."""
    from blacksheep import Application, json, text
    from blacksheep.server.routing import Router

    # Its own router: the default one is shared by all apps of the process.
    app = Application(router=Router())
    get = app.router.get
    app_info = {"name": APP_NAME}

    if workload == HELLO:

        @get("/hello")
        async def hello() -> Any:
            return text("Hello, World!")

    elif workload == USER:

        @get("/user/{int:user_id}")
        async def user(user_id: int, q: str) -> Any:
            return json({"id": user_id, "q": q})

    elif workload == ECHO:

        @app.router.post("/echo")
        async def echo(request: BlackSheepRequest) -> Any:
            return json(await request.json())

    elif workload == SESSION:
        app.use_sessions(SECRET_KEY)

        @get("/session")
        async def count(request: BlackSheepRequest) -> Any:
            session = request.session
            session["n"] = session.get("n", 0) + 1
            return text(str(session["n"]))

    elif workload == DB:
        path = db_path()

        async def db_middleware(request: Any, handler: Any) -> Any:
            request.db = sqlite3.connect(path)
            try:
                return await handler(request)
            finally:
                request.db.close()

        app.middlewares.append(db_middleware)

        @get("/db")
        async def select_one(request: BlackSheepRequest) -> Any:
            db = request.db  # type: ignore[attr-defined]
            return text(str(db.execute("select 1").fetchone()[0]))

    elif workload == CTX:

        @get("/ctx")
        async def ctx(request: BlackSheepRequest) -> Any:
            request.value = "v"  # type: ignore[attr-defined]
            for _ in range(CTX_READS):
                method = request.method
                path = request.path
                value = request.value  # type: ignore[attr-defined]
                name = app_info["name"]
            return text(f"{method} {path} {value} {name}")

    else:
        raise NotApplicableError(workload)
    return app  # type: ignore[no-any-return]


# --- bare ASGI callables: the floor -------------------------------------------

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"


async def _respond(
    send: Send, content_type: bytes, body: bytes, *extra: tuple[bytes, bytes]
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _not_found(send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"Not Found"})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _cookie_header(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"cookie":
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return ""


def bare_asgi_app(workload: str) -> ASGIApp:
    """A hand-written ASGI callable doing just what the workload needs."""
    if workload == HELLO:

        async def hello(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] != "/hello":
                return await _not_found(send)
            await _respond(send, _TEXT, b"Hello, World!")

        return hello
    if workload == USER:

        async def user(scope: Scope, receive: Receive, send: Send) -> None:
            path = scope["path"]
            if not path.startswith("/user/") or not path[6:].isdigit():
                return await _not_found(send)
            query = parse_qs(scope["query_string"].decode("latin-1"))
            doc = {"id": int(path[6:]), "q": query["q"][0]}
            await _respond(send, _JSON, json.dumps(doc).encode())

        return user
    if workload == ECHO:

        async def echo(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] != "/echo" or scope["method"] != "POST":
                return await _not_found(send)
            doc = json.loads(await _read_body(receive))
            await _respond(send, _JSON, json.dumps(doc).encode())

        return echo
    if workload == SESSION:

        async def count(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] != "/session":
                return await _not_found(send)
            data = load_session(_cookie_header(scope))
            data["n"] = data.get("n", 0) + 1
            cookie = f"{SESSION_COOKIE}={sign_session(data)}; HttpOnly; Path=/"
            body = str(data["n"]).encode()
            await _respond(send, _TEXT, body, (b"set-cookie", cookie.encode()))

        return count
    if workload == DB:
        path = db_path()

        async def select_one(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] != "/db":
                return await _not_found(send)
            db = sqlite3.connect(path)
            try:
                body = str(db.execute("select 1").fetchone()[0]).encode()
            finally:
                db.close()
            await _respond(send, _TEXT, body)

        return select_one
    if workload == CTX:
        app_info = {"name": APP_NAME}

        async def ctx(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["path"] != "/ctx":
                return await _not_found(send)
            state = scope.setdefault("state", {})
            state["value"] = "v"
            for _ in range(CTX_READS):
                method = scope["method"]
                path = scope["path"]
                value = state["value"]
                name = app_info["name"]
            await _respond(send, _TEXT, f"{method} {path} {value} {name}".encode())

        return ctx
    raise NotApplicableError(workload)


# Column order of the ASGI table; Kettle first (the reference of the ratios).
ASGI_APPS: dict[str, AppFactory] = {
    "Kettle": kettle_app,
    "Quart": quart_app,
    "Starlette": starlette_app,
    "Falcon": falcon_asgi_app,
    "BlackSheep": blacksheep_app,
    "bare ASGI": bare_asgi_app,
}

ASGI_SKIPS: dict[str, frozenset[str]] = {
    "Starlette": frozenset({USER_DICT}),
    "Falcon": frozenset({SESSION, USER_DICT}),
    "BlackSheep": frozenset({USER_DICT}),
    "bare ASGI": frozenset({USER_DICT}),
}

# Coroutine to run once (outside timing) before a framework serves requests.
ASGI_STARTUP: dict[str, Callable[[Any], Awaitable[None]]] = {
    "BlackSheep": lambda app: app.start(),
}
