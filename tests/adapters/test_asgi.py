"""Tests for the ASGI adapter (HTTP): ``app.asgi`` driven directly and through httpx.

Hand-built scopes with a scripted ``receive`` and a recording ``send`` give control
over the messages (bodies in several chunks, a disconnect mid-stream, what was and
was not received); ``httpx.AsyncClient`` over ``httpx.ASGITransport`` checks the same
through a real ASGI client.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from kettle import (
    Kettle,
    Response,
    abort,
    current_app,
    g,
    request,
    stream_with_context,
    url_for,
)
from kettle import session as kettle_session
from kettle.views import MethodView

Message = dict[str, Any]

TIMEOUT = 5.0


# -- helpers -----------------------------------------------------------------------


def http_scope(
    path: str = "/",
    method: str = "GET",
    *,
    query: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    root_path: str = "",
    client: tuple[str, int] | None = ("203.0.113.9", 50123),
    server: tuple[str, int | None] | None = ("testserver", 8080),
    scheme: str = "http",
    http_version: str = "1.1",
) -> dict[str, Any]:
    """An ASGI HTTP scope, as a server would build it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": http_version,
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in (headers or [])
        ],
        "client": client,
        "server": server,
    }


def body_messages(*chunks: bytes) -> list[Message]:
    """``http.request`` messages carrying ``chunks``, the last without more_body."""
    if not chunks:
        chunks = (b"",)
    last = len(chunks) - 1
    return [
        {"type": "http.request", "body": chunk, "more_body": i < last}
        for i, chunk in enumerate(chunks)
    ]


class Exchange:
    """The server's side of one exchange: scripted ``receive``, recorded ``send``.

    Each scripted message is a dict, or an async callable returning one (to control
    when it is produced). Once the script is exhausted, ``receive`` waits forever, as
    a server does while the client is connected and silent.
    """

    def __init__(self, messages: list[Any] | None = None) -> None:
        self.script: list[Any] = body_messages() if messages is None else messages
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.received < len(self.script):
            item = self.script[self.received]
            self.received += 1
            if callable(item):
                item = await item()
            return item  # type: ignore[no-any-return]
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def start(self) -> Message:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.sent
        return starts[0]

    @property
    def status(self) -> int:
        return int(self.start["status"])

    @property
    def headers(self) -> dict[str, str]:
        """Response headers, lower-cased names; repeated ones joined with ', '."""
        result: dict[str, str] = {}
        for name, value in self.start["headers"]:
            key, text = name.decode("latin-1"), value.decode("latin-1")
            result[key] = f"{result[key]}, {text}" if key in result else text
        return result

    @property
    def body_chunks(self) -> list[bytes]:
        return [
            m.get("body", b"") for m in self.sent if m["type"] == "http.response.body"
        ]

    @property
    def body(self) -> bytes:
        return b"".join(self.body_chunks)

    @property
    def finished(self) -> bool:
        bodies = [m for m in self.sent if m["type"] == "http.response.body"]
        return bool(bodies) and not bodies[-1].get("more_body", False)


async def call(app: Kettle, scope: dict[str, Any], exchange: Exchange) -> Exchange:
    await asyncio.wait_for(app.asgi(scope, exchange.receive, exchange.send), TIMEOUT)
    return exchange


def run_http(
    app: Kettle, scope: dict[str, Any], messages: list[Any] | None = None
) -> Exchange:
    """Run one HTTP exchange through ``app.asgi`` on a new loop."""
    return asyncio.run(call(app, scope, Exchange(messages)))


