"""Tests for streamed bodies keeping their context, under WSGI and ASGI.

A view that returns a generator, an async generator, or a Response wrapping one
keeps its context while the body is produced (the body reads ``request`` and ``g``);
the teardown runs exactly once, after the body was fully sent or the client went
away. ``stream_with_context`` still works, and doesn't double the teardown.

WSGI is driven by hand (``app(environ, start_response)``, iterating and closing the
body like a server) and ASGI through ``app.asgi`` with a scripted ``receive`` and a
recording ``send``, so that the order of chunks, closing and teardown is observed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.test import create_environ

from kettle import Kettle, Response, g, has_app_context, request, stream_with_context
from kettle.globals import _cv_app

TIMEOUT = 5.0
Message = dict[str, Any]

#: How each kind of streamed body is returned by its view, by URL.
KINDS = [
    "generator",
    "async-generator",
    "response-generator",
    "response-async-generator",
    "stream-with-context",
    "stream-with-context-decorator",
]


class Recorder:
    """The shared, ordered event log of one test."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.lock = threading.Lock()

    def add(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def count(self, event: Any) -> int:
        with self.lock:
            return self.events.count(event)

    def names(self) -> list[Any]:
        """The events, chunks reduced to the word 'chunk'."""
        with self.lock:
            return [
                "chunk" if isinstance(e, tuple) and e[0] == "chunk" else e
                for e in self.events
            ]


@pytest.fixture
def log() -> Recorder:
    return Recorder()


@pytest.fixture
def stream_app(app: Kettle, log: Recorder) -> Kettle:
    """An app with one streaming view per body kind: ``/<kind>?who=..&n=..``.

    Each chunk names the request argument ``who`` and ``g.token`` (set by the view)
    as the body sees them; the body records when it ends or is closed, and whether
    a context was active then.
    """

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        log.add("teardown_request")
        log.add(("teardown_exc", exc))

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        log.add("teardown_appcontext")

    def chunks(n: int) -> Iterator[str]:
        try:
            for i in range(n):
                chunk = f"{i}:{request.args['who']}:{g.token};"
                log.add(("chunk", i, has_app_context()))
                yield chunk
                if n > 10:  # a long stream: give the client time to leave
                    time.sleep(0.002)
        finally:
            log.add(("body_closed", has_app_context()))

    async def async_chunks(n: int) -> AsyncIterator[str]:
        try:
            for i in range(n):
                await asyncio.sleep(0)
                chunk = f"{i}:{request.args['who']}:{g.token};"
                log.add(("chunk", i, has_app_context()))
                yield chunk
                if n > 10:
                    await asyncio.sleep(0.002)
        finally:
            log.add(("body_closed", has_app_context()))

    @stream_with_context
    def decorated(n: int) -> Iterator[str]:
        yield from chunks(n)

    @app.get("/<kind>")
    def stream(kind: str) -> Any:
        g.token = request.args["who"][::-1]
        n = int(request.args.get("n", "3"))
        log.add("view")
        if kind == "generator":
            return chunks(n)
        if kind == "async-generator":
            return async_chunks(n)
        if kind == "response-generator":
            return Response(chunks(n), mimetype="text/plain")
        if kind == "response-async-generator":
            return Response(async_chunks(n), mimetype="text/plain")
        if kind == "stream-with-context":
            return Response(stream_with_context(chunks(n)), mimetype="text/plain")
        if kind == "stream-with-context-decorator":
            return Response(decorated(n), mimetype="text/plain")
        raise AssertionError(kind)

    return app


def expected_body(who: str, n: int = 3) -> bytes:
    return b"".join(f"{i}:{who}:{who[::-1]};".encode() for i in range(n))


# -- WSGI ----------------------------------------------------------------------------


class WSGICall:
    """One WSGI call, made like a server: the body is iterated and closed by hand."""

    def __init__(self, app: Kettle, path: str, method: str = "GET") -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: Iterable[bytes] = app(
            create_environ(path, method=method), self.start_response
        )
        self.iterator = iter(self.body)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.status = status
        self.headers = headers
        return lambda data: None

    def next(self) -> bytes:
        return next(self.iterator)

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


@pytest.mark.parametrize("kind", KINDS)
def test_wsgi_stream_keeps_its_context_while_the_body_is_produced(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    call = WSGICall(stream_app, f"/{kind}?who=ann")
    assert call.status == "200 OK"
    body = b"".join(call.iterator)
    call.close()
    assert body == expected_body("ann")
    chunks = [e for e in log.events if isinstance(e, tuple) and e[0] == "chunk"]
    assert chunks == [("chunk", i, True) for i in range(3)]


@pytest.mark.parametrize("kind", KINDS)
def test_wsgi_stream_tears_down_once_after_the_body_is_fully_sent(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    call = WSGICall(stream_app, f"/{kind}?who=bo")
    assert log.names() == ["view"]  # the view returned; the body has not started
    received = []
    for _ in range(3):
        received.append(call.next())
        assert log.count("teardown_request") == 0
    with pytest.raises(StopIteration):
        call.next()
    call.close()
    call.close()  # a server may close twice; nothing runs twice
    assert b"".join(received) == expected_body("bo")
    assert log.names() == [
        "view",
        "chunk",
        "chunk",
        "chunk",
        ("body_closed", True),
        "teardown_request",
        ("teardown_exc", None),
        "teardown_appcontext",
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_wsgi_stream_tears_down_once_when_the_client_closes_early(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    call = WSGICall(stream_app, f"/{kind}?who=cy&n=5")
    assert call.next() == b"0:cy:yc;"
    assert log.count("teardown_request") == 0
    call.close()
    assert log.names() == [
        "view",
        "chunk",
        ("body_closed", True),  # closed with its context active
        "teardown_request",
        ("teardown_exc", None),
        "teardown_appcontext",
    ]
    call.close()
    assert log.count("teardown_request") == 1
    assert log.count("teardown_appcontext") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_wsgi_stream_leaves_no_context_active_in_the_thread_between_chunks(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    call = WSGICall(stream_app, f"/{kind}?who=di")
    assert _cv_app.get(None) is None
    assert call.next() == b"0:di:id;"
    assert _cv_app.get(None) is None
    assert not has_app_context()
    assert call.next() == b"1:di:id;"
    assert _cv_app.get(None) is None
    call.close()
    assert _cv_app.get(None) is None
    assert log.count("teardown_request") == 1


def test_wsgi_stream_closed_before_it_started_tears_down_once(
    stream_app: Kettle, log: Recorder
) -> None:
    for kind in KINDS:
        call = WSGICall(stream_app, f"/{kind}?who=ed")
        call.close()
    assert log.count("teardown_request") == len(KINDS)
    assert log.count("teardown_appcontext") == len(KINDS)
    assert log.count("view") == len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_wsgi_head_request_to_a_stream_tears_down_once(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    response = stream_app.test_client().head(f"/{kind}?who=fay")
    assert response.status_code == 200
    assert response.data == b""
    response.close()
    assert log.count("teardown_request") == 1
    assert log.count("teardown_appcontext") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_test_client_reads_a_stream_with_its_context(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    response = stream_app.test_client().get(f"/{kind}?who=gus")
    assert response.data == expected_body("gus")
    response.close()
    assert log.count("teardown_request") == 1
    assert log.count("teardown_appcontext") == 1


def test_wsgi_stream_runs_each_request_with_its_own_context(
    stream_app: Kettle, log: Recorder
) -> None:
    first = WSGICall(stream_app, "/generator?who=one")
    second = WSGICall(stream_app, "/async-generator?who=two")
    assert first.next() == b"0:one:eno;"
    assert second.next() == b"0:two:owt;"
    assert first.next() == b"1:one:eno;"
    assert second.next() == b"1:two:owt;"
    first.close()
    assert log.count("teardown_request") == 1
    second.close()
    assert log.count("teardown_request") == 2


def test_wsgi_stream_error_reaches_the_teardown_once(
    app: Kettle, log: Recorder
) -> None:
    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        log.add(("teardown", exc))

    @app.get("/")
    def index() -> Any:
        def broken() -> Iterator[str]:
            yield request.path
            raise ValueError("stream broke")

        return broken()

    call = WSGICall(app, "/")
    assert call.next() == b"/"
    with pytest.raises(ValueError, match="stream broke"):
        call.next()
    call.close()
    assert len(log.events) == 1
    name, exc = log.events[0]
    assert name == "teardown"
    assert isinstance(exc, ValueError)


def test_stream_with_context_in_a_generator_view_does_not_double_the_teardown(
    app: Kettle, log: Recorder
) -> None:
    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        log.add("teardown")

    @app.get("/")
    def index() -> Any:
        g.x = "x"

        def body() -> Iterator[str]:
            yield g.x
            yield request.args["y"]

        # Wrapped twice: the view's own stream_with_context and the adapter's.
        return stream_with_context(stream_with_context(body()))

    call = WSGICall(app, "/?y=yy")
    assert b"".join(call.iterator) == b"xyy"
    call.close()
    assert log.events == ["teardown"]


def test_stream_with_context_outside_a_context_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="can only be used while a context"):
        stream_with_context(iter(["a"]))


def test_wsgi_stream_and_spawned_work_tear_down_once_after_both(
    app: Kettle, log: Recorder
) -> None:
    from kettle import spawn

    release = threading.Event()
    futures: list[Any] = []

    @app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        log.add("teardown")

    def work() -> None:
        assert release.wait(TIMEOUT)
        log.add(("work", g.token))

    @app.get("/")
    def index() -> Any:
        g.token = "t"
        futures.append(spawn(work))

        def body() -> Iterator[str]:
            yield g.token

        return body()

    call = WSGICall(app, "/")
    assert b"".join(call.iterator) == b"t"
    call.close()
    assert log.events == []  # the body is done, but the work still holds the context
    release.set()
    futures[0].result(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while "teardown" not in log.events and time.monotonic() < deadline:
        time.sleep(0.002)
    assert log.events == [("work", "t"), "teardown"]
    app.shutdown(TIMEOUT)


# -- ASGI ----------------------------------------------------------------------------


def http_scope(path: str, method: str = "GET") -> dict[str, Any]:
    path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }


class Exchange:
    """The server's side of one ASGI exchange; sent messages go to the event log.

    With ``disconnect_after`` set, the client leaves (``http.disconnect``) once that
    many body chunks were sent; otherwise it stays connected and silent.
    """

    def __init__(self, log: Recorder, disconnect_after: int | None = None) -> None:
        self.log = log
        self.disconnect_after = disconnect_after
        self.requested = False
        self.sent: list[Message] = []
        self.chunks_sent = 0
        self.enough = asyncio.Event()

    async def receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.disconnect_after is not None:
            await self.enough.wait()
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.start":
            self.log.add("sent_start")
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if body:
            self.chunks_sent += 1
            self.log.add(("sent", body))
        if not more:
            self.log.add("sent_end")
        if (
            self.disconnect_after is not None
            and self.chunks_sent >= self.disconnect_after
        ):
            self.enough.set()

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.sent if m["type"] == "http.response.body"
        )


def run_asgi(
    app: Kettle, path: str, log: Recorder, disconnect_after: int | None = None
) -> Exchange:
    async def main() -> Exchange:
        exchange = Exchange(log, disconnect_after)
        await asyncio.wait_for(
            app.asgi(http_scope(path), exchange.receive, exchange.send), TIMEOUT
        )
        return exchange

    return asyncio.run(main())


@pytest.mark.parametrize("kind", KINDS)
def test_asgi_stream_keeps_its_context_and_tears_down_once_after_the_body(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    exchange = run_asgi(stream_app, f"/{kind}?who=hal", log)
    assert exchange.sent[0]["status"] == 200
    assert exchange.body == expected_body("hal")
    chunks = [e for e in log.events if isinstance(e, tuple) and e[0] == "chunk"]
    assert chunks == [("chunk", i, True) for i in range(3)]
    events = [e for e in log.names() if e != "chunk"]
    sent = [("sent", f"{i}:hal:lah;".encode()) for i in range(3)]
    assert [e for e in events if isinstance(e, tuple) and e[0] == "sent"] == sent
    # Everything, the end of the body included, was sent before the teardown ran.
    end = events.index("sent_end")
    assert events.index("teardown_request") > end
    assert events.count("teardown_request") == 1
    assert events.count("teardown_appcontext") == 1
    assert events[-3:] == [
        "teardown_request",
        ("teardown_exc", None),
        "teardown_appcontext",
    ]
    assert ("body_closed", True) in events


@pytest.mark.parametrize("kind", KINDS)
def test_asgi_stream_tears_down_once_when_the_client_disconnects(
    stream_app: Kettle, log: Recorder, kind: str
) -> None:
    exchange = run_asgi(stream_app, f"/{kind}?who=ivy&n=2000", log, 2)
    assert exchange.sent[0]["status"] == 200
    assert 2 <= exchange.chunks_sent < 2000
    assert "sent_end" not in log.events  # the body was cut short
    events = log.names()
    assert events.count("teardown_request") == 1
    assert events.count("teardown_appcontext") == 1
    closed = [e for e in events if isinstance(e, tuple) and e[0] == "body_closed"]
    assert closed == [("body_closed", True)]
    # The body was closed before the teardown, and nothing was produced after it.
    assert events.index(("body_closed", True)) < events.index("teardown_request")
    assert events[-3:] == [
        "teardown_request",
        ("teardown_exc", None),
        "teardown_appcontext",
    ]


def test_asgi_streams_of_concurrent_requests_see_their_own_context(
    stream_app: Kettle, log: Recorder
) -> None:
    async def main() -> list[Exchange]:
        exchanges = [Exchange(log) for _ in range(6)]
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    stream_app.asgi(
                        http_scope(f"/{KINDS[i]}?who=w{i}&n=4"), ex.receive, ex.send
                    )
                    for i, ex in enumerate(exchanges)
                )
            ),
            TIMEOUT,
        )
        return exchanges

    exchanges = asyncio.run(main())
    for i, exchange in enumerate(exchanges):
        assert exchange.body == expected_body(f"w{i}", 4)
    assert log.count("teardown_request") == 6
    assert log.count("teardown_appcontext") == 6


def test_asgi_head_request_to_an_async_stream_tears_down_once(
    stream_app: Kettle, log: Recorder
) -> None:
    async def main() -> Exchange:
        exchange = Exchange(log)
        scope = http_scope("/async-generator?who=jo", method="HEAD")
        await asyncio.wait_for(
            stream_app.asgi(scope, exchange.receive, exchange.send), TIMEOUT
        )
        return exchange

    exchange = asyncio.run(main())
    assert exchange.sent[0]["status"] == 200
    assert exchange.body == b""
    assert log.count("teardown_request") == 1
    assert log.count("teardown_appcontext") == 1


def test_asgi_async_view_streaming_a_generator_keeps_its_context(
    app: Kettle, log: Recorder
) -> None:
    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        log.add("teardown")

    @app.get("/")
    async def index() -> Any:
        g.token = "async-view"

        async def body() -> AsyncIterator[str]:
            yield g.token
            yield request.args["x"]

        return body()

    exchange = run_asgi(app, "/?x=!", log)
    assert exchange.body == b"async-view!"
    assert log.events[-1] == "teardown"
    assert log.events.count("teardown") == 1
    assert log.events.index("sent_end") < log.events.index("teardown")
