"""Type aliases for the callables and values users hand to Kettle."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Union

from werkzeug.datastructures import Headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse as StartResponse
    from _typeshed.wsgi import WSGIApplication as WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment as WSGIEnvironment
    from werkzeug.sansio.response import Response as SansIOResponse
else:
    WSGIEnvironment = dict[str, Any]
    StartResponse = Callable[..., Any]
    WSGIApplication = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]

ResponseValue = Union[
    "SansIOResponse",
    str,
    bytes,
    list[Any],
    Mapping[str, Any],
    Iterable[str],
    Iterable[bytes],
    AsyncIterable[str],
    AsyncIterable[bytes],
]
HeaderValue = Union[str, list[str], tuple[str, ...]]
HeadersValue = Union[
    Headers,
    Mapping[str, HeaderValue],
    list[tuple[str, HeaderValue]],
]
ResponseReturnValue = Union[
    ResponseValue,
    tuple[ResponseValue, HeadersValue],
    tuple[ResponseValue, int],
    tuple[ResponseValue, int, HeadersValue],
    "WSGIApplication",
]
ResponseClass = Any

RouteCallable = Union[
    Callable[..., ResponseReturnValue], Callable[..., Awaitable[ResponseReturnValue]]
]
BeforeRequestCallable = Union[
    Callable[[], "ResponseReturnValue | None"],
    Callable[[], Awaitable["ResponseReturnValue | None"]],
]
AfterRequestCallable = Union[Callable[[Any], Any], Callable[[Any], Awaitable[Any]]]
TeardownCallable = Union[
    Callable[[BaseException | None], object],
    Callable[[BaseException | None], Awaitable[object]],
]
ErrorHandlerCallable = Union[
    Callable[[Any], ResponseReturnValue],
    Callable[[Any], Awaitable[ResponseReturnValue]],
]
URLValuePreprocessorCallable = Callable[[str | None, dict[str, Any] | None], None]
URLDefaultCallable = Callable[[str, dict[str, Any]], None]
TemplateContextProcessorCallable = Union[
    Callable[[], dict[str, Any]], Callable[[], Awaitable[dict[str, Any]]]
]