def with_client(app: Kettle, use: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    """Run ``use(client)`` with an httpx client talking to ``app.asgi``."""

    async def main() -> Any:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            return await asyncio.wait_for(use(client), TIMEOUT)

    return asyncio.run(main())


def fetch(app: Kettle, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through httpx's ASGI transport."""

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(method, url, **kwargs)

    return with_client(app, use)  # type: ignore[no-any-return]


@pytest.fixture
def quiet_app() -> Kettle:
    """An app whose unhandled errors become logged 500s (no propagation)."""
    app = Kettle("kettle_asgi_quiet")
    app.config.update(PROPAGATE_EXCEPTIONS=False, SECRET_KEY="k")
    return app


# -- the entry point ---------------------------------------------------------------


def test_entry_point_is_an_asgi3_object_with_a_coroutine_call(app: Kettle) -> None:
    assert not inspect.isfunction(app.asgi) and not inspect.ismethod(app.asgi)
    assert inspect.iscoroutinefunction(app.asgi.__call__)
    assert app.asgi.app is app
    assert repr(app) in repr(app.asgi)


def test_uvicorn_detects_the_entry_point_as_asgi3(app: Kettle) -> None:
    uvicorn_config = pytest.importorskip("uvicorn.config")
    config = uvicorn_config.Config(app.asgi, log_level="error", lifespan="off")
    config.load()
    assert config.interface == "asgi3"


def test_wsgi_entry_points_keep_working_next_to_asgi(app: Kettle) -> None:
    @app.route("/")
    def index() -> str:
        return "same app"

    assert app.test_client().get("/").data == b"same app"
    assert fetch(app, "GET", "/").text == "same app"


def test_unknown_scope_type_is_refused(app: Kettle) -> None:
    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="'telepathy'"):
        asyncio.run(app.asgi({"type": "telepathy"}, receive, send))


# -- the request, from the scope ---------------------------------------------------


def test_request_method_path_query_and_args_come_from_the_scope(app: Kettle) -> None:
    seen: dict[str, Any] = {}

    @app.route("/items/<name>", methods=["GET", "PATCH"])
    def item(name: str) -> str:
        seen.update(
            method=request.method,
            path=request.path,
            name=name,
            query_string=request.query_string,
            args=request.args.to_dict(flat=False),
            full_path=request.full_path,
        )
        return "ok"

    exchange = run_http(
        app,
        http_scope("/items/caf\u00e9", "PATCH", query=b"a=1&a=2&b=x%20y&c=%C3%A9"),
    )
    assert exchange.status == 200
    assert seen == {
        "method": "PATCH",
        "path": "/items/caf\u00e9",
        "name": "caf\u00e9",
        "query_string": b"a=1&a=2&b=x%20y&c=%C3%A9",
        "args": {"a": ["1", "2"], "b": ["x y"], "c": ["\u00e9"]},
        "full_path": "/items/caf\u00e9?a=1&a=2&b=x%20y&c=%C3%A9",
    }


@pytest.mark.parametrize(
    "path", ["/mount/where", "/where"], ids=["path-with-prefix", "path-without-prefix"]
)
def test_root_path_is_the_script_root_and_stripped_from_the_path(
    app: Kettle, path: str
) -> None:
    seen: dict[str, Any] = {}

    @app.route("/where")
    def where() -> str:
        seen.update(
            path=request.path,
            root_path=request.root_path,
            script_root=request.script_root,
            url=request.url,
            url_for=url_for("where"),
            external=url_for("where", _external=True),
        )
        return "ok"

    scope = http_scope(path, root_path="/mount", headers=[("host", "example.com")])
    assert run_http(app, scope).status == 200
    assert seen == {
        "path": "/where",
        "root_path": "/mount",
        "script_root": "/mount",
        "url": "http://example.com/mount/where",
        "url_for": "/mount/where",
        "external": "http://example.com/mount/where",
    }


def test_headers_are_joined_when_repeated_and_cookies_merged(app: Kettle) -> None:
    seen: dict[str, Any] = {}

    @app.route("/h", methods=["POST"])
    def headers() -> str:
        seen.update(
            multi=request.headers["X-Multi"],
            getlist=request.headers.getlist("X-Multi"),
            single=request.headers.get("x-single"),
            cookies=request.cookies.to_dict(),
            content_type=request.content_type,
            mimetype=request.mimetype,
            content_length=request.content_length,
            user_agent=request.user_agent.string,
            host=request.host,
        )
        return "ok"

    scope = http_scope(
        "/h",
        "POST",
        headers=[
            ("Host", "example.com:8000"),
            ("X-Multi", "a"),
            ("x-multi", "b"),
            ("X-Single", "only"),
            ("Cookie", "one=1; two=2"),
            ("cookie", "three=3"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "2"),
            ("User-Agent", "probe/1.0"),
        ],
    )
    assert run_http(app, scope, body_messages(b"hi")).status == 200
    assert seen == {
        "multi": "a, b",
        "getlist": ["a, b"],
        "single": "only",
        "cookies": {"one": "1", "two": "2", "three": "3"},
        "content_type": "text/plain; charset=utf-8",
        "mimetype": "text/plain",
        "content_length": 2,
        "user_agent": "probe/1.0",
        "host": "example.com:8000",
    }


def test_non_ascii_header_values_arrive_as_latin1(app: Kettle) -> None:
    @app.route("/")
    def index() -> str:
        return request.headers["X-Name"]

    scope = http_scope()
    scope["headers"] = [(b"x-name", "caf\u00e9".encode("latin-1"))]
    assert run_http(app, scope).body == "caf\u00e9".encode()


def test_client_scheme_and_server_come_from_the_scope(app: Kettle) -> None:
    seen: dict[str, Any] = {}

    @app.route("/")
    def index() -> str:
        seen.update(
            remote_addr=request.remote_addr,
            remote_port=request.environ["REMOTE_PORT"],
            scheme=request.scheme,
            is_secure=request.is_secure,
            server=request.server,
            host=request.host,
            url=request.url,
            protocol=request.environ["SERVER_PROTOCOL"],
        )
        return "ok"

    scope = http_scope(
        client=("198.51.100.4", 4321),
        server=("example.org", 8443),
        scheme="https",
        http_version="2",
    )
    assert run_http(app, scope).status == 200
    assert seen == {
        "remote_addr": "198.51.100.4",
        "remote_port": "4321",
        "scheme": "https",
        "is_secure": True,
        "server": ("example.org", 8443),
        "host": "example.org:8443",
        "url": "https://example.org:8443/",
        "protocol": "HTTP/2",
    }


def test_scope_without_client_or_server_still_serves(app: Kettle) -> None:
    seen: dict[str, Any] = {}

    @app.route("/")
    def index() -> str:
        seen.update(remote_addr=request.remote_addr, host=request.host)
        return "ok"

    scope = http_scope(client=None, server=None, headers=[("host", "a.test")])
    assert run_http(app, scope).body == b"ok"
    assert seen == {"remote_addr": None, "host": "a.test"}


def test_request_attributes_through_httpx(app: Kettle) -> None:
    @app.route("/echo")
    def echo() -> Any:
        return {
            "path": request.path,
            "args": request.args.to_dict(flat=False),
            "header": request.headers.get("X-Token"),
            "cookie": request.cookies.get("flavour"),
            "remote_addr": request.remote_addr,
            "host": request.host,
            "scheme": request.scheme,
        }

    response = fetch(
        app,
        "GET",
        "/echo?q=1&q=2",
        headers={"X-Token": "t0k", "Cookie": "flavour=mint"},
    )
    assert response.json() == {
        "path": "/echo",
        "args": {"q": ["1", "2"]},
        "header": "t0k",
        "cookie": "mint",
        "remote_addr": "127.0.0.1",
        "host": "testserver",
        "scheme": "http",
    }


# -- request bodies in sync views --------------------------------------------------

BIG = bytes(range(256)) * 400  # 102,400 bytes: beyond the 64 KiB read ahead


@pytest.fixture
def body_app(app: Kettle) -> Kettle:
    @app.route("/data", methods=["POST"])
    def data() -> Any:
        body = request.data
        return {"len": len(body), "head": body[:4].hex(), "tail": body[-4:].hex()}

    @app.route("/stream", methods=["POST"])
    def stream() -> Any:
        sizes = []
        while piece := request.stream.read(10_000):
            sizes.append(len(piece))
        return {"total": sum(sizes), "pieces": len(sizes)}

    @app.route("/json", methods=["POST"])
    def as_json() -> Any:
        return {"got": request.get_json()}

    @app.route("/form", methods=["POST"])
    def form() -> Any:
        files = {
            name: [f.filename, f.mimetype, f.read().decode()]
            for name, f in request.files.items()
        }
        return {"form": request.form.to_dict(flat=False), "files": files}

    return app


def _summary(body: bytes) -> dict[str, Any]:
    return {"len": len(body), "head": body[:4].hex(), "tail": body[-4:].hex()}


@pytest.mark.parametrize("size", [11, len(BIG)], ids=["small", "beyond-64KiB"])
def test_sync_view_reads_request_data_with_content_length(
    body_app: Kettle, size: int
) -> None:
    body = BIG[:size]
    scope = http_scope("/data", "POST", headers=[("content-length", str(size))])
    # The body arrives in three messages.
    third = size // 3
    chunks = body[:third], body[third : 2 * third], body[2 * third :]
    exchange = run_http(body_app, scope, body_messages(*chunks))
    assert exchange.status == 200
    assert httpx.Response(200, content=exchange.body).json() == _summary(body)
    assert exchange.received == 3


def test_sync_view_reads_a_chunked_body_sent_in_several_messages(
    body_app: Kettle,
) -> None:
    pieces = [BIG[i : i + 7000] for i in range(0, len(BIG), 7000)]
    assert len(pieces) > 10
    scope = http_scope("/data", "POST", headers=[("transfer-encoding", "chunked")])
    exchange = run_http(body_app, scope, body_messages(*pieces))
    assert httpx.Response(200, content=exchange.body).json() == _summary(BIG)
    assert exchange.received == len(pieces)


def test_sync_view_reads_request_stream_in_pieces(body_app: Kettle) -> None:
    scope = http_scope("/stream", "POST", headers=[("content-length", str(len(BIG)))])
    exchange = run_http(body_app, scope, body_messages(BIG[:5000], BIG[5000:]))
    assert httpx.Response(200, content=exchange.body).json() == {
        "total": len(BIG),
        "pieces": 11,
    }


@pytest.mark.parametrize("size", [100, len(BIG)], ids=["small", "beyond-64KiB"])
def test_sync_view_reads_data_through_httpx(body_app: Kettle, size: int) -> None:
    response = fetch(body_app, "POST", "/data", content=BIG[:size])
    assert response.json() == _summary(BIG[:size])


def test_sync_view_reads_a_streamed_upload_through_httpx(body_app: Kettle) -> None:
    async def upload() -> AsyncIterator[bytes]:
        for i in range(0, len(BIG), 30_000):
            yield BIG[i : i + 30_000]

    response = fetch(body_app, "POST", "/data", content=upload())
    assert response.json() == _summary(BIG)


def test_sync_view_reads_get_json(body_app: Kettle) -> None:
    response = fetch(body_app, "POST", "/json", json={"a": [1, 2, None]})
    assert response.json() == {"got": {"a": [1, 2, None]}}


def test_sync_view_reads_large_chunked_json(body_app: Kettle) -> None:
    payload = b'{"words": ["' + b"w" * 100_000 + b'"]}'
    scope = http_scope("/json", "POST", headers=[("content-type", "application/json")])
    exchange = run_http(
        body_app,
        scope,
        body_messages(payload[:10], payload[10:70_000], payload[70_000:]),
    )
    assert exchange.status == 200
    assert len(
        httpx.Response(200, content=exchange.body).json()["got"]["words"][0]
    ) == (100_000)


def test_sync_view_reads_urlencoded_form(body_app: Kettle) -> None:
    response = fetch(body_app, "POST", "/form", data={"a": "1", "b": "two words"})
    assert response.json() == {"form": {"a": ["1"], "b": ["two words"]}, "files": {}}


@pytest.mark.parametrize("size", [10, 100_000], ids=["small", "beyond-64KiB"])
def test_sync_view_reads_multipart_form_and_files(body_app: Kettle, size: int) -> None:
    content = "x" * size
    response = fetch(
        body_app,
        "POST",
        "/form",
        data={"title": "report"},
        files={"doc": ("notes.txt", content.encode(), "text/plain")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "form": {"title": ["report"]},
        "files": {"doc": ["notes.txt", "text/plain", content]},
    }


def test_sync_view_reads_multipart_sent_in_chunks_without_length(
    body_app: Kettle,
) -> None:
    boundary = "kettleboundary"
    payload = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="field"\r\n\r\n'
        "value\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="up"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
        "abcdef\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    pieces = [payload[i : i + 16] for i in range(0, len(payload), 16)]
    scope = http_scope(
        "/form",
        "POST",
        headers=[("content-type", f"multipart/form-data; boundary={boundary}")],
    )
    exchange = run_http(body_app, scope, body_messages(*pieces))
    assert httpx.Response(200, content=exchange.body).json() == {
        "form": {"field": ["value"]},
        "files": {"up": ["a.bin", "application/octet-stream", "abcdef"]},
    }


def test_small_body_is_received_before_dispatch(app: Kettle) -> None:
    """A body with a small Content-Length is there before the view runs."""
    received_before: list[int] = []
    exchange = Exchange(body_messages(b"ab", b"cd"))

    @app.route("/", methods=["POST"])
    def index() -> str:
        received_before.append(exchange.received)
        return request.get_data(as_text=True)

    asyncio.run(
        call(app, http_scope("/", "POST", headers=[("content-length", "4")]), exchange)
    )
    assert received_before == [2]
    assert exchange.body == b"abcd"


def test_large_body_is_not_received_when_the_view_ignores_it(app: Kettle) -> None:
    @app.route("/", methods=["POST"])
    def index() -> str:
        return "ignored"

    scope = http_scope("/", "POST", headers=[("content-length", str(len(BIG)))])
    exchange = run_http(app, scope, body_messages(BIG[:50_000], BIG[50_000:]))
    assert exchange.body == b"ignored"
    assert exchange.received == 0


# -- request bodies in async views -------------------------------------------------


@pytest.mark.parametrize(
    "chunks",
    [(b"tiny",), (BIG[:40_000], BIG[40_000:]), (BIG[:10], BIG[10:20], BIG[20:])],
    ids=["small", "large", "three-messages"],
)
@pytest.mark.parametrize("with_length", [True, False], ids=["length", "chunked"])
def test_async_view_awaits_get_data(
    app: Kettle, chunks: tuple[bytes, ...], with_length: bool
) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        data = await request.get_data()
        again = await request.get_data()
        text = await request.get_data(as_text=True)
        return {
            **_summary(data),
            "same": again == data,
            "text_ok": text == data.decode("utf-8", "replace"),
            "sync_again": request.get_data() == data,
        }

    body = b"".join(chunks)
    headers = [("content-length", str(len(body)))] if with_length else []
    exchange = run_http(
        app, http_scope("/", "POST", headers=headers), body_messages(*chunks)
    )
    assert httpx.Response(200, content=exchange.body).json() == {
        **_summary(body),
        "same": True,
        "text_ok": True,
        "sync_again": True,
    }


# A GET's body object is made only if something reads the body (a shortcut): read
# it, and it is the body that arrived, on the loop and from a worker thread.


@pytest.mark.parametrize("method", ["GET", "OPTIONS", "POST"])
@pytest.mark.parametrize("view", ["sync", "async"])
def test_a_body_is_read_whatever_the_method(
    app: Kettle, method: str, view: str
) -> None:
    seen: list[Any] = []

    @app.route("/sync", methods=[method])
    def sync_view() -> Any:
        seen.append(threading.current_thread())
        return {**_summary(request.get_data()), "ct": request.headers["X-Kind"]}

    @app.route("/async", methods=[method])
    async def async_view() -> Any:
        data = await request.get_data()
        return {**_summary(data), "ct": request.headers["X-Kind"]}

    scope = http_scope(f"/{view}", method, headers=[("x-kind", "k")])
    exchange = run_http(app, scope, body_messages(BIG[:10], BIG[10:70_000]))
    assert exchange.status == 200
    assert httpx.Response(200, content=exchange.body).json() == {
        **_summary(BIG[:70_000]),
        "ct": "k",
    }
    if view == "sync":  # the body was received for a worker thread
        assert seen and seen[0] is not threading.main_thread()


def test_a_get_whose_body_nobody_reads_is_not_received(app: Kettle) -> None:
    made: list[Any] = []

    @app.get("/")
    async def index() -> str:
        made.append("_body_source" in vars(request._get_current_object()))
        return "ok"

    exchange = run_http(app, http_scope("/"), body_messages(b"ignored"))
    assert (exchange.status, exchange.body, made) == (200, b"ok", [False])
    assert exchange.received == 0


def test_async_view_reads_small_json_without_awaiting(app: Kettle) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        return {"got": request.get_json(), "form_is_empty": not request.form}

    assert fetch(app, "POST", "/", json={"k": "v"}).json() == {
        "got": {"k": "v"},
        "form_is_empty": True,
    }


def test_async_view_reads_large_json_after_awaiting_get_data(app: Kettle) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        await request.get_data()
        data = request.get_json()
        return {"n": len(data["items"]), "last": data["items"][-1]}

    payload = {"items": list(range(20_000))}
    response = fetch(app, "POST", "/", json=payload)
    assert response.json() == {"n": 20_000, "last": 19_999}


def test_async_view_reads_large_form_and_files_after_awaiting_get_data(
    app: Kettle,
) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        await request.get_data(parse_form_data=True)
        upload = request.files["up"]
        return {"field": request.form["field"], "size": len(upload.read())}

    response = fetch(
        app,
        "POST",
        "/",
        data={"field": "v"},
        files={"up": ("big.bin", BIG, "application/octet-stream")},
    )
    assert response.json() == {"field": "v", "size": len(BIG)}


@pytest.mark.parametrize("with_length", [True, False], ids=["length", "chunked"])
def test_async_view_reading_form_of_unreceived_body_is_told_to_await(
    app: Kettle, with_length: bool
) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        try:
            request.form  # noqa: B018
        except RuntimeError as e:
            message = str(e)
        else:
            message = "no error"
        await request.get_data()
        return {"message": message, "form": request.form.to_dict()}

    body = b"a=" + b"x" * 100_000 + b"&b=2"
    headers = [("content-type", "application/x-www-form-urlencoded")]
    if with_length:
        headers.append(("content-length", str(len(body))))
    exchange = run_http(
        app, http_scope("/", "POST", headers=headers), body_messages(body[:5], body[5:])
    )
    result = httpx.Response(200, content=exchange.body).json()
    assert "has not been received yet" in result["message"]
    assert "await request.get_data()" in result["message"]
    assert "request.iter_body()" in result["message"]
    assert result["form"] == {"a": "x" * 100_000, "b": "2"}


def test_async_view_reading_data_of_unreceived_body_raises_runtime_error(
    app: Kettle,
) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> str:
        with pytest.raises(RuntimeError, match=r"await request\.get_data\(\)"):
            request.stream.read()
        with pytest.raises(RuntimeError, match="event loop"):
            request.get_json(force=True)
        with pytest.raises(RuntimeError, match="event loop"):
            request.data  # noqa: B018
        await request.get_data()
        assert len(request.data) == len(BIG)
        return "checked"

    scope = http_scope("/", "POST", headers=[("content-length", str(len(BIG)))])
    assert run_http(app, scope, body_messages(BIG)).body == b"checked"


def test_async_view_iterates_the_body_as_it_arrives(app: Kettle) -> None:
    events: list[str] = []

    def produce(i: int, chunk: bytes, more: bool) -> Callable[[], Awaitable[Message]]:
        async def message() -> Message:
            events.append(f"produce {i}")
            return {"type": "http.request", "body": chunk, "more_body": more}

        return message

    @app.route("/upload", methods=["POST"])
    async def upload() -> Any:
        sizes = []
        async for chunk in request.iter_body():
            events.append(f"view got {chunk.decode()}")
            sizes.append(len(chunk))
        return {"sizes": sizes}

    script = [
        produce(0, b"one", True),
        produce(1, b"two", True),
        produce(2, b"", True),
        produce(3, b"three", False),
    ]
    exchange = run_http(app, http_scope("/upload", "POST"), script)
    assert events == [
        "produce 0",
        "view got one",
        "produce 1",
        "view got two",
        "produce 2",
        "produce 3",
        "view got three",
    ]
    assert httpx.Response(200, content=exchange.body).json() == {"sizes": [3, 3, 5]}


def test_iter_body_yields_a_small_preread_body_then_cannot_be_read_again(
    app: Kettle,
) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        chunks = [chunk async for chunk in request.iter_body()]
        with pytest.raises(RuntimeError, match="already consumed"):
            await request.get_data()
        return {"chunks": [c.decode() for c in chunks]}

    response = fetch(app, "POST", "/", content=b"abc")
    assert response.json() == {"chunks": ["abc"]}


def test_iter_body_through_httpx_streamed_upload(app: Kettle) -> None:
    @app.route("/", methods=["POST"])
    async def index() -> Any:
        total = 0
        count = 0
        async for chunk in request.iter_body():
            total += len(chunk)
            count += 1
        return {"total": total, "count": count}

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"z" * 20_000

    result = fetch(app, "POST", "/", content=upload()).json()
    assert result["total"] == 100_000
    assert result["count"] >= 5


# -- MAX_CONTENT_LENGTH ----------------------------------------------------------------


@pytest.fixture
def limited_app(app: Kettle) -> Kettle:
    app.config["MAX_CONTENT_LENGTH"] = 100

    @app.route("/sync", methods=["POST"])
    def sync_view() -> Any:
        return {"len": len(request.get_data())}

    @app.route("/async", methods=["POST"])
    async def async_view() -> Any:
        return {"len": len(await request.get_data())}

    @app.route("/iter", methods=["POST"])
    async def iter_view() -> Any:
        total = 0
        async for chunk in request.iter_body():
            total += len(chunk)
        return {"len": total}

    @app.route("/form", methods=["POST"])
    def form_view() -> Any:
        return {"form": request.form.to_dict()}

    return app


TWENTY_CHUNKS = [b"x" * 50] * 20  # 1,000 bytes, ten times the limit


@pytest.mark.parametrize("path", ["/sync", "/async", "/iter", "/form"])
def test_declared_length_beyond_the_limit_is_413_without_reading_it(
    limited_app: Kettle, path: str
) -> None:
    scope = http_scope(
        path,
        "POST",
        headers=[
            ("content-length", "1000"),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
    )
    exchange = run_http(limited_app, scope, body_messages(*TWENTY_CHUNKS))
    assert exchange.status == 413
    assert b"Request Entity Too Large" in exchange.body
    # At most what it takes to exceed the limit (3 x 50 bytes), never the rest.
    assert exchange.received <= 3


@pytest.mark.parametrize("path", ["/sync", "/async", "/iter", "/form"])
def test_chunked_body_beyond_the_limit_is_413_without_reading_the_rest(
    limited_app: Kettle, path: str
) -> None:
    scope = http_scope(
        path,
        "POST",
        headers=[("content-type", "application/x-www-form-urlencoded")],
    )
    exchange = run_http(limited_app, scope, body_messages(*TWENTY_CHUNKS))
    assert exchange.status == 413
    # The third message takes the body past 100 bytes; none after it is received.
    assert exchange.received == 3


@pytest.mark.parametrize("path", ["/sync", "/async", "/iter"])
def test_body_at_the_limit_is_accepted(limited_app: Kettle, path: str) -> None:
    scope = http_scope(path, "POST")
    exchange = run_http(limited_app, scope, body_messages(b"y" * 60, b"y" * 40))
    assert exchange.status == 200
    assert httpx.Response(200, content=exchange.body).json() == {"len": 100}


def test_limit_through_httpx(limited_app: Kettle) -> None:
    assert fetch(limited_app, "POST", "/sync", content=b"a" * 101).status_code == 413
    assert fetch(limited_app, "POST", "/async", content=b"a" * 101).status_code == 413
    assert fetch(limited_app, "POST", "/async", content=b"a" * 99).json() == {"len": 99}


# -- where user code runs ----------------------------------------------------------


def test_async_callables_run_on_the_loop_and_sync_ones_in_a_worker(
    quiet_app: Kettle,
) -> None:
    app = quiet_app
    calls: dict[str, tuple[int, Any]] = {}

    def where(name: str) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        calls[name] = (threading.get_ident(), loop)

    @app.before_request
    async def before_async() -> None:
        where("before_async")

    @app.before_request
    def before_sync() -> None:
        where("before_sync")

    @app.route("/async")
    async def async_view() -> str:
        where("async_view")
        return "a"

    @app.route("/sync")
    def sync_view() -> str:
        where("sync_view")
        return "s"

    @app.route("/fail-async")
    async def fail_async() -> str:
        raise KeyError("x")

    @app.route("/fail-sync")
    def fail_sync() -> str:
        raise LookupError("y")

    @app.errorhandler(KeyError)
    async def on_key_error(e: Exception) -> tuple[str, int]:
        where("async_errorhandler")
        return "handled async", 409

    @app.errorhandler(LookupError)
    def on_lookup_error(e: Exception) -> tuple[str, int]:
        where("sync_errorhandler")
        return "handled sync", 410

    @app.after_request
    async def after_async(response: Response) -> Response:
        where("after_async")
        return response

    @app.after_request
    def after_sync(response: Response) -> Response:
        where("after_sync")
        return response

    @app.teardown_request
    async def teardown_request_async(exc: BaseException | None) -> None:
        where("teardown_request_async")

    @app.teardown_request
    def teardown_request_sync(exc: BaseException | None) -> None:
        where("teardown_request_sync")

    @app.teardown_appcontext
    async def teardown_app_async(exc: BaseException | None) -> None:
        where("teardown_appcontext_async")

    @app.teardown_appcontext
    def teardown_app_sync(exc: BaseException | None) -> None:
        where("teardown_appcontext_sync")

    async def main() -> tuple[int, Any, list[int]]:
        statuses = []
        for path in ("/async", "/sync", "/fail-async", "/fail-sync"):
            exchange = await call(app, http_scope(path), Exchange())
            statuses.append(exchange.status)
        return threading.get_ident(), asyncio.get_running_loop(), statuses

    loop_thread, loop, statuses = asyncio.run(main())
    assert statuses == [200, 200, 409, 410]
    on_loop = {name for name, (thread, _) in calls.items() if thread == loop_thread}
    assert on_loop == {
        "before_async",
        "async_view",
        "async_errorhandler",
        "after_async",
        "teardown_request_async",
        "teardown_appcontext_async",
    }
    for name in on_loop:
        assert calls[name][1] is loop, name
    for name in set(calls) - on_loop:
        assert calls[name][1] is None, f"{name} ran with a running loop"
    assert len(calls) == 12


def test_sync_view_in_worker_sees_request_g_and_current_app(app: Kettle) -> None:
    @app.before_request
    async def set_g() -> None:
        g.from_async_hook = threading.get_ident()

    @app.route("/")
    def index() -> Any:
        return {
            "path": request.path,
            "arg": request.args["x"],
            "app": current_app.name,
            "g": g.from_async_hook != threading.get_ident(),
        }

    assert fetch(app, "GET", "/?x=7").json() == {
        "path": "/",
        "arg": "7",
        "app": app.name,
        "g": True,
    }


def test_g_flows_between_sync_and_async_callables(app: Kettle) -> None:
    @app.before_request
    def sync_before() -> None:
        g.trail = ["sync before"]

    @app.before_request
    async def async_before() -> None:
        g.trail.append("async before")

    @app.route("/async")
    async def async_view() -> str:
        g.trail.append("async view")
        return "a"

    @app.route("/sync")
    def sync_view() -> str:
        g.trail.append("sync view")
        return "s"

    @app.after_request
    def sync_after(response: Response) -> Response:
        g.trail.append("sync after")
        response.headers["X-Trail"] = " > ".join(g.trail)
        return response

    @app.after_request
    async def async_after(response: Response) -> Response:
        g.trail.append("async after")
        return response

    async def use(client: httpx.AsyncClient) -> list[str]:
        return [
            (await client.get(path)).headers["X-Trail"] for path in ("/async", "/sync")
        ]

    assert with_client(app, use) == [
        "sync before > async before > async view > async after > sync after",
        "sync before > async before > sync view > async after > sync after",
    ]


def test_sync_view_does_not_block_the_loop(app: Kettle) -> None:
    gate = threading.Event()

    @app.route("/slow")
    def slow() -> str:
        assert gate.wait(TIMEOUT)
        return "slow done"

    @app.route("/fast")
    async def fast() -> str:
        gate.set()
        return "fast done"

    async def use(client: httpx.AsyncClient) -> list[str]:
        slow_request = asyncio.ensure_future(client.get("/slow"))
        await asyncio.sleep(0.01)
        fast_response = await client.get("/fast")
        return [fast_response.text, (await slow_request).text]

    assert with_client(app, use) == ["fast done", "slow done"]


def test_concurrent_requests_keep_their_own_context(app: Kettle) -> None:
    @app.route("/sync/<token>")
    def sync_view(token: str) -> Any:
        g.token = token
        time.sleep(0.002)
        return {"token": g.token, "arg": request.args["t"], "path": request.path}

    @app.route("/async/<token>")
    async def async_view(token: str) -> Any:
        g.token = token
        await asyncio.sleep(0.002)
        return {"token": g.token, "arg": request.args["t"], "path": request.path}

    async def use(client: httpx.AsyncClient) -> list[tuple[str, Any]]:
        paths = [f"/{'sync' if i % 2 else 'async'}/t{i}?t=t{i}" for i in range(60)]
        responses = await asyncio.gather(*(client.get(p) for p in paths))
        return [(p, r.json()) for p, r in zip(paths, responses, strict=True)]

    for path, result in with_client(app, use):
        token = path.split("?t=")[1]
        assert result == {"token": token, "arg": token, "path": path.split("?")[0]}


def test_async_method_view_handlers_run_on_the_loop(app: Kettle) -> None:
    threads: dict[str, int] = {}

    class Thing(MethodView):
        async def get(self) -> str:
            threads["get"] = threading.get_ident()
            return "got"

        def post(self) -> str:
            threads["post"] = threading.get_ident()
            return f"posted {request.get_data(as_text=True)}"

    app.add_url_rule("/thing", view_func=Thing.as_view("thing"))

    async def main() -> tuple[int, list[bytes]]:
        get = await call(app, http_scope("/thing"), Exchange())
        post = await call(
            app,
            http_scope("/thing", "POST", headers=[("content-length", "2")]),
            Exchange(body_messages(b"hi")),
        )
        return threading.get_ident(), [get.body, post.body]

    loop_thread, bodies = asyncio.run(main())
    assert bodies == [b"got", b"posted hi"]
    assert threads["get"] == loop_thread
    assert threads["post"] != loop_thread


# -- streaming responses -----------------------------------------------------------


def test_sync_generator_body_streams_in_several_messages(app: Kettle) -> None:
    @app.route("/")
    def index() -> Response:
        def body() -> Iterator[str]:
            yield "one,"
            yield "two,"
            yield "three"

        return Response(body(), mimetype="text/plain")

    exchange = run_http(app, http_scope())
    assert exchange.status == 200
    assert exchange.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-length" not in exchange.headers
    assert [c for c in exchange.body_chunks if c] == [b"one,", b"two,", b"three"]
    assert exchange.finished


def test_async_generator_body_streams_on_the_loop(app: Kettle) -> None:
    threads: list[int] = []

    @app.route("/")
    async def index() -> Any:
        async def body() -> AsyncIterator[bytes | str]:
            threads.append(threading.get_ident())
            yield b"alpha,"
            await asyncio.sleep(0)
            yield "beta"

        return body(), {"Content-Type": "text/plain"}

    async def main() -> tuple[int, Exchange]:
        return threading.get_ident(), await call(app, http_scope(), Exchange())

    loop_thread, exchange = asyncio.run(main())
    assert [c for c in exchange.body_chunks if c] == [b"alpha,", b"beta"]
    assert exchange.finished
    assert threads == [loop_thread]


@pytest.mark.parametrize("kind", ["sync", "async", "stream_with_context"])
def test_context_stays_usable_while_the_body_streams(app: Kettle, kind: str) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append(f"teardown {request.args['name']} g={g.value}")

    @app.route("/sync")
    def sync_stream() -> Response:
        g.value = "G"

        def body() -> Iterator[str]:
            for i in range(3):
                events.append(f"chunk {i}")
                yield f"{request.args['name']}:{g.value}:{current_app.name};"

        return Response(body())

    @app.route("/stream_with_context")
    def with_context() -> Response:
        g.value = "G"

        @stream_with_context
        def body() -> Iterator[str]:
            for i in range(3):
                events.append(f"chunk {i}")
                yield f"{request.args['name']}:{g.value}:{current_app.name};"

        return Response(body())

    @app.route("/async")
    async def async_stream() -> Response:
        g.value = "G"

        async def body() -> AsyncIterator[str]:
            for i in range(3):
                events.append(f"chunk {i}")
                await asyncio.sleep(0)
                yield f"{request.args['name']}:{g.value}:{current_app.name};"

        return Response(body())

    response = fetch(app, "GET", f"/{kind}?name=n")
    assert response.text == f"n:G:{app.name};" * 3
    assert events == ["chunk 0", "chunk 1", "chunk 2", "teardown n g=G"]


def test_streamed_chunks_are_sent_as_they_are_produced(app: Kettle) -> None:
    """The first chunk is sent before the generator produces the second."""
    produced: list[str] = []
    sent_when: list[list[str]] = []

    @app.route("/")
    async def index() -> Response:
        async def body() -> AsyncIterator[bytes]:
            for i in range(3):
                produced.append(f"chunk {i}")
                yield f"{i}".encode()

        return Response(body())

    class Recording(Exchange):
        async def send(self, message: Message) -> None:
            await super().send(message)
            if message.get("body"):
                sent_when.append(list(produced))

    asyncio.run(call(app, http_scope(), Recording()))
    assert sent_when == [["chunk 0"], ["chunk 0", "chunk 1"], produced]


class DisconnectScript:
    """A receive script: the request, then a disconnect once ``trigger`` is set."""

    def __init__(self, request_messages: list[Message]) -> None:
        self.trigger = asyncio.Event()
        self.messages: list[Any] = [*request_messages, self._disconnect]

    async def _disconnect(self) -> Message:
        await self.trigger.wait()
        return {"type": "http.disconnect"}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("kind", ["sync", "async", "stream_with_context"])
def test_client_disconnect_mid_stream_closes_the_body_and_tears_down_once(
    app: Kettle, kind: str, method: str
) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    def sync_body() -> Iterator[bytes]:
        try:
            for i in range(200):
                events.append(f"chunk {i}")
                yield b"x" * 10
                time.sleep(0.005)
        finally:
            events.append("closed")

    async def async_body() -> AsyncIterator[bytes]:
        try:
            for i in range(200):
                events.append(f"chunk {i}")
                yield b"x" * 10
                await asyncio.sleep(0.005)
        finally:
            events.append("closed")

    @app.route("/", methods=["GET", "POST"])
    def index() -> Response:
        if kind == "async":
            return Response(async_body())
        if kind == "sync":
            return Response(sync_body())
        return Response(stream_with_context(sync_body()))

    headers = [("content-length", "3")] if method == "POST" else []
    script = DisconnectScript(body_messages(b"abc" if method == "POST" else b""))

    class Disconnecting(Exchange):
        async def send(self, message: Message) -> None:
            await super().send(message)
            if len(self.body_chunks) == 3:
                script.trigger.set()

    exchange = Disconnecting(script.messages)
    asyncio.run(call(app, http_scope("/", method, headers=headers), exchange))
    assert events.count("closed") == 1
    assert events.count("teardown") == 1
    assert events.index("closed") < events.index("teardown")
    chunks = [e for e in events if e.startswith("chunk")]
    assert 3 <= len(chunks) < 20, "the body kept streaming after the disconnect"
    assert not exchange.finished


def test_client_disconnect_while_the_generator_waits(app: Kettle) -> None:
    """The disconnect arrives while an async generator is blocked waiting."""
    events: list[str] = []
    never = asyncio.Event()

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/")
    async def index() -> Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                await never.wait()
                yield b"never sent"
            finally:
                events.append("closed")

        return Response(body())

    script = DisconnectScript(body_messages())

    class Disconnecting(Exchange):
        async def send(self, message: Message) -> None:
            await super().send(message)
            if message.get("body") == b"first":
                script.trigger.set()

    exchange = Disconnecting(script.messages)
    asyncio.run(call(app, http_scope(), exchange))
    assert events == ["closed", "teardown"]
    assert b"never sent" not in exchange.body


@pytest.mark.parametrize("kind", ["sync", "async", "stream_with_context"])
def test_head_on_a_streamed_route_sends_no_body(app: Kettle, kind: str) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/")
    def index() -> Response:
        def sync_body() -> Iterator[bytes]:
            events.append("produced")
            yield b"body"

        async def async_body() -> AsyncIterator[bytes]:
            events.append("produced")
            yield b"body"

        if kind == "async":
            return Response(async_body(), headers={"X-Kind": kind})
        if kind == "sync":
            return Response(sync_body(), headers={"X-Kind": kind})
        return Response(stream_with_context(sync_body()), headers={"X-Kind": kind})

    exchange = run_http(app, http_scope("/", "HEAD"))
    assert exchange.status == 200
    assert exchange.headers["x-kind"] == kind
    assert exchange.body == b""
    assert exchange.finished
    assert "produced" not in events
    assert events == ["teardown"]

    response = fetch(app, "HEAD", "/")
    assert response.status_code == 200
    assert response.content == b""


def test_head_on_a_plain_route_sends_headers_only(app: Kettle) -> None:
    @app.route("/")
    def index() -> str:
        return "hello"

    @app.route("/dict")
    def as_dict() -> Any:
        return {"a": 1}

    exchange = run_http(app, http_scope("/", "HEAD"))
    assert exchange.headers["content-length"] == "5"
    assert exchange.body == b""
    assert run_http(app, http_scope("/dict", "HEAD")).body == b""


def test_error_in_a_streamed_body_after_headers_propagates(app: Kettle) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/")
    async def index() -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            raise ValueError("broken stream")

        return Response(body())

    exchange = Exchange()
    with pytest.raises(ValueError, match="broken stream"):
        asyncio.run(call(app, http_scope(), exchange))
    assert exchange.status == 200
    assert exchange.body == b"partial"
    assert not exchange.finished
    assert events == ["teardown"]


# -- errors and redirects ----------------------------------------------------------


def test_unknown_url_is_404(app: Kettle) -> None:
    exchange = run_http(app, http_scope("/nowhere"))
    assert exchange.status == 404
    assert b"Not Found" in exchange.body
    assert exchange.headers["content-type"] == "text/html; charset=utf-8"
    assert fetch(app, "GET", "/nowhere").status_code == 404


def test_wrong_method_is_405_with_allow(app: Kettle) -> None:
    @app.route("/only-get")
    def only_get() -> str:
        return "ok"

    @app.route("/post-put", methods=["POST", "PUT"])
    def post_put() -> str:
        return "ok"

    exchange = run_http(app, http_scope("/only-get", "DELETE"))
    assert exchange.status == 405
    allowed = {m.strip() for m in exchange.headers["allow"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS"}
    response = fetch(app, "GET", "/post-put")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == {
        "POST",
        "PUT",
        "OPTIONS",
    }


def test_automatic_options_lists_methods(app: Kettle) -> None:
    @app.route("/r", methods=["GET", "POST"])
    def r() -> str:
        return "ok"

    exchange = run_http(app, http_scope("/r", "OPTIONS"))
    assert exchange.status == 200
    assert {m.strip() for m in exchange.headers["allow"].split(",")} == {
        "GET",
        "HEAD",
        "POST",
        "OPTIONS",
    }


@pytest.mark.parametrize("view_kind", ["sync", "async"])
def test_unhandled_error_is_a_logged_500_and_teardown_gets_it(
    quiet_app: Kettle, caplog: pytest.LogCaptureFixture, view_kind: str
) -> None:
    app = quiet_app
    torn_down: list[BaseException | None] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(exc)

    @app.route("/sync")
    def sync_boom() -> str:
        raise RuntimeError("sync failure")

    @app.route("/async")
    async def async_boom() -> str:
        raise RuntimeError("async failure")

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        exchange = run_http(app, http_scope(f"/{view_kind}"))
    assert exchange.status == 500
    assert b"Internal Server Error" in exchange.body
    assert f"Exception on /{view_kind} [GET]" in caplog.messages
    record = next(r for r in caplog.records if r.message.startswith("Exception on"))
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == f"{view_kind} failure"
    assert len(torn_down) == 1
    assert isinstance(torn_down[0], RuntimeError)
    assert str(torn_down[0]) == f"{view_kind} failure"


def test_500_handler_answers_unhandled_errors(quiet_app: Kettle) -> None:
    app = quiet_app

    @app.errorhandler(500)
    async def server_error(e: Any) -> tuple[dict[str, str], int]:
        return {"error": type(e.original_exception).__name__}, 500

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError

    response = fetch(app, "GET", "/")
    assert response.status_code == 500
    assert response.json() == {"error": "ZeroDivisionError"}


@pytest.mark.parametrize("view_kind", ["sync", "async"])
def test_errors_propagate_when_testing_and_teardown_still_runs(
    app: Kettle, view_kind: str
) -> None:
    torn_down: list[BaseException | None] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(exc)

    @app.route("/sync")
    def sync_boom() -> str:
        raise RuntimeError("sync failure")

    @app.route("/async")
    async def async_boom() -> str:
        raise RuntimeError("async failure")

    with pytest.raises(RuntimeError, match=f"{view_kind} failure"):
        run_http(app, http_scope(f"/{view_kind}"))
    assert len(torn_down) == 1
    assert str(torn_down[0]) == f"{view_kind} failure"

    with pytest.raises(RuntimeError, match=f"{view_kind} failure"):
        fetch(app, "GET", f"/{view_kind}")


def test_abort_and_http_error_handlers(app: Kettle) -> None:
    @app.route("/teapot")
    async def teapot() -> str:
        abort(418)

    @app.errorhandler(418)
    def on_teapot(e: Any) -> tuple[str, int]:
        return f"short and stout ({e.code})", 418

    exchange = run_http(app, http_scope("/teapot"))
    assert exchange.status == 418
    assert exchange.body == b"short and stout (418)"


def test_strict_slash_redirect_is_308_with_location(app: Kettle) -> None:
    @app.route("/folder/")
    def folder() -> str:
        return "inside"

    exchange = run_http(
        app, http_scope("/folder", query=b"x=1", headers=[("host", "example.com")])
    )
    assert exchange.status == 308
    assert exchange.headers["location"] == "http://example.com/folder/?x=1"

    response = fetch(app, "GET", "/folder")
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/folder/")

    async def follow(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/folder", follow_redirects=True)

    assert with_client(app, follow).text == "inside"


def test_redirect_under_a_root_path_keeps_the_prefix(app: Kettle) -> None:
    @app.route("/folder/")
    def folder() -> str:
        return "inside"

    exchange = run_http(
        app,
        http_scope("/app/folder", root_path="/app", headers=[("host", "h.test")]),
    )
    assert exchange.status == 308
    assert exchange.headers["location"] == "http://h.test/app/folder/"


def test_view_redirect_response(app: Kettle) -> None:
    @app.route("/old")
    async def old() -> Any:
        return app.redirect(url_for("new"), code=302)

    @app.route("/new")
    def new() -> str:
        return "new"

    exchange = run_http(app, http_scope("/old"))
    assert exchange.status == 302
    assert exchange.headers["location"] == "/new"


def test_session_cookie_round_trip_through_httpx(app: Kettle) -> None:
    from kettle import session

    @app.route("/set/<value>")
    async def set_value(value: str) -> str:
        session["value"] = value
        return "set"

    @app.route("/get")
    def get_value() -> str:
        return session.get("value", "missing")

    async def use(client: httpx.AsyncClient) -> list[str]:
        first = await client.get("/set/abc")
        assert "session=" in first.headers["set-cookie"]
        return [first.text, (await client.get("/get")).text]

    assert with_client(app, use) == ["set", "abc"]


def test_file_response_is_sent(app: Kettle, tmp_path: Any) -> None:
    from kettle import send_file

    target = tmp_path / "data.txt"
    target.write_bytes(b"file contents " * 1000)

    @app.route("/file")
    def file() -> Any:
        return send_file(io.BytesIO(target.read_bytes()), mimetype="text/plain")

    response = fetch(app, "GET", "/file")
    assert response.status_code == 200
    assert response.content == target.read_bytes()


# -- a real server -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_served_by_uvicorn(app: Kettle) -> None:
    uvicorn = pytest.importorskip("uvicorn")
    events: list[str] = []

    @app.before_serving
    def started() -> None:
        events.append("started")

    @app.route("/")
    async def index() -> Any:
        return {"hello": request.args.get("who", "world")}

    @app.route("/upload", methods=["POST"])
    def upload() -> Any:
        return {"len": len(request.data)}

    @app.route("/stream")
    def stream() -> Response:
        @stream_with_context
        def body() -> Iterator[str]:
            for i in range(3):
                yield f"{request.args['n']}{i};"

        return Response(body())

    port = _free_port()
    config = uvicorn.Config(
        app.asgi, host="127.0.0.1", port=port, log_level="error", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
            assert client.get("/?who=kettle").json() == {"hello": "kettle"}
            assert client.post("/upload", content=BIG).json() == {"len": len(BIG)}
            assert client.get("/stream?n=s").text == "s0;s1;s2;"
            assert client.get("/missing").status_code == 404
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
    assert events == ["started"]


class CapturingExchange(Exchange):
    """A server that, like uvicorn's keep-alive timer, copies the context variables
    while it sends (``loop.call_later`` does)."""

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[Any] = []

    async def send(self, message: Message) -> None:
        import contextvars

        self.contexts.append(contextvars.copy_context())
        await super().send(message)


@pytest.mark.parametrize(
    "route", ["/text", "/response", "/json", "/missing", "/moved", "/created"]
)
@pytest.mark.parametrize("with_teardown", [False, True])
def test_the_server_sends_with_no_context_active(
    app: Kettle, route: str, with_teardown: bool
) -> None:
    """Callbacks a server schedules while sending must not keep the request alive."""
    from kettle import Response, g, redirect
    from kettle.globals import _cv_app

    events: list[str] = []
    exchange = CapturingExchange()

    @app.get("/text")
    async def text() -> str:
        g.value = "v"
        return "t"

    @app.get("/response")
    async def response_view() -> Response:
        return Response("r", headers={"X-A": "1"})

    @app.get("/json")
    async def json_view() -> dict[str, int]:
        return {"a": 1}

    @app.get("/moved")
    async def moved() -> Response:
        return redirect("/text")

    @app.get("/created")
    async def created() -> tuple[str, int]:
        return "made", 201

    if with_teardown:

        @app.teardown_appcontext
        def teardown(exc: BaseException | None) -> None:
            events.append(
                f"teardown after {len(exchange.sent)} sends, g={g.get('value')}"
            )

    asyncio.run(call(app, http_scope(route), exchange))
    expected_status = {"/missing": 404, "/moved": 303, "/created": 201}.get(route, 200)
    assert exchange.status == expected_status and exchange.finished
    assert [c.get(_cv_app, None) for c in exchange.contexts] == [None, None]
    if with_teardown:
        expected = "v" if route == "/text" else None
        assert events == [f"teardown after 2 sends, g={expected}"]


@pytest.mark.parametrize("session", [False, True], ids=["plain", "with-session"])
def test_response_header_names_go_out_lower_cased_with_their_values(
    app: Kettle, session: bool
) -> None:
    app.secret_key = "k"

    @app.get("/")
    async def index() -> Response:
        if session:
            kettle_session["n"] = 1
        response = Response("ok")
        response.headers.set("content-TYPE", "text/plain; charset=utf-8")
        response.headers["X-Mixed-Case"] = "caf\u00e9"
        response.headers.add("Vary", "Accept")
        return response

    exchange = run_http(app, http_scope("/"))
    names = [name for name, _ in exchange.start["headers"]]
    assert names == [name.lower() for name in names]
    assert exchange.headers["content-type"] == "text/plain; charset=utf-8"
    assert exchange.headers["x-mixed-case"] == "caf\u00e9"  # latin-1 on the wire
    assert exchange.headers["content-length"] == "2"
    assert ("set-cookie" in exchange.headers) is session
    assert exchange.headers["vary"] == ("Accept, Cookie" if session else "Accept")
