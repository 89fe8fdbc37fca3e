"""Tests for kettle.testing: the test client, kept contexts and EnvironBuilder."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest
from werkzeug.wrappers import Request as WerkzeugRequest

from kettle import (
    Kettle,
    current_app,
    g,
    has_app_context,
    has_request_context,
    redirect,
    request,
    session,
)
from kettle.testing import EnvironBuilder, KettleClient


@pytest.fixture
def tracked(app: Kettle) -> tuple[Kettle, list[tuple[str, str, Any]]]:
    """An app whose views set g and the session, and whose teardowns are recorded."""
    events: list[tuple[str, str, Any]] = []

    @app.teardown_request
    def teardown_request(exc: BaseException | None) -> None:
        events.append(("request", request.path, exc))

    @app.teardown_appcontext
    def teardown_appcontext(exc: BaseException | None) -> None:
        events.append(("app", request.path, exc))

    @app.route("/set/<value>")
    def set_value(value: str) -> str:
        g.value = value
        session["value"] = value
        return value

    @app.route("/hop/<int:n>")
    def hop(n: int) -> Any:
        g.hop = n
        if n:
            return redirect(f"/hop/{n - 1}", 302)
        return "landed"

    @app.route("/fail")
    def fail() -> str:
        g.value = "failing"
        raise ValueError("view failed")

    return app, events


# -- with client: ----------------------------------------------------------------------


def test_with_client_keeps_request_g_and_session_of_last_request(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, _ = tracked
    with app.test_client() as client:
        client.get("/set/first?extra=1")
        assert request.path == "/set/first"
        assert request.args["extra"] == "1"
        assert g.value == "first"
        assert session["value"] == "first"
        assert current_app._get_current_object() is app
        client.get("/set/second")
        assert request.path == "/set/second"
        assert g.value == "second"
        assert session["value"] == "second"
    assert not has_app_context()


def test_with_client_runs_teardown_once_per_request(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, events = tracked
    with app.test_client() as client:
        client.get("/set/a")
        assert events == []
        client.get("/set/b")
        assert events == [("request", "/set/a", None), ("app", "/set/a", None)]
        events.clear()
    assert events == [("request", "/set/b", None), ("app", "/set/b", None)]


def test_without_with_block_teardown_runs_during_the_request(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, events = tracked
    client = app.test_client()
    client.get("/set/x")
    assert events == [("request", "/set/x", None), ("app", "/set/x", None)]
    assert not has_request_context()


def test_nested_with_client_raises(app: Kettle) -> None:
    client = app.test_client()
    with client:
        with pytest.raises(RuntimeError, match="Cannot nest client invocations"):
            client.__enter__()
    assert not client.preserve_context


def test_client_can_be_reused_in_consecutive_blocks(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, events = tracked
    client = app.test_client()
    with client:
        client.get("/set/one")
        assert g.value == "one"
    assert not has_app_context()
    with client:
        client.get("/set/two")
        assert g.value == "two"
        assert session["value"] == "two"
    assert not has_app_context()
    assert [e[1] for e in events if e[0] == "request"] == ["/set/one", "/set/two"]


def test_with_client_and_follow_redirects_keeps_the_last_hop(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, events = tracked
    with app.test_client() as client:
        response = client.get("/hop/2", follow_redirects=True)
        assert response.data == b"landed"
        assert request.path == "/hop/0"
        assert g.hop == 0
        assert [e[1] for e in events if e[0] == "request"] == ["/hop/2", "/hop/1"]
    assert [e[1] for e in events if e[0] == "request"] == ["/hop/2", "/hop/1", "/hop/0"]


def test_follow_redirects_without_with_block(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, _ = tracked
    response = app.test_client().get("/hop/3", follow_redirects=True)
    assert response.status_code == 200
    assert response.data == b"landed"
    assert [r.status_code for r in response.history] == [302, 302, 302]
    assert response.request.path == "/hop/0"


def test_request_that_raises_in_with_client_leaves_no_context(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, events = tracked
    with app.test_client() as client:
        with pytest.raises(ValueError, match="view failed"):
            client.get("/fail")
        assert not has_app_context()
        assert len(events) == 2
        assert isinstance(events[0][2], ValueError)
        client.get("/set/after")
        assert g.value == "after"
    assert [e[1] for e in events if e[0] == "request"] == ["/fail", "/set/after"]


def test_handled_500_in_with_client_keeps_context_and_error(
    tracked: tuple[Kettle, list[Any]],
) -> None:
    app, events = tracked
    app.config["TESTING"] = False
    app.logger.disabled = True
    try:
        with app.test_client() as client:
            assert client.get("/fail").status_code == 500
            assert g.value == "failing"
            assert events == []
        assert len(events) == 2
        assert isinstance(events[0][2], ValueError)
    finally:
        app.logger.disabled = False


def test_with_client_block_ending_in_error_pops_context(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: "ok")
    with pytest.raises(KeyError), app.test_client() as client:
        client.get("/")
        assert has_request_context()
        raise KeyError("in block")
    assert not has_app_context()


# -- session_transaction ---------------------------------------------------------------


@pytest.fixture
def session_app(app: Kettle) -> Kettle:
    @app.route("/read")
    def read() -> Any:
        return dict(session)

    @app.route("/write/<value>")
    def write(value: str) -> str:
        session["written"] = value
        return "ok"

    return app


def test_session_transaction_writes_the_cookie_session(session_app: Kettle) -> None:
    client = session_app.test_client()
    with client.session_transaction() as sess:
        sess["user"] = "alice"
        sess["items"] = [1, 2]
    assert client.get("/read").json == {"user": "alice", "items": [1, 2]}


def test_session_transaction_reads_the_cookie_session(session_app: Kettle) -> None:
    client = session_app.test_client()
    client.get("/write/hello")
    with client.session_transaction() as sess:
        assert sess["written"] == "hello"
        sess["extra"] = True
    assert client.get("/read").json == {"written": "hello", "extra": True}


def test_session_transaction_block_has_no_active_context(session_app: Kettle) -> None:
    client = session_app.test_client()
    with client.session_transaction() as sess:
        assert not has_app_context()
        sess["x"] = 1


def test_session_transaction_keeps_an_active_context(session_app: Kettle) -> None:
    client = session_app.test_client()
    with session_app.test_request_context("/outer"):
        with client.session_transaction() as sess:
            sess["x"] = 1
        assert request.path == "/outer"


def test_session_transaction_inside_with_client(session_app: Kettle) -> None:
    with session_app.test_client() as client:
        client.get("/write/one")
        assert session["written"] == "one"
        with client.session_transaction() as sess:
            sess["written"] = "two"
        assert request.path == "/write/one"
        client.get("/read")
        assert session["written"] == "two"


def test_session_transaction_without_cookies_is_type_error(app: Kettle) -> None:
    client = app.test_client(use_cookies=False)
    with pytest.raises(TypeError, match="Cookies are disabled"):
        with client.session_transaction():
            pass


def test_session_transaction_without_secret_key_fails(app: Kettle) -> None:
    app.config["SECRET_KEY"] = None
    client = app.test_client()
    with pytest.raises(RuntimeError, match="Session backend did not open a session"):
        with client.session_transaction():
            pass


def test_session_transaction_error_in_block_discards_changes(
    session_app: Kettle,
) -> None:
    client = session_app.test_client()
    with pytest.raises(ZeroDivisionError), client.session_transaction() as sess:
        sess["lost"] = True
        1 / 0  # noqa: B018
    assert client.get("/read").json == {}


# -- the client itself -----------------------------------------------------------------


def test_test_client_is_a_kettle_client(app: Kettle) -> None:
    assert isinstance(app.test_client(), KettleClient)


def test_test_client_class_can_be_replaced(app: Kettle) -> None:
    class Custom(KettleClient):
        pass

    app.test_client_class = Custom
    assert isinstance(app.test_client(), Custom)


def test_client_environ_base_defaults(app: Kettle) -> None:
    @app.route("/")
    def index() -> Any:
        return {
            "addr": request.remote_addr,
            "agent": request.headers["User-Agent"],
        }

    data = app.test_client().get("/").json
    assert data == {
        "addr": "127.0.0.1",
        "agent": f"Werkzeug/{importlib.metadata.version('werkzeug')}",
    }


def test_client_open_accepts_builder_environ_and_request(app: Kettle) -> None:
    app.add_url_rule("/p", "p", lambda: request.args.get("v", "none"))
    client = app.test_client()
    builder = EnvironBuilder(app, "/p", query_string={"v": "builder"})
    assert client.open(builder).data == b"builder"
    assert client.open(builder).data == b"builder"
    builder.close()
    environ = EnvironBuilder(app, "/p?v=environ").get_environ()
    assert client.open(environ).data == b"environ"
    req = WerkzeugRequest(EnvironBuilder(app, "/p?v=req").get_environ())
    assert client.open(req).data == b"req"


def test_client_cookies_persist_across_requests(app: Kettle) -> None:
    @app.route("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    assert [client.get("/count").data for _ in range(3)] == [b"1", b"2", b"3"]
    assert app.test_client().get("/count").data == b"1"


def test_client_json_argument_uses_app_json(app: Kettle) -> None:
    app.add_url_rule("/echo", "echo", lambda: request.get_json(), methods=["POST"])
    response = app.test_client().post("/echo", json={"a": [1, 2]})
    assert response.json == {"a": [1, 2]}


# -- EnvironBuilder --------------------------------------------------------------------


def test_environ_builder_defaults_to_localhost(app: Kettle) -> None:
    builder = EnvironBuilder(app, "/x")
    assert builder.base_url == "http://localhost/"
    assert builder.path == "/x"
    builder.close()


def test_environ_builder_uses_server_name_root_and_scheme(app: Kettle) -> None:
    app.config.update(
        SERVER_NAME="example.com:8080",
        APPLICATION_ROOT="/app",
        PREFERRED_URL_SCHEME="https",
    )
    builder = EnvironBuilder(app, "/x")
    environ = builder.get_environ()
    builder.close()
    assert builder.base_url == "https://example.com:8080/app/"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["HTTP_HOST"] == "example.com:8080"
    assert environ["SCRIPT_NAME"] == "/app"
    assert environ["PATH_INFO"] == "/x"


def test_environ_builder_subdomain_and_url_scheme(app: Kettle) -> None:
    app.config["SERVER_NAME"] = "example.com"
    builder = EnvironBuilder(app, subdomain="api", url_scheme="https")
    assert builder.base_url == "https://api.example.com/"
    builder.close()
    localhost = Kettle("no_server_name", static_folder=None)
    builder = EnvironBuilder(localhost, subdomain="api")
    assert builder.base_url == "http://api.localhost/"
    builder.close()


def test_environ_builder_full_url_path_overrides_host(app: Kettle) -> None:
    builder = EnvironBuilder(app, "https://other.test/action?vodka=42")
    environ = builder.get_environ()
    builder.close()
    assert environ["HTTP_HOST"] == "other.test"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["PATH_INFO"] == "/action"
    assert environ["QUERY_STRING"] == "vodka=42"


def test_environ_builder_rejects_base_url_with_subdomain(app: Kettle) -> None:
    with pytest.raises(ValueError, match="base_url"):
        EnvironBuilder(app, base_url="http://x.test/", subdomain="api")
    with pytest.raises(ValueError, match="base_url"):
        EnvironBuilder(app, base_url="http://x.test/", url_scheme="https")


def test_environ_builder_json_uses_app_provider(app: Kettle) -> None:
    builder = EnvironBuilder(app, json={"b": 1, "a": 2})
    environ = builder.get_environ()
    body = environ["wsgi.input"].read()
    builder.close()
    assert environ["CONTENT_TYPE"] == "application/json"
    assert body == app.json.dumps({"b": 1, "a": 2}).encode()


def test_test_request_context_uses_builder_defaults(app: Kettle) -> None:
    app.config.update(SERVER_NAME="example.com", PREFERRED_URL_SCHEME="https")
    with app.test_request_context("/path", subdomain="shop"):
        assert request.url == "https://shop.example.com/path"
        assert request.host == "shop.example.com"


def test_client_requests_go_to_server_name(app: Kettle) -> None:
    app.config.update(SERVER_NAME="example.com", APPLICATION_ROOT="/root")
    app.add_url_rule("/where", "where", lambda: request.url)
    response = app.test_client().get("/where")
    assert response.data == b"http://example.com/root/where"
