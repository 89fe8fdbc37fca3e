"""Tests for kettle.ctx: AppContext, teardown, signals and context hand-over."""

from __future__ import annotations

import gc
import io
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.test import EnvironBuilder

import kettle
from kettle import (
    Kettle,
    after_this_request,
    app_ctx,
    copy_current_request_context,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
    signals,
    stream_with_context,
)
from kettle.ctx import AppContext, AppCtxGlobals, context_for_request
from kettle.errors import ContextError, ContextPopError
from kettle.globals import _cv_app
from kettle.sessions import (
    NullSession,
    SecureCookieSession,
    SecureCookieSessionInterface,
)

if sys.version_info >= (3, 11):
    from builtins import ExceptionGroup

needs_groups = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="ExceptionGroup is new in Python 3.11"
)


class CountingSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    def open_session(self, app: Any, request: Any) -> Any:
        self.opened += 1
        return super().open_session(app, request)


class NoSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Any, request: Any) -> Any:
        return None


def group_members(group: BaseException) -> list[BaseException]:
    return list(group.exceptions)  # type: ignore[attr-defined]


# -- construction --------------------------------------------------------------------


def test_app_context_request_and_session_are_keyword_only(app: Kettle) -> None:
    req = app.request_class(EnvironBuilder("/").get_environ())
    with pytest.raises(TypeError):
        AppContext(app, req)  # type: ignore[misc]
    ctx = AppContext(app, request=req)
    assert ctx.request is req


def test_context_for_request_is_the_class_call(app: Kettle) -> None:
    # The adapters' constructor (no keyword argument) leaves the state the public
    # one does, every slot, and an unpushed context.
    req = app.request_class(EnvironBuilder("/").get_environ())
    fast = context_for_request(app, req)
    public = AppContext(app, request=req)
    assert type(fast) is AppContext
    for name in AppContext.__slots__:
        if name in ("__dict__", "__weakref__"):
            continue
        value = getattr(fast, name)
        assert value == getattr(public, name), name
    assert fast.request is req and fast._token is None
    with fast:
        assert kettle.request._get_current_object() is req  # type: ignore[attr-defined]


def test_app_context_holds_app_and_fresh_g(app: Kettle) -> None:
    ctx = AppContext(app)
    assert ctx.app is app
    assert isinstance(ctx.g, AppCtxGlobals)
    assert ctx.g is not AppContext(app).g
    assert ctx.has_request is False
    assert ctx.is_pushed is False


def test_app_context_g_is_built_from_app_ctx_globals_class(app: Kettle) -> None:
    class MyGlobals(AppCtxGlobals):
        def __init__(self) -> None:
            self.preset = "yes"

    app.app_ctx_globals_class = MyGlobals
    with app.app_context():
        assert isinstance(g._get_current_object(), MyGlobals)
        assert g.preset == "yes"


def test_request_property_without_request_raises_runtime_error(app: Kettle) -> None:
    ctx = app.app_context()
    with pytest.raises(RuntimeError, match="no request in this context") as info:
        ctx.request  # noqa: B018
    assert isinstance(info.value, ContextError)
    assert "test_request_context" in str(info.value)


def test_session_property_without_request_raises_runtime_error(app: Kettle) -> None:
    with pytest.raises(RuntimeError, match="no request in this context"):
        app.app_context().session  # noqa: B018


def test_request_context_from_environ_builds_request(app: Kettle) -> None:
    environ = EnvironBuilder("/hello", query_string={"a": "1"}).get_environ()
    ctx = app.request_context(environ)
    assert ctx.has_request
    assert isinstance(ctx.request, kettle.Request)
    assert ctx.request.environ is environ
    assert ctx.request.path == "/hello"
    assert not ctx.is_pushed
    assert AppContext.from_environ(app, environ).request.args["a"] == "1"


def test_app_context_factory_does_not_push(app: Kettle) -> None:
    ctx = app.app_context()
    assert isinstance(ctx, AppContext)
    assert not ctx.has_request
    assert not has_app_context()


def test_test_request_context_accepts_environ_builder_arguments(app: Kettle) -> None:
    ctx = app.test_request_context(
        "/items", method="POST", json={"n": 3}, query_string={"q": "x"}
    )
    assert not has_app_context()
    with ctx:
        assert request.method == "POST"
        assert request.path == "/items"
        assert request.args["q"] == "x"
        assert request.get_json() == {"n": 3}
        assert request.is_json


def test_test_request_context_uses_server_name_and_root(app: Kettle) -> None:
    app.config.update(SERVER_NAME="example.test", APPLICATION_ROOT="/base")
    with app.test_request_context("/page"):
        assert request.host == "example.test"
        assert request.script_root == "/base"
        assert request.url == "http://example.test/base/page"


def test_repr_names_app_and_request(app: Kettle) -> None:
    bare = app.app_context()
    assert repr(bare).startswith("<AppContext 0x")
    assert "kettle_test_app" in repr(bare)
    with_req = app.test_request_context("/x", method="PUT")
    assert "PUT" in repr(with_req)
    assert "http://localhost/x" in repr(with_req)


def test_copy_shares_request_and_session_with_fresh_g(app: Kettle) -> None:
    with app.test_request_context("/") as ctx:
        session["k"] = 1
        g.value = "original"
        copy = ctx.copy()
    assert copy is not ctx
    assert copy.request is ctx.request
    assert copy._session is ctx._session
    assert copy.g is not ctx.g
    assert "value" not in copy.g
    assert not copy.is_pushed


# -- session -------------------------------------------------------------------------


def test_session_is_opened_lazily_on_first_access(app: Kettle) -> None:
    interface = CountingSessionInterface()
    app.session_interface = interface
    with app.test_request_context("/") as ctx:
        assert interface.opened == 0
        assert ctx._session is None
        session["a"] = 1
        assert interface.opened == 1
        assert session["a"] == 1
        assert ctx.session is ctx._session
        assert interface.opened == 1


def test_request_without_session_use_never_opens_it(app: Kettle, client: Any) -> None:
    interface = CountingSessionInterface()
    app.session_interface = interface

    @app.get("/")
    def index() -> str:
        return request.path

    assert client.get("/").data == b"/"
    assert interface.opened == 0


