"""A JSON format that keeps the Python types a session needs.

Plain JSON loses tuples, bytes, HTML strings, UUIDs and datetimes. Here each such
value is written as a one-key object whose key names its type (the *tag*), and is
rebuilt from that object when read::

    (1, 2)                      -> {" t": [1, 2]}
    b"\\x00"                     -> {" b": "AA=="}
    Markup("<b>")               -> {" m": "<b>"}
    UUID(...)                   -> {" u": "<hex>"}
    datetime(..., tzinfo=utc)   -> {" d": "<HTTP date>"}
    {" t": 1}                   -> {" di": {" t__": 1}}

The last line protects a real dict whose one key looks like a tag. Tag keys start
with a space so that they rarely collide with real keys. The format is the one
Flask's session cookies use, so a cookie from either framework reads in the other.

Add a type with :meth:`TaggedJSONSerializer.register` and a :class:`JSONTag`
subclass that sets ``key`` and implements ``check``, ``to_json`` and ``to_python``.
"""

from __future__ import annotations

import json
from base64 import b64decode, b64encode
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from markupsafe import Markup
from werkzeug.http import http_date, parse_date

from .provider import DefaultJSONProvider, _compile

__all__ = [
    "JSONTag",
    "PassDict",
    "PassList",
    "TagBytes",
    "TagDateTime",
    "TagDict",
    "TagMarkup",
    "TagTuple",
    "TagUUID",
    "TaggedJSONSerializer",
]


class JSONTag:
    """One Python type, written as a tagged JSON value and read back.

    ``key`` is the tag written to the JSON object; an empty key means the value is
    converted in place without a wrapping object (used for plain dicts and lists,
    whose items may need tags of their own).
    """

    __slots__ = ("serializer",)

    #: The tag of this type in the JSON output; empty for pass-through tags.
    key: str = ""

    def __init__(self, serializer: TaggedJSONSerializer) -> None:
        self.serializer = serializer

    def check(self, value: Any) -> bool:
        """Return whether this tag handles ``value``."""
        raise NotImplementedError

    def to_json(self, value: Any) -> Any:
        """Convert ``value`` into something JSON can hold (without the tag)."""
        raise NotImplementedError

    def to_python(self, value: Any) -> Any:
        """Rebuild the Python value from what :meth:`to_json` produced."""
        raise NotImplementedError

    def tag(self, value: Any) -> Any:
        """Convert ``value`` and wrap it in an object keyed by this tag."""
        return {self.key: self.to_json(value)}


class TagDict(JSONTag):
    """A dict with one key that is itself a tag; the key gets a ``__`` suffix."""

    __slots__ = ()
    key = " di"

    def check(self, value: Any) -> bool:
        return (
            isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in self.serializer.tags
        )

    def to_json(self, value: Any) -> Any:
        ((key, item),) = value.items()
        return {f"{key}__": self.serializer.tag(item)}

    def to_python(self, value: Any) -> Any:
        ((key, item),) = value.items()
        return {key[:-2]: item}


class PassDict(JSONTag):
    """Any other dict: its values are tagged, the dict itself is not."""

    __slots__ = ()

    def check(self, value: Any) -> bool:
        return isinstance(value, dict)

    def to_json(self, value: Any) -> Any:
        tag = self.serializer.tag
        return {key: tag(item) for key, item in value.items()}

    tag = to_json


class TagTuple(JSONTag):
    """A tuple, written as a list."""

    __slots__ = ()
    key = " t"

    def check(self, value: Any) -> bool:
        return isinstance(value, tuple)

    def to_json(self, value: Any) -> Any:
        tag = self.serializer.tag
        return [tag(item) for item in value]

    def to_python(self, value: Any) -> Any:
        return tuple(value)


class PassList(JSONTag):
    """A list: its items are tagged, the list itself is not."""

    __slots__ = ()

    def check(self, value: Any) -> bool:
        return isinstance(value, list)

    def to_json(self, value: Any) -> Any:
        tag = self.serializer.tag
        return [tag(item) for item in value]

    tag = to_json


class TagBytes(JSONTag):
    """Bytes, written as base64 text."""

    __slots__ = ()
    key = " b"

    def check(self, value: Any) -> bool:
        return isinstance(value, bytes)

    def to_json(self, value: Any) -> Any:
        return b64encode(value).decode("ascii")

    def to_python(self, value: Any) -> Any:
        return b64decode(value)


class TagMarkup(JSONTag):
    """An object with an ``__html__`` method, read back as ``Markup``."""

    __slots__ = ()
    key = " m"

    def check(self, value: Any) -> bool:
        return callable(getattr(value, "__html__", None))

    def to_json(self, value: Any) -> Any:
        return str(value.__html__())

    def to_python(self, value: Any) -> Any:
        return Markup(value)


class TagUUID(JSONTag):
    """A :class:`~uuid.UUID`, written as its hex digits."""

    __slots__ = ()
    key = " u"

    def check(self, value: Any) -> bool:
        return isinstance(value, UUID)

    def to_json(self, value: Any) -> Any:
        return value.hex

    def to_python(self, value: Any) -> Any:
        return UUID(value)


