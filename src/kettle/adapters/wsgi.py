"""The WSGI adapter: an environ in, the pipeline driven synchronously, bytes out."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from types import GeneratorType
from typing import TYPE_CHECKING, Any

from ..dispatch import run_request
from ..helpers import is_context_stream, stream_with_context
from ..wrappers import Response, buffered_parts

if TYPE_CHECKING:
    from ..app import Kettle
    from ..typing import StartResponse, WSGIEnvironment

__all__ = ["PRESERVE_CONTEXT_KEY", "run_dev_server", "serve_wsgi"]

#: An environ key whose value, a callable, receives the request's context before it
#: is popped; the receiver holds the context (see ``AppContext.retain``) and must
#: release it. The test client uses it for ``with client:``.
PRESERVE_CONTEXT_KEY = "kettle.preserve_context"


def serve_wsgi(
    app: Kettle, environ: WSGIEnvironment, start_response: StartResponse
) -> Iterable[bytes]:
    """Handle one WSGI request with ``app``."""
    ctx = app.request_context(environ)
    error: BaseException | None = None
    try:
        response = run_request(app, ctx)
        if not isinstance(response, tuple) and type(response.response) is not list:
            # A streamed body (a buffered one is a list).
            _keep_context_while_streaming(app, response)
        preserve = environ.get(PRESERVE_CONTEXT_KEY)
        if preserve is not None:
            ctx.retain()
            preserve(ctx)
        if isinstance(response, tuple):  # a DirectResponse
            body, content_type = response
            start_response(
                "200 OK",
                [("Content-Type", content_type), ("Content-Length", f"{len(body)}")],
            )
            return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
        parts = buffered_parts(response, environ["REQUEST_METHOD"])
        if parts is not None:
            start_response(parts[0], parts[1])
            return parts[2]
        return response(environ, start_response)
    except BaseException as e:
        error = e
        raise
    finally:
        if ctx._token is not None:  # still pushed
            ctx.pop(error)
        # The request refers to the environ and the environ to the request: break
        # the cycle, so both are freed now rather than by the garbage collector.
        if environ.get("werkzeug.request") is ctx._request:
            del environ["werkzeug.request"]


def _keep_context_while_streaming(app: Kettle, response: Response) -> None:
    """Make a streamed body run with the request's context, and teardown wait for it.

    The server iterates the body after this adapter returned; without this, a
    generator using ``request`` or ``g`` would find no context (as in Flask).
    """
    body = response.response
    if isinstance(body, AsyncIterable):
        # As under ASGI: iterated on this thread's loop.
        response.response = stream_with_context(_iterate_async(app, body))
    elif isinstance(body, GeneratorType) and not is_context_stream(body):
        response.response = stream_with_context(body)


_DONE: Any = object()


async def _next_chunk(iterator: AsyncIterator[Any]) -> Any:
    return await anext(iterator, _DONE)


def _iterate_async(app: Kettle, body: AsyncIterable[Any]) -> Iterator[Any]:
    """Iterate an async body on the calling thread's private event loop."""
    iterator = aiter(body)
    try:
        while (chunk := app._loops.run(_next_chunk(iterator))) is not _DONE:
            yield chunk
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            app._loops.run(aclose())


def run_dev_server(
    app: Kettle,
    host: str = "127.0.0.1",
    port: int = 5000,
    debug: bool | None = None,
    **options: Any,
) -> None:
    """Serve ``app`` with Werkzeug's development server (not in production)."""
    from werkzeug.serving import run_simple

    if debug is not None:
        app.debug = bool(debug)
    options.setdefault("use_reloader", app.debug)
    options.setdefault("use_debugger", app.debug)
    options.setdefault("threaded", True)
    run_simple(host, port, app, **options)
