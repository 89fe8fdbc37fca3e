"""Tests for kettle.json.tag."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import pytest
from markupsafe import Markup

from kettle.json.tag import JSONTag, PassDict, TaggedJSONSerializer, TagTuple

AWARE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
ID = UUID("12345678-1234-5678-1234-567812345678")


@pytest.fixture
def serializer() -> TaggedJSONSerializer:
    return TaggedJSONSerializer()


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": 1, "b": [1, "x", None, True]},
        (1, 2, 3),
        b"\x00\xffbytes",
        Markup("<b>safe</b>"),
        ID,
        AWARE,
        {" t": "looks like a tag"},
        {" di": {" t": 1}},
        {"nested": {"t": (b"x", [ID, {"when": AWARE}]), "m": Markup("&amp;")}},
        [(1, (2, (3,)))],
        "plain",
        12.5,
        None,
    ],
)
def test_round_trip(serializer: TaggedJSONSerializer, value: Any) -> None:
    result = serializer.loads(serializer.dumps(value))
    assert result == value
    assert type(result) is type(value)


def test_round_trip_keeps_nested_types(serializer: TaggedJSONSerializer) -> None:
    result = serializer.loads(serializer.dumps({"a": [(b"x", Markup("<i>"))]}))
    inner = result["a"][0]
    assert type(inner) is tuple
    assert type(inner[0]) is bytes
    assert type(inner[1]) is Markup


def test_wire_format(serializer: TaggedJSONSerializer) -> None:
    assert serializer.dumps((1, 2)) == '{" t":[1,2]}'
    assert serializer.dumps(b"\x00") == '{" b":"AA=="}'
    assert serializer.dumps(Markup("<b>")) == '{" m":"<b>"}'
    assert serializer.dumps(ID) == '{" u":"12345678123456781234567812345678"}'
    assert serializer.dumps(AWARE) == '{" d":"Mon, 06 May 2024 07:08:09 GMT"}'
    assert serializer.dumps({" t": 1}) == '{" di":{" t__":1}}'
    assert serializer.dumps({"b": 1, "a": 2}) == '{"a":2,"b":1}'


def test_reads_cookie_payload_written_by_flask_format(
    serializer: TaggedJSONSerializer,
) -> None:
    payload = json.dumps(
        {
            "t": {" t": [1, {" b": "eA=="}]},
            "d": {" d": "Mon, 06 May 2024 07:08:09 GMT"},
            "k": {" di": {" u__": "x"}},
        }
    )
    assert serializer.loads(payload) == {"t": (1, b"x"), "d": AWARE, "k": {" u": "x"}}


def test_datetime_reads_back_aware_utc(serializer: TaggedJSONSerializer) -> None:
    result = serializer.loads(serializer.dumps(AWARE.replace(microsecond=500)))
    assert result == AWARE
    assert result.tzinfo is not None
    assert result.utcoffset().total_seconds() == 0


def test_object_with_html_reads_back_as_markup(
    serializer: TaggedJSONSerializer,
) -> None:
    class Html:
        def __html__(self) -> str:
            return "<p>"

    result = serializer.loads(serializer.dumps(Html()))
    assert result == Markup("<p>")
    assert type(result) is Markup


def test_dicts_with_other_single_keys_are_not_untagged(
    serializer: TaggedJSONSerializer,
) -> None:
    assert serializer.loads('{" x": 1}') == {" x": 1}
    assert serializer.loads('{" t": 1, "a": 2}') == {" t": 1, "a": 2}


class Temperature:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Temperature) and other.degrees == self.degrees

    __hash__ = None  # type: ignore[assignment]


class TagTemperature(JSONTag):
    __slots__ = ()
    key = " temp"

    def check(self, value: Any) -> bool:
        return isinstance(value, Temperature)

    def to_json(self, value: Any) -> Any:
        return value.degrees

    def to_python(self, value: Any) -> Any:
        return Temperature(value)


def test_register_custom_tag(serializer: TaggedJSONSerializer) -> None:
    serializer.register(TagTemperature)
    value = {"now": Temperature(21.5), "log": (Temperature(3),)}
    assert serializer.dumps(Temperature(1)) == '{" temp":1}'
    assert serializer.loads(serializer.dumps(value)) == value
    # A dict whose only key is the new tag is protected as well.
    assert serializer.loads(serializer.dumps({" temp": 1})) == {" temp": 1}


def test_register_is_per_serializer(serializer: TaggedJSONSerializer) -> None:
    serializer.register(TagTemperature)
    with pytest.raises(TypeError, match="Temperature"):
        TaggedJSONSerializer().dumps(Temperature(1))


def test_register_duplicate_key_raises_unless_forced(
    serializer: TaggedJSONSerializer,
) -> None:
    class OtherTuple(TagTuple):
        __slots__ = ()

        def to_python(self, value: Any) -> Any:
            return ("other", *value)

    with pytest.raises(KeyError, match="' t'"):
        serializer.register(OtherTuple)
    serializer.register(OtherTuple, force=True)
    assert serializer.loads('{" t":[1]}') == ("other", 1)


def test_register_at_index_is_tried_first(serializer: TaggedJSONSerializer) -> None:
    class TagPair(JSONTag):
        __slots__ = ()
        key = " pair"

        def check(self, value: Any) -> bool:
            return isinstance(value, tuple) and len(value) == 2

        def to_json(self, value: Any) -> Any:
            return list(value)

        def to_python(self, value: Any) -> Any:
            return ("pair", *value)

    serializer.register(TagPair, index=0)
    assert isinstance(serializer.order[0], TagPair)
    assert serializer.dumps((1, 2)) == '{" pair":[1,2]}'
    assert serializer.dumps((1, 2, 3)) == '{" t":[1,2,3]}'


def test_pass_through_tags_have_no_key(serializer: TaggedJSONSerializer) -> None:
    assert "" not in serializer.tags
    assert any(isinstance(tag, PassDict) for tag in serializer.order)


def test_base_tag_methods_must_be_implemented(
    serializer: TaggedJSONSerializer,
) -> None:
    tag = JSONTag(serializer)
    for method in (tag.check, tag.to_json, tag.to_python):
        with pytest.raises(NotImplementedError):
            method(1)


def test_forced_tag_takes_the_old_place(serializer: TaggedJSONSerializer) -> None:
    class ListTuple(TagTuple):
        __slots__ = ()

        def to_json(self, value: Any) -> Any:
            return ["tuple", *super().to_json(value)]

        def to_python(self, value: Any) -> Any:
            return tuple(value[1:])

    position = [type(tag) for tag in serializer.order].index(TagTuple)
    serializer.register(ListTuple, force=True)
    assert type(serializer.order[position]) is ListTuple
    assert not any(type(tag) is TagTuple for tag in serializer.order)
    assert serializer.dumps((1,)) == '{" t":["tuple",1]}'
    assert serializer.loads(serializer.dumps((1, (2,)))) == (1, (2,))


def test_custom_tag_can_handle_plain_types(serializer: TaggedJSONSerializer) -> None:
    class TagBigInt(JSONTag):
        __slots__ = ()
        key = " big"

        def check(self, value: Any) -> bool:
            return type(value) is int and abs(value) >= 2**53

        def to_json(self, value: Any) -> Any:
            return str(value)

        def to_python(self, value: Any) -> Any:
            return int(value)

    assert serializer.dumps(2**60) == str(2**60)
    serializer.register(TagBigInt, index=0)
    assert (
        serializer.dumps({"n": 2**60, "m": 1}) == f'{{"m":1,"n":{{" big":"{2**60}"}}}}'
    )
    assert serializer.loads(serializer.dumps([2**60])) == [2**60]


def test_loads_accepts_bytes(serializer: TaggedJSONSerializer) -> None:
    assert serializer.loads(b'{"a":{" t":[1]}}') == {"a": (1,)}
    assert serializer.loads('{"a":{" t":[1]}}'.encode("utf-16")) == {"a": (1,)}


def test_serializers_do_not_share_plain_type_shortcut() -> None:
    first = TaggedJSONSerializer()
    second = TaggedJSONSerializer()

    class TagStr(JSONTag):
        __slots__ = ()
        key = " s"

        def check(self, value: Any) -> bool:
            return isinstance(value, str)

        def to_json(self, value: Any) -> Any:
            return value.upper()

        def to_python(self, value: Any) -> Any:
            return value.lower()

    first.register(TagStr, index=0)
    assert first.dumps("a") == '{" s":"A"}'
    assert second.dumps("a") == '"a"'