def test_session_proxy_marks_session_accessed(app: Kettle) -> None:
    given = SecureCookieSession()
    assert not given.accessed
    with app.test_request_context("/") as ctx:
        ctx._session = given
        assert not given.accessed
        session.get("x")
        assert given.accessed
        assert session._get_current_object() is given


def test_context_property_session_marks_accessed(app: Kettle) -> None:
    given = SecureCookieSession()
    req = app.request_class(EnvironBuilder("/").get_environ())
    ctx = AppContext(app, request=req, session=given)
    assert not given.accessed
    assert ctx.session is given
    assert given.accessed


def test_session_argument_is_used_as_is(app: Kettle) -> None:
    interface = CountingSessionInterface()
    app.session_interface = interface
    given = SecureCookieSession({"from": "caller"})
    req = app.request_class(EnvironBuilder("/").get_environ())
    with AppContext(app, request=req, session=given):
        assert session["from"] == "caller"
        assert session._get_current_object() is given
    assert interface.opened == 0


def test_session_falls_back_to_null_session(app: Kettle) -> None:
    app.session_interface = NoSessionInterface()
    with app.test_request_context("/"):
        assert isinstance(session._get_current_object(), NullSession)
        assert session.get("x") is None
        with pytest.raises(RuntimeError, match="secret key"):
            session["x"] = 1


def test_session_is_saved_in_response_cookie(app: Kettle, client: Any) -> None:
    @app.get("/set")
    def set_value() -> str:
        session["who"] = "me"
        return "ok"

    @app.get("/get")
    def get_value() -> str:
        return str(session.get("who"))

    client.get("/set")
    assert client.get("/get").data == b"me"


# -- URL adapter ---------------------------------------------------------------------


def test_url_adapter_is_bound_to_request(app: Kettle) -> None:
    @app.get("/user/<name>")
    def user(name: str) -> str:
        return name

    with app.test_request_context("/user/ann", base_url="https://h.test/") as ctx:
        adapter = ctx.url_adapter
        assert adapter is not None
        assert adapter.server_name == "h.test"
        assert adapter.url_scheme == "https"
        assert adapter.match("/user/bob") == ("user", {"name": "bob"})
        assert request.url_rule is not None
        assert request.view_args == {"name": "ann"}
        assert ctx.url_adapter is adapter


def test_url_adapter_without_request_uses_server_name_config(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: "")
    app.config.update(
        SERVER_NAME="example.org",
        APPLICATION_ROOT="/root",
        PREFERRED_URL_SCHEME="https",
    )
    with app.app_context() as ctx:
        adapter = ctx.url_adapter
        assert adapter is not None
        assert adapter.server_name == "example.org"
        assert adapter.script_name == "/root/"
        assert adapter.url_scheme == "https"
        assert (
            adapter.build("index", force_external=True) == "https://example.org/root/"
        )


def test_url_adapter_is_none_without_server_name(app: Kettle) -> None:
    assert app.config["SERVER_NAME"] is None
    with app.app_context() as ctx:
        assert ctx.url_adapter is None


def test_url_adapter_is_built_lazily_from_config_at_first_use(app: Kettle) -> None:
    ctx = app.app_context()
    app.config["SERVER_NAME"] = "late.example"
    with ctx:
        assert ctx.url_adapter is not None
        assert ctx.url_adapter.server_name == "late.example"


def test_url_adapter_can_be_replaced(app: Kettle) -> None:
    app.config["SERVER_NAME"] = "one.example"
    ctx = app.app_context()
    replacement = app.url_map.bind("two.example")
    ctx.url_adapter = replacement
    assert ctx.url_adapter is replacement


def test_push_stores_routing_error_for_unknown_url(app: Kettle) -> None:
    with app.test_request_context("/missing"):
        assert request.url_rule is None
        assert isinstance(request.routing_exception, NotFound)


# -- push and pop --------------------------------------------------------------------


def test_push_and_pop_activate_and_deactivate(app: Kettle) -> None:
    ctx = app.app_context()
    ctx.push()
    try:
        assert has_app_context()
        assert ctx.is_pushed
        assert app_ctx._get_current_object() is ctx
        assert _cv_app.get() is ctx
    finally:
        ctx.pop()
    assert not ctx.is_pushed
    assert not has_app_context()


def test_contexts_nest_and_pop_restores_outer(app: Kettle) -> None:
    other = Kettle("other_app")
    outer = app.app_context()
    inner = other.test_request_context("/")
    with outer:
        g.level = "outer"
        with inner:
            assert app_ctx._get_current_object() is inner
            assert current_app._get_current_object() is other
            assert "level" not in g
        assert app_ctx._get_current_object() is outer
        assert current_app._get_current_object() is app
        assert g.level == "outer"
    assert not has_app_context()


def test_pushing_same_context_twice_nests_by_count(app: Kettle) -> None:
    torn: list[Any] = []
    app.teardown_appcontext(torn.append)
    ctx = app.app_context()
    with ctx:
        with ctx:
            assert app_ctx._get_current_object() is ctx
        assert has_app_context()
        assert torn == []
    assert torn == [None]
    assert not has_app_context()


def test_popping_non_top_context_raises_and_names_both(app: Kettle) -> None:
    lower = app.app_context()
    upper = app.test_request_context("/upper")
    lower.push()
    upper.push()
    try:
        with pytest.raises(ContextPopError) as info:
            lower.pop()
        assert isinstance(info.value, RuntimeError)
        message = str(info.value)
        assert repr(lower) in message
        assert repr(upper) in message
        # Nothing changed: the upper context is still the active one.
        assert app_ctx._get_current_object() is upper
        assert lower.is_pushed
    finally:
        upper.pop()
        lower.pop()
    assert not has_app_context()


def test_popping_unpushed_context_raises(app: Kettle) -> None:
    ctx = app.app_context()
    with pytest.raises(ContextPopError, match="not pushed") as info:
        ctx.pop()
    assert repr(ctx) in str(info.value)


