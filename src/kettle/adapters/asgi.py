"""The ASGI adapter: scope and messages in, pipeline on the loop, messages out.

``app.asgi`` is an instance of :class:`ASGIApp`. It serves the same ``Kettle`` app,
with the same request pipeline (:mod:`kettle.dispatch`) and context model, as the
WSGI adapter: ``async def`` callables (views, hooks, error handlers, teardown
functions) are awaited on the server's event loop; sync ones run in a worker thread
that sees the request's context.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Mapping,
    MutableMapping,
)
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from ..ctx import AppContext, context_for_request
from ..dispatch import (
    after_view,
    run_view,
    start_request,
    view_returned,
    view_step,
)
from ..teardown import has_teardown
from ..wrappers import (
    HTML_UTF8,
    OWN_HEADER_NAMES,
    DirectResponse,
    Response,
    is_plain_buffered,
)
from .asgi_body import ASGIBody, ClientDisconnected, build_environ
from .asgi_driver import RequestRunner, drive_async
from .asgi_lifespan import serve_lifespan
from .asgi_threads import RequestThread, ThreadPool
from .asgi_websocket import serve_websocket

if TYPE_CHECKING:
    from ..app import Kettle

__all__ = ["ASGIApp", "build_environ"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Bodies up to this size, with a Content-Length, are received before dispatch, so
#: that sync-looking code (``request.get_json()``) works in async views too.
PREREAD_LIMIT = 64 * 1024
_NO_BODY = frozenset(("GET", "HEAD", "OPTIONS"))
# The Content-Type of a view's str, encoded once.
_HTML_UTF8_BYTES = HTML_UTF8.encode("latin-1")
# Kettle's own header names, as ASGI sends them. A constant table, never changed
# (a plain dict: a mapping proxy's get() costs twice as much).
_ENCODED_NAMES: Mapping[str, bytes] = {
    name: name.lower().encode("latin-1") for name in OWN_HEADER_NAMES
}


class ASGIApp:
    """The ASGI 3 application of a Kettle app: ``uvicorn module:app.asgi``.

    An instance (rather than a bound method) so that servers see a coroutine
    ``__call__`` and treat it as ASGI 3.
    """

    def __init__(self, app: Kettle) -> None:
        self.app = app
        #: The worker threads that run requests' sync code, one request at a time.
        self.threads = ThreadPool()
        app.background.release_async = self._release_async

    async def _release_async(self, ctx: AppContext) -> None:
        """Release ``ctx`` from a spawned task, with teardown run as for a request."""
        thread = RequestRunner(self.app, self.threads)
        try:
            await ctx.arelease(run_steps=thread.run_steps)
        finally:
            thread.release()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._serve_other(scope, receive, send)
            return
        # PERF: an HTTP request is served in this coroutine, not in one it awaits:
        # one coroutine object and frame less per request.
        app = self.app
        threads = self.threads
        loop = asyncio.get_running_loop()  # for sync code reading the body in a thread
        limit = app._max_content_length  # config MAX_CONTENT_LENGTH
        if scope["method"] in _NO_BODY:
            # PERF: a GET seldom has a body: its body object is made if it is read.
            ctx = make_context(app, scope, (ASGIBody, scope, receive, loop, limit))
        else:
            body = ASGIBody(scope, receive, loop, limit)
            ctx = make_context(app, scope, body)
            await _preread(app, scope, body)
        error: BaseException | None = None
        # PERF: made when sync code or a teardown must run; an async view answering
        # with a plain response needs none.
        thread: RequestRunner | None = None
        try:
            first: Any = start_request(app, ctx)
            if type(first) is list:
                first = await _run_before_inline(app, ctx, first)
            if type(first) is tuple:
                if app._async_callables.get(first[0]):
                    # PERF: an async view that is the only step (and was seen before) is
                    # awaited here, without the pipeline.
                    func, args, kwargs = first
                    try:
                        # PERF: as in dispatch.run_request.
                        rv = await (func(*args, **kwargs) if args or kwargs else func())
                    except Exception as e:
                        first = after_view(app, ctx, None, e)
                    else:
                        first = view_returned(app, ctx, rv)
                else:
                    first = run_view(app, ctx, first)
            if type(first) is GeneratorType:
                thread = RequestRunner(app, threads)
                response = await drive_async(app, first, thread)
            else:
                response = first
            messages = _plain_messages(response, scope["method"])
            if messages is None and response.is_sequence:
                messages = _sequence_messages(response, ctx.request.environ)
            if messages is None:
                thread = thread or RequestRunner(app, threads)
                await send_response(app, response, ctx, send, thread)
            elif not has_teardown(app, ctx):
                # No user code runs at teardown: end the context, then send. While it
                # sends, the server schedules callbacks (a keep-alive timer) that copy
                # the current context variables; an active context would stay alive in
                # them, with its request, until the connection's next request.
                ctx._pop_bare()
                await send(messages[0])
                await send(messages[1])
            else:
                thread = thread or RequestRunner(app, threads)
                await _send_with_context_held(ctx, messages, send, thread)
        except BaseException as e:
            error = e
            raise
        finally:
            try:
                if ctx._token is not None:  # still pushed
                    thread = thread or RequestRunner(app, threads)
                    await ctx.apop(error, run_steps=thread.run_steps)
            finally:
                if thread is not None and thread._worker is not None:
                    thread.release()

    async def _serve_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await serve_websocket(self.app, scope, receive, send, self.threads)
        elif kind == "lifespan":
            await serve_lifespan(self.app, receive, send, self.threads)
        else:
            raise ValueError(f"Kettle does not serve ASGI {kind!r} connections.")

    def __repr__(self) -> str:
        return f"<ASGIApp of {self.app!r}>"


# -- HTTP -----------------------------------------------------------------------------


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def make_context(
    app: Kettle, scope: Scope, body: ASGIBody | tuple[Any, ...]
) -> AppContext:
    """The context of the request of ``scope``; its environ is built lazily, and
    its body too when ``body`` is how to make it (see ``Request.from_parts``)."""
    root_path = scope.get("root_path", "")
    path = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    client = scope.get("client")
    server = scope.get("server")
    request = app.request_class.from_parts(
        scope["method"],
        scope.get("scheme", "http"),
        (server[0], server[1]) if server else None,
        root_path,
        path,
        scope.get("query_string", b""),
        client[0] if client else None,
        body,
    )
    return context_for_request(app, request)


async def _run_before_inline(
    app: Kettle, ctx: AppContext, befores: list[Callable[[], Any]]
) -> Any:
    """Await the app's before-request functions here, without the pipeline, when
    all are ``async def`` ones the driver has seen; then go on as
    :func:`~kettle.dispatch.start_request` says: the view's step, or the response
    (or the pipeline that makes it) for a function's result or error."""
    known = app._async_callables
    for before in befores:
        if not known.get(before):
            return run_view(app, ctx)  # a sync one needs the request's thread
    try:
        for before in befores:
            rv = await before()
            if rv is not None:
                # The pipeline, never a DirectResponse: a tuple here is a step.
                return after_view(app, ctx, rv)
        return view_step(app, ctx, ctx._request)  # type: ignore[arg-type]
    except Exception as e:
        return after_view(app, ctx, None, e)


