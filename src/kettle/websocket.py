"""The WebSocket connection object behind the ``websocket`` proxy.

A route registered with ``@app.websocket(rule)`` is called, under ASGI, inside a
context pushed for the connection: ``websocket`` is the connection, and ``g``,
``current_app`` and ``session`` work as in a request. The ASGI adapter provides the
transport; this class is what a view sees.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers, MultiDict

    from .wrappers import Request

__all__ = ["Websocket", "WebsocketDisconnect"]


class WebsocketDisconnect(Exception):  # noqa: N818 -- the established name
    """The client closed the connection; ``code`` is its close code."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Websocket(ABC):
    """One WebSocket connection: accept, receive and send text or bytes, close."""

    def __init__(self, request: Request) -> None:
        self.request = request

    @property
    def args(self) -> MultiDict[str, str]:
        """The query string arguments of the connection URL."""
        return self.request.args

    @property
    def headers(self) -> Headers:
        """The headers of the opening handshake."""
        return self.request.headers

    @property
    def path(self) -> str:
        """The path of the connection URL."""
        return self.request.path

    @property
    def url(self) -> str:
        """The full URL of the connection."""
        return self.request.url

    @abstractmethod
    async def accept(
        self,
        subprotocol: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        """Accept the connection (done on the first receive or send otherwise)."""

    @abstractmethod
    async def receive(self) -> str | bytes:
        """The next message, as str (text frame) or bytes (binary frame).

        Raises :class:`WebsocketDisconnect` when the client has closed.
        """

    @abstractmethod
    async def send(self, data: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message."""

    @abstractmethod
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection with ``code``."""

    async def receive_json(self) -> Any:
        """The next message, decoded from JSON."""
        return json.loads(await self.receive())

    async def send_json(self, value: Any) -> None:
        """Send ``value`` encoded as JSON in a text message."""
        await self.send(json.dumps(value))
