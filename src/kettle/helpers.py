"""Helpers for views: URLs, responses, redirects, aborts, files, streams, flashes."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, NoReturn

from werkzeug.exceptions import abort as _werkzeug_abort
from werkzeug.utils import redirect as _werkzeug_redirect
from werkzeug.utils import send_file as _werkzeug_send_file
from werkzeug.utils import send_from_directory as _werkzeug_send_from_directory

from . import signals
from .errors import ContextError
from .globals import _cv_app, current_app, request, session
from .scaffold import get_root_path as get_root_path

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as BaseResponse

    from .ctx import AppContext
    from .wrappers import Response

__all__ = [
    "abort",
    "flash",
    "get_debug_flag",
    "get_flashed_messages",
    "get_load_dotenv",
    "get_root_path",
    "get_template_attribute",
    "make_response",
    "redirect",
    "send_file",
    "send_from_directory",
    "stream_with_context",
    "url_for",
]


_TRUE = ("1", "true", "yes", "on")


def get_debug_flag() -> bool:
    """Whether the ``KETTLE_DEBUG`` environment variable turns debug mode on."""
    return os.environ.get("KETTLE_DEBUG", "").lower() in _TRUE


def get_load_dotenv(default: bool = True) -> bool:
    """Whether the CLI should load ``.env`` files (``KETTLE_SKIP_DOTENV`` says no)."""
    value = os.environ.get("KETTLE_SKIP_DOTENV")
    if not value:
        return default
    return value.lower() not in _TRUE


def url_for(
    endpoint: str,
    *,
    _anchor: str | None = None,
    _method: str | None = None,
    _scheme: str | None = None,
    _external: bool | None = None,
    **values: Any,
) -> str:
    """Build the URL of ``endpoint`` with ``values`` as rule arguments or query string.

    During a request the URL is relative (``/path``) unless ``_external=True``;
    outside one it is absolute and needs ``SERVER_NAME``. An endpoint starting with
    ``.`` is relative to the current request's blueprint.
    """
    return current_app.url_for(
        endpoint,
        _anchor=_anchor,
        _method=_method,
        _scheme=_scheme,
        _external=_external,
        **values,
    )


def make_response(*args: Any) -> Response:
    """Turn view-style return values into a response object you can change."""
    if not args:
        return current_app.response_class()
    if len(args) == 1:
        return current_app.make_response(args[0])
    return current_app.make_response(args)


def redirect(
    location: str,
    code: int = 303,
    Response: type[BaseResponse] | None = None,  # noqa: N803 -- Flask's spelling
) -> BaseResponse:
    """A redirect response to ``location``; 303 See Other by default."""
    ctx = _cv_app.get(None)
    if ctx is not None and Response is None:
        return ctx.app.redirect(location, code=code)
    return _werkzeug_redirect(location, code=code, Response=Response)


def abort(code: int | BaseResponse, *args: Any, **kwargs: Any) -> NoReturn:
    """Raise the ``HTTPException`` for ``code`` (or one wrapping a response)."""
    _werkzeug_abort(code, *args, **kwargs)


def send_file(path_or_file: Any, **kwargs: Any) -> Response:
    """Send a file's contents to the client; see Werkzeug's ``send_file``.

    Keyword arguments (``mimetype``, ``as_attachment``, ``download_name``,
    ``conditional``, ``etag``, ``last_modified``, ``max_age``) go to Werkzeug.
    """
    app = current_app
    kwargs.setdefault("max_age", app.get_send_file_max_age)
    return _werkzeug_send_file(  # type: ignore[return-value]
        path_or_file,
        request.environ,
        use_x_sendfile=app.config["USE_X_SENDFILE"],
        response_class=app.response_class,
        _root_path=app.root_path,
        **kwargs,
    )


def send_from_directory(
    directory: os.PathLike[str] | str, path: os.PathLike[str] | str, **kwargs: Any
) -> Response:
    """Send a file from ``directory``, refusing paths that escape it (404)."""
    app = current_app
    kwargs.setdefault("max_age", app.get_send_file_max_age)
    return _werkzeug_send_from_directory(  # type: ignore[return-value]
        directory,
        path,
        request.environ,
        use_x_sendfile=app.config["USE_X_SENDFILE"],
        response_class=app.response_class,
        _root_path=app.root_path,
        **kwargs,
    )


def stream_with_context(
    generator_or_function: Iterable[Any] | Callable[..., Iterable[Any]],
) -> Any:
    """Keep the current context for a streamed body, as an iterator or a decorator.

    The body is produced with the context active, and its teardown waits until the
    body is exhausted or closed. Unlike Flask, the context is not left active in the
    server's thread between chunks.
    """
    try:
        iterator = iter(generator_or_function)  # type: ignore[arg-type]
    except TypeError:
        func: Callable[..., Iterable[Any]] = generator_or_function  # type: ignore[assignment]

        def decorator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return stream_with_context(func(*args, **kwargs))  # type: ignore[no-any-return]

        return update_wrapper(decorator, func)
    ctx = _cv_app.get(None)
    if ctx is None:
        raise ContextError(
            "'stream_with_context' can only be used while a context is active, for"
            " example in a view function; no context is active in this thread or task."
        )
    ctx.retain()
    stream = _stream(ctx, contextvars.copy_context(), iterator)
    next(stream)  # into its try block: closed unstarted (HEAD), it still releases
    return stream


def is_context_stream(iterable: object) -> bool:
    """Whether ``iterable`` was made by :func:`stream_with_context`."""
    return getattr(iterable, "gi_code", None) is _stream.__code__


def _stream(
    ctx: AppContext, runner: contextvars.Context, iterator: Iterator[Any]
) -> Iterator[Any]:
    error: BaseException | None = None
    try:
        yield None  # the priming step of stream_with_context
        while True:
            try:
                chunk = runner.run(next, iterator)
            except StopIteration:
                return
            yield chunk
    except GeneratorExit:
        raise
    except BaseException as e:
        error = e
        raise
    finally:
        close = getattr(iterator, "close", None)
        try:
            if close is not None:
                runner.run(close)
        finally:
            ctx.release(error)


def get_template_attribute(template_name: str, attribute: str) -> Any:
    """A macro or variable defined in a template, to call from Python code."""
    module = current_app.jinja_env.get_template(template_name).module
    return getattr(module, attribute)


def flash(message: str, category: str = "message") -> None:
    """Store a message in the session, to show on the next page that reads them."""
    flashes = session.get("_flashes", [])
    flashes.append((category, message))
    session["_flashes"] = flashes
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if signals.message_flashed.receivers:
        signals.message_flashed.send(
            app, _async_wrapper=app.ensure_sync, message=message, category=category
        )


def get_flashed_messages(
    with_categories: bool = False, category_filter: Iterable[str] = ()
) -> list[str] | list[tuple[str, str]]:
    """Take the flashed messages out of the session (once per request).

    With ``with_categories`` each item is ``(category, message)``; with a
    ``category_filter`` only those categories are returned.
    """
    ctx = _cv_app.get(None)
    if ctx is None or ctx._request is None:
        raise ContextError("get_flashed_messages needs an active request.")
    flashes = ctx._flashes
    if flashes is None:
        flashes = ctx._flashes = (
            session.pop("_flashes", []) if "_flashes" in session else []
        )
    if category_filter:
        allowed = set(category_filter)
        flashes = [item for item in flashes if item[0] in allowed]
    if with_categories:
        return flashes
    return [message for _, message in flashes]