def _sequence_messages(
    response: Response, environ: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two messages of a response with a buffered body, by Werkzeug's rules
    (status, headers, HEAD); the response is closed once its body is taken."""
    headers = response.get_wsgi_headers(environ).to_wsgi_list()
    try:
        content = b"".join(response.get_app_iter(environ))
    finally:
        response.close()
    start = {
        "type": "http.response.start",
        "status": response.status_code,
        "headers": _asgi_headers(headers),
    }
    return start, {"type": "http.response.body", "body": content}


async def _send_with_context_held(
    ctx: AppContext,
    messages: tuple[dict[str, Any], dict[str, Any]],
    send: Send,
    thread: RequestRunner,
) -> None:
    """Send with the context inactive but held, then run its teardown (see above)."""
    ctx._pop_held()
    failure: BaseException | None = None
    try:
        await send(messages[0])
        await send(messages[1])
    except BaseException as e:
        failure = e
        raise
    finally:
        await ctx.arelease(failure, run_steps=thread.run_steps)


async def _preread(app: Kettle, scope: Scope, body: ASGIBody) -> None:
    length = _declared_length(scope)
    if length is not None and 0 < length <= PREREAD_LIMIT:
        limit = body.limit
        if limit is None or length <= limit:
            await body.read_all(limit)


def _body(ctx: AppContext) -> ASGIBody:
    """The request's body object (made now if it was not yet)."""
    return ctx._request._source()  # type: ignore[union-attr,return-value]


def _asgi_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    # PERF: a loop, not a comprehension (which makes a function per call), and the
    # names Kettle writes itself taken encoded from a table.
    encoded = []
    for name, value in headers:
        key = _ENCODED_NAMES.get(name) or name.lower().encode("latin-1")
        encoded.append((key, value.encode("latin-1")))
    return encoded


async def send_response(
    app: Kettle,
    response: Response | DirectResponse,
    ctx: AppContext,
    send: Send,
    thread: RequestThread,
) -> None:
    """Write a response as ASGI messages, streaming its body if it is an iterable."""
    messages = _plain_messages(response, ctx._request.method)  # type: ignore[union-attr]
    if messages is not None:
        await send(messages[0])
        await send(messages[1])
        return
    environ = ctx.request.environ
    await _send_general(app, response, environ, _body(ctx), send, thread)  # type: ignore[arg-type]


def _plain_messages(
    response: Response | DirectResponse, method: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The two ASGI messages of a direct or plain buffered response, else None.

    A plain call, not a coroutine: the usual responses are sent without one.
    """
    if isinstance(response, tuple):  # a DirectResponse
        content, content_type = response
        headers = [
            (
                b"content-type",
                _HTML_UTF8_BYTES
                if content_type is HTML_UTF8
                else content_type.encode("latin-1"),
            ),
            (b"content-length", b"%d" % len(content)),
        ]
        status = 200
        if method == "HEAD":
            content = b""
    elif is_plain_buffered(response):
        status = response._status_code
        headers = _asgi_headers(response.headers._list)
        chunks: list[bytes] = response.response  # type: ignore[assignment]  # checked
        content = b"" if method == "HEAD" else b"".join(chunks)
    else:
        return None
    start = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": content}


async def _send_general(
    app: Kettle,
    response: Response,
    environ: dict[str, Any],
    body: ASGIBody,
    send: Send,
    thread: RequestThread,
) -> None:
    """Any other response: Werkzeug's headers and body rules, streamed."""
    if response.is_sequence:
        start, end = _sequence_messages(response, environ)
        await send(start)
        await send(end)
        return
    headers = response.get_wsgi_headers(environ).to_wsgi_list()
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": _asgi_headers(headers),
        }
    )
    source = response.response
    if isinstance(source, AsyncIterable):
        chunks: Any = _encode_async(source)
        if environ["REQUEST_METHOD"] == "HEAD":
            await _close_async(chunks)
            chunks = _no_chunks()
    else:
        chunks = _iterate_in_thread(response.get_app_iter(environ), thread)
    await _stream_until_disconnect(chunks, body, send)


