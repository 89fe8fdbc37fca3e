"""JSON providers: how an application turns values into JSON and back.

Every app owns one provider, ``app.json``. :class:`DefaultJSONProvider` wraps the
standard library's :mod:`json` and knows a few more types (dates, decimals, UUIDs,
dataclasses, HTML strings). Replace ``app.json_provider_class`` to use another
JSON library.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from datetime import date
from typing import IO, TYPE_CHECKING, Any

from werkzeug.http import http_date

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

    from ..app import Kettle

__all__ = ["DefaultJSONProvider", "JSONProvider"]


class JSONProvider:
    """The interface an app's JSON provider offers.

    Subclasses implement :meth:`dumps` and :meth:`loads`; the file variants and
    :meth:`response` are built on them.
    """

    def __init__(self, app: Kettle) -> None:
        self._app = app

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` to a JSON string."""
        raise NotImplementedError

    def dump(self, obj: Any, fp: IO[str], **kwargs: Any) -> None:
        """Serialize ``obj`` as JSON into the text file ``fp``."""
        fp.write(self.dumps(obj, **kwargs))

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse the JSON document ``s``."""
        raise NotImplementedError

    def load(self, fp: IO[Any], **kwargs: Any) -> Any:
        """Parse the JSON document read from the file ``fp``."""
        return self.loads(fp.read(), **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Build a JSON response of the app's ``response_class`` from the arguments.

        One positional argument is serialized as it is, several become a list,
        keyword arguments become an object. Mixing both raises ``TypeError``.
        """
        return self._app.response_class(
            self.dumps(_response_value(args, kwargs)) + "\n",
            mimetype="application/json",
        )


def _response_value(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if args and kwargs:
        raise TypeError(
            "A JSON response takes either positional or keyword arguments, not both:"
            " pass one value, or build a dict yourself and pass it."
        )
    if kwargs:
        return kwargs
    if len(args) == 1:
        return args[0]
    return list(args) if args else None


def _default(obj: Any) -> Any:
    if isinstance(obj, date):
        return http_date(obj)
    if isinstance(obj, (decimal.Decimal, uuid.UUID)):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    html = getattr(obj, "__html__", None)
    if html is not None:
        return str(html())
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class DefaultJSONProvider(JSONProvider):
    """The standard library's :mod:`json` with Kettle's extra types and settings.

    Beyond the usual JSON types it writes ``date`` and ``datetime`` as HTTP dates,
    ``Decimal`` and ``UUID`` as strings, dataclass instances as objects, and any
    object with an ``__html__`` method as the HTML it returns. Change the class
    attributes on a subclass or on the app's instance to change the output.
    """

    #: Turns a value the ``json`` module does not know into one it does.
    default = staticmethod(_default)
    #: Escape non-ASCII characters, so the output is plain ASCII.
    ensure_ascii = True
    #: Sort the keys of objects, so equal values give equal output.
    sort_keys = True
    #: Compact (True) or indented (False) responses; None indents only in debug mode.
    compact: bool | None = None
    #: The mimetype of :meth:`response`.
    mimetype = "application/json"

    def __init__(self, app: Kettle) -> None:
        super().__init__(app)
        self._dumps_encoder: tuple[tuple[Any, ...], json.JSONEncoder] | None = None
        self._response_encoder: tuple[tuple[Any, ...], json.JSONEncoder] | None = None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` to JSON with this provider's settings.

        Keyword arguments are passed to :func:`json.dumps` and override them.
        """
        if kwargs:
            kwargs.setdefault("default", self.default)
            kwargs.setdefault("ensure_ascii", self.ensure_ascii)
            kwargs.setdefault("sort_keys", self.sort_keys)
            return json.dumps(obj, **kwargs)
        return self._encoder_for_dumps().encode(obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse the JSON document ``s`` (text or UTF-8/16/32 bytes)."""
        return json.loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Build a JSON response from the arguments (see :meth:`JSONProvider.response`).

        The body is indented when ``compact`` is False, or when it is None and the
        app is in debug mode; otherwise it is as short as possible.
        """
        body = self._encoder_for_response().encode(_response_value(args, kwargs))
        return self._app.response_class(body + "\n", mimetype=self.mimetype)

    def _settings(self) -> tuple[Any, ...]:
        return (self.default, self.ensure_ascii, self.sort_keys)

    # PERF: encoders are built once and reused while the settings they were built
    # from stay the same; json.dumps with any option builds a new one per call.
    def _encoder_for_dumps(self) -> json.JSONEncoder:
        settings = self._settings()
        cached = self._dumps_encoder
        if cached is not None and cached[0] == settings:
            return cached[1]
        encoder = _make_encoder(settings, indent=None, separators=(", ", ": "))
        self._dumps_encoder = (settings, encoder)
        return encoder

    def _encoder_for_response(self) -> json.JSONEncoder:
        compact = self.compact
        if compact is None:
            compact = not self._app.debug
        settings = (*self._settings(), compact)
        cached = self._response_encoder
        if cached is not None and cached[0] == settings:
            return cached[1]
        if compact:
            encoder = _make_encoder(settings, indent=None, separators=(",", ":"))
        else:
            encoder = _make_encoder(settings, indent=2, separators=(",", ": "))
        self._response_encoder = (settings, encoder)
        return encoder


def _make_encoder(
    settings: tuple[Any, ...], indent: int | None, separators: tuple[str, str]
) -> json.JSONEncoder:
    default, ensure_ascii, sort_keys = settings[:3]
    return json.JSONEncoder(
        default=default,
        ensure_ascii=ensure_ascii,
        sort_keys=sort_keys,
        indent=indent,
        separators=separators,
    )
