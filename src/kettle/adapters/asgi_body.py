"""The body of an ASGI request: received when first needed, and buffered.

:class:`ASGIBody` is both the request's :class:`~kettle.wrappers.BodySource` (for
``await request.get_data()`` and ``request.iter_body()``) and its ``wsgi.input``
(for Werkzeug's parsers). Sync code running in a worker thread that reads it before
it has arrived waits for the event loop to receive it; code on the loop thread is
told to await it instead.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from werkzeug.exceptions import ClientDisconnected as _WerkzeugClientDisconnected
from werkzeug.exceptions import RequestEntityTooLarge

__all__ = ["ASGIBody", "ClientDisconnected"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientDisconnected(_WerkzeugClientDisconnected):
    """The client went away before the request finished."""


class ASGIBody:
    """An ASGI request body: a buffer filled from ``receive()`` on demand."""

    def __init__(self, receive: Receive, loop: asyncio.AbstractEventLoop) -> None:
        self._receive = receive
        self._loop = loop
        self._chunks: list[bytes] = []
        self._size = 0
        self._file: io.BytesIO | None = None
        self._streamed = False
        self.complete = False
        self.disconnected = False

    async def _next_chunk(self, limit: int | None) -> bytes:
        message = await self._receive()
        kind = message["type"]
        if kind == "http.disconnect":
            self.complete = self.disconnected = True
            raise ClientDisconnected()
        chunk: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            self.complete = True
        self._size += len(chunk)
        if limit is not None and self._size > limit:
            self.complete = True
            raise RequestEntityTooLarge()
        return chunk

    async def read_all(self, limit: int | None) -> None:
        """Receive and buffer the rest of the body; 413 beyond ``limit`` bytes."""
        self._check_not_streamed()
        while not self.complete:
            chunk = await self._next_chunk(limit)
            if chunk:
                self._chunks.append(chunk)

    async def iter_chunks(self, limit: int | None) -> AsyncIterator[bytes]:
        """Yield what is buffered, then the rest as it arrives, unbuffered."""
        self._check_not_streamed()
        self._streamed = True
        for chunk in self._chunks:
            yield chunk
        self._chunks = []
        while not self.complete:
            chunk = await self._next_chunk(limit)
            if chunk:
                yield chunk

    def _check_not_streamed(self) -> None:
        if self._streamed:
            raise RuntimeError(
                "The request body was already consumed by 'request.iter_body()' and"
                " was not kept; read it once, either streamed or with get_data()."
            )

    async def wait_disconnect(self) -> None:
        """Return when the client disconnects (once the body has been received)."""
        if not self.complete:
            await asyncio.Event().wait()  # the view may still read the body
        while not self.disconnected:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True

    # -- the file-like side, for Werkzeug ------------------------------------------

    def _buffered_file(self) -> io.BytesIO:
        if self._file is None:
            if not self.complete:
                self._receive_from_thread()
            self._file = io.BytesIO(b"".join(self._chunks))
            self._chunks = []
        return self._file

    def _receive_from_thread(self) -> None:
        if asyncio._get_running_loop() is self._loop:
            raise RuntimeError(
                "The request body has not been received yet, and this code runs on"
                " the event loop, where waiting for it would block the server. In an"
                " async view, first `await request.get_data()` (then request.form,"
                " request.files and request.get_json() work), or stream it with"
                " `async for chunk in request.iter_body()`."
            )
        future = asyncio.run_coroutine_threadsafe(self.read_all(None), self._loop)
        future.result()

    def read(self, size: int = -1) -> bytes:
        """Read from the buffered body (waiting for it from a worker thread)."""
        return self._buffered_file().read(size)

    def readline(self, size: int = -1) -> bytes:
        """Read a line from the buffered body."""
        return self._buffered_file().readline(size)

    def readlines(self, hint: int = -1) -> list[bytes]:
        """Read lines from the buffered body."""
        return self._buffered_file().readlines(hint)

    def __iter__(self) -> Any:
        return iter(self._buffered_file())
