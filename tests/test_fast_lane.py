"""The dispatch shortcut answers exactly as the general request pipeline does.

With nothing to run before the view (no URL value preprocessor, before-request
function or ``request_started`` receiver) and a matched URL,
``dispatch.start_request`` hands the view's step to the driver, which calls the view
itself instead of driving the pipeline (see ``dispatch.run_request`` and
``ASGIApp.__call__``). Under ASGI an ``async def`` view takes the shortcut only once
it is known to be async, so its first request still goes through ``drive_async``.

With only app-wide before-request functions, it hands their list to the driver,
which calls them and then the view (under ASGI, once all are known to be async).

Every test here compares both shortcuts with the general path, which a no-op URL
value preprocessor forces on an otherwise identical app. Requests are made
with raw WSGI and ASGI calls, so that the full status, header list and body are
compared as the server would get them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

import kettle.adapters.asgi as asgi_adapter
import kettle.adapters.asgi_driver as asgi_driver
import kettle.dispatch as dispatch
import kettle.signing
from kettle import (
    Kettle,
    Response,
    abort,
    after_this_request,
    got_request_exception,
    jsonify,
    redirect,
    session,
)

#: Status code, every header in order, body.
Result = tuple[int, list[tuple[str, str]], bytes]

FROZEN_TIME = 1_700_000_000.0


# -- making requests -----------------------------------------------------------------


def wsgi_request(app: Kettle, method: str, path: str) -> Result:
    """One request through the WSGI entry point, its body read and closed."""
    environ = EnvironBuilder(path=path, method=method).get_environ()
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started.append((status, list(headers)))
        return lambda data: None

    app_iter = app(environ, start_response)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    assert len(started) == 1, started
    status, headers = started[0]
    return int(status.split()[0]), headers, body


async def _asgi_call(app: Kettle, method: str, target: str) -> Result:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"localhost")],
        "client": ("203.0.113.9", 50123),
        "server": ("localhost", 80),
    }
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        await asyncio.Event().wait()  # connected and silent, until cancelled
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app.asgi(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert bodies and not bodies[-1].get("more_body", False), sent
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in starts[0]["headers"]
    ]
    return starts[0]["status"], headers, b"".join(m["body"] for m in bodies)


def asgi_request(app: Kettle, method: str, path: str) -> Result:
    """One request through ``app.asgi``, on its own event loop."""
    return asyncio.run(_asgi_call(app, method, path))


@dataclass(frozen=True)
class Lane:
    """An adapter and the kind of view functions its app has."""

    adapter: str  # "wsgi" or "asgi"
    flavour: str  # "sync" or "async"

    def __str__(self) -> str:
        return f"{self.adapter}-{self.flavour}"

    def request(self, app: Kettle, method: str, path: str) -> Result:
        if self.adapter == "wsgi":
            return wsgi_request(app, method, path)
        return asgi_request(app, method, path)


LANES = [Lane("wsgi", "sync"), Lane("wsgi", "async"), Lane("asgi", "async")]


def header(result: Result, name: str) -> list[str]:
    """Every value of the header ``name`` (case-insensitive) in ``result``."""
    return [v for k, v in result[1] if k.lower() == name.lower()]


# -- the app -------------------------------------------------------------------------


def _unserializable() -> dict[str, Any]:
    return {"a": object()}


def _stream() -> Iterator[Any]:
    yield b"a"
    yield "b"
    yield b"c"


def _raise(error: Exception) -> Any:
    raise error


def _abort_404() -> Any:
    abort(404)


def _after_this_request() -> str:
    @after_this_request
    def tag(response: Response) -> Response:
        response.headers["X-After"] = "yes"
        return response

    return "tagged"


def _set_session() -> str:
    session["x"] = 1
    return "stored"


#: (rule, endpoint, methods, what the view does; it gets the view arguments)
ROUTES: list[tuple[str, str, list[str], Callable[..., Any]]] = [
    ("/str", "str", ["GET"], lambda: "hello"),
    ("/dict", "dict", ["GET"], lambda: {"a": 1, "b": [True, None]}),
    ("/list", "list", ["GET"], lambda: [1, "two", 3.5]),
    ("/bytes", "bytes", ["GET"], lambda: b"raw \xff"),
    (
        "/response",
        "response",
        ["GET"],
        lambda: Response("made", status=202, headers={"X-R": "r"}),
    ),
    ("/tuple", "tuple", ["GET"], lambda: ("created", 201, {"X-A": "1"})),
    ("/jsonify", "jsonify", ["GET"], lambda: jsonify(a=[1, "\u00e9"])),
    ("/jsonify-tuple", "jsonify_tuple", ["GET"], lambda: (jsonify(1), 201)),
    ("/item/<int:n>", "item", ["GET"], lambda n: f"item {n}"),
    ("/abort", "abort", ["GET"], _abort_404),
    ("/handled", "handled", ["GET"], lambda: _raise(ValueError("bad value"))),
    ("/unhandled", "unhandled", ["GET"], lambda: _raise(RuntimeError("boom"))),
    ("/redirect", "redirect", ["GET"], lambda: redirect("/str")),
    ("/stream", "stream", ["GET"], _stream),
    ("/none", "none", ["GET"], lambda: None),
    ("/badjson", "badjson", ["GET"], _unserializable),
    ("/after", "after", ["GET"], _after_this_request),
    ("/session", "session", ["GET"], _set_session),
]


def _view(flavour: str, body: Callable[..., Any], name: str) -> Callable[..., Any]:
    view: Callable[..., Any]
    if flavour == "async":

        async def async_view(**kwargs: Any) -> Any:
            return body(**kwargs)

        view = async_view
    else:

        def sync_view(**kwargs: Any) -> Any:
            return body(**kwargs)

        view = sync_view
    view.__name__ = view.__qualname__ = f"{name}_{flavour}"
    return view


# How the tests' app runs what comes before the view.
SHORTCUT, BEFORE, GENERAL = "shortcut", "before", "general"
MODES = [SHORTCUT, BEFORE, GENERAL]


def build_app(flavour: str, *, mode: str) -> Kettle:
    """The app of these tests. ``before`` adds a no-op before-request function of
    the view's flavour (the second shortcut), ``general`` a no-op URL value
    preprocessor, which sends every request through the general pipeline."""
    app = Kettle("kettle_fast_lane")
    app.config.update(SECRET_KEY="fast lane key", PROPAGATE_EXCEPTIONS=False)
    for rule, endpoint, methods, body in ROUTES:
        app.add_url_rule(
            rule, endpoint, _view(flavour, body, endpoint), methods=methods
        )

    @app.errorhandler(ValueError)
    def value_error(e: ValueError) -> tuple[str, int]:
        return "handled", 418

    if mode == BEFORE:
        if flavour == "async":

            @app.before_request
            async def async_noop() -> None:
                return None

        else:

            @app.before_request
            def noop() -> None:
                return None

    elif mode == GENERAL:

        @app.url_value_preprocessor
        def no_change(endpoint: str | None, values: dict[str, Any] | None) -> None:
            return None

    return app


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign session cookies at a fixed time, so that they compare equal."""
    monkeypatch.setattr(
        kettle.signing, "time", SimpleNamespace(time=lambda: FROZEN_TIME)
    )


