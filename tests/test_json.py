"""Tests for kettle.json and kettle.json.provider."""

from __future__ import annotations

import dataclasses
import decimal
import io
import json
import threading
import uuid
from datetime import date, datetime, timezone
from typing import Any

import pytest
from markupsafe import Markup

import kettle.json as kjson
from kettle import Kettle, request
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


def test_encode_response_follows_every_setting_between_calls() -> None:
    app = Kettle(__name__)
    provider = app.json
    assert provider.encode_response({"b": "é", "a": 1}) == (
        '{"a":1,"b":"\\u00e9"}\n',
        "application/json",
    )
    provider.sort_keys = False
    assert provider.encode_response({"b": 1, "a": 2})[0] == '{"b":1,"a":2}\n'
    provider.ensure_ascii = False
    assert provider.encode_response({"b": "é"})[0] == '{"b":"é"}\n'
    provider.default = lambda obj: "custom"  # type: ignore[method-assign]
    assert provider.encode_response({"x": object()})[0] == '{"x":"custom"}\n'
    app.debug = True  # compact None: indented in debug mode
    assert provider.encode_response({"a": 1})[0] == '{\n  "a": 1\n}\n'
    app.debug = False
    provider.mimetype = "application/vnd.api+json"
    assert provider.encode_response([1]) == ("[1]\n", "application/vnd.api+json")


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


# --- through a real application ------------------------------------------------------


@pytest.fixture
def kettle_app() -> Kettle:
    app = Kettle(__name__)
    app.testing = True
    return app


def test_jsonify_in_view(kettle_app: Kettle) -> None:
    @kettle_app.route("/")
    def index() -> Response:
        return kjson.jsonify(when=date(2024, 1, 2), ids=[1, 2])

    response = kettle_app.test_client().get("/")
    assert response.mimetype == "application/json"
    assert response.text == '{"ids":[1,2],"when":"Tue, 02 Jan 2024 00:00:00 GMT"}\n'
    assert response.json == {"ids": [1, 2], "when": "Tue, 02 Jan 2024 00:00:00 GMT"}


def test_jsonify_is_pretty_in_debug(kettle_app: Kettle) -> None:
    kettle_app.debug = True

    @kettle_app.route("/")
    def index() -> Response:
        return kjson.jsonify([1])

    assert kettle_app.test_client().get("/").text == "[\n  1\n]\n"


def test_jsonify_uses_app_response_class(kettle_app: Kettle) -> None:
    class MyResponse(Response):
        pass

    kettle_app.response_class = MyResponse
    with kettle_app.app_context():
        response = kjson.jsonify(1, 2)
    assert type(response) is MyResponse
    assert response.get_data(as_text=True) == "[1,2]\n"


def test_module_functions_use_app_provider(kettle_app: Kettle) -> None:
    class Provider(DefaultJSONProvider):
        sort_keys = False

        def loads(self, s: str | bytes, **kwargs: Any) -> Any:
            return ("loaded", super().loads(s, **kwargs))

    kettle_app.json = Provider(kettle_app)
    with kettle_app.app_context():
        assert kjson.dumps({"b": 1, "a": 2}) == '{"b": 1, "a": 2}'
        assert kjson.loads("1") == ("loaded", 1)
        assert kjson.load(io.StringIO("2")) == ("loaded", 2)
        buffer = io.StringIO()
        kjson.dump({"b": 1, "a": 2}, buffer)
        assert buffer.getvalue() == '{"b": 1, "a": 2}'
    assert kjson.dumps({"b": 1, "a": 2}) == '{"b": 1, "a": 2}'
    assert kjson.loads("1") == 1


def test_request_json_uses_app_provider(kettle_app: Kettle) -> None:
    @kettle_app.post("/")
    def echo() -> Response:
        return kjson.jsonify(request.get_json())

    response = kettle_app.test_client().post("/", json={"b": [1], "a": None})
    assert response.text == '{"a":null,"b":[1]}\n'


