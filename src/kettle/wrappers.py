"""``Request`` and ``Response``: Werkzeug's, plus what routing and config add."""

from __future__ import annotations

import asyncio
import json as _stdlib_json
from collections.abc import AsyncIterator, Callable, Generator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from werkzeug.datastructures import (
    EnvironHeaders,
    Headers,
    MultiDict,
)
from werkzeug.datastructures import (
    ImmutableMultiDict as _WerkzeugImmutableMultiDict,
)
from werkzeug.exceptions import (
    BadRequest,
    BadRequestKeyError,
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
)
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import get_content_type
from werkzeug.wrappers import Request as _WerkzeugRequest
from werkzeug.wrappers import Response as _WerkzeugResponse

from .globals import _cv_app

if TYPE_CHECKING:
    from werkzeug.routing import Rule

    from .typing import WSGIEnvironment

__all__ = [
    "OWN_HEADER_NAMES",
    "BodySource",
    "DirectResponse",
    "ImmutableMultiDict",
    "Request",
    "Response",
    "UnbuiltResponse",
    "buffered_parts",
    "is_plain_buffered",
    "plain_response",
]


class BodySource(Protocol):
    """Where an adapter without a WSGI environ (ASGI) gets a request's parts.

    The body arrives asynchronously; the same object is the environ's
    ``wsgi.input``, whose sync ``read`` serves Werkzeug's parsers once the body is
    buffered (or, from a worker thread, waits for it). Headers and the environ are
    only built if the request reads them.
    """

    @property
    def complete(self) -> bool:
        """Whether the whole body has been received (and buffered, or consumed)."""

    async def read_all(self, limit: int | None) -> None:
        """Receive and buffer the rest of the body; 413 beyond ``limit`` bytes."""

    def iter_chunks(self, limit: int | None) -> AsyncIterator[bytes]:
        """Yield the body as it arrives, without buffering it."""

    def received_body(self) -> bytes | None:
        """The whole body if it has been received and not streamed away, else None."""

    def raw_header(self, name: bytes) -> str | None:
        """The first value of the lower-case header ``name``, without building them."""

    def make_headers(self) -> Headers:
        """The request's headers (called once, when first read)."""

    def make_environ(self) -> WSGIEnvironment:
        """A WSGI environ for the request (called once, when first read)."""


#: The Content-Type of a ``str`` returned by a view.
HTML_UTF8 = "text/html; charset=utf-8"


T = TypeVar("T")
RequestT = TypeVar("RequestT", bound="Request")
_K = TypeVar("_K")
_V = TypeVar("_V")


