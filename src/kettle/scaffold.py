"""Registration shared by the app and blueprints: routes, hooks and error handlers.

Everything here runs at setup time. The registries are plain dicts keyed by the
blueprint name (None for the app), read by :mod:`kettle.dispatch` per request.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import IO, Any, TypeVar, cast

from jinja2 import BaseLoader, FileSystemLoader
from werkzeug.exceptions import HTTPException, default_exceptions

from .typing import (
    AfterRequestCallable,
    BeforeRequestCallable,
    ErrorHandlerCallable,
    RouteCallable,
    TeardownCallable,
    TemplateContextProcessorCallable,
    URLDefaultCallable,
    URLValuePreprocessorCallable,
)

__all__ = ["Scaffold", "get_root_path", "setupmethod"]

F = TypeVar("F", bound=Callable[..., Any])
T_route = TypeVar("T_route", bound=RouteCallable)
T_before = TypeVar("T_before", bound=BeforeRequestCallable)
T_after = TypeVar("T_after", bound=AfterRequestCallable)
T_teardown = TypeVar("T_teardown", bound=TeardownCallable)
T_error = TypeVar("T_error", bound=ErrorHandlerCallable)
T_preprocessor = TypeVar("T_preprocessor", bound=URLValuePreprocessorCallable)
T_defaults = TypeVar("T_defaults", bound=URLDefaultCallable)
T_processor = TypeVar("T_processor", bound=TemplateContextProcessorCallable)

Scope = str | None


def setupmethod(f: F) -> F:
    """Mark a method that may only be called before the first request is handled."""
    name = f.__name__

    @functools.wraps(f)
    def wrapper(self: Scaffold, *args: Any, **kwargs: Any) -> Any:
        self._check_setup_finished(name)
        return f(self, *args, **kwargs)

    return cast(F, wrapper)


def get_root_path(import_name: str) -> str:
    """The folder of the module or package ``import_name``, or the working directory."""
    module = sys.modules.get(import_name)
    path = getattr(module, "__file__", None)
    if path is None:
        try:
            spec = importlib.util.find_spec(import_name)
        except (ImportError, ValueError):
            spec = None
        path = None if spec is None else spec.origin
    if path is None or path in ("namespace", "built-in", "frozen"):
        return os.getcwd()
    return os.path.dirname(os.path.abspath(path))


def _exception_key(exc_or_code: type[BaseException] | int) -> tuple[type, int | None]:
    """Normalise what ``errorhandler`` received to (exception class, HTTP code)."""
    if isinstance(exc_or_code, int):
        try:
            exc_class: type[BaseException] = default_exceptions[exc_or_code]
        except KeyError:
            raise ValueError(
                f"{exc_or_code!r} is not an HTTP error code Werkzeug knows. Register a"
                " handler for an HTTPException subclass with that code instead."
            ) from None
    else:
        exc_class = exc_or_code
    if isinstance(exc_class, BaseException):
        raise TypeError(
            f"{exc_class!r} is an exception instance; register the class instead."
        )
    if not isinstance(exc_class, type) or not issubclass(exc_class, Exception):
        raise ValueError(
            f"'{getattr(exc_class, '__name__', exc_class)}' is not a subclass of"
            " Exception; error handlers can only handle Exception subclasses."
        )
    if issubclass(exc_class, HTTPException):
        return exc_class, exc_class.code
    return exc_class, None


class Scaffold:
    """The registries and decorators that an app and a blueprint have in common."""

    name: str

    def __init__(
        self,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        root_path: str | None = None,
    ) -> None:
        self.import_name = import_name
        self.root_path = (
            root_path if root_path is not None else get_root_path(import_name)
        )
        self.static_folder = static_folder  # the setter drops a trailing slash
        self._static_url_path = static_url_path
        self.template_folder = template_folder
        self.view_functions: dict[str, Callable[..., Any]] = {}
        self.error_handler_spec: dict[
            Scope, dict[int | None, dict[type[BaseException], ErrorHandlerCallable]]
        ] = defaultdict(lambda: defaultdict(dict))
        self.before_request_funcs: dict[Scope, list[BeforeRequestCallable]] = (
            defaultdict(list)
        )
        self.after_request_funcs: dict[Scope, list[AfterRequestCallable]] = defaultdict(
            list
        )
        self.teardown_request_funcs: dict[Scope, list[TeardownCallable]] = defaultdict(
            list
        )
        self.template_context_processors: dict[
            Scope, list[TemplateContextProcessorCallable]
        ] = defaultdict(list)
        self.url_value_preprocessors: dict[
            Scope, list[URLValuePreprocessorCallable]
        ] = defaultdict(list)
        self.url_default_functions: dict[Scope, list[URLDefaultCallable]] = defaultdict(
            list
        )

    def _check_setup_finished(self, f_name: str) -> None:
        raise NotImplementedError

    # -- static files ----------------------------------------------------------------

    @property
    def static_folder(self) -> str | None:
        """The absolute path of the static folder, or None."""
        if self._static_folder is None:
            return None
        return os.path.join(self.root_path, self._static_folder)

    @static_folder.setter
    def static_folder(self, value: str | os.PathLike[str] | None) -> None:
        self._static_folder = os.fspath(value).rstrip("/\\") if value else None

    @property
    def has_static_folder(self) -> bool:
        """Whether a static folder is configured."""
        return self._static_folder is not None

    @property
    def static_url_path(self) -> str | None:
        """The URL prefix of the static route, by default ``/<static folder name>``."""
        if self._static_url_path is not None:
            return self._static_url_path
        if self._static_folder is not None:
            basename = os.path.basename(self._static_folder)
            return f"/{basename}".rstrip("/")
        return None

    @static_url_path.setter
    def static_url_path(self, value: str | None) -> None:
        self._static_url_path = value.rstrip("/") if value is not None else None

    @property
    def jinja_loader(self) -> BaseLoader | None:
        """The loader of this app's or blueprint's template folder, if it has one."""
        loader = self.__dict__.get("_jinja_loader")
        if loader is None and self.template_folder is not None:
            folder = os.path.join(self.root_path, self.template_folder)
            loader = self.__dict__["_jinja_loader"] = FileSystemLoader(folder)
        return loader

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """The cache max-age for a static file: ``SEND_FILE_MAX_AGE_DEFAULT``."""
        from .globals import current_app

        value = current_app.config["SEND_FILE_MAX_AGE_DEFAULT"]
        if value is None:
            return None
        if isinstance(value, timedelta):
            return int(value.total_seconds())
        return int(value)

    def send_static_file(self, filename: str) -> Any:
        """Serve ``filename`` from the static folder (the ``static`` view)."""
        from .helpers import send_from_directory

        if self.static_folder is None:
            raise RuntimeError(f"{self!r} has no static folder to serve files from.")
        return send_from_directory(
            self.static_folder, filename, max_age=self.get_send_file_max_age(filename)
        )

    def open_resource(
        self, resource: str, mode: str = "rb", encoding: str | None = None
    ) -> IO[Any]:
        """Open a file relative to :attr:`root_path` for reading."""
        if mode not in {"r", "rt", "rb"}:
            raise ValueError("Resources can only be opened for reading.")
        path = os.path.join(self.root_path, resource)
        if mode == "rb":
            return open(path, mode)
        return open(path, mode, encoding=encoding or "utf-8")

    # -- routes ----------------------------------------------------------------------

    def _method_route(
        self, method: str, rule: str, options: dict[str, Any]
    ) -> Callable[[T_route], T_route]:
        if "methods" in options:
            raise TypeError(
                f"Use the 'route' decorator to pass 'methods'; '{method.lower()}'"
                f" always registers {method}."
            )
        return self.route(rule, methods=[method], **options)

    @setupmethod
    def get(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register a view for ``GET`` requests to ``rule``."""
        return self._method_route("GET", rule, options)

    @setupmethod
    def post(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register a view for ``POST`` requests to ``rule``."""
        return self._method_route("POST", rule, options)

    @setupmethod
    def put(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register a view for ``PUT`` requests to ``rule``."""
        return self._method_route("PUT", rule, options)

    @setupmethod
    def delete(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register a view for ``DELETE`` requests to ``rule``."""
        return self._method_route("DELETE", rule, options)

    @setupmethod
    def patch(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register a view for ``PATCH`` requests to ``rule``."""
        return self._method_route("PATCH", rule, options)

    @setupmethod
    def route(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register the decorated function as the view for the URL ``rule``.

        ``options`` are those of :meth:`add_url_rule` (``endpoint``, ``methods``,
        ``defaults``, ``strict_slashes``...).
        """

        def decorator(f: T_route) -> T_route:
            endpoint = options.pop("endpoint", None)
            self.add_url_rule(rule, endpoint, f, **options)
            return f

        return decorator

    @setupmethod
    def websocket(self, rule: str, **options: Any) -> Callable[[T_route], T_route]:
        """Register the decorated ``async def`` function for WebSocket connections.

        Served over ASGI only (``app.asgi``); inside it the ``websocket`` proxy is
        the connection. Over WSGI, such a URL answers 400 with an explanation.
        """

        def decorator(f: T_route) -> T_route:
            endpoint = options.pop("endpoint", None)
            self.add_url_rule(
                rule,
                endpoint,
                f,
                provide_automatic_options=False,
                websocket=True,
                **options,
            )
            return f

        return decorator

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Register a URL rule; see :meth:`kettle.Kettle.add_url_rule`."""
        raise NotImplementedError

    @setupmethod
    def endpoint(self, endpoint: str) -> Callable[[F], F]:
        """Register the decorated function as the view of ``endpoint``."""

        def decorator(f: F) -> F:
            self.view_functions[endpoint] = f
            return f

        return decorator

    # -- hooks -----------------------------------------------------------------------

    @setupmethod
    def before_request(self, f: T_before) -> T_before:
        """Run ``f`` before each request; a non-None return value ends the request."""
        self.before_request_funcs[None].append(f)
        return f

    @setupmethod
    def after_request(self, f: T_after) -> T_after:
        """Run ``f`` with each response; it must return a response."""
        self.after_request_funcs[None].append(f)
        return f

    @setupmethod
    def teardown_request(self, f: T_teardown) -> T_teardown:
        """Run ``f`` when a request's context ends, with the unhandled error or None."""
        self.teardown_request_funcs[None].append(f)
        return f

    @setupmethod
    def context_processor(self, f: T_processor) -> T_processor:
        """Add the dict ``f`` returns to the context of every template."""
        self.template_context_processors[None].append(f)
        return f

    @setupmethod
    def url_value_preprocessor(self, f: T_preprocessor) -> T_preprocessor:
        """Call ``f(endpoint, view_args)`` before the view, to read or change them."""
        self.url_value_preprocessors[None].append(f)
        return f

    @setupmethod
    def url_defaults(self, f: T_defaults) -> T_defaults:
        """Call ``f(endpoint, values)`` when building a URL, to fill in values."""
        self.url_default_functions[None].append(f)
        return f

    # -- errors ----------------------------------------------------------------------

    @setupmethod
    def errorhandler(
        self, code_or_exception: type[Exception] | int
    ) -> Callable[[T_error], T_error]:
        """Register the decorated function to handle an HTTP code or exception class.

        The most specific handler wins: one for the exact code first, then the
        closest exception class along the exception's MRO.
        """

        def decorator(f: T_error) -> T_error:
            self.register_error_handler(code_or_exception, f)
            return f

        return decorator

    @setupmethod
    def register_error_handler(
        self, code_or_exception: type[Exception] | int, f: ErrorHandlerCallable
    ) -> None:
        """Register ``f`` to handle an HTTP code or exception class."""
        exc_class, code = _exception_key(code_or_exception)
        self.error_handler_spec[None][code][exc_class] = f

    @staticmethod
    def _get_exc_class_and_code(
        exc_or_code: type[BaseException] | int,
    ) -> tuple[type, int | None]:
        return _exception_key(exc_or_code)