def test_popping_context_twice_raises(app: Kettle) -> None:
    ctx = app.app_context()
    ctx.push()
    ctx.pop()
    with pytest.raises(ContextPopError, match="not pushed"):
        ctx.pop()


def test_popping_from_another_thread_raises(app: Kettle) -> None:
    ctx = app.app_context()
    errors: list[BaseException] = []

    def pop_elsewhere() -> None:
        try:
            ctx.pop()
        except BaseException as e:
            errors.append(e)

    with ctx:
        thread = threading.Thread(target=pop_elsewhere)
        thread.start()
        thread.join()
        assert has_app_context()
    assert len(errors) == 1
    assert isinstance(errors[0], ContextPopError)
    assert "no active context" in str(errors[0])


def test_pushing_context_active_in_another_thread_raises(app: Kettle) -> None:
    ctx = app.app_context()
    errors: list[BaseException] = []

    def push_elsewhere() -> None:
        try:
            ctx.push()
        except BaseException as e:
            errors.append(e)

    with ctx:
        thread = threading.Thread(target=push_elsewhere)
        thread.start()
        thread.join()
    assert len(errors) == 1
    assert isinstance(errors[0], ContextError)
    assert "copy_current_request_context" in str(errors[0])


def test_pushing_context_buried_below_another_raises(app: Kettle) -> None:
    lower = app.app_context()
    with lower, app.app_context():
        with pytest.raises(ContextError, match="already pushed"):
            lower.push()


def test_context_manager_returns_context_and_passes_exception(app: Kettle) -> None:
    seen: list[Any] = []
    app.teardown_appcontext(seen.append)
    ctx = app.app_context()
    with ctx as entered:
        assert entered is ctx
    assert seen == [None]
    error = ValueError("boom")
    with pytest.raises(ValueError, match="boom"), ctx:
        raise error
    assert seen == [None, error]
    assert not has_app_context()


def test_handled_exception_inside_block_is_not_passed_to_teardown(
    app: Kettle,
) -> None:
    seen: list[Any] = []
    app.teardown_appcontext(seen.append)
    with app.app_context():
        try:
            raise KeyError("handled")
        except KeyError:
            pass
    assert seen == [None]


def test_manual_pop_passes_given_exception(app: Kettle) -> None:
    seen: list[Any] = []
    app.teardown_appcontext(seen.append)
    ctx = app.app_context()
    ctx.push()
    error = OSError("given")
    ctx.pop(error)
    assert seen == [error]


def test_context_can_be_pushed_again_after_pop(app: Kettle) -> None:
    torn: list[Any] = []
    pushed: list[Any] = []
    app.teardown_appcontext(torn.append)
    ctx = app.app_context()
    with signals.appcontext_pushed.connected_to(pushed.append, app):
        with ctx:
            g.kept = 42
        assert torn == [None]
        with ctx:
            assert g.kept == 42
            assert app_ctx._get_current_object() is ctx
        assert torn == [None, None]
    assert pushed == [app, app]


def test_request_context_pushed_again_matches_and_tears_down_again(
    app: Kettle,
) -> None:
    torn: list[Any] = []
    app.teardown_request(torn.append)
    app.add_url_rule("/r", "r", lambda: "")
    ctx = app.test_request_context("/r")
    with ctx:
        assert request.endpoint == "r"
        session["n"] = 1
    with ctx:
        assert request.endpoint == "r"
        assert session["n"] == 1
    assert torn == [None, None]


def test_has_app_context_and_has_request_context(app: Kettle) -> None:
    assert not has_app_context()
    assert not has_request_context()
    with app.app_context():
        assert has_app_context()
        assert not has_request_context()
        with app.test_request_context("/"):
            assert has_app_context()
            assert has_request_context()
        assert not has_request_context()
    assert not has_app_context()


def test_error_in_pushed_signal_leaves_context_poppable(app: Kettle) -> None:
    def fail(sender: Any) -> None:
        raise LookupError("receiver failed")

    ctx = app.app_context()
    with signals.appcontext_pushed.connected_to(fail, app):
        with pytest.raises(LookupError):
            ctx.push()
    assert has_app_context()
    ctx.pop()
    assert not has_app_context()


# -- a fresh context per request -----------------------------------------------------


def test_each_request_gets_fresh_context_and_g_inside_app_context(
    app: Kettle, client: Any
) -> None:
    seen: list[Any] = []
    torn: list[Any] = []
    app.teardown_appcontext(torn.append)

    @app.get("/")
    def index() -> str:
        seen.append((app_ctx._get_current_object(), "outer" in g, list(g)))
        g.inner = True
        return "ok"

    with app.app_context() as outer:
        g.outer = 1
        assert client.get("/").data == b"ok"
        assert client.get("/").data == b"ok"
        assert app_ctx._get_current_object() is outer
        assert list(g) == ["outer"]
        assert torn == [None, None]
    assert torn == [None, None, None]
    (first, first_has_outer, first_g), (second, _, second_g) = seen
    assert first is not outer and second is not outer and first is not second
    assert first_has_outer is False
    assert first_g == [] and second_g == []


def test_test_request_context_inside_app_context_has_fresh_g(app: Kettle) -> None:
    with app.app_context():
        g.outer = 1
        with app.test_request_context("/"):
            assert "outer" not in g
        assert g.outer == 1


def test_request_context_is_popped_after_request(app: Kettle, client: Any) -> None:
    contexts: list[AppContext] = []

    @app.get("/")
    def index() -> str:
        contexts.append(app_ctx._get_current_object())
        return "ok"

    client.get("/")
    assert not has_app_context()
    assert not contexts[0].is_pushed


# -- teardown ------------------------------------------------------------------------


def test_teardown_order_request_then_app_each_reversed(app: Kettle) -> None:
    calls: list[tuple[str, Any]] = []
    for name in ("req1", "req2"):
        app.teardown_request(lambda exc, name=name: calls.append((name, exc)))
    for name in ("app1", "app2"):
        app.teardown_appcontext(lambda exc, name=name: calls.append((name, exc)))
    with app.test_request_context("/"):
        pass
    assert calls == [("req2", None), ("req1", None), ("app2", None), ("app1", None)]


