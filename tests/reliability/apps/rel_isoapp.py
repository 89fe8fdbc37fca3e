"""The app of the isolation-under-load test (``test_rel_isolation.py``).

Every ``/iso/*`` request carries a unique ``t`` (token) in its query string. A
before-request hook checks that ``g``, the session and the cookies are empty, then
stores the token in ``g``; the view checks that ``g`` holds nothing else, writes the
token into the session and echoes it (from the query string, ``g`` and the session);
an after-request hook copies ``g``'s token into a header; teardown functions check it
is still their own. ``/iso/spawn*`` views hand work to ``kettle.spawn`` that reports,
from the request's context, the token it sees into ``SPAWNED``. ``/stats`` returns
the counters, ``/spawned`` the spawned tokens (and clears them).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kettle import Kettle, Response, g, request, session, spawn

SECRET_KEY = "reliability isolation key"

app = Kettle(__name__, static_folder=None)
app.config["SECRET_KEY"] = SECRET_KEY

_lock = threading.Lock()
STATS: dict[str, int] = {
    "started": 0,
    "torn_down": 0,
    "appctx_torn_down": 0,
    "active": 0,
    "peak": 0,
    # Leaks: state seen by a request, or its spawned work, that it did not put there.
    "g_not_fresh": 0,
    "g_dirty_in_view": 0,
    "session_not_empty": 0,
    "cookie_received": 0,
    "teardown_token_mismatch": 0,
    "teardown_errors": 0,
    "spawn_mismatch": 0,
}
#: What spawned work saw: one token per piece of work.
SPAWNED: list[str] = []


def count(name: str, by: int = 1) -> None:
    with _lock:
        STATS[name] += by


@app.before_request
def take_token() -> None:
    token = request.args.get("t")
    if token is None:
        return
    if list(g):
        count("g_not_fresh")
    if request.cookies:
        count("cookie_received")
    if dict(session):
        count("session_not_empty")
    with _lock:
        STATS["started"] += 1
        STATS["active"] += 1
        STATS["peak"] = max(STATS["peak"], STATS["active"])
    g.token = token


@app.after_request
def tag_response(response: Response) -> Response:
    token = g.get("token")
    if token is not None:
        response.headers["X-Token"] = token
    return response


@app.teardown_request
def check_teardown(exc: BaseException | None) -> None:
    token = g.get("token")
    if token is None:
        return
    with _lock:
        STATS["torn_down"] += 1
        STATS["active"] -= 1
        if token != request.args.get("t"):
            STATS["teardown_token_mismatch"] += 1
        if exc is not None:
            STATS["teardown_errors"] += 1


@app.teardown_appcontext
def count_appctx_teardown(exc: BaseException | None) -> None:
    if g.get("token") is not None:
        count("appctx_torn_down")


def _enter_view() -> str:
    """The request's token, after checking ``g`` holds nothing but it."""
    if sorted(g) != ["token"]:
        count("g_dirty_in_view")
    token: str = g.token
    session["t"] = token
    return token


def _echo(kind: str, token: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "arg": request.args["t"],
        "g": token,
        "session": session["t"],
    }


def _report() -> None:
    """Spawned work: what the request's context holds, seen from another thread."""
    token = g.token
    if token != request.args["t"] or token != session["t"]:
        count("spawn_mismatch")
    with _lock:
        SPAWNED.append(token)


async def _areport() -> None:
    await asyncio.sleep(0)
    _report()


@app.get("/iso/sync")
def iso_sync() -> Any:
    return _echo("sync", _enter_view())


@app.get("/iso/async")
async def iso_async() -> Any:
    token = _enter_view()
    await asyncio.sleep(0)
    return _echo("async", token)


@app.get("/iso/stream")
def iso_stream() -> Response:
    token = _enter_view()

    def body() -> Iterator[str]:
        yield f"kind=stream;arg={request.args['t']};"
        yield f"g={g.token};"
        yield f"session={session['t']};"

    return Response(body(), mimetype="text/plain", headers={"X-View": token})


@app.get("/iso/async-stream")
async def iso_async_stream() -> Response:
    token = _enter_view()

    async def body() -> AsyncIterator[str]:
        yield f"kind=async-stream;arg={request.args['t']};"
        await asyncio.sleep(0)
        yield f"g={g.token};"
        yield f"session={session['t']};"

    return Response(body(), mimetype="text/plain", headers={"X-View": token})


@app.get("/iso/spawn")
def iso_spawn() -> Any:
    token = _enter_view()
    spawn(_report)
    return _echo("spawn", token)


@app.get("/iso/async-spawn")
async def iso_async_spawn() -> Any:
    token = _enter_view()
    spawn(_areport)
    return _echo("async-spawn", token)


@app.get("/stats")
def stats() -> Any:
    with _lock:
        return dict(STATS, spawned=len(SPAWNED), pending=app.background.pending)


@app.get("/spawned")
def spawned() -> Any:
    with _lock:
        tokens = SPAWNED[:]
        SPAWNED.clear()
    return {"tokens": tokens}
