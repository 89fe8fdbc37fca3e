"""The app of the fault tests (``test_rel_faults.py``): everything that can raise,
raises on request, and every resource is counted.

Each request opens a SQLite connection on ``g`` in ``before_request`` (closed by a
``teardown_appcontext`` function); ``?fault=`` makes a hook or teardown function
raise. Counters (``/stats``, or ``STATS`` in process): contexts pushed and popped
(signals), teardowns per context, connections opened and closed (and each probed
to be really closed), exceptions seen by the signals, streams closed or cancelled.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from kettle import (
    Kettle,
    Response,
    abort,
    appcontext_popped,
    appcontext_pushed,
    g,
    got_background_exception,
    got_request_exception,
    has_request_context,
    request,
    spawn,
)

app = Kettle(__name__, static_folder=None)
app.config.update(SECRET_KEY="fault key", PROPAGATE_EXCEPTIONS=False)

_lock = threading.Lock()
_keys = itertools.count()
STATS: dict[str, int] = {
    "pushed": 0,
    "pushed_all": 0,
    "popped_all": 0,
    "db_opened": 0,
    "db_closed": 0,
    "db_closed_in_use": 0,
    "request_exceptions": 0,
    "background_exceptions": 0,
    "streams_closed": 0,
    "streams_cancelled": 0,
    "streams_finished": 0,
    "spawned_done": 0,
    "spawned_cancelled": 0,
    "slow_views_done": 0,
    "slow_views_cancelled": 0,
}
#: Teardowns seen per context (keyed when pushed): each must be 1.
TEARDOWNS: dict[int, int] = {}
CONNECTIONS: list[sqlite3.Connection] = []


class BoomError(Exception):
    """An injected fault."""


class HandledError(Exception):
    """HandledError by an error handler."""


class HandlerFailsError(Exception):
    """Its error handler raises."""


def count(name: str, by: int = 1) -> None:
    with _lock:
        STATS[name] += by


def _counted(sender: Any, **extra: Any) -> bool:
    # Requests only (not the server's lifespan context), and not the probe.
    return has_request_context() and request.path != "/stats"


@appcontext_pushed.connect_via(app)
def on_pushed(sender: Any, **extra: Any) -> None:
    count("pushed_all")
    if _counted(sender):
        with _lock:
            STATS["pushed"] += 1
            g.key = key = next(_keys)
            TEARDOWNS[key] = 0


@appcontext_popped.connect_via(app)
def on_popped(sender: Any, **extra: Any) -> None:
    # The context is no longer active here: every pop is counted.
    count("popped_all")


@got_request_exception.connect_via(app)
def on_request_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    count("request_exceptions")


@got_background_exception.connect_via(app)
def on_background_exception(
    sender: Any, exception: BaseException, **extra: Any
) -> None:
    count("background_exceptions")


def fault(where: str) -> None:
    if has_request_context() and request.args.get("fault") == where:
        raise BoomError(where)


@app.before_request
def open_db() -> None:
    if request.path == "/stats":
        return
    db = sqlite3.connect(":memory:", check_same_thread=False)
    with _lock:
        STATS["db_opened"] += 1
        CONNECTIONS.append(db)
    g.db = db
    fault("before")


@app.after_request
def after(response: Response) -> Response:
    fault("after")
    return response


@app.teardown_request
def teardown_request(exc: BaseException | None) -> None:
    fault("teardown_request")


@app.teardown_appcontext
def close_db(exc: BaseException | None) -> None:
    key = g.get("key")
    if key is not None:
        with _lock:
            TEARDOWNS[key] += 1
    db = g.pop("db", None)
    if db is not None:
        db.close()
        count("db_closed")


@app.teardown_appcontext
def failing_teardown(exc: BaseException | None) -> None:
    # Registered last, so it runs first: close_db must still run after it.
    fault("teardown_appcontext")


@app.errorhandler(HandledError)
def handled(e: HandledError) -> Any:
    return "handled", 418


@app.errorhandler(HandlerFailsError)
def handler_fails(e: HandlerFailsError) -> Any:
    raise BoomError("in the error handler")


def use_db() -> None:
    try:
        g.db.execute("select 1").fetchone()
    except sqlite3.ProgrammingError:
        count("db_closed_in_use")
        raise


@app.route("/ok", methods=["GET", "POST"])
def ok() -> Any:
    use_db()
    fault("view")
    return "ok"


@app.get("/async-ok")
async def async_ok() -> Any:
    use_db()
    await asyncio.sleep(0)
    fault("view")
    return "ok"


@app.get("/handled")
def raise_handled() -> Any:
    raise HandledError()


@app.get("/handler-fails")
def raise_handler_fails() -> Any:
    raise HandlerFailsError()


@app.get("/abort")
def do_abort() -> Any:
    abort(409)


def _background(fail: bool, delay: float) -> None:
    time.sleep(delay)
    use_db()
    count("spawned_done")
    if fail:
        raise BoomError("in spawned work")


async def _abackground(fail: bool, delay: float) -> None:
    try:
        await asyncio.sleep(delay)
    except asyncio.CancelledError:
        count("spawned_cancelled")
        raise
    use_db()
    count("spawned_done")
    if fail:
        raise BoomError("in spawned coroutine")


@app.get("/spawn")
def spawn_work() -> Any:
    use_db()
    fail = request.args.get("fault") == "spawn"
    spawn(_background, fail, float(request.args.get("delay", 0)))
    return "spawned"


@app.get("/async-spawn")
async def async_spawn_work() -> Any:
    fail = request.args.get("fault") == "spawn"
    spawn(_abackground, fail, float(request.args.get("delay", 0)))
    return "spawned"


@app.get("/spawn-cancel")
async def spawn_and_cancel() -> Any:
    work = spawn(_abackground, False, 30.0)
    await asyncio.sleep(0.01)
    work.cancel()
    return "cancelled"


@app.get("/stream")
def stream() -> Response:
    n = int(request.args.get("n", 3))
    fail_at = int(request.args.get("fail_at", -1))

    def body() -> Iterator[bytes]:
        finished = False
        try:
            for i in range(n):
                use_db()
                if i == fail_at:
                    raise BoomError("in the stream")
                yield b"x" * 1024
                time.sleep(0.002)
            finished = True
        finally:
            count("streams_finished" if finished else "streams_closed")

    return Response(body(), mimetype="application/octet-stream")


@app.get("/async-stream")
async def async_stream() -> Response:
    n = int(request.args.get("n", 3))

    async def body() -> AsyncIterator[bytes]:
        finished = False
        try:
            for _ in range(n):
                use_db()
                yield b"x" * 1024
                await asyncio.sleep(0.002)
            finished = True
        except asyncio.CancelledError:
            count("streams_cancelled")
            raise
        finally:
            count("streams_finished" if finished else "streams_closed")

    return Response(body(), mimetype="application/octet-stream")


@app.get("/slow-async")
async def slow_async() -> Any:
    try:
        await asyncio.sleep(float(request.args.get("delay", 0.2)))
    except asyncio.CancelledError:
        count("slow_views_cancelled")
        raise
    use_db()
    count("slow_views_done")
    return "slow"


def stats_now() -> dict[str, Any]:
    with _lock:
        still_open = 0
        for db in CONNECTIONS:
            try:
                db.execute("select 1")
            except sqlite3.ProgrammingError:
                continue
            still_open += 1
        return dict(
            STATS,
            # Contexts still pushed, apart from the one asking (if any).
            still_pushed=STATS["pushed_all"]
            - STATS["popped_all"]
            - (1 if has_request_context() else 0),
            contexts=len(TEARDOWNS),
            torn_down_once=sum(1 for n in TEARDOWNS.values() if n == 1),
            torn_down_twice=sum(1 for n in TEARDOWNS.values() if n > 1),
            not_torn_down=sum(1 for n in TEARDOWNS.values() if n == 0),
            connections_open=still_open,
            pending=app.background.pending,
        )


@app.get("/stats")
def stats() -> Any:
    return stats_now()