def test_teardown_functions_all_receive_the_same_exception(app: Kettle) -> None:
    calls: list[Any] = []
    app.teardown_request(calls.append)
    app.teardown_appcontext(calls.append)
    error = RuntimeError("from block")
    with pytest.raises(RuntimeError, match="from block"):
        with app.test_request_context("/"):
            raise error
    assert calls == [error, error]


def test_teardown_request_not_run_for_bare_app_context(app: Kettle) -> None:
    calls: list[str] = []
    app.teardown_request(lambda exc: calls.append("request"))
    app.teardown_appcontext(lambda exc: calls.append("app"))
    with app.app_context():
        pass
    assert calls == ["app"]


def test_teardown_functions_run_with_context_still_active(app: Kettle) -> None:
    seen: list[Any] = []

    @app.teardown_request
    def in_request(exc: Any) -> None:
        seen.append((request.path, g.marker, session.get("s")))

    @app.teardown_appcontext
    def in_app(exc: Any) -> None:
        seen.append(current_app.name)

    with app.test_request_context("/td"):
        g.marker = "m"
        session["s"] = "v"
    assert seen == [("/td", "m", "v"), "kettle_test_app"]


def test_teardown_closes_request(app: Kettle) -> None:
    with app.test_request_context(
        "/", method="POST", data={"f": (io.BytesIO(b"abc"), "a.txt")}
    ):
        upload = request.files["f"]
        assert not upload.stream.closed
    assert upload.stream.closed


@needs_groups
def test_raising_teardowns_all_run_and_errors_are_grouped(app: Kettle) -> None:
    calls: list[str] = []
    first, second, third = ValueError("r1"), KeyError("r2"), OSError("a1")

    def make(name: str, error: Exception | None) -> Any:
        def teardown(exc: Any) -> None:
            calls.append(name)
            if error is not None:
                raise error

        return teardown

    app.teardown_request(make("r_ok", None))
    app.teardown_request(make("r2", second))
    app.teardown_request(make("r1", first))
    app.teardown_appcontext(make("a1", third))
    app.teardown_appcontext(make("a_ok", None))

    ctx = app.test_request_context("/")
    ctx.push()
    with pytest.raises(ExceptionGroup) as info:
        ctx.pop()
    assert calls == ["r1", "r2", "r_ok", "a_ok", "a1"]
    group = info.value
    assert group.message == "Errors during context teardown"
    assert group_members(group) == [first, second, third]
    assert not ctx.is_pushed
    assert not has_app_context()


@needs_groups
def test_single_teardown_error_is_still_a_flat_group(app: Kettle) -> None:
    error = ValueError("only")

    @app.teardown_appcontext
    def fail(exc: Any) -> None:
        raise error

    with pytest.raises(ExceptionGroup, match="Errors during context teardown") as info:
        with app.app_context():
            pass
    assert group_members(info.value) == [error]
    assert not has_app_context()


@needs_groups
def test_raising_signal_receivers_join_the_teardown_group(app: Kettle) -> None:
    errors = [ValueError("request signal"), KeyError("app signal"), OSError("popped")]

    def raiser(error: Exception) -> Any:
        def receiver(sender: Any, **kwargs: Any) -> None:
            raise error

        return receiver

    receivers = [raiser(e) for e in errors]
    signals.request_tearing_down.connect(receivers[0], app)
    signals.appcontext_tearing_down.connect(receivers[1], app)
    signals.appcontext_popped.connect(receivers[2], app)
    try:
        with pytest.raises(ExceptionGroup) as info:
            with app.test_request_context("/"):
                pass
    finally:
        signals.request_tearing_down.disconnect(receivers[0], app)
        signals.appcontext_tearing_down.disconnect(receivers[1], app)
        signals.appcontext_popped.disconnect(receivers[2], app)
    assert group_members(info.value) == errors
    assert not has_app_context()


@needs_groups
def test_teardown_error_escapes_the_test_client(app: Kettle, client: Any) -> None:
    @app.get("/")
    def index() -> str:
        return "fine"

    @app.teardown_request
    def fail(exc: Any) -> None:
        raise ValueError("teardown broke")

    with pytest.raises(ExceptionGroup, match="context teardown") as info:
        client.get("/")
    assert [str(e) for e in group_members(info.value)] == ["teardown broke"]
    assert not has_app_context()


