"""Tests for kettle.globals: the g namespace, the global proxies and their errors."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import kettle
import kettle.globals
from kettle import Kettle, app_ctx, current_app, g, request, session
from kettle.ctx import AppContext, AppCtxGlobals, _AppCtxGlobals
from kettle.errors import ContextError, UnboundProxyError

# -- g -------------------------------------------------------------------------------


def test_g_attribute_set_get_and_delete(app: Kettle) -> None:
    with app.app_context():
        g.user = "ann"
        assert g.user == "ann"
        assert app_ctx.g.user == "ann"
        del g.user
        assert "user" not in g


def test_g_missing_attribute_raises_attribute_error(app: Kettle) -> None:
    with app.app_context():
        with pytest.raises(AttributeError, match="missing"):
            g.missing  # noqa: B018
        assert not hasattr(g, "missing")
        g.present = None
        assert hasattr(g, "present")


def test_g_deleting_missing_attribute_raises_attribute_error(app: Kettle) -> None:
    with app.app_context(), pytest.raises(AttributeError):
        del g.never_set


def test_g_get_returns_value_or_default(app: Kettle) -> None:
    with app.app_context():
        g.a = 1
        assert g.get("a") == 1
        assert g.get("b") is None
        assert g.get("b", "fallback") == "fallback"
        assert "b" not in g


def test_g_pop_removes_and_returns(app: Kettle) -> None:
    with app.app_context():
        g.a = 1
        assert g.pop("a") == 1
        assert "a" not in g
        assert g.pop("a", "default") == "default"
        assert g.pop("a", None) is None


def test_g_pop_missing_without_default_raises_key_error(app: Kettle) -> None:
    with app.app_context(), pytest.raises(KeyError, match="absent"):
        g.pop("absent")


def test_g_setdefault_sets_only_when_missing(app: Kettle) -> None:
    with app.app_context():
        assert g.setdefault("a", [1]) == [1]
        assert g.a == [1]
        assert g.setdefault("a", [2]) == [1]
        assert g.setdefault("b") is None
        assert "b" in g and g.b is None


def test_g_contains_tests_stored_names(app: Kettle) -> None:
    with app.app_context():
        assert "x" not in g
        g.x = 0
        assert "x" in g
        assert 42 not in g


def test_g_iterates_names_in_insertion_order(app: Kettle) -> None:
    with app.app_context():
        assert list(g) == []
        g.zeta = 1
        g.alpha = 2
        g.mid = 3
        assert list(g) == ["zeta", "alpha", "mid"]
        assert sorted(g) == ["alpha", "mid", "zeta"]
        assert dict((name, g.get(name)) for name in g) == {
            "zeta": 1,
            "alpha": 2,
            "mid": 3,
        }


def test_g_repr_names_active_app_and_stored_names(app: Kettle) -> None:
    with app.app_context():
        g.b = 1
        g.a = 2
        text = repr(g)
        assert text == "<kettle.g of 'kettle_test_app': ['a', 'b']>"
        assert repr(g._get_current_object()) == text


def test_g_repr_without_active_context(app: Kettle) -> None:
    with app.app_context():
        g.kept = True
        real = g._get_current_object()
    assert repr(real) == "<kettle.g ['kept']>"
    loose = AppCtxGlobals()
    assert repr(loose) == "<kettle.g []>"
    with app.app_context():
        assert repr(loose) == "<kettle.g []>"


def test_g_real_object_is_truthy_even_when_empty(app: Kettle) -> None:
    with app.app_context():
        assert bool(g) is True
        assert list(g) == []


def test_g_is_fresh_for_every_context(app: Kettle) -> None:
    with app.app_context():
        g.first = 1
        with app.app_context():
            assert list(g) == []
            g.second = 2
        assert list(g) == ["first"]
    with app.app_context():
        assert "first" not in g


def test_g_belongs_to_its_context(app: Kettle) -> None:
    with app.app_context() as ctx:
        assert g._get_current_object() is ctx.g
        assert isinstance(ctx.g, AppCtxGlobals)


def test_g_is_made_on_first_use_and_reads_alike_before(app: Kettle) -> None:
    # Made only when something uses it; every way in sees the same fresh one.
    for first_use in (
        lambda: isinstance(g, AppCtxGlobals),
        lambda: g.__class__ is AppCtxGlobals,
        lambda: g.get("x") is None,
        lambda: "x" not in g,
        lambda: list(g) == [],
        lambda: g.__dict__ == {},
        lambda: repr(g).startswith("<kettle.g of"),
    ):
        with app.app_context() as ctx:
            assert ctx._g is None
            assert first_use()
            assert ctx._g is not None
            assert g._get_current_object() is ctx.g


def test_g_set_through_the_context_is_what_the_proxy_reads(app: Kettle) -> None:
    with app.app_context() as ctx:
        mine = AppCtxGlobals()
        mine.x = 1
        ctx.g = mine
        assert g.x == 1
        assert g._get_current_object() is mine


def test_g_of_a_falsy_globals_class_still_reads_and_stays_the_same(
    app: Kettle,
) -> None:
    class Sized(AppCtxGlobals):
        def __len__(self) -> int:
            return 0  # falsy: the proxy asks for it again each time

    app.app_ctx_globals_class = Sized
    with app.app_context() as ctx:
        g.x = 1
        first = ctx.g
        assert g.x == 1
        assert g.get("x") == 1
        assert ctx.g is first
        assert isinstance(first, Sized)


def test_a_request_that_never_uses_g_makes_none(app: Kettle) -> None:
    seen: list[AppContext] = []

    @app.get("/")
    def index() -> str:
        seen.append(app_ctx._get_current_object())
        return "ok"

    assert app.test_client().get("/").data == b"ok"
    assert seen[0]._g is None


def test_flask_name_of_globals_class() -> None:
    assert _AppCtxGlobals is AppCtxGlobals


def test_g_per_request_in_views(app: Kettle, client: Any) -> None:
    @app.before_request
    def load() -> None:
        g.count = g.get("count", 0) + 1

    @app.get("/")
    def index() -> str:
        return str(g.count)

    assert client.get("/").data == b"1"
    assert client.get("/").data == b"1"


# -- module surface ------------------------------------------------------------------


def test_package_exports_the_global_proxies() -> None:
    assert kettle.current_app is kettle.globals.current_app
    assert kettle.g is kettle.globals.g
    assert kettle.request is kettle.globals.request
    assert kettle.session is kettle.globals.session
    assert kettle.app_ctx is kettle.globals.app_ctx


def test_request_ctx_is_the_app_ctx_proxy(app: Kettle) -> None:
    assert kettle.globals.request_ctx is app_ctx
    with app.test_request_context("/") as ctx:
        assert kettle.globals.request_ctx._get_current_object() is ctx


def test_proxies_resolve_to_the_active_context(app: Kettle) -> None:
    with app.test_request_context("/p?x=1") as ctx:
        assert current_app._get_current_object() is app
        assert app_ctx._get_current_object() is ctx
        assert g._get_current_object() is ctx.g
        assert request._get_current_object() is ctx.request
        assert session._get_current_object() is ctx.session


def test_app_ctx_is_available_without_request(app: Kettle) -> None:
    with app.app_context() as ctx:
        assert app_ctx._get_current_object() is ctx
        assert app_ctx.has_request is False


# -- unbound errors ------------------------------------------------------------------

APP_PROXIES: dict[str, Callable[[], Any]] = {
    "current_app": lambda: current_app.name,
    "g": lambda: g.anything,
    "app_ctx": lambda: app_ctx.app,
}
REQUEST_PROXIES: dict[str, Callable[[], Any]] = {
    "request": lambda: request.args,
    "session": lambda: session.get("x"),
}


@pytest.mark.parametrize("name", sorted(APP_PROXIES))
def test_app_proxy_outside_context_names_proxy_and_fix(name: str) -> None:
    with pytest.raises(RuntimeError) as info:
        APP_PROXIES[name]()
    error = info.value
    assert isinstance(error, UnboundProxyError)
    assert isinstance(error, ContextError)
    message = str(error)
    assert message.startswith("Working outside of application context")
    assert f"'{name}'" in message
    assert "app.app_context()" in message
    assert "background thread" not in message
    assert "asyncio task" not in message


@pytest.mark.parametrize("name", sorted(REQUEST_PROXIES))
def test_request_proxy_outside_context_names_proxy_and_fix(name: str) -> None:
    with pytest.raises(RuntimeError) as info:
        REQUEST_PROXIES[name]()
    error = info.value
    assert isinstance(error, UnboundProxyError)
    message = str(error)
    assert message.startswith("Working outside of request context")
    assert f"'{name}'" in message
    assert "no Kettle context is active" in message
    assert "test_request_context" in message


@pytest.mark.parametrize("name", sorted(REQUEST_PROXIES))
def test_request_proxy_in_app_only_context_says_request_is_missing(
    app: Kettle, name: str
) -> None:
    with app.app_context() as ctx:
        with pytest.raises(UnboundProxyError) as info:
            REQUEST_PROXIES[name]()
        message = str(info.value)
        assert message.startswith("Working outside of request context")
        assert f"'{name}'" in message
        assert repr(ctx) in message
        assert "application context without one" in message
        assert "test_request_context" in message


@pytest.mark.parametrize("name", sorted(APP_PROXIES))
def test_app_proxies_work_in_app_only_context(app: Kettle, name: str) -> None:
    with app.app_context():
        g.anything = "set"
        assert APP_PROXIES[name]() is not None


def test_request_and_session_are_falsy_in_app_only_context(app: Kettle) -> None:
    with app.app_context():
        assert not request
        assert not session
        assert current_app
        assert g
        assert app_ctx


def run_in_thread(func: Callable[[], Any]) -> BaseException | None:
    """Run ``func`` in a new thread and return what it raised, if anything."""
    caught: list[BaseException] = []

    def target() -> None:
        try:
            func()
        except BaseException as e:
            caught.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(5)
    return caught[0] if caught else None


@pytest.mark.parametrize("name", sorted({**APP_PROXIES, **REQUEST_PROXIES}))
def test_unbound_error_in_thread_mentions_thread_and_hand_over(name: str) -> None:
    error = run_in_thread({**APP_PROXIES, **REQUEST_PROXIES}[name])
    assert isinstance(error, UnboundProxyError)
    message = str(error)
    assert f"'{name}'" in message
    assert "background thread" in message
    assert "copy_current_request_context" in message


def test_thread_does_not_inherit_context(app: Kettle) -> None:
    seen: list[Any] = []

    def look() -> None:
        seen.append((kettle.has_app_context(), bool(g), bool(request)))
        g.value  # noqa: B018 -- raises

    with app.test_request_context("/"):
        g.value = 1
        error = run_in_thread(look)
        assert g.value == 1
    assert seen == [(False, False, False)]
    assert isinstance(error, UnboundProxyError)


def test_executor_thread_does_not_inherit_context(app: Kettle) -> None:
    with app.test_request_context("/"), ThreadPoolExecutor(1) as pool:
        assert pool.submit(kettle.has_request_context).result(5) is False
        with pytest.raises(UnboundProxyError, match="background thread"):
            pool.submit(lambda: request.path).result(5)


def test_context_pushed_in_thread_stays_in_that_thread(app: Kettle) -> None:
    inside = threading.Event()
    leave = threading.Event()
    seen: list[Any] = []

    def worker() -> None:
        with app.test_request_context("/worker"):
            seen.append(request.path)
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(5)
        assert not kettle.has_app_context()
        assert not request
    finally:
        leave.set()
        thread.join(5)
    assert seen == ["/worker"]


def test_unbound_error_in_asyncio_task_mentions_the_task() -> None:
    async def look() -> str:
        try:
            request.path  # noqa: B018
        except UnboundProxyError as e:
            return str(e)
        return "no error"

    message = asyncio.run(look())
    assert message.startswith("Working outside of request context")
    assert "asyncio task" in message
    assert "background thread" not in message
    assert "copy_current_request_context" in message


def test_asyncio_task_does_not_see_context_pushed_in_another_task(
    app: Kettle,
) -> None:
    async def main() -> list[Any]:
        pushed = asyncio.Event()
        seen: list[Any] = []

        async def waiter() -> None:
            await pushed.wait()
            seen.append(kettle.has_app_context())
            try:
                g.anything  # noqa: B018
            except UnboundProxyError as e:
                seen.append("asyncio task" in str(e))

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0)
        with app.app_context():
            g.anything = "here"
            pushed.set()
            await task
            seen.append(g.anything)
        return seen

    assert asyncio.run(main()) == [False, True, "here"]


def test_context_pushed_inside_asyncio_task_does_not_leak(app: Kettle) -> None:
    async def pusher() -> str:
        with app.test_request_context("/task"):
            await asyncio.sleep(0)
            return request.path

    async def main() -> tuple[list[str], bool]:
        paths = await asyncio.gather(pusher(), pusher())
        return paths, kettle.has_app_context()

    assert asyncio.run(main()) == (["/task", "/task"], False)
    assert not kettle.has_app_context()


def test_unbound_error_type_is_runtime_error() -> None:
    assert issubclass(UnboundProxyError, RuntimeError)
    with pytest.raises(RuntimeError):
        current_app.config  # noqa: B018


def test_app_context_type_is_exported() -> None:
    assert kettle.ctx.AppContext is AppContext


def test_asyncio_task_created_inside_context_runs_with_a_copy(app: Kettle) -> None:
    # Python gives a new task a copy of its creator's context variables, so a task
    # created while a context is active sees it; its own pushes stay in the task.
    async def child() -> tuple[str, bool]:
        with app.app_context():
            inner = kettle.has_request_context()
        return request.path, inner

    async def main() -> tuple[str, bool]:
        with app.test_request_context("/parent"):
            return await asyncio.create_task(child())

    assert asyncio.run(main()) == ("/parent", False)
