"""``Request`` and ``Response``: Werkzeug's, plus what routing and config add."""

from __future__ import annotations

import json as _stdlib_json
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.wrappers import Request as _WerkzeugRequest
from werkzeug.wrappers import Response as _WerkzeugResponse

from .globals import _cv_app

if TYPE_CHECKING:
    from werkzeug.routing import Rule

__all__ = ["DirectResponse", "Request", "Response"]

#: The Content-Type of a ``str`` returned by a view.
HTML_UTF8 = "text/html; charset=utf-8"


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

    @property
    def json_module(self) -> Any:
        """The JSON provider of the active app, or the standard library's ``json``."""
        ctx = _cv_app.get(None)
        return _stdlib_json if ctx is None else ctx.app.json

    @property
    def max_cookie_size(self) -> int:  # type: ignore[override]
        """The largest cookie allowed without a warning, from ``MAX_COOKIE_SIZE``."""
        return _config_value("MAX_COOKIE_SIZE", 4093)  # type: ignore[no-any-return]


class DirectResponse:
    """A finished response with a buffered body, written without a ``Response`` object.

    Dispatch returns one instead of a :class:`Response` only when nothing can tell
    the difference: the view returned a plain ``str`` or ``dict``, and no
    ``after_request`` function, session or ``request_finished`` receiver would see
    the response object. The bytes on the wire are the same.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: bytes, content_type: str, status: str = "200 OK") -> None:
        self.body = body
        self.status = status
        self.headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
        ]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(self.status, self.headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [self.body]
