"""Kettle's Request and Response take shortcuts; each gives what Werkzeug gives."""

from __future__ import annotations

import asyncio
import copy
import io
import pickle
from typing import Any

import httpx
import pytest
from werkzeug.datastructures import Headers
from werkzeug.datastructures import ImmutableMultiDict as WerkzeugImmutableMultiDict
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from kettle import Kettle, Request, Response, jsonify, request
from kettle.dispatch import run_request
from kettle.wrappers import (
    DirectResponse,
    ImmutableMultiDict,
    UnbuiltResponse,
    buffered_parts,
    plain_response,
)

ENVIRONS = [
    {"path": "/"},
    {"path": "/a/b", "query_string": "x=1&y=2&x=3"},
    {"path": "/caf%C3%A9/%E2%9C%93", "query_string": "q=%C3%A9t%C3%A9&e=&f"},
    {"path": "/p", "method": "post", "data": b"body"},
    {"path": "//double//slashes/", "base_url": "https://example.org:8443/root/"},
    {"path": "/h", "headers": {"X-Token": "abc", "Host": "h.example:81"}},
    {"path": "/q", "query_string": "a+b=c+d&semi=1;2&pct=%2B"},
    {"path": "/q", "query_string": "a=1&&b&c=&=d&e==f&a=2"},
    {"path": "/q", "query_string": "\u00e9=\u00e8"},
]


def _same_kind(ours: Any, theirs: Any) -> None:
    """Same class, or Kettle's ImmutableMultiDict for Werkzeug's."""
    if type(theirs) is WerkzeugImmutableMultiDict:
        assert type(ours) is ImmutableMultiDict
    else:
        assert type(ours) is type(theirs)


def _environ(spec: dict[str, Any]) -> dict[str, Any]:
    builder = EnvironBuilder(**spec)
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    environ["REMOTE_ADDR"] = "10.1.2.3"
    return environ


@pytest.mark.parametrize("spec", ENVIRONS, ids=lambda s: str(s["path"]))
def test_lazy_request_attributes_equal_werkzeugs(spec: dict[str, Any]) -> None:
    ours = Request(_environ(spec))
    theirs = WerkzeugRequest(_environ(spec))
    for name in (
        "method",
        "scheme",
        "server",
        "root_path",
        "path",
        "full_path",
        "query_string",
        "remote_addr",
        "url",
        "base_url",
        "host",
        "host_url",
    ):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert list(ours.args.items(multi=True)) == list(theirs.args.items(multi=True))
    assert list(ours.headers.items()) == list(theirs.headers.items())


@pytest.mark.parametrize("spec", ENVIRONS, ids=lambda s: str(s["path"]))
def test_args_read_first_equal_werkzeugs(spec: dict[str, Any]) -> None:
    ours = Request(_environ(spec))
    theirs = WerkzeugRequest(_environ(spec))
    assert list(ours.args.items(multi=True)) == list(theirs.args.items(multi=True))
    assert ours.query_string == theirs.query_string


def test_args_follow_a_query_string_set_on_the_request() -> None:
    request = Request(_environ({"path": "/", "query_string": "a=1"}))
    request.query_string = b"a=2&b=%C3%A9"
    assert list(request.args.items(multi=True)) == [("a", "2"), ("b", "\u00e9")]
    plain = Request(_environ({"path": "/", "query_string": "a=1"}))
    plain.query_string = b"a=3"
    assert plain.args.to_dict(flat=False) == {"a": ["3"]}


def test_a_subclass_property_can_extend_lazy_attributes_through_super() -> None:
    class Tagged(Request):
        @property
        def args(self) -> Any:
            return super().args

        @property
        def headers(self) -> Any:
            return super().headers

    environ = _environ({"path": "/", "query_string": "a=1", "headers": {"X-A": "b"}})
    request = Tagged(environ)
    assert request.args.to_dict(flat=False) == {"a": ["1"]}
    assert request.args is request.args  # computed once, as Werkzeug's are
    assert request.headers["X-A"] == "b"
    assert request.headers is request.headers
    decoded = Tagged(_environ({"path": "/", "query_string": "a=%C3%A9"}))
    assert decoded.args["a"] == "\u00e9"
    assert decoded.args is decoded.args