class TagDateTime(JSONTag):
    """A datetime, written as an HTTP date (whole seconds, read back in UTC)."""

    __slots__ = ()
    key = " d"

    def check(self, value: Any) -> bool:
        return isinstance(value, datetime)

    def to_json(self, value: Any) -> Any:
        return http_date(value)

    def to_python(self, value: Any) -> Any:
        return parse_date(value)


_BUILTIN_TAGS = frozenset(
    {TagDict, PassDict, TagTuple, PassList, TagBytes, TagMarkup, TagUUID, TagDateTime}
)
_PLAIN_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None)})


class TaggedJSONSerializer:
    """Write and read JSON that keeps the types of its registered tags.

    Tags are tried in order and the first whose ``check`` accepts a value converts
    it. Each serializer has its own registry, so registering a tag on one does not
    change another.
    """

    #: The tags every new serializer starts with, in the order they are tried.
    default_tags: tuple[type[JSONTag], ...] = (
        TagDict,
        PassDict,
        TagTuple,
        PassList,
        TagBytes,
        TagMarkup,
        TagUUID,
        TagDateTime,
    )

    def __init__(self) -> None:
        #: Tags that write a key, by key; used when reading.
        self.tags: dict[str, JSONTag] = {}
        #: All tags in the order they are tried when writing.
        self.order: list[JSONTag] = []
        # Exact types passed through untouched; emptied by a tag of the user's,
        # which might handle them.
        self._plain_types: frozenset[type] = _PLAIN_TYPES
        # PERF: the C encoder built once, not set up again for every session.
        self._encode = _compile(
            DefaultJSONProvider.default, True, True, None, (",", ":")
        )
        # The decoder calls the hook on the innermost objects first, so a tag's
        # content is already rebuilt when its own object is untagged.
        self._decoder = json.JSONDecoder(object_hook=self.untag)
        self._scan: Callable[[str, int], tuple[Any, int]] = self._decoder.scan_once  # type: ignore[attr-defined]
        for tag_class in self.default_tags:
            self.register(tag_class)

    def register(
        self, tag_class: type[JSONTag], force: bool = False, index: int | None = None
    ) -> None:
        """Add a tag type to this serializer.

        ``force`` replaces the tag registered with the same key, instead of raising
        ``KeyError``; the new tag takes the old one's place in the order. ``index``
        places the tag at that position in the order tags are tried; by default it
        is tried last. Put a tag before the built-in ones to handle a subclass of
        a type they already handle.
        """
        tag = tag_class(self)
        replaced = self._replaced_by(tag, force)
        if replaced is not None and index is None:
            index = self.order.index(replaced)
        if replaced is not None:
            self.order.remove(replaced)
        if index is None:
            self.order.append(tag)
        else:
            self.order.insert(index, tag)
        if tag_class not in _BUILTIN_TAGS:
            self._plain_types = frozenset()

    def _replaced_by(self, tag: JSONTag, force: bool) -> JSONTag | None:
        key = tag.key
        if not key:
            return None
        old = self.tags.get(key)
        if old is not None and not force:
            raise KeyError(
                f"A tag with the key {key!r} is already registered"
                f" ({type(old).__name__}). Pass force=True to replace it, or give"
                " the new tag another key."
            )
        self.tags[key] = tag
        return old

    def tag(self, value: Any) -> Any:
        """Convert ``value`` into plain JSON data, tagging the types that need it."""
        # PERF: no built-in tag handles these exact types, so skip trying each one.
        plain = self._plain_types
        if type(value) in plain:
            return value
        if type(value) is dict and plain and (len(value) != 1 or self._untagged(value)):
            # A session is usually a dict of plain values: what PassDict does, inline.
            return {k: v if type(v) in plain else self.tag(v) for k, v in value.items()}
        for tag in self.order:
            if tag.check(value):
                return tag.tag(value)
        return value

    def _untagged(self, value: dict[str, Any]) -> bool:
        return next(iter(value)) not in self.tags

    def untag(self, value: dict[str, Any]) -> Any:
        """Rebuild the Python value for a tagged object; return others unchanged."""
        if len(value) != 1:
            return value
        key = next(iter(value))
        tag = self.tags.get(key)
        if tag is None:
            return value
        return tag.to_python(value[key])

    def dumps(self, value: Any) -> str:
        """Serialize ``value`` to compact, tagged JSON."""
        return self._encode(self.tag(value))

    def loads(self, value: str | bytes) -> Any:
        """Parse tagged JSON and rebuild the tagged values."""
        if isinstance(value, str):
            # PERF: a document with no surrounding whitespace is scanned directly;
            # anything else (and every error) goes through the full decoder.
            try:
                obj, end = self._scan(value, 0)
            except StopIteration:
                end = -1
            if end == len(value):
                return obj
            return self._decoder.decode(value)
        return json.loads(value, object_hook=self.untag)
