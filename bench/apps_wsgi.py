"""WSGI apps of the benchmark: one factory per framework, one app per workload.

``factory(workload_name)`` returns a WSGI callable serving only that
workload's route (plus the hooks it needs), or raises `NotApplicableError`.
bench/README.md describes what each app does.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

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

Environ = dict[str, Any]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]
AppFactory = Callable[[str], Any]


# --- Kettle and Flask: the same code, only the import differs -----------------


def flask_api_app(module_name: str, class_name: str, workload: str) -> Any:
    """The app for one workload, written against Flask's API (sync views)."""
    m = importlib.import_module(module_name)
    app = getattr(m, class_name)(__name__)
    request, g, session, current_app = m.request, m.g, m.session, m.current_app

    if workload == HELLO:

        @app.route("/hello")
        def hello() -> str:
            return "Hello, World!"

    elif workload == USER:

        @app.route("/user/<int:user_id>")
        def user(user_id: int) -> Any:
            return m.jsonify({"id": user_id, "q": request.args["q"]})

    elif workload == USER_DICT:

        @app.route("/user-dict/<int:user_id>")
        def user_dict(user_id: int) -> Any:
            return {"id": user_id, "q": request.args["q"]}

    elif workload == ECHO:

        @app.post("/echo")
        def echo() -> Any:
            return request.get_json()

    elif workload == SESSION:
        app.secret_key = SECRET_KEY

        @app.route("/session")
        def count() -> str:
            session["n"] = session.get("n", 0) + 1
            return str(session["n"])

    elif workload == DB:
        path = db_path()

        @app.before_request
        def open_db() -> None:
            g.db = sqlite3.connect(path)

        @app.teardown_appcontext
        def close_db(exc: BaseException | None) -> None:
            db = g.pop("db", None)
            if db is not None:
                db.close()

        @app.route("/db")
        def select_one() -> str:
            return str(g.db.execute("select 1").fetchone()[0])

    elif workload == CTX:

        @app.route("/ctx")
        def ctx() -> str:
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


def kettle_app(workload: str) -> WSGIApp:
    return flask_api_app("kettle", "Kettle", workload).wsgi_app  # type: ignore[no-any-return]


def flask_app(workload: str) -> WSGIApp:
    return flask_api_app("flask", "Flask", workload).wsgi_app  # type: ignore[no-any-return]


# --- Falcon (falcon.App) ------------------------------------------------------


