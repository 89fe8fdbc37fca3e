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
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.exceptions import ClientDisconnected as _WerkzeugClientDisconnected
from werkzeug.exceptions import RequestEntityTooLarge

__all__ = ["ASGIBody", "ClientDisconnected", "build_environ"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientDisconnected(_WerkzeugClientDisconnected):
    """The client went away before the request finished."""


class ASGIBody:
    """An ASGI request body: a buffer filled from ``receive()`` on demand."""

    __slots__ = (
        "_chunks",
        "_file",
        "_loop",
        "_receive",
        "_scope",
        "_size",
        "_streamed",
        "complete",
        "disconnected",
        "limit",
        "too_large",
    )

    def __init__(
        self,
        scope: MutableMapping[str, Any],
        receive: Receive,
        loop: asyncio.AbstractEventLoop,
        limit: int | None = None,
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._loop = loop
        self._chunks: list[bytes] = []
        self._size = 0
        self._file: io.BytesIO | None = None
        self._streamed = False
        self.complete = False
        self.disconnected = False
        self.too_large = False
        #: ``MAX_CONTENT_LENGTH``, for sync code reading the body from a thread.
        self.limit = limit

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
            self.complete = self.too_large = True
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
        # Until the body is received the view may still read it; after a 413 the
        # rest is left unread. A GET, HEAD or OPTIONS is taken to have no body.
        bodyless = self._scope.get("method") in ("GET", "HEAD", "OPTIONS")
        if (not self.complete and not bodyless) or self.too_large:
            await asyncio.Event().wait()
        while not self.disconnected:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True

    def raw_header(self, name: bytes) -> str | None:
        """The value of the (lower-case) header ``name`` in the scope; repeated
        ones joined as :meth:`make_headers` joins them."""
        found: bytes | None = None
        for key, value in self._scope.get("headers", ()):
            if key == name or key.lower() == name:
                if found is None:
                    found = value
                else:
                    found += (b"; " if name == b"cookie" else b", ") + value
        return None if found is None else found.decode("latin-1")

    def make_headers(self) -> Headers:
        """The request headers, from the scope; repeated ones joined, as in WSGI."""
        joined: dict[bytes, tuple[bytes, bytes]] = {}
        for name, value in self._scope.get("headers", ()):
            key = name.lower()
            if key in joined:
                first, existing = joined[key]
                value = existing + (b"; " if key == b"cookie" else b", ") + value
                name = first
            joined[key] = (name, value)
        return Headers(
            [(n.decode("latin-1"), v.decode("latin-1")) for n, v in joined.values()]
        )

    def make_environ(self) -> dict[str, Any]:
        """A WSGI environ for the scope, with this body as ``wsgi.input``."""
        return build_environ(self._scope, self)

    def received_body(self) -> bytes | None:
        """The whole body if it has been received (and not streamed), else None."""
        if not self.complete or self._streamed or self.too_large:
            return None
        return self._buffered_file().getvalue()

    # -- the file-like side, for Werkzeug ------------------------------------------

    def _buffered_file(self) -> io.BytesIO:
        if self._file is None:
            self._check_not_streamed()
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
        future = asyncio.run_coroutine_threadsafe(self.read_all(self.limit), self._loop)
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


def _latin1(value: str) -> str:
    return value.encode("utf-8").decode("latin-1")


def build_environ(scope: MutableMapping[str, Any], body: ASGIBody) -> dict[str, Any]:
    """A WSGI environ for the scope, so that Werkzeug's request works unchanged."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": _latin1(root_path),
        "PATH_INFO": _latin1(path),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]) if server[1] is not None else "",
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "asgi.scope": scope,
    }
    if client:
        environ["REMOTE_ADDR"] = client[0]
        environ["REMOTE_PORT"] = str(client[1])
    for raw_name, raw_value in scope.get("headers", ()):
        _add_header(environ, raw_name.decode("latin-1"), raw_value.decode("latin-1"))
    return environ


def _add_header(environ: dict[str, Any], name: str, value: str) -> None:
    key = name.upper().replace("-", "_")
    if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        key = f"HTTP_{key}"
    existing = environ.get(key)
    if existing is not None:
        separator = "; " if key == "HTTP_COOKIE" else ", "
        value = f"{existing}{separator}{value}"
    environ[key] = value
