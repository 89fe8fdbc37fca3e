"""Tests for leak and misuse detection, and for errors that teach.

With ``DEBUG`` or ``TESTING`` on, every push records where it happened, and a
context popped out of order names where both contexts were pushed. An unbound proxy
used in a thread or a task says how to hand the context over (``kettle.spawn``,
``copy_current_request_context``). A setup method called after the first request
says why it is too late.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kettle import Blueprint, Kettle, current_app, g, request, session
from kettle.errors import (
    ContextError,
    ContextPopError,
    SetupError,
    UnboundProxyError,
)
from kettle.globals import _cv_app

TIMEOUT = 5.0
HERE = __file__


def line() -> int:
    """The line number of the caller."""
    return sys._getframe(1).f_lineno


def site(lineno: int, function: str) -> str:
    return f"{HERE}:{lineno} in {function}"


# -- push sites ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debug", "testing"), [(False, True), (True, False), (True, True)]
)
def test_out_of_order_pop_names_where_both_contexts_were_pushed(
    app: Kettle, debug: bool, testing: bool
) -> None:
    app.config.update(DEBUG=debug, TESTING=testing)
    name = "test_out_of_order_pop_names_where_both_contexts_were_pushed"
    outer = app.app_context()
    inner = app.test_request_context("/inner")
    outer.push()
    outer_line = line() - 1
    inner.push()
    inner_line = line() - 1
    try:
        with pytest.raises(ContextPopError) as info:
            outer.pop()
    finally:
        inner.pop()
        outer.pop()
    message = str(info.value)
    assert f"(pushed at {site(outer_line, name)})" in message
    assert f"(pushed at {site(inner_line, name)})" in message
    assert message.index(site(outer_line, name)) < message.index(site(inner_line, name))
    assert "must be popped first" in message
    assert isinstance(info.value, ContextError)
    assert isinstance(info.value, RuntimeError)


def test_out_of_order_pop_leaves_both_contexts_usable(app: Kettle) -> None:
    outer = app.app_context()
    inner = app.app_context()
    outer.push()
    inner.push()
    with pytest.raises(ContextPopError):
        outer.pop()
    assert _cv_app.get(None) is inner
    inner.pop()
    assert _cv_app.get(None) is outer
    outer.pop()
    assert _cv_app.get(None) is None


def test_with_block_records_the_with_statement_as_the_push_site(
    app: Kettle,
) -> None:
    name = "test_with_block_records_the_with_statement_as_the_push_site"
    with app.test_request_context("/") as ctx:
        pushed_line = line() - 1
        assert ctx.pushed_at_text == f" (pushed at {site(pushed_line, name)})"


def test_push_site_is_the_last_push(app: Kettle) -> None:
    ctx = app.app_context()
    with ctx:
        first = ctx.pushed_at_text
    with ctx:
        second_line = line() - 1
        second = ctx.pushed_at_text
    assert first != second
    assert f"{HERE}:{second_line} " in second


def test_push_site_of_a_request_names_the_test_not_the_test_client(
    app: Kettle,
) -> None:
    sites: list[str] = []

    @app.get("/")
    def index() -> str:
        ctx = _cv_app.get(None)
        assert ctx is not None
        sites.append(ctx.pushed_at_text)
        return "ok"

    app.test_client().get("/")
    request_line = line() - 1
    (text,) = sites
    name = "test_push_site_of_a_request_names_the_test_not_the_test_client"
    assert text == f" (pushed at {site(request_line, name)})"


def test_no_push_site_is_recorded_without_debug_or_testing(app: Kettle) -> None:
    app.config.update(DEBUG=False, TESTING=False)
    outer = app.app_context()
    inner = app.test_request_context("/")
    outer.push()
    inner.push()
    try:
        assert outer._pushed_at is None
        assert inner._pushed_at is None
        assert outer.pushed_at_text == ""
        with pytest.raises(ContextPopError) as info:
            outer.pop()
    finally:
        inner.pop()
        outer.pop()
    message = str(info.value)
    assert "pushed at" not in message
    assert HERE not in message
    assert "must be popped first" in message


def test_pop_of_a_context_that_is_not_pushed_is_an_error(app: Kettle) -> None:
    ctx = app.app_context()
    with pytest.raises(ContextPopError, match="it is not pushed"):
        ctx.pop()
    with ctx:
        pass
    with pytest.raises(ContextPopError, match="it is not pushed"):
        ctx.pop()


def test_pop_in_another_thread_says_where_a_context_must_be_popped(
    app: Kettle,
) -> None:
    errors: list[BaseException] = []
    ctx = app.app_context()

    def pop_elsewhere() -> None:
        try:
            ctx.pop()
        except BaseException as e:
            errors.append(e)

    with ctx:
        thread = threading.Thread(target=pop_elsewhere)
        thread.start()
        thread.join(TIMEOUT)
    (error,) = errors
    assert isinstance(error, ContextPopError)
    assert "must be popped where it was pushed" in str(error)


def test_pushing_a_context_active_in_another_thread_points_to_the_handover(
    app: Kettle,
) -> None:
    errors: list[BaseException] = []

    with app.test_request_context("/") as ctx:

        def push_elsewhere() -> None:
            try:
                ctx.push()
            except BaseException as e:
                errors.append(e)

        thread = threading.Thread(target=push_elsewhere)
        thread.start()
        thread.join(TIMEOUT)
    (error,) = errors
    assert isinstance(error, ContextError)
    assert "already pushed in another thread" in str(error)
    assert "copy_current_request_context" in str(error)


# -- unbound proxies -------------------------------------------------------------------

PROXIES: dict[str, Callable[[], Any]] = {
    "request": lambda: request.path,
    "session": lambda: session.get("x"),
    "g": lambda: g.get("x"),
    "current_app": lambda: current_app.name,
}


def in_thread(use: Callable[[], Any]) -> BaseException:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            use()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(TIMEOUT)
    assert len(errors) == 1
    return errors[0]


def in_task(use: Callable[[], Any]) -> BaseException:
    async def use_async() -> Any:
        return use()

    async def main() -> BaseException:
        task = asyncio.ensure_future(use_async())
        await asyncio.wait([task], timeout=TIMEOUT)
        error = task.exception()
        assert error is not None
        return error

    return asyncio.run(main())


def assert_teaches_handover(error: BaseException, proxy: str, where: str) -> None:
    assert isinstance(error, UnboundProxyError)
    assert isinstance(error, RuntimeError)
    message = str(error)
    assert f"'{proxy}'" in message
    assert where in message
    assert "kettle.spawn" in message
    assert "copy_current_request_context" in message


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_unbound_proxy_in_a_thread_names_it_and_points_to_spawn(proxy: str) -> None:
    error = in_thread(PROXIES[proxy])
    assert_teaches_handover(error, proxy, "background thread")


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_unbound_proxy_in_an_asyncio_task_names_it_and_points_to_spawn(
    proxy: str,
) -> None:
    error = in_task(PROXIES[proxy])
    assert_teaches_handover(error, proxy, "asyncio task")


@pytest.mark.parametrize("proxy", sorted(PROXIES))
def test_unbound_proxy_in_the_main_thread_has_no_handover_hint(proxy: str) -> None:
    with pytest.raises(UnboundProxyError) as info:
        PROXIES[proxy]()
    message = str(info.value)
    assert f"'{proxy}'" in message
    assert "kettle.spawn" not in message
    assert "app.app_context()" in message or "test_request_context" in message


def test_thread_started_from_a_view_is_told_how_to_get_the_context(
    app: Kettle,
) -> None:
    errors: list[BaseException] = []

    @app.get("/")
    def index() -> str:
        errors.append(in_thread(lambda: request.args))
        return "ok"

    assert app.test_client().get("/").status_code == 200
    (error,) = errors
    assert_teaches_handover(error, "request", "background thread")
    assert "Working outside of request context" in str(error)


def test_request_proxy_in_an_app_context_in_a_thread_says_there_is_no_request(
    app: Kettle,
) -> None:
    def use() -> Any:
        with app.app_context():
            return request.path

    error = in_thread(use)
    assert isinstance(error, UnboundProxyError)
    assert "application context without one" in str(error)
    assert "kettle.spawn" in str(error)


def test_task_started_outside_the_request_is_told_how_to_get_the_context(
    app: Kettle,
) -> None:
    """Under ASGI, a task the server started before the request has no context."""
    errors: list[BaseException] = []
    go = asyncio.Event()

    async def watcher() -> None:
        await go.wait()
        try:
            g.get("x")
        except BaseException as e:
            errors.append(e)

    @app.get("/")
    async def index() -> str:
        go.set()
        await asyncio.sleep(0.01)
        return "ok"

    async def main() -> None:
        task = asyncio.ensure_future(watcher())  # created with no context active
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            assert (await client.get("/")).status_code == 200
        await asyncio.wait_for(task, TIMEOUT)

    asyncio.run(main())
    (error,) = errors
    assert_teaches_handover(error, "g", "asyncio task")


# -- setup methods after the first request --------------------------------------------


def _noop(*args: Any) -> None:
    return None


SETUP_METHODS: dict[str, Callable[[Kettle], Any]] = {
    "before_request": lambda app: app.before_request(_noop),
    "after_request": lambda app: app.after_request(_noop),
    "teardown_request": lambda app: app.teardown_request(_noop),
    "teardown_appcontext": lambda app: app.teardown_appcontext(_noop),
    "add_url_rule": lambda app: app.add_url_rule("/late", "late", _noop),
    "register_blueprint": lambda app: app.register_blueprint(
        Blueprint("late", __name__)
    ),
}


@pytest.mark.parametrize("method", sorted(SETUP_METHODS))
def test_setup_method_after_the_first_request_says_it_is_too_late(
    app: Kettle, method: str
) -> None:
    app.add_url_rule("/", "index", lambda: "ok")
    assert app.test_client().get("/").status_code == 200
    with pytest.raises(SetupError) as info:
        SETUP_METHODS[method](app)
    message = str(info.value)
    assert f"'{method}'" in message
    assert "can no longer be called" in message
    assert "already handled its first request" in message
    assert "some requests and not others" in message  # why
    assert "before the app serves" in message  # what to do instead
    assert app.name in message
    # Flask raises AssertionError here; code catching that keeps working.
    assert isinstance(info.value, AssertionError)
    assert isinstance(info.value, RuntimeError)


def test_setup_method_after_a_first_asgi_request_says_it_is_too_late(
    app: Kettle,
) -> None:
    app.add_url_rule("/", "index", lambda: "ok")

    async def main() -> int:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            return (await client.get("/")).status_code

    assert asyncio.run(main()) == 200
    with pytest.raises(SetupError, match="'before_request' can no longer be called"):
        app.before_request(_noop)


def test_setup_method_failing_registers_nothing(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: "ok")
    app.test_client().get("/")
    before = dict(app.before_request_funcs)
    teardowns = list(app.teardown_appcontext_funcs)
    with pytest.raises(SetupError):
        app.before_request(_noop)
    with pytest.raises(SetupError):
        app.teardown_appcontext(_noop)
    assert dict(app.before_request_funcs) == before
    assert list(app.teardown_appcontext_funcs) == teardowns


def test_setup_methods_before_the_first_request_are_fine(app: Kettle) -> None:
    with app.test_request_context("/"):
        pass  # a test request context is not a handled request
    for register in SETUP_METHODS.values():
        register(app)
    assert "late" in app.view_functions
    assert "late" in app.blueprints
    assert _noop in app.before_request_funcs[None]
    assert _noop in app.teardown_appcontext_funcs