def test_teardown_errors_raise_first_error_on_310(
    app: Kettle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.10 (no ExceptionGroup) the first error is raised; all still run."""
    import types

    import kettle.errors

    monkeypatch.setattr(
        kettle.errors, "sys", types.SimpleNamespace(version_info=(3, 10, 13))
    )
    calls: list[str] = []

    @app.teardown_appcontext
    def second(exc: Any) -> None:
        calls.append("second")
        raise KeyError("second")

    @app.teardown_appcontext
    def first(exc: Any) -> None:
        calls.append("first")
        raise ValueError("first")

    with pytest.raises(ValueError, match="first"), app.app_context():
        pass
    assert calls == ["first", "second"]


def test_keyboard_interrupt_in_teardown_propagates_after_all_ran(
    app: Kettle,
) -> None:
    calls: list[str] = []

    @app.teardown_appcontext
    def later(exc: Any) -> None:
        calls.append("later")

    @app.teardown_appcontext
    def interrupt(exc: Any) -> None:
        calls.append("interrupt")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), app.app_context():
        pass
    assert calls == ["interrupt", "later"]
    assert not has_app_context()


def test_handled_exception_gives_teardown_none(app: Kettle, client: Any) -> None:
    seen: list[Any] = []
    app.teardown_request(lambda exc: seen.append(("request", exc)))
    app.teardown_appcontext(lambda exc: seen.append(("app", exc)))

    @app.errorhandler(ZeroDivisionError)
    def handle(e: ZeroDivisionError) -> tuple[str, int]:
        return "handled", 418

    @app.get("/")
    def index() -> str:
        return str(1 / 0)

    rv = client.get("/")
    assert rv.status_code == 418
    assert rv.data == b"handled"
    assert seen == [("request", None), ("app", None)]


def test_http_exception_without_handler_gives_teardown_none(
    app: Kettle, client: Any
) -> None:
    seen: list[Any] = []
    app.teardown_request(seen.append)
    assert client.get("/nowhere").status_code == 404
    assert seen == [None]


def test_unhandled_exception_turned_into_500_reaches_teardown(
    app: Kettle, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    seen: list[Any] = []
    app.teardown_request(lambda exc: seen.append(("request", exc)))
    app.teardown_appcontext(lambda exc: seen.append(("app", exc)))
    error = LookupError("not handled")

    @app.get("/")
    def index() -> str:
        raise error

    rv = client.get("/")
    assert rv.status_code == 500
    assert seen == [("request", error), ("app", error)]
    assert "Exception on / [GET]" in caplog.text


def test_propagated_exception_reaches_teardown(app: Kettle, client: Any) -> None:
    seen: list[Any] = []
    app.teardown_request(seen.append)
    error = LookupError("propagated")

    @app.get("/")
    def index() -> str:
        raise error

    with pytest.raises(LookupError, match="propagated"):
        client.get("/")
    assert seen == [error]
    assert not has_app_context()


def test_async_teardown_function_is_awaited(app: Kettle) -> None:
    seen: list[Any] = []

    @app.teardown_appcontext
    async def close(exc: Any) -> None:
        seen.append(("async", g.get("x")))

    with app.app_context():
        g.x = 5
    assert seen == [("async", 5)]


# -- signals -------------------------------------------------------------------------


class SignalLog:
    """Connects a recorder to every context signal for one app, and disconnects."""

    names = (
        "appcontext_pushed",
        "request_started",
        "got_request_exception",
        "request_finished",
        "request_tearing_down",
        "appcontext_tearing_down",
        "appcontext_popped",
    )

    def __init__(self, app: Kettle) -> None:
        self.app = app
        self.events: list[tuple[str, Any, dict[str, Any]]] = []
        self.receivers: dict[str, Any] = {}

    def __enter__(self) -> SignalLog:
        for name in self.names:

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                kwargs.pop("_async_wrapper", None)
                self.events.append((_name, sender, kwargs))

            self.receivers[name] = receiver
            getattr(signals, name).connect(receiver, self.app)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, receiver in self.receivers.items():
            getattr(signals, name).disconnect(receiver, self.app)

    @property
    def order(self) -> list[str]:
        return [name for name, _, _ in self.events]

    def kwargs(self, name: str) -> dict[str, Any]:
        (found,) = [kw for n, _, kw in self.events if n == name]
        return found


def test_signals_of_successful_request_in_order(app: Kettle, client: Any) -> None:
    calls: list[str] = []
    app.teardown_request(lambda exc: calls.append("teardown_request"))
    app.teardown_appcontext(lambda exc: calls.append("teardown_appcontext"))

    @app.get("/")
    def index() -> str:
        return "body"

    with SignalLog(app) as log:
        rv = client.get("/")
    assert log.order == [
        "appcontext_pushed",
        "request_started",
        "request_finished",
        "request_tearing_down",
        "appcontext_tearing_down",
        "appcontext_popped",
    ]
    assert all(sender is app for _, sender, _ in log.events)
    assert log.kwargs("appcontext_pushed") == {}
    assert log.kwargs("request_started") == {}
    finished = log.kwargs("request_finished")["response"]
    assert isinstance(finished, kettle.Response)
    assert finished.get_data() == rv.data == b"body"
    assert log.kwargs("request_tearing_down") == {"exc": None}
    assert log.kwargs("appcontext_tearing_down") == {"exc": None}
    assert log.kwargs("appcontext_popped") == {}


def test_teardown_signals_follow_their_teardown_functions(app: Kettle) -> None:
    order: list[str] = []

    def on_request_td(sender: Any, **kw: Any) -> None:
        order.append("request_tearing_down")

    def on_app_td(sender: Any, **kw: Any) -> None:
        order.append("appcontext_tearing_down")

    app.teardown_request(lambda exc: order.append("teardown_request"))
    app.teardown_appcontext(lambda exc: order.append("teardown_appcontext"))
    with (
        signals.request_tearing_down.connected_to(on_request_td, app),
        signals.appcontext_tearing_down.connected_to(on_app_td, app),
    ):
        with app.test_request_context("/"):
            pass
    assert order == [
        "teardown_request",
        "request_tearing_down",
        "teardown_appcontext",
        "appcontext_tearing_down",
    ]


def test_signals_of_failed_request_carry_the_exception(
    app: Kettle, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    error = ArithmeticError("view failed")

    @app.get("/")
    def index() -> str:
        raise error

    with SignalLog(app) as log:
        rv = client.get("/")
    assert rv.status_code == 500
    assert log.order == [
        "appcontext_pushed",
        "request_started",
        "got_request_exception",
        "request_finished",
        "request_tearing_down",
        "appcontext_tearing_down",
        "appcontext_popped",
    ]
    assert log.kwargs("got_request_exception") == {"exception": error}
    assert log.kwargs("request_finished")["response"].status_code == 500
    assert log.kwargs("request_tearing_down") == {"exc": error}
    assert log.kwargs("appcontext_tearing_down") == {"exc": error}


def test_got_request_exception_sent_before_propagating(
    app: Kettle, client: Any
) -> None:
    error = ArithmeticError("propagates")

    @app.get("/")
    def index() -> str:
        raise error

    with SignalLog(app) as log, pytest.raises(ArithmeticError):
        client.get("/")
    assert log.kwargs("got_request_exception") == {"exception": error}
    assert "request_finished" not in log.order
    assert log.order[-1] == "appcontext_popped"


def test_got_request_exception_not_sent_for_handled_error(
    app: Kettle, client: Any
) -> None:
    @app.errorhandler(ArithmeticError)
    def handle(e: Exception) -> str:
        return "handled"

    @app.get("/")
    def index() -> str:
        raise ArithmeticError

    with SignalLog(app) as log:
        assert client.get("/").data == b"handled"
    assert "got_request_exception" not in log.order


def test_app_context_signals_without_request(app: Kettle) -> None:
    with SignalLog(app) as log:
        with app.app_context():
            pass
    assert log.order == [
        "appcontext_pushed",
        "appcontext_tearing_down",
        "appcontext_popped",
    ]


def test_pushed_and_popped_signals_fire_once_for_nested_pushes(app: Kettle) -> None:
    ctx = app.app_context()
    with SignalLog(app) as log:
        with ctx, ctx:
            pass
    assert log.order == [
        "appcontext_pushed",
        "appcontext_tearing_down",
        "appcontext_popped",
    ]


def test_pushed_receiver_runs_in_context_before_url_matching(
    app: Kettle, client: Any
) -> None:
    seen: list[Any] = []

    def on_push(sender: Any) -> None:
        seen.append(request.endpoint)
        g.user = "from signal"

    @app.get("/")
    def index() -> str:
        return g.user

    with signals.appcontext_pushed.connected_to(on_push, app):
        assert client.get("/").data == b"from signal"
    assert seen == [None]


def test_popped_receiver_runs_after_deactivation(app: Kettle) -> None:
    seen: list[Any] = []

    def on_pop(sender: Any) -> None:
        seen.append((has_app_context(), _cv_app.get(None)))

    outer = app.app_context()
    with signals.appcontext_popped.connected_to(on_pop, app):
        with app.app_context():
            pass
        with outer, app.app_context():
            pass
    assert seen == [(False, None), (True, outer), (False, None)]


def test_signals_for_other_apps_are_not_received(app: Kettle) -> None:
    other = Kettle("other_app")
    with SignalLog(app) as log:
        with other.app_context():
            pass
    assert log.events == []


def test_async_signal_receiver_is_run(app: Kettle) -> None:
    seen: list[Any] = []

    async def on_push(sender: Any) -> None:
        seen.append(current_app.name)

    with signals.appcontext_pushed.connected_to(on_push, app):
        with app.app_context():
            pass
    assert seen == ["kettle_test_app"]


# -- after_this_request ---------------------------------------------------------------


def test_after_this_request_runs_before_after_request(app: Kettle, client: Any) -> None:
    order: list[str] = []

    @app.after_request
    def general(response: Any) -> Any:
        order.append("after_request")
        response.headers["X-General"] = "1"
        return response

    @app.get("/")
    def index() -> str:
        @after_this_request
        def first(response: Any) -> Any:
            order.append("first")
            response.headers["X-Once"] = "yes"
            return response

        @after_this_request
        def second(response: Any) -> Any:
            order.append("second")
            return response

        return "ok"

    rv = client.get("/")
    assert rv.headers["X-Once"] == "yes"
    assert rv.headers["X-General"] == "1"
    assert order == ["first", "second", "after_request"]


def test_after_this_request_applies_to_that_request_only(
    app: Kettle, client: Any
) -> None:
    @app.get("/mark")
    def mark() -> str:
        after_this_request(lambda r: r.headers.add("X-Marked", "1") or r)
        return "marked"

    @app.get("/plain")
    def plain() -> str:
        return "plain"

    assert client.get("/mark").headers.get("X-Marked") == "1"
    assert "X-Marked" not in client.get("/plain").headers
    assert client.get("/mark").headers.getlist("X-Marked") == ["1"]


def test_after_this_request_runs_once_when_after_request_fails(
    app: Kettle, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    order: list[str] = []

    @app.after_request
    def broken(response: Any) -> Any:
        order.append("after_request")
        raise ValueError("after_request failed")

    @app.get("/")
    def index() -> str:
        @after_this_request
        def once(response: Any) -> Any:
            order.append("after_this_request")
            return response

        return "ok"

    assert client.get("/").status_code == 500
    # after_request runs again for the 500; the one-off callback does not.
    assert order == ["after_this_request", "after_request", "after_request"]


def test_after_this_request_can_replace_response(app: Kettle, client: Any) -> None:
    @app.get("/")
    def index() -> str:
        after_this_request(lambda r: app.response_class("replaced", status=202))
        return "original"

    rv = client.get("/")
    assert rv.status_code == 202
    assert rv.data == b"replaced"


def test_after_this_request_returns_the_function(app: Kettle) -> None:
    def f(response: Any) -> Any:
        return response

    with app.test_request_context("/"):
        assert after_this_request(f) is f


def test_after_this_request_outside_context_raises(app: Kettle) -> None:
    with pytest.raises(RuntimeError, match="after_this_request") as info:
        after_this_request(lambda r: r)
    assert isinstance(info.value, ContextError)


def test_after_this_request_in_app_context_raises(app: Kettle) -> None:
    with app.app_context():
        with pytest.raises(RuntimeError, match="needs a request"):
            after_this_request(lambda r: r)


# -- copy_current_request_context -----------------------------------------------------


def test_copied_function_runs_in_thread_with_same_request_session_and_g(
    app: Kettle, client: Any
) -> None:
    seen: dict[str, Any] = {}
    threads: list[threading.Thread] = []

    @app.get("/work")
    def index() -> str:
        g.db = object()
        session["user"] = "ann"

        @copy_current_request_context
        def work() -> None:
            seen["path"] = request.path
            seen["arg"] = request.args["q"]
            seen["user"] = session["user"]
            seen["db"] = g.db
            seen["ctx"] = app_ctx._get_current_object()
            seen["request"] = request._get_current_object()

        seen["view_db"] = g.db
        seen["view_ctx"] = app_ctx._get_current_object()
        seen["view_request"] = request._get_current_object()
        thread = threading.Thread(target=work)
        threads.append(thread)
        thread.start()
        return "started"

    assert client.get("/work?q=1").data == b"started"
    threads[0].join(5)
    assert seen["path"] == "/work"
    assert seen["arg"] == "1"
    assert seen["user"] == "ann"
    assert seen["db"] is seen["view_db"]
    assert seen["ctx"] is seen["view_ctx"]
    assert seen["request"] is seen["view_request"]


def test_copied_function_teardown_runs_once_after_thread_work(
    app: Kettle, client: Any
) -> None:
    log: list[Any] = []
    release = threading.Event()
    threads: list[threading.Thread] = []
    app.teardown_request(
        lambda exc: log.append(("teardown_request", request.path, exc))
    )
    app.teardown_appcontext(lambda exc: log.append(("teardown_app", g.get("db"))))

    @app.get("/job")
    def job() -> str:
        g.db = "connection"

        @copy_current_request_context
        def work() -> None:
            assert release.wait(5)
            log.append(("work", g.db))

        thread = threading.Thread(target=work)
        threads.append(thread)
        thread.start()
        return "queued"

    assert client.get("/job").data == b"queued"
    assert log == []  # the request ended, but its teardown waits for the thread
    assert not has_app_context()
    release.set()
    threads[0].join(5)
    assert not threads[0].is_alive()
    assert log == [
        ("work", "connection"),
        ("teardown_request", "/job", None),
        ("teardown_app", "connection"),
    ]


def test_copied_function_called_concurrently_from_two_threads(
    app: Kettle, client: Any
) -> None:
    results: list[Any] = []
    errors: list[BaseException] = []
    torn: list[Any] = []
    barrier = threading.Barrier(2, timeout=5)
    threads: list[threading.Thread] = []
    app.teardown_request(torn.append)

    @app.get("/both")
    def both() -> str:
        g.shared = []

        @copy_current_request_context
        def work(n: int) -> None:
            try:
                barrier.wait()
                g.shared.append(n)
                results.append((n, request.args["x"], has_request_context()))
                barrier.wait()
            except BaseException as e:
                errors.append(e)

        for n in (1, 2):
            thread = threading.Thread(target=work, args=(n,))
            threads.append(thread)
            thread.start()
        return "ok"

    client.get("/both?x=7")
    for thread in threads:
        thread.join(5)
    assert errors == []
    assert sorted(results) == [(1, "7", True), (2, "7", True)]
    assert torn == [None]


def test_copied_function_returns_value_and_keeps_metadata(app: Kettle) -> None:
    with app.test_request_context("/m"):

        @copy_current_request_context
        def compute(a: int, *, b: int) -> str:
            """Docstring kept."""
            return f"{request.path}:{a + b}"

        assert compute.__name__ == "compute"
        assert compute.__doc__ == "Docstring kept."
        assert compute(1, b=2) == "/m:3"
        del compute


def test_copied_function_called_after_request_ended_in_same_thread(
    app: Kettle, client: Any
) -> None:
    kept: list[Any] = []
    torn: list[Any] = []
    app.teardown_request(torn.append)

    @app.get("/later")
    def later() -> str:
        kept.append(copy_current_request_context(lambda: (request.path, g.v)))
        g.v = "value"
        return "ok"

    client.get("/later")
    assert torn == []  # the request ended, but the function has not run yet
    assert not has_app_context()
    assert kept[0]() == ("/later", "value")
    assert not has_app_context()
    kept.clear()
    gc.collect()
    assert torn == [None]


def test_copied_function_never_called_releases_context_when_discarded(
    app: Kettle, client: Any
) -> None:
    torn: list[Any] = []
    app.teardown_appcontext(torn.append)

    @app.get("/")
    def index() -> str:
        copy_current_request_context(lambda: None)
        return "ok"

    client.get("/")
    gc.collect()
    assert torn == [None]


def test_copied_function_error_propagates_and_teardown_runs_once(
    app: Kettle,
) -> None:
    torn: list[Any] = []
    app.teardown_request(torn.append)
    with app.test_request_context("/err"):

        @copy_current_request_context
        def fail() -> None:
            raise LookupError(request.path)

        with pytest.raises(LookupError, match="/err"):
            fail()
        del fail
    gc.collect()
    assert len(torn) == 1
    assert not has_app_context()


def test_copy_current_request_context_outside_context_raises() -> None:
    with pytest.raises(RuntimeError, match="copy_current_request_context") as info:
        copy_current_request_context(lambda: None)
    assert isinstance(info.value, ContextError)


def test_copied_async_function_runs(app: Kettle) -> None:
    with app.test_request_context("/async"):

        @copy_current_request_context
        async def work() -> str:
            return request.path

        assert work() == "/async"
        del work


# -- stream_with_context ---------------------------------------------------------------


@pytest.fixture
def stream_log(app: Kettle) -> list[Any]:
    log: list[Any] = []
    app.teardown_request(lambda exc: log.append(("teardown_request", exc)))
    app.teardown_appcontext(lambda exc: log.append(("teardown_app", exc)))
    return log


def run_wsgi(app: Kettle, path: str) -> tuple[Iterator[bytes], list[Any]]:
    """Call the WSGI app directly and return its body iterator, unconsumed."""
    started: list[Any] = []
    environ = EnvironBuilder(path).get_environ()
    body = app.wsgi_app(
        environ, lambda status, headers, exc_info=None: started.append(status)
    )
    return body, started  # type: ignore[return-value]


def test_stream_with_context_generator_form(app: Kettle, stream_log: list[Any]) -> None:
    @app.get("/stream")
    def stream() -> Any:
        g.prefix = "chunk"

        def generate() -> Iterator[str]:
            for i in range(3):
                stream_log.append(("chunk", i, has_request_context()))
                yield f"{g.prefix}-{request.args['n']}-{i};"

        return stream_with_context(generate())

    body, started = run_wsgi(app, "/stream?n=5")
    assert started == ["200 OK"]
    assert not has_app_context()
    assert stream_log == []
    chunks = []
    for chunk in body:
        chunks.append(chunk)
        assert not has_app_context()
        assert not any(entry[0].startswith("teardown") for entry in stream_log)
    assert b"".join(chunks) == b"chunk-5-0;chunk-5-1;chunk-5-2;"
    assert stream_log == [
        ("chunk", 0, True),
        ("chunk", 1, True),
        ("chunk", 2, True),
        ("teardown_request", None),
        ("teardown_app", None),
    ]
    body.close()  # type: ignore[attr-defined]
    assert len(stream_log) == 5
    assert not has_app_context()


def test_stream_with_context_decorator_form(
    app: Kettle, client: Any, stream_log: list[Any]
) -> None:
    @app.get("/deco")
    def deco() -> Any:
        session["s"] = "sess"

        @stream_with_context
        def generate(count: int) -> Iterator[str]:
            """Streams."""
            for i in range(count):
                yield f"{request.path}:{session['s']}:{i};"

        assert generate.__name__ == "generate"
        assert generate.__doc__ == "Streams."
        return generate(2)

    rv = client.get("/deco")
    assert rv.data == b"/deco:sess:0;/deco:sess:1;"
    rv.close()
    assert stream_log == [("teardown_request", None), ("teardown_app", None)]
    assert not has_app_context()


def test_stream_with_context_teardown_after_client_consumes_body(
    app: Kettle, client: Any, stream_log: list[Any]
) -> None:
    @app.get("/")
    def index() -> Any:
        def generate() -> Iterator[str]:
            yield "a"
            stream_log.append("middle")
            yield "b"

        return stream_with_context(generate())

    rv = client.get("/", buffered=False)
    assert not has_app_context()
    assert "teardown_request" not in [e[0] for e in stream_log if isinstance(e, tuple)]
    assert rv.get_data() == b"ab"
    rv.close()
    assert stream_log == ["middle", ("teardown_request", None), ("teardown_app", None)]


def test_plain_generator_body_keeps_the_request_context(
    app: Kettle, client: Any
) -> None:
    """Unlike Flask, a plain generator streams with its request's context."""
    torn_down: list[str] = []

    @app.teardown_request
    def record(exc: BaseException | None) -> None:
        torn_down.append(g.get("marker", "?"))

    @app.get("/")
    def index() -> Any:
        g.marker = "from the view"

        def generate() -> Iterator[str]:
            yield request.path
            yield " "
            yield g.marker

        return generate()

    response = client.get("/?x=1")
    assert torn_down == []  # the body has not been sent yet
    assert response.get_data(as_text=True) == "/ from the view"
    response.close()
    assert torn_down == ["from the view"]
    assert not has_app_context()


def test_stream_with_context_closed_early_tears_down_once_with_none(
    app: Kettle, stream_log: list[Any]
) -> None:
    closed: list[bool] = []

    @app.get("/")
    def index() -> Any:
        def generate() -> Iterator[str]:
            try:
                yield "one"
                yield "two"
                yield "three"
            finally:
                closed.append(has_app_context())

        return stream_with_context(generate())

    body, _ = run_wsgi(app, "/")
    iterator = iter(body)
    assert next(iterator) == b"one"
    assert stream_log == []
    body.close()  # type: ignore[attr-defined]
    assert closed == [True]
    assert stream_log == [("teardown_request", None), ("teardown_app", None)]
    assert not has_app_context()


def test_stream_with_context_error_in_body_reaches_teardown(
    app: Kettle, stream_log: list[Any]
) -> None:
    error = ValueError("body failed")

    @app.get("/")
    def index() -> Any:
        def generate() -> Iterator[str]:
            yield "ok"
            raise error

        return stream_with_context(generate())

    body, _ = run_wsgi(app, "/")
    iterator = iter(body)
    assert next(iterator) == b"ok"
    with pytest.raises(ValueError, match="body failed"):
        next(iterator)
    body.close()  # type: ignore[attr-defined]
    assert stream_log == [("teardown_request", error), ("teardown_app", error)]
    assert not has_app_context()


def test_stream_with_context_calls_close_of_wrapped_iterable(app: Kettle) -> None:
    events: list[str] = []

    class Body:
        def __init__(self) -> None:
            self.items = iter(["x", "y"])

        def __iter__(self) -> Body:
            return self

        def __next__(self) -> str:
            return next(self.items)

        def close(self) -> None:
            events.append(f"close:{request.path}")

    app.teardown_request(lambda exc: events.append("teardown"))
    with app.test_request_context("/c"):
        wrapped = stream_with_context(Body())
    assert events == []
    assert list(wrapped) == ["x", "y"]
    assert events == ["close:/c", "teardown"]


def test_stream_with_context_in_app_context_outlives_with_block(
    app: Kettle,
) -> None:
    torn: list[Any] = []
    app.teardown_appcontext(torn.append)
    with app.app_context():
        g.item = "kept"

        def generate() -> Iterator[str]:
            yield g.item
            yield current_app.name

        body = stream_with_context(generate())
    assert torn == []
    assert not has_app_context()
    assert list(body) == ["kept", "kettle_test_app"]
    assert torn == [None]
    assert not has_app_context()


def test_stream_with_context_outside_context_raises() -> None:
    with pytest.raises(RuntimeError, match="stream_with_context") as info:
        stream_with_context(iter(["a"]))
    assert isinstance(info.value, ContextError)


def test_stream_with_context_decorated_call_outside_context_raises() -> None:
    @stream_with_context
    def generate() -> Iterator[str]:
        yield "never"

    with pytest.raises(RuntimeError, match="stream_with_context"):
        generate()


@pytest.mark.parametrize("held_pop", ["retain then pop", "_pop_held"])
@pytest.mark.parametrize("pushes", [1, 2])
def test_held_pop_defers_teardown_to_release(
    app: Kettle, held_pop: str, pushes: int
) -> None:
    # ASGI's teardown-after-send path uses _pop_held for retain() + pop().
    torn_down: list[str] = []
    app.teardown_appcontext(lambda exc: torn_down.append("teardown"))
    ctx = app.test_request_context("/")
    for _ in range(pushes):
        ctx.push()
    if held_pop == "_pop_held":
        ctx._pop_held()
    else:
        ctx.retain()
        ctx.pop()
    assert torn_down == []
    assert ctx.is_pushed is (pushes > 1)
    assert (_cv_app.get(None) is ctx) is (pushes > 1)
    ctx.release()
    assert torn_down == ([] if pushes > 1 else ["teardown"])
    if pushes > 1:
        ctx.pop()
        assert torn_down == ["teardown"]
    assert not ctx.is_pushed
    assert _cv_app.get(None) is None