def test_lazy_request_registers_itself_in_the_environ() -> None:
    environ = _environ({"path": "/"})
    request = Request(environ)
    assert environ["werkzeug.request"] is request
    shallow = Request(_environ({"path": "/"}), shallow=True)
    assert "werkzeug.request" not in shallow.environ


def test_lazy_request_attributes_can_be_assigned() -> None:
    request = Request(_environ({"path": "/a"}))
    request.path = "/b"
    assert request.path == "/b"


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("hello",), {}),
        ((b"bytes",), {}),
        (("caf\u00e9",), {}),
        (("{}",), {"content_type": "application/json"}),
        (("",), {}),
    ],
)
def test_fast_response_constructor_equals_werkzeugs(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    class Slow(WerkzeugResponse):
        default_mimetype = "text/html"
        autocorrect_location_header = False

    _assert_same_state(Response(*args, **kwargs), Slow(*args, **kwargs))


def _assert_same_state(made: Any, expected: Any) -> None:
    assert set(vars(made)) == set(vars(expected))
    for name, value in vars(expected).items():
        if name == "headers":
            assert made.headers.to_wsgi_list() == value.to_wsgi_list()
        else:
            assert vars(made)[name] == value, name


def test_response_constructor_general_case_still_works() -> None:
    response = Response(
        ["a", "b"], status=201, headers={"X": "1"}, mimetype="text/plain"
    )
    assert response.status == "201 CREATED"
    assert response.headers["X"] == "1"
    assert response.mimetype == "text/plain"
    assert response.get_data() == b"ab"


def _werkzeug_output(
    response: Any, method: str = "GET"
) -> tuple[str, list[tuple[str, str]], bytes]:
    started: list[Any] = []
    body = b"".join(
        response(
            {
                "REQUEST_METHOD": method,
                "SERVER_NAME": "x",
                "SERVER_PORT": "80",
                "wsgi.url_scheme": "http",
                "PATH_INFO": "/",
            },
            lambda status, headers, exc_info=None: started.append((status, headers)),
        )
    )
    return started[0][0], list(started[0][1]), body


def _without_length(response: Response) -> Response:
    del response.headers["Content-Length"]
    return response


def _renamed(response: Response) -> Response:
    # Headers.set keeps the spelling it is given: any case must be recognized.
    response.headers.set("content-length", response.headers["Content-Length"])
    response.headers.set("content-TYPE", "text/plain")
    response.headers.add("X-Mixed-Case", "v")
    return response


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: _renamed(Response("hello")),
        lambda: Response("hello", headers={"vary": "Cookie", "Set-Cookie": "a=b"}),
        lambda: Response("hello"),
        lambda: Response(b"x" * 1000, content_type="application/octet-stream"),
        lambda: Response("created", status=201, headers={"X-Id": "7"}),
    ],
)
def test_buffered_parts_equal_werkzeugs_output(make: Any, method: str) -> None:
    parts = buffered_parts(make(), method)
    assert parts is not None
    status, headers, body = parts
    assert (status, headers, b"".join(body)) == _werkzeug_output(make(), method)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Response("moved", status=302, headers={"Location": "/x"}),
        lambda: Response("", status=204),
        lambda: Response(iter([b"a"])),
        lambda: Response("ok", headers={"Content-Location": "/caf\u00e9"}),
        lambda: Response("ok", headers={"location": "/x"}),
        lambda: Response("ok", headers={"CONTENT-LOCATION": "/y"}),
        lambda: WerkzeugResponse("ok"),
        lambda: _without_length(Response("ok")),
    ],
)
def test_buffered_parts_leave_special_responses_to_werkzeug(make: Any) -> None:
    assert buffered_parts(make(), "GET") is None


