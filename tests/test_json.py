"""Tests for kettle.json and kettle.json.provider."""

from __future__ import annotations

import dataclasses
import decimal
import io
import json
import uuid
from datetime import date, datetime, timezone
from typing import Any

import pytest
from markupsafe import Markup

import kettle.json as kjson
from kettle.json.provider import DefaultJSONProvider, JSONProvider
from kettle.wrappers import Response


class StandInApp:
    def __init__(self, debug: bool = False) -> None:
        self.debug = debug
        self.config: dict[str, Any] = {}
        self.response_class = Response
        self.json = DefaultJSONProvider(self)  # type: ignore[arg-type]


@dataclasses.dataclass
class Point:
    x: int
    y: int


@pytest.fixture
def provider() -> DefaultJSONProvider:
    return StandInApp().json


def test_dumps_sorts_keys_and_escapes_non_ascii(provider: DefaultJSONProvider) -> None:
    assert provider.dumps({"b": 1, "a": "é"}) == '{"a": "\\u00e9", "b": 1}'


def test_dumps_follows_attribute_changes(provider: DefaultJSONProvider) -> None:
    assert provider.dumps({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    provider.sort_keys = False
    provider.ensure_ascii = False
    assert provider.dumps({"b": "é", "a": 2}) == '{"b": "é", "a": 2}'


def test_dumps_keyword_arguments_override_settings(
    provider: DefaultJSONProvider,
) -> None:
    assert provider.dumps({"b": 1, "a": 2}, sort_keys=False) == '{"b": 1, "a": 2}'
    assert provider.dumps([1, 2], separators=(",", ":")) == "[1,2]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2024, 1, 2), '"Tue, 02 Jan 2024 00:00:00 GMT"'),
        (
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            '"Tue, 02 Jan 2024 03:04:05 GMT"',
        ),
        (decimal.Decimal("1.10"), '"1.10"'),
        (
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            '"12345678-1234-5678-1234-567812345678"',
        ),
        (Point(1, 2), '{"x": 1, "y": 2}'),
        (Markup("<b>hi</b>"), '"<b>hi</b>"'),
    ],
)
def test_default_handles_extra_types(
    provider: DefaultJSONProvider, value: Any, expected: str
) -> None:
    assert provider.dumps(value) == expected


def test_default_rejects_unknown_types_naming_them(
    provider: DefaultJSONProvider,
) -> None:
    with pytest.raises(TypeError, match="Object of type object is not"):
        provider.dumps(object())
    with pytest.raises(TypeError, match="type Thing"):
        DefaultJSONProvider.default(type("Thing", (), {})())
    with pytest.raises(TypeError, match="type type"):
        DefaultJSONProvider.default(Point)


def test_custom_default_on_subclass() -> None:
    class Provider(DefaultJSONProvider):
        default = staticmethod(lambda obj: sorted(obj))

    app = StandInApp()
    app.json = Provider(app)  # type: ignore[arg-type]
    assert app.json.dumps({3, 1, 2}) == "[1, 2, 3]"
    assert app.json.response({2, 1}).get_data(as_text=True) == "[1,2]\n"


def test_loads_and_load_accept_text_and_bytes(provider: DefaultJSONProvider) -> None:
    assert provider.loads('{"a": [1, 2]}') == {"a": [1, 2]}
    assert provider.loads(b'{"a": null}') == {"a": None}
    assert provider.load(io.StringIO("[true]")) == [True]
    assert provider.load(io.BytesIO(b"[false]")) == [False]


def test_dump_writes_to_file(provider: DefaultJSONProvider) -> None:
    buffer = io.StringIO()
    provider.dump({"b": 1, "a": 2}, buffer)
    assert buffer.getvalue() == '{"a": 2, "b": 1}'


def test_response_is_compact_outside_debug(provider: DefaultJSONProvider) -> None:
    response = provider.response({"b": [1, 2], "a": 1})
    assert isinstance(response, Response)
    assert response.mimetype == "application/json"
    assert response.get_data(as_text=True) == '{"a":1,"b":[1,2]}\n'


def test_response_is_indented_in_debug() -> None:
    app = StandInApp(debug=True)
    body = app.json.response({"a": [1]}).get_data(as_text=True)
    assert body == '{\n  "a": [\n    1\n  ]\n}\n'


def test_response_follows_debug_and_compact_changes() -> None:
    app = StandInApp(debug=False)
    assert app.json.response(a=1).get_data(as_text=True) == '{"a":1}\n'
    app.debug = True
    assert app.json.response(a=1).get_data(as_text=True) == '{\n  "a": 1\n}\n'
    app.json.compact = True
    assert app.json.response(a=1).get_data(as_text=True) == '{"a":1}\n'
    app.json.compact = False
    app.debug = False
    assert app.json.response(a=1).get_data(as_text=True) == '{\n  "a": 1\n}\n'


def test_response_argument_shapes(provider: DefaultJSONProvider) -> None:
    def body(*args: Any, **kwargs: Any) -> Any:
        return json.loads(provider.response(*args, **kwargs).get_data())

    assert body(1) == 1
    assert body([1]) == [1]
    assert body(1, 2, "x") == [1, 2, "x"]
    assert body(a=1, b=[2]) == {"a": 1, "b": [2]}
    assert body() is None


def test_response_rejects_args_and_kwargs(provider: DefaultJSONProvider) -> None:
    with pytest.raises(TypeError, match="not both"):
        provider.response(1, a=2)


def test_response_uses_mimetype_and_response_class() -> None:
    class MyResponse(Response):
        pass

    app = StandInApp()
    app.response_class = MyResponse
    app.json.mimetype = "application/vnd.api+json"
    response = app.json.response([])
    assert type(response) is MyResponse
    assert response.mimetype == "application/vnd.api+json"


def test_base_provider_builds_on_dumps_and_loads() -> None:
    class Provider(JSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return json.dumps(obj, separators=(",", ":"))

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            return json.loads(s)

    app = StandInApp()
    provider = Provider(app)  # type: ignore[arg-type]
    buffer = io.StringIO()
    provider.dump({"a": 1}, buffer)
    assert buffer.getvalue() == '{"a":1}'
    assert provider.load(io.StringIO("[1]")) == [1]
    response = provider.response(1, 2)
    assert response.get_data(as_text=True) == "[1,2]\n"
    assert response.mimetype == "application/json"


def test_base_provider_requires_dumps_and_loads() -> None:
    provider = JSONProvider(StandInApp())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError):
        provider.dumps(1)
    with pytest.raises(NotImplementedError):
        provider.loads("1")


def test_module_functions_without_context_use_stdlib_with_extra_types() -> None:
    assert kjson.dumps({"b": 1, "a": date(2024, 1, 2)}) == (
        '{"b": 1, "a": "Tue, 02 Jan 2024 00:00:00 GMT"}'
    )
    assert kjson.loads('{"a": 1}') == {"a": 1}
    buffer = io.StringIO()
    kjson.dump(decimal.Decimal("2.5"), buffer)
    assert buffer.getvalue() == '"2.5"'
    buffer.seek(0)
    assert kjson.load(buffer) == "2.5"


def test_jsonify_without_context_explains_the_fix() -> None:
    with pytest.raises(RuntimeError, match=r"app_context\(\)"):
        kjson.jsonify(a=1)