class _computed_once(Generic[T]):  # noqa: N801 -- used like a decorator
    """A lazy attribute: computed on first read, then a plain instance attribute.

    Like ``functools.cached_property`` without its lock (Python < 3.12 takes one on
    every first read); two threads racing on one request would compute it twice.
    """

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _computed_once[T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.func(obj)
        # An attribute store, not a __dict__ write, which would make CPython build
        # the object's dict; the instance attribute then hides this descriptor.
        try:
            setattr(obj, self.name, value)
        except AttributeError:
            return _keep(obj, self.name, value)
        return value


# Werkzeug's get_data, called with a runtime bool for ``as_text``.
_werkzeug_get_data: Callable[..., Any] = _WerkzeugRequest.get_data


def _decode_wsgi(value: str) -> str:
    """Undo WSGI's latin-1 transport of a path: the bytes are UTF-8."""
    if value.isascii():
        return value
    return value.encode("latin1").decode(errors="replace")


def _simple_cookie_pairs(raw: str) -> list[tuple[str, str]] | None:
    """The ``(name, value)`` pairs of a plain ``Cookie`` header, as Werkzeug's
    ``parse_cookie`` reads them; None when quotes, tabs or inner spaces need it."""
    if '"' in raw or "\t" in raw:
        return None
    pairs = []
    for part in raw.split(";"):
        part = part.strip(" ")
        if not part:
            continue
        name, _, value = part.partition("=")
        if not name or " " in part:
            return None
        pairs.append((name, value))
    return pairs


_dict_get = dict.get


class ImmutableMultiDict(_WerkzeugImmutableMultiDict[_K, _V]):
    """Werkzeug's ``ImmutableMultiDict``, with a quicker ``d[key]``.

    The request's query arguments, form and cookies are kept in it. It behaves
    exactly as Werkzeug's: ``d[key]`` is the first value, and a missing key raises
    ``BadRequestKeyError`` (a ``KeyError`` that answers 400).
    """

    # PERF: Werkzeug's __getitem__ tests membership, then calls super(): about
    # 1,800 instructions more than this. ``d.get(key)`` goes through it too.
    def __getitem__(self, key: _K) -> _V:
        values: Any = _dict_get(self, key)  # the key's list of values
        if values:
            first: _V = values[0]
            return first
        raise BadRequestKeyError(key)


# The multi-dict classes filled directly (see _multi_dict).
_OWN_MULTI_DICTS = (ImmutableMultiDict, _WerkzeugImmutableMultiDict, MultiDict)


# PERF: the constructors' allocators, bound once. Looking up ``cls.__new__`` on a
# class costs ~250 instructions per call; these are the very functions it finds for
# Werkzeug's multi-dicts, Headers, and Kettle's own Request and Response.
_new_object = object.__new__
_new_dict = dict.__new__
_init_dict = dict.__init__


def _multi_dict(cls: type[Any], pairs: list[tuple[str, str]]) -> Any:
    """``cls(pairs)``. For Werkzeug's own multi-dict classes, their storage (a dict
    of value lists) is filled here directly, as their constructor would fill it."""
    if cls not in _OWN_MULTI_DICTS:
        return cls(pairs)
    lists: dict[str, list[str]] = {}
    for key, value in pairs:
        found = lists.get(key)
        if found is None:
            lists[key] = [value]
        else:
            found.append(value)
    result = _new_dict(cls)
    _init_dict(result, lists)
    return result


def _plain_query_dict(cls: type[Any], query: str) -> Any:
    """Werkzeug's multi-dict class ``cls`` filled from a query string with nothing
    to decode, as Werkzeug fills it: empty parts skipped, a part without ``=`` kept
    with an empty value."""
    # PERF: the lists built in one pass, with no list of pairs in between.
    lists: dict[str, list[str]] = {}
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            found = lists.get(name)
            if found is None:
                lists[name] = [value]
            else:
                found.append(value)
    result = _new_dict(cls)
    _init_dict(result, lists)
    return result


class _QueryArgs:
    """The parsed query string, as an immutable multi-dict."""

    # Request.args. Like _computed_once (an instance attribute hides it once
    # computed), with the work done in __get__ itself: PERF: two Python calls fewer
    # on each request that reads its arguments.

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _QueryArgs: ...
    @overload
    def __get__(
        self, obj: Request, owner: type | None = None
    ) -> MultiDict[str, str]: ...
    def __get__(self, obj: Request | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        # The environ's value, unless a query string was set or read on the request.
        raw = obj._query_string
        # PERF: no str() around it (about 500): a WSGI environ holds str, and
        # Werkzeug reads it the same way.
        query = (
            obj.environ.get("QUERY_STRING", "")
            if raw is None
            else raw.decode("latin-1")
        )
        cls = obj.parameter_storage_class
        # PERF: a plain ASCII query needs no decoding; split it directly. (The `is`
        # test first: the usual class found without the tuple search, 140 less.)
        if (
            (cls is ImmutableMultiDict or cls in _OWN_MULTI_DICTS)
            and query.isascii()
            and "%" not in query
            and "+" not in query
        ):
            value = _plain_query_dict(cls, query)
        else:
            value = _werkzeug_args.__get__(obj, owner)
        try:
            obj.args = value
        except AttributeError:
            return _keep(obj, "args", value)
        return value


def _keep(obj: Any, name: str, value: Any) -> Any:
    """The value a lazy attribute keeps when a subclass made ``name`` a property
    without a setter (and reaches this one through ``super()``): the first value
    computed, kept in the instance ``__dict__``, as Werkzeug's cached_property does."""
    return vars(obj).setdefault(name, value)


# Werkzeug's own parsing, for queries that need decoding and other storage classes.
_werkzeug_args: Any = _WerkzeugRequest.args


def _config_value(key: str, default: Any) -> Any:
    ctx = _cv_app.get(None)
    if ctx is None:
        return default
    return ctx.app.config[key]


class Request(_WerkzeugRequest):
    """The request object: Werkzeug's ``Request`` with the routing result attached.

    Body size limits come from the app's ``MAX_CONTENT_LENGTH``,
    ``MAX_FORM_MEMORY_SIZE`` and ``MAX_FORM_PARTS`` config while a context is active.
    """

    #: The request method, upper-cased (``GET``, ``POST``...).
    method: str
    #: The path of the URL below the root path, always starting with ``/``.
    path: str
    # What serves the body of a request made by from_parts (an ASGI request); read
    # it with _source(), which makes it from _body_parts when it was given that way.
    _body_source: BodySource | None = None
    _body_parts: tuple[Any, ...] | None = None
    parameter_storage_class: type[MultiDict[str, Any]] = ImmutableMultiDict
    dict_storage_class: type[MultiDict[str, Any]] = ImmutableMultiDict
    # Whether the teardown calls close(): Werkzeug's close() only closes parsed
    # uploads, so only once the form was parsed, or when a subclass overrides it.
    _close_at_teardown = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.close is not _WerkzeugRequest.close:
            cls._close_at_teardown = True

    # PERF: Werkzeug's constructor decodes the path, root path and server and wraps
    # the headers up front. Most requests read a few of those; here each is worked
    # out from the environ the first time it is read, with the same result. Every
    # request is routed by its method and path, so both constructors set those two
    # as plain attributes: a class-level lazy attribute would slow every read.
    def __init__(
        self,
        environ: WSGIEnvironment,
        populate_request: bool = True,
        shallow: bool = False,
    ) -> None:
        self.environ = environ
        self.shallow = shallow
        if populate_request and not shallow:
            environ["werkzeug.request"] = self
        # Every request is routed by method and path: worked out here, not lazily.
        method: str = environ.get("REQUEST_METHOD", "GET")
        self.method = method.upper()
        path: str = environ.get("PATH_INFO") or ""
        if not path.isascii():
            path = _decode_wsgi(path)
        self.path = "/" + path.lstrip("/")
        # PERF: read on every request before routing sets them; a class default read
        # through the instance costs twice a store.
        self.url_rule = None
        self.routing_exception = None

    @classmethod
    def from_parts(
        cls: type[RequestT],
        method: str,
        scheme: str,
        server: tuple[str, int | None] | None,
        root_path: str,
        path: str,
        query_string: bytes,
        remote_addr: str | None,
        source: BodySource | tuple[Any, ...],
    ) -> RequestT:
        """A request from already-decoded parts, for an adapter that has no environ.

        ``source`` serves the body, and builds the headers and a WSGI environ when
        they are first read (see :class:`BodySource`). It can also be a tuple
        ``(factory, *args)``: then ``factory(*args)`` makes the source the first
        time the request needs it (possibly in another thread).
        """
        request = _new_object(cls) if cls is Request else cls.__new__(cls)
        # PERF: one call per ASGI request (positional there). Attribute stores, not
        # __dict__ writes: until something reads __dict__, CPython keeps the values
        # in the object itself and builds no dict.
        request.method = method.upper()
        request.scheme = scheme
        request.server = server
        request.root_path = root_path.rstrip("/") if root_path else root_path
        if path[:1] != "/" or path[1:2] == "/":
            path = "/" + path.lstrip("/")
        request.path = path
        request._query_string = query_string
        request.remote_addr = remote_addr
        request.shallow = False
        request.url_rule = None  # PERF: as in __init__
        request.routing_exception = None
        if type(source) is tuple:
            request._body_parts = source
        else:
            request._body_source = source  # type: ignore[assignment]
        return request

    def _source(self) -> BodySource | None:
        # The body source, made now if from_parts was given how to make it; None for
        # a request made from a WSGI environ.
        source = self._body_source
        if source is None:
            parts = self._body_parts
            if parts is not None:
                source = self._body_source = parts[0](*parts[1:])
                self._body_parts = None
        return source

    @_computed_once
    def environ(self) -> WSGIEnvironment:
        """The WSGI environ; built on demand for a request from :meth:`from_parts`."""
        source = self._source()
        assert source is not None  # only from_parts makes a request without one
        environ = source.make_environ()
        environ["werkzeug.request"] = self
        return environ

    @_computed_once
    def scheme(self) -> str:
        """The URL scheme of the request (``http`` or ``https``)."""
        return str(self.environ.get("wsgi.url_scheme", "http"))

    @_computed_once
    def server(self) -> tuple[str, int | None] | None:
        """The server's address as ``(host, port)``, port None for a unix socket."""
        name = self.environ.get("SERVER_NAME")
        if name is None:
            return None
        try:
            port: int | None = int(self.environ.get("SERVER_PORT"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            port = None
        return name, port

    @_computed_once
    def root_path(self) -> str:
        """The prefix the app is mounted under (``SCRIPT_NAME``), no final slash."""
        return _decode_wsgi(self.environ.get("SCRIPT_NAME") or "").rstrip("/")

    # The query string once read or set; None until then (args reads the environ).
    _query_string: bytes | None = None

    @property
    def query_string(self) -> bytes:
        """The raw query string, as bytes."""
        raw = self._query_string
        if raw is None:
            raw = self.environ.get("QUERY_STRING", "").encode("latin1")
            self._query_string = raw
        return raw

    @query_string.setter
    def query_string(self, value: bytes) -> None:
        self._query_string = value

    @_computed_once
    def headers(self) -> Headers:
        """The request headers."""
        source = self._source()
        if source is not None:
            return source.make_headers()
        return EnvironHeaders(self.environ)

    @_computed_once
    def cookies(self) -> ImmutableMultiDict[str, str]:
        """The cookies the client sent, parsed from the ``Cookie`` header."""
        # PERF: read the one header directly instead of building every header.
        source = self._source()
        if source is None:
            raw = self.environ.get("HTTP_COOKIE")
        else:
            raw = source.raw_header(b"cookie")
        if raw:
            pairs = _simple_cookie_pairs(raw)
            if pairs is not None:
                return _multi_dict(self.dict_storage_class, pairs)  # type: ignore[no-any-return]
        return parse_cookie(raw, cls=self.dict_storage_class)  # type: ignore[return-value]

    @_computed_once
    def remote_addr(self) -> str | None:
        """The client's address, as the server reports it."""
        return self.environ.get("REMOTE_ADDR")

    args = _QueryArgs()

    def get_data(
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> Any:
        """The request body, as bytes (or str with ``as_text``).

        In sync code this is Werkzeug's ``get_data``. In async code (an ``async def``
        view or hook) the result can also be awaited, ``await request.get_data()``,
        which under ASGI first receives the rest of the body without blocking.
        """
        if cache and not parse_form_data:
            body = self._read_whole_body()
            if body is not None:
                text_or_body = body.decode(errors="replace") if as_text else body
                if asyncio._get_running_loop() is None:
                    return text_or_body
                if isinstance(text_or_body, str):
                    return AwaitableText(text_or_body)
                return AwaitableBytes(text_or_body)
        if asyncio._get_running_loop() is None:
            return _werkzeug_get_data(self, cache, as_text, parse_form_data)
        source = self._source()
        if source is not None and not source.complete:
            return self._receive_then_get_data(source, cache, as_text, parse_form_data)
        data = _werkzeug_get_data(self, cache, as_text, parse_form_data)
        return AwaitableText(data) if isinstance(data, str) else AwaitableBytes(data)

    def _read_whole_body(self) -> bytes | None:
        """Read and cache a WSGI body of known length directly, or return None.

        What Werkzeug's ``get_data`` does for this case (the stream's limit, the
        413 check, the cache that form parsing reuses), without building the
        limited stream around the input.
        """
        # PERF: JSON and text bodies are read this way on every such request.
        attributes = self.__dict__
        if "_cached_data" in attributes or "stream" in attributes:
            return None
        source = self._source()
        if source is not None:
            received = source.received_body()
            if received is not None:
                attributes["_cached_data"] = received
            return received
        environ = self.environ
        try:
            length = int(environ["CONTENT_LENGTH"])
        except (KeyError, ValueError):
            return None
        if length < 0 or environ.get("wsgi.input_terminated"):
            return None
        limit = self.max_content_length
        if limit is not None and length > limit:
            raise RequestEntityTooLarge()
        data: bytes = environ["wsgi.input"].read(length) if length else b""
        if len(data) < length:
            raise ClientDisconnected()
        attributes["_cached_data"] = data
        return data

    @property
    def is_json(self) -> bool:
        """Whether the Content-Type is JSON (``application/json`` or ``+json``)."""
        source = self._source()
        if source is None:
            raw = self.environ.get("CONTENT_TYPE")
        else:
            raw = source.raw_header(b"content-type")
        if raw == "application/json" or raw == "application/json; charset=utf-8":
            return True
        return _WerkzeugRequest.is_json.fget(self)  # type: ignore[attr-defined, no-any-return]

    async def _receive_then_get_data(
        self, source: BodySource, cache: bool, as_text: bool, parse_form_data: bool
    ) -> Any:
        await source.read_all(self.max_content_length)
        return _werkzeug_get_data(self, cache, as_text, parse_form_data)

    # Werkzeug's ``data`` and ``get_json`` call ``get_data`` and cannot await it: on
    # the event loop, with the body not received yet, they read it synchronously,
    # which raises the adapter's explanation (await get_data() first).
    @_computed_once
    def data(self) -> bytes:
        """The raw body read from :attr:`stream`; empty if it was form data."""
        return _werkzeug_get_data(self, True, False, True)  # type: ignore[no-any-return]

    def get_json(
        self, force: bool = False, silent: bool = False, cache: bool = True
    ) -> Any:
        """The body parsed as JSON (see Werkzeug); in async code, under ASGI, first
        ``await request.get_data()`` if the body is large."""
        source = self._source()
        if (
            source is not None
            and not source.complete
            and (force or self.is_json)
            and asyncio._get_running_loop() is not None
        ):
            _werkzeug_get_data(self, cache)
        # What Werkzeug's get_json does, reading the body as plain bytes (not the
        # awaitable copy get_data gives in async code).
        if cache:
            cached = self._cached_json[silent]
            if cached is not Ellipsis:
                return cached
        if not (force or self.is_json):
            return None if silent else self.on_json_loading_failed(None)
        data = self._read_whole_body() if cache else None
        if data is None:
            data = _werkzeug_get_data(self, cache)
        try:
            rv = self.json_module.loads(data)
        except ValueError as e:
            if silent:
                rv = None
                if cache:
                    self._cached_json = (self._cached_json[0], None)
            else:
                rv = self.on_json_loading_failed(e)
                if cache:
                    self._cached_json = (rv, self._cached_json[1])
        else:
            if cache:
                self._cached_json = (rv, rv)
        return rv

    async def iter_body(self, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """Yield the body as it arrives, for an async view that streams it.

        Under ASGI the chunks are not buffered, so the body cannot be read again
        afterwards; under WSGI they are read from ``request.stream``.
        """
        source = self._source()
        if source is not None:
            async for chunk in source.iter_chunks(self.max_content_length):
                yield chunk
            return
        stream = self.stream
        while chunk := stream.read(chunk_size):
            yield chunk

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self._close_at_teardown = True

    #: The rule that matched the URL, once matched.
    url_rule: Rule | None = None
    #: The values the URL rule captured, once matched.
    view_args: dict[str, Any] | None = None
    #: The routing error (404, 405, redirect) to raise during dispatch, if any.
    routing_exception: HTTPException | None = None

    @property
    def json_module(self) -> Any:
        """The JSON provider of the active app, or the standard library's ``json``."""
        ctx = _cv_app.get(None)
        return _stdlib_json if ctx is None else ctx.app.json

    @property
    def max_content_length(self) -> int | None:
        """The largest body accepted, from ``MAX_CONTENT_LENGTH``."""
        value = self.__dict__.get("_max_content_length")
        if value is not None:
            return value  # type: ignore[no-any-return]
        return _config_value("MAX_CONTENT_LENGTH", None)  # type: ignore[no-any-return]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self.__dict__["_max_content_length"] = value

    @property
    def max_form_memory_size(self) -> int | None:
        """The largest non-file form field accepted, from ``MAX_FORM_MEMORY_SIZE``."""
        value = self.__dict__.get("_max_form_memory_size")
        if value is not None:
            return value  # type: ignore[no-any-return]
        return _config_value("MAX_FORM_MEMORY_SIZE", 500_000)  # type: ignore[no-any-return]

    @max_form_memory_size.setter
    def max_form_memory_size(self, value: int | None) -> None:
        self.__dict__["_max_form_memory_size"] = value

    @property
    def max_form_parts(self) -> int:
        """The largest number of multipart parts accepted, from ``MAX_FORM_PARTS``."""
        value = self.__dict__.get("_max_form_parts")
        if value is not None:
            return value  # type: ignore[no-any-return]
        return _config_value("MAX_FORM_PARTS", 1_000)  # type: ignore[no-any-return]

    @max_form_parts.setter
    def max_form_parts(self, value: int) -> None:
        self.__dict__["_max_form_parts"] = value

    @property
    def endpoint(self) -> str | None:
        """The endpoint of the matched rule, or None before or without a match."""
        rule = self.url_rule
        return None if rule is None else rule.endpoint

    @property
    def blueprint(self) -> str | None:
        """The dotted name of the blueprint that owns the matched endpoint, if any."""
        endpoint = self.endpoint
        if endpoint is not None and "." in endpoint:
            return endpoint.rpartition(".")[0]
        return None

    @property
    def blueprints(self) -> list[str]:
        """The blueprint names of the matched endpoint, innermost first."""
        name = self.blueprint
        if name is None:
            return []
        parts = name.split(".")
        return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        """Answer 400 Bad Request, saying why the body is not valid JSON."""
        if e is None:
            return super().on_json_loading_failed(e)
        raise BadRequest(f"The request body is not valid JSON: {e}")


class Response(_WerkzeugResponse):
    """The response object: Werkzeug's ``Response`` with HTML as the default type.

    ``max_cookie_size`` comes from the app's ``MAX_COOKIE_SIZE`` config while a
    context is active.
    """

    default_mimetype: str | None = "text/html"
    autocorrect_location_header = False

    def __init__(
        self,
        response: Any = None,
        status: int | str | HTTPStatus | None = None,
        headers: Any = None,
        mimetype: str | None = None,
        content_type: str | None = None,
        direct_passthrough: bool = False,
    ) -> None:
        body_type = type(response)
        if not (
            (body_type is bytes or body_type is str)
            and status is None
            and headers is None
            and mimetype is None
            and not direct_passthrough
            and type(self).set_data is _WerkzeugResponse.set_data
        ):
            super().__init__(
                response, status, headers, mimetype, content_type, direct_passthrough
            )
            return
        # PERF: the common ``Response(body)`` and ``jsonify`` case, with the state
        # Werkzeug's constructor leaves, built without its general-case checks; a
        # test compares the two constructors' results.
        if content_type is None:
            default = self.default_mimetype
            content_type = (
                None if default is None else get_content_type(default, "utf-8")
            )
        data: bytes = response.encode() if body_type is str else response
        items: list[tuple[str, str]] = []
        if content_type is not None:
            if "\n" in content_type or "\r" in content_type:
                _refuse_content_type(content_type)
            items.append(("Content-Type", content_type))
        if self.automatically_set_content_length:
            items.append(("Content-Length", f"{len(data)}"))
        _set_buffered(self, items, data)

    @property
    def json_module(self) -> Any:
        """The JSON provider of the active app, or the standard library's ``json``."""
        ctx = _cv_app.get(None)
        return _stdlib_json if ctx is None else ctx.app.json

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        """The largest cookie allowed without a warning, from ``MAX_COOKIE_SIZE``."""
        return _config_value("MAX_COOKIE_SIZE", 4093)  # type: ignore[no-any-return]


def _refuse_content_type(value: str) -> None:
    # For a value with CR or LF, which the callers test inline (PERF: no call in the
    # usual case): Werkzeug's Headers raises its usual error for it.
    Headers().add("Content-Type", value)


def _set_buffered(
    response: Response, headers: list[tuple[str, str]], data: bytes
) -> None:
    # The state Werkzeug's constructor leaves for a bytes body and these headers.
    response.headers = new_headers = _new_object(Headers)
    new_headers._list = headers
    if response.default_status == 200:
        response._status = "200 OK"
        response._status_code = 200
    else:
        response.status = response.default_status
    response.direct_passthrough = False
    response._on_close = []
    response.response = [data]


class AwaitableBytes(bytes):
    """Bytes that can be awaited (to themselves): ``await request.get_data()``."""

    def __await__(self) -> Generator[Any, None, bytes]:
        return self
        yield  # a generator, never reached


class AwaitableText(str):
    """Text that can also be awaited (to itself), like :class:`AwaitableBytes`."""

    def __await__(self) -> Generator[Any, None, str]:
        return self
        yield  # a generator, never reached


class _Unbuilt:
    # A class attribute of UnbuiltResponse named as one of the instance attributes
    # Werkzeug's constructor sets: read only while the instance lacks it, to build
    # the response.
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: Response | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = _build(obj)
        try:
            return state[self.name]
        except KeyError:  # an UnbuiltResponse without its parts: nothing to build
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r}",
                name=self.name,
                obj=obj,
            ) from None


class UnbuiltResponse(Response):
    """A :class:`Response` whose state is set on first use, as jsonify makes it.

    Until then it holds only ``_unbuilt``, the body and content type: a view's
    result that nothing read or changed is sent as that :data:`DirectResponse`,
    without the costs of a response object. Reading any attribute of the state
    builds it as the constructor would have and makes the object a plain
    :class:`Response`.
    """

    _unbuilt: DirectResponse  # (only until built)

    # (Not on Response itself: a class attribute of the same name makes CPython
    # look these up the slow way on every response.)
    if not TYPE_CHECKING:  # the attributes keep their own types for mypy
        headers = _Unbuilt("headers")
        _status = _Unbuilt("_status")
        _status_code = _Unbuilt("_status_code")
        direct_passthrough = _Unbuilt("direct_passthrough")
        _on_close = _Unbuilt("_on_close")
        response = _Unbuilt("response")


def plain_response(data: bytes, content_type: str) -> Response:
    """``Response(data, content_type=content_type)``, as jsonify makes it.

    The response is an :class:`UnbuiltResponse` (unless ``Response.default_status``
    was changed): one nothing reads or changes is sent without being built.
    """
    if "\n" in content_type or "\r" in content_type:
        _refuse_content_type(content_type)
    if Response.default_status != 200:  # sent as a DirectResponse, it would be 200
        return _built_response(data, content_type)
    unbuilt = _new_object(UnbuiltResponse)
    unbuilt._unbuilt = (data, content_type)
    return unbuilt


def _built_response(data: bytes, content_type: str) -> Response:
    response = _new_object(Response)
    headers = [("Content-Type", content_type), ("Content-Length", f"{len(data)}")]
    _set_buffered(response, headers, data)
    return response


def _build(response: Response) -> dict[str, Any]:
    """Build an unbuilt response (nothing if it is built) and return its state."""
    state = response.__dict__
    parts = state.get("_unbuilt")
    if parts is not None:
        # What the constructor sets, except where a user of the response set it
        # already (its status, say): the state it would have if built at once.
        for name, value in vars(_built_response(*parts)).items():
            state.setdefault(name, value)
        state.pop("_unbuilt", None)
        response.__class__ = Response
    return state


#: A finished response with a buffered body and status 200, as ``(body,
#: content_type)``. Dispatch returns one instead of a :class:`Response` only when
#: nothing can tell the difference: the view returned a plain ``str`` or ``dict``, or
#: an :class:`UnbuiltResponse` nothing touched, and no ``after_request`` function,
#: session or ``request_finished`` receiver would see the response object. The
#: adapters write the bytes a ``Response`` would send.
#: (A plain tuple: making it costs a fraction of an object's construction.)
DirectResponse = tuple[bytes, str]


#: The response header names Kettle itself writes, spelled as it writes them.
OWN_HEADER_NAMES = ("Content-Type", "Content-Length", "Vary", "Set-Cookie")

_ENTITY_REWRITES = frozenset(("location", "content-location"))
# Kettle's own names that need no closer look in is_plain_buffered.
_PLAIN_NAMES = frozenset(OWN_HEADER_NAMES) - {"Content-Length"}


def buffered_parts(
    response: Response, method: str
) -> tuple[str, list[tuple[str, str]], list[bytes]] | None:
    """Status, headers and body of a plain buffered response, for an adapter to write.

    "Plain" means a :class:`Response` (not a subclass) with a 2xx status other than
    204, its body set as bytes, no close callbacks and no Location header: for it,
    this returns what Werkzeug's ``Response.__call__`` would send, without building
    the copies it makes to handle the general case. Anything else returns None, and
    the adapter lets Werkzeug write the response. An :class:`UnbuiltResponse` is
    built first, and judged as the plain Response it then is.
    """
    # PERF: runs for every response built by a view or a hook.
    if not is_plain_buffered(response):
        return None
    body: list[bytes] = [] if method == "HEAD" else response.response  # type: ignore[assignment]
    # _status: the status property's own field (the type is Response itself).
    return response._status, response.headers._list.copy(), body


def is_plain_buffered(response: Response) -> bool:
    """Whether ``response`` is "plain" in the sense of :func:`buffered_parts`."""
    if type(response) is not Response:
        if type(response) is not UnbuiltResponse:
            return False
        _build(response)  # a plain Response from now on
    status = response._status_code
    body = response.response
    if (
        status < 200
        or status > 299
        or status == 204
        or type(body) is not list
        or response._on_close
    ):
        return False
    has_length = False
    for key, _value in response.headers._list:
        # PERF: the usual names are recognized as they are, without lower().
        if key == "Content-Length":
            has_length = True
        elif key not in _PLAIN_NAMES:
            lowered = key.lower()
            if lowered in _ENTITY_REWRITES:
                return False
            if lowered == "content-length":
                has_length = True
    if not has_length:
        return False
    for chunk in body:
        if type(chunk) is not bytes:
            return False
    return True
