"""The ``Kettle`` application: configuration, registries and dispatch's hook points."""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError, Map, MapAdapter, Rule
from werkzeug.utils import redirect as _werkzeug_redirect
from werkzeug.wrappers import Response as BaseResponse

from . import dispatch, teardown, templating, urls
from .adapters.asgi import ASGIApp
from .adapters.wsgi import run_dev_server, serve_wsgi
from .background import BackgroundWork
from .blueprints import Blueprint
from .cli import AppGroup
from .config import DEFAULT_CONFIG, Config, ConfigAttribute
from .ctx import AppContext, AppCtxGlobals, context_for_request
from .errors import SetupError, raise_collected
from .globals import _cv_app, g
from .helpers import get_debug_flag
from .json.provider import DefaultJSONProvider, JSONProvider
from .logging import create_logger
from .loops import ThreadLoops
from .routing import FastMatcher
from .scaffold import Scaffold, setupmethod
from .sessions import SecureCookieSessionInterface, SessionInterface
from .templating import Environment
from .wrappers import Request, Response

if TYPE_CHECKING:
    from werkzeug.test import Client

    from .testing import KettleClient, KettleCliRunner, WebsocketTestConnection
    from .typing import (
        ResponseReturnValue,
        RouteCallable,
        StartResponse,
        TeardownCallable,
        WSGIEnvironment,
    )

__all__ = ["Kettle"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _as_timedelta(value: timedelta | int) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)