def test_buffered_parts_leave_responses_with_close_callbacks_to_werkzeug() -> None:
    response = Response("ok")
    response.call_on_close(lambda: None)
    assert buffered_parts(response, "GET") is None


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_direct_response_writes_what_a_response_object_writes(method: str) -> None:
    app = Kettle(__name__)
    app.add_url_rule("/", "text", lambda: "h\u00e9")
    direct: DirectResponse = ("h\u00e9".encode(), "text/html; charset=utf-8")
    ctx = app.test_request_context(method=method)
    try:
        assert run_request(app, ctx) == direct  # no Response object made
    finally:
        ctx.pop()
    assert _werkzeug_output(app, method) == _werkzeug_output(
        Response("h\u00e9"), method
    )


def test_untouched_jsonify_response_is_sent_directly() -> None:
    app = Kettle(__name__)
    app.add_url_rule("/", "plain", lambda: jsonify(a=1))
    app.add_url_rule("/changed", "changed", lambda: _changed(jsonify(a=1)))
    ctx = app.test_request_context("/")
    try:
        assert run_request(app, ctx) == (b'{"a":1}\n', "application/json")
    finally:
        ctx.pop()
    ctx = app.test_request_context("/changed")
    try:
        response = run_request(app, ctx)
    finally:
        ctx.pop()
    assert isinstance(response, Response)
    assert response.status_code == 202
    sent = app.test_client().get("/changed")
    assert (sent.status_code, sent.data) == (202, b'{"a":1}\n')
    assert sent.headers.to_wsgi_list() == [
        ("Content-Type", "application/json"),
        ("Content-Length", "8"),
    ]


def test_jsonify_keeps_a_changed_default_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Response, "default_status", 202)
    app = Kettle(__name__)
    app.add_url_rule("/", "plain", lambda: jsonify(a=1))
    with app.app_context():
        made = jsonify(a=1)
    assert type(made) is Response  # built at once: a DirectResponse would say 200
    assert made.status_code == 202
    sent = app.test_client().get("/")
    assert (sent.status_code, sent.data) == (202, b'{"a":1}\n')


def _changed(response: Response) -> Response:
    response.status_code = 202
    return response


def _over_asgi(app: Kettle, path: str, method: str) -> tuple[int, bytes, list[Any]]:
    import asyncio

    import httpx

    async def main() -> tuple[int, bytes, list[Any]]:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost"
        ) as client:
            response = await client.request(method, path)
        return response.status_code, response.content, response.headers.multi_items()

    return asyncio.run(main())


