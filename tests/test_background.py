"""Tests for ``kettle.spawn``: work that outlives the view, with the view's context.

Spawned work shares the request's context (the same ``request``, ``session``, ``g``
and ``current_app``), and the context's teardown waits for it: it runs once, after
the response was produced *and* every piece of spawned work finished. Each test that
checks an order records an event log and holds the work on a ``threading.Event``
until it has seen the response arrive.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

import kettle
from kettle import Kettle, current_app, g, request, session, spawn
from kettle.errors import ContextError
from kettle.signals import got_background_exception

TIMEOUT = 5.0
Message = dict[str, Any]


@pytest.fixture(autouse=True)
def _stop_background_work(app: Kettle) -> Iterator[None]:
    """Stop the app's workers (pool threads, background loop) after every test."""
    yield
    app.shutdown(TIMEOUT)


def wait_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        time.sleep(0.002)


async def await_until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.002)


def with_asgi_client(
    app: Kettle, use: Callable[[httpx.AsyncClient], Awaitable[Any]]
) -> Any:
    """Run ``use(client)`` on a new loop, with an httpx client talking to app.asgi."""

    async def main() -> Any:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            return await asyncio.wait_for(use(client), TIMEOUT)

    return asyncio.run(main())


def track_teardown(app: Kettle, log: list[Any]) -> None:
    """Append 'teardown_request' and 'teardown_appcontext' to ``log`` when they run."""

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        log.append("teardown_request")

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        log.append("teardown_appcontext")


# -- what spawned work sees --------------------------------------------------------


def test_spawned_function_runs_in_a_worker_thread_with_the_same_context(
    app: Kettle,
) -> None:
    seen: dict[str, Any] = {}

    @app.get("/")
    def index() -> str:
        session["user"] = "ann"
        g.marker = object()
        seen["view_thread"] = threading.current_thread()
        seen["view_g"] = g._get_current_object()  # type: ignore[attr-defined]
        seen["view_request"] = request._get_current_object()  # type: ignore[attr-defined]
        seen["view_session"] = session._get_current_object()  # type: ignore[attr-defined]

        def work(a: int, *, b: int) -> int:
            seen["thread"] = threading.current_thread()
            seen["request"] = request._get_current_object()  # type: ignore[attr-defined]
            seen["session"] = session._get_current_object()  # type: ignore[attr-defined]
            seen["g"] = g._get_current_object()  # type: ignore[attr-defined]
            seen["marker"] = g.marker
            seen["app"] = current_app._get_current_object()  # type: ignore[attr-defined]
            seen["args"] = request.args["q"]
            seen["user"] = session["user"]
            return a + b

        future = spawn(work, 40, b=2)
        seen["result"] = future.result(TIMEOUT)
        return "ok"

    response = app.test_client().get("/?q=tea")
    assert response.status_code == 200
    assert seen["result"] == 42
    assert seen["thread"] is not seen["view_thread"]
    assert seen["thread"].name.startswith("kettle-background-")
    assert seen["request"] is seen["view_request"]
    assert seen["session"] is seen["view_session"]
    assert seen["g"] is seen["view_g"]
    assert seen["marker"] is seen["view_g"].marker
    assert seen["app"] is app
    assert seen["args"] == "tea"
    assert seen["user"] == "ann"


def test_spawned_function_returns_a_future_with_its_result(app: Kettle) -> None:
    futures: list[Any] = []

    @app.get("/")
    def index() -> str:
        futures.append(spawn(lambda: request.path.upper()))
        return "ok"

    assert app.test_client().get("/").data == b"ok"
    (future,) = futures
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(TIMEOUT) == "/"