class Kettle(Scaffold):
    """A WSGI (and, later, ASGI) application with Flask's API.

    ``import_name`` is the name of the application's module or package, usually
    ``__name__``; it locates the static and template folders.
    """

    request_class: type[Request] = Request
    response_class: type[Response] = Response
    app_ctx_globals_class: type[Any] = AppCtxGlobals
    config_class: type[Config] = Config
    json_provider_class: type[JSONProvider] = DefaultJSONProvider
    url_rule_class: type[Rule] = Rule
    url_map_class: type[Map] = Map
    test_client_class: type[Client] | None = None
    #: The runner class of :meth:`test_cli_runner` (default: ``KettleCliRunner``).
    test_cli_runner_class: type[KettleCliRunner] | None = None
    jinja_environment: type[Environment] = Environment
    #: Options for the Jinja environment (see ``jinja2.Environment``).
    jinja_options: dict[str, Any] = {}  # noqa: RUF012 -- Flask's documented attribute
    default_config = DEFAULT_CONFIG

    testing = ConfigAttribute[bool]("TESTING")
    secret_key = ConfigAttribute[str | bytes | None]("SECRET_KEY")
    permanent_session_lifetime = ConfigAttribute[timedelta](
        "PERMANENT_SESSION_LIFETIME", get_converter=_as_timedelta
    )

    def __init__(
        self,
        import_name: str,
        static_url_path: str | None = None,
        static_folder: str | os.PathLike[str] | None = "static",
        static_host: str | None = None,
        host_matching: bool = False,
        subdomain_matching: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        instance_path: str | None = None,
        instance_relative_config: bool = False,
        root_path: str | None = None,
    ) -> None:
        super().__init__(
            import_name, static_folder, static_url_path, template_folder, root_path
        )
        #: The application's name: its import name, or the main script's name.
        #: A plain attribute (read often, through ``current_app.name``).
        self.__dict__.setdefault("name", self._default_name())
        self.instance_path = instance_path or self.auto_find_instance_path()
        self.config = self.make_config(instance_relative_config)
        self.json: JSONProvider = self.json_provider_class(self)
        self.session_interface: SessionInterface = SecureCookieSessionInterface()
        self.url_map = self.url_map_class(host_matching=host_matching)
        self.subdomain_matching = subdomain_matching
        self.teardown_appcontext_funcs: list[TeardownCallable] = []
        self.url_build_error_handlers: list[
            Callable[[Exception, str, dict[str, Any]], str]
        ] = []
        self.extensions: dict[str, Any] = {}
        self.blueprints: dict[str, Blueprint] = {}
        #: The click group of the app's CLI commands (``@app.cli.command()``).
        self.cli: AppGroup = AppGroup(self.name)
        #: Functions whose returned dicts fill the ``kettle shell`` namespace.
        self.shell_context_processors: list[Callable[[], dict[str, Any]]] = []
        self._got_first_request = False
        self._matcher: FastMatcher | None = None
        self._loops = ThreadLoops()
        self._ctx_lock = threading.Lock()
        self._async_callables: dict[Callable[..., Any], bool] = {}
        self.before_serving_funcs: list[Callable[[], Any]] = []
        self.after_serving_funcs: list[Callable[[], Any]] = []
        self.while_serving_funcs: list[Callable[[], Any]] = []
        self._serving_generators: list[Any] = []
        #: Work started with :func:`kettle.spawn` (see :meth:`shutdown`).
        self.background = BackgroundWork(self)
        #: The ASGI 3 application: serve it with ``uvicorn module:app.asgi``.
        self.asgi = ASGIApp(self)
        self._logger: logging.Logger | None = None
        if self.has_static_folder:
            self._add_static_route(static_host)

    def _add_static_route(self, static_host: str | None) -> None:
        if bool(static_host) != self.url_map.host_matching:
            raise ValueError(
                "Pass 'static_host' if and only if 'host_matching' is enabled."
            )
        app_ref = weakref.ref(self)
        self.add_url_rule(
            f"{self.static_url_path}/<path:filename>",
            endpoint="static",
            host=static_host,
            view_func=lambda **kw: app_ref().send_static_file(**kw),  # type: ignore[union-attr]
        )

    # -- identity and configuration -------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "config":
            self._set_config(value)
        else:
            super().__setattr__(name, value)

    def _set_config(self, config: Config) -> None:
        if not isinstance(config, Config):
            raise TypeError(
                f"app.config must be a kettle.Config (or a subclass), not"
                f" {type(config).__name__}: fill the app's own config instead, with"
                " `app.config.update(...)` or `app.config.from_mapping(...)`."
            )
        old = self.__dict__.get("config")
        if old is not None:
            old._unwatch(self._config_changed)
        super().__setattr__("config", config)
        config._watch(self._config_changed)

    def _config_changed(self) -> None:
        # PERF: the settings every request reads, kept as plain attributes (see
        # Config._watch).
        config = self.config
        self._debug = bool(config.get("DEBUG"))
        self._record_push_sites = self._debug or bool(config.get("TESTING"))
        self._trusted_hosts = config.get("TRUSTED_HOSTS")
        self._max_content_length = config.get("MAX_CONTENT_LENGTH")

    def _default_name(self) -> str:
        if self.import_name == "__main__":
            path = getattr(sys.modules["__main__"], "__file__", None)
            if path is None:
                return "__main__"
            return os.path.splitext(os.path.basename(str(path)))[0]
        return self.import_name

    @property
    def debug(self) -> bool:
        """Whether debug mode is on (config ``DEBUG``)."""
        return self._debug  # config DEBUG

    @debug.setter
    def debug(self, value: bool) -> None:
        self.config["DEBUG"] = value

    @property
    def logger(self) -> logging.Logger:
        """The ``logging`` logger named after the app, used to log unhandled errors."""
        if self._logger is None:
            self._logger = create_logger(self)
        return self._logger

    def make_config(self, instance_relative: bool = False) -> Config:
        """Build the config, filled with the defaults."""
        root = self.instance_path if instance_relative else self.root_path
        defaults = dict(self.default_config)
        defaults["DEBUG"] = get_debug_flag()
        return self.config_class(root, defaults)

    def auto_find_instance_path(self) -> str:
        """The ``instance`` folder beside the application's top-level package or
        module (as in Flask: for ``blog/__init__.py`` it is ``instance/``, not
        ``blog/instance/``)."""
        top = sys.modules.get(self.import_name.partition(".")[0])
        path = getattr(top, "__file__", None)
        if path and os.path.basename(path).startswith("__init__."):
            return os.path.join(os.path.dirname(os.path.dirname(path)), "instance")
        return os.path.join(self.root_path, "instance")

    def open_instance_resource(self, resource: str, mode: str = "rb") -> Any:
        """Open a file relative to the instance folder."""
        return open(os.path.join(self.instance_path, resource), mode)

    def _check_setup_finished(self, f_name: str) -> None:
        if self._got_first_request:
            raise SetupError(
                f"The setup method '{f_name}' can no longer be called on the"
                f" application '{self.name}': it has already handled its first"
                " request, and changes now would apply to some requests and not"
                " others. Register everything (routes, hooks, blueprints) before the"
                " app serves, for example in the application factory."
            )

    # -- routing ---------------------------------------------------------------------

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Register a URL rule, and ``view_func`` as the view of its endpoint.

        ``methods`` defaults to the view's ``methods`` attribute or ``("GET",)``;
        ``HEAD`` is added for ``GET``, and ``OPTIONS`` is answered automatically
        unless the view or ``provide_automatic_options=False`` says otherwise.
        Other ``options`` go to Werkzeug's ``Rule``.
        """
        if endpoint is None:
            if view_func is None:
                raise TypeError("add_url_rule needs an endpoint or a view function.")
            endpoint = view_func.__name__
        options["endpoint"] = endpoint
        methods = self._rule_methods(view_func, options.pop("methods", None))
        if provide_automatic_options is None:
            provide_automatic_options = getattr(
                view_func, "provide_automatic_options", None
            )
        if provide_automatic_options is None:
            provide_automatic_options = (
                "OPTIONS" not in methods and self.config["PROVIDE_AUTOMATIC_OPTIONS"]
            )
        if provide_automatic_options:
            methods.add("OPTIONS")
        rule_obj = self.url_rule_class(rule, methods=methods, **options)
        rule_obj.provide_automatic_options = provide_automatic_options  # type: ignore[attr-defined]
        self.url_map.add(rule_obj)
        self._matcher = None
        if view_func is not None:
            existing = self.view_functions.get(endpoint)
            if existing is not None and existing != view_func:
                raise AssertionError(
                    "View function mapping is overwriting an existing endpoint"
                    f" function: {endpoint}. Give the new view a different endpoint."
                )
            self.view_functions[endpoint] = view_func

    @staticmethod
    def _rule_methods(view_func: Any, methods: Any) -> set[str]:
        if methods is None:
            methods = getattr(view_func, "methods", None) or ("GET",)
        if isinstance(methods, str):
            raise TypeError(
                "Allowed methods must be a list of strings, for example"
                ' methods=["POST"], not a single string.'
            )
        found = {item.upper() for item in methods}
        found.update(getattr(view_func, "required_methods", ()))
        return found

    @setupmethod
    def register_blueprint(self, blueprint: Blueprint, **options: Any) -> None:
        """Register ``blueprint`` on the app; ``options`` override its settings.

        ``url_prefix``, ``subdomain``, ``url_defaults`` and ``name`` (to register the
        same blueprint twice) are the usual ones.
        """
        blueprint.register(self, options)

    def iter_blueprints(self) -> Iterator[Blueprint]:
        """The registered blueprints, in registration order."""
        return iter(self.blueprints.values())

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """Build the URL adapter for a request, or for no request from the config."""
        return urls.create_url_adapter(self, request)

    #: Match the request's URL; store the rule and values, or the routing error.
    #: (Called as ``app.match_request(ctx, request)``; one call, no wrapper.)
    match_request = urls.match_request

    def url_for(
        self,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        """Build the URL of ``endpoint`` with ``values``; see :func:`kettle.url_for`."""
        return urls.build_url(
            self, endpoint, values, _anchor, _method, _scheme, _external
        )

    def inject_url_defaults(self, endpoint: str, values: dict[str, Any]) -> None:
        """Let the ``url_defaults`` functions fill in values for building a URL."""
        urls.inject_url_defaults(self, endpoint, values)

    def handle_url_build_error(
        self, error: BuildError, endpoint: str, values: dict[str, Any]
    ) -> str:
        """Ask ``url_build_error_handlers`` for a URL; re-raise if none gives one."""
        for handler in self.url_build_error_handlers:
            try:
                rv = handler(error, endpoint, values)
            except BuildError as e:
                error = e
            else:
                if rv is not None:
                    return rv
        raise error

    # -- contexts --------------------------------------------------------------------

    def app_context(self) -> AppContext:
        """A new, unpushed application context: ``with app.app_context():``."""
        return AppContext(self)

    def request_context(self, environ: WSGIEnvironment) -> AppContext:
        """A new, unpushed context for the request described by ``environ``."""
        return context_for_request(self, self.request_class(environ))

    def test_request_context(self, *args: Any, **kwargs: Any) -> AppContext:
        """A context for a request built from Werkzeug ``EnvironBuilder`` arguments."""
        from .testing import EnvironBuilder

        builder = EnvironBuilder(self, *args, **kwargs)
        try:
            return self.request_context(builder.get_environ())
        finally:
            builder.close()

    def test_client(self, use_cookies: bool = True, **kwargs: Any) -> KettleClient:
        """A test client for this app; ``with client:`` keeps the last context."""
        cls = self.test_client_class
        if cls is None:
            from .testing import KettleClient

            cls = KettleClient
        return cls(self, self.response_class, use_cookies=use_cookies, **kwargs)  # type: ignore[return-value]

    def test_cli_runner(self, **kwargs: Any) -> KettleCliRunner:
        """A click runner that invokes ``app.cli`` commands with this app loaded."""
        cls = self.test_cli_runner_class
        if cls is None:
            from .testing import KettleCliRunner

            cls = KettleCliRunner
        return cls(self, **kwargs)

    def test_websocket(self, path: str, **kwargs: Any) -> WebsocketTestConnection:
        """An in-process WebSocket client: ``async with app.test_websocket("/ws")``."""
        from .testing import WebsocketTestConnection

        return WebsocketTestConnection(self, path, **kwargs)

    # -- sync execution of user callables --------------------------------------------

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` as a sync callable: coroutine functions run on a thread loop."""
        if inspect.iscoroutinefunction(func):
            return self.async_to_sync(func)
        return func

    def async_to_sync(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Wrap a coroutine function to run to completion on the thread's own loop.

        Called from the server's event loop (ASGI), where nothing may block, the
        coroutine is started as a task instead and the wrapper returns None; its
        failure is logged.
        """
        loops = self._loops

        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            return loops.run_or_schedule(func(*args, **kwargs), self._log_task_error)

        return run

    def _log_task_error(self, error: BaseException) -> None:
        self.logger.error(
            "Error in an async callable started from sync code",
            exc_info=(type(error), error, error.__traceback__),
        )

    # -- dispatch hook points ---------------------------------------------------------

    def _ctx_or_active(self, ctx: Any) -> AppContext:
        return ctx if isinstance(ctx, AppContext) else _cv_app.get()

    def make_response(self, rv: ResponseReturnValue) -> Response:
        """Convert a view's return value into a response object."""
        return dispatch.make_response(self, rv, _cv_app.get(None))

    def make_default_options_response(self, ctx: AppContext | None = None) -> Response:
        """The automatic reply to ``OPTIONS``, listing the allowed methods."""
        ctx = self._ctx_or_active(ctx)
        adapter = ctx.url_adapter
        assert adapter is not None
        response = self.response_class()
        response.allow.update(sorted(adapter.allowed_methods()))
        return response

    def handle_user_exception(self, *args: Any) -> Any:
        """Find the error handler for an exception raised during dispatch.

        Called as ``(e)`` or ``(ctx, e)``; re-raises ``e`` when nothing handles it.
        """
        ctx, e = self._split_ctx(args)
        return dispatch.drive(self, dispatch.handle_user_exception(self, ctx, e))

    def handle_http_exception(self, *args: Any) -> Any:
        """Find the error handler for an HTTP error; the error itself is the default."""
        ctx, e = self._split_ctx(args)
        return dispatch.drive(self, dispatch.handle_http_exception(self, ctx, e))

    def handle_exception(self, *args: Any) -> Response:
        """Turn an unhandled exception into a 500 response, or re-raise it."""
        ctx, e = self._split_ctx(args)
        return dispatch.drive(self, dispatch.handle_exception(self, ctx, e))

    def _split_ctx(self, args: tuple[Any, ...]) -> tuple[AppContext, Any]:
        if len(args) == 2:
            return args[0], args[1]
        return _cv_app.get(), args[0]

    def log_exception(self, ctx: AppContext | None, exc_info: ExcInfo) -> None:
        """Log an unhandled exception with the request's path and method."""
        req = None if ctx is None else ctx._request
        where = "" if req is None else f" on {req.path} [{req.method}]"
        self.logger.error(f"Exception{where}", exc_info=exc_info)

    def trap_http_exception(self, e: Exception) -> bool:
        """Whether an HTTP error propagates like any other error (TRAP_* config)."""
        return isinstance(e, HTTPException) and dispatch._trapped(self, e)

    # -- templates -------------------------------------------------------------------

    @property
    def jinja_env(self) -> Environment:
        """The Jinja environment, created on first use."""
        env = self.__dict__.get("_jinja_env")
        if env is None:
            env = self.__dict__["_jinja_env"] = self.create_jinja_environment()
        return env

    def create_jinja_environment(self) -> Environment:
        """Build the Jinja environment (override to customise it)."""
        return templating.create_environment(self)

    def select_jinja_autoescape(self, filename: str | None) -> bool:
        """Whether to autoescape a template: strings and HTML/XML/SVG files."""
        return templating.select_autoescape(filename)

    def update_template_context(self, context: dict[str, Any]) -> None:
        """Add the context processors' values to a template's context."""
        templating.update_template_context(self, context)

    def _template_decorator(
        self, add: Callable[[Any, str | None], None], name: Any
    ) -> Any:
        if callable(name):
            add(name, None)
            return name

        def decorator(f: F) -> F:
            add(f, name)
            return f

        return decorator

    @setupmethod
    def template_filter(self, name: Any = None) -> Any:
        """Register a Jinja filter: ``@app.template_filter`` or ``(name)``."""
        return self._template_decorator(self.add_template_filter, name)

    @setupmethod
    def add_template_filter(
        self, f: Callable[..., Any], name: str | None = None
    ) -> None:
        """Register ``f`` as the Jinja filter ``name`` (default: its name)."""
        self.jinja_env.filters[name or f.__name__] = f

    @setupmethod
    def template_test(self, name: Any = None) -> Any:
        """Register a Jinja test: ``@app.template_test`` or ``(name)``."""
        return self._template_decorator(self.add_template_test, name)

    @setupmethod
    def add_template_test(
        self, f: Callable[..., bool], name: str | None = None
    ) -> None:
        """Register ``f`` as the Jinja test ``name`` (default: its name)."""
        self.jinja_env.tests[name or f.__name__] = f

    @setupmethod
    def template_global(self, name: Any = None) -> Any:
        """Register a Jinja global: ``@app.template_global`` or ``(name)``."""
        return self._template_decorator(self.add_template_global, name)

    @setupmethod
    def add_template_global(
        self, f: Callable[..., Any], name: str | None = None
    ) -> None:
        """Make ``f`` available in every template as ``name`` (default: its name)."""
        self.jinja_env.globals[name or f.__name__] = f

    # -- the shell command ------------------------------------------------------------

    @setupmethod
    def shell_context_processor(self, f: F) -> F:
        """Add the dict ``f()`` returns to the namespace of ``kettle shell``."""
        self.shell_context_processors.append(f)
        return f

    def make_shell_context(self) -> dict[str, Any]:
        """The ``kettle shell`` namespace: ``app``, ``g`` and the processors' values."""
        namespace: dict[str, Any] = {"app": self, "g": g}
        for processor in self.shell_context_processors:
            namespace.update(processor())
        return namespace

    # -- serving (ASGI lifespan) ------------------------------------------------------

    @setupmethod
    def before_serving(self, f: F) -> F:
        """Run ``f`` (sync or async) in an app context when an ASGI server starts."""
        self.before_serving_funcs.append(f)
        return f

    @setupmethod
    def after_serving(self, f: F) -> F:
        """Run ``f`` (sync or async) in an app context when an ASGI server stops."""
        self.after_serving_funcs.append(f)
        return f

    @setupmethod
    def while_serving(self, f: F) -> F:
        """Run a generator function around serving: start-up before its ``yield``,
        shut-down after it (sync or async generator)."""
        self.while_serving_funcs.append(f)
        return f

    # -- teardown --------------------------------------------------------------------

    @setupmethod
    def teardown_appcontext(self, f: TeardownCallable) -> TeardownCallable:
        """Run ``f`` as a context of this app ends, with its unhandled error or None."""
        self.teardown_appcontext_funcs.append(f)
        return f

    def raise_teardown_errors(self, errors: list[BaseException]) -> None:
        """Raise the errors of a teardown together (see ``errors.raise_collected``)."""
        raise_collected("Errors during context teardown", errors)

    def do_teardown_request(
        self, ctx: AppContext | None = None, exc: BaseException | None = None
    ) -> None:
        """Run the ``teardown_request`` functions of the active request now."""
        ctx = self._ctx_or_active(ctx)
        steps = teardown.request_teardown_steps(self, ctx.request, exc)
        raise_collected(
            "Errors during request teardown", teardown.run_steps(self, steps)
        )

    def do_teardown_appcontext(
        self, ctx: AppContext | None = None, exc: BaseException | None = None
    ) -> None:
        """Run the ``teardown_appcontext`` functions now."""
        steps = teardown.appcontext_teardown_steps(self, exc)
        raise_collected("Errors during app teardown", teardown.run_steps(self, steps))

    # -- WSGI ------------------------------------------------------------------------

    #: The WSGI application; wrap this attribute to add WSGI middleware. (The
    #: adapter's function itself, one call less per request than a method calling
    #: it.)
    wsgi_app = serve_wsgi

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        return self.wsgi_app(environ, start_response)

    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        debug: bool | None = None,
        **options: Any,
    ) -> None:
        """Serve the app with Werkzeug's development server (not for production)."""
        run_dev_server(self, host, port, debug, **options)

    def shutdown(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds for spawned work, then stop its workers.

        Returns how many pieces of work were cut off (they are logged). An ASGI
        server's shutdown does this with ``BACKGROUND_SHUTDOWN_TIMEOUT``.
        """
        return self.background.shutdown(timeout)

    def redirect(self, location: str, code: int = 303) -> BaseResponse:
        """A redirect response to ``location`` (303 See Other by default)."""
        return _werkzeug_redirect(location, code=code, Response=self.response_class)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
