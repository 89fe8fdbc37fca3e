"""Tests for the ASGI lifespan: before_serving, while_serving and after_serving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from kettle import Kettle, current_app, g
from kettle.globals import _cv_app

Message = dict[str, Any]
TIMEOUT = 5.0


class Lifespan:
    """Drives ``app.asgi`` through a lifespan scope like a server does."""

    def __init__(self, app: Kettle) -> None:
        self.app = app
        self.to_app: asyncio.Queue[Message] = asyncio.Queue()
        self.from_app: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _event(self, kind: str) -> Message:
        if self.task is None:
            scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
            self.task = asyncio.ensure_future(
                self.app.asgi(scope, self.to_app.get, self.from_app.put)
            )
        await self.to_app.put({"type": kind})
        return await asyncio.wait_for(self.from_app.get(), TIMEOUT)

    async def startup(self) -> Message:
        return await self._event("lifespan.startup")

    async def shutdown(self) -> Message:
        message = await self._event("lifespan.shutdown")
        await self.finished()
        return message

    async def finished(self) -> None:
        assert self.task is not None
        await asyncio.wait_for(self.task, TIMEOUT)


def run(
    app: Kettle,
    between: Callable[[], Awaitable[Any]] | None = None,
) -> tuple[Message, Message | None]:
    """Start up, run ``between`` while serving, shut down; the two replies."""

    async def main() -> tuple[Message, Message | None]:
        lifespan = Lifespan(app)
        started = await lifespan.startup()
        if started["type"] != "lifespan.startup.complete":
            await lifespan.finished()
            return started, None
        if between is not None:
            await between()
        return started, await lifespan.shutdown()

    return asyncio.run(main())


COMPLETE = (
    {"type": "lifespan.startup.complete"},
    {"type": "lifespan.shutdown.complete"},
)


def test_before_and_after_serving_run_at_startup_and_shutdown(app: Kettle) -> None:
    events: list[str] = []

    @app.before_serving
    def sync_before() -> None:
        events.append("sync before")

    @app.before_serving
    async def async_before() -> None:
        await asyncio.sleep(0)
        events.append("async before")

    @app.after_serving
    async def async_after() -> None:
        events.append("async after")

    @app.after_serving
    def sync_after() -> None:
        events.append("sync after")

    async def between() -> None:
        events.append("serving")

    assert run(app, between) == COMPLETE
    assert events == [
        "sync before",
        "async before",
        "serving",
        "async after",
        "sync after",
    ]


def test_serving_functions_run_in_an_app_context(app: Kettle) -> None:
    seen: list[Any] = []

    @app.before_serving
    def sync_before() -> None:
        g.opened_by = "sync before"
        seen.append(("sync before", current_app.name, _cv_app.get() is not None))

    @app.before_serving
    async def async_before() -> None:
        seen.append(("async before", current_app.name, g.opened_by))

    @app.after_serving
    def sync_after() -> None:
        seen.append(("sync after", current_app.name, "opened_by" in g))

    assert run(app) == COMPLETE
    assert seen == [
        ("sync before", app.name, True),
        ("async before", app.name, "sync before"),
        # Shutdown has a fresh app context.
        ("sync after", app.name, False),
    ]
    assert _cv_app.get(None) is None


def test_async_serving_functions_run_on_the_loop_and_sync_ones_in_a_worker(
    app: Kettle,
) -> None:
    threads: dict[str, int] = {}

    @app.before_serving
    async def async_before() -> None:
        threads["async"] = threading.get_ident()

    @app.before_serving
    def sync_before() -> None:
        threads["sync"] = threading.get_ident()

    assert run(app)[0] == COMPLETE[0]
    assert threads["async"] == threading.get_ident()
    assert threads["sync"] != threading.get_ident()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_while_serving_generator_wraps_serving(app: Kettle, kind: str) -> None:
    events: list[str] = []

    if kind == "sync":

        @app.while_serving
        def around() -> Iterator[None]:
            events.append(f"start {current_app.name}")
            g.resource = "pool"
            yield
            events.append(f"stop {current_app.name}")

    else:

        @app.while_serving
        async def around() -> AsyncIterator[None]:
            await asyncio.sleep(0)
            events.append(f"start {current_app.name}")
            g.resource = "pool"
            yield
            await asyncio.sleep(0)
            events.append(f"stop {current_app.name}")

    async def between() -> None:
        events.append("serving")

    assert run(app, between) == COMPLETE
    assert events == [f"start {app.name}", "serving", f"stop {app.name}"]


def test_order_of_all_serving_functions(app: Kettle) -> None:
    events: list[str] = []

    @app.before_serving
    def before_1() -> None:
        events.append("before 1")

    @app.while_serving
    def while_1() -> Iterator[None]:
        events.append("while 1 start")
        yield
        events.append("while 1 stop")

    @app.while_serving
    async def while_2() -> AsyncIterator[None]:
        events.append("while 2 start")
        yield
        events.append("while 2 stop")

    @app.before_serving
    async def before_2() -> None:
        events.append("before 2")

    @app.after_serving
    def after_1() -> None:
        events.append("after 1")

    @app.after_serving
    async def after_2() -> None:
        events.append("after 2")

    assert run(app) == COMPLETE
    assert events == [
        "before 1",
        "before 2",
        "while 1 start",
        "while 2 start",
        "while 2 stop",
        "while 1 stop",
        "after 1",
        "after 2",
    ]


def test_requests_are_served_between_startup_and_shutdown(app: Kettle) -> None:
    events: list[str] = []

    @app.while_serving
    async def around() -> AsyncIterator[None]:
        app.extensions["pool"] = "ready"
        yield
        events.append("stopped")

    @app.route("/")
    async def index() -> str:
        return app.extensions["pool"]

    async def between() -> None:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            events.append((await c.get("/")).text)

    assert run(app, between) == COMPLETE
    assert events == ["ready", "stopped"]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_startup_failure_is_reported_with_its_traceback(app: Kettle, kind: str) -> None:
    after: list[str] = []

    if kind == "sync":

        @app.before_serving
        def broken() -> None:
            raise RuntimeError("database is unreachable")

    else:

        @app.before_serving
        async def broken() -> None:
            raise RuntimeError("database is unreachable")

    @app.after_serving
    def never() -> None:
        after.append("after")

    started, stopped = run(app)
    assert started["type"] == "lifespan.startup.failed"
    assert "Traceback (most recent call last)" in started["message"]
    assert "RuntimeError: database is unreachable" in started["message"]
    assert "broken" in started["message"]
    assert stopped is None
    assert after == []


def test_startup_failure_in_a_while_serving_generator(app: Kettle) -> None:
    @app.while_serving
    async def around() -> AsyncIterator[None]:
        raise OSError("port in use")
        yield

    started, _ = run(app)
    assert started["type"] == "lifespan.startup.failed"
    assert "OSError: port in use" in started["message"]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_while_serving_that_does_not_yield_fails_startup(
    app: Kettle, kind: str
) -> None:
    if kind == "sync":

        @app.while_serving
        def no_yield() -> Iterator[None]:
            return
            yield

    else:

        @app.while_serving
        async def no_yield() -> AsyncIterator[None]:
            return
            yield

    started, _ = run(app)
    assert started["type"] == "lifespan.startup.failed"
    assert "'no_yield'" in started["message"]
    assert "without yielding" in started["message"]


def test_while_serving_that_is_not_a_generator_fails_startup(app: Kettle) -> None:
    @app.while_serving
    def plain() -> None:
        return None

    started, _ = run(app)
    assert started["type"] == "lifespan.startup.failed"
    assert "TypeError" in started["message"]
    assert "'plain'" in started["message"]


def test_while_serving_that_yields_twice_fails_shutdown(app: Kettle) -> None:
    @app.while_serving
    def twice() -> Iterator[None]:
        yield
        yield

    started, stopped = run(app)
    assert started == COMPLETE[0]
    assert stopped is not None
    assert stopped["type"] == "lifespan.shutdown.failed"
    assert "more than once" in stopped["message"]


def test_shutdown_failure_is_reported(app: Kettle) -> None:
    @app.after_serving
    async def broken() -> None:
        raise ValueError("flush failed")

    started, stopped = run(app)
    assert started == COMPLETE[0]
    assert stopped is not None
    assert stopped["type"] == "lifespan.shutdown.failed"
    assert "ValueError: flush failed" in stopped["message"]


def test_teardown_appcontext_runs_after_each_phase(app: Kettle) -> None:
    events: list[str] = []

    @app.before_serving
    def before() -> None:
        events.append("before")

    @app.after_serving
    def after() -> None:
        events.append("after")

    @app.teardown_appcontext
    async def teardown(exc: BaseException | None) -> None:
        events.append(f"teardown {exc!r}")

    assert run(app) == COMPLETE
    assert events == ["before", "teardown None", "after", "teardown None"]


def test_app_without_serving_functions_completes_both_phases(app: Kettle) -> None:
    assert run(app) == COMPLETE
