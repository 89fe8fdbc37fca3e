"""The app of the isolation tests (``tests/live/test_isolation.py``).

Every ``/iso/*`` request carries a ``token`` in its query string: a before-request
hook stores it in ``g``, the view writes it into the session and echoes it (from the
query string, ``g`` and the session), an async after-request hook copies ``g``'s into
a header, and a teardown function checks it is still its own. Counters (``/stats``)
record how many requests started and were torn down, and every leak seen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kettle import Kettle, Response, g, request, session, stream_with_context

app = Kettle(__name__, static_folder=None)
app.config["SECRET_KEY"] = "isolation test key"

_lock = threading.Lock()
_stats = {
    "started": 0,
    "torn_down": 0,
    "active": 0,
    "peak": 0,
    # Leaks: state seen by a request that it did not put there.
    "g_not_fresh": 0,
    "session_not_empty": 0,
    "cookie_received": 0,
    "teardown_token_mismatch": 0,
    "teardown_errors": 0,
}


def _count(name: str, by: int = 1) -> None:
    with _lock:
        _stats[name] += by


@app.before_request
def take_token() -> None:
    token = request.args.get("token")
    if token is None:
        return
    if list(g):
        _count("g_not_fresh")
    if request.cookies:
        _count("cookie_received")
    if dict(session):
        _count("session_not_empty")
    with _lock:
        _stats["started"] += 1
        _stats["active"] += 1
        _stats["peak"] = max(_stats["peak"], _stats["active"])
    g.token = token


@app.after_request
async def tag_response(response: Response) -> Response:
    await asyncio.sleep(0)
    token = g.get("token")
    if token is not None:
        response.headers["X-G-Token"] = token
    return response


@app.teardown_request
def check_teardown(exc: BaseException | None) -> None:
    token = g.get("token")
    if token is None:
        return
    with _lock:
        _stats["torn_down"] += 1
        _stats["active"] -= 1
        if token != request.args.get("token"):
            _stats["teardown_token_mismatch"] += 1
        if exc is not None:
            _stats["teardown_errors"] += 1


def _echo(kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "arg": request.args["token"],
        "g": g.token,
        "session": session["token"],
    }


@app.get("/iso/sync")
def iso_sync() -> Any:
    session["token"] = g.token
    time.sleep(0.002)
    return _echo("sync")


@app.get("/iso/async")
async def iso_async() -> Any:
    session["token"] = g.token
    await asyncio.sleep(0.002)
    return _echo("async")


@app.get("/iso/stream")
def iso_stream() -> Response:
    session["token"] = g.token

    @stream_with_context
    def body() -> Iterator[str]:
        yield f"kind=stream;arg={request.args['token']};"
        time.sleep(0.002)
        yield f"g={g.token};"
        yield f"session={session['token']};"

    return Response(body(), mimetype="text/plain")


@app.get("/iso/async-stream")
def iso_async_stream() -> Response:
    session["token"] = g.token

    async def body() -> AsyncIterator[str]:
        yield f"kind=async-stream;arg={request.args['token']};"
        await asyncio.sleep(0.002)
        yield f"g={g.token};"
        yield f"session={session['token']};"

    return Response(body(), mimetype="text/plain")


@app.get("/stats")
def stats() -> Any:
    with _lock:
        return dict(_stats)
