"""Tests for the WSGI adapter: WSGI compliance, and real servers in threads."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import wsgiref.simple_server
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client, create_environ

from kettle import Kettle, Response, g, request, stream_with_context
from kettle.globals import _cv_app

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


@pytest.fixture
def app() -> Kettle:
    app = Kettle("kettle_wsgi_app", static_folder=None)
    app.config["SECRET_KEY"] = "wsgi test key"
    events: list[str] = []
    app.extensions["events"] = events

    @app.route("/")
    def hello() -> str:
        return "Hello, World!"

    @app.route("/json/<int:n>")
    def as_json(n: int) -> Any:
        return {"n": n, "q": request.args.get("q")}

    @app.route("/boom")
    def boom() -> str:
        g.marker = "boom"
        raise RuntimeError("server side failure")

    @app.route("/token")
    def token() -> Any:
        g.token = request.args["token"]
        time.sleep(0.02)
        return {"token": g.token, "arg": request.args["token"]}

    @app.route("/stream")
    def stream() -> Response:
        def body() -> Iterator[str]:
            yield f"a={request.args['a']};"
            yield f"path={request.path}"

        return Response(stream_with_context(body()))

    @app.route("/echo", methods=["POST"])
    def echo() -> Any:
        return {"body": request.get_json()}

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append(f"teardown {request.path}")

    return app


def leak_checking(wsgi: WSGIApp, leaks: list[Any]) -> WSGIApp:
    """Middleware recording the context active in the server thread around each call."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        leaks.append(_cv_app.get(None))
        body = wsgi(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            leaks.append(_cv_app.get(None))

    return middleware


class QuietWSGIRefHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietWerkzeugHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def serving(wsgi: WSGIApp, kind: str, threaded: bool = False) -> Iterator[str]:
    """Serve ``wsgi`` on 127.0.0.1 on a free port in a thread; stop it afterwards."""
    server: Any
    if kind == "wsgiref":
        server = wsgiref.simple_server.make_server(
            "127.0.0.1", 0, wsgi, handler_class=QuietWSGIRefHandler
        )
    else:
        server = make_server(
            "127.0.0.1",
            0,
            wsgi,  # type: ignore[arg-type]
            threaded=threaded,
            request_handler=QuietWerkzeugHandler,
        )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


# -- WSGI compliance, in process -------------------------------------------------------


class BufferedClient(Client):
    """A test client that reads and closes every body (the validator insists on it)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["buffered"] = True
        return super().open(*args, **kwargs)


def validated(app: Kettle) -> Client:
    return BufferedClient(validator(app))


def test_validated_app_serves_hello(app: Kettle) -> None:
    response = validated(app).get("/")
    assert response.status_code == 200
    assert response.data == b"Hello, World!"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Length"] == "13"


def test_validated_app_serves_json(app: Kettle) -> None:
    response = validated(app).get("/json/3?q=x")
    assert response.mimetype == "application/json"
    assert response.json == {"n": 3, "q": "x"}


def test_validated_app_serves_404(app: Kettle) -> None:
    response = validated(app).get("/missing")
    assert response.status_code == 404


def test_validated_app_serves_head_and_post(app: Kettle) -> None:
    client = validated(app)
    assert client.head("/").data == b""
    assert client.post("/echo", json=[1, 2]).json == {"body": [1, 2]}


def test_validated_app_serves_logged_500(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        response = validated(app).get("/boom")
    assert response.status_code == 500
    assert "Exception on /boom [GET]" in caplog.messages
    assert app.extensions["events"] == ["teardown /boom"]


def test_validated_app_streams_with_context(app: Kettle) -> None:
    response = validated(app).get("/stream?a=1")
    assert response.data == b"a=1;path=/stream"
    assert app.extensions["events"] == ["teardown /stream"]


def test_wsgi_app_attribute_can_be_wrapped_by_middleware(app: Kettle) -> None:
    inner = app.wsgi_app

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ["PATH_INFO"] = "/json/7"
        return inner(environ, start_response)

    app.wsgi_app = middleware  # type: ignore[method-assign]
    assert Client(app).get("/anything").json == {"n": 7, "q": None}


def test_wsgi_call_returns_body_without_consuming_it(app: Kettle) -> None:
    statuses: list[str] = []
    environ = create_environ("/")
    body = app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses == ["200 OK"]
    assert b"".join(body) == b"Hello, World!"
    getattr(body, "close", lambda: None)()


# -- real servers ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wsgiref", "werkzeug"])
def test_real_server_serves_hello_json_404_and_500(
    app: Kettle, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    leaks: list[Any] = []
    wsgi = leak_checking(app, leaks)
    if kind == "wsgiref":
        # Werkzeug's development server passes REMOTE_PORT as an int, which the
        # validator rejects, so only the strict server is validated.
        wsgi = validator(wsgi)
    with (
        caplog.at_level(logging.ERROR, logger=app.logger.name),
        serving(wsgi, kind) as base_url,
        httpx.Client(base_url=base_url, timeout=10) as http,
    ):
        hello = http.get("/")
        assert hello.status_code == 200
        assert hello.text == "Hello, World!"
        data = http.get("/json/5", params={"q": "é"})
        assert data.headers["content-type"] == "application/json"
        assert data.json() == {"n": 5, "q": "é"}
        assert http.get("/missing").status_code == 404
        failed = http.get("/boom")
        assert failed.status_code == 500
        assert "Internal Server Error" in failed.text
        streamed = http.get("/stream", params={"a": "z"})
        assert streamed.text == "a=z;path=/stream"
        assert http.head("/").content == b""
    assert "Exception on /boom [GET]" in caplog.messages
    assert leaks == [None] * 12
    assert app.extensions["events"] == [
        "teardown /",
        "teardown /json/5",
        "teardown /missing",
        "teardown /boom",
        "teardown /stream",
        "teardown /",
    ]


def test_threaded_server_keeps_each_requests_g_separate(app: Kettle) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    @app.before_request
    def count_in() -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)

    @app.teardown_request
    def count_out(exc: BaseException | None) -> None:
        nonlocal active
        with lock:
            active -= 1

    leaks: list[Any] = []
    tokens = [f"token-{i}-{i * 7919 % 1000}" for i in range(50)]
    with (
        serving(leak_checking(app, leaks), "werkzeug", threaded=True) as base_url,
        httpx.Client(
            base_url=base_url,
            timeout=20,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=0),
        ) as http,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):
        responses = list(
            pool.map(lambda t: http.get("/token", params={"token": t}), tokens)
        )
    for token, response in zip(tokens, responses, strict=True):
        assert response.status_code == 200
        assert response.json() == {"token": token, "arg": token}
    assert peak > 1
    assert leaks == [None] * 100
    assert sorted(app.extensions["events"]) == ["teardown /token"] * 50


def test_real_server_async_view(app: Kettle) -> None:
    @app.route("/async")
    async def async_view() -> str:
        await asyncio.sleep(0)
        return json.dumps({"path": request.path})

    with (
        serving(app, "werkzeug") as base_url,
        httpx.Client(base_url=base_url, timeout=10) as http,
    ):
        assert http.get("/async").json() == {"path": "/async"}


@pytest.mark.parametrize("path", ["/", "/json/1", "/stream?a=1", "/missing"])
def test_head_request_sends_no_body_at_wsgi_level(app: Kettle, path: str) -> None:
    started: list[tuple[str, list[tuple[str, str]]]] = []
    environ = create_environ(path, method="HEAD")
    body = app(
        environ,
        lambda status, headers, exc_info=None: started.append((status, headers)),
    )
    try:
        assert b"".join(body) == b""
    finally:
        getattr(body, "close", lambda: None)()
    assert len(started) == 1


def test_threaded_server_runs_async_views_concurrently(app: Kettle) -> None:
    @app.route("/async-token")
    async def async_token() -> Any:
        g.token = request.args["token"]
        await asyncio.sleep(0.01)
        return {"token": g.token}

    tokens = [f"async-{i}" for i in range(20)]
    with (
        serving(app, "werkzeug", threaded=True) as base_url,
        httpx.Client(base_url=base_url, timeout=20) as http,
        ThreadPoolExecutor(max_workers=20) as pool,
    ):
        responses = list(
            pool.map(lambda t: http.get("/async-token", params={"token": t}), tokens)
        )
    assert [r.json()["token"] for r in responses] == tokens


def test_a_request_leaves_no_reference_cycle() -> None:
    """Each request's objects are freed by reference counting, not left to the GC
    (cycles make the collector run often and pause long under load)."""
    import gc

    from werkzeug.test import EnvironBuilder

    from kettle import Kettle, Request, g

    app = Kettle(__name__)

    @app.route("/<name>")
    def index(name: str) -> str:
        g.name = name
        return name

    def call() -> None:
        environ = EnvironBuilder(path="/x").get_environ()
        body = app(environ, lambda status, headers, exc_info=None: None)
        assert b"".join(body) == b"x"

    call()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            call()
        gc.collect()
        leaked = [
            type(o).__name__ for o in gc.garbage if isinstance(o, (Request, dict))
        ]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert leaked == []
