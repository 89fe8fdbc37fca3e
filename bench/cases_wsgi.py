"""Suite "wsgi": in-process requests through ``wsgi_app(environ, start_response)``.

No server and no sockets: each environ is built once with Werkzeug's
``EnvironBuilder`` and copied per call (a WSGI app may mutate it), with a
fresh empty ``wsgi.input``.  The body iterable is fully consumed and closed,
as a server would.  To add a WSGI peer (e.g. Falcon), write a factory that
returns its WSGI callable serving the same routes and add it to `WSGI_APPS`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from harness import Prepared, call_timer, register

SUITE = "wsgi"

Environ = dict[str, Any]
Headers = list[tuple[str, str]]
WSGIApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]
Response = tuple[str, Headers, bytes]


# --- workloads --------------------------------------------------------------


@dataclass(frozen=True)
class HttpWorkload:
    name: str
    path: str
    query: str
    validate: Callable[[Response], list[str]]


def _status_problems(status: str) -> list[str]:
    return [] if status.startswith("200") else [f"status {status!r}, expected 200"]


def _expect_text(expected: bytes, response: Response) -> list[str]:
    status, _headers, body = response
    problems = _status_problems(status)
    if body != expected:
        problems.append(f"body {body[:80]!r}, expected {expected!r}")
    return problems


def _header(headers: Headers, name: str) -> str:
    return next((v for k, v in headers if k.lower() == name.lower()), "")


def _expect_json(expected: object, response: Response) -> list[str]:
    status, headers, body = response
    problems = _status_problems(status)
    content_type = _header(headers, "Content-Type")
    if not content_type.startswith("application/json"):
        problems.append(f"content-type {content_type!r}, expected application/json")
    try:
        if json.loads(body) != expected:
            problems.append(f"JSON {body[:80]!r}, expected {expected!r}")
    except ValueError:
        problems.append(f"body is not JSON: {body[:80]!r}")
    return problems


WORKLOADS = [
    HttpWorkload("GET /hello", "/hello", "", partial(_expect_text, b"Hello, World!")),
    HttpWorkload(
        "GET /user/7?q=x", "/user/7", "q=x", partial(_expect_json, {"id": 7, "q": "x"})
    ),
    HttpWorkload(
        "GET /user-dict/7?q=x",
        "/user-dict/7",
        "q=x",
        partial(_expect_json, {"id": 7, "q": "x"}),
    ),
]


# --- apps -------------------------------------------------------------------


def _tiny_flask_api_app(app_class: Any, request: Any, jsonify: Any) -> Any:
    """The benchmark app, for any framework exposing Flask's API."""
    app = app_class(__name__)

    @app.route("/hello")
    def hello() -> str:
        return "Hello, World!"

    @app.route("/user/<int:user_id>")
    def user(user_id: int) -> Any:
        return jsonify({"id": user_id, "q": request.args["q"]})

    @app.route("/user-dict/<int:user_id>")
    def user_dict(user_id: int) -> Any:
        return {"id": user_id, "q": request.args["q"]}

    return app


def kettle_app() -> WSGIApp:
    import kettle

    app = _tiny_flask_api_app(kettle.Kettle, kettle.request, kettle.jsonify)
    return app.wsgi_app  # type: ignore[no-any-return]


def flask_app() -> WSGIApp:
    import flask

    app = _tiny_flask_api_app(flask.Flask, flask.request, flask.jsonify)
    return app.wsgi_app  # type: ignore[no-any-return]


# Column order of the report; the first entry is the reference for ratios.
WSGI_APPS: dict[str, Callable[[], WSGIApp]] = {
    "Kettle": kettle_app,
    "Flask": flask_app,
}


# --- driver -----------------------------------------------------------------


def build_environ(workload: HttpWorkload) -> Environ:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=workload.path, query_string=workload.query)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call_wsgi(app: WSGIApp, base_environ: Environ) -> Response:
    """One request, the way a server does it; returns (status, headers, body)."""
    environ = base_environ.copy()
    environ["wsgi.input"] = io.BytesIO()
    started: list[tuple[str, Headers]] = []

    def start_response(status: str, headers: Headers, exc_info: Any = None) -> Any:
        started.append((status, headers))
        return _discard_write

    body_iter = app(environ, start_response)
    try:
        body = b"".join(body_iter)
    finally:
        close = getattr(body_iter, "close", None)
        if close is not None:
            close()
    status, headers = started[-1] if started else ("<start_response not called>", [])
    return status, headers, body


def _discard_write(data: bytes) -> None:
    pass


def wsgi_case(make_app: Callable[[], WSGIApp], workload: HttpWorkload) -> Prepared:
    app = make_app()
    environ = build_environ(workload)
    request = partial(call_wsgi, app, environ)
    return Prepared(call_timer(request), lambda: workload.validate(request()))


def register_all() -> None:
    for subject, make_app in WSGI_APPS.items():
        for workload in WORKLOADS:
            register(
                SUITE, subject, workload.name, partial(wsgi_case, make_app, workload)
            )


register_all()
