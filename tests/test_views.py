"""Tests for class-based views, ``View`` and ``MethodView``, under WSGI and ASGI."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
import pytest

from kettle import Kettle, request
from kettle.views import MethodView, View

Result = tuple[int, dict[str, str], bytes]


def _wsgi(app: Kettle, method: str, path: str, **kwargs: Any) -> Result:
    if "content" in kwargs:
        kwargs["data"] = kwargs.pop("content")
    response = app.test_client().open(path, method=method, **kwargs)
    return response.status_code, dict(response.headers), response.get_data()


def _asgi(app: Kettle, method: str, path: str, **kwargs: Any) -> Result:
    async def main() -> Result:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.request(method, path, **kwargs)
        return r.status_code, {k.title(): v for k, v in r.headers.items()}, r.content

    return asyncio.run(main())


@pytest.fixture(params=["wsgi", "asgi"])
def call(request: pytest.FixtureRequest) -> Callable[..., Result]:
    return _wsgi if request.param == "wsgi" else _asgi  # type: ignore[return-value]


def _allow(headers: dict[str, str]) -> set[str]:
    return {m.strip() for m in headers["Allow"].split(",")}


def test_view_dispatch_request_gets_url_values(
    app: Kettle, call: Callable[..., Result]
) -> None:
    class Greeting(View):
        def dispatch_request(self, name: str) -> str:
            return f"hello {name} via {request.method}"

    app.add_url_rule("/hi/<name>", view_func=Greeting.as_view("greet"))
    status, _, body = call(app, "GET", "/hi/ann")
    assert (status, body) == (200, b"hello ann via GET")
    # Without methods, a View answers GET (and HEAD, OPTIONS) only.
    assert call(app, "POST", "/hi/ann")[0] == 405


def test_view_methods_attribute_sets_the_rule_methods(
    app: Kettle, call: Callable[..., Result]
) -> None:
    class Submit(View):
        methods: ClassVar[set[str] | None] = {"POST", "PUT"}

        def dispatch_request(self) -> str:
            return request.method

    app.add_url_rule("/submit", view_func=Submit.as_view("submit"))
    assert call(app, "PUT", "/submit")[2] == b"PUT"
    status, headers, _ = call(app, "GET", "/submit")
    assert status == 405
    assert _allow(headers) == {"POST", "PUT", "OPTIONS"}


def test_view_without_dispatch_request_fails(app: Kettle) -> None:
    class Empty(View):
        pass

    app.add_url_rule("/e", view_func=Empty.as_view("e"))
    with pytest.raises(NotImplementedError, match="Empty must implement"):
        app.test_client().get("/e")


def test_as_view_sets_name_doc_and_class(app: Kettle) -> None:
    class Documented(View):
        """The docs."""

        def dispatch_request(self) -> str:
            return ""

    view = Documented.as_view("documented_endpoint")
    assert view.__name__ == "documented_endpoint"
    assert view.__doc__ == "The docs."
    assert view.view_class is Documented  # type: ignore[attr-defined]
    app.add_url_rule("/d", view_func=view)
    assert app.view_functions["documented_endpoint"] is view


def test_as_view_passes_constructor_arguments(
    app: Kettle, call: Callable[..., Result]
) -> None:
    class Template(View):
        def __init__(self, template: str, *, suffix: str = "") -> None:
            self.template = template
            self.suffix = suffix

        def dispatch_request(self) -> str:
            return self.template.format(request.path) + self.suffix

    app.add_url_rule("/t", view_func=Template.as_view("t", "path={}", suffix="!"))
    assert call(app, "GET", "/t")[2] == b"path=/t!"


@pytest.mark.parametrize("every_request", [True, False])
def test_init_every_request(
    app: Kettle, call: Callable[..., Result], every_request: bool
) -> None:
    instances: list[object] = []  # kept alive, so that no id() is reused

    class Counter(View):
        init_every_request = every_request

        def __init__(self) -> None:
            instances.append(self)

        def dispatch_request(self) -> str:
            return str(id(self))

    view = Counter.as_view("counter")
    app.add_url_rule("/c", view_func=view)
    bodies = {call(app, "GET", "/c")[2] for _ in range(3)}
    if every_request:
        assert len(instances) == 3
        assert len(bodies) == 3
    else:
        # One instance, made when the view was created, serves every request.
        assert len(instances) == 1
        assert bodies == {str(id(instances[0])).encode()}


def test_decorators_are_applied_in_order(
    app: Kettle, call: Callable[..., Result]
) -> None:
    def tag(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            if asyncio.iscoroutinefunction(view):

                @functools.wraps(view)
                async def async_wrapper(**kwargs: Any) -> Any:
                    return f"{label}({await view(**kwargs)})"

                return async_wrapper

            @functools.wraps(view)
            def wrapper(**kwargs: Any) -> Any:
                return f"{label}({view(**kwargs)})"

            return wrapper

        return decorator

    class Sync(View):
        decorators: ClassVar[list[Callable[..., Any]]] = [tag("inner"), tag("outer")]

        def dispatch_request(self) -> str:
            return "sync"

    class Async(View):
        decorators: ClassVar[list[Callable[..., Any]]] = [tag("inner"), tag("outer")]

        async def dispatch_request(self) -> str:
            await asyncio.sleep(0)
            return "async"

    app.add_url_rule("/sync", view_func=Sync.as_view("sync"))
    app.add_url_rule("/async", view_func=Async.as_view("async"))
    assert call(app, "GET", "/sync")[2] == b"outer(inner(sync))"
    assert call(app, "GET", "/async")[2] == b"outer(inner(async))"


def test_decorator_can_short_circuit(app: Kettle, call: Callable[..., Result]) -> None:
    def require_token(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Any:
            if request.headers.get("X-Token") != "ok":
                return "denied", 403
            return view(**kwargs)

        return wrapper

    class Secret(MethodView):
        decorators: ClassVar[list[Callable[..., Any]]] = [require_token]

        def get(self) -> str:
            return "secret"

    app.add_url_rule("/secret", view_func=Secret.as_view("secret"))
    assert call(app, "GET", "/secret")[:1] == (403,)
    assert call(app, "GET", "/secret", headers={"X-Token": "ok"})[2] == b"secret"


def test_method_view_infers_methods(app: Kettle, call: Callable[..., Result]) -> None:
    class Item(MethodView):
        def get(self, id: int) -> str:
            return f"get {id}"

        def put(self, id: int) -> str:
            return f"put {id} {request.get_data(as_text=True)}"

        def delete(self, id: int) -> tuple[str, int]:
            return "", 204

    assert Item.methods == {"GET", "PUT", "DELETE"}
    app.add_url_rule("/items/<int:id>", view_func=Item.as_view("item"))
    assert call(app, "GET", "/items/3")[2] == b"get 3"
    assert call(app, "PUT", "/items/3", content=b"new")[2] == b"put 3 new"
    assert call(app, "DELETE", "/items/3")[0] == 204
    status, headers, _ = call(app, "POST", "/items/3")
    assert status == 405
    assert _allow(headers) == {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
    status, headers, _ = call(app, "OPTIONS", "/items/3")
    assert status == 200
    assert _allow(headers) == {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}


def test_method_view_methods_are_inherited(app: Kettle) -> None:
    class Base(MethodView):
        def get(self) -> str:
            return "base get"

    class Child(Base):
        def post(self) -> str:
            return "child post"

    class Explicit(Base):
        methods: ClassVar[set[str] | None] = {"GET"}

        def patch(self) -> str:
            return "not routed"

    assert Child.methods == {"GET", "POST"}
    assert Explicit.methods == {"GET"}
    app.add_url_rule("/child", view_func=Child.as_view("child"))
    client = app.test_client()
    assert client.get("/child").data == b"base get"
    assert client.post("/child").data == b"child post"


def test_head_is_answered_by_get(app: Kettle, call: Callable[..., Result]) -> None:
    calls: list[str] = []

    class Page(MethodView):
        def get(self) -> str:
            calls.append(request.method)
            return "page body"

    app.add_url_rule("/page", view_func=Page.as_view("page"))
    status, headers, body = call(app, "HEAD", "/page")
    assert status == 200
    assert body == b""
    assert headers["Content-Length"] == "9"
    assert calls == ["HEAD"]


def test_explicit_head_method_wins(app: Kettle, call: Callable[..., Result]) -> None:
    class Page(MethodView):
        def get(self) -> str:
            return "page"

        def head(self) -> tuple[str, int, dict[str, str]]:
            return "", 200, {"X-Head": "own"}

    app.add_url_rule("/page", view_func=Page.as_view("page"))
    status, headers, body = call(app, "HEAD", "/page")
    assert (status, headers["X-Head"], body) == (200, "own", b"")


def test_method_listed_without_handler_is_an_error(app: Kettle) -> None:
    class Partial(MethodView):
        methods: ClassVar[set[str] | None] = {"GET", "POST"}

        def get(self) -> str:
            return "ok"

    app.add_url_rule("/p", view_func=Partial.as_view("p"))
    with pytest.raises(NotImplementedError, match="no method for POST"):
        app.test_client().post("/p")


def test_async_method_view(app: Kettle, call: Callable[..., Result]) -> None:
    class Things(MethodView):
        async def get(self) -> dict[str, Any]:
            await asyncio.sleep(0)
            return {"things": request.args.getlist("t")}

        async def post(self) -> tuple[str, int]:
            data = await request.get_data()
            return data.decode().upper(), 201

    assert Things.as_view("x").__name__ == "x"
    assert asyncio.iscoroutinefunction(Things.as_view("probe"))
    app.add_url_rule("/things", view_func=Things.as_view("things"))
    status, _, body = call(app, "GET", "/things?t=a&t=b")
    assert status == 200
    assert httpx.Response(200, content=body).json() == {"things": ["a", "b"]}
    assert call(app, "POST", "/things", content=b"abc")[:3:2] == (201, b"ABC")
    assert call(app, "HEAD", "/things")[2] == b""


def test_mixed_sync_and_async_method_view(
    app: Kettle, call: Callable[..., Result]
) -> None:
    threads: dict[str, int] = {}

    class Mixed(MethodView):
        async def get(self) -> str:
            threads["get"] = threading.get_ident()
            await asyncio.sleep(0)
            return "async get"

        def post(self) -> str:
            threads["post"] = threading.get_ident()
            return f"sync post {request.get_data(as_text=True)}"

    assert not asyncio.iscoroutinefunction(Mixed.as_view("probe"))
    app.add_url_rule("/mixed", view_func=Mixed.as_view("mixed"))
    assert call(app, "GET", "/mixed")[2] == b"async get"
    assert call(app, "POST", "/mixed", content=b"x")[2] == b"sync post x"


def test_async_view_class(app: Kettle, call: Callable[..., Result]) -> None:
    class Hello(View):
        methods: ClassVar[set[str] | None] = {"GET", "POST"}

        async def dispatch_request(self, who: str) -> str:
            await asyncio.sleep(0)
            return f"{request.method} {who}"

    app.add_url_rule("/hello/<who>", view_func=Hello.as_view("hello"))
    assert call(app, "GET", "/hello/bob")[2] == b"GET bob"
    assert call(app, "POST", "/hello/bob")[2] == b"POST bob"


def test_async_handlers_run_on_the_servers_loop_under_asgi(app: Kettle) -> None:
    seen: dict[str, Any] = {}

    class Where(MethodView):
        async def get(self) -> str:
            seen["get"] = (threading.get_ident(), asyncio.get_running_loop())
            return "ok"

        def post(self) -> str:
            seen["post"] = threading.get_ident()
            return "ok"

    app.add_url_rule("/where", view_func=Where.as_view("where"))

    async def main() -> tuple[int, Any]:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await c.get("/where")
            await c.post("/where")
        return threading.get_ident(), asyncio.get_running_loop()

    thread, loop = asyncio.run(main())
    assert seen["get"] == (thread, loop)
    assert seen["post"] != thread


def test_async_handlers_reuse_a_loop_per_thread_under_wsgi(app: Kettle) -> None:
    loops: list[Any] = []

    class Loopy(MethodView):
        async def get(self) -> str:
            loops.append(asyncio.get_running_loop())
            return "ok"

    app.add_url_rule("/loopy", view_func=Loopy.as_view("loopy"))
    client = app.test_client()
    for _ in range(3):
        assert client.get("/loopy").data == b"ok"
    assert len(loops) == 3
    assert loops[0] is loops[1] is loops[2]
    assert not loops[0].is_closed()


def test_method_view_with_blueprint_url_for(
    app: Kettle, call: Callable[..., Result]
) -> None:
    from kettle import url_for

    class Link(MethodView):
        def get(self, n: int) -> str:
            return url_for("link", n=n + 1)

    app.add_url_rule("/link/<int:n>", view_func=Link.as_view("link"))
    assert call(app, "GET", "/link/1")[2] == b"/link/2"
