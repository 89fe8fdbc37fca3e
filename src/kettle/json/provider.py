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
import json.encoder
import uuid
from collections.abc import Callable
from datetime import date
from typing import IO, TYPE_CHECKING, Any

from werkzeug.http import http_date
from werkzeug.utils import get_content_type

if TYPE_CHECKING:
    from ..app import Kettle
    from ..wrappers import Response

__all__ = ["DefaultJSONProvider", "JSONProvider", "response_value"]


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
        body, content_type = self.encode_response(response_value(args, kwargs))
        return self._app.response_class(body, content_type=content_type)

    def encode_response(self, value: Any) -> tuple[str, str]:
        """The body and ``Content-Type`` of a JSON response holding ``value``."""
        return self.dumps(value) + "\n", "application/json"


def response_value(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The value a JSON response holds, from :meth:`JSONProvider.response`'s
    arguments."""
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
        self._dumps_cache: tuple[tuple[Any, ...], _Encode] | None = None
        # (default, ensure_ascii, sort_keys, compact, encode)
        self._response_cache: tuple[Any, bool, bool, bool, _Encode] | None = None
        self._content_type_cache: tuple[str, str] = ("", "")

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` to JSON with this provider's settings.

        Keyword arguments are passed to :func:`json.dumps` and override them.
        """
        if kwargs:
            kwargs.setdefault("default", self.default)
            kwargs.setdefault("ensure_ascii", self.ensure_ascii)
            kwargs.setdefault("sort_keys", self.sort_keys)
            return json.dumps(obj, **kwargs)
        key = (self.default, self.ensure_ascii, self.sort_keys)
        cached = self._dumps_cache
        if cached is None or cached[0] != key:
            cached = self._dumps_cache = (key, _compile(*key, None, (", ", ": ")))
        return cached[1](obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse the JSON document ``s`` (text or UTF-8/16/32 bytes)."""
        # PERF: a request body that is plainly a UTF-8 object or array is decoded
        # and scanned directly; anything else, and every error, takes json.loads.
        if not kwargs and type(s) is bytes and s[:1] in _OPENERS and s[1:2] != b"\0":
            try:
                text = s.decode("utf-8", "surrogatepass")
                obj, end = _scan(text, 0)
                if end == len(text):
                    return obj
            except (StopIteration, UnicodeDecodeError):
                pass
        return json.loads(s, **kwargs)

    # PERF: this runs for every JSON view. The encoder and the content type are
    # built once and reused while the settings they come from stay the same, so
    # changing an attribute or ``app.debug`` still takes effect on the next call.
    def encode_response(self, value: Any) -> tuple[str, str]:
        """The body and ``Content-Type`` of :meth:`response` for ``value``.

        The body is indented when ``compact`` is False, or when it is None and the
        app is in debug mode; otherwise it is as short as possible. A subclass
        that overrides :meth:`dumps` has it called with ``indent`` or
        ``separators`` to choose the layout.
        """
        compact = self.compact
        if compact is None:
            try:
                compact = not self._app._debug  # PERF: the debug property's field
            except AttributeError:  # an app-like object other than a Kettle
                compact = not self._app.debug
        kind = type(self)  # PERF: the exact default class needs no method lookup
        if (
            kind is not DefaultJSONProvider
            and kind.dumps is not DefaultJSONProvider.dumps
        ):
            return self._dumps_override(value, compact), self._content_type()
        # PERF: the settings compared one by one; a key tuple cost twice as much.
        cached = self._response_cache
        if (
            cached is None
            or cached[0] is not self.default
            or cached[1] != self.ensure_ascii
            or cached[2] != self.sort_keys
            or cached[3] != compact
        ):
            key = (self.default, self.ensure_ascii, self.sort_keys, compact)
            cached = self._response_cache = (*key, _compile_for_response(key))
        mimetype = self.mimetype
        content_type = self._content_type_cache
        if content_type[0] != mimetype:
            return cached[4](value) + "\n", self._content_type()
        return cached[4](value) + "\n", content_type[1]

    def _dumps_override(self, value: Any, compact: bool) -> str:
        if compact:
            return self.dumps(value, separators=(",", ":")) + "\n"
        return self.dumps(value, indent=2) + "\n"

    def _content_type(self) -> str:
        mimetype = self.mimetype
        cached = self._content_type_cache
        if cached[0] != mimetype:
            cached = self._content_type_cache = (
                mimetype,
                get_content_type(mimetype, "utf-8"),
            )
        return cached[1]


_Encode = Callable[[Any], str]

# The standard library's own scanner, as json.loads uses it (no hooks).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_OPENERS = (b"{", b"[")


def _compile_for_response(key: tuple[Any, ...]) -> _Encode:
    default, ensure_ascii, sort_keys, compact = key
    if compact:
        return _compile(default, ensure_ascii, sort_keys, None, (",", ":"))
    return _compile(default, ensure_ascii, sort_keys, 2, (",", ": "))


def _compile(
    default: Callable[[Any], Any],
    ensure_ascii: bool,
    sort_keys: bool,
    indent: int | None,
    separators: tuple[str, str],
) -> _Encode:
    """Build a function that encodes a value with these settings.

    Unindented output goes straight to the C encoder of :mod:`json`, built once;
    ``JSONEncoder.encode`` would set one up again on every call.
    """
    checked = json.JSONEncoder(
        default=default,
        ensure_ascii=ensure_ascii,
        sort_keys=sort_keys,
        indent=indent,
        separators=separators,
    )
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if indent is not None or make_encoder is None:
        return checked.encode
    encode_string = (
        json.encoder.encode_basestring_ascii
        if ensure_ascii
        else json.encoder.encode_basestring
    )
    # No circular-reference markers: a shared markers dict is not thread-safe.
    fast = make_encoder(
        None, default, encode_string, None, separators[1], separators[0],
        sort_keys, False, True,
    )  # fmt: skip

    def encode(obj: Any) -> str:
        try:
            return "".join(fast(obj, 0))
        except RecursionError:
            # Without markers a cycle recurses; the checked encoder names it.
            return checked.encode(obj)

    return encode