@pytest.mark.parametrize(
    "hook",
    ["after_request", "request_finished", "session", "custom_response_class"],
)
@pytest.mark.parametrize(
    "route",
    [
        "/text",
        "/json",
        "/jsonify",
        "/jsonify-changed",
        "/jsonify-tuple",
        "/response",
        "/created",
        "/stream",
    ],
)
def test_direct_and_general_paths_send_the_same_bytes(hook: str, route: str) -> None:
    """Forcing the general path (a hook that sees the response) changes nothing."""
    from kettle import jsonify, request_finished, session

    def make_app() -> Kettle:
        app = Kettle(__name__)
        app.secret_key = "k"

        @app.get("/text")
        def text() -> str:
            return "caf\u00e9"

        @app.get("/json")
        def json_view() -> dict[str, Any]:
            return {"b": [1, 2], "a": "\u00e9"}

        @app.get("/jsonify")
        def jsonify_view() -> Any:
            return jsonify({"b": [1, 2], "a": "\u00e9"})

        @app.get("/jsonify-changed")
        def jsonify_changed() -> Any:
            response = jsonify([1])
            response.status_code = 201
            response.headers["X-A"] = "1"
            return response

        @app.get("/jsonify-tuple")
        def jsonify_tuple() -> Any:
            return jsonify([1]), 202, {"X-B": "2"}

        @app.get("/response")
        def response_view() -> Any:
            response = app.response_class("caf\u00e9", headers={"X-A": "1"})
            response.set_cookie("c", "v")
            return response

        @app.get("/created")
        def created_view() -> Any:
            response = app.response_class(b"made", status=201, mimetype="text/plain")
            response.headers["Location"] = "/made/1"
            return response

        @app.get("/stream")
        def stream_view() -> Any:
            return app.response_class(iter([b"a", b"b"]), mimetype="text/plain")

        return app

    plain = make_app()
    forced = make_app()
    receiver = None
    if hook == "after_request":
        forced.after_request(lambda response: response)
    elif hook == "session":
        forced.before_request(lambda: session.get("nothing"))
    elif hook == "custom_response_class":

        class Custom(Response):
            pass

        forced.response_class = Custom
    else:

        def receiver(sender: Any, **kwargs: Any) -> None:
            pass

        request_finished.connect(receiver, forced)
    try:
        for method in ("GET", "HEAD"):
            a = plain.test_client().open(route, method=method)
            b = forced.test_client().open(route, method=method)
            assert (a.status, a.data) == (b.status, b.data)
            expected = [h for h in b.headers.items() if h[0] != "Vary"]
            assert list(a.headers.items()) == expected
            asgi_a, asgi_b = (
                _over_asgi(plain, route, method),
                _over_asgi(forced, route, method),
            )
            assert asgi_a[:2] == asgi_b[:2]
            assert asgi_a[2] == [h for h in asgi_b[2] if h[0] != "vary"]
    finally:
        if receiver is not None:
            request_finished.disconnect(receiver, forced)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"a": [1, 2], "b": "\\u00e9"}', "application/json"),
        (b'{"a": 1}', "application/json; charset=utf-8"),
        (b'{"a": 1}', "application/vnd.api+json"),
        (b"[1, 2, 3]", "Application/JSON"),
        (b"not json", "text/plain"),
        (b"", "application/json"),
        (b"x=1&y=2", "application/x-www-form-urlencoded"),
    ],
)
def test_body_reading_shortcut_equals_werkzeug(body: bytes, content_type: str) -> None:
    spec = {"path": "/", "method": "POST", "data": body, "content_type": content_type}
    ours = Request(_environ(spec))
    theirs = WerkzeugRequest(_environ(spec))
    assert ours.is_json == theirs.is_json
    assert ours.get_data() == theirs.get_data()
    assert ours.get_data(as_text=True) == theirs.get_data(as_text=True)
    assert ours.get_json(silent=True) == theirs.get_json(silent=True)
    assert ours.form.to_dict() == theirs.form.to_dict()


def test_body_reading_shortcut_refuses_a_body_over_the_limit() -> None:
    from werkzeug.exceptions import RequestEntityTooLarge

    request = Request(_environ({"path": "/", "method": "POST", "data": b"x" * 100}))
    request.max_content_length = 10
    with pytest.raises(RequestEntityTooLarge):
        request.get_data()


def test_body_reading_shortcut_reports_a_short_body_as_a_disconnect() -> None:
    import io

    from werkzeug.exceptions import ClientDisconnected

    environ = _environ({"path": "/", "method": "POST", "data": b"abc"})
    environ["CONTENT_LENGTH"] = "10"
    environ["wsgi.input"] = io.BytesIO(b"abc")
    with pytest.raises(ClientDisconnected):
        Request(environ).get_data()


def test_form_parsing_after_get_data_reuses_the_cached_body() -> None:
    spec = {
        "path": "/",
        "method": "POST",
        "data": b"a=1&b=2",
        "content_type": "application/x-www-form-urlencoded",
    }
    request = Request(_environ(spec))
    assert request.get_data() == b"a=1&b=2"
    assert request.form.to_dict() == {"a": "1", "b": "2"}