def test_spawned_function_returns_a_future_with_its_exception(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    futures: list[Any] = []

    def fail() -> None:
        raise LookupError("no such teapot")

    @app.get("/")
    def index() -> str:
        futures.append(spawn(fail))
        return "ok"

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        assert app.test_client().get("/").status_code == 200
        (future,) = futures
        error = future.exception(TIMEOUT)
    assert isinstance(error, LookupError)
    assert str(error) == "no such teapot"
    with pytest.raises(LookupError, match="no such teapot"):
        future.result()


def test_spawn_passes_positional_and_keyword_arguments(app: Kettle) -> None:
    def join(*parts: str, sep: str = "-") -> str:
        return sep.join(parts)

    with app.app_context():
        future = spawn(join, "a", "b", "c", sep="+")
    assert future.result(TIMEOUT) == "a+b+c"


def test_spawn_works_in_an_app_context_without_a_request(app: Kettle) -> None:
    log: list[str] = []

    @app.teardown_appcontext
    def close(exc: BaseException | None) -> None:
        log.append("teardown")

    def work() -> tuple[bool, str]:
        log.append("work")
        return kettle.has_request_context(), current_app.name

    with app.app_context():
        g.value = 1
        future = spawn(work)
        assert future.result(TIMEOUT) == (False, app.name)
    assert log == ["work", "teardown"]


# -- coroutine functions -------------------------------------------------------------


def test_spawned_coroutine_under_asgi_is_a_task_on_the_running_loop(
    app: Kettle,
) -> None:
    seen: dict[str, Any] = {}

    async def work(n: int) -> int:
        seen["loop"] = asyncio.get_running_loop()
        seen["args"] = request.args["q"]
        seen["g"] = g._get_current_object()  # type: ignore[attr-defined]
        seen["app"] = current_app._get_current_object()  # type: ignore[attr-defined]
        await asyncio.sleep(0)
        return n * 2

    @app.get("/")
    async def index() -> str:
        seen["view_loop"] = asyncio.get_running_loop()
        seen["view_g"] = g._get_current_object()  # type: ignore[attr-defined]
        task = spawn(work, 21)
        seen["task"] = task
        return str(await task)

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/?q=oolong")

    response = with_asgi_client(app, use)
    assert response.text == "42"
    assert isinstance(seen["task"], asyncio.Task)
    assert seen["loop"] is seen["view_loop"]
    assert seen["g"] is seen["view_g"]
    assert seen["args"] == "oolong"
    assert seen["app"] is app


def test_spawned_coroutine_under_hand_driven_asgi_is_a_task(app: Kettle) -> None:
    seen: dict[str, Any] = {}

    async def work() -> str:
        return request.path

    @app.get("/here")
    async def index() -> str:
        task = spawn(work)
        seen["is_task"] = isinstance(task, asyncio.Task)
        seen["same_loop"] = task.get_loop() is asyncio.get_running_loop()
        return await task

    sent: list[Message] = []

    async def main() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/here",
            "raw_path": b"/here",
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "client": ("127.0.0.1", 1234),
            "server": ("testserver", 80),
        }

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await asyncio.wait_for(app.asgi(scope, receive, send), TIMEOUT)

    asyncio.run(main())
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"/here"
    assert seen == {"is_task": True, "same_loop": True}


