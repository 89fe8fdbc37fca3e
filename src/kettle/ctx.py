"""The unified context: one ``AppContext`` for app, request, session and ``g``.

A context is *active* in a thread or task while it is the value of
:data:`kettle.globals._cv_app` there; ``push()`` and ``pop()`` make it so, by token,
and nest. Separately, a context has a *lifetime*: its teardown functions run once,
when the last holder lets go. Every push holds it, and so do work that outlives the
view (a streamed body, a function handed to a thread) and a test client that keeps
the last request's context. That split is what lets a body stream, or a background
function run, with the same ``g`` and session after the view returned, and the
teardown run after them, exactly once.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import signals
from .errors import ContextError, ContextPopError
from .globals import _cv_app
from .teardown import has_teardown, run_steps, teardown_steps

if TYPE_CHECKING:
    from werkzeug.routing import MapAdapter

    from .app import Kettle
    from .dispatch import Step
    from .sessions import SessionMixin
    from .typing import AfterRequestCallable, WSGIEnvironment
    from .websocket import Websocket
    from .wrappers import Request

__all__ = [
    "AppContext",
    "AppCtxGlobals",
    "RequestContext",
    "after_this_request",
    "copy_current_request_context",
    "has_app_context",
    "has_request_context",
]

P = ParamSpec("P")
#: Runs teardown steps (see :mod:`kettle.teardown`) from async code; returns errors.
StepRunner = Callable[[Iterator["Step"]], Awaitable[list[BaseException]]]
R = TypeVar("R")
_MISSING: Any = object()
_new_object = object.__new__


class AppCtxGlobals:
    """The ``g`` namespace: a fresh, empty one for every context.

    Store anything on it for the duration of one request or one app context, such as
    a database connection that a teardown function closes.
    """

    def get(self, name: str, default: Any = None) -> Any:
        """Return the value of ``name``, or ``default`` when it is not set."""
        return self.__dict__.get(name, default)

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        """Remove ``name`` and return its value; without a default, raise KeyError."""
        if default is _MISSING:
            return self.__dict__.pop(name)
        return self.__dict__.pop(name, default)

    def setdefault(self, name: str, default: Any = None) -> Any:
        """Return the value of ``name``, setting it to ``default`` first if unset."""
        return self.__dict__.setdefault(name, default)

    def _get_current_object(self) -> AppCtxGlobals:
        # What the g proxy's _get_current_object() returns (see kettle.proxy), also
        # for a subclass whose __getattr__ answers every name.
        return self

    def __contains__(self, name: object) -> bool:
        return name in self.__dict__

    def __iter__(self) -> Iterator[str]:
        return iter(self.__dict__)

    def __repr__(self) -> str:
        ctx = _cv_app.get(None)
        if ctx is not None and ctx._g is self:
            return f"<kettle.g of {ctx.app.name!r}: {sorted(self.__dict__)}>"
        return f"<kettle.g {sorted(self.__dict__)}>"


#: The name Flask gives this class.
_AppCtxGlobals = AppCtxGlobals


class AppContext:
    """The state of one application context, with or without a request.

    ``app.app_context()`` makes one without a request (for CLI commands, scripts and
    tests); every request gets a fresh one with its request, even when another context
    is already active. The session is opened through ``app.session_interface`` the
    first time it is used, and the URL adapter is built the first time it is needed.
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_after_request_functions",
        "_depth",
        "_exc",
        "_g",
        "_holds",
        "_lock",
        "_request",
        "_response_hooks",
        "_session",
        "_token",
        "_torn_down",
        "_websocket",
        "app",
    )
    # PERF: seldom set, so defaults here rather than a store per context.
    _url_adapter: MapAdapter | None = None
    _flashes: list[Any] | None = None
    _pushed_at: str | None = None

    # What each context holds; _fill sets them all.
    app: Kettle
    _g: AppCtxGlobals | None
    _request: Request | None
    _session: SessionMixin | None
    _websocket: Websocket | None
    _after_request_functions: tuple[AfterRequestCallable, ...]
    _response_hooks: list[AfterRequestCallable] | None
    _token: contextvars.Token[AppContext] | None
    _depth: int
    _holds: int
    _torn_down: bool
    _exc: BaseException | None
    _lock: threading.Lock

    def __init__(
        self,
        app: Kettle,
        *,
        request: Request | None = None,
        session: SessionMixin | None = None,
    ) -> None:
        _fill(self, app, request, session)

    @classmethod
    def from_environ(cls, app: Kettle, environ: WSGIEnvironment) -> AppContext:
        """Build the context for the request described by a WSGI environ."""
        return cls(app, request=app.request_class(environ))

    # -- what the context holds ------------------------------------------------------

    @property
    def has_request(self) -> bool:
        """Whether this context was made for a request."""
        return self._request is not None

    @property
    def request(self) -> Request:
        """The request of this context; a ``RuntimeError`` if it has none."""
        req = self._request
        if req is None:
            raise ContextError(
                f"There is no request in this context ({self!r}): it is an application"
                " context. Use `app.test_request_context()` to simulate a request."
            )
        return req

    @property
    def session(self) -> SessionMixin:
        """The session of this context's request, opened on first use.

        Every access marks the session as accessed, so that the response varies on
        the session cookie.
        """
        session = self._session
        if session is None:
            self.request  # noqa: B018 -- raises the "no request" error
            session = self._open_session()
        session.accessed = True
        return session

    def _open_session(self) -> SessionMixin:
        interface = self.app.session_interface
        session = interface.open_session(self.app, self.request)
        if session is None:
            session = interface.make_null_session(self.app)
        self._session = session
        return session

    @property
    def g(self) -> AppCtxGlobals:
        """This context's ``g`` namespace (``app.app_ctx_globals_class``)."""
        g = self._g
        if g is None:
            g = self._g = self.app.app_ctx_globals_class()
        return g

    @g.setter
    def g(self, namespace: AppCtxGlobals) -> None:
        self._g = namespace

    @property
    def url_adapter(self) -> MapAdapter | None:
        """The URL adapter for matching and building, built on first use.

        Bound to the request when there is one; otherwise built from ``SERVER_NAME``,
        ``APPLICATION_ROOT`` and ``PREFERRED_URL_SCHEME``, or None when ``SERVER_NAME``
        is not set.
        """
        adapter = self._url_adapter
        if adapter is None:
            adapter = self._url_adapter = self.app.create_url_adapter(self._request)
        return adapter

    @url_adapter.setter
    def url_adapter(self, adapter: MapAdapter | None) -> None:
        self._url_adapter = adapter

    @property
    def is_pushed(self) -> bool:
        """Whether this context is currently pushed (active in some thread or task)."""
        return self._token is not None

    def _record_error(self, exc: BaseException) -> None:
        """Remember the unhandled error of the request, for the teardown functions."""
        if self._exc is None:
            self._exc = exc

    def match_request(self) -> None:
        """Match the request's URL, setting ``url_rule`` and ``view_args`` on it.

        A routing failure (404, 405, a redirect) is stored on
        ``request.routing_exception`` and raised later, during dispatch.
        """
        self.app.match_request(self, self.request)

    def copy(self) -> AppContext:
        """A new, unpushed context with the same app, request and session; a fresh g."""
        return type(self)(self.app, request=self._request, session=self._session)

    # -- activation ------------------------------------------------------------------

    def push(self) -> None:
        """Make this context the active one in the current thread or task.

        Pushing a context that is already active here only counts the nesting; pop it
        as many times. A request context matches its URL when first pushed.
        """
        if self._token is not None:
            if _cv_app.get(None) is self:
                self._depth += 1
                return
            raise ContextError(
                f"Cannot push {self!r}: it is already pushed in another thread or task,"
                " or below another context. To use it elsewhere, hand it over with"
                " `kettle.copy_current_request_context`."
            )
        if self._holds == 0:  # PERF: _hold() inline for a fresh context
            self._torn_down = False
            self._exc = None
            self._holds = 1
        else:
            self._hold()
        self._token = _cv_app.set(self)
        self._depth = 1
        if self.app._record_push_sites:  # config DEBUG or TESTING
            self._pushed_at = _caller_site()
        if signals.appcontext_pushed.receivers:
            signals.appcontext_pushed.send(
                self.app, _async_wrapper=self.app.ensure_sync
            )
        req = self._request
        if req is not None and req.url_rule is None:
            self.app.match_request(self, req)

    def pop(self, exc: BaseException | None = None) -> None:
        """Undo one :meth:`push`; the last one deactivates the context.

        When nothing else holds the context, its teardown functions run first, each
        receiving ``exc``; all of them run even if some raise, and their errors are
        raised together afterwards.
        """
        if not has_teardown(self.app, self):
            self._pop_bare(exc)
            return
        if not self._unwind():
            return
        errors: Sequence[BaseException] = ()
        if self._let_go(exc):
            steps = teardown_steps(self.app, self, self._exc)
            if steps is not None:
                errors = run_steps(self.app, steps)
        self._deactivate(errors)

    async def apop(
        self, exc: BaseException | None = None, *, run_steps: StepRunner
    ) -> None:
        """:meth:`pop` for async code: ``run_steps`` runs the teardown's calls.

        The ASGI adapter passes a runner that awaits async teardown functions on the
        event loop and runs sync ones in a worker thread.
        """
        if not has_teardown(self.app, self):
            self._pop_bare(exc)
            return
        if not self._unwind():
            return
        errors: Sequence[BaseException] = ()
        if self._let_go(exc):
            steps = teardown_steps(self.app, self, self._exc)
            if steps is not None:
                errors = await run_steps(steps)
        self._deactivate(errors)

    def _pop_bare(self, exc: BaseException | None = None) -> None:
        """:meth:`pop` for a context whose teardown calls nothing (see has_teardown)."""
        # PERF: once per request; _unwind's usual case, _let_go and _deactivate
        # written out for this case.
        if self._depth == 1 and self._token is not None and _cv_app.get(None) is self:
            self._depth = 0
        elif not self._unwind():
            return
        # PERF: acquire/release, not `with`: a with statement costs twice as much.
        lock = self._lock
        lock.acquire()
        try:
            if exc is not None and self._exc is None:
                self._exc = exc
            self._holds -= 1
            if not self._holds:
                self._torn_down = True
        finally:
            lock.release()
        token = self._token
        self._token = None
        _cv_app.reset(token)  # type: ignore[arg-type]
        if signals.appcontext_popped.receivers:
            errors = self._send_popped()
            if errors:
                self.app.raise_teardown_errors(errors)

    def _pop_held(self) -> None:
        """:meth:`retain` then :meth:`pop`, in one step: deactivate this context and
        leave its teardown to a later :meth:`release` (or :meth:`arelease`)."""
        # PERF: the last pop keeps the push's own hold instead of taking a second one
        # under the lock and dropping the first; pop's teardown check is not needed.
        if self._unwind():
            self._deactivate(())
        else:  # pushed more than once here: the push's hold stays with the rest
            self.retain()

    def _unwind(self) -> bool:
        """Check this context is on top and count one pop; True for the last one."""
        # PERF: the usual case, the last pop of the context on top, checked first.
        if self._depth == 1 and self._token is not None and _cv_app.get(None) is self:
            self._depth = 0
            return True
        self._check_top()
        self._depth -= 1
        return not self._depth

    def _deactivate(self, errors: Sequence[BaseException]) -> None:
        token = self._token
        self._token = None
        assert token is not None  # guaranteed by _check_top
        _cv_app.reset(token)
        if signals.appcontext_popped.receivers:
            errors = [*errors, *self._send_popped()]
        if errors:
            self.app.raise_teardown_errors(list(errors))

    def _check_top(self) -> None:
        if self._token is None:
            raise ContextPopError(f"Cannot pop {self!r}: it is not pushed.")
        active = _cv_app.get(None)
        if active is None:
            raise ContextPopError(
                f"Cannot pop {self!r}: there is no active context in this thread or"
                " task. A context must be popped where it was pushed."
            )
        if active is not self:
            raise ContextPopError(
                f"Cannot pop {self!r}{self.pushed_at_text}: it is not the active"
                f" context; {active!r}{active.pushed_at_text} is on top of it and"
                " must be popped first."
            )

    @property
    def pushed_at_text(self) -> str:
        """`` (pushed at file:line in function)`` in debug or testing mode, else ``""``.

        Where the context was last pushed from, recorded when ``DEBUG`` or
        ``TESTING`` is on, to find leaked or mis-ordered contexts.
        """
        where = self._pushed_at
        return "" if where is None else f" (pushed at {where})"

    def _send_popped(self) -> list[BaseException]:
        """Send ``appcontext_popped``; return its error, if any, in a list."""
        try:
            signals.appcontext_popped.send(
                self.app, _async_wrapper=self.app.ensure_sync
            )
        except BaseException as e:
            return [e]
        return []

    def __enter__(self) -> AppContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    # -- lifetime --------------------------------------------------------------------

    def _hold(self) -> None:
        if self._holds == 0:
            # Nobody holds the context, so nobody can retain it concurrently
            # (retain() refuses an unheld context): no lock needed.
            self._torn_down = False
            self._exc = None
            self._holds = 1
            return
        with self._lock:
            self._holds += 1

    def retain(self) -> None:
        """Keep this context alive: its teardown waits for a matching :meth:`release`.

        Used for work that outlives the view (a streamed body, a function run in
        another thread). Retaining a context that was already torn down is an error.
        """
        with self._lock:
            if self._holds == 0:
                raise ContextError(
                    f"Cannot keep {self!r} alive: it has already been torn down. Hand"
                    " the context over while the request is still being handled."
                )
            self._holds += 1

    def release(self, exc: BaseException | None = None) -> None:
        """Let go of a :meth:`retain`; the last holder runs the teardown."""
        if not self._let_go(exc):
            return
        steps = teardown_steps(self.app, self, self._exc)
        if steps is None:
            return
        # The teardown runs with this context active (it may already be, here).
        token = None if _cv_app.get(None) is self else _cv_app.set(self)
        try:
            errors = run_steps(self.app, steps)
        finally:
            if token is not None:
                _cv_app.reset(token)
        if errors:
            self.app.raise_teardown_errors(errors)

    async def arelease(
        self, exc: BaseException | None = None, *, run_steps: StepRunner
    ) -> None:
        """:meth:`release` for async code; ``run_steps`` runs the teardown's calls."""
        if not self._let_go(exc):
            return
        steps = teardown_steps(self.app, self, self._exc)
        if steps is None:
            return
        token = None if _cv_app.get(None) is self else _cv_app.set(self)
        try:
            errors = await run_steps(steps)
        finally:
            if token is not None:
                _cv_app.reset(token)
        if errors:
            self.app.raise_teardown_errors(errors)

    def _let_go(self, exc: BaseException | None) -> bool:
        """Drop one hold; True when that was the last one and teardown is due."""
        lock = self._lock
        lock.acquire()  # PERF: as in _pop_bare
        try:
            if exc is not None and self._exc is None:
                self._exc = exc
            self._holds -= 1
            if self._holds or self._torn_down:
                return False
            self._torn_down = True
            return True
        finally:
            lock.release()

    def run(self, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``func`` with this context active and held, wherever it is called from.

        The call gets its own copy of the caller's context variables with this context
        set in it, so concurrent calls from several threads are safe, and the
        teardown waits until the call has returned.
        """
        self.retain()
        try:
            return contextvars.copy_context().run(self._run_active, func, args, kwargs)
        finally:
            self.release()

    def _run_active(
        self, func: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> R:
        _cv_app.set(self)
        return func(*args, **kwargs)

    def __repr__(self) -> str:
        name = type(self).__name__
        req = self._request
        if req is None:
            return f"<{name} {id(self):#x} of {self.app.name}>"
        return f"<{name} {id(self):#x} of {self.app.name}, {req.method} {req.url!r}>"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _caller_site() -> str:
    """The first frame outside Kettle (and Werkzeug's test client) that led here."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and "werkzeug" not in filename:
            return f"{filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "an unknown place"


def has_app_context() -> bool:
    """Whether a context is active in this thread or task."""
    return _cv_app.get(None) is not None


def has_request_context() -> bool:
    """Whether a context with a request is active in this thread or task."""
    ctx = _cv_app.get(None)
    return ctx is not None and ctx._request is not None


def _active_context(what: str) -> AppContext:
    ctx = _cv_app.get(None)
    if ctx is None:
        raise ContextError(
            f"'{what}' can only be used while a context is active, for example in a"
            " view function; no context is active in this thread or task."
        )
    return ctx


def after_this_request(f: AfterRequestCallable) -> AfterRequestCallable:
    """Register ``f`` to be called with the response of the current request only.

    It runs before the app's ``after_request`` functions and must return a response.
    """
    ctx = _active_context("after_this_request")
    if ctx._request is None:
        raise ContextError(
            "'after_this_request' needs a request, but the active context is an"
            " application context without one."
        )
    with ctx._lock:  # a tuple, replaced: two threads must not lose one of theirs
        ctx._after_request_functions = (*ctx._after_request_functions, f)
    return f


def copy_current_request_context(f: Callable[P, R]) -> Callable[P, R]:
    """Decorate ``f`` so that it runs in the current context, from any thread.

    Unlike Flask, the function shares the request's context itself, ``g`` included,
    and the context's teardown waits until the function has run (or until the
    decorated function is discarded without being called). Calls from several
    threads at once are safe.
    """
    ctx = _active_context("copy_current_request_context")
    ctx.retain()

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        call: Callable[P, R] = ctx.app.ensure_sync(f)
        return ctx.run(call, *args, **kwargs)

    weakref.finalize(wrapper, ctx.release)
    return wrapper


def _fill(
    ctx: AppContext,
    app: Kettle,
    request: Request | None,
    session: SessionMixin | None,
) -> None:
    ctx.app = app
    # PERF: made on first use (see the g property); most requests never use it.
    ctx._g = None
    ctx._request = request
    ctx._session = session
    ctx._websocket = None
    # PERF: a tuple, replaced by after_this_request: no list made per request.
    ctx._after_request_functions = ()
    # Called with the final response, after everything else saw it (used by
    # kettle.celery to send a request's jobs only once nothing can fail).
    ctx._response_hooks = None
    ctx._token = None
    ctx._depth = 0
    ctx._holds = 0
    ctx._torn_down = False
    ctx._exc = None
    # One lock per app: the sections it guards are a few instructions long.
    ctx._lock = app._ctx_lock


def context_for_request(app: Kettle, request: Request) -> AppContext:
    """A new, unpushed context for ``request``: ``AppContext(app, request=request)``."""
    # PERF: once per request. A class call with a keyword argument builds a dict for
    # it and takes it apart again: ~800 instructions more than this.
    ctx: AppContext = _new_object(AppContext)
    _fill(ctx, app, request, None)
    return ctx


#: Flask's name for a context made for a request; in Kettle, as in Flask 3.2, it is
#: the one context class.
RequestContext = AppContext
