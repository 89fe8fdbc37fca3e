"""Tests for URL matching: the FastMatcher against Werkzeug, and routing responses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.routing import RequestRedirect
from werkzeug.test import create_environ

from kettle import Kettle, request
from kettle.ctx import AppContext
from kettle.routing import FastMatcher

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS")


def _view(**kwargs: Any) -> str:
    return "ok"


def _add(app: Kettle, rule: str, endpoint: str, **options: Any) -> None:
    app.add_url_rule(rule, endpoint, _view, **options)


# -- scenarios: an app factory and the paths to try against it -------------------------


def varied_app() -> Kettle:
    app = Kettle("routing_varied", static_folder=None)
    _add(app, "/", "index")
    _add(app, "/about", "about")
    _add(app, "/about/team/", "team")
    _add(app, "/contact/", "contact")
    _add(app, "/loose", "loose", strict_slashes=False)
    _add(app, "/loose-dir/", "loose_dir", strict_slashes=False)
    _add(app, "/users/<int:user_id>", "user")
    _add(app, "/users/<int:user_id>/edit/", "user_edit")
    _add(app, "/users/new", "user_new")
    _add(app, "/users/<name>/profile", "user_profile")
    _add(app, "/signed/<int(signed=True):n>", "signed")
    _add(app, "/range/<int(min=1, max=10):n>", "ranged")
    _add(app, "/digits/<int(fixed_digits=4):year>", "year")
    _add(app, "/prices/<float:amount>", "price")
    _add(app, "/files/<path:filepath>", "files")
    _add(app, "/files/readme", "readme")
    _add(app, "/deep/<path:rest>/tail", "deep_tail")
    _add(app, "/items/<uuid:item_id>", "item")
    _add(app, "/lang/<any(en, fr, de):lang>/home", "lang_home")
    _add(app, "/code/<string(length=3):code>", "code")
    _add(app, "/u/<name>", "u")
    _add(app, "/u/<name>/", "u_slash")
    _add(app, "/mixed/<a>-<b>", "mixed")
    _add(app, "/pair/<int:z>/<name>/<float(signed=True):a>", "pair")
    _add(app, "/num/<int:n>", "num_int")
    _add(app, "/num/<float:n>", "num_float")
    _add(app, "/page/", "page", defaults={"n": 1})
    _add(app, "/page/<int:n>", "page")
    _add(app, "/old", "old", redirect_to="/about")
    _add(app, "/old-user/<int:user_id>", "old_user", redirect_to="/users/<user_id>")
    _add(app, "/alias-target", "aliased")
    _add(app, "/alias-source", "aliased", alias=True)
    _add(app, "/submit", "submit", methods=["POST"])
    _add(app, "/form", "form_get", methods=["GET"])
    _add(app, "/form", "form_post", methods=["POST"])
    _add(app, "/resource/<int:rid>", "resource_get")
    _add(app, "/resource/<int:rid>", "resource_write", methods=["PUT", "DELETE"])
    _add(app, "/post-only/<x>", "post_only", methods=["POST"])
    _add(app, "/no-options", "no_options", provide_automatic_options=False)
    _add(app, "/<slug>", "slug")
    _add(app, "/<slug>/comments/", "slug_comments")
    return app


VARIED_PATHS = [
    "/",
    "/about",
    "/about/",
    "/about/team/",
    "/about/team",
    "/contact/",
    "/contact",
    "/loose",
    "/loose/",
    "/loose-dir/",
    "/loose-dir",
    "/users/5",
    "/pair/3/x/-1.5",
    "/pair/3/x/1",
    "/users/05",
    "/users/5/",
    "/users/-5",
    "/users/5/edit/",
    "/users/5/edit",
    "/users/new",
    "/users/new/",
    "/users/bob/profile",
    "/users/5/profile",
    "/users/x",
    "/signed/-3",
    "/signed/3",
    "/range/5",
    "/range/0",
    "/range/11",
    "/digits/2024",
    "/digits/202",
    "/prices/1.5",
    "/prices/1",
    "/prices/.5",
    "/files/readme",
    "/files/readme/",
    "/files/a/b/c.txt",
    "/files/a/b/",
    "/files/",
    "/files",
    "/deep/x/y/tail",
    "/deep/x/tail",
    "/deep/tail",
    f"/items/{uuid.UUID(int=7)}",
    "/items/not-a-uuid",
    "/lang/en/home",
    "/lang/fr/home",
    "/lang/es/home",
    "/code/abc",
    "/code/ab",
    "/code/abcd",
    "/u/bob",
    "/u/bob/",
    "/mixed/x-y",
    "/mixed/x-y-z",
    "/mixed/xy",
    "/num/3",
    "/num/3.25",
    "/page/",
    "/page",
    "/page/1",
    "/page/2",
    "/old",
    "/old-user/9",
    "/alias-target",
    "/alias-source",
    "/submit",
    "/form",
    "/resource/4",
    "/post-only/thing",
    "/no-options",
    "/anything",
    "/anything/",
    "/anything/comments/",
    "/anything/comments",
    "/a/b/c/d",
    "/users//5",
    "/about//team/",
    "//about",
    "/files//a",
    "/%C3%BCber",
    "/über",
    "/sp ace",
]


def trailing_slash_app() -> Kettle:
    """Static rules matching only with a slash added or removed, beside dynamic ones."""
    app = Kettle("routing_slashes", static_folder=None)
    _add(app, "/foo", "foo", strict_slashes=False)
    _add(app, "/bar/", "bar", strict_slashes=False)
    _add(app, "/baz", "baz")
    _add(app, "/qux/", "qux")
    _add(app, "/post/", "post", methods=["POST"], strict_slashes=False)
    _add(app, "/<name>/", "name_slash")
    _add(app, "/<name>", "name")
    _add(app, "/x/<a>", "x_a", strict_slashes=False)
    _add(app, "/x/<a>/<b>/", "x_ab")
    return app


SLASH_PATHS = [
    "/foo",
    "/foo/",
    "/bar",
    "/bar/",
    "/baz",
    "/baz/",
    "/qux",
    "/qux/",
    "/post",
    "/post/",
    "/other",
    "/other/",
    "/x/1",
    "/x/1/",
    "/x/1/2",
    "/x/1/2/",
]


def only_slash_variants_app() -> Kettle:
    """A non-strict static rule shadowed, in the fast path, by one dynamic rule."""
    app = Kettle("routing_shadow", static_folder=None)
    _add(app, "/foo", "foo", strict_slashes=False)
    _add(app, "/<name>/", "name_slash")
    _add(app, "/sub/bar/", "bar", strict_slashes=False)
    _add(app, "/sub/<name>", "sub_name")
    return app


SHADOW_PATHS = ["/foo", "/foo/", "/zzz", "/zzz/", "/sub/bar", "/sub/bar/", "/sub/x"]


def tails_app() -> Kettle:
    """Rules ending in one string or int variable, which the matcher checks without
    their regex, beside look-alikes it must leave to the regex or to Werkzeug."""
    app = Kettle("routing_tails", static_folder=None)
    _add(app, "/user/<int:uid>", "user")
    _add(app, "/name/<who>", "name")
    _add(app, "/pre/fix-<int:n>", "pre")
    _add(app, "/len/<string(length=2):x>", "len")
    _add(app, "/signed/<int(signed=True):n>", "signed")
    _add(app, "/fixed/<int(fixed_digits=3):n>", "fixed")
    _add(app, "/min/<int(min=5):n>", "min")
    _add(app, "/both/<int:a>", "both_int")
    _add(app, "/both/<b>", "both_str")
    _add(app, "/multi/<a>/x", "multi")
    _add(app, "/slash/<a>/", "slash")
    _add(app, "/posted/<int:n>", "posted", methods=["POST"])
    return app


TAIL_PATHS = [
    *("/user/7", "/user/07", "/user/7/", "/user/7\n", "/user/\u0663", "/user/\u00b2"),
    *("/user/", "/user", "/user/x", "/user/7/x", "/user/-7", "/user/7 "),
    *("/name/bob", "/name/bob\n", "/name/", "/name/a b", "/name/bob/", "/name/\u00e9"),
    *("/pre/fix-9", "/pre/fix-", "/pre/fix-9\n", "/pre/fi-9", "/pre/fix-9/"),
    *("/len/ab", "/len/abc", "/signed/-3", "/fixed/007", "/fixed/7", "/min/3"),
    *("/min/9", "/both/3", "/both/x", "/multi/a/x", "/slash/a/", "/slash/a"),
    *("/posted/1", "/about\n", "/both/3\n", "/fixed/007\n", "/len/ab\n"),
]


def thousand_rules_app() -> Kettle:
    app = Kettle("routing_many", static_folder=None)
    for i in range(400):
        _add(app, f"/static{i}", f"static{i}")
    for i in range(300):
        _add(app, f"/r{i}/<int:x>", f"r{i}")
    for i in range(200):
        _add(app, f"/t{i}/<name>/", f"t{i}")
    for i in range(100):
        _add(app, f"/m{i}/<path:p>", f"m{i}", methods=["POST"])
    return app


MANY_PATHS = [
    *(f"/static{i}" for i in (0, 1, 199, 399, 400)),
    "/static7/",
    *(f"/r{i}/{i * 3}" for i in (0, 150, 299, 300)),
    "/r3/abc",
    "/r3/4/",
    "/r3/4\n",
    *(f"/t{i}/n{i}/" for i in (0, 99, 199, 200)),
    "/t5/name",
    *(f"/m{i}/a/b" for i in (0, 50, 99, 100)),
    "/nowhere",
]

SCENARIOS: dict[str, tuple[Callable[[], Kettle], list[str]]] = {
    "varied": (varied_app, VARIED_PATHS),
    "slashes": (trailing_slash_app, SLASH_PATHS),
    "shadow": (only_slash_variants_app, SHADOW_PATHS),
    "thousand": (thousand_rules_app, MANY_PATHS),
    "tails": (tails_app, TAIL_PATHS),
}

_apps: dict[str, Kettle] = {}


def scenario_app(name: str) -> Kettle:
    app = _apps.get(name)
    if app is None:
        app = _apps[name] = SCENARIOS[name][0]()
    return app


def describe_error(e: HTTPException) -> tuple[Any, ...]:
    if isinstance(e, RequestRedirect):
        return ("redirect", e.code, e.new_url)
    if isinstance(e, MethodNotAllowed):
        return ("405", sorted(e.valid_methods or ()))
    return (type(e).__name__, e.code)


def make_environ(path: str, method: str) -> dict[str, Any]:
    environ = create_environ("/", method=method)
    environ["PATH_INFO"] = path.encode().decode("latin-1")
    return environ


def werkzeug_outcome(app: Kettle, environ: dict[str, Any]) -> tuple[Any, ...]:
    adapter = app.url_map.bind_to_environ(environ)
    try:
        rule, values = adapter.match(return_rule=True)
    except HTTPException as e:
        return describe_error(e)
    return ("match", rule, values)


def kettle_outcome(app: Kettle, environ: dict[str, Any]) -> tuple[Any, ...]:
    req = app.request_class(environ)
    app.match_request(AppContext(app, request=req), req)
    if req.routing_exception is not None:
        return describe_error(req.routing_exception)
    return ("match", req.url_rule, req.view_args)


PARITY_CASES = [
    pytest.param(name, path, id=f"{name}:{path}")
    for name, (_, paths) in SCENARIOS.items()
    for path in paths
]


@pytest.mark.parametrize(("scenario", "path"), PARITY_CASES)
def test_match_request_agrees_with_werkzeug(scenario: str, path: str) -> None:
    app = scenario_app(scenario)
    for method in METHODS:
        environ = make_environ(path, method)
        expected = werkzeug_outcome(app, environ)
        assert kettle_outcome(app, environ) == expected, (method, path)


@pytest.mark.parametrize(("scenario", "path"), PARITY_CASES)
def test_fast_matcher_answers_only_what_werkzeug_would(
    scenario: str, path: str
) -> None:
    app = scenario_app(scenario)
    app.url_map.update()
    matcher = FastMatcher(app.url_map)
    for method in METHODS:
        environ = make_environ(path, method)
        fast = matcher.match(app.request_class(environ).path, method)
        if fast is not None:
            rule, values = fast
            expected = werkzeug_outcome(app, environ)
            assert ("match", rule, values) == expected, (method, path)
            assert list(values) == list(expected[2]), "view_args in Werkzeug's order"


@pytest.mark.parametrize(
    ("scenario", "path", "endpoint", "values"),
    [
        ("varied", "/about", "about", {}),
        ("varied", "/users/5", "user", {"user_id": 5}),
        ("varied", "/users/new", "user_new", {}),
        ("varied", "/prices/1.5", "price", {"amount": 1.5}),
        ("varied", "/files/a/b/c.txt", "files", {"filepath": "a/b/c.txt"}),
        ("varied", f"/items/{uuid.UUID(int=7)}", "item", {"item_id": uuid.UUID(int=7)}),
        ("varied", "/lang/fr/home", "lang_home", {"lang": "fr"}),
        ("varied", "/pair/3/x/-1.5", "pair", {"z": 3, "name": "x", "a": -1.5}),
        ("varied", "/users/bob/profile", "user_profile", {"name": "bob"}),
        ("shadow", "/zzz/", "name_slash", {"name": "zzz"}),
        ("thousand", "/static399", "static399", {}),
        ("thousand", "/r299/897", "r299", {"x": 897}),
        ("thousand", "/t199/n199/", "t199", {"name": "n199"}),
        ("tails", "/user/7", "user", {"uid": 7}),
        ("tails", "/user/\u0663", "user", {"uid": 3}),
        ("tails", "/name/\u00e9", "name", {"who": "\u00e9"}),
        ("tails", "/pre/fix-9", "pre", {"n": 9}),
        ("tails", "/fixed/007", "fixed", {"n": 7}),
    ],
)
def test_fast_matcher_answers_unambiguous_paths_itself(
    scenario: str, path: str, endpoint: str, values: dict[str, Any]
) -> None:
    app = scenario_app(scenario)
    app.url_map.update()
    hit = FastMatcher(app.url_map).match(path, "GET")
    assert hit is not None
    assert hit[0].endpoint == endpoint
    assert hit[1] == values
    assert list(hit[1]) == list(values)  # in the order of the path


@pytest.mark.parametrize(
    "path",
    ["/old", "/alias-source", "/loose", "/page/2", "/users//5", "/contact", "/form"],
)
def test_fast_matcher_defers_hard_cases_to_werkzeug(path: str) -> None:
    app = scenario_app("varied")
    app.url_map.update()
    assert FastMatcher(app.url_map).match(path, "GET") is None


def test_fast_matcher_is_disabled_with_host_matching() -> None:
    app = Kettle("routing_hosts", static_folder=None, host_matching=True)
    _add(app, "/", "index", host="example.com")
    app.url_map.update()
    assert FastMatcher(app.url_map).match("/", "GET") is None


def test_fast_matcher_is_disabled_with_subdomain_rules() -> None:
    app = Kettle("routing_subdomains", static_folder=None)
    _add(app, "/", "index", subdomain="api")
    app.url_map.update()
    assert FastMatcher(app.url_map).match("/", "GET") is None


def test_matcher_is_rebuilt_after_adding_a_rule() -> None:
    app = Kettle("routing_rebuild", static_folder=None)
    _add(app, "/one", "one")
    environ = make_environ("/two", "GET")
    assert kettle_outcome(app, environ) == ("NotFound", 404)
    _add(app, "/two", "two")
    outcome = kettle_outcome(app, environ)
    assert outcome[0] == "match"
    assert outcome[1].endpoint == "two"


def test_thousand_rules_every_static_and_dynamic_rule_matches() -> None:
    app = scenario_app("thousand")
    for i in range(0, 400, 7):
        outcome = kettle_outcome(app, make_environ(f"/static{i}", "GET"))
        assert outcome[1].endpoint == f"static{i}"
    for i in range(0, 300, 7):
        outcome = kettle_outcome(app, make_environ(f"/r{i}/{i}", "GET"))
        assert outcome[1:] == (app.url_map._rules_by_endpoint[f"r{i}"][0], {"x": i})


# -- routing through the test client ---------------------------------------------------


@pytest.fixture
def routed(app: Kettle) -> Kettle:
    @app.route("/hello")
    def hello() -> str:
        return "Hello"

    @app.route("/things/", methods=["GET", "POST"])
    def things() -> str:
        return request.method

    @app.route("/thing/<int:tid>")
    def thing(tid: int) -> str:
        return f"thing {tid}"

    @app.route("/thing/<int:tid>", methods=["DELETE"], endpoint="delete_thing")
    def delete_thing(tid: int) -> str:
        return f"deleted {tid}"

    @app.route("/manual", methods=["GET", "OPTIONS"])
    def manual() -> str:
        return f"manual {request.method}"

    def no_auto() -> str:
        return "no auto"

    no_auto.provide_automatic_options = False  # type: ignore[attr-defined]
    app.add_url_rule("/no-auto", view_func=no_auto)
    return app


def test_request_carries_matched_rule_and_view_args(routed: Kettle) -> None:
    with routed.test_request_context("/thing/7"):
        assert request.url_rule is not None
        assert request.url_rule.rule == "/thing/<int:tid>"
        assert request.view_args == {"tid": 7}
        assert request.endpoint == "thing"


def test_automatic_head_returns_headers_without_body(routed: Kettle) -> None:
    client = routed.test_client()
    get = client.get("/hello")
    head = client.head("/hello")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == "5"


def test_automatic_options_lists_allowed_methods(routed: Kettle) -> None:
    response = routed.test_client().options("/hello")
    assert response.status_code == 200
    assert response.data == b""
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS"}


def test_automatic_options_unions_methods_of_all_rules_for_the_path(
    routed: Kettle,
) -> None:
    response = routed.test_client().options("/thing/3")
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS", "DELETE"}


def test_view_listing_options_handles_it_itself(routed: Kettle) -> None:
    assert routed.test_client().options("/manual").data == b"manual OPTIONS"


def test_view_attribute_disables_automatic_options(routed: Kettle) -> None:
    response = routed.test_client().options("/no-auto")
    assert response.status_code == 405


def test_provide_automatic_options_config_false_disables_it() -> None:
    app = Kettle("routing_no_options", static_folder=None)
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.add_url_rule("/", "index", _view)
    assert app.test_client().options("/").status_code == 405


def test_wrong_method_is_405_with_allow_header(routed: Kettle) -> None:
    response = routed.test_client().put("/hello")
    assert response.status_code == 405
    assert set(response.allow) == {"GET", "HEAD", "OPTIONS"}


def test_method_routes_to_the_rule_allowing_it(routed: Kettle) -> None:
    client = routed.test_client()
    assert client.get("/thing/3").data == b"thing 3"
    assert client.delete("/thing/3").data == b"deleted 3"
    assert client.post("/things/").data == b"POST"


def test_missing_trailing_slash_redirects_with_308(routed: Kettle) -> None:
    response = routed.test_client().get("/things?page=2")
    assert response.status_code == 308
    assert response.location == "http://localhost/things/?page=2"


def test_missing_trailing_slash_redirect_can_be_followed(routed: Kettle) -> None:
    response = routed.test_client().post("/things", follow_redirects=True)
    assert response.status_code == 200
    assert response.data == b"POST"


def test_doubled_slashes_redirect_to_merged_path(routed: Kettle) -> None:
    response = routed.test_client().get("/thing//3")
    assert response.status_code == 308
    assert response.location == "http://localhost/thing/3"


def test_unknown_path_is_404(routed: Kettle) -> None:
    response = routed.test_client().get("/nope")
    assert response.status_code == 404
    assert b"Not Found" in response.data


def test_strict_slashes_false_matches_both_forms(app: Kettle) -> None:
    app.add_url_rule("/relaxed", "relaxed", _view, strict_slashes=False)
    client = app.test_client()
    assert client.get("/relaxed").status_code == 200
    assert client.get("/relaxed/").status_code == 200


def test_redirect_to_rule_redirects(app: Kettle) -> None:
    app.add_url_rule("/new/<int:n>", "new", lambda n: str(n))
    app.add_url_rule("/legacy/<int:n>", "legacy", redirect_to="/new/<n>")
    response = app.test_client().get("/legacy/4")
    assert response.status_code == 308
    assert response.location == "http://localhost/new/4"


def test_defaults_redirect_to_the_canonical_url(app: Kettle) -> None:
    @app.route("/list/", defaults={"page": 1})
    @app.route("/list/<int:page>")
    def listing(page: int) -> str:
        return f"page {page}"

    client = app.test_client()
    assert client.get("/list/").data == b"page 1"
    assert client.get("/list/3").data == b"page 3"
    response = client.get("/list/1")
    assert response.status_code == 308
    assert response.location == "http://localhost/list/"


@pytest.mark.parametrize("method", ["get", "post", "put", "delete", "patch"])
def test_method_shortcut_registers_only_that_method(app: Kettle, method: str) -> None:
    getattr(app, method)("/m")(lambda: "shortcut")
    client = app.test_client()
    assert client.open("/m", method=method.upper()).data == b"shortcut"
    other = "PUT" if method != "put" else "POST"
    assert client.open("/m", method=other).status_code == 405


def test_method_shortcut_rejects_methods_argument(app: Kettle) -> None:
    with pytest.raises(TypeError, match="route"):
        app.get("/m", methods=["POST"])


def test_methods_as_a_single_string_is_rejected(app: Kettle) -> None:
    with pytest.raises(TypeError, match="list of strings"):
        app.add_url_rule("/m", "m", _view, methods="POST")


def test_view_methods_attribute_is_used(app: Kettle) -> None:
    def view() -> str:
        return request.method

    view.methods = ["PATCH"]  # type: ignore[attr-defined]
    app.add_url_rule("/v", view_func=view)
    assert app.test_client().patch("/v").data == b"PATCH"
    assert app.test_client().get("/v").status_code == 405


def test_overwriting_an_endpoint_with_another_view_fails(app: Kettle) -> None:
    app.add_url_rule("/a", "same", lambda: "a")
    with pytest.raises(AssertionError, match="same"):
        app.add_url_rule("/b", "same", lambda: "b")


def test_same_view_can_serve_several_rules(app: Kettle) -> None:
    app.add_url_rule("/a", "same", _view)
    app.add_url_rule("/b", "same", _view)
    client = app.test_client()
    assert client.get("/a").data == client.get("/b").data == b"ok"


def test_add_url_rule_without_endpoint_or_view_fails(app: Kettle) -> None:
    with pytest.raises(TypeError):
        app.add_url_rule("/x")


def test_endpoint_decorator_binds_view_to_rule(app: Kettle) -> None:
    app.add_url_rule("/e", "named")

    @app.endpoint("named")
    def named() -> str:
        return "named view"

    assert app.test_client().get("/e").data == b"named view"
