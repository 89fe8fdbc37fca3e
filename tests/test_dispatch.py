"""Tests for the request pipeline: hooks, error handling and view return values."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.datastructures import Headers
from werkzeug.exceptions import (
    BadRequest,
    BadRequestKeyError,
    Forbidden,
    HTTPException,
    InternalServerError,
    NotFound,
)

from kettle import (
    Kettle,
    Response,
    abort,
    after_this_request,
    g,
    got_request_exception,
    request,
    session,
    url_for,
)
from kettle.errors import SetupError

# -- before_request / after_request / after_this_request -------------------------------


def test_before_request_returning_none_lets_the_view_run(app: Kettle) -> None:
    calls: list[str] = []

    @app.before_request
    def first() -> None:
        calls.append("first")

    @app.before_request
    def second() -> None:
        calls.append("second")

    @app.route("/")
    def index() -> str:
        calls.append("view")
        return "view"

    assert app.test_client().get("/").data == b"view"
    assert calls == ["first", "second", "view"]


def test_before_request_non_none_return_short_circuits_the_view(app: Kettle) -> None:
    calls: list[str] = []

    @app.before_request
    def gate() -> Any:
        calls.append("gate")
        return "stopped", 403

    @app.before_request
    def never() -> None:
        calls.append("never")

    @app.route("/")
    def index() -> str:
        calls.append("view")
        return "view"

    @app.after_request
    def after(response: Response) -> Response:
        calls.append("after")
        return response

    response = app.test_client().get("/")
    assert response.status_code == 403
    assert response.data == b"stopped"
    assert calls == ["gate", "after"]


def test_before_request_can_short_circuit_an_unknown_url(app: Kettle) -> None:
    app.before_request(lambda: "intercepted")
    assert app.test_client().get("/missing").data == b"intercepted"


def test_after_request_functions_run_in_reverse_registration_order(app: Kettle) -> None:
    order: list[str] = []

    @app.after_request
    def registered_first(response: Response) -> Response:
        order.append("first")
        return response

    @app.after_request
    def registered_second(response: Response) -> Response:
        order.append("second")
        return response

    app.add_url_rule("/", "index", lambda: "ok")
    app.test_client().get("/")
    assert order == ["second", "first"]


def test_after_request_can_replace_the_response(app: Kettle) -> None:
    @app.after_request
    def outer(response: Response) -> Response:
        response.headers["X-Outer"] = response.get_data(as_text=True)
        return response

    @app.after_request
    def replace(response: Response) -> Response:
        return Response("replaced", status=202)

    app.add_url_rule("/", "index", lambda: "original")
    response = app.test_client().get("/")
    assert response.status_code == 202
    assert response.data == b"replaced"
    assert response.headers["X-Outer"] == "replaced"


def test_after_request_runs_for_error_responses(app: Kettle) -> None:
    @app.after_request
    def tag(response: Response) -> Response:
        response.headers["X-Tag"] = "seen"
        return response

    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert response.headers["X-Tag"] == "seen"


def test_after_this_request_runs_first_in_registration_order(app: Kettle) -> None:
    order: list[str] = []

    @app.after_request
    def app_after(response: Response) -> Response:
        order.append("app")
        return response

    @app.route("/")
    def index() -> str:
        @after_this_request
        def one(response: Response) -> Response:
            order.append("one")
            response.headers["X-One"] = "1"
            return response

        @after_this_request
        def two(response: Response) -> Response:
            order.append("two")
            return response

        return "ok"

    response = app.test_client().get("/")
    assert response.headers["X-One"] == "1"
    assert order == ["one", "two", "app"]


def test_after_this_request_applies_to_that_request_only(app: Kettle) -> None:
    @app.route("/")
    def index() -> str:
        if request.args.get("mark"):
            after_this_request(lambda r: (r.headers.set("X-Mark", "yes"), r)[1])
        return "ok"

    client = app.test_client()
    assert client.get("/?mark=1").headers.get("X-Mark") == "yes"
    assert "X-Mark" not in client.get("/").headers


def test_after_this_request_outside_a_request_fails(app: Kettle) -> None:
    with pytest.raises(RuntimeError):
        after_this_request(lambda r: r)
    with app.app_context(), pytest.raises(RuntimeError, match="request"):
        after_this_request(lambda r: r)


# -- url_value_preprocessor / url_defaults ---------------------------------------------


def test_url_value_preprocessor_can_consume_view_args(app: Kettle) -> None:
    seen: list[tuple[str | None, dict[str, Any] | None]] = []

    @app.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        seen.append((endpoint, dict(values or {})))
        if values is not None:
            g.lang = values.pop("lang", None)

    @app.route("/<lang>/page/<int:n>")
    def page(n: int) -> str:
        return f"{g.lang} {n}"

    assert app.test_client().get("/fr/page/2").data == b"fr 2"
    assert seen == [("page", {"lang": "fr", "n": 2})]


def test_url_value_preprocessors_run_before_before_request(app: Kettle) -> None:
    order: list[str] = []
    app.before_request(lambda: order.append("before"))
    app.url_value_preprocessor(lambda endpoint, values: order.append("preprocess"))
    app.add_url_rule("/", "index", lambda: "ok")
    app.test_client().get("/")
    assert order == ["preprocess", "before"]


def test_url_defaults_fill_in_values_when_building(app: Kettle) -> None:
    @app.url_defaults
    def add_lang(endpoint: str, values: dict[str, Any]) -> None:
        if "lang" not in values and endpoint == "page":
            values["lang"] = g.get("lang", "en")

    @app.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        if values:
            g.lang = values.pop("lang")

    @app.route("/<lang>/page")
    def page() -> str:
        return url_for("page")

    client = app.test_client()
    assert client.get("/de/page").data == b"/de/page"
    with app.test_request_context():
        assert url_for("page") == "/en/page"
        assert url_for("page", lang="it") == "/it/page"


# -- error handlers --------------------------------------------------------------------


class BaseAppError(Exception):
    pass


class SpecificAppError(BaseAppError):
    pass


class CustomNotFound(NotFound):
    description = "custom not found"


def test_errorhandler_by_code_handles_abort(app: Kettle) -> None:
    @app.errorhandler(404)
    def not_found(e: HTTPException) -> Any:
        return f"missing: {e.code}", 404

    app.add_url_rule("/", "index", lambda: abort(404))
    client = app.test_client()
    assert client.get("/").data == b"missing: 404"
    assert client.get("/no-such-route").data == b"missing: 404"


def test_errorhandler_by_code_handles_http_exception_subclass(app: Kettle) -> None:
    app.register_error_handler(404, lambda e: (type(e).__name__, 404))

    @app.route("/")
    def index() -> str:
        raise CustomNotFound()

    assert app.test_client().get("/").data == b"CustomNotFound"


def test_code_handler_wins_over_generic_http_exception_handler(app: Kettle) -> None:
    app.register_error_handler(HTTPException, lambda e: (f"generic {e.code}", e.code))
    app.register_error_handler(403, lambda e: ("forbidden handler", 403))
    app.add_url_rule("/403", "f", lambda: abort(403))
    app.add_url_rule("/400", "b", lambda: abort(400))
    client = app.test_client()
    assert client.get("/403").data == b"forbidden handler"
    assert client.get("/400").data == b"generic 400"
    assert client.post("/403").data == b"generic 405"


def test_most_specific_class_handler_wins_along_the_mro(app: Kettle) -> None:
    app.register_error_handler(Exception, lambda e: ("exception", 500))
    app.register_error_handler(BaseAppError, lambda e: ("base", 500))
    app.register_error_handler(LookupError, lambda e: ("lookup", 500))

    @app.route("/<kind>")
    def raiser(kind: str) -> str:
        errors: dict[str, Exception] = {
            "specific": SpecificAppError(),
            "base": BaseAppError(),
            "key": KeyError("k"),
            "value": ValueError(),
        }
        raise errors[kind]

    client = app.test_client()
    assert client.get("/specific").data == b"base"
    assert client.get("/base").data == b"base"
    assert client.get("/key").data == b"lookup"
    assert client.get("/value").data == b"exception"


def test_subclass_handler_beats_base_class_handler(app: Kettle) -> None:
    @app.errorhandler(BaseAppError)
    def base(e: Exception) -> str:
        return "base"

    @app.errorhandler(SpecificAppError)
    def specific(e: Exception) -> str:
        return "specific"

    @app.route("/")
    def index() -> str:
        raise SpecificAppError()

    assert app.test_client().get("/").data == b"specific"


def test_register_error_handler_receives_the_exception(app: Kettle) -> None:
    received: list[BaseException] = []

    def handler(e: Exception) -> tuple[str, int]:
        received.append(e)
        return str(e), 418

    app.register_error_handler(ValueError, handler)

    @app.route("/")
    def index() -> str:
        raise ValueError("bad value")

    response = app.test_client().get("/")
    assert response.status_code == 418
    assert response.data == b"bad value"
    assert isinstance(received[0], ValueError)


def test_handlers_for_404_405_and_500(app: Kettle) -> None:
    app.config["TESTING"] = False
    app.register_error_handler(404, lambda e: ("custom 404", 404))
    app.register_error_handler(405, lambda e: ("custom 405", 405))
    originals: list[BaseException | None] = []

    @app.errorhandler(500)
    def server_error(e: InternalServerError) -> tuple[str, int]:
        originals.append(e.original_exception)
        return "custom 500", 500

    @app.route("/boom")
    def boom() -> str:
        raise ZeroDivisionError("oops")

    client = app.test_client()
    assert client.get("/missing").data == b"custom 404"
    assert client.post("/boom").data == b"custom 405"
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.data == b"custom 500"
    assert isinstance(originals[0], ZeroDivisionError)


def test_internal_server_error_class_handler_handles_unhandled_errors(
    app: Kettle,
) -> None:
    app.config["TESTING"] = False
    app.register_error_handler(InternalServerError, lambda e: ("ise handler", 500))
    app.add_url_rule("/", "index", lambda: 1 / 0)
    assert app.test_client().get("/").data == b"ise handler"


def test_error_raised_in_an_error_handler_becomes_a_500(app: Kettle) -> None:
    app.config["TESTING"] = False
    originals: list[BaseException | None] = []

    @app.errorhandler(ValueError)
    def broken_handler(e: Exception) -> str:
        raise KeyError("from handler")

    @app.errorhandler(500)
    def server_error(e: InternalServerError) -> tuple[str, int]:
        originals.append(e.original_exception)
        return "500 handled", 500

    @app.route("/")
    def index() -> str:
        raise ValueError("view")

    response = app.test_client().get("/")
    assert response.status_code == 500
    assert response.data == b"500 handled"
    assert isinstance(originals[0], KeyError)


def test_error_raised_in_an_error_handler_propagates_when_testing(
    app: Kettle,
) -> None:
    app.register_error_handler(ValueError, lambda e: {}["missing"])

    @app.route("/")
    def index() -> str:
        raise ValueError("view")

    with pytest.raises(KeyError, match="missing"):
        app.test_client().get("/")


def test_error_handler_can_be_async(app: Kettle) -> None:
    @app.errorhandler(ValueError)
    async def handler(e: Exception) -> str:
        await asyncio.sleep(0)
        return "async handled"

    @app.route("/")
    def index() -> str:
        raise ValueError()

    assert app.test_client().get("/").data == b"async handled"


def test_errorhandler_rejects_unknown_codes_and_instances(app: Kettle) -> None:
    with pytest.raises(ValueError, match="999"):
        app.register_error_handler(999, lambda e: "")
    with pytest.raises(TypeError, match="instance"):
        app.register_error_handler(ValueError(), lambda e: "")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a subclass of Exception"):
        app.register_error_handler(int, lambda e: "")  # type: ignore[arg-type]


def test_routing_redirects_are_not_passed_to_error_handlers(app: Kettle) -> None:
    app.register_error_handler(HTTPException, lambda e: ("handled", 200))
    app.add_url_rule("/dir/", "dir", lambda: "dir")
    response = app.test_client().get("/dir")
    assert response.status_code == 308


# -- abort and default HTTP error responses --------------------------------------------


def test_abort_raises_the_http_exception_for_the_code() -> None:
    with pytest.raises(Forbidden):
        abort(403)
    with pytest.raises(BadRequest, match="custom description"):
        abort(400, description="custom description")


def test_abort_with_a_response_sends_that_response(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: abort(Response("teapot", status=418)))
    response = app.test_client().get("/")
    assert response.status_code == 418
    assert response.data == b"teapot"


def test_abort_description_appears_in_default_response(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: abort(409, "already exists"))
    response = app.test_client().get("/")
    assert response.status_code == 409
    assert b"already exists" in response.data


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (400, b"Bad Request"),
        (401, b"Unauthorized"),
        (403, b"Forbidden"),
        (404, b"Not Found"),
        (410, b"Gone"),
        (500, b"Internal Server Error"),
    ],
)
def test_http_exception_default_response(app: Kettle, code: int, name: bytes) -> None:
    app.add_url_rule("/", "index", lambda: abort(code))
    response = app.test_client().get("/")
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert name in response.data


def test_default_405_response_has_allow_header(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: "ok", methods=["POST"])
    response = app.test_client().get("/")
    assert response.status_code == 405
    assert set(response.allow) == {"POST", "OPTIONS"}
    assert b"Method Not Allowed" in response.data


# -- propagation, logging and trapping -------------------------------------------------


def test_unhandled_error_propagates_when_testing(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        app.test_client().get("/")


def test_unhandled_error_propagates_with_propagate_exceptions(app: Kettle) -> None:
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=True)
    app.add_url_rule("/", "index", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        app.test_client().get("/")


def test_propagate_exceptions_false_wins_over_testing(app: Kettle) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.add_url_rule("/", "index", lambda: 1 / 0)
    assert app.test_client().get("/").status_code == 500


def test_unhandled_error_propagates_in_debug_mode(app: Kettle) -> None:
    app.config.update(TESTING=False, DEBUG=True)
    app.add_url_rule("/", "index", lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        app.test_client().get("/")


def test_unhandled_error_is_logged_and_becomes_500(
    app: Kettle, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["TESTING"] = False

    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    with caplog.at_level(logging.ERROR, logger=app.logger.name):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert b"Internal Server Error" in response.data
    records = [r for r in caplog.records if r.name == app.logger.name]
    assert [r.getMessage() for r in records] == ["Exception on /boom [GET]"]
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert isinstance(records[0].exc_info[1], RuntimeError)


def test_got_request_exception_signal_is_sent(app: Kettle) -> None:
    app.config["TESTING"] = False
    app.logger.disabled = True
    received: list[BaseException] = []

    def record(sender: Kettle, exception: BaseException, **extra: Any) -> None:
        received.append(exception)

    app.add_url_rule("/", "index", lambda: 1 / 0)
    with got_request_exception.connected_to(record, app):
        app.test_client().get("/")
    app.logger.disabled = False
    assert len(received) == 1
    assert isinstance(received[0], ZeroDivisionError)


def test_trap_http_exceptions_makes_aborts_propagate(app: Kettle) -> None:
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    app.add_url_rule("/", "index", lambda: abort(403))
    client = app.test_client()
    with pytest.raises(Forbidden):
        client.get("/")
    with pytest.raises(NotFound):
        client.get("/missing")


def test_trap_http_exceptions_still_uses_registered_handler(app: Kettle) -> None:
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    app.register_error_handler(403, lambda e: ("trapped but handled", 403))
    app.add_url_rule("/", "index", lambda: abort(403))
    assert app.test_client().get("/").data == b"trapped but handled"


def test_trap_http_exceptions_without_testing_gives_500(app: Kettle) -> None:
    app.config.update(TRAP_HTTP_EXCEPTIONS=True, TESTING=False)
    app.logger.disabled = True
    try:
        app.add_url_rule("/", "index", lambda: abort(403))
        assert app.test_client().get("/").status_code == 500
    finally:
        app.logger.disabled = False


def test_missing_form_key_is_400_by_default(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: request.form["missing"], methods=["POST"])
    assert app.test_client().post("/").status_code == 400


def test_trap_bad_request_errors_propagates_missing_key(app: Kettle) -> None:
    app.config["TRAP_BAD_REQUEST_ERRORS"] = True
    app.add_url_rule("/", "index", lambda: request.form["missing"], methods=["POST"])
    with pytest.raises(BadRequestKeyError):
        app.test_client().post("/")


def test_trap_http_exception_method_reports_config(app: Kettle) -> None:
    assert not app.trap_http_exception(NotFound())
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    assert app.trap_http_exception(NotFound())
    assert not app.trap_http_exception(ValueError())


# -- view return values ----------------------------------------------------------------


@pytest.fixture
def returns(app: Kettle) -> Kettle:
    def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("207 MULTI-STATUS", [("X-Wsgi", "yes")])
        return [b"from ", b"wsgi"]

    def stream() -> Iterator[str]:
        yield "a"
        yield "b"
        yield "c"

    views: dict[str, Any] = {
        "str": lambda: "text",
        "bytes": lambda: b"\x00bytes",
        "dict": lambda: {"a": 1},
        "list": lambda: [1, "two"],
        "body_status": lambda: ("created", 201),
        "body_status_str": lambda: ("teapot", "418 I'M A TEAPOT"),
        "body_status_str_code": lambda: ("accepted", "202"),
        "body_headers_dict": lambda: ("with headers", {"X-A": "1"}),
        "body_headers_list": lambda: ("with headers", [("X-A", "2")]),
        "body_headers_obj": lambda: ("with headers", Headers({"X-A": "3"})),
        "body_status_headers": lambda: ("all", 202, {"X-A": "4"}),
        "dict_status": lambda: ({"ok": False}, 400),
        "response": lambda: Response("resp", status=203, mimetype="text/plain"),
        "response_status": lambda: (Response("resp"), 206),
        "generator": lambda: stream(),
        "iterator": lambda: iter([b"x", b"y"]),
        "wsgi": lambda: wsgi_app,
        "none": lambda: None,
        "tuple1": lambda: ("only",),
        "tuple4": lambda: ("a", 200, {}, "extra"),
        "int": lambda: 42,
    }
    for name, view in views.items():
        app.add_url_rule(f"/{name}", name, view)
    return app


def test_str_return_is_html_body(returns: Kettle) -> None:
    response = returns.test_client().get("/str")
    assert response.status_code == 200
    assert response.data == b"text"
    assert response.mimetype == "text/html"


def test_bytes_return_is_body(returns: Kettle) -> None:
    assert returns.test_client().get("/bytes").data == b"\x00bytes"


@pytest.mark.parametrize(
    ("path", "expected"), [("/dict", {"a": 1}), ("/list", [1, "two"])]
)
def test_dict_and_list_return_json(returns: Kettle, path: str, expected: Any) -> None:
    response = returns.test_client().get(path)
    assert response.mimetype == "application/json"
    assert response.json == expected


def test_body_and_status_tuple(returns: Kettle) -> None:
    response = returns.test_client().get("/body_status")
    assert response.status_code == 201
    assert response.data == b"created"


def test_status_given_as_string(returns: Kettle) -> None:
    client = returns.test_client()
    response = client.get("/body_status_str")
    assert response.status == "418 I'M A TEAPOT"
    assert client.get("/body_status_str_code").status_code == 202


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/body_headers_dict", "1"),
        ("/body_headers_list", "2"),
        ("/body_headers_obj", "3"),
    ],
)
def test_body_and_headers_tuple(returns: Kettle, path: str, value: str) -> None:
    response = returns.test_client().get(path)
    assert response.status_code == 200
    assert response.headers["X-A"] == value
    assert response.data == b"with headers"


def test_body_status_and_headers_tuple(returns: Kettle) -> None:
    response = returns.test_client().get("/body_status_headers")
    assert response.status_code == 202
    assert response.headers["X-A"] == "4"


def test_json_body_with_status(returns: Kettle) -> None:
    response = returns.test_client().get("/dict_status")
    assert response.status_code == 400
    assert response.json == {"ok": False}


def test_response_object_is_used_as_is(returns: Kettle) -> None:
    client = returns.test_client()
    response = client.get("/response")
    assert response.status_code == 203
    assert response.mimetype == "text/plain"
    assert client.get("/response_status").status_code == 206


def test_generator_return_is_streamed(returns: Kettle) -> None:
    response = returns.test_client().get("/generator")
    assert response.data == b"abc"
    assert "Content-Length" not in response.headers


def test_iterator_return_is_streamed(returns: Kettle) -> None:
    assert returns.test_client().get("/iterator").data == b"xy"


def test_generator_body_is_produced_after_the_view_returns(app: Kettle) -> None:
    events: list[str] = []

    @app.route("/")
    def index() -> Iterator[str]:
        def body() -> Iterator[str]:
            events.append("body")
            yield "chunk"

        events.append("view")
        return body()

    @app.after_request
    def after(response: Response) -> Response:
        events.append("after")
        assert response.is_streamed
        return response

    app.test_client().get("/")
    assert events == ["view", "after", "body"]


def test_wsgi_callable_return_is_called(returns: Kettle) -> None:
    response = returns.test_client().get("/wsgi")
    assert response.status_code == 207
    assert response.headers["X-Wsgi"] == "yes"
    assert response.data == b"from wsgi"


def test_none_return_is_type_error_naming_the_endpoint(returns: Kettle) -> None:
    with pytest.raises(TypeError, match=r"'none'.*did not return a valid response"):
        returns.test_client().get("/none")


def test_none_return_is_500_when_not_testing(returns: Kettle) -> None:
    returns.config["TESTING"] = False
    returns.logger.disabled = True
    try:
        assert returns.test_client().get("/none").status_code == 500
    finally:
        returns.logger.disabled = False


@pytest.mark.parametrize("path", ["/tuple1", "/tuple4"])
def test_wrong_size_tuple_is_type_error(returns: Kettle, path: str) -> None:
    with pytest.raises(TypeError, match="wrong size"):
        returns.test_client().get(path)


def test_unsupported_return_type_is_type_error(returns: Kettle) -> None:
    with pytest.raises(TypeError, match="int"):
        returns.test_client().get("/int")


# -- async views and hooks -------------------------------------------------------------


def test_async_view_and_hooks_run(app: Kettle) -> None:
    events: list[str] = []

    @app.before_request
    async def before() -> None:
        await asyncio.sleep(0)
        events.append("before")

    @app.after_request
    async def after(response: Response) -> Response:
        events.append("after")
        response.headers["X-Async"] = "yes"
        return response

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/")
    async def index() -> str:
        await asyncio.sleep(0)
        events.append("view")
        return f"async {request.path}"

    response = app.test_client().get("/")
    assert response.data == b"async /"
    assert response.headers["X-Async"] == "yes"
    assert events == ["before", "view", "after", "teardown"]


def test_async_before_request_can_short_circuit(app: Kettle) -> None:
    @app.before_request
    async def gate() -> str:
        return "gated"

    app.add_url_rule("/", "index", lambda: "view")
    assert app.test_client().get("/").data == b"gated"


def test_async_calls_reuse_one_event_loop_per_thread(app: Kettle) -> None:
    loops: list[int] = []

    @app.before_request
    async def before() -> None:
        loops.append(id(asyncio.get_running_loop()))

    @app.route("/")
    async def index() -> str:
        loops.append(id(asyncio.get_running_loop()))
        return "ok"

    client = app.test_client()
    client.get("/")
    client.get("/")
    assert len(loops) == 4
    assert len(set(loops)) == 1


def test_async_calls_in_another_thread_use_another_loop(app: Kettle) -> None:
    loops: list[Any] = []

    @app.route("/")
    async def index() -> str:
        loops.append(asyncio.get_running_loop())
        return "ok"

    app.test_client().get("/")
    worker = threading.Thread(target=lambda: app.test_client().get("/"))
    worker.start()
    worker.join()
    assert len(loops) == 2
    assert loops[0] is not loops[1]


def test_async_view_error_reaches_error_handler(app: Kettle) -> None:
    app.register_error_handler(KeyError, lambda e: ("handled key error", 400))

    @app.route("/")
    async def index() -> str:
        raise KeyError("x")

    response = app.test_client().get("/")
    assert response.status_code == 400
    assert response.data == b"handled key error"


# -- setup after the first request -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("add_url_rule", lambda app: app.add_url_rule("/late", "late", lambda: "")),
        ("route", lambda app: app.route("/late")),
        ("get", lambda app: app.get("/late")),
        ("before_request", lambda app: app.before_request(lambda: None)),
        ("after_request", lambda app: app.after_request(lambda r: r)),
        ("teardown_request", lambda app: app.teardown_request(lambda e: None)),
        ("teardown_appcontext", lambda app: app.teardown_appcontext(lambda e: None)),
        ("errorhandler", lambda app: app.errorhandler(404)),
        (
            "register_error_handler",
            lambda app: app.register_error_handler(404, lambda e: ""),
        ),
        ("url_value_preprocessor", lambda app: app.url_value_preprocessor(print)),
        ("url_defaults", lambda app: app.url_defaults(print)),
    ],
)
def test_setup_method_after_first_request_raises(
    app: Kettle, method: str, call: Any
) -> None:
    app.add_url_rule("/", "index", lambda: "ok")
    app.test_client().get("/")
    with pytest.raises(SetupError, match=f"setup method '{method}'") as info:
        call(app)
    assert isinstance(info.value, AssertionError)
    assert app.name in str(info.value)


def test_setup_methods_work_before_the_first_request(app: Kettle) -> None:
    with app.test_request_context("/"):
        pass
    app.add_url_rule("/", "index", lambda: "still allowed")
    assert app.test_client().get("/").data == b"still allowed"


# -- overriding pipeline methods -------------------------------------------------------


def test_instance_override_of_handle_user_exception_is_honoured(app: Kettle) -> None:
    original = app.handle_user_exception
    seen: list[BaseException] = []

    def override(e: Exception) -> Any:
        seen.append(e)
        if isinstance(e, ValueError):
            return "overridden", 409
        return original(e)

    app.handle_user_exception = override  # type: ignore[method-assign]
    app.register_error_handler(KeyError, lambda e: ("key handler", 400))

    @app.route("/<kind>")
    def raiser(kind: str) -> str:
        if kind == "value":
            raise ValueError()
        raise KeyError(kind)

    client = app.test_client()
    response = client.get("/value")
    assert response.status_code == 409
    assert response.data == b"overridden"
    assert client.get("/key").data == b"key handler"
    assert [type(e) for e in seen] == [ValueError, KeyError]


def test_subclass_override_of_make_response_hook_points(app: Kettle) -> None:
    class Custom(Kettle):
        def log_exception(self, ctx: Any, exc_info: Any) -> None:
            logged.append(exc_info[1])

    logged: list[BaseException] = []
    custom = Custom("custom_app")
    custom.add_url_rule("/", "index", lambda: 1 / 0)
    assert custom.test_client().get("/").status_code == 500
    assert isinstance(logged[0], ZeroDivisionError)


# -- more error paths ------------------------------------------------------------------


def test_exception_handler_also_catches_http_errors(app: Kettle) -> None:
    app.register_error_handler(Exception, lambda e: (type(e).__name__, 418))
    response = app.test_client().get("/missing")
    assert response.status_code == 418
    assert response.data == b"NotFound"


def test_http_error_handler_may_return_the_error_itself(app: Kettle) -> None:
    handled: list[int] = []

    @app.errorhandler(404)
    def passthrough(e: HTTPException) -> HTTPException:
        handled.append(404)
        return e

    response = app.test_client().get("/missing")
    assert response.status_code == 404
    assert b"Not Found" in response.data
    assert handled == [404]


def test_abort_in_before_request_skips_the_view(app: Kettle) -> None:
    called: list[str] = []
    app.before_request(lambda: abort(401))
    app.add_url_rule("/", "index", lambda: called.append("view") or "view")
    assert app.test_client().get("/").status_code == 401
    assert called == []


def test_error_in_before_request_goes_to_error_handler(app: Kettle) -> None:
    def fail() -> None:
        raise LookupError("from before_request")

    app.before_request(fail)
    app.register_error_handler(LookupError, lambda e: (str(e), 409))
    app.add_url_rule("/", "index", lambda: "view")
    response = app.test_client().get("/")
    assert response.status_code == 409
    assert response.data == b"from before_request"


def test_after_request_error_becomes_500_when_not_testing(app: Kettle) -> None:
    app.config["TESTING"] = False
    app.logger.disabled = True

    @app.after_request
    def broken(response: Response) -> Response:
        if response.status_code == 200:
            raise ValueError("after_request failed")
        return response

    app.add_url_rule("/", "index", lambda: "ok")
    try:
        response = app.test_client().get("/")
    finally:
        app.logger.disabled = False
    assert response.status_code == 500


def test_after_request_error_propagates_when_testing(app: Kettle) -> None:
    def broken(response: Response) -> Response:
        raise ValueError("after_request failed")

    app.after_request(broken)
    app.add_url_rule("/", "index", lambda: "ok")
    with pytest.raises(ValueError, match="after_request failed"):
        app.test_client().get("/")


def test_handled_error_is_not_passed_to_teardown(app: Kettle) -> None:
    received: list[BaseException | None] = []
    app.teardown_request(received.append)
    app.register_error_handler(ValueError, lambda e: ("handled", 400))

    @app.route("/")
    def index() -> str:
        raise ValueError()

    app.test_client().get("/")
    assert received == [None]


def test_unhandled_error_is_passed_to_teardown(app: Kettle) -> None:
    app.config["TESTING"] = False
    app.logger.disabled = True
    received: list[BaseException | None] = []
    app.teardown_request(received.append)
    app.teardown_appcontext(received.append)
    app.add_url_rule("/", "index", lambda: 1 / 0)
    try:
        assert app.test_client().get("/").status_code == 500
    finally:
        app.logger.disabled = False
    assert len(received) == 2
    assert all(isinstance(e, ZeroDivisionError) for e in received)


def test_session_is_saved_on_error_responses(app: Kettle) -> None:
    @app.route("/")
    def index() -> str:
        session["seen"] = True
        abort(404)

    response = app.test_client().get("/")
    assert response.status_code == 404
    assert "session=" in response.headers["Set-Cookie"]


def test_make_response_hook_accepts_a_tuple(app: Kettle) -> None:
    with app.test_request_context():
        response = app.make_response(("made", 201, {"X-M": "1"}))
    assert response.status_code == 201
    assert response.headers["X-M"] == "1"
