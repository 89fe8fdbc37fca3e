"""The app served by the live server tests (``tests/live/test_servers.py``).

Served as ``liveapp:app`` (WSGI) and ``liveapp:app.asgi`` (ASGI). Lifespan hooks
append markers to the file named by ``KETTLE_LIVE_MARKERS`` (and print them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kettle import (
    Kettle,
    Response,
    current_app,
    g,
    request,
    session,
    stream_with_context,
    websocket,
)

app = Kettle(__name__, static_folder=None)
# Fixed, not random per process: with several worker processes, a session cookie
# signed by one worker must verify in the others.
app.config["SECRET_KEY"] = "live server test key"
if os.environ.get("KETTLE_LIVE_SECRET_KEY") == "per-process":
    # The mistake test_deploy.py shows: each worker process signs with its own key.
    app.config["SECRET_KEY"] = os.urandom(16).hex()

_lock = threading.Lock()
#: Set by the lifespan (on the server's event loop): that loop and its thread.
_loop: dict[str, Any] = {"loop": None, "thread": None}
#: Stream release events, by id; see ``/release/<id>``.
_releases: dict[str, threading.Event] = {}
#: Ids of WebSocket connections whose context was torn down.
_ws_teardowns: list[str] = []
#: How streamed bodies ended ("finished KEY", "closed KEY") and "teardown KEY".
_stream_events: list[str] = []


def mark(text: str) -> None:
    """Record a lifespan marker in the markers file and in the server's log."""
    print(f"kettle-live-marker: {text}", flush=True)
    path = os.environ.get("KETTLE_LIVE_MARKERS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


# -- lifespan -------------------------------------------------------------------------


@app.before_serving
def before_serving() -> None:
    mark(f"before_serving app={current_app.name}")


@app.while_serving
async def while_serving() -> AsyncIterator[None]:
    _loop["loop"] = asyncio.get_running_loop()
    _loop["thread"] = threading.get_ident()
    mark(f"while_serving:before-yield app={current_app.name}")
    yield
    mark(f"while_serving:after-yield app={current_app.name}")


@app.after_serving
async def after_serving() -> None:
    mark(f"after_serving app={current_app.name}")


# -- HTTP -----------------------------------------------------------------------------


@app.get("/hello")
def hello() -> str:
    return "Hello, World!"


@app.get("/user/<int:user_id>")
def user(user_id: int) -> Any:
    return {
        "id": user_id,
        "q": request.args.get("q"),
        "tags": request.args.getlist("tag"),
    }


@app.post("/echo/sync")
def echo_sync() -> Any:
    return {"json": request.get_json(), "view": "sync"}


@app.post("/echo/async")
async def echo_async() -> Any:
    await asyncio.sleep(0)
    data = await request.get_data()
    return {"json": json.loads(data), "view": "async", "length": len(data)}


@app.post("/upload")
def upload() -> Any:
    upload = request.files["file"]
    content = upload.read()
    return {
        "name": request.form["name"],
        "filename": upload.filename,
        "content_type": upload.mimetype,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def _release_event(key: str) -> threading.Event:
    with _lock:
        return _releases.setdefault(key, threading.Event())


@app.route("/release/<key>", methods=["POST"])
def release(key: str) -> str:
    _release_event(key).set()
    return "released"


def _stream_event(text: str) -> None:
    with _lock:
        _stream_events.append(text)


@app.get("/stream-events")
def stream_events() -> Any:
    with _lock:
        return {"events": list(_stream_events)}


@app.get("/stream/sync")
def stream_sync() -> Response:
    key = request.args.get("wait")
    g.stream_key = key

    def body() -> Iterator[str]:
        finished = False
        try:
            yield f"chunk-0 path={request.path};"
            released = True
            if key is not None:
                released = _release_event(key).wait(10)
            yield f"chunk-1 released={released};"
            yield f"chunk-2 a={request.args.get('a')};"
            finished = True
        finally:
            _stream_event(f"{'finished' if finished else 'closed'} {key}")

    return Response(stream_with_context(body()), mimetype="text/plain")


@app.get("/stream/async")
def stream_async() -> Response:
    key = request.args.get("wait")
    g.stream_key = key

    async def body() -> AsyncIterator[str]:
        finished = False
        try:
            yield f"chunk-0 path={request.path};"
            released = True
            if key is not None:
                event = _release_event(key)
                deadline = time.monotonic() + 10
                while not event.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                released = event.is_set()
            yield f"chunk-1 released={released};"
            yield f"chunk-2 a={request.args.get('a')};"
            finished = True
        finally:
            _stream_event(f"{'finished' if finished else 'closed'} {key}")

    return Response(body(), mimetype="text/plain")


@app.post("/session")
def session_write() -> Any:
    """Store the posted JSON's ``value`` in the session (and count the writes)."""
    session["value"] = request.get_json()["value"]
    session["writes"] = session.get("writes", 0) + 1
    return {"pid": os.getpid(), "stored": session["value"]}


@app.get("/session")
async def session_read() -> Any:
    await asyncio.sleep(0)
    return {
        "pid": os.getpid(),
        "value": session.get("value"),
        "writes": session.get("writes", 0),
    }


def slow_body(key: str) -> str:
    """The body ``/slow/*`` answers after its pause: about 100 KB, known in advance."""
    return f"slow {key}\n" + "".join(f"line {i:06d}\n" for i in range(8000))


@app.get("/slow/sync")
def slow_sync() -> str:
    """Sleep (in the server's thread) for ``seconds``, marking the start and end."""
    key = request.args["key"]
    mark(f"slow:start {key}")
    time.sleep(float(request.args.get("seconds", "1")))
    mark(f"slow:end {key}")
    return slow_body(key)


@app.get("/slow/async")
async def slow_async() -> str:
    """Sleep (on the event loop) for ``seconds``, marking the start and end."""
    key = request.args["key"]
    mark(f"slow:start {key}")
    await asyncio.sleep(float(request.args.get("seconds", "1")))
    mark(f"slow:end {key}")
    return slow_body(key)


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("live boom marker")


def _where() -> dict[str, Any]:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    return {
        "thread": threading.current_thread().name,
        "on_loop_thread": threading.get_ident() == _loop["thread"],
        "running_loop": running is not None,
        "same_loop_as_lifespan": running is not None and running is _loop["loop"],
        "loop_id": None if running is None else id(running),
        "path": request.path,
    }


@app.get("/where/sync")
def where_sync() -> Any:
    return _where()


@app.get("/where/async")
async def where_async() -> Any:
    await asyncio.sleep(0)
    return _where()


@app.get("/ws-teardowns")
def ws_teardowns() -> Any:
    with _lock:
        return {"ids": list(_ws_teardowns)}


# -- WebSockets -----------------------------------------------------------------------


@app.teardown_request
def record_teardown(exc: BaseException | None) -> None:
    conn = g.get("conn")
    if conn is not None:
        with _lock:
            _ws_teardowns.append(conn)
    if "stream_key" in g:
        _stream_event(f"teardown {g.stream_key}")


@app.websocket("/ws/echo")
async def ws_echo() -> None:
    """Echo text and bytes; JSON text is answered as JSON with the context's view.

    ``close:<code>`` closes with that code; ``raise`` raises in the view.
    """
    g.conn = websocket.args.get("id", "anonymous")
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if isinstance(message, bytes):
            await websocket.send(message)
        elif message.startswith("close:"):
            await websocket.close(int(message.removeprefix("close:")))
            return
        elif message == "raise":
            raise RuntimeError("live websocket boom marker")
        elif message.startswith("{"):
            await websocket.send_json(
                {
                    "echo": json.loads(message),
                    "g_conn": g.conn,
                    "app": current_app.name,
                    "path": websocket.path,
                    "room": websocket.args.get("room"),
                    "probe": websocket.headers.get("X-Probe"),
                    "on_loop_thread": threading.get_ident() == _loop["thread"],
                }
            )
        else:
            await websocket.send(message)


@app.websocket("/ws/json")
async def ws_json() -> None:
    g.conn = websocket.args.get("id", "json")
    value = await websocket.receive_json()
    await websocket.send_json({"got": value, "g_conn": g.conn})
