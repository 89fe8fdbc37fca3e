"""Tests for WebSockets over ASGI: ``@app.websocket`` and the ``websocket`` proxy."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from kettle import Kettle, current_app, g, websocket
from kettle.websocket import WebsocketDisconnect

Message = dict[str, Any]
TIMEOUT = 5.0


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        return await asyncio.wait_for(coro_fn(), TIMEOUT)

    return asyncio.run(main())


@pytest.fixture
def quiet_app() -> Kettle:
    app = Kettle("kettle_ws_quiet")
    app.config.update(PROPAGATE_EXCEPTIONS=False, SECRET_KEY="k")
    return app


def ws_scope(path: str = "/ws", query: bytes = b"") -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 1234),
        "server": ("localhost", 80),
        "subprotocols": [],
    }


async def converse(
    app: Kettle, scope: dict[str, Any], incoming: list[Message]
) -> list[Message]:
    """Feed ``incoming`` to the app (then wait), return what it sent."""
    sent: list[Message] = []
    queue: asyncio.Queue[Message] = asyncio.Queue()
    for message in incoming:
        queue.put_nowait(message)

    async def send(message: Message) -> None:
        sent.append(message)

    await app.asgi(scope, queue.get, send)
    return sent


def test_echo_text_and_bytes(app: Kettle) -> None:
    @app.websocket("/ws")
    async def echo() -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if isinstance(message, str):
                await websocket.send(f"text:{message}")
            else:
                await websocket.send(b"bytes:" + message)

    async def main() -> list[Any]:
        async with app.test_websocket("/ws") as ws:
            await ws.send("hello")
            first = await ws.receive()
            await ws.send(b"\x00\x01")
            second = await ws.receive()
            return [first, second]

    assert run(main) == ["text:hello", b"bytes:\x00\x01"]


def test_json_round_trip(app: Kettle) -> None:
    @app.websocket("/ws")
    async def calc() -> None:
        data = await websocket.receive_json()
        await websocket.send_json({"sum": sum(data["values"]), "echo": data})

    async def main() -> Any:
        async with app.test_websocket("/ws") as ws:
            await ws.send_json({"values": [1, 2, 3], "name": "caf\u00e9"})
            return await ws.receive_json()

    assert run(main) == {
        "sum": 6,
        "echo": {"values": [1, 2, 3], "name": "caf\u00e9"},
    }


def test_first_receive_or_send_accepts_implicitly(app: Kettle) -> None:
    @app.websocket("/ws")
    async def greet() -> None:
        await websocket.send("welcome")

    async def main() -> tuple[Any, int | None]:
        async with app.test_websocket("/ws") as ws:
            greeting = await ws.receive()
            with pytest.raises(WebsocketDisconnect) as info:
                await ws.receive()
            return greeting, info.value.code

    # Returning from the view closes normally.
    assert run(main) == ("welcome", 1000)


@pytest.mark.parametrize("code", [1000, 4001])
def test_close_code_is_seen_by_the_client(app: Kettle, code: int) -> None:
    @app.websocket("/ws")
    async def closer() -> None:
        await websocket.accept()
        await websocket.send("bye")
        await websocket.close(code, "done here")

    async def main() -> tuple[Any, int, str, int | None]:
        async with app.test_websocket("/ws") as ws:
            last = await ws.receive()
            with pytest.raises(WebsocketDisconnect) as info:
                await ws.receive()
            return last, info.value.code, info.value.reason, ws.close_code

    assert run(main) == ("bye", code, "done here", code)


def test_raw_messages_of_a_connection(app: Kettle) -> None:
    @app.websocket("/ws")
    async def view() -> None:
        await websocket.accept(subprotocol="chat", headers=[("X-Room", "1")])
        await websocket.send(await websocket.receive())
        await websocket.close(4000)

    sent = run(
        lambda: converse(
            app,
            ws_scope(),
            [
                {"type": "websocket.connect"},
                {"type": "websocket.receive", "bytes": b"ping"},
            ],
        )
    )
    assert sent == [
        {
            "type": "websocket.accept",
            "subprotocol": "chat",
            "headers": [(b"x-room", b"1")],
        },
        {"type": "websocket.send", "bytes": b"ping"},
        {"type": "websocket.close", "code": 4000, "reason": ""},
    ]


def test_subprotocol_reaches_the_test_client(app: Kettle) -> None:
    @app.websocket("/ws")
    async def view() -> None:
        await websocket.accept(subprotocol="v2")
        await websocket.send("ok")

    async def main() -> tuple[str | None, Any]:
        async with app.test_websocket("/ws", subprotocols=["v1", "v2"]) as ws:
            return ws.subprotocol, await ws.receive()

    assert run(main) == ("v2", "ok")


def test_args_headers_path_g_and_current_app(app: Kettle) -> None:
    @app.before_request
    def not_for_websockets() -> None:
        g.hook = "ran"

    @app.websocket("/rooms/<room>")
    async def room(room: str) -> None:
        g.user = websocket.args.get("user")
        await websocket.send_json(
            {
                "room": room,
                "args": websocket.args.to_dict(flat=False),
                "header": websocket.headers.get("X-Token"),
                "path": websocket.path,
                "url": websocket.url,
                "user": g.user,
                "app": current_app.name,
                "thread": threading.get_ident(),
            }
        )

    async def main() -> tuple[Any, int]:
        async with app.test_websocket(
            "/rooms/blue?user=ann&tag=a&tag=b", headers=[("X-Token", "secret")]
        ) as ws:
            return await ws.receive_json(), threading.get_ident()

    info, loop_thread = run(main)
    assert info == {
        "room": "blue",
        "args": {"user": ["ann"], "tag": ["a", "b"]},
        "header": "secret",
        "path": "/rooms/blue",
        "url": "ws://localhost/rooms/blue?user=ann&tag=a&tag=b",
        "user": "ann",
        "app": app.name,
        "thread": loop_thread,
    }


def test_teardown_runs_once_when_the_connection_ends(app: Kettle) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        events.append(f"teardown_request {websocket.path} {exc!r}")

    @app.teardown_appcontext
    async def teardown_app(exc: BaseException | None) -> None:
        events.append(f"teardown_appcontext {g.get('mark')}")

    @app.websocket("/ws")
    async def view() -> None:
        g.mark = "m"
        await websocket.accept()
        events.append("accepted")
        try:
            while True:
                events.append(f"got {await websocket.receive()}")
        finally:
            events.append("view ended")

    async def main() -> None:
        async with app.test_websocket("/ws") as ws:
            await ws.send("a")
            await ws.send("b")
            await asyncio.sleep(0.01)
            events.append("client leaving")

    run(main)
    assert events == [
        "accepted",
        "got a",
        "got b",
        "client leaving",
        "view ended",
        "teardown_request /ws None",
        "teardown_appcontext m",
    ]


def test_client_disconnect_raises_websocket_disconnect_in_the_view(
    app: Kettle,
) -> None:
    seen: list[Any] = []

    @app.websocket("/ws")
    async def view() -> None:
        await websocket.accept()
        try:
            await websocket.receive()
        except WebsocketDisconnect as e:
            seen.append((e.code, e.reason))
            raise

    sent = run(
        lambda: converse(
            app,
            ws_scope(),
            [
                {"type": "websocket.connect"},
                {"type": "websocket.disconnect", "code": 1001, "reason": "away"},
            ],
        )
    )
    assert seen == [(1001, "away")]
    # The connection is gone: nothing is sent after the accept.
    assert [m["type"] for m in sent] == ["websocket.accept"]


def test_client_disconnect_through_the_test_client(app: Kettle) -> None:
    codes: list[int] = []

    @app.websocket("/ws")
    async def view() -> None:
        try:
            while True:
                await websocket.receive()
        except WebsocketDisconnect as e:
            codes.append(e.code)

    async def main() -> None:
        async with app.test_websocket("/ws") as ws:
            await ws.send("x")

    run(main)
    assert codes == [1000]


def test_error_in_the_view_closes_1011_and_is_logged(
    quiet_app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    app = quiet_app
    torn_down: list[BaseException | None] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(exc)

    @app.websocket("/ws")
    async def view() -> None:
        await websocket.accept()
        await websocket.receive()
        raise RuntimeError("socket view failed")

    async def main() -> int:
        async with app.test_websocket("/ws") as ws:
            await ws.send("trigger")
            with pytest.raises(WebsocketDisconnect) as info:
                await ws.receive()
            return info.value.code

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        assert run(main) == 1011
    assert "Exception on /ws [GET]" in caplog.messages
    assert len(torn_down) == 1
    assert str(torn_down[0]) == "socket view failed"


def test_error_in_the_view_propagates_when_testing(app: Kettle) -> None:
    torn_down: list[BaseException | None] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        torn_down.append(exc)

    @app.websocket("/ws")
    async def view() -> None:
        await websocket.accept()
        raise KeyError("propagated")

    sent: list[Message] = []

    async def main() -> None:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        queue.put_nowait({"type": "websocket.connect"})

        async def send(message: Message) -> None:
            sent.append(message)

        await app.asgi(ws_scope(), queue.get, send)

    with pytest.raises(KeyError, match="propagated"):
        run(main)
    assert sent[-1] == {"type": "websocket.close", "code": 1011, "reason": ""}
    assert len(torn_down) == 1
    assert isinstance(torn_down[0], KeyError)


def test_closing_before_accept_rejects_the_connection(app: Kettle) -> None:
    events: list[str] = []

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.websocket("/private")
    async def private() -> None:
        if websocket.headers.get("Authorization") != "Bearer ok":
            await websocket.close(4003, "forbidden")
            return
        await websocket.send("hello, insider")

    async def main() -> tuple[int, str, Any]:
        with pytest.raises(WebsocketDisconnect) as info:
            async with app.test_websocket("/private"):
                raise AssertionError("the connection was accepted")
        async with app.test_websocket(
            "/private", headers=[("Authorization", "Bearer ok")]
        ) as ws:
            greeting = await ws.receive()
        return info.value.code, info.value.reason, greeting

    assert run(main) == (4003, "forbidden", "hello, insider")
    assert events == ["teardown", "teardown"]


def test_unknown_path_is_closed_before_accept(app: Kettle) -> None:
    @app.websocket("/ws")
    async def view() -> None:
        await websocket.send("never")

    async def main() -> int:
        with pytest.raises(WebsocketDisconnect) as info:
            async with app.test_websocket("/elsewhere"):
                raise AssertionError("the connection was accepted")
        return info.value.code

    assert run(main) == 1008


def test_http_route_is_not_a_websocket_route(app: Kettle) -> None:
    @app.route("/page")
    def page() -> str:
        return "page"

    async def main() -> int:
        with pytest.raises(WebsocketDisconnect) as info:
            async with app.test_websocket("/page"):
                raise AssertionError("the connection was accepted")
        return info.value.code

    assert run(main) == 1008


def _assert_websocket_only(status: int, text: str) -> None:
    assert status == 400
    assert "WebSocket" in text
    assert "app.asgi" in text


def test_plain_http_to_a_websocket_route_is_400_over_asgi(app: Kettle) -> None:
    @app.websocket("/ws")
    async def view() -> None:
        await websocket.send("never")

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/ws")

    response = run(main)
    _assert_websocket_only(response.status_code, response.text)


def test_plain_http_to_a_websocket_route_is_400_over_wsgi(app: Kettle) -> None:
    @app.websocket("/ws")
    async def view() -> None:
        await websocket.send("never")

    response = app.test_client().get("/ws")
    _assert_websocket_only(response.status_code, response.get_data(as_text=True))


def test_same_path_can_serve_http_and_websocket(app: Kettle) -> None:
    @app.route("/live")
    def page() -> str:
        return "http page"

    @app.websocket("/live", endpoint="live_ws")
    async def socket() -> None:
        await websocket.send("socket")

    async def main() -> tuple[str, Any]:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            page_text = (await c.get("/live")).text
        async with app.test_websocket("/live") as ws:
            return page_text, await ws.receive()

    assert run(main) == ("http page", "socket")
    assert app.test_client().get("/live").data == b"http page"


def test_websocket_proxy_outside_a_connection_raises(app: Kettle) -> None:
    with pytest.raises(RuntimeError, match="'websocket'"):
        websocket.path  # noqa: B018
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="websocket"):
        websocket.args  # noqa: B018


def test_websocket_proxy_in_an_http_view_raises(app: Kettle) -> None:
    @app.route("/")
    async def index() -> str:
        try:
            websocket.path  # noqa: B018
        except RuntimeError as e:
            return str(e)
        return "no error"

    async def main() -> str:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return (await c.get("/")).text

    text = run(main)
    assert "'websocket'" in text
    assert "@app.websocket" in text


def test_connections_are_isolated(app: Kettle) -> None:
    @app.websocket("/ws")
    async def view() -> None:
        g.name = websocket.args["name"]
        while True:
            message = await websocket.receive()
            await asyncio.sleep(0)
            await websocket.send(f"{g.name}:{message}")

    async def client(name: str) -> list[Any]:
        async with app.test_websocket(f"/ws?name={name}") as ws:
            replies = []
            for i in range(5):
                await ws.send(str(i))
                replies.append(await ws.receive())
            return replies

    async def main() -> list[list[Any]]:
        return list(await asyncio.gather(*(client(f"c{n}") for n in range(10))))

    for n, replies in enumerate(run(main)):
        assert replies == [f"c{n}:{i}" for i in range(5)]