class FalconDb:
    """Falcon middleware: a connection per request on ``req.context.db``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def process_request(self, req: Any, resp: Any) -> None:
        req.context.db = sqlite3.connect(self.path)

    def process_response(
        self, req: Any, resp: Any, resource: Any, req_succeeded: bool
    ) -> None:
        db = req.context.get("db")
        if db is not None:
            db.close()


class FalconResource:
    """All responders; the app routes only the one of its workload (by suffix)."""

    app_name = APP_NAME

    def on_get_hello(self, req: Any, resp: Any) -> None:
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = "Hello, World!"

    def on_get_user(self, req: Any, resp: Any, user_id: int) -> None:
        resp.media = {"id": user_id, "q": req.get_param("q")}

    def on_post_echo(self, req: Any, resp: Any) -> None:
        resp.media = req.get_media()

    def on_get_db(self, req: Any, resp: Any) -> None:
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = str(req.context.db.execute("select 1").fetchone()[0])

    def on_get_ctx(self, req: Any, resp: Any) -> None:
        req.context.value = "v"
        for _ in range(CTX_READS):
            method = req.method
            path = req.path
            value = req.context.value
            name = self.app_name
        resp.content_type = "text/plain; charset=utf-8"
        resp.text = f"{method} {path} {value} {name}"


# workload -> (route, responder suffix); shared with the ASGI Falcon app.
FALCON_ROUTES = {
    HELLO: ("/hello", "hello"),
    USER: ("/user/{user_id:int}", "user"),
    ECHO: ("/echo", "echo"),
    DB: ("/db", "db"),
    CTX: ("/ctx", "ctx"),
}


def falcon_app(workload: str) -> WSGIApp:
    import falcon

    if workload not in FALCON_ROUTES:
        raise NotApplicableError(workload)
    route, suffix = FALCON_ROUTES[workload]
    middleware = [FalconDb(db_path())] if workload == DB else []
    app = falcon.App(middleware=middleware)
    app.add_route(route, FalconResource(), suffix=suffix)
    return app  # type: ignore[no-any-return]


# --- bare WSGI callables: the floor -------------------------------------------

_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json"
_NOT_FOUND = [b"Not Found"]


def _ok(
    start_response: Any, content_type: str, body: bytes, *extra: Any
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response("200 OK", [*headers, *extra])
    return [body]


def _not_found(start_response: Any) -> list[bytes]:
    start_response("404 Not Found", [("Content-Type", _TEXT)])
    return _NOT_FOUND


def bare_wsgi_app(workload: str) -> WSGIApp:
    """A hand-written WSGI callable doing just what the workload needs."""
    if workload == HELLO:

        def hello(environ: Environ, start_response: Any) -> list[bytes]:
            if environ["PATH_INFO"] != "/hello":
                return _not_found(start_response)
            return _ok(start_response, _TEXT, b"Hello, World!")

        return hello
    if workload == USER:

        def user(environ: Environ, start_response: Any) -> list[bytes]:
            path = environ["PATH_INFO"]
            if not path.startswith("/user/") or not path[6:].isdigit():
                return _not_found(start_response)
            query = parse_qs(environ.get("QUERY_STRING", ""))
            doc = {"id": int(path[6:]), "q": query["q"][0]}
            return _ok(start_response, _JSON, json.dumps(doc).encode())

        return user
    if workload == ECHO:

        def echo(environ: Environ, start_response: Any) -> list[bytes]:
            if environ["PATH_INFO"] != "/echo" or environ["REQUEST_METHOD"] != "POST":
                return _not_found(start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            doc = json.loads(environ["wsgi.input"].read(length))
            return _ok(start_response, _JSON, json.dumps(doc).encode())

        return echo
    if workload == SESSION:

        def count(environ: Environ, start_response: Any) -> list[bytes]:
            if environ["PATH_INFO"] != "/session":
                return _not_found(start_response)
            data = load_session(environ.get("HTTP_COOKIE", ""))
            data["n"] = data.get("n", 0) + 1
            cookie = f"{SESSION_COOKIE}={sign_session(data)}; HttpOnly; Path=/"
            body = str(data["n"]).encode()
            return _ok(start_response, _TEXT, body, ("Set-Cookie", cookie))

        return count
    if workload == DB:
        path = db_path()

        def select_one(environ: Environ, start_response: Any) -> list[bytes]:
            if environ["PATH_INFO"] != "/db":
                return _not_found(start_response)
            db = sqlite3.connect(path)
            try:
                body = str(db.execute("select 1").fetchone()[0]).encode()
            finally:
                db.close()
            return _ok(start_response, _TEXT, body)

        return select_one
    if workload == CTX:
        app_info = {"name": APP_NAME}

        def ctx(environ: Environ, start_response: Any) -> list[bytes]:
            if environ["PATH_INFO"] != "/ctx":
                return _not_found(start_response)
            state = {"value": "v"}
            for _ in range(CTX_READS):
                method = environ["REQUEST_METHOD"]
                path = environ["PATH_INFO"]
                value = state["value"]
                name = app_info["name"]
            return _ok(
                start_response, _TEXT, f"{method} {path} {value} {name}".encode()
            )

        return ctx
    raise NotApplicableError(workload)


# Column order of the WSGI table; Kettle first (the reference of the ratios).
WSGI_APPS: dict[str, AppFactory] = {
    "Kettle": kettle_app,
    "Flask": flask_app,
    "Falcon": falcon_app,
    "bare WSGI": bare_wsgi_app,
}

# Workloads each framework cannot serve (not registered; shown as a dash).
WSGI_SKIPS: dict[str, frozenset[str]] = {
    "Falcon": frozenset({SESSION, USER_DICT}),
    "bare WSGI": frozenset({USER_DICT}),
}
