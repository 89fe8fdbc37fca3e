"""WebSocket connections over ASGI, with a context pushed for each connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ..dispatch import handle_websocket
from ..websocket import Websocket, WebsocketDisconnect
from .asgi_body import ASGIBody
from .asgi_driver import RequestRunner, drive_async
from .asgi_threads import ThreadPool

if TYPE_CHECKING:
    from ..app import Kettle
    from ..wrappers import Request

__all__ = ["ASGIWebsocket", "serve_websocket"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIWebsocket(Websocket):
    """A :class:`~kettle.websocket.Websocket` speaking ASGI messages."""

    def __init__(self, request: Request, receive: Receive, send: Send) -> None:
        super().__init__(request)
        self._receive = receive
        self._send = send
        self.state = "connecting"

    async def _handshake(self) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            self.state = "closed"
            raise WebsocketDisconnect(message.get("code", 1006))

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """Accept the connection; a no-op once accepted."""
        if self.state != "connecting":
            return
        await self._handshake()
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            message["headers"] = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers
            ]
        await self._send(message)
        self.state = "connected"

    async def receive(self) -> str | bytes:
        """The next message; :class:`WebsocketDisconnect` once the client closed."""
        await self.accept()
        if self.state == "closed":
            raise WebsocketDisconnect(1006, "The connection is closed.")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.state = "closed"
            raise WebsocketDisconnect(
                message.get("code", 1005), message.get("reason") or ""
            )
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes") or b"")

    async def send(self, data: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message."""
        await self.accept()
        if isinstance(data, str):
            await self._send({"type": "websocket.send", "text": data})
        else:
            await self._send({"type": "websocket.send", "bytes": bytes(data)})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (before accepting it: reject it, an HTTP 403)."""
        if self.state == "closed":
            return
        if self.state == "connecting":
            await self._handshake()
        self.state = "closed"
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


async def _nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def serve_websocket(
    app: Kettle,
    scope: MutableMapping[str, Any],
    receive: Receive,
    send: Send,
    threads: ThreadPool,
) -> None:
    """Handle one WebSocket connection with ``app``."""
    from .asgi import make_context

    full_scope = {"method": "GET", **scope}
    body = ASGIBody(full_scope, _nothing, asyncio.get_running_loop())
    body.complete = True
    ctx = make_context(app, full_scope, body)
    connection = ASGIWebsocket(ctx.request, receive, send)
    ctx._websocket = connection
    error: BaseException | None = None
    thread = RequestRunner(app, threads)
    try:
        close_code = await drive_async(app, handle_websocket(app, ctx), thread)
        await connection.close(close_code)
    except WebsocketDisconnect:
        connection.state = "closed"
    except BaseException as e:
        error = e
        await connection.close(1011)
        raise
    finally:
        try:
            if ctx.is_pushed:
                await ctx.apop(error, run_steps=thread.run_steps)
        finally:
            thread.release()
