"""Tests for kettle.helpers: url_for, make_response, redirect, files and flashing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response as WerkzeugResponse

from kettle import (
    Kettle,
    Response,
    flash,
    get_flashed_messages,
    make_response,
    redirect,
    send_file,
    send_from_directory,
    url_for,
)


@pytest.fixture
def urls(app: Kettle) -> Kettle:
    app.add_url_rule("/", "index", lambda: "index")
    app.add_url_rule("/user/<int:uid>", "user", lambda uid: str(uid))

    def items() -> str:
        return "items"

    app.add_url_rule("/items", "items", items, methods=["GET"])
    app.add_url_rule("/items/create", "items", items, methods=["POST"])
    return app


# -- url_for ---------------------------------------------------------------------------


def test_url_for_in_a_request_is_relative(urls: Kettle) -> None:
    with urls.test_request_context("/"):
        assert url_for("index") == "/"
        assert url_for("user", uid=5) == "/user/5"


def test_url_for_extra_values_become_the_query_string(urls: Kettle) -> None:
    with urls.test_request_context("/"):
        assert url_for("user", uid=5, tab="posts", q="a b") == "/user/5?tab=posts&q=a+b"


def test_url_for_external_uses_the_request_host(urls: Kettle) -> None:
    with urls.test_request_context("/", base_url="https://example.org"):
        assert url_for("user", uid=1, _external=True) == "https://example.org/user/1"


def test_url_for_anchor_is_quoted(urls: Kettle) -> None:
    with urls.test_request_context("/"):
        assert url_for("index", _anchor="part 2") == "/#part%202"
        assert url_for("user", uid=1, _anchor="x/y?z") == "/user/1#x/y?z"


def test_url_for_method_selects_the_rule(urls: Kettle) -> None:
    with urls.test_request_context("/"):
        assert url_for("items") == "/items"
        assert url_for("items", _method="POST") == "/items/create"
        assert url_for("items", _method="GET") == "/items"


def test_url_for_scheme_implies_external(urls: Kettle) -> None:
    with urls.test_request_context("/"):
        assert url_for("index", _scheme="https") == "https://localhost/"
        assert url_for("index", _scheme="https", _external=True) == "https://localhost/"


def test_url_for_scheme_with_external_false_is_value_error(urls: Kettle) -> None:
    with urls.test_request_context("/"), pytest.raises(ValueError, match="_external"):
        url_for("index", _scheme="https", _external=False)


def test_url_for_applies_url_defaults(urls: Kettle) -> None:
    @urls.url_defaults
    def default_uid(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "user":
            values.setdefault("uid", 42)

    with urls.test_request_context("/"):
        assert url_for("user") == "/user/42"
        assert url_for("user", uid=7) == "/user/7"


def test_url_for_unknown_endpoint_raises_build_error(urls: Kettle) -> None:
    with urls.test_request_context("/"), pytest.raises(BuildError):
        url_for("nope")


def test_url_for_missing_value_raises_build_error(urls: Kettle) -> None:
    with urls.test_request_context("/"), pytest.raises(BuildError):
        url_for("user")


def test_url_build_error_handler_can_supply_a_url(urls: Kettle) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def handler(error: Exception, endpoint: str, values: dict[str, Any]) -> str | None:
        calls.append((endpoint, dict(values)))
        if endpoint == "external.docs":
            return "https://docs.example.com/"
        return None

    urls.url_build_error_handlers.append(handler)
    with urls.test_request_context("/"):
        assert url_for("external.docs", page=3) == "https://docs.example.com/"
        with pytest.raises(BuildError):
            url_for("other")
    assert calls[0][0] == "external.docs"
    assert calls[0][1]["page"] == 3


def test_url_build_error_handler_raising_build_error_is_reraised(urls: Kettle) -> None:
    raised = BuildError("replacement", {}, None)

    def handler(error: Exception, endpoint: str, values: dict[str, Any]) -> str:
        raise raised

    urls.url_build_error_handlers.append(handler)
    with urls.test_request_context("/"), pytest.raises(BuildError) as info:
        url_for("nope")
    assert info.value is raised


def test_url_for_outside_a_request_without_server_name_is_clear_error(
    urls: Kettle,
) -> None:
    with urls.app_context(), pytest.raises(RuntimeError, match="SERVER_NAME"):
        url_for("index")


def test_url_for_without_any_context_is_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="application context"):
        url_for("index")


def test_url_for_outside_a_request_with_server_name_is_external(urls: Kettle) -> None:
    urls.config.update(
        SERVER_NAME="example.com",
        APPLICATION_ROOT="/root",
        PREFERRED_URL_SCHEME="https",
    )
    with urls.app_context():
        assert url_for("user", uid=3) == "https://example.com/root/user/3"
        assert url_for("index", _external=False) == "/root/"
    assert urls.url_for("index") == "https://example.com/root/"


def test_app_url_for_of_another_app_uses_that_app(urls: Kettle) -> None:
    other = Kettle("other_app", static_folder=None)
    other.add_url_rule("/elsewhere/<x>", "only_other", lambda x: x)
    with urls.test_request_context("/"):
        with pytest.raises(RuntimeError, match="SERVER_NAME"):
            other.url_for("only_other", x="a")
        other.config["SERVER_NAME"] = "other.test"
        assert other.url_for("only_other", x="a") == "http://other.test/elsewhere/a"
        with pytest.raises(BuildError):
            other.url_for("index")
        assert urls.url_for("index") == "/"


# -- make_response ---------------------------------------------------------------------


def test_make_response_without_arguments_is_empty_200(app: Kettle) -> None:
    with app.test_request_context():
        response = make_response()
    assert isinstance(response, Response)
    assert response.status_code == 200
    assert response.data == b""


def test_make_response_with_one_argument(app: Kettle) -> None:
    with app.test_request_context():
        response = make_response("body")
        json_response = make_response({"a": 1})
    assert response.data == b"body"
    assert response.mimetype == "text/html"
    assert json_response.json == {"a": 1}


def test_make_response_with_several_arguments(app: Kettle) -> None:
    with app.test_request_context():
        response = make_response("gone", 410, {"X-Why": "old"})
        with_headers = make_response("hdr", [("X-A", "b")])
    assert response.status_code == 410
    assert response.headers["X-Why"] == "old"
    assert with_headers.headers["X-A"] == "b"


def test_make_response_result_can_be_changed_in_a_view(app: Kettle) -> None:
    @app.route("/")
    def index() -> Response:
        response = make_response("cookie")
        response.set_cookie("flavour", "ginger")
        return response

    response = app.test_client().get("/")
    assert "flavour=ginger" in response.headers["Set-Cookie"]


# -- redirect --------------------------------------------------------------------------


def test_redirect_defaults_to_303(app: Kettle) -> None:
    with app.test_request_context():
        response = redirect("/target")
    assert isinstance(response, Response)
    assert response.status_code == 303
    assert response.location == "/target"


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirect_with_explicit_code(app: Kettle, code: int) -> None:
    with app.test_request_context():
        response = redirect("/target", code=code)
    assert response.status_code == code


def test_redirect_outside_a_context_uses_werkzeug_response() -> None:
    response = redirect("https://example.com/")
    assert type(response) is WerkzeugResponse
    assert response.status_code == 303
    assert response.location == "https://example.com/"


def test_redirect_with_response_class_uses_it(app: Kettle) -> None:
    class Custom(WerkzeugResponse):
        pass

    with app.test_request_context():
        response = redirect("/x", 302, Response=Custom)
    assert type(response) is Custom


def test_app_redirect_defaults_to_303(app: Kettle) -> None:
    response = app.redirect("/x")
    assert response.status_code == 303
    assert isinstance(response, Response)


def test_redirect_from_a_view_with_url_for(app: Kettle) -> None:
    app.add_url_rule("/target", "target", lambda: "arrived")
    app.add_url_rule("/go", "go", lambda: redirect(url_for("target")), methods=["POST"])
    client = app.test_client()
    response = client.post("/go")
    assert response.status_code == 303
    assert response.location == "/target"
    followed = client.post("/go", follow_redirects=True)
    assert followed.data == b"arrived"
    assert followed.request.method == "GET"


# -- send_from_directory / send_file ---------------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "hello.txt").write_text("hello file")
    (tmp_path / "public" / "sub").mkdir()
    (tmp_path / "public" / "sub" / "data.json").write_text('{"x": 1}')
    (tmp_path / "secret.txt").write_text("top secret")
    return tmp_path


def test_send_from_directory_sends_the_file(app: Kettle, files: Path) -> None:
    @app.route("/files/<path:name>")
    def serve(name: str) -> Response:
        return send_from_directory(files / "public", name)

    client = app.test_client()
    response = client.get("/files/hello.txt")
    assert response.status_code == 200
    assert response.data == b"hello file"
    assert response.mimetype == "text/plain"
    response.close()
    nested = client.get("/files/sub/data.json")
    assert nested.mimetype == "application/json"
    nested.close()


@pytest.mark.parametrize(
    "name", ["../secret.txt", "sub/../../secret.txt", "missing.txt"]
)
def test_send_from_directory_refuses_escapes_and_missing_files(
    app: Kettle, files: Path, name: str
) -> None:
    with app.test_request_context(), pytest.raises(NotFound):
        send_from_directory(files / "public", name)


def test_send_from_directory_escape_is_404_through_the_client(
    app: Kettle, files: Path
) -> None:
    @app.route("/files/<path:name>")
    def serve(name: str) -> Response:
        return send_from_directory(str(files / "public"), name)

    client = app.test_client()
    for path in ("/files/../secret.txt", "/files/sub/%2E%2E/%2E%2E/secret.txt"):
        response = client.get(path)
        assert response.request.path.endswith("/../secret.txt")
        assert response.status_code == 404
        assert b"top secret" not in response.data


def test_send_file_uses_max_age_config(app: Kettle, files: Path) -> None:
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 60
    app.add_url_rule("/f", "f", lambda: send_file(files / "secret.txt"))
    response = app.test_client().get("/f")
    assert response.data == b"top secret"
    assert response.cache_control.max_age == 60
    response.close()


# -- flashing --------------------------------------------------------------------------


@pytest.fixture
def flashing(app: Kettle) -> Kettle:
    @app.route("/flash")
    def do_flash() -> str:
        flash("plain")
        flash("broken", "error")
        flash("careful", "warning")
        flash("again", "error")
        return "flashed"

    @app.route("/all")
    def all_messages() -> Any:
        return get_flashed_messages()

    @app.route("/categories")
    def with_categories() -> Any:
        return [list(item) for item in get_flashed_messages(with_categories=True)]

    @app.route("/errors")
    def only_errors() -> Any:
        first = get_flashed_messages(category_filter=["error"])
        second = get_flashed_messages(with_categories=True, category_filter=["error"])
        return {"first": first, "second": [list(item) for item in second]}

    return app


def test_flashed_messages_appear_on_the_next_request_once(flashing: Kettle) -> None:
    client = flashing.test_client()
    client.get("/flash")
    assert client.get("/all").json == ["plain", "broken", "careful", "again"]
    assert client.get("/all").json == []


def test_flashed_messages_with_categories(flashing: Kettle) -> None:
    client = flashing.test_client()
    client.get("/flash")
    assert client.get("/categories").json == [
        ["message", "plain"],
        ["error", "broken"],
        ["warning", "careful"],
        ["error", "again"],
    ]


def test_flashed_messages_category_filter(flashing: Kettle) -> None:
    client = flashing.test_client()
    client.get("/flash")
    assert client.get("/errors").json == {
        "first": ["broken", "again"],
        "second": [["error", "broken"], ["error", "again"]],
    }
    assert client.get("/all").json == []


def test_flashed_messages_are_read_once_per_request(app: Kettle) -> None:
    with app.test_request_context():
        flash("now")
        assert get_flashed_messages() == ["now"]
        flash("later")
        assert get_flashed_messages() == ["now"]


def test_get_flashed_messages_without_a_request_fails(app: Kettle) -> None:
    with app.app_context(), pytest.raises(RuntimeError, match="request"):
        get_flashed_messages()