async def _no_chunks() -> Any:
    return
    yield b""


async def _encode_async(source: AsyncIterable[Any]) -> Any:
    try:
        async for chunk in source:
            yield chunk.encode() if isinstance(chunk, str) else chunk
    finally:
        await _close_async(source)


async def _close_async(iterable: Any) -> None:
    close = getattr(iterable, "aclose", None)
    if close is not None:
        await close()


async def _iterate_in_thread(iterable: Any, thread: RequestThread) -> Any:
    """Iterate a sync body in worker threads, closing it in one at the end."""
    iterator = iter(iterable)
    done = object()
    pending: Any = None
    try:
        while True:
            pending = asyncio.ensure_future(thread.run(next, iterator, done))
            chunk = await asyncio.shield(pending)
            if chunk is done:
                return
            yield chunk
    finally:
        if pending is not None and not pending.done():
            # Cancelled (the client left) while a thread runs next(): let it finish,
            # a generator cannot be closed while it is executing.
            await asyncio.gather(pending, return_exceptions=True)
        close = getattr(iterable, "close", None)
        if close is not None:
            await thread.run(close)


async def _stream_until_disconnect(chunks: Any, body: ASGIBody, send: Send) -> None:
    """Send the chunks; stop (and close the body) if the client goes away.

    The client is watched only once the request body has been received: until then
    the view may still be reading it.
    """
    streaming = asyncio.ensure_future(_send_chunks(chunks, send))
    watching = asyncio.ensure_future(body.wait_disconnect())
    try:
        await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (streaming, watching):
            if not task.done():
                task.cancel()
        await asyncio.gather(streaming, watching, return_exceptions=True)
        await chunks.aclose()
    if streaming.done() and not streaming.cancelled():
        error = streaming.exception()
        if error is not None and not isinstance(error, ClientDisconnected):
            raise error


async def _send_chunks(chunks: Any, send: Send) -> None:
    try:
        async for chunk in chunks:
            if chunk:
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError as e:  # the server reports a closed connection
        raise ClientDisconnected() from e