# --- the fast encoder path -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1.5, "a": [True, False, None], "é": "ü\u2028"},
        {1: "int key", 2.5: "float key", None: "none key", False: "bool key"},
        [float("nan"), float("inf"), -float("inf"), 10**30, -0.0],
        "top level string \x00",
        [Point(1, 2), date(2020, 2, 2), decimal.Decimal("9.99")],
        {"nested": {"deep": [[[{"x": ()}]]]}},
    ],
)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_fast_encoder_matches_stdlib(value: Any, ensure_ascii: bool) -> None:
    app = StandInApp()
    app.json.ensure_ascii = ensure_ascii
    app.json.sort_keys = False
    expected = json.dumps(
        value, default=DefaultJSONProvider.default, ensure_ascii=ensure_ascii
    )
    assert app.json.dumps(value) == expected
    compact = json.dumps(
        value,
        default=DefaultJSONProvider.default,
        ensure_ascii=ensure_ascii,
        separators=(",", ":"),
    )
    assert app.json.response(value).get_data(as_text=True) == compact + "\n"


def test_circular_reference_is_reported(provider: DefaultJSONProvider) -> None:
    looped: list[Any] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        provider.dumps(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        provider.response(looped)


def test_deep_but_acyclic_value_still_raises_recursion(
    provider: DefaultJSONProvider,
) -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        provider.dumps(deep)


def test_provider_is_thread_safe(provider: DefaultJSONProvider) -> None:
    shared = {"items": list(range(200)), "nested": [{"a": i} for i in range(50)]}
    expected = provider.response(shared).get_data()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                assert provider.response(shared).get_data() == expected
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_subclass_overriding_dumps_is_used_for_responses(kettle_app: Kettle) -> None:
    calls: list[dict[str, Any]] = []

    class Provider(DefaultJSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            calls.append(kwargs)
            return json.dumps({"wrapped": obj}, **kwargs)

    kettle_app.json = Provider(kettle_app)

    @kettle_app.route("/")
    def index() -> Response:
        return kjson.jsonify(a=1)

    client = kettle_app.test_client()
    assert client.get("/").text == '{"wrapped":{"a":1}}\n'
    kettle_app.debug = True
    assert client.get("/").text == '{\n  "wrapped": {\n    "a": 1\n  }\n}\n'
    assert calls == [{"separators": (",", ":")}, {"indent": 2}]


def test_dict_returned_from_view_is_json(kettle_app: Kettle) -> None:
    @kettle_app.route("/")
    def index() -> dict[str, Any]:
        return {"b": decimal.Decimal("1.5"), "a": [uuid.UUID(int=1)]}

    response = kettle_app.test_client().get("/")
    assert response.headers["Content-Type"] == "application/json"
    assert response.text == (
        '{"a":["00000000-0000-0000-0000-000000000001"],"b":"1.5"}\n'
    )


def test_encode_response(provider: DefaultJSONProvider) -> None:
    assert provider.encode_response({"a": 1}) == ('{"a":1}\n', "application/json")
    provider.mimetype = "text/json"
    assert provider.encode_response(1) == ("1\n", "text/json; charset=utf-8")
    assert provider.response(1).headers["Content-Type"] == "text/json; charset=utf-8"


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1}',
        b'[1, 2, "\xc3\xa9"]',
        b'{"a": 1} ',
        b' {"a": 1}',
        b'{"a": 1} x',
        b'{"a": }',
        b"{",
        '{"a": "é"}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        '["x"]'.encode("utf-32-be"),
        b"\xef\xbb\xbf{}",
        b'{"a": "\xff"}',
        b"[NaN]",
        b"7",
    ],
)
def test_provider_loads_matches_json_loads(body: bytes) -> None:
    import json as stdlib_json

    from kettle.json.provider import DefaultJSONProvider

    provider = DefaultJSONProvider(Kettle(__name__))
    try:
        expected: object = stdlib_json.loads(body)
    except ValueError as e:
        with pytest.raises(type(e)):
            provider.loads(body)
    else:
        assert provider.loads(body) == expected