# -- the plain-cookie shortcut agrees with Werkzeug's parser -------------------------

_COOKIE_ALPHABET = 'ab=; \t"\\,é\n1'


@pytest.mark.parametrize(
    "raw",
    [
        "a=1",
        "a=1; b=2",
        " a = 1 ;b=",
        "a;b=;=c;;",
        "session=eyJuIjoxfQ.Zk.sig==; theme=dark",
        'q="x y"; r=1',
        "k=v=w; x",
        "é=ü; n=\n",
        "1;11;1",
    ],
)
def test_simple_cookie_pairs_match_werkzeug(raw: str) -> None:
    _check_cookie_parity(raw)


def _check_cookie_parity(raw: str) -> None:
    from werkzeug.datastructures import MultiDict
    from werkzeug.sansio.http import parse_cookie

    from kettle.wrappers import _simple_cookie_pairs

    pairs = _simple_cookie_pairs(raw)
    expected = list(parse_cookie(raw, cls=MultiDict).items(multi=True))
    if pairs is not None:
        # The pairs fill a multi-dict, which groups repeated names (``1;11;1``
        # lists both values of ``1`` first): compare what that multi-dict holds.
        assert list(MultiDict(pairs).items(multi=True)) == expected, raw


def test_simple_cookie_pairs_match_werkzeug_on_random_input() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet=_COOKIE_ALPHABET, max_size=30))
    def check(raw: str) -> None:
        _check_cookie_parity(raw)

    check()


def test_simple_cookie_pairs_take_the_plain_headers() -> None:
    from kettle.wrappers import _simple_cookie_pairs

    assert _simple_cookie_pairs("a=1; b=x=y;c") == [("a", "1"), ("b", "x=y"), ("c", "")]
    assert _simple_cookie_pairs('a="1"') is None


@pytest.mark.parametrize("body", [b'{"a": [1, "\xc3\xa9"]}', b"not json", b"", b"[1,"])
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("silent", [False, True])
@pytest.mark.parametrize("cache", [False, True])
def test_get_json_matches_werkzeug(
    body: bytes, content_type: str, force: bool, silent: bool, cache: bool
) -> None:
    from werkzeug.exceptions import HTTPException

    def outcome(request: Any) -> list[Any]:
        results: list[Any] = []
        for _ in range(2):  # twice: the cache must behave the same
            for quiet in (silent, not silent):
                try:
                    results.append(
                        request.get_json(force=force, silent=quiet, cache=cache)
                    )
                except HTTPException as e:
                    results.append(e.code)
        return results

    def environ() -> dict[str, Any]:
        builder = EnvironBuilder(method="POST", data=body, content_type=content_type)
        return builder.get_environ()

    expected = outcome(WerkzeugRequest(environ()))
    app = Kettle(__name__)
    with app.app_context():
        assert outcome(Request(environ())) == expected


@pytest.mark.parametrize("storage", [None, "MultiDict", "dict"])
def test_fast_args_equal_werkzeugs_on_random_queries(storage: str | None) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from werkzeug.datastructures import MultiDict

    chosen: Any = {"MultiDict": MultiDict, "dict": dict}.get(storage or "")

    class Ours(Request):
        if chosen is not None:
            parameter_storage_class = chosen

    class Theirs(WerkzeugRequest):
        if chosen is not None:
            parameter_storage_class = chosen

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.sampled_from("abcxyz09=&._-~"), max_size=40))
    def check(query: str) -> None:
        ours = Ours(_environ({"path": "/", "query_string": query})).args
        theirs = Theirs(_environ({"path": "/", "query_string": query})).args
        _same_kind(ours, theirs)
        if isinstance(theirs, MultiDict):
            assert list(ours.items(multi=True)) == list(theirs.items(multi=True))
            assert ours.to_dict(flat=False) == theirs.to_dict(flat=False)
        else:
            assert ours == theirs

    check()