# -- 1. parity of the responses ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    status: int
    method: str = "GET"
    body: bytes | None = None
    #: Headers (lower-case names) that must be there with these values.
    headers: dict[str, str] = field(default_factory=dict)
    #: The type of the exception logged as an unhandled error, if any.
    logged: type[BaseException] | None = None

    def __str__(self) -> str:
        return self.name


HTML = "text/html; charset=utf-8"
ALLOW = "GET, HEAD, OPTIONS"
CASES = [
    Case("str", "/str", 200, body=b"hello", headers={"content-type": HTML}),
    Case("dict", "/dict", 200, headers={"content-type": "application/json"}),
    Case("list", "/list", 200, headers={"content-type": "application/json"}),
    Case("bytes", "/bytes", 200, body=b"raw \xff"),
    Case("response", "/response", 202, body=b"made", headers={"x-r": "r"}),
    Case("tuple", "/tuple", 201, body=b"created", headers={"x-a": "1"}),
    Case(
        "jsonify",
        "/jsonify",
        200,
        body=b'{"a":[1,"\\u00e9"]}\n',
        headers={"content-type": "application/json", "content-length": "19"},
    ),
    Case("jsonify-tuple", "/jsonify-tuple", 201, body=b"1\n"),
    Case("view-args", "/item/7", 200, body=b"item 7"),
    Case("abort-404", "/abort", 404),
    Case("handled-error", "/handled", 418, body=b"handled"),
    Case("unhandled-error", "/unhandled", 500, logged=RuntimeError),
    Case("redirect", "/redirect", 303, headers={"location": "/str"}),
    Case(
        "head",
        "/str",
        200,
        method="HEAD",
        body=b"",
        headers={"content-length": "5", "content-type": HTML},
    ),
    Case("stream", "/stream", 200, body=b"abc"),
    Case("return-none", "/none", 500, logged=TypeError),
    Case("unserializable-dict", "/badjson", 500, logged=TypeError),
    Case("unknown-url", "/nowhere", 404),
    Case("wrong-method", "/str", 405, method="POST", headers={"allow": ALLOW}),
    Case("automatic-options", "/str", 200, method="OPTIONS", headers={"allow": ALLOW}),
    Case(
        "after-this-request", "/after", 200, body=b"tagged", headers={"x-after": "yes"}
    ),
    Case("session", "/session", 200, body=b"stored", headers={"vary": "Cookie"}),
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("lane", LANES, ids=str)
def test_shortcut_response_matches_general_path(
    lane: Lane, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kettle_fast_lane")
    seen: dict[str, tuple[Result, list[type[BaseException] | None]]] = {}
    for mode in (GENERAL, SHORTCUT, BEFORE):
        app = build_app(lane.flavour, mode=mode)
        # Under ASGI, an async view's first request goes through the pipeline and
        # the later ones through the shortcut; compare all of them.
        for n in range(3):
            caplog.clear()
            result = lane.request(app, case.method, case.path)
            logged = [r.exc_info[0] if r.exc_info else None for r in caplog.records]
            key = f"{mode} request {n + 1}"
            seen[key] = (result, logged)

    expected_result, expected_logged = seen["general request 1"]
    status, _, body = expected_result
    assert status == case.status
    if case.body is not None:
        assert body == case.body
    for name, value in case.headers.items():
        assert header(expected_result, name) == [value]
    assert expected_logged == ([case.logged] if case.logged else [])

    assert seen == {key: (expected_result, expected_logged) for key in seen}


def test_json_bodies_are_the_values_returned() -> None:
    app = build_app("sync", mode=SHORTCUT)
    assert json.loads(wsgi_request(app, "GET", "/dict")[2]) == {
        "a": 1,
        "b": [True, None],
    }
    assert json.loads(wsgi_request(app, "GET", "/list")[2]) == [1, "two", 3.5]


# -- 3. after_this_request and the session -------------------------------------------


@pytest.mark.parametrize("lane", LANES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_session_cookie_is_set_and_holds_the_value(lane: Lane, mode: str) -> None:
    app = build_app(lane.flavour, mode=mode)
    for _ in range(2):
        result = lane.request(app, "GET", "/session")
        cookies = header(result, "set-cookie")
        assert len(cookies) == 1, result
        name, _, rest = cookies[0].partition("=")
        assert name == "session"
        value = rest.split(";")[0]
        serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
        assert serializer.loads(value) == {"x": 1}
        assert "HttpOnly" in cookies[0]


@pytest.mark.parametrize("lane", LANES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_after_this_request_runs_once_per_request(lane: Lane, mode: str) -> None:
    app = build_app(lane.flavour, mode=mode)
    first = lane.request(app, "GET", "/after")
    # The function belonged to that request only.
    plain = lane.request(app, "GET", "/str")
    second = lane.request(app, "GET", "/after")
    assert header(first, "x-after") == ["yes"]
    assert header(second, "x-after") == ["yes"]
    assert header(plain, "x-after") == []


# -- 2. teardown sees the same exception ---------------------------------------------

TEARDOWN_CASES = [
    ("/str", None),
    ("/dict", None),
    ("/handled", None),
    ("/abort", None),
    ("/unhandled", (RuntimeError, "boom")),
    ("/none", (TypeError, None)),
    ("/badjson", (TypeError, None)),
]


def teardown_records(lane: Lane, path: str, *, mode: str) -> list[tuple[str, Any]]:
    """What the teardown functions received over two requests to ``path``."""
    app = build_app(lane.flavour, mode=mode)
    records: list[tuple[str, Any]] = []

    @app.teardown_request
    def request_teardown(exc: BaseException | None) -> None:
        records.append(("request", exc and (type(exc), str(exc))))

    @app.teardown_appcontext
    def appcontext_teardown(exc: BaseException | None) -> None:
        records.append(("appcontext", exc and (type(exc), str(exc))))

    for _ in range(2):
        lane.request(app, "GET", path)
    return records


@pytest.mark.parametrize(("path", "error"), TEARDOWN_CASES)
@pytest.mark.parametrize("lane", LANES, ids=str)
def test_teardown_gets_the_same_exception(
    lane: Lane, path: str, error: tuple[type[BaseException], str | None] | None
) -> None:
    general = teardown_records(lane, path, mode=GENERAL)
    shortcut = teardown_records(lane, path, mode=SHORTCUT)
    before = teardown_records(lane, path, mode=BEFORE)

    assert [kind for kind, _ in general] == ["request", "appcontext"] * 2
    for _, exc in general:
        if error is None:
            assert exc is None
        else:
            assert exc is not None
            assert exc[0] is error[0]
            if error[1] is not None:
                assert exc[1] == error[1]
    assert shortcut == general
    assert before == general


# -- 4. the shortcut is taken --------------------------------------------------------


@pytest.fixture
def drive_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pipeline drivers called, in order: "drive" (WSGI) and "drive_async"."""
    calls: list[str] = []
    original_drive = dispatch.drive
    original_drive_async = asgi_driver.drive_async
    # ASGIApp.__call__ calls the name it imported.
    assert asgi_adapter.drive_async is original_drive_async  # type: ignore[attr-defined]

    def counting_drive(app: Kettle, pipeline: Any) -> Any:
        calls.append("drive")
        return original_drive(app, pipeline)

    async def counting_drive_async(app: Kettle, pipeline: Any, thread: Any) -> Any:
        calls.append("drive_async")
        return await original_drive_async(app, pipeline, thread)

    monkeypatch.setattr(dispatch, "drive", counting_drive)
    monkeypatch.setattr(asgi_adapter, "drive_async", counting_drive_async)
    return calls


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize(
    ("mode", "expected"),
    [(SHORTCUT, []), (BEFORE, []), (GENERAL, ["drive"])],
    ids=[
        "plain-view-skips-the-pipeline",
        "app-wide-before-request-skips-the-pipeline",
        "url-value-preprocessor-takes-the-pipeline",
    ],
)
def test_wsgi_shortcut_is_taken_only_without_other_hooks(
    flavour: str, mode: str, expected: list[str], drive_calls: list[str]
) -> None:
    app = build_app(flavour, mode=mode)
    assert wsgi_request(app, "GET", "/str")[2] == b"hello"  # warm-up
    drive_calls.clear()
    assert wsgi_request(app, "GET", "/str")[2] == b"hello"
    assert drive_calls == expected


@pytest.mark.parametrize("mode", [SHORTCUT, BEFORE])
def test_asgi_async_code_skips_the_pipeline_once_known(
    mode: str, drive_calls: list[str]
) -> None:
    app = build_app("async", mode=mode)
    assert asgi_request(app, "GET", "/str")[2] == b"hello"
    assert drive_calls == ["drive_async"]
    drive_calls.clear()
    assert asgi_request(app, "GET", "/str")[2] == b"hello"
    assert drive_calls == []
    assert asgi_request(app, "GET", "/str")[2] == b"hello"
    assert drive_calls == []


def test_asgi_sync_before_request_or_preprocessor_takes_the_pipeline(
    drive_calls: list[str],
) -> None:
    for app in (build_app("sync", mode=BEFORE), build_app("async", mode=GENERAL)):
        for _ in range(3):
            drive_calls.clear()
            assert asgi_request(app, "GET", "/str")[2] == b"hello"
            assert drive_calls == ["drive_async"]


def test_blueprint_before_request_takes_the_pipeline(drive_calls: list[str]) -> None:
    app = build_app("sync", mode=SHORTCUT)
    blueprint = kettle.Blueprint("bp", __name__)
    blueprint.before_request(lambda: None)
    app.register_blueprint(blueprint, url_prefix="/bp")
    assert wsgi_request(app, "GET", "/str")[2] == b"hello"
    assert drive_calls == ["drive"]


@pytest.mark.parametrize("lane", LANES, ids=str)
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_before_request_result_and_error_match_the_pipeline(
    lane: Lane, flavour: str
) -> None:
    # A before-request function that answers stops the others and the view; one
    # that raises goes to the error handlers, as in the pipeline.
    results = {}
    calls: list[str] = []
    for mode in (BEFORE, GENERAL):
        app = build_app(lane.flavour, mode=mode)

        def first() -> Any:
            calls.append("first")
            if kettle.request.path == "/dict":
                return "answered", 201
            if kettle.request.path == "/list":
                raise ValueError("no")
            return None

        def second() -> None:
            calls.append("second")

        async def first_async() -> Any:
            return first()

        async def second_async() -> None:
            second()

        if flavour == "async":
            app.before_request(first_async)
            app.before_request(second_async)
        else:
            app.before_request(first)
            app.before_request(second)
        seen = []
        for path in ("/str", "/dict", "/list", "/str"):
            for _ in range(2):  # ASGI: the second time, the functions are known
                calls.clear()
                result = lane.request(app, "GET", path)
                seen.append((result, list(calls)))
        results[mode] = seen
    assert results[BEFORE] == results[GENERAL]
    answered = [r for (r, calls) in results[GENERAL] if calls == ["first"]]
    assert {r[0] for r in answered} == {201, 418}


# -- 5. got_request_exception --------------------------------------------------------


@pytest.mark.parametrize("lane", LANES, ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_got_request_exception_is_sent_once_per_unhandled_error(
    lane: Lane, mode: str
) -> None:
    app = build_app(lane.flavour, mode=mode)
    received: list[tuple[object, type[BaseException], str]] = []

    def receiver(sender: object, exception: BaseException, **extra: Any) -> None:
        received.append((sender, type(exception), str(exception)))

    with got_request_exception.connected_to(receiver, app):
        for _ in range(2):
            assert lane.request(app, "GET", "/unhandled")[0] == 500
            assert lane.request(app, "GET", "/handled")[0] == 418
            assert lane.request(app, "GET", "/str")[0] == 200
    assert received == [(app, RuntimeError, "boom")] * 2
