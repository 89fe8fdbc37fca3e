"""The same app behaves the same served over WSGI and over ASGI.

Every test runs twice through the ``adapter`` fixture (see conftest.py): once with
the WSGI test client, once with httpx over ``app.asgi``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from werkzeug.exceptions import Forbidden, HTTPException

from kettle import (
    Kettle,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    request,
    session,
    stream_with_context,
    url_for,
)

Result = tuple[int, dict[str, str], bytes]
Requester = Callable[..., Result]


def _json(body: bytes) -> Any:
    return json.loads(body)


@pytest.fixture
def quiet(app: Kettle) -> Kettle:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_hook_order(app: Kettle, adapter: Requester) -> None:
    events: list[str] = []

    @app.url_value_preprocessor
    def preprocess(endpoint: str | None, values: dict[str, Any] | None) -> None:
        events.append(f"preprocess {endpoint} {values}")

    @app.before_request
    def before_1() -> None:
        events.append("before 1")

    @app.before_request
    async def before_2() -> None:
        events.append("before 2")

    @app.route("/hooks/<int:n>")
    async def view(n: int) -> str:
        events.append(f"view {n}")
        return "ok"

    @app.after_request
    def after_1(response: Response) -> Response:
        events.append("after 1")
        return response

    @app.after_request
    async def after_2(response: Response) -> Response:
        events.append("after 2")
        return response

    @app.teardown_request
    def teardown_request_1(exc: BaseException | None) -> None:
        events.append("teardown_request 1")

    @app.teardown_request
    async def teardown_request_2(exc: BaseException | None) -> None:
        events.append("teardown_request 2")

    @app.teardown_appcontext
    def teardown_app(exc: BaseException | None) -> None:
        events.append("teardown_appcontext")

    status, _, body = adapter("GET", "/hooks/7")
    assert (status, body) == (200, b"ok")
    assert events == [
        "preprocess view {'n': 7}",
        "before 1",
        "before 2",
        "view 7",
        "after 2",
        "after 1",
        "teardown_request 2",
        "teardown_request 1",
        "teardown_appcontext",
    ]


def test_before_request_short_circuit(app: Kettle, adapter: Requester) -> None:
    events: list[str] = []

    @app.before_request
    def gate() -> Any:
        events.append("gate")
        if request.args.get("key") != "open":
            return {"error": "closed"}, 401
        return None

    @app.before_request
    def later() -> None:
        events.append("later")

    @app.route("/")
    def index() -> str:
        events.append("view")
        return "inside"

    @app.after_request
    def after(response: Response) -> Response:
        events.append(f"after {response.status_code}")
        return response

    status, _, body = adapter("GET", "/")
    assert (status, _json(body)) == (401, {"error": "closed"})
    assert events == ["gate", "after 401"]
    events.clear()
    assert adapter("GET", "/?key=open")[2] == b"inside"
    assert events == ["gate", "later", "view", "after 200"]


def test_after_request_modifies_headers(app: Kettle, adapter: Requester) -> None:
    @app.route("/")
    def index() -> str:
        return "body"

    @app.after_request
    def add_header(response: Response) -> Response:
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Path"] = request.path
        return response

    @app.after_request
    async def replace(response: Response) -> Response:
        response.set_data(response.get_data() + b"!")
        return response

    status, headers, body = adapter("GET", "/")
    assert (status, body) == (200, b"body!")
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-path"] == "/"
    assert headers["content-length"] == "5"


def test_after_this_request(app: Kettle, adapter: Requester) -> None:
    from kettle import after_this_request

    @app.route("/")
    async def index() -> str:
        @after_this_request
        def once(response: Response) -> Response:
            response.headers["X-Once"] = "yes"
            return response

        return "ok"

    assert adapter("GET", "/")[1]["x-once"] == "yes"


def test_error_handlers_by_code_and_class(quiet: Kettle, adapter: Requester) -> None:
    app = quiet

    class AppError(Exception):
        pass

    class SpecificError(AppError):
        pass

    @app.errorhandler(404)
    def not_found(e: HTTPException) -> tuple[str, int]:
        return f"custom 404 for {request.path}", 404

    @app.errorhandler(AppError)
    async def app_error(e: AppError) -> tuple[dict[str, str], int]:
        return {"kind": type(e).__name__}, 409

    @app.errorhandler(Forbidden)
    def forbidden(e: HTTPException) -> tuple[str, int]:
        return "forbidden by class", 403

    @app.route("/specific")
    def specific() -> str:
        raise SpecificError

    @app.route("/forbid")
    async def forbid() -> str:
        abort(403)

    assert adapter("GET", "/missing")[::2] == (404, b"custom 404 for /missing")
    status, _, body = adapter("GET", "/specific")
    assert (status, _json(body)) == (409, {"kind": "SpecificError"})
    assert adapter("GET", "/forbid")[::2] == (403, b"forbidden by class")


def test_unhandled_error_is_500_with_handler(quiet: Kettle, adapter: Requester) -> None:
    app = quiet

    @app.errorhandler(500)
    def server_error(e: Any) -> tuple[str, int]:
        return f"oops: {type(e.original_exception).__name__}", 500

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError

    assert adapter("GET", "/")[::2] == (500, b"oops: ZeroDivisionError")


def test_abort(app: Kettle, adapter: Requester) -> None:
    @app.route("/code/<int:code>")
    def with_code(code: int) -> str:
        abort(code)

    @app.route("/described")
    async def described() -> str:
        abort(400, description="you sent nonsense")

    @app.route("/response")
    def with_response() -> str:
        abort(Response("teapot body", status=418, headers={"X-Tea": "1"}))

    assert adapter("GET", "/code/403")[0] == 403
    assert adapter("GET", "/code/410")[0] == 410
    status, _, body = adapter("GET", "/described")
    assert status == 400
    assert b"you sent nonsense" in body
    status, headers, body = adapter("GET", "/response")
    assert (status, headers["x-tea"], body) == (418, "1", b"teapot body")


def test_json_responses(app: Kettle, adapter: Requester) -> None:
    @app.route("/dict")
    def as_dict() -> Any:
        return {"a": 1, "b": [True, None]}

    @app.route("/list")
    async def as_list() -> Any:
        return [1, "two"]

    @app.route("/jsonify")
    def as_jsonify() -> Any:
        return jsonify(x=1)

    @app.route("/tuple")
    def as_tuple() -> Any:
        return {"created": True}, 201, {"X-Id": "9"}

    for path, expected in [
        ("/dict", {"a": 1, "b": [True, None]}),
        ("/list", [1, "two"]),
        ("/jsonify", {"x": 1}),
    ]:
        status, headers, body = adapter("GET", path)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert _json(body) == expected
    status, headers, body = adapter("GET", "/tuple")
    assert (status, headers["x-id"], _json(body)) == (201, "9", {"created": True})


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_get_json_errors(app: Kettle, adapter: Requester, kind: str) -> None:
    @app.route("/sync", methods=["POST"])
    def sync_view() -> Any:
        return {"got": request.get_json()}

    @app.route("/async", methods=["POST"])
    async def async_view() -> Any:
        await request.get_data()
        return {"got": request.get_json()}

    path = f"/{kind}"
    status, _, body = adapter("POST", path, json={"k": [1]})
    assert (status, _json(body)) == (200, {"got": {"k": [1]}})
    status, _, body = adapter(
        "POST", path, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert b"not valid JSON" in body
    status, _, _ = adapter(
        "POST", path, content=b"{}", headers={"Content-Type": "text/plain"}
    )
    assert status == 415


def test_form_and_files(app: Kettle, adapter: Requester) -> None:
    @app.route("/form", methods=["POST"])
    def form() -> Any:
        return {
            "form": request.form.to_dict(),
            "files": {k: f.read().decode() for k, f in request.files.items()},
        }

    _, _, body = adapter("POST", "/form", data={"a": "1", "b": "x y"})
    assert _json(body) == {"form": {"a": "1", "b": "x y"}, "files": {}}


def test_session_cookie_round_trip(app: Kettle, adapter: Requester) -> None:
    @app.route("/login/<name>")
    def login(name: str) -> str:
        session["user"] = name
        return "logged in"

    @app.route("/whoami")
    async def whoami() -> str:
        return session.get("user", "anonymous")

    @app.route("/logout")
    def logout() -> str:
        session.clear()
        return "bye"

    assert adapter("GET", "/whoami")[2] == b"anonymous"
    status, headers, _ = adapter("GET", "/login/ann")
    assert status == 200
    assert headers["set-cookie"].startswith("session=")
    assert "HttpOnly" in headers["set-cookie"]
    assert adapter("GET", "/whoami")[2] == b"ann"
    assert adapter("GET", "/logout")[2] == b"bye"
    assert adapter("GET", "/whoami")[2] == b"anonymous"


def test_request_cookies_over_wsgi(app: Kettle) -> None:
    @app.route("/cookies")
    def cookies() -> Any:
        return dict(request.cookies) | {"n": len(request.headers.getlist("Cookie"))}

    client = app.test_client(use_cookies=False)
    response = client.get("/cookies", headers={"Cookie": 'a=1; b="x y"'})
    assert response.get_json() == {"a": "1", "b": "x y", "n": 1}
    assert client.get("/cookies").get_json() == {"n": 0}


def test_repeated_cookie_headers_over_asgi(app: Kettle) -> None:
    @app.route("/cookies")
    def cookies() -> Any:
        return dict(request.cookies)

    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/cookies",
        "raw_path": b"/cookies",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"x"), (b"cookie", b"a=1"), (b"Cookie", b"b=2")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app.asgi(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"].endswith("body"))
    assert _json(body) == {"a": "1", "b": "2"}


def test_redirects(app: Kettle, adapter: Requester) -> None:
    @app.route("/old")
    def old() -> Any:
        return redirect(url_for("new", q="1"))

    @app.route("/moved")
    async def moved() -> Any:
        return redirect("/new", code=301)

    @app.route("/new")
    def new() -> str:
        return "new"

    @app.route("/dir/")
    def directory() -> str:
        return "dir"

    status, headers, _ = adapter("GET", "/old")
    assert (status, headers["location"]) == (303, "/new?q=1")
    status, headers, _ = adapter("GET", "/moved")
    assert (status, headers["location"]) == (301, "/new")
    status, headers, _ = adapter("GET", "/dir?x=2")
    assert status == 308
    assert headers["location"] == "http://localhost/dir/?x=2"


def test_url_for_in_views(app: Kettle, adapter: Requester) -> None:
    @app.route("/user/<int:id>")
    def user(id: int) -> Any:
        return {
            "self": url_for("user", id=id),
            "next": url_for("user", id=id + 1, tab="x"),
            "external": url_for("user", id=id, _external=True),
            "anchor": url_for("user", id=id, _anchor="top"),
        }

    assert _json(adapter("GET", "/user/5")[2]) == {
        "self": "/user/5",
        "next": "/user/6?tab=x",
        "external": "http://localhost/user/5",
        "anchor": "/user/5#top",
    }


def test_404_and_405(app: Kettle, adapter: Requester) -> None:
    @app.route("/only-post", methods=["POST"])
    def only_post() -> str:
        return "posted"

    status, headers, body = adapter("GET", "/nope")
    assert status == 404
    assert b"Not Found" in body
    assert headers["content-type"] == "text/html; charset=utf-8"
    status, headers, _ = adapter("GET", "/only-post")
    assert status == 405
    assert {m.strip() for m in headers["allow"].split(",")} == {"POST", "OPTIONS"}
    assert adapter("POST", "/only-post")[2] == b"posted"


def test_streamed_bodies(app: Kettle, adapter: Requester) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/sync")
    def sync_stream() -> Response:
        g.prefix = "s"

        @stream_with_context
        def body() -> Iterator[str]:
            for i in range(3):
                events.append(f"chunk {i}")
                yield f"{g.prefix}{request.args['n']}{i};"

        return Response(body(), mimetype="text/plain")

    @app.route("/async")
    async def async_stream() -> Response:
        g.prefix = "a"

        async def body() -> AsyncIterator[str]:
            for i in range(3):
                await asyncio.sleep(0)
                events.append(f"chunk {i}")
                yield f"{g.prefix}{request.args['n']}{i};"

        return Response(body(), mimetype="text/plain")

    for kind in ("sync", "async"):
        events.clear()
        status, headers, body = adapter("GET", f"/{kind}?n=5")
        assert status == 200
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert body == "".join(f"{kind[0]}5{i};" for i in range(3)).encode()
        assert events == ["chunk 0", "chunk 1", "chunk 2", "teardown"]


def test_teardown_order_and_exc_argument(quiet: Kettle, adapter: Requester) -> None:
    app = quiet
    events: list[tuple[str, str | None]] = []

    def describe(exc: BaseException | None) -> str | None:
        return None if exc is None else f"{type(exc).__name__}: {exc}"

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        events.append(("teardown_request", describe(exc)))

    @app.teardown_appcontext
    async def teardown_appcontext(exc: BaseException | None) -> None:
        events.append(("teardown_appcontext", describe(exc)))

    @app.errorhandler(KeyError)
    def handled(e: KeyError) -> tuple[str, int]:
        return "handled", 400

    @app.route("/ok")
    def ok() -> str:
        return "ok"

    @app.route("/handled")
    def raises_handled() -> str:
        raise KeyError("k")

    @app.route("/unhandled")
    async def raises_unhandled() -> str:
        raise ValueError("bad value")

    assert adapter("GET", "/ok")[0] == 200
    assert adapter("GET", "/handled")[0] == 400
    assert adapter("GET", "/unhandled")[0] == 500
    assert events == [
        ("teardown_request", None),
        ("teardown_appcontext", None),
        ("teardown_request", None),
        ("teardown_appcontext", None),
        ("teardown_request", "ValueError: bad value"),
        ("teardown_appcontext", "ValueError: bad value"),
    ]


def test_g_is_isolated_between_requests(app: Kettle, adapter: Requester) -> None:
    @app.before_request
    def count() -> None:
        g.count = g.get("count", 0) + 1

    @app.route("/sync")
    def sync_view() -> Any:
        before = sorted(g)
        g.leftover = request.args["v"]
        return {"count": g.count, "keys": before}

    @app.route("/async")
    async def async_view() -> Any:
        before = sorted(g)
        g.leftover = request.args["v"]
        return {"count": g.count, "keys": before}

    for path in ("/sync?v=1", "/async?v=2", "/sync?v=3", "/async?v=4"):
        assert _json(adapter("GET", path)[2]) == {"count": 1, "keys": ["count"]}


def test_head_and_options(app: Kettle, adapter: Requester) -> None:
    @app.route("/page", methods=["GET", "PUT"])
    def page() -> str:
        return "page body"

    status, headers, body = adapter("HEAD", "/page")
    assert (status, body, headers["content-length"]) == (200, b"", "9")
    status, headers, _ = adapter("OPTIONS", "/page")
    assert status == 200
    assert {m.strip() for m in headers["allow"].split(",")} == {
        "GET",
        "HEAD",
        "PUT",
        "OPTIONS",
    }


def test_request_attributes(app: Kettle, adapter: Requester) -> None:
    @app.route("/info/<path:rest>", methods=["POST"])
    def info(rest: str) -> Any:
        return {
            "rest": rest,
            "method": request.method,
            "path": request.path,
            "full_path": request.full_path,
            "args": request.args.to_dict(flat=False),
            "url": request.url,
            "host": request.host,
            "header": request.headers.get("X-Custom"),
            "data": request.get_data(as_text=True),
            "mimetype": request.mimetype,
            "endpoint": request.endpoint,
        }

    status, _, body = adapter(
        "POST",
        "/info/a/b?x=1&x=2",
        content=b"payload",
        headers={"X-Custom": "v", "Content-Type": "text/plain"},
    )
    assert status == 200
    assert _json(body) == {
        "rest": "a/b",
        "method": "POST",
        "path": "/info/a/b",
        "full_path": "/info/a/b?x=1&x=2",
        "args": {"x": ["1", "2"]},
        "url": "http://localhost/info/a/b?x=1&x=2",
        "host": "localhost",
        "header": "v",
        "data": "payload",
        "mimetype": "text/plain",
        "endpoint": "info",
    }