def test_request_multi_dicts_behave_as_werkzeugs() -> None:
    environ = _environ(
        {
            "path": "/",
            "query_string": "a=1&a=2&b=&c",
            "method": "POST",
            "data": {"f": ["x", "y"]},
            "headers": {"Cookie": "k=v; k=w"},
        }
    )
    req = Request(environ)
    app = Kettle(__name__)
    with app.app_context():
        form = req.form
    theirs = WerkzeugRequest(_environ({"path": "/", "query_string": "a=1&a=2&b=&c"}))
    for d in (req.args, form, req.cookies):
        assert isinstance(d, WerkzeugImmutableMultiDict)
        assert type(d) is ImmutableMultiDict
    assert repr(req.args) == repr(theirs.args)
    assert (req.args["a"], req.args["b"], req.args["c"]) == ("1", "", "")
    assert req.args.getlist("a") == ["1", "2"]
    assert req.args.get("a") == "1"
    assert req.args.get("z") is None
    assert req.args.get("z", "d") == "d"
    assert req.args.get("a", type=int) == 1
    assert (form["f"], req.cookies["k"]) == ("x", "v")
    for d, key in ((req.args, "z"), (form, "z"), (req.cookies, "z")):
        with pytest.raises(BadRequestKeyError) as caught:
            d[key]
        assert caught.value.code == 400
        assert caught.value.args == ("z",)
    with pytest.raises(TypeError):
        req.args[["unhashable"]]  # type: ignore[index]
    with pytest.raises(TypeError):
        req.args["a"] = "3"  # type: ignore[index]
    again = pickle.loads(pickle.dumps(req.args))
    assert type(again) is ImmutableMultiDict
    assert list(again.items(multi=True)) == list(req.args.items(multi=True))
    assert copy.copy(req.args) == req.args
    assert req.args.copy().getlist("a") == ["1", "2"]  # a mutable MultiDict


def test_fast_cookies_equal_werkzeugs_on_random_headers() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    # A header value cannot hold a newline (the environ builder refuses it).
    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=_COOKIE_ALPHABET.replace("\n", ""), max_size=30))
    def check(raw: str) -> None:
        spec = {"path": "/", "headers": {"Cookie": raw}}
        ours = Request(_environ(spec)).cookies
        theirs = WerkzeugRequest(_environ(spec)).cookies
        _same_kind(ours, theirs)
        assert list(ours.items(multi=True)) == list(theirs.items(multi=True))
        assert ours.to_dict(flat=False) == theirs.to_dict(flat=False)

    check()


@pytest.mark.parametrize(
    ("path", "root_path", "want_path", "want_root"),
    [
        ("/a/b", "", "/a/b", ""),
        ("", "", "/", ""),
        ("a", "/app/", "/a", "/app"),
        ("//a", "/app", "/a", "/app"),
        ("///", "/", "/", ""),
    ],
)
def test_from_parts_normalizes_path_and_root_as_werkzeug_does(
    path: str, root_path: str, want_path: str, want_root: str
) -> None:
    parts = Request.from_parts(
        "get",
        "http",
        ("h", 80),
        root_path,
        path,
        b"",
        None,
        None,  # type: ignore[arg-type]
    )
    environ = _environ({"path": "/"})
    environ["PATH_INFO"], environ["SCRIPT_NAME"] = path, root_path
    werkzeug = WerkzeugRequest(environ)
    assert (parts.method, parts.path, parts.root_path) == ("GET", want_path, want_root)
    assert (werkzeug.path, werkzeug.root_path) == (want_path, want_root)
    assert (Request(environ).path, Request(environ).root_path) == (want_path, want_root)


