"""One Kettle app under real servers: uvicorn (h11 and httptools), hypercorn and
granian on ``app.asgi``; gunicorn (sync and gthread workers) and granian on ``app``
(WSGI). Each is a subprocess on 127.0.0.1 hit with httpx and the ``websockets``
client. The app is ``tests/live/apps/liveapp.py``. Stopping servers gracefully and
several worker processes are in ``test_deploy.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.timeout(60)

# The server kinds of tests/live/conftest.py.
ASGI_KINDS = ("uvicorn-h11", "uvicorn", "hypercorn", "granian-asgi")
WSGI_KINDS = ("gunicorn-sync", "gunicorn-gthread", "granian-wsgi")
SERVER_KINDS = ASGI_KINDS + WSGI_KINDS
LiveServer = Any
ServerPool = Any


@pytest.fixture(params=SERVER_KINDS)
def server(request: pytest.FixtureRequest, server_pool: ServerPool) -> LiveServer:
    return server_pool.get(request.param)


@pytest.fixture(params=ASGI_KINDS)
def asgi_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> LiveServer:
    return server_pool.get(request.param)


@pytest.fixture(params=WSGI_KINDS)
def wsgi_server(request: pytest.FixtureRequest, server_pool: ServerPool) -> LiveServer:
    return server_pool.get(request.param)


@pytest.fixture(params=[k for k in SERVER_KINDS if k != "gunicorn-sync"])
def concurrent_server(
    request: pytest.FixtureRequest, server_pool: ServerPool
) -> LiveServer:
    """A server that answers a request while another one streams (not the
    single-threaded gunicorn sync worker)."""
    return server_pool.get(request.param)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, base_url=server.base_url, timeout=10) as client:
        yield client


def ws_connect(server: LiveServer, path: str, **kwargs: Any) -> ClientConnection:
    return connect(
        server.ws_url + path, open_timeout=5, close_timeout=5, proxy=None, **kwargs
    )


# -- HTTP, every server ----------------------------------------------------------------


def test_hello(http: httpx.Client) -> None:
    response = http.get("/hello")
    assert response.status_code == 200
    assert response.text == "Hello, World!"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-length"] == "13"


def test_json_route_with_path_param_and_query(http: httpx.Client) -> None:
    response = http.get("/user/42", params=[("q", "é x"), ("tag", "a"), ("tag", "b")])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 42, "q": "é x", "tags": ["a", "b"]}
    assert http.get("/user/not-a-number").status_code == 404


def test_post_json_echo_through_sync_view(http: httpx.Client) -> None:
    payload = {"name": "kettle", "items": [1, 2.5, None, True], "nested": {"k": "ü"}}
    response = http.post("/echo/sync", json=payload)
    assert response.status_code == 200
    assert response.json() == {"json": payload, "view": "sync"}


@pytest.mark.parametrize("size", [10, 50_000], ids=["small", "large"])
def test_post_json_echo_through_async_view(http: httpx.Client, size: int) -> None:
    # The large body (over 64 KiB) is not received before dispatch under ASGI.
    payload = {"numbers": list(range(size))}
    body = json.dumps(payload).encode()
    response = http.post(
        "/echo/async", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"json": payload, "view": "async", "length": len(body)}


@pytest.mark.parametrize("size", [100, 300_000], ids=["small", "large"])
def test_multipart_form_upload(http: httpx.Client, size: int) -> None:
    content = os.urandom(size)
    response = http.post(
        "/upload",
        data={"name": "report"},
        files={"file": ("data.bin", content, "application/octet-stream")},
    )
    assert response.status_code == 200
    assert response.json() == {
        "name": "report",
        "filename": "data.bin",
        "content_type": "application/octet-stream",
        "size": size,
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def _read_until(chunks: Iterator[bytes], received: bytearray, marker: bytes) -> None:
    while marker not in received:
        chunk = next(chunks, None)
        assert chunk is not None, f"the body ended without {marker!r}: {received!r}"
        received.extend(chunk)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_streamed_response(
    server: LiveServer, http: httpx.Client, flavour: str
) -> None:
    path = f"/stream/{flavour}"
    expected = f"chunk-0 path={path};chunk-1 released=True;chunk-2 a=z;"
    if server.kind == "gunicorn-sync":
        # One worker, one thread: the release below could not be served meanwhile.
        response = http.get(path, params={"a": "z"})
        assert response.status_code == 200
        assert response.text == expected
        return
    # The body waits (up to 10 s) for a release after its first chunk. Getting that
    # chunk within the 5 s read timeout shows that it was sent before the body ended.
    key = uuid.uuid4().hex
    received = bytearray()
    with http.stream(
        "GET", path, params={"a": "z", "wait": key}, timeout=httpx.Timeout(5)
    ) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        _read_until(chunks, received, b"chunk-0")
        assert b"chunk-1" not in received
        with httpx.Client(
            trust_env=False, base_url=server.base_url, timeout=5
        ) as other:
            assert other.post(f"/release/{key}").text == "released"
        for chunk in chunks:
            received.extend(chunk)
    assert received.decode() == expected


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_client_leaving_mid_stream_closes_the_body_and_tears_down_once(
    concurrent_server: LiveServer, flavour: str
) -> None:
    server = concurrent_server
    key = uuid.uuid4().hex
    received = bytearray()
    with httpx.Client(trust_env=False, base_url=server.base_url, timeout=5) as client:
        with client.stream("GET", f"/stream/{flavour}", params={"wait": key}) as r:
            _read_until(r.iter_raw(), received, b"chunk-0")
    # The connection is closed: the server notices, or fails its next write.
    time.sleep(0.3)
    with httpx.Client(trust_env=False, base_url=server.base_url, timeout=5) as http:
        assert http.post(f"/release/{key}").status_code == 200
        deadline = time.monotonic() + 10
        while True:
            events = [
                e.split()[0]
                for e in http.get("/stream-events").json()["events"]
                if e.endswith(f" {key}")
            ]
            if "teardown" in events or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert http.get("/hello").status_code == 200
    if server.kind in WSGI_KINDS:
        # WSGI: the server only learns it when a write fails, maybe after the end.
        assert events in (["closed", "teardown"], ["finished", "teardown"])
    else:
        assert events == ["closed", "teardown"]
    time.sleep(0.1)
    with httpx.Client(trust_env=False, base_url=server.base_url, timeout=5) as http:
        all_events = http.get("/stream-events").json()["events"]
    assert [e for e in all_events if e.endswith(f" {key}")].count(
        f"teardown {key}"
    ) == 1


def test_session_set_in_one_request_is_read_in_the_next(
    server: LiveServer, http: httpx.Client
) -> None:
    """The session cookie set by one response, sent back by the client, carries the
    session to the next request (an async view reads what a sync view wrote)."""
    assert http.get("/session").json()["value"] is None
    value = {"token": uuid.uuid4().hex, "text": "é ✓"}
    written = http.post("/session", json={"value": value})
    assert written.status_code == 200
    assert written.json()["stored"] == value
    assert "session" in http.cookies
    first = http.get("/session")
    assert first.status_code == 200
    assert first.json()["value"] == value
    assert first.json()["writes"] == 1
    # A read leaves the session unchanged; a second write sees the first one.
    assert "set-cookie" not in first.headers
    http.post("/session", json={"value": "second"})
    again = http.get("/session").json()
    assert (again["value"], again["writes"]) == ("second", 2)
    # Another client, without the cookie, has an empty session.
    with httpx.Client(trust_env=False, base_url=server.base_url, timeout=10) as other:
        assert other.get("/session").json()["value"] is None


def test_404_and_405(http: httpx.Client) -> None:
    missing = http.get("/no/such/page")
    assert missing.status_code == 404
    assert "Not Found" in missing.text
    wrong_method = http.post("/hello")
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_500_is_logged_and_server_keeps_serving(
    server: LiveServer, http: httpx.Client
) -> None:
    failed = http.get("/boom")
    assert failed.status_code == 500
    assert "Internal Server Error" in failed.text
    server.wait_for_log(r"Exception on /boom \[GET\]")
    server.wait_for_log(r"RuntimeError: live boom marker")
    assert server.proc.poll() is None
    after = http.get("/hello")
    assert after.status_code == 200
    assert after.text == "Hello, World!"


def test_websocket_route_over_plain_http_is_a_clear_400(http: httpx.Client) -> None:
    response = http.get("/ws/echo")
    assert response.status_code == 400
    assert "WebSocket" in response.text
    assert "app.asgi" in response.text


# -- where views run -------------------------------------------------------------------


def test_async_view_runs_on_the_loop_thread_sync_view_in_a_worker(
    asgi_server: LiveServer,
) -> None:
    with httpx.Client(
        trust_env=False, base_url=asgi_server.base_url, timeout=10
    ) as http:
        async_view = [http.get("/where/async").json() for _ in range(2)]
        sync_view = http.get("/where/sync").json()
    for report in async_view:
        assert report["path"] == "/where/async"
        assert report["on_loop_thread"] is True
        assert report["same_loop_as_lifespan"] is True
    assert sync_view == {
        "thread": sync_view["thread"],
        "on_loop_thread": False,
        "running_loop": False,
        "same_loop_as_lifespan": False,
        "loop_id": None,
        "path": "/where/sync",
    }
    assert sync_view["thread"] != "MainThread"


def test_wsgi_async_view_runs_on_a_reused_private_loop(
    wsgi_server: LiveServer,
) -> None:
    with httpx.Client(
        trust_env=False, base_url=wsgi_server.base_url, timeout=10
    ) as http:
        reports = [http.get("/where/async").json() for _ in range(8)]
        sync_view = http.get("/where/sync").json()
    assert all(r["running_loop"] and not r["on_loop_thread"] for r in reports)
    loops_by_thread: dict[str, set[int]] = {}
    for report in reports:
        loops_by_thread.setdefault(report["thread"], set()).add(report["loop_id"])
    # One loop per worker thread, reused from one request to the next.
    assert all(len(loops) == 1 for loops in loops_by_thread.values())
    assert len(set().union(*loops_by_thread.values())) == len(loops_by_thread)
    assert sync_view["running_loop"] is False


# -- WebSockets (ASGI) -----------------------------------------------------------------


def test_websocket_echoes_text_and_bytes(asgi_server: LiveServer) -> None:
    with ws_connect(asgi_server, "/ws/echo?id=echo") as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\x01binary\xff")
        assert ws.recv(timeout=5) == b"\x00\x01binary\xff"
        ws.send("ünïcode ✓")
        assert ws.recv(timeout=5) == "ünïcode ✓"
        big = os.urandom(200_000)
        ws.send(big)
        assert ws.recv(timeout=5) == big


def test_websocket_json_with_g_current_app_args_and_headers(
    asgi_server: LiveServer,
) -> None:
    conn = uuid.uuid4().hex
    with ws_connect(
        asgi_server,
        f"/ws/echo?id={conn}&room=blue",
        additional_headers={"X-Probe": "probe-value"},
    ) as ws:
        ws.send(json.dumps({"n": 1, "list": [1, "two"]}))
        answer = json.loads(ws.recv(timeout=5))
    assert answer == {
        "echo": {"n": 1, "list": [1, "two"]},
        "g_conn": conn,
        "app": "liveapp",
        "path": "/ws/echo",
        "room": "blue",
        "probe": "probe-value",
        "on_loop_thread": True,
    }
    with ws_connect(asgi_server, f"/ws/json?id={conn}-json") as ws:
        ws.send(json.dumps({"x": [True, None]}))
        assert json.loads(ws.recv(timeout=5)) == {
            "got": {"x": [True, None]},
            "g_conn": f"{conn}-json",
        }
        # The view returned: the server closes normally.
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000


def test_websocket_close_code_from_the_server(asgi_server: LiveServer) -> None:
    with ws_connect(asgi_server, "/ws/echo?id=closer") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"
        ws.send("close:4321")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4321


def test_websocket_view_error_closes_with_1011_and_is_logged(
    asgi_server: LiveServer,
) -> None:
    with ws_connect(asgi_server, "/ws/echo?id=raiser") as ws:
        ws.send("raise")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    asgi_server.wait_for_log(r"RuntimeError: live websocket boom marker")
    with ws_connect(asgi_server, "/ws/echo?id=after-raise") as ws:
        ws.send("still there")
        assert ws.recv(timeout=5) == "still there"


def test_websocket_to_an_http_only_route_is_rejected(asgi_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as rejected:
        ws_connect(asgi_server, "/hello")
    assert rejected.value.response.status_code == 403


def test_websocket_teardown_runs_when_the_connection_ends(
    asgi_server: LiveServer,
) -> None:
    conn = uuid.uuid4().hex
    with ws_connect(asgi_server, f"/ws/echo?id={conn}") as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
    with httpx.Client(
        trust_env=False, base_url=asgi_server.base_url, timeout=5
    ) as http:
        deadline = time.monotonic() + 5
        while True:
            ids = http.get("/ws-teardowns").json()["ids"]
            if conn in ids or time.monotonic() > deadline:
                break
            time.sleep(0.02)
    assert ids.count(conn) == 1


# -- lifespan (ASGI) -------------------------------------------------------------------

LIFESPAN_CASES = [
    ("uvicorn-h11", signal.SIGINT),
    ("uvicorn", signal.SIGTERM),
    ("hypercorn", signal.SIGTERM),
    ("hypercorn", signal.SIGINT),
    ("granian-asgi", signal.SIGINT),  # SIGTERM: test_deploy.py
]


@pytest.mark.parametrize(
    ("kind", "sig"), LIFESPAN_CASES, ids=[f"{k}-{s.name}" for k, s in LIFESPAN_CASES]
)
def test_lifespan_hooks_run_at_startup_and_shutdown(
    live_workdir: Path,
    start_live_server: Callable[..., LiveServer],
    kind: str,
    sig: signal.Signals,
) -> None:
    markers = live_workdir / f"markers-{kind}-{sig.name}.txt"
    server = start_live_server(kind, env={"KETTLE_LIVE_MARKERS": str(markers)})
    try:
        started = markers.read_text().splitlines()
        assert started == [
            "before_serving app=liveapp",
            "while_serving:before-yield app=liveapp",
        ]
        with httpx.Client(trust_env=False, base_url=server.base_url, timeout=5) as http:
            assert http.get("/where/async").json()["same_loop_as_lifespan"] is True
    finally:
        code = server.stop(sig)
    assert markers.read_text().splitlines() == [
        *started,
        "while_serving:after-yield app=liveapp",
        "after_serving app=liveapp",
    ]
    assert code in (0, -sig), server.log()
    log = server.log()
    assert re.search(r"kettle-live-marker: after_serving", log)
    assert "Traceback" not in log


# -- last: the servers' logs -----------------------------------------------------------


def test_servers_logged_no_unexpected_errors(server: LiveServer) -> None:
    """Only the two errors raised on purpose left a traceback in the server's log.

    Defined last, so that it reads each server's log after the other tests.
    """
    log = server.log()
    tracebacks = log.count("Traceback (most recent call last)")
    expected = log.count("RuntimeError: live boom marker") + log.count(
        "RuntimeError: live websocket boom marker"
    )
    assert tracebacks == expected, log
    for message in (
        "Exception in ASGI application",  # uvicorn
        "Error in ASGI Framework",  # hypercorn
        "Error handling request",  # gunicorn
        "Application callable raised an exception",  # granian
        "ERROR in app: Exception on /stream",
    ):
        assert message not in log, log