def test_spawned_coroutine_from_a_sync_view_under_asgi_returns_a_future(
    app: Kettle,
) -> None:
    seen: dict[str, Any] = {}

    async def work() -> str:
        seen["thread"] = threading.current_thread().name
        return request.args["q"]

    @app.get("/")
    def index() -> str:
        future = spawn(work)
        seen["future"] = future
        return future.result(TIMEOUT)  # type: ignore[no-any-return]

    async def use(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/?q=sync")

    assert with_asgi_client(app, use).text == "sync"
    assert isinstance(seen["future"], concurrent.futures.Future)
    assert seen["thread"] == "kettle-background-loop"


def test_spawned_coroutine_under_wsgi_runs_on_the_background_loop(
    app: Kettle,
) -> None:
    seen: dict[str, Any] = {}

    async def work(n: int) -> int:
        seen["thread"] = threading.current_thread().name
        seen["loop"] = asyncio.get_running_loop()
        seen["args"] = request.args["q"]
        seen["g"] = g._get_current_object()  # type: ignore[attr-defined]
        return n + 1

    @app.get("/")
    def index() -> str:
        seen["view_g"] = g._get_current_object()  # type: ignore[attr-defined]
        future = spawn(work, 1)
        seen["future"] = future
        return str(future.result(TIMEOUT))

    assert app.test_client().get("/?q=wsgi").data == b"2"
    assert isinstance(seen["future"], concurrent.futures.Future)
    assert seen["thread"] == "kettle-background-loop"
    assert seen["args"] == "wsgi"
    assert seen["g"] is seen["view_g"]


def test_spawned_coroutine_from_an_async_view_under_wsgi_returns_a_future(
    app: Kettle,
) -> None:
    seen: dict[str, Any] = {}

    async def work() -> str:
        seen["loop"] = asyncio.get_running_loop()
        seen["thread"] = threading.current_thread().name
        return request.args["q"]

    @app.get("/")
    async def index() -> str:
        seen["view_loop"] = asyncio.get_running_loop()
        future = spawn(work)
        seen["future"] = future
        # The view's loop is the WSGI thread's private one, which stops when the view
        # returns: the work runs elsewhere and is awaited through a Future.
        return await asyncio.wrap_future(future)  # type: ignore[no-any-return]

    assert app.test_client().get("/?q=async-wsgi").data == b"async-wsgi"
    assert isinstance(seen["future"], concurrent.futures.Future)
    assert not isinstance(seen["future"], asyncio.Future)
    assert seen["loop"] is not seen["view_loop"]
    assert seen["thread"] == "kettle-background-loop"


def test_spawned_coroutine_outlives_an_async_view_under_wsgi(app: Kettle) -> None:
    log: list[Any] = []
    release = threading.Event()
    futures: list[Any] = []
    track_teardown(app, log)

    async def work() -> None:
        while not release.is_set():
            await asyncio.sleep(0.002)
        log.append(("work", request.args["q"]))

    @app.get("/")
    async def index() -> str:
        futures.append(spawn(work))
        log.append("view")
        return "ok"

    response = app.test_client().get("/?q=later")
    log.append("response")
    assert response.data == b"ok"
    assert log == ["view", "response"]
    release.set()
    futures[0].result(TIMEOUT)
    assert log == [
        "view",
        "response",
        ("work", "later"),
        "teardown_request",
        "teardown_appcontext",
    ]


# -- teardown waits for the work -----------------------------------------------------


def test_teardown_runs_once_after_the_response_and_the_spawned_work(
    app: Kettle,
) -> None:
    log: list[Any] = []
    release = threading.Event()
    futures: list[Any] = []
    track_teardown(app, log)

    def work() -> None:
        assert release.wait(TIMEOUT)
        log.append(("work", g.name))

    @app.get("/")
    def index() -> str:
        g.name = request.args["name"]
        futures.append(spawn(work))
        log.append("view")
        return "done"

    response = app.test_client().get("/?name=ann")
    log.append("response")
    assert response.data == b"done"
    time.sleep(0.05)  # teardown would have had time to run, were it not held
    assert log == ["view", "response"]
    release.set()
    futures[0].result(TIMEOUT)
    wait_until(lambda: "teardown_appcontext" in log)
    time.sleep(0.02)
    assert log == [
        "view",
        "response",
        ("work", "ann"),
        "teardown_request",
        "teardown_appcontext",
    ]


def test_teardown_waits_for_every_piece_of_spawned_work(app: Kettle) -> None:
    log: list[Any] = []
    first, second = threading.Event(), threading.Event()
    futures: list[Any] = []
    track_teardown(app, log)

    def work(name: str, gate: threading.Event) -> None:
        assert gate.wait(TIMEOUT)
        log.append(name)

    async def coro_work(gate: threading.Event) -> None:
        while not gate.is_set():
            await asyncio.sleep(0.002)
        log.append("coroutine")

    @app.get("/")
    def index() -> str:
        futures.append(spawn(work, "first", first))
        futures.append(spawn(work, "second", second))
        futures.append(spawn(coro_work, second))
        return "ok"

    assert app.test_client().get("/").status_code == 200
    log.append("response")
    first.set()
    futures[0].result(TIMEOUT)
    time.sleep(0.05)
    assert log == ["response", "first"]
    second.set()
    for future in futures:
        future.result(TIMEOUT)
    wait_until(lambda: "teardown_appcontext" in log)
    assert sorted(log[2:4]) == ["coroutine", "second"]
    assert log[4:] == ["teardown_request", "teardown_appcontext"]


def test_work_spawned_from_spawned_work_also_holds_the_teardown(
    app: Kettle,
) -> None:
    log: list[Any] = []
    release = threading.Event()
    futures: list[Any] = []
    track_teardown(app, log)

    def grandchild() -> None:
        assert release.wait(TIMEOUT)
        log.append(("grandchild", request.args["q"]))

    def child() -> None:
        futures.append(spawn(grandchild))
        log.append("child")

    @app.get("/")
    def index() -> str:
        spawn(child).result(TIMEOUT)
        return "ok"

    assert app.test_client().get("/?q=deep").status_code == 200
    time.sleep(0.05)
    assert log == ["child"]
    release.set()
    futures[0].result(TIMEOUT)
    wait_until(lambda: "teardown_appcontext" in log)
    assert log == [
        "child",
        ("grandchild", "deep"),
        "teardown_request",
        "teardown_appcontext",
    ]


def test_teardown_without_spawned_work_runs_at_the_end_of_the_request(
    app: Kettle,
) -> None:
    log: list[Any] = []
    track_teardown(app, log)
    app.add_url_rule("/", "index", lambda: "ok")
    app.test_client().get("/")
    assert log == ["teardown_request", "teardown_appcontext"]


def test_teardown_under_asgi_waits_for_a_spawned_function_and_task(
    app: Kettle,
) -> None:
    log: list[Any] = []
    release = threading.Event()
    track_teardown(app, log)
    spawned: list[Any] = []

    def blocking() -> None:
        assert release.wait(TIMEOUT)
        log.append(("function", g.token))

    async def task() -> None:
        while not release.is_set():
            await asyncio.sleep(0.002)
        log.append(("task", g.token))

    @app.get("/")
    async def index() -> str:
        g.token = request.args["t"]
        spawned.append(spawn(blocking))
        spawned.append(spawn(task))
        log.append("view")
        return "ok"

    async def use(client: httpx.AsyncClient) -> None:
        response = await client.get("/?t=abc")
        log.append("response")
        assert response.text == "ok"
        await asyncio.sleep(0.05)
        assert log == ["view", "response"]
        release.set()
        assert await app.background.await_all(TIMEOUT)
        await await_until(lambda: "teardown_appcontext" in log)

    with_asgi_client(app, use)
    assert log[:2] == ["view", "response"]
    assert sorted(log[2:4]) == [("function", "abc"), ("task", "abc")]
    assert log[4:] == ["teardown_request", "teardown_appcontext"]
    assert isinstance(spawned[0], concurrent.futures.Future)
    assert isinstance(spawned[1], asyncio.Task)


def test_async_teardown_after_a_spawned_task_under_asgi_runs_in_order(
    app: Kettle,
) -> None:
    log: list[Any] = []
    loop_threads: list[threading.Thread] = []

    @app.teardown_request
    async def teardown_request(exc: BaseException | None) -> None:
        await asyncio.sleep(0)
        log.append("teardown_request")

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        log.append(("teardown_appcontext", threading.current_thread()))

    async def work() -> None:
        loop_threads.append(threading.current_thread())
        await asyncio.sleep(0.02)
        log.append("work")

    @app.get("/")
    async def index() -> str:
        spawn(work)
        return "ok"

    async def use(client: httpx.AsyncClient) -> None:
        assert (await client.get("/")).text == "ok"
        assert await app.background.await_all(TIMEOUT)
        await await_until(lambda: len(log) >= 3)
        await asyncio.sleep(0.02)

    with_asgi_client(app, use)
    assert [e if isinstance(e, str) else e[0] for e in log] == [
        "work",
        "teardown_request",
        "teardown_appcontext",
    ]
    # Sync teardown functions run in a worker thread under ASGI, never on the loop.
    assert log[2][1] is not loop_threads[0]


def test_teardown_waits_for_spawned_work_and_a_test_client_with_block(
    app: Kettle,
) -> None:
    log: list[Any] = []
    release = threading.Event()
    futures: list[Any] = []
    track_teardown(app, log)

    def work() -> None:
        assert release.wait(TIMEOUT)
        log.append("work")

    @app.get("/")
    def index() -> str:
        futures.append(spawn(work))
        return "ok"

    with app.test_client() as client:
        client.get("/")
        assert request.path == "/"  # the client keeps the last context
        release.set()
        futures[0].result(TIMEOUT)
        assert log == ["work"]  # the with block still holds the context
    assert log == ["work", "teardown_request", "teardown_appcontext"]


def test_g_db_stays_open_while_spawned_work_uses_it(app: Kettle) -> None:
    release = threading.Event()
    connections: list[sqlite3.Connection] = []
    futures: list[Any] = []

    def get_db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(":memory:", check_same_thread=False)
            g.db.execute("CREATE TABLE visits (who TEXT)")
            connections.append(g.db)
        return g.db  # type: ignore[no-any-return]

    @app.teardown_appcontext
    def close_db(exc: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()

    def record_visit() -> list[tuple[str]]:
        assert release.wait(TIMEOUT)
        db = get_db()
        db.execute("INSERT INTO visits VALUES (?)", (request.args["who"],))
        return db.execute("SELECT who FROM visits").fetchall()

    @app.get("/")
    def index() -> str:
        get_db().execute("INSERT INTO visits VALUES ('view')")
        futures.append(spawn(record_visit))
        return "queued"

    assert app.test_client().get("/?who=bob").data == b"queued"
    (db,) = connections
    assert db.execute("SELECT count(*) FROM visits").fetchone() == (1,)  # still open
    release.set()
    assert futures[0].result(TIMEOUT) == [("view",), ("bob",)]
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")


def test_teardown_sees_the_error_of_the_request_once_the_work_is_done(
    app: Kettle,
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    received: list[Any] = []
    release = threading.Event()
    futures: list[Any] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        received.append(exc)

    @app.get("/")
    def index() -> str:
        futures.append(spawn(release.wait, TIMEOUT))
        raise KeyError("broken view")

    assert app.test_client().get("/").status_code == 500
    assert received == []
    release.set()
    futures[0].result(TIMEOUT)
    wait_until(lambda: bool(received))
    assert len(received) == 1
    assert isinstance(received[0], KeyError)


# -- failures are reported -----------------------------------------------------------


def test_exception_in_spawned_function_is_logged_and_signalled(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    signalled: list[tuple[Any, dict[str, Any]]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        signalled.append((sender, kwargs))

    def explode() -> None:
        raise ValueError("kettle boiled dry")

    with got_background_exception.connected_to(receiver, app):
        with caplog.at_level(logging.ERROR, logger=app.logger.name):
            with app.app_context():
                future = spawn(explode)
            assert isinstance(future.exception(TIMEOUT), ValueError)

    assert len(signalled) == 1
    sender, kwargs = signalled[0]
    assert sender is app
    assert kwargs["exception"] is future.exception()
    records = [r for r in caplog.records if r.name == app.logger.name]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert "explode" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert records[0].exc_info[1] is future.exception()


def test_exception_in_spawned_coroutine_is_logged_and_signalled_under_wsgi(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    signalled: list[BaseException] = []
    futures: list[Any] = []

    def receiver(sender: Any, exception: BaseException) -> None:
        signalled.append(exception)

    async def explode() -> None:
        await asyncio.sleep(0)
        raise OSError("no water")

    @app.get("/")
    def index() -> str:
        futures.append(spawn(explode))
        return "ok"

    with got_background_exception.connected_to(receiver, app):
        with caplog.at_level(logging.ERROR, logger=app.logger.name):
            assert app.test_client().get("/").status_code == 200
            error = futures[0].exception(TIMEOUT)

    assert isinstance(error, OSError)
    assert signalled == [error]
    assert any(
        r.exc_info is not None and r.exc_info[1] is error and "explode" in r.message
        for r in caplog.records
    )


def test_exception_in_spawned_task_is_logged_and_signalled_under_asgi(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    signalled: list[BaseException] = []
    tasks: list[asyncio.Task[Any]] = []

    def receiver(sender: Any, exception: BaseException) -> None:
        signalled.append(exception)

    async def explode() -> None:
        raise ArithmeticError("too hot")

    @app.get("/")
    async def index() -> str:
        tasks.append(spawn(explode))
        return "ok"

    async def use(client: httpx.AsyncClient) -> BaseException | None:
        assert (await client.get("/")).status_code == 200
        await asyncio.wait(tasks, timeout=TIMEOUT)
        return tasks[0].exception()

    with got_background_exception.connected_to(receiver, app):
        with caplog.at_level(logging.ERROR, logger=app.logger.name):
            error = with_asgi_client(app, use)

    assert isinstance(error, ArithmeticError)
    assert signalled == [error]
    assert [r.exc_info[1] for r in caplog.records if r.exc_info] == [error]


def test_exception_in_spawned_work_does_not_break_the_teardown(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[Any] = []
    track_teardown(app, log)

    def explode() -> None:
        log.append("work")
        raise RuntimeError("oops")

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        with app.app_context():
            future = spawn(explode)
        future.exception(TIMEOUT)
    wait_until(lambda: "teardown_appcontext" in log)
    assert log == ["work", "teardown_appcontext"]


def test_failing_teardown_after_spawned_work_is_logged(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    @app.teardown_appcontext
    def broken(exc: BaseException | None) -> None:
        raise ConnectionError("cannot close")

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        with app.app_context():
            future = spawn(release.wait, TIMEOUT)
        release.set()
        assert future.result(TIMEOUT) is True
        wait_until(
            lambda: any(
                r.exc_info is not None and "cannot close" in repr(r.exc_info[1])
                for r in caplog.records
            )
        )


# -- the pool and shutdown -----------------------------------------------------------


def test_pool_is_bounded_by_background_workers(app: Kettle) -> None:
    app.config["BACKGROUND_WORKERS"] = 2
    lock = threading.Lock()
    gate = threading.Event()
    running = 0
    most = 0
    started = 0

    def job() -> None:
        nonlocal running, most, started
        with lock:
            running += 1
            started += 1
            most = max(most, running)
        try:
            assert gate.wait(TIMEOUT)
            time.sleep(0.005)
        finally:
            with lock:
                running -= 1

    with app.app_context():
        futures = [spawn(job) for _ in range(5)]
    wait_until(lambda: started == 2)
    time.sleep(0.05)  # a third worker, were there one, would have started by now
    assert started == 2
    assert app.background.pending == 5
    gate.set()
    for future in futures:
        future.result(TIMEOUT)
    assert started == 5
    assert most == 2
    wait_until(lambda: app.background.pending == 0)


def test_shutdown_waits_for_pending_work(app: Kettle) -> None:
    done: list[str] = []

    def slow(name: str) -> None:
        time.sleep(0.1)
        done.append(name)

    with app.app_context():
        spawn(slow, "a")
        spawn(slow, "b")
    assert app.background.pending == 2
    assert app.shutdown(TIMEOUT) == 0
    assert sorted(done) == ["a", "b"]
    assert app.background.pending == 0


def test_shutdown_waits_for_pending_coroutines(app: Kettle) -> None:
    done: list[str] = []

    async def slow() -> None:
        await asyncio.sleep(0.1)
        done.append("coroutine")

    with app.app_context():
        spawn(slow)
    assert app.shutdown(TIMEOUT) == 0
    assert done == ["coroutine"]


def test_shutdown_with_a_short_timeout_returns_and_logs_what_was_cut_off(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    gate = threading.Event()

    def stuck() -> None:
        assert gate.wait(TIMEOUT)

    with app.app_context():
        futures = [spawn(stuck) for _ in range(3)]
    try:
        with caplog.at_level(logging.WARNING, logger=app.logger.name):
            started = time.monotonic()
            cut_off = app.shutdown(0.05)
            elapsed = time.monotonic() - started
    finally:
        gate.set()
    assert cut_off == 3
    assert elapsed < 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "3 piece(s) of background work unfinished" in warnings[0].getMessage()
    for future in futures:
        future.result(TIMEOUT)  # they were running: they finish after all


def test_shutdown_cancels_a_cut_off_coroutine_and_still_tears_down(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[Any] = []
    started = threading.Event()

    @app.teardown_appcontext
    def teardown(exc: BaseException | None) -> None:
        log.append("teardown")

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            log.append(("finally", g.name))

    with app.app_context():
        g.name = "stuck"
        future = spawn(forever)
    assert started.wait(TIMEOUT)
    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        assert app.shutdown(0.02) == 1
        wait_until(lambda: "teardown" in log)
    assert future.cancelled()
    assert log == [("finally", "stuck"), "teardown"]
    assert "1 piece(s) of background work unfinished" in caplog.text


def test_spawn_after_shutdown_starts_new_workers(app: Kettle) -> None:
    with app.app_context():
        assert spawn(lambda: 1).result(TIMEOUT) == 1
    assert app.shutdown(TIMEOUT) == 0
    with app.app_context():
        assert spawn(lambda: 2).result(TIMEOUT) == 2


def test_shutdown_with_nothing_spawned_returns_zero(app: Kettle) -> None:
    assert app.shutdown(0) == 0


class Lifespan:
    """Drives the lifespan scope of ``app.asgi`` by hand, as a server does."""

    def __init__(self, app: Kettle) -> None:
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.ensure_future(
            app.asgi(scope, self.to_app.get, self.from_app.put)
        )

    async def event(self, kind: str) -> Message:
        await self.to_app.put({"type": kind})
        return await asyncio.wait_for(self.from_app.get(), TIMEOUT)


def test_asgi_lifespan_shutdown_waits_for_pending_background_work(
    app: Kettle,
) -> None:
    log: list[str] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        log.append("teardown_request")

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        if kettle.has_request_context():  # not the lifespan's own context
            log.append("teardown_appcontext")

    # The work ends 0.1 s after the response arrived (however slow the machine),
    # so the shutdown that follows has work to wait for.
    responded = threading.Event()

    def slow_function() -> None:
        responded.wait(TIMEOUT)
        time.sleep(0.1)
        log.append("function done")

    async def slow_task() -> None:
        while not responded.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        log.append("task done")

    @app.get("/")
    async def index() -> str:
        spawn(slow_function)
        spawn(slow_task)
        return "ok"

    async def main() -> None:
        lifespan = Lifespan(app)
        assert (await lifespan.event("lifespan.startup"))["type"] == (
            "lifespan.startup.complete"
        )
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            assert (await client.get("/")).text == "ok"
        log.append("response")
        responded.set()
        reply = await lifespan.event("lifespan.shutdown")
        log.append(reply["type"])
        await asyncio.wait_for(lifespan.task, TIMEOUT)

    asyncio.run(main())
    assert log[0] == "response"
    assert sorted(log[1:3]) == ["function done", "task done"]
    assert log[3:] == [
        "teardown_request",
        "teardown_appcontext",
        "lifespan.shutdown.complete",
    ]


def test_asgi_lifespan_shutdown_cuts_off_work_after_its_timeout(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["BACKGROUND_SHUTDOWN_TIMEOUT"] = 0.05
    gate = threading.Event()
    futures: list[Any] = []

    async def main() -> Message:
        lifespan = Lifespan(app)
        await lifespan.event("lifespan.startup")
        with app.app_context():
            futures.append(spawn(gate.wait, TIMEOUT))
        started = time.monotonic()
        reply = await lifespan.event("lifespan.shutdown")
        assert time.monotonic() - started < 2
        await asyncio.wait_for(lifespan.task, TIMEOUT)
        return reply

    try:
        with caplog.at_level(logging.WARNING, logger=app.logger.name):
            reply = asyncio.run(main())
    finally:
        gate.set()
    assert reply["type"] == "lifespan.shutdown.complete"
    assert any(
        "1 piece(s) of background work unfinished" in r.getMessage()
        for r in caplog.records
    )
    assert futures[0].result(TIMEOUT) is True


# -- misuse ----------------------------------------------------------------------------


def test_spawn_outside_any_context_raises_a_context_error() -> None:
    def job() -> None:
        raise AssertionError("must not run")

    with pytest.raises(ContextError, match=r"needs an active\s+context") as info:
        spawn(job)
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert "'job'" in message
    assert "app.app_context()" in message


def test_spawn_outside_any_context_in_a_thread_raises_a_context_error(
    app: Kettle,
) -> None:
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            spawn(print)
        except BaseException as e:
            errors.append(e)

    with app.app_context():
        thread = threading.Thread(target=in_thread)
        thread.start()
        thread.join(TIMEOUT)
    (error,) = errors
    assert isinstance(error, ContextError)
    assert "none is active in this thread or task" in str(error)


def test_spawn_outside_a_context_leaves_nothing_pending(app: Kettle) -> None:
    with pytest.raises(ContextError):
        spawn(print)
    assert app.background.pending == 0


def test_work_cancelled_before_it_starts_still_lets_teardown_run() -> None:
    import threading as _threading

    from kettle import Kettle as _Kettle
    from kettle import spawn as _spawn

    app = _Kettle(__name__)
    app.config["BACKGROUND_WORKERS"] = 1
    events: list[object] = []

    @app.teardown_appcontext
    def record(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.get("/")
    def index() -> str:
        gate = _threading.Event()
        _spawn(gate.wait, 0.2)  # holds the only worker
        queued = _spawn(events.append, "ran")
        events.append(("cancelled", queued.cancel()))
        return "ok"

    assert app.test_client().get("/").text == "ok"
    assert app.background.wait(5)
    assert events == [("cancelled", True), "teardown"]
    app.shutdown(1)


def test_task_cancelled_before_its_first_step_still_lets_teardown_run() -> None:
    import asyncio as _asyncio

    import httpx as _httpx

    from kettle import Kettle as _Kettle
    from kettle import spawn as _spawn

    app = _Kettle(__name__)
    events: list[str] = []

    @app.teardown_appcontext
    def record(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.get("/")
    async def index() -> str:
        async def job() -> None:
            events.append("ran")

        _spawn(job).cancel()
        return "ok"

    async def visit() -> None:
        transport = _httpx.ASGITransport(app=app.asgi)
        async with _httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            assert (await c.get("/")).text == "ok"
            await _asyncio.sleep(0.05)

    _asyncio.run(visit())
    assert events == ["teardown"]