def test_from_parts_makes_a_subclass_with_its_own_new() -> None:
    # Kettle's Request is allocated directly; a subclass's __new__ is still called.
    made: list[type[Any]] = []

    class Counted(Request):
        def __new__(cls, *args: Any, **kwargs: Any) -> Counted:
            made.append(cls)
            return super().__new__(cls)

    args: tuple[Any, ...] = ("GET", "http", None, "", "/x", b"a=1", None, None)
    request = Counted.from_parts(*args)
    assert type(request) is Counted and made == [Counted]
    assert (request.path, request.args["a"]) == ("/x", "1")
    plain = Request.from_parts(*args)
    assert type(plain) is Request and made == [Counted]
    assert (plain.path, plain.args["a"]) == ("/x", "1")


@pytest.mark.parametrize("adapter", ["wsgi", "asgi"])
def test_parsed_uploads_are_closed_when_the_request_ends(
    app: Kettle, adapter: str
) -> None:
    seen: list[Any] = []

    @app.post("/upload")
    def upload() -> str:
        seen.append(request.files["f"])
        assert not seen[0].stream.closed
        return "ok"

    @app.post("/ignore")
    def ignore() -> str:
        seen.append(request._close_at_teardown)
        return "ok"

    if adapter == "wsgi":
        client = app.test_client()
        reply = client.post("/upload", data={"f": (io.BytesIO(b"abc"), "a.txt")})
        assert reply.text == "ok"
        assert client.post("/ignore", data=b"x").text == "ok"
    else:

        async def main() -> None:
            transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t"
            ) as client:
                reply = await client.post("/upload", files={"f": ("a.txt", b"abc")})
                assert reply.text == "ok"
                assert (await client.post("/ignore", content=b"x")).text == "ok"

        asyncio.run(main())
    upload_file, form_loaded = seen
    assert upload_file.filename == "a.txt"
    assert upload_file.stream.closed
    assert form_loaded is False  # nothing parsed: nothing for close() to do


def test_a_request_class_overriding_close_is_closed_at_teardown(app: Kettle) -> None:
    closed: list[str] = []

    class ClosingRequest(Request):
        def close(self) -> None:
            closed.append(self.path)
            super().close()

    app.request_class = ClosingRequest

    @app.get("/c")
    def view() -> str:
        return "ok"

    assert app.test_client().get("/c").text == "ok"
    with app.test_request_context("/t"):
        assert closed == ["/c"]
    assert closed == ["/c", "/t"]
    assert ClosingRequest._close_at_teardown is True
    assert Request._close_at_teardown is False


@pytest.mark.parametrize("content_type", ["application/json", "text/plain; x=1"])
def test_plain_response_maker_equals_the_constructor(content_type: str) -> None:
    made = plain_response(b'{"a": 1}\n', content_type)
    assert type(made) is UnbuiltResponse
    assert vars(made) == {"_unbuilt": (b'{"a": 1}\n', content_type)}
    made.headers  # noqa: B018 -- builds it
    assert type(made) is Response
    _assert_same_state(made, Response(b'{"a": 1}\n', content_type=content_type))


# Each way of reading an unbuilt response: the first use of its state.
_FIRST_USES: dict[str, Any] = {
    "headers": lambda r: r.headers,
    "status": lambda r: r.status,
    "status_code": lambda r: r.status_code,
    "data": lambda r: r.data,
    "json": lambda r: r.json,
    "mimetype": lambda r: r.mimetype,
    "response": lambda r: r.response,
    "direct_passthrough": lambda r: r.direct_passthrough,
    "close": lambda r: r.close(),
    "repr": repr,
    "wsgi": lambda r: _werkzeug_output(r),
    "iter_encoded": lambda r: list(r.iter_encoded()),
    "freeze": lambda r: r.freeze(),
    "content_length": lambda r: r.content_length,
}


@pytest.mark.parametrize("use", _FIRST_USES, ids=str)
def test_unbuilt_response_is_built_on_first_use_as_constructed(use: str) -> None:
    app = Kettle(__name__)
    with app.app_context():
        made = jsonify({"a": "\u00e9", "b": [1, 2]})
        expected = Response(made._unbuilt[0], content_type="application/json")
        assert isinstance(made, Response)
        assert type(made) is UnbuiltResponse
        _FIRST_USES[use](made)
        _FIRST_USES[use](expected)
    assert type(made) is Response
    _assert_same_state(made, expected)
    assert made.get_json() == {"a": "\u00e9", "b": [1, 2]}


