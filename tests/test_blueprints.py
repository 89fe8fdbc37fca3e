"""Blueprints: registration, prefixes, nesting, scoped and app-wide hooks, folders."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from werkzeug.exceptions import NotFound

import kettle
from kettle import (
    Blueprint,
    Kettle,
    abort,
    g,
    render_template,
    render_template_string,
    request,
    url_for,
)
from kettle.blueprints import BlueprintSetupState
from kettle.cli import ScriptInfo
from kettle.errors import SetupError

# -- routes ---------------------------------------------------------------------------


def test_blueprint_route_registers_prefixed_endpoint(app: Kettle) -> None:
    bp = Blueprint("shop", __name__)

    @bp.route("/items")
    def items() -> str:
        return "items"

    app.register_blueprint(bp)
    assert "shop.items" in app.view_functions
    assert app.view_functions["shop.items"] is items
    assert app.test_client().get("/items").text == "items"
    assert app.blueprints == {"shop": bp}


def test_blueprint_method_shortcuts_register_one_method_each(app: Kettle) -> None:
    bp = Blueprint("res", __name__, url_prefix="/res")

    @bp.get("/")
    def read() -> str:
        return "get"

    @bp.post("/")
    def create() -> str:
        return "post"

    @bp.put("/")
    def replace() -> str:
        return "put"

    @bp.patch("/")
    def update() -> str:
        return "patch"

    @bp.delete("/")
    def remove() -> str:
        return "delete"

    app.register_blueprint(bp)
    client = app.test_client()
    for method in ("get", "post", "put", "patch", "delete"):
        assert getattr(client, method)("/res/").text == method
    assert client.head("/res/").status_code == 200
    options = client.options("/res/")
    assert set(options.allow) >= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}


def test_blueprint_method_shortcut_rejects_methods_argument() -> None:
    bp = Blueprint("res", __name__)
    with pytest.raises(TypeError, match="route"):
        bp.get("/", methods=["POST"])


def test_blueprint_add_url_rule_and_endpoint_decorator(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)

    def plain() -> str:
        return "plain"

    bp.add_url_rule("/plain", view_func=plain)
    bp.add_url_rule("/named", endpoint="named")

    @bp.endpoint("named")
    def named_view() -> str:
        return "named"

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/plain").text == "plain"
    assert client.get("/named").text == "named"
    assert app.view_functions["bp.named"] is named_view


def test_blueprint_route_with_explicit_endpoint(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)

    @bp.route("/x", endpoint="custom")
    def view() -> str:
        return url_for("bp.custom")

    app.register_blueprint(bp)
    assert app.test_client().get("/x").text == "/x"


def test_blueprint_methods_option_and_method_not_allowed(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)

    @bp.route("/form", methods=["GET", "POST"])
    def form() -> str:
        return request.method

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.post("/form").text == "POST"
    assert client.put("/form").status_code == 405


# -- url_prefix, subdomain, url_defaults -----------------------------------------------


def test_url_prefix_on_blueprint(app: Kettle) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/api/")

    @bp.route("/ping")
    def ping() -> str:
        return url_for("bp.ping")

    @bp.route("")
    def root() -> str:
        return "root"

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/api/ping").text == "/api/ping"
    # An empty rule is the prefix itself, trailing slash included.
    assert client.get("/api/").text == "root"
    assert client.get("/api").status_code == 308
    assert client.get("/ping").status_code == 404


def test_url_prefix_overridden_at_registration(app: Kettle) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/v1")

    @bp.route("/ping")
    def ping() -> str:
        return "pong"

    app.register_blueprint(bp, url_prefix="/v2")
    client = app.test_client()
    assert client.get("/v2/ping").text == "pong"
    assert client.get("/v1/ping").status_code == 404


def test_url_prefix_with_variable_and_url_value_preprocessor(app: Kettle) -> None:
    bp = Blueprint("i18n", __name__, url_prefix="/<lang>")

    @bp.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, object] | None) -> None:
        assert values is not None
        g.lang = values.pop("lang")

    @bp.url_defaults
    def add_lang(endpoint: str, values: dict[str, object]) -> None:
        if "lang" not in values and "lang" in g:
            values["lang"] = g.lang

    @bp.route("/hello")
    def hello() -> str:
        return f"{g.lang} {url_for('.about')}"

    @bp.route("/about")
    def about() -> str:
        return "about"

    app.register_blueprint(bp)
    assert app.test_client().get("/fr/hello").text == "fr /fr/about"


def test_subdomain_with_server_name_and_subdomain_matching() -> None:
    app = Kettle("kettle_test_app", subdomain_matching=True)
    app.config.update(TESTING=True, SERVER_NAME="example.test")
    api = Blueprint("api", __name__, subdomain="api")

    @api.route("/")
    def api_index() -> str:
        return f"api {url_for('api.api_index', _external=True)}"

    @app.route("/")
    def index() -> str:
        return "www"

    app.register_blueprint(api)
    client = app.test_client()
    assert client.get("/", base_url="http://example.test").text == "www"
    rv = client.get("/", base_url="http://api.example.test")
    assert rv.text == "api http://api.example.test/"
    with app.app_context():
        assert url_for("api.api_index") == "http://api.example.test/"


def test_subdomain_given_at_registration(app: Kettle) -> None:
    app = Kettle("kettle_test_app", subdomain_matching=True)
    app.config.update(TESTING=True, SERVER_NAME="example.test")
    bp = Blueprint("bp", __name__)

    @bp.route("/")
    def index() -> str:
        return "admin"

    app.register_blueprint(bp, subdomain="admin")
    client = app.test_client()
    assert client.get("/", base_url="http://admin.example.test").text == "admin"
    assert client.get("/", base_url="http://example.test").status_code == 404


def test_blueprint_url_defaults_fill_view_arguments(app: Kettle) -> None:
    bp = Blueprint("pages", __name__, url_defaults={"page": 1})

    @bp.route("/list")
    def listing(page: int) -> str:
        return f"page {page}"

    @bp.route("/sized/<int:size>")
    def sized(page: int, size: int) -> str:
        return f"page {page} size {size}"

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/list").text == "page 1"
    assert client.get("/sized/3").text == "page 1 size 3"


def test_url_defaults_given_at_registration_override_blueprint_ones(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__, url_defaults={"kind": "a", "size": "s"})

    @bp.route("/thing")
    def thing(kind: str, size: str) -> str:
        return f"{kind}{size}"

    app.register_blueprint(bp, url_defaults={"kind": "b"})
    assert app.test_client().get("/thing").text == "bs"


# -- endpoints and url_for ----------------------------------------------------------


def test_relative_endpoint_in_url_for_uses_the_current_blueprint(app: Kettle) -> None:
    bp = Blueprint("blog", __name__, url_prefix="/blog")

    @bp.route("/")
    def index() -> str:
        return f"{url_for('.post', id=3)}|{url_for('index')}|{url_for('.index')}"

    @bp.route("/<int:id>")
    def post(id: int) -> str:
        return str(id)

    @app.route("/")
    def index_app() -> str:
        return url_for(".index_app")

    app.add_url_rule("/home", "index", index_app)
    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/blog/").text == "/blog/3|/home|/blog/"
    # Outside a blueprint, a leading dot is just dropped.
    assert client.get("/").text == "/"


def test_endpoint_name_with_dot_is_rejected() -> None:
    bp = Blueprint("bp", __name__)
    with pytest.raises(ValueError, match="dot"):
        bp.add_url_rule("/", endpoint="a.b")

    def view() -> str:
        return ""

    view.__name__ = "a.b"
    with pytest.raises(ValueError, match="dot"):
        bp.add_url_rule("/", view_func=view)


@pytest.mark.parametrize("name", ["with.dot", "a.b.c"])
def test_blueprint_name_with_dot_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="dot"):
        Blueprint(name, __name__)


def test_blueprint_empty_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="name"):
        Blueprint("", __name__)


def test_blueprint_repr_names_it() -> None:
    assert repr(Blueprint("front", __name__)) == "<Blueprint 'front'>"


# -- request-scoped and app-wide hooks ----------------------------------------------


def _two_area_app(app: Kettle) -> tuple[Kettle, Blueprint, list[str]]:
    calls: list[str] = []
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.route("/")
    def bp_view() -> str:
        calls.append("bp view")
        return "bp"

    @app.route("/")
    def app_view() -> str:
        calls.append("app view")
        return "app"

    return app, bp, calls


def test_before_and_after_request_only_run_for_the_blueprints_requests(
    app: Kettle,
) -> None:
    app, bp, calls = _two_area_app(app)

    @bp.before_request
    def before() -> None:
        calls.append("bp before")

    @bp.after_request
    def after(response: kettle.Response) -> kettle.Response:
        calls.append("bp after")
        response.headers["X-BP"] = "yes"
        return response

    @bp.teardown_request
    def teardown(exc: BaseException | None) -> None:
        calls.append(f"bp teardown {exc!r}")

    app.register_blueprint(bp)
    client = app.test_client()
    rv = client.get("/bp/")
    assert rv.headers["X-BP"] == "yes"
    assert calls == ["bp before", "bp view", "bp after", "bp teardown None"]
    calls.clear()
    rv = client.get("/")
    assert "X-BP" not in rv.headers
    assert calls == ["app view"]


def test_blueprint_before_request_return_value_ends_the_request(app: Kettle) -> None:
    app, bp, calls = _two_area_app(app)

    @bp.before_request
    def deny() -> tuple[str, int]:
        return "denied", 403

    app.register_blueprint(bp)
    rv = app.test_client().get("/bp/")
    assert rv.status_code == 403
    assert rv.text == "denied"
    assert calls == []


def test_app_wide_hooks_from_a_blueprint_run_for_every_request(app: Kettle) -> None:
    app, bp, calls = _two_area_app(app)

    @bp.before_app_request
    def before() -> None:
        calls.append(f"before {request.path}")

    @bp.after_app_request
    def after(response: kettle.Response) -> kettle.Response:
        calls.append(f"after {request.path}")
        return response

    @bp.teardown_app_request
    def teardown(exc: BaseException | None) -> None:
        calls.append(f"teardown {exc}")

    app.register_blueprint(bp)
    client = app.test_client()
    client.get("/")
    assert calls == ["before /", "app view", "after /", "teardown None"]
    calls.clear()
    client.get("/bp/")
    assert calls == ["before /bp/", "bp view", "after /bp/", "teardown None"]
    calls.clear()
    assert client.get("/missing").status_code == 404
    assert calls == ["before /missing", "after /missing", "teardown None"]


def test_blueprint_teardown_request_receives_the_unhandled_error(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__)
    seen: list[BaseException | None] = []

    @bp.route("/boom")
    def boom() -> str:
        raise KeyError("boom")

    @bp.teardown_request
    def teardown(exc: BaseException | None) -> None:
        seen.append(exc)

    app.register_blueprint(bp)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/boom").status_code == 500
    assert len(seen) == 1
    assert isinstance(seen[0], KeyError)


# -- error handlers -----------------------------------------------------------------


class PaymentRequiredError(Exception):
    pass


def test_blueprint_errorhandler_handles_errors_of_its_own_views_only(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.errorhandler(404)
    def bp_not_found(e: NotFound) -> tuple[str, int]:
        return "bp 404", 404

    @bp.route("/missing-item")
    def missing_item() -> str:
        abort(404)

    @app.route("/missing-item")
    def app_missing_item() -> str:
        abort(404)

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/bp/missing-item").text == "bp 404"
    assert "bp 404" not in client.get("/missing-item").text
    # An unknown URL does not belong to the blueprint, even under its prefix.
    assert "bp 404" not in client.get("/bp/no-such-page").text


def test_blueprint_errorhandler_for_custom_exception_class(app: Kettle) -> None:
    bp = Blueprint("billing", __name__)

    @bp.errorhandler(PaymentRequiredError)
    def payment(e: PaymentRequiredError) -> tuple[str, int]:
        return f"pay up: {e}", 402

    @bp.route("/invoice")
    def invoice() -> str:
        raise PaymentRequiredError("42 EUR")

    @app.route("/other")
    def other() -> str:
        raise PaymentRequiredError("outside")

    app.register_blueprint(bp)
    client = app.test_client()
    rv = client.get("/invoice")
    assert rv.status_code == 402
    assert rv.text == "pay up: 42 EUR"
    # The blueprint's handler does not apply to the app's views: testing propagates.
    with pytest.raises(PaymentRequiredError):
        client.get("/other")


def test_blueprint_errorhandler_for_subclass_of_registered_exception(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__)

    class SpecificError(PaymentRequiredError):
        pass

    @bp.errorhandler(PaymentRequiredError)
    def handle(e: Exception) -> str:
        return type(e).__name__

    @bp.route("/")
    def view() -> str:
        raise SpecificError

    app.register_blueprint(bp)
    assert app.test_client().get("/").text == "SpecificError"


def test_blueprint_500_handler_handles_unexpected_errors_in_its_views(
    app: Kettle,
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.errorhandler(500)
    def server_error(e: Exception) -> tuple[str, int]:
        original = getattr(e, "original_exception", None)
        return f"bp 500 ({type(original).__name__})", 500

    @bp.route("/crash")
    def crash() -> str:
        raise ZeroDivisionError

    @app.route("/crash")
    def app_crash() -> str:
        raise ZeroDivisionError

    app.register_blueprint(bp)
    client = app.test_client()
    rv = client.get("/bp/crash")
    assert rv.status_code == 500
    assert rv.text == "bp 500 (ZeroDivisionError)"
    rv = client.get("/crash")
    assert rv.status_code == 500
    assert "bp 500" not in rv.text


def test_app_errorhandler_from_blueprint_applies_to_the_whole_app(
    app: Kettle,
) -> None:
    bp = Blueprint("errors", __name__)

    @bp.app_errorhandler(404)
    def not_found(e: NotFound) -> tuple[str, int]:
        return f"custom 404 for {request.path}", 404

    @bp.app_errorhandler(PaymentRequiredError)
    def payment(e: PaymentRequiredError) -> tuple[str, int]:
        return "app-wide 402", 402

    @app.route("/pay")
    def pay() -> str:
        raise PaymentRequiredError

    app.register_blueprint(bp)
    client = app.test_client()
    rv = client.get("/nowhere")
    assert rv.status_code == 404
    assert rv.text == "custom 404 for /nowhere"
    rv = client.get("/pay")
    assert (rv.status_code, rv.text) == (402, "app-wide 402")


def test_blueprint_handler_wins_over_app_handler_for_its_views(app: Kettle) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @app.errorhandler(PaymentRequiredError)
    def app_handler(e: Exception) -> str:
        return "app"

    @bp.errorhandler(PaymentRequiredError)
    def bp_handler(e: Exception) -> str:
        return "blueprint"

    @bp.route("/")
    def bp_view() -> str:
        raise PaymentRequiredError

    @app.route("/")
    def app_view() -> str:
        raise PaymentRequiredError

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/bp/").text == "blueprint"
    assert client.get("/").text == "app"


def test_blueprint_register_error_handler_rejects_unknown_codes() -> None:
    bp = Blueprint("bp", __name__)
    with pytest.raises(ValueError, match="999"):
        bp.register_error_handler(999, lambda e: "")
    with pytest.raises(TypeError, match="instance"):
        bp.register_error_handler(KeyError(), lambda e: "")  # type: ignore[arg-type]


# -- URL processors -----------------------------------------------------------------


def test_app_url_value_preprocessor_and_app_url_defaults_apply_everywhere(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    seen: list[tuple[str | None, dict[str, object] | None]] = []

    @bp.app_url_value_preprocessor
    def record_values(endpoint: str | None, values: dict[str, object] | None) -> None:
        seen.append((endpoint, dict(values or {})))

    @bp.app_url_defaults
    def default_version(endpoint: str, values: dict[str, object]) -> None:
        values.setdefault("version", "v9")

    @app.route("/<version>/doc")
    def doc(version: str) -> str:
        return url_for("doc")

    @bp.route("/<version>/thing")
    def thing(version: str) -> str:
        return url_for("bp.thing")

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/v1/doc").text == "/v9/doc"
    assert client.get("/bp/v2/thing").text == "/bp/v9/thing"
    assert seen == [("doc", {"version": "v1"}), ("bp.thing", {"version": "v2"})]


def test_blueprint_url_value_preprocessor_and_url_defaults_are_scoped(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    seen: list[str | None] = []

    @bp.url_value_preprocessor
    def pre(endpoint: str | None, values: dict[str, object] | None) -> None:
        seen.append(endpoint)

    @bp.url_defaults
    def defaults(endpoint: str, values: dict[str, object]) -> None:
        values.setdefault("n", 7)

    @bp.route("/<int:n>")
    def bp_view(n: int) -> str:
        return url_for("bp.bp_view")

    @app.route("/<int:n>")
    def app_view(n: int) -> str:
        return url_for("app_view", n=n)

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/bp/1").text == "/bp/7"
    assert client.get("/2").text == "/2"
    assert seen == ["bp.bp_view"]
    with app.test_request_context():
        with pytest.raises(Exception, match="app_view"):
            url_for("app_view")


# -- templates: context processors, filters, tests, globals ---------------------------


def test_context_processor_is_scoped_app_context_processor_is_not(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.context_processor
    def local() -> dict[str, str]:
        return {"local": "L"}

    @bp.app_context_processor
    def everywhere() -> dict[str, str]:
        return {"everywhere": "E"}

    template = "{{ local|default('-') }}{{ everywhere|default('-') }}"

    @bp.route("/")
    def bp_view() -> str:
        return render_template_string(template)

    @app.route("/")
    def app_view() -> str:
        return render_template_string(template)

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/bp/").text == "LE"
    assert client.get("/").text == "-E"
    with app.app_context():
        assert render_template_string(template) == "-E"


def test_app_template_filter_with_and_without_name(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)

    @bp.app_template_filter
    def shout(s: str) -> str:
        return s.upper()

    @bp.app_template_filter()
    def whisper(s: str) -> str:
        return s.lower()

    @bp.app_template_filter("rev")
    def reverse_text(s: str) -> str:
        return s[::-1]

    def double(s: str) -> str:
        return s * 2

    bp.add_app_template_filter(double)
    bp.add_app_template_filter(double, "twice")
    app.register_blueprint(bp)
    for name in ("shout", "whisper", "rev", "double", "twice"):
        assert name in app.jinja_env.filters
    assert "reverse_text" not in app.jinja_env.filters
    with app.app_context():
        out = render_template_string(
            "{{ 'Ab'|shout }} {{ 'Ab'|whisper }} {{ 'Ab'|rev }} {{ 'x'|double }}"
            " {{ 'y'|twice }}"
        )
    assert out == "AB ab bA xx yy"


def test_app_template_test_with_and_without_name(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)

    @bp.app_template_test
    def even(n: int) -> bool:
        return n % 2 == 0

    @bp.app_template_test()
    def positive(n: int) -> bool:
        return n > 0

    @bp.app_template_test("big")
    def is_big(n: int) -> bool:
        return n > 100

    bp.add_app_template_test(lambda n: n == 0, "zero")
    app.register_blueprint(bp)
    assert app.jinja_env.tests["even"] is even
    assert app.jinja_env.tests["big"] is is_big
    with app.app_context():
        out = render_template_string(
            "{{ 4 is even }} {{ -1 is positive }} {{ 500 is big }} {{ 0 is zero }}"
        )
    assert out == "True False True True"


def test_app_template_global_with_and_without_name(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)

    @bp.app_template_global
    def site_name() -> str:
        return "Kettle"

    @bp.app_template_global()
    def year() -> int:
        return 2025

    @bp.app_template_global("answer")
    def get_answer() -> int:
        return 42

    bp.add_app_template_global(lambda: "hi", "greet")
    app.register_blueprint(bp)
    assert app.jinja_env.globals["site_name"] is site_name
    with app.app_context():
        out = render_template_string(
            "{{ site_name() }} {{ year() }} {{ answer() }} {{ greet() }}"
        )
    assert out == "Kettle 2025 42 hi"


def test_blueprint_template_functions_registered_once_for_two_registrations(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__)
    calls: list[int] = []

    @bp.app_template_filter
    def f(s: str) -> str:
        return s

    @bp.before_app_request
    def before() -> None:
        calls.append(1)

    @bp.route("/")
    def view() -> str:
        return "x"

    app.register_blueprint(bp)
    app.register_blueprint(bp, name="again", url_prefix="/again")
    app.test_client().get("/")
    assert calls == [1]


# -- registering twice, record / record_once -----------------------------------------


def test_registering_a_blueprint_twice_under_different_names(app: Kettle) -> None:
    bp = Blueprint("files", __name__)

    @bp.route("/list")
    def listing() -> str:
        return f"{request.blueprint} {url_for('.listing')}"

    app.register_blueprint(bp, url_prefix="/public")
    app.register_blueprint(bp, name="private_files", url_prefix="/private")
    client = app.test_client()
    assert client.get("/public/list").text == "files /public/list"
    assert client.get("/private/list").text == "private_files /private/list"
    assert set(app.blueprints) == {"files", "private_files"}
    assert app.blueprints["private_files"] is bp
    with app.test_request_context():
        assert url_for("private_files.listing") == "/private/list"


def test_registering_the_same_name_twice_raises_value_error(app: Kettle) -> None:
    bp = Blueprint("files", __name__)
    app.register_blueprint(bp)
    with pytest.raises(ValueError, match=r"'files' is already registered.*name="):
        app.register_blueprint(bp, url_prefix="/other")
    other = Blueprint("files", __name__)
    with pytest.raises(ValueError, match="different blueprint"):
        app.register_blueprint(other)


def test_record_runs_on_every_registration_record_once_on_the_first(
    app: Kettle,
) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    every: list[tuple[str, str | None, bool]] = []
    once: list[str] = []

    @bp.record
    def on_register(state: BlueprintSetupState) -> None:
        assert state.app is app
        assert state.blueprint is bp
        every.append((state.name, state.url_prefix, state.first_registration))

    @bp.record_once
    def on_first(state: BlueprintSetupState) -> None:
        once.append(state.name)

    app.register_blueprint(bp)
    app.register_blueprint(bp, name="bp2", url_prefix="/two")
    assert every == [("bp", "/bp", True), ("bp2", "/two", False)]
    assert once == ["bp"]


def test_record_once_runs_again_for_another_app() -> None:
    bp = Blueprint("bp", __name__)
    apps: list[Kettle] = []
    bp.record_once(lambda state: apps.append(state.app))
    first, second = Kettle("a"), Kettle("b")
    first.register_blueprint(bp)
    second.register_blueprint(bp)
    assert apps == [first, second]


def test_setup_state_options_are_the_registration_options(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)
    states: list[BlueprintSetupState] = []
    bp.record(states.append)
    app.register_blueprint(bp, url_prefix="/x", custom_option="value")
    assert states[0].options["custom_option"] == "value"


def test_setup_method_after_registration_raises_setup_error(app: Kettle) -> None:
    bp = Blueprint("late", __name__)

    @bp.route("/")
    def index() -> str:
        return ""

    app.register_blueprint(bp)
    with pytest.raises(SetupError, match=r"'route'.*'late'"):

        @bp.route("/more")
        def more() -> str:
            return ""

    with pytest.raises(SetupError, match="'before_request'"):
        bp.before_request(lambda: None)
    with pytest.raises(SetupError, match="'errorhandler'"):
        bp.errorhandler(404)
    with pytest.raises(SetupError, match="'app_template_filter'"):
        bp.app_template_filter("f")
    with pytest.raises(SetupError, match="'record'"):
        bp.record(lambda s: None)


def test_registering_blueprint_on_app_after_first_request_raises(
    app: Kettle,
) -> None:
    @app.route("/")
    def index() -> str:
        return ""

    app.test_client().get("/")
    with pytest.raises(SetupError, match="register_blueprint"):
        app.register_blueprint(Blueprint("bp", __name__))


# -- nested blueprints --------------------------------------------------------------


def _nested_app(app: Kettle) -> tuple[Blueprint, Blueprint, list[str]]:
    calls: list[str] = []
    parent = Blueprint("parent", __name__, url_prefix="/parent")
    child = Blueprint("child", __name__, url_prefix="/child")

    @parent.before_request
    def parent_before() -> None:
        calls.append("parent before")

    @child.before_request
    def child_before() -> None:
        calls.append("child before")

    @parent.after_request
    def parent_after(response: kettle.Response) -> kettle.Response:
        calls.append("parent after")
        return response

    @child.after_request
    def child_after(response: kettle.Response) -> kettle.Response:
        calls.append("child after")
        return response

    @parent.teardown_request
    def parent_teardown(exc: BaseException | None) -> None:
        calls.append("parent teardown")

    @child.teardown_request
    def child_teardown(exc: BaseException | None) -> None:
        calls.append("child teardown")

    @parent.route("/")
    def parent_index() -> str:
        return f"{request.blueprint}|{request.blueprints}"

    @child.route("/")
    def child_index() -> str:
        calls.append("child view")
        return f"{request.blueprint}|{request.blueprints}|{url_for('.other')}"

    @child.route("/other")
    def other() -> str:
        return url_for("parent.parent_index")

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    return parent, child, calls


def test_nested_blueprint_prefixes_and_names_combine(app: Kettle) -> None:
    _nested_app(app)
    assert "parent.child.child_index" in app.view_functions
    assert set(app.blueprints) == {"parent", "parent.child"}
    client = app.test_client()
    assert client.get("/parent/").text == "parent|['parent']"
    assert (
        client.get("/parent/child/").text
        == "parent.child|['parent.child', 'parent']|/parent/child/other"
    )
    assert client.get("/parent/child/other").text == "/parent/"


def test_parent_hooks_apply_to_nested_blueprint_requests(app: Kettle) -> None:
    _, _, calls = _nested_app(app)
    app.test_client().get("/parent/child/")
    assert calls == [
        "parent before",
        "child before",
        "child view",
        "child after",
        "parent after",
        "child teardown",
        "parent teardown",
    ]
    calls.clear()
    app.test_client().get("/parent/")
    assert calls == ["parent before", "parent after", "parent teardown"]


def test_parent_error_handler_handles_nested_blueprint_errors(app: Kettle) -> None:
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")
    inner = Blueprint("inner", __name__)

    @parent.errorhandler(PaymentRequiredError)
    def parent_handler(e: Exception) -> str:
        return f"parent handled {request.blueprint}"

    @child.errorhandler(KeyError)
    def child_handler(e: Exception) -> str:
        return "child handled"

    @child.route("/pay")
    def pay() -> str:
        raise PaymentRequiredError

    @child.route("/key")
    def key() -> str:
        raise KeyError

    @inner.route("/deep")
    def deep() -> str:
        raise KeyError

    child.register_blueprint(inner, url_prefix="/i")
    parent.register_blueprint(child)
    app.register_blueprint(parent)
    client = app.test_client()
    assert client.get("/p/c/pay").text == "parent handled parent.child"
    assert client.get("/p/c/key").text == "child handled"
    assert client.get("/p/c/i/deep").text == "child handled"


def test_nested_context_processors_of_every_level_apply(app: Kettle) -> None:
    parent = Blueprint("parent", __name__)
    child = Blueprint("child", __name__)

    @parent.context_processor
    def p() -> dict[str, str]:
        return {"who": "parent", "p": "P"}

    @child.context_processor
    def c() -> dict[str, str]:
        return {"who": "child"}

    @child.route("/")
    def view() -> str:
        return render_template_string("{{ who }} {{ p }}")

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    assert app.test_client().get("/").text == "child P"


def test_nested_blueprint_prefix_overridden_when_nesting(app: Kettle) -> None:
    parent = Blueprint("parent", __name__, url_prefix="/parent")
    child = Blueprint("child", __name__, url_prefix="/child")

    @child.route("/x")
    def x() -> str:
        return request.path

    parent.register_blueprint(child, url_prefix="/renamed")
    app.register_blueprint(parent, url_prefix="/outer")
    assert app.test_client().get("/outer/renamed/x").text == "/outer/renamed/x"


def test_nested_blueprint_registered_twice_under_two_parents(app: Kettle) -> None:
    shared = Blueprint("shared", __name__)

    @shared.route("/s")
    def s() -> str:
        return request.blueprint or ""

    one = Blueprint("one", __name__, url_prefix="/one")
    two = Blueprint("two", __name__, url_prefix="/two")
    one.register_blueprint(shared)
    two.register_blueprint(shared)
    app.register_blueprint(one)
    app.register_blueprint(two)
    client = app.test_client()
    assert client.get("/one/s").text == "one.shared"
    assert client.get("/two/s").text == "two.shared"


def test_nested_subdomains_combine() -> None:
    app = Kettle("kettle_test_app", subdomain_matching=True)
    app.config.update(TESTING=True, SERVER_NAME="example.test")
    parent = Blueprint("parent", __name__, subdomain="api")
    child = Blueprint("child", __name__, subdomain="v1")

    @child.route("/")
    def index() -> str:
        return "v1 api"

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    client = app.test_client()
    assert client.get("/", base_url="http://v1.api.example.test").text == "v1 api"


def test_blueprint_cannot_be_registered_on_itself() -> None:
    bp = Blueprint("bp", __name__)
    with pytest.raises(ValueError, match="itself"):
        bp.register_blueprint(bp)


def test_request_blueprint_is_none_for_app_views(app: Kettle) -> None:
    @app.route("/")
    def index() -> str:
        return f"{request.blueprint}|{request.blueprints}"

    assert app.test_client().get("/").text == "None|[]"


# -- static and template folders ------------------------------------------------------


def test_blueprint_static_folder_served_under_its_prefix(
    app: Kettle, tmp_path: Path
) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("console.log(1)")
    bp = Blueprint(
        "admin",
        __name__,
        url_prefix="/admin",
        static_folder="assets",
        root_path=str(tmp_path),
    )
    app.register_blueprint(bp)
    client = app.test_client()
    rv = client.get("/admin/assets/app.js")
    assert rv.status_code == 200
    assert rv.data == b"console.log(1)"
    assert "javascript" in rv.mimetype
    rv.close()
    assert client.get("/admin/assets/missing.js").status_code == 404
    assert client.get("/admin/assets/../../etc/passwd").status_code == 404
    with app.test_request_context():
        assert url_for("admin.static", filename="app.js") == "/admin/assets/app.js"


def test_blueprint_static_url_path(app: Kettle, tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.css").write_text("body{}")
    bp = Blueprint(
        "ui",
        __name__,
        static_folder="static",
        static_url_path="/ui-static",
        root_path=str(tmp_path),
    )
    app.register_blueprint(bp)
    assert bp.static_folder == str(tmp_path / "static")
    rv = app.test_client().get("/ui-static/a.css")
    assert rv.data == b"body{}"
    rv.close()


def test_blueprint_without_static_folder_has_no_static_route(app: Kettle) -> None:
    bp = Blueprint("bp", __name__)
    app.register_blueprint(bp)
    assert not bp.has_static_folder
    assert "bp.static" not in app.view_functions


def test_blueprint_template_folder_is_searched_after_the_apps(
    tmp_path: Path,
) -> None:
    (tmp_path / "app_templates").mkdir()
    (tmp_path / "bp" / "templates" / "bp").mkdir(parents=True)
    (tmp_path / "app_templates" / "shared.html").write_text("app version")
    (tmp_path / "bp" / "templates" / "shared.html").write_text("bp version")
    (tmp_path / "bp" / "templates" / "bp" / "only.html").write_text(
        "only in bp: {{ value }}"
    )
    app = Kettle(
        "kettle_test_app", template_folder="app_templates", root_path=str(tmp_path)
    )
    bp = Blueprint(
        "bp", __name__, template_folder="templates", root_path=str(tmp_path / "bp")
    )

    @bp.route("/")
    def index() -> str:
        return render_template("shared.html") + "|" + render_template("bp/only.html")

    app.register_blueprint(bp)
    assert app.test_client().get("/").text == "app version|only in bp: "
    with app.app_context():
        assert render_template("bp/only.html", value=1) == "only in bp: 1"


# -- CLI ----------------------------------------------------------------------------


def test_blueprint_cli_commands_in_their_own_group_by_default(app: Kettle) -> None:
    bp = Blueprint("users", __name__)

    @bp.cli.command("create")
    @click.argument("name")
    def create(name: str) -> None:
        click.echo(f"created {name} in {kettle.current_app.name}")

    app.register_blueprint(bp)
    result = CliRunner().invoke(
        app.cli, ["users", "create", "ada"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.exit_code == 0, result.output
    assert result.output == "created ada in kettle_test_app\n"


def test_blueprint_cli_group_none_merges_commands_into_the_app(app: Kettle) -> None:
    bp = Blueprint("users", __name__, cli_group=None)

    @bp.cli.command("hello")
    def hello() -> None:
        click.echo("hello")

    app.register_blueprint(bp)
    result = CliRunner().invoke(
        app.cli, ["hello"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.output == "hello\n"


def test_blueprint_cli_group_renamed_at_registration(app: Kettle) -> None:
    bp = Blueprint("users", __name__)

    @bp.cli.command("hello")
    def hello() -> None:
        click.echo("hi")

    app.register_blueprint(bp, cli_group="people")
    result = CliRunner().invoke(
        app.cli, ["people", "hello"], obj=ScriptInfo(create_app=lambda: app)
    )
    assert result.output == "hi\n"
