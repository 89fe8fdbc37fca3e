"""The request pipeline, written once and driven from sync or async code.

Each stage is a generator. Whenever it needs a user callable run (a view, a hook,
an error handler) it yields a step ``(func, args, kwargs)`` and receives the result,
or has the callable's exception thrown back in. A driver runs the steps: the sync
driver here calls them directly and runs coroutines on the thread's private loop;
the ASGI adapter's driver awaits coroutines and sends sync callables to a worker
thread. Hook order, error handling and the valid return values of a view are
therefore each written exactly once.

The order of one request::

    push the context          (signal appcontext_pushed, URL matching)
    request_started signal
    url_value_preprocessors   app, then blueprints outermost to innermost
    before_request            same order; the first non-None return ends dispatch
    view                      or the routing error, or the automatic OPTIONS reply
    error handlers            for an exception raised by any of the above
    make_response
    after_this_request        in registration order
    after_request             blueprints innermost to outermost, then app; reversed
    save the session          only if it was opened
    request_finished signal

An exception escaping that (or raised by an error handler) goes to
``handle_exception``: the got_request_exception signal, then either propagation
(``PROPAGATE_EXCEPTIONS``, testing, debug) or a logged 500 through its handlers.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, Callable, Generator, Iterator, Mapping
from types import CoroutineType, GeneratorType
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.datastructures import Headers
from werkzeug.exceptions import (
    BadRequest,
    BadRequestKeyError,
    HTTPException,
    InternalServerError,
)
from werkzeug.routing import RoutingException, WebsocketMismatch
from werkzeug.wrappers import Response as BaseResponse

from . import signals
from .json.provider import DefaultJSONProvider
from .websocket import WebsocketDisconnect
from .wrappers import (
    HTML_UTF8,
    DirectResponse,
    Response,
    UnbuiltResponse,
)

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext
    from .wrappers import Request

__all__ = [
    "Step",
    "after_view",
    "drive",
    "finalize_response",
    "find_error_handler",
    "handle_exception",
    "handle_request",
    "handle_user_exception",
    "handle_websocket",
    "make_response",
    "run_request",
    "run_view",
    "start_request",
    "view_returned",
]

T = TypeVar("T")
#: A user callable to run, with its positional and keyword arguments.
Step = tuple[Callable[..., Any], tuple[Any, ...], Mapping[str, Any]]
Pipeline = Generator[Step, Any, T]

_NO_KWARGS: Mapping[str, Any] = {}
_WEBSOCKET_ONLY = (
    "This URL accepts WebSocket connections only. Kettle serves WebSockets through"
    " its ASGI entry point (app.asgi, for example `uvicorn module:app.asgi`); a"
    " plain HTTP request, or any request through a WSGI server, cannot open one."
)


# -- drivers -----------------------------------------------------------------------


def drive(app: Kettle, pipeline: Pipeline[T]) -> T:
    """Run a pipeline synchronously: call each step, run coroutines to completion."""
    # PERF: called for every WSGI request; kept flat.
    send = pipeline.send
    try:
        step = send(None)
        while True:
            func, args, kwargs = step
            try:
                result = func(*args, **kwargs)
                if type(result) is CoroutineType:
                    result = app._loops.run(result)
            except Exception as e:
                step = pipeline.throw(e)
            else:
                step = send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


# -- the request -------------------------------------------------------------------


def handle_request(app: Kettle, ctx: AppContext) -> Pipeline[Response | DirectResponse]:
    """Push ``ctx`` and handle its request, returning the final response.

    An exception that no error handler dealt with is recorded on the context, for
    its teardown functions, even when it was turned into a 500 response.
    """
    first = start_request(app, ctx)
    if isinstance(first, tuple):
        return (yield from run_view(app, ctx, first))
    if isinstance(first, list):  # nothing has run yet: the before-request steps too
        return (yield from run_view(app, ctx))
    return (yield from first)


def run_request(app: Kettle, ctx: AppContext) -> Response | DirectResponse:
    """:func:`handle_request` driven synchronously (see :func:`drive`).

    When the view is the only step, or only app-wide before-request functions come
    before it, they are called here, without the pipeline.
    """
    first = start_request(app, ctx)
    if type(first) is GeneratorType:
        return drive(app, first)  # type: ignore[no-any-return]
    rv = None
    try:
        step: Step | None = None
        if isinstance(first, list):
            # The app's before-request functions, then (if all return None) the view.
            for before in first:
                rv = before()
                if type(rv) is CoroutineType:
                    rv = app._loops.run(rv)
                if rv is not None:
                    break
            else:
                step = view_step(app, ctx, ctx._request)  # type: ignore[arg-type]
        else:
            step = first  # type: ignore[assignment]  # a tuple: the view's step
        if step is not None:
            func, args, kwargs = step
            # PERF: a plain call, when there is nothing to unpack, is ~400 instructions
            # cheaper than one with * and ** (CPython runs it in the same eval loop).
            rv = func(*args, **kwargs) if args or kwargs else func()
            if type(rv) is CoroutineType:
                rv = app._loops.run(rv)
    except Exception as e:
        return drive(app, after_view(app, ctx, None, e))
    outcome = view_returned(app, ctx, rv)
    if type(outcome) is GeneratorType:
        return drive(app, outcome)  # type: ignore[no-any-return]
    return outcome  # type: ignore[return-value]


def start_request(
    app: Kettle, ctx: AppContext
) -> Step | list[Callable[[], Any]] | Pipeline[Response | DirectResponse]:
    """Push ``ctx`` and begin handling its request.

    When the view is all that runs before the response (no URL value
    preprocessor, before-request function or ``request_started`` receiver, and
    the URL matched a rule), return the view's step: the driver runs it and hands
    its result to :func:`view_returned`, or its exception to :func:`after_view`.
    When only app-wide before-request functions run before it, return their list:
    the driver calls them in order; the first result that is not None stands for
    the view's, and when there is none it runs :func:`view_step` as above.
    Otherwise return the pipeline that handles the rest of the request.
    """
    try:
        ctx.push()
        if not app._got_first_request:
            app._got_first_request = True
    except Exception as e:
        return _failed(app, ctx, e)
    req: Request = ctx._request  # type: ignore[assignment]
    # PERF: with a matched URL and nothing before the view but app-wide
    # before-request functions, the driver calls them and the view without a
    # pipeline.
    if (
        app.url_value_preprocessors
        or signals.request_started.receivers
        or req.routing_exception is not None
    ):
        return run_view(app, ctx)
    befores = app.before_request_funcs
    if befores:
        # Blueprint functions too: the pipeline works out which apply, in order.
        if len(befores) != 1 or None not in befores:
            return run_view(app, ctx)
        return befores[None]
    try:
        return view_step(app, ctx, req)
    except Exception as e:
        return after_view(app, ctx, None, e)


def run_view(
    app: Kettle, ctx: AppContext, step: Step | None = None
) -> Pipeline[Response | DirectResponse]:
    """The rest of the request after :func:`start_request`: the view's ``step`` it
    returned, or (without one) the ``request_started`` signal, the preprocessors
    and before-request functions, then the view; then everything after the view.
    """
    req: Request = ctx._request  # type: ignore[assignment]
    try:
        if step is not None:
            rv = yield step
        else:
            if signals.request_started.receivers:
                signals.request_started.send(app, _async_wrapper=app.ensure_sync)
            rv = None
            if app.url_value_preprocessors or app.before_request_funcs:
                rv = yield from preprocess(app, req)
            if rv is None:
                rv = yield view_step(app, ctx, req)
    except Exception as e:
        return (yield from after_view(app, ctx, None, e))
    outcome = view_returned(app, ctx, rv)
    if type(outcome) is GeneratorType:
        return (yield from outcome)  # type: ignore[no-any-return]
    return outcome  # type: ignore[return-value]


def after_view(
    app: Kettle, ctx: AppContext, rv: Any, error: Exception | None = None
) -> Pipeline[Response | DirectResponse]:
    """Everything after the view returned ``rv`` or raised ``error``: the error
    handlers, then the response and the after-request functions."""
    try:
        if error is not None:
            rv = yield from _user_exception(app, ctx, error)
        direct = _direct_response(app, ctx, rv)
        if direct is not None:
            return direct
        return (yield from finalize_response(app, ctx, rv))
    except Exception as e:
        return (yield from _failed(app, ctx, e))


def view_returned(
    app: Kettle, ctx: AppContext, rv: Any
) -> Response | DirectResponse | Pipeline[Response | DirectResponse]:
    """The final response when the view's return value ``rv`` needs no more user
    code; otherwise the pipeline (:func:`after_view`) that makes it."""
    try:
        direct = _direct_response(app, ctx, rv)
    except Exception as e:
        return _failed(app, ctx, e)
    if direct is not None:
        return direct
    return after_view(app, ctx, rv)


def _failed(
    app: Kettle, ctx: AppContext, e: Exception
) -> Pipeline[Response | DirectResponse]:
    """An exception that no error handler dealt with: recorded, then the 500."""
    ctx._record_error(e)
    return (yield from _exception(app, ctx, e))


def handle_websocket(app: Kettle, ctx: AppContext) -> Pipeline[int]:
    """Push ``ctx`` and run the WebSocket view of its URL; return the close code.

    1000 after the view returned, 1008 when the URL matches no WebSocket route, 1011
    after an error (logged, or raised when exceptions propagate).
    """
    ctx.push()
    if not app._got_first_request:
        app._got_first_request = True
    req: Request = ctx._request  # type: ignore[assignment]
    if req.routing_exception is not None:
        return 1008
    try:
        for scope in _scopes_outer_first(req):
            for preprocessor in app.url_value_preprocessors.get(scope, ()):
                preprocessor(req.endpoint, req.view_args)
        yield view_step(app, ctx, req)
    except WebsocketDisconnect:
        raise
    except Exception as e:
        ctx._record_error(e)
        if signals.got_request_exception.receivers:
            signals.got_request_exception.send(
                app, _async_wrapper=app.ensure_sync, exception=e
            )
        if _should_propagate(app):
            raise
        app.log_exception(ctx, (type(e), e, e.__traceback__))
        return 1011
    return 1000


_APP_ONLY: tuple[str | None, ...] = (None,)


def _scopes_outer_first(req: Request) -> tuple[str | None, ...]:
    blueprints = req.blueprints
    if not blueprints:
        return (None,)
    return (None, *reversed(blueprints))


def _scopes_inner_first(req: Request) -> tuple[str | None, ...]:
    blueprints = req.blueprints
    if not blueprints:
        return (None,)
    return (*blueprints, None)


def preprocess(app: Kettle, req: Request) -> Pipeline[Any]:
    """Run the URL value preprocessors, then the before-request functions."""
    # PERF: with only app-wide hooks (no key but None), the request's blueprints
    # need not be found.
    funcs = app.before_request_funcs
    if app.url_value_preprocessors or len(funcs) - (None in funcs):
        scopes = _scopes_outer_first(req)
    else:
        scopes = _APP_ONLY
    for scope in scopes:
        for preprocessor in app.url_value_preprocessors.get(scope, ()):
            preprocessor(req.endpoint, req.view_args)
    for scope in scopes:
        for before in app.before_request_funcs.get(scope, ()):
            rv = yield before, (), _NO_KWARGS
            if rv is not None:
                return rv
    return None


def view_step(app: Kettle, ctx: AppContext, req: Request) -> Step:
    """The call that answers the matched rule: the view, or the automatic OPTIONS.

    Raises the routing error (404, 405, redirect) when the URL did not match.
    """
    error = req.routing_exception
    if error is not None:
        if isinstance(error, WebsocketMismatch):
            raise BadRequest(_WEBSOCKET_ONLY) from None
        raise error
    rule = req.url_rule
    assert rule is not None  # matching sets a rule or an error
    if req.method == "OPTIONS" and getattr(rule, "provide_automatic_options", False):
        return app.make_default_options_response, (ctx,), _NO_KWARGS
    return app.view_functions[rule.endpoint], (), req.view_args or _NO_KWARGS


# -- errors ------------------------------------------------------------------------


def find_error_handler(
    app: Kettle, e: BaseException, blueprints: list[str]
) -> Callable[[Any], Any] | None:
    """The most specific handler of ``e``: by code, then by MRO; innermost first."""
    exc_class = type(e)
    code = e.code if isinstance(e, HTTPException) else None
    scopes = (*blueprints, None)
    for c in (code, None) if code is not None else (None,):
        for scope in scopes:
            by_class = app.error_handler_spec.get(scope, {}).get(c)
            if not by_class:
                continue
            for cls in exc_class.__mro__:
                handler = by_class.get(cls)
                if handler is not None:
                    return handler
    return None


def _blueprints_of(ctx: AppContext) -> list[str]:
    req = ctx._request
    return [] if req is None else req.blueprints


def handle_http_exception(
    app: Kettle, ctx: AppContext, e: HTTPException
) -> Pipeline[Any]:
    """Find and call the handler of an HTTP error; the error itself is the default."""
    if e.code is None or isinstance(e, RoutingException):
        return e
    handler = find_error_handler(app, e, _blueprints_of(ctx))
    if handler is None:
        return e
    return (yield handler, (e,), _NO_KWARGS)


def _trapped(app: Kettle, e: HTTPException) -> bool:
    """Whether an HTTP error should be raised like any other error (config TRAP_*)."""
    config = app.config
    if config["TRAP_HTTP_EXCEPTIONS"]:
        return True
    trap_bad_request = config["TRAP_BAD_REQUEST_ERRORS"]
    if trap_bad_request is None and app.debug and isinstance(e, BadRequestKeyError):
        return True
    if trap_bad_request:
        return e.code == 400
    return False


def handle_user_exception(app: Kettle, ctx: AppContext, e: Exception) -> Pipeline[Any]:
    """Handle an exception raised while dispatching; re-raise it if unhandled."""
    if isinstance(e, BadRequestKeyError) and (
        app.debug or app.config["TRAP_BAD_REQUEST_ERRORS"]
    ):
        e.show_exception = True
    if isinstance(e, HTTPException) and not _trapped(app, e):
        return (yield from handle_http_exception(app, ctx, e))
    handler = find_error_handler(app, e, _blueprints_of(ctx))
    if handler is None:
        raise e
    return (yield handler, (e,), _NO_KWARGS)


def _user_exception(app: Kettle, ctx: AppContext, e: Exception) -> Pipeline[Any]:
    # An extension may have replaced the method on the instance (Flask-CORS does);
    # honour that by calling it as a user callable.
    override = app.__dict__.get("handle_user_exception")
    if override is not None:
        return (yield override, (e,), _NO_KWARGS)
    return (yield from handle_user_exception(app, ctx, e))


def _should_propagate(app: Kettle) -> bool:
    propagate = app.config["PROPAGATE_EXCEPTIONS"]
    if propagate is not None:
        return bool(propagate)
    return bool(app.testing or app.debug)


def handle_exception(app: Kettle, ctx: AppContext, e: Exception) -> Pipeline[Response]:
    """Turn an unhandled exception into a logged 500, or let it propagate."""
    if signals.got_request_exception.receivers:
        signals.got_request_exception.send(
            app, _async_wrapper=app.ensure_sync, exception=e
        )
    if _should_propagate(app):
        raise e
    app.log_exception(ctx, (type(e), e, e.__traceback__))
    server_error = InternalServerError(original_exception=e)
    handler = find_error_handler(app, server_error, _blueprints_of(ctx))
    rv: Any = server_error
    if handler is not None:
        rv = yield handler, (server_error,), _NO_KWARGS
    return (yield from finalize_response(app, ctx, rv, from_error_handler=True))


def _exception(
    app: Kettle, ctx: AppContext, e: Exception
) -> Pipeline[Response | DirectResponse]:
    override = app.__dict__.get("handle_exception")
    if override is not None:
        rv = yield override, (e,), _NO_KWARGS
        return make_response(app, rv, ctx)
    return (yield from handle_exception(app, ctx, e))


# -- the response ------------------------------------------------------------------


def _direct_response(
    app: Kettle, ctx: AppContext, rv: Any
) -> DirectResponse | Response | None:
    """A :class:`DirectResponse` for a plain str or dict, or the view's own
    :class:`Response`, when nothing but the client will see the response object.

    Otherwise None: :func:`finalize_response` builds the response object.
    """
    kind = type(rv)
    if (
        (
            kind is not str
            and kind is not dict
            and kind is not Response
            and kind is not UnbuiltResponse
        )
        or app.response_class is not Response
        or ctx._session is not None
        or ctx._after_request_functions
        or ctx._response_hooks
        or app.after_request_funcs
        or signals.request_finished.receivers
    ):
        return None
    if kind is str:
        return rv.encode(), HTML_UTF8
    if kind is dict:
        provider = app.json
        if type(provider).response is not DefaultJSONProvider.response:
            return None
        body, content_type = provider.encode_response(rv)
        return body.encode(), content_type
    # A response object is already final: finalize_response would change nothing.
    if kind is UnbuiltResponse:  # jsonify's: sent as it was made if left alone
        state = rv.__dict__
        if len(state) == 1:  # nothing but its _unbuilt parts: untouched
            return state["_unbuilt"]  # type: ignore[no-any-return]
    return rv  # type: ignore[no-any-return]


def finalize_response(
    app: Kettle, ctx: AppContext, rv: Any, from_error_handler: bool = False
) -> Pipeline[Response]:
    """Make the response, run the after-request functions, save the session.

    After an error handler (``from_error_handler``), an error raised here is logged
    rather than raised, so that the error response still goes out.
    """
    response = make_response(app, rv, ctx)
    try:
        if ctx._after_request_functions or app.after_request_funcs:
            response = yield from process_response(app, ctx, response)
        if ctx._session is not None:
            save_session(app, ctx, response)
        if signals.request_finished.receivers:
            signals.request_finished.send(
                app, _async_wrapper=app.ensure_sync, response=response
            )
        hooks = ctx._response_hooks
        if hooks:
            ctx._response_hooks = None
            for hook in hooks:
                response = yield hook, (response,), _NO_KWARGS
    except Exception:
        if not from_error_handler:
            raise
        app.logger.exception(
            "Request finalizing failed with an error while handling an error"
        )
    return response


def process_response(
    app: Kettle, ctx: AppContext, response: Response
) -> Pipeline[Response]:
    """Pass the response through the after-this-request and after-request functions."""
    # Taken, not just read: they run once, not again for the 500 of a failed finalize.
    funcs, ctx._after_request_functions = ctx._after_request_functions, ()
    for func in funcs:
        response = yield func, (response,), _NO_KWARGS
    req = ctx._request
    scopes = (None,) if req is None else _scopes_inner_first(req)
    for scope in scopes:
        for func in reversed(app.after_request_funcs.get(scope, ())):
            response = yield func, (response,), _NO_KWARGS
    return response


def save_session(app: Kettle, ctx: AppContext, response: Response) -> None:
    """Save an opened session into the response, unless it is the null session."""
    interface = app.session_interface
    session = ctx._session
    if session is not None and not interface.is_null_session(session):
        interface.save_session(app, session, response)


def make_response(app: Kettle, rv: Any, ctx: AppContext | None = None) -> Response:
    """Convert what a view returned into the app's response class.

    Accepted: a response object, ``str``/``bytes`` (the body), a ``dict`` or
    ``list`` (JSON), an iterator or generator, sync or async (a streamed body), a
    WSGI callable, or
    a tuple ``(body, status)``, ``(body, headers)`` or ``(body, status, headers)``.
    """
    status: Any = None
    headers: Any = None
    response: Response
    if type(rv) is tuple:
        rv, status, headers = _unpack_tuple(rv)
    cls = app.response_class
    if type(rv) is not cls:
        if isinstance(rv, (str, bytes, bytearray, Iterator, AsyncIterable)):
            return cls(rv, status=status, headers=headers)
        response = _convert_other(app, rv, ctx)
    else:
        response = rv
    if status is not None:
        if isinstance(status, (str, bytes, bytearray)):
            response.status = status  # type: ignore[assignment]
        else:
            response.status_code = status
    if headers:
        response.headers.update(headers)
    return response


def _unpack_tuple(rv: tuple[Any, ...]) -> tuple[Any, Any, Any]:
    size = len(rv)
    if size == 3:
        body, status, headers = rv
        return body, status, headers
    if size == 2:
        body, extra = rv
        if isinstance(extra, (Headers, dict, tuple, list)):
            return body, None, extra
        return body, extra, None
    raise TypeError(
        "A view returned a tuple of the wrong size: it must be (body, status),"
        " (body, headers) or (body, status, headers)."
    )


def _convert_other(app: Kettle, rv: Any, ctx: AppContext | None) -> Response:
    cls = app.response_class
    if isinstance(rv, cls):
        return rv
    if rv is None:
        raise TypeError(
            f"The view function for {_endpoint(ctx)!r} did not return a valid"
            " response: it returned None or ended without a return statement."
        )
    if isinstance(rv, (dict, list)):
        return app.json.response(rv)
    if isinstance(rv, HTTPException):
        environ = None if ctx is None or ctx._request is None else ctx._request.environ
        return cls.force_type(rv.get_response(environ))  # type: ignore[return-value]
    if isinstance(rv, BaseResponse) or callable(rv):
        environ = None if ctx is None or ctx._request is None else ctx._request.environ
        try:
            return cls.force_type(rv, environ)  # type: ignore[return-value]
        except TypeError as e:
            raise TypeError(
                f"{e}\nThe view function for {_endpoint(ctx)!r} did not return a valid"
                " response: a callable return value must be a WSGI application."
            ).with_traceback(sys.exc_info()[2]) from None
    raise TypeError(
        f"The view function for {_endpoint(ctx)!r} did not return a valid response:"
        f" {type(rv).__name__} is not one of str, bytes, dict, list, tuple, an"
        " iterator, a Response or a WSGI callable."
    )


def _endpoint(ctx: AppContext | None) -> str | None:
    if ctx is None or ctx._request is None:
        return None
    return ctx._request.endpoint