def _set_status(r: Response) -> None:
    r.status_code = 201


def _set_header(r: Response) -> None:
    r.headers["X-A"] = "1"


def _set_data(r: Response) -> None:
    r.set_data(b"[1]")


def _set_cookie(r: Response) -> None:
    r.set_cookie("c", "v")


def _on_close(r: Response) -> None:
    r.call_on_close(lambda: None)


def _new_headers(r: Response) -> None:
    r.headers = Headers({"X-B": "2"})


@pytest.mark.parametrize(
    "change",
    [_set_status, _set_header, _set_data, _set_cookie, _on_close, _new_headers],
)
def test_changes_to_an_unbuilt_response_are_those_to_a_built_one(
    change: Any,
) -> None:
    app = Kettle(__name__)
    with app.app_context():
        made = jsonify({"a": 1})
        expected = Response(made._unbuilt[0], content_type="application/json")
    change(made)
    change(expected)
    assert _werkzeug_output(made) == _werkzeug_output(expected)
    assert type(made) is Response
    assert set(vars(made)) == set(vars(expected))
    assert made.status == expected.status
    assert made.headers.to_wsgi_list() == expected.headers.to_wsgi_list()
    assert made.response == expected.response
    assert len(made._on_close) == len(expected._on_close)


def test_unbuilt_response_survives_copy_and_pickle() -> None:
    app = Kettle(__name__)
    with app.app_context():
        made = jsonify([1, 2])
    for twin in (copy.copy(made), pickle.loads(pickle.dumps(made))):
        assert twin.get_json() == [1, 2]
        assert twin.headers["Content-Length"] == "6"
    assert type(made) is UnbuiltResponse  # copying did not build the original
    assert made.status_code == 200


def test_deleting_an_unbuilt_response_attribute_leaves_a_clear_error() -> None:
    app = Kettle(__name__)
    with app.app_context():
        made = jsonify([1])
    made.headers  # noqa: B018
    del made.direct_passthrough
    with pytest.raises(AttributeError, match="direct_passthrough"):
        made.direct_passthrough  # noqa: B018
    # Unbuilt, with its parts gone: its state reads as missing, not as a KeyError.
    with app.app_context():
        bare = jsonify([1])
    del bare._unbuilt
    assert type(bare) is UnbuiltResponse
    with pytest.raises(AttributeError, match="'headers'"):
        bare.headers  # noqa: B018
    assert not hasattr(bare, "status_code")


def test_plain_response_maker_refuses_a_newline_in_the_content_type() -> None:
    with pytest.raises(ValueError, match="newline"):
        plain_response(b"{}", "application/json\r\nX-Injected: 1")
    with pytest.raises(ValueError, match="newline"):
        Response(b"{}", content_type="application/json\nX-Injected: 1")
    for alone in ("\r", "\n"):  # either character alone is refused too
        with pytest.raises(ValueError, match="newline"):
            plain_response(b"{}", f"application/json{alone}X-Injected: 1")
        with pytest.raises(ValueError, match="newline"):
            Response(b"{}", content_type=f"application/json{alone}X-Injected: 1")


def test_jsonify_with_a_custom_response_class_uses_it() -> None:
    class Custom(Response):
        pass

    app = Kettle(__name__)
    app.response_class = Custom
    with app.app_context():
        from kettle import jsonify

        made = jsonify({"a": 1})
    assert type(made) is Custom
    assert made.get_data() == b'{"a":1}\n'
    assert made.headers.to_wsgi_list() == [
        ("Content-Type", "application/json"),
        ("Content-Length", "8"),
    ]
