"""Checks of six Flask extensions on Kettle, run in a process of their own.

``python checks.py --results FILE GROUP...`` runs every ``check_<GROUP>_*`` function
below, each with a fresh temporary folder (the app's instance folder), and appends
one JSON line per check to FILE: its name, whether it passed, and the traceback if
not. ``tests/ext/test_extensions.py`` turns each line into a test. The Flask alias
must be installed before any extension is imported, and the main test process has
imported the real Flask, hence the separate process.
"""

import kettle.flask_compat  # noqa: I001 -- first, before any extension

import argparse
import importlib
import json
import re
import sqlite3
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blinker
import sqlalchemy as sa
from flask_login import FlaskLoginClient

import extapp
import kettle
import kettle.cli
import kettle.testing
from extapp import Note, User, db
from kettle.globals import _cv_app
from kettle.json.provider import DefaultJSONProvider

ORIGIN = "https://notes.example"


def new_app(instance: Path, **config: Any) -> Any:
    config.setdefault("TESTING", True)
    return extapp.create_app(str(instance), **config)


def app_with_data(instance: Path, notes: int = 0, **config: Any) -> Any:
    app = new_app(instance, **config)
    extapp.add_users_and_notes(app, notes)
    return app


def csrf_token(client: Any) -> str:
    page = client.get("/login").text
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, f"no CSRF token in the login page:\n{page}"
    return match.group(1)


def log_in(client: Any, remember: bool = False, password: str = "wonderland") -> Any:
    data = {"name": "alice", "password": password, "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def assert_redirects_to_login(response: Any, next_path: str) -> None:
    assert response.status_code in (302, 303), (response.status_code, response.text)
    assert response.location == f"/login?next={next_path.replace('/', '%2F')}"


# -- the alias ------------------------------------------------------------------------

#: Names FLASK-BEHAVIOR.md §12 says the extensions import, with Kettle's objects.
SECTION_12 = {
    "flask": {
        "abort": kettle.abort,
        "Blueprint": kettle.Blueprint,
        "current_app": kettle.current_app,
        "flash": kettle.flash,
        "Flask": kettle.Kettle,
        "g": kettle.g,
        "has_app_context": kettle.has_app_context,
        "has_request_context": kettle.has_request_context,
        "make_response": kettle.make_response,
        "redirect": kettle.redirect,
        "request": kettle.request,
        "Response": kettle.Response,
        "session": kettle.session,
        "url_for": kettle.url_for,
    },
    "flask.cli": {
        "with_appcontext": kettle.cli.with_appcontext,
        "FlaskGroup": kettle.cli.KettleGroup,
        "AppGroup": kettle.cli.AppGroup,
        "ScriptInfo": kettle.cli.ScriptInfo,
    },
    "flask.globals": {"app_ctx": kettle.app_ctx, "request_ctx": kettle.app_ctx},
    "flask.ctx": {"RequestContext": kettle.ctx.AppContext},
    "flask.signals": {"Namespace": blinker.Namespace},
    "flask.testing": {
        "FlaskClient": kettle.testing.KettleClient,
        "FlaskCliRunner": kettle.testing.KettleCliRunner,
    },
    "flask.wrappers": {"Response": kettle.Response},
}


def check_alias_flask_is_kettle(tmp: Path) -> None:
    import flask

    assert flask.Flask is kettle.Kettle
    assert flask.request is kettle.request and flask.g is kettle.g
    assert flask.__kettle_module__ is kettle
    assert type(new_app(tmp)) is kettle.Kettle
    assert "Flask" in dir(flask)


def check_alias_section_12_names_are_kettles_objects(tmp: Path) -> None:
    for module_name, names in SECTION_12.items():
        module = importlib.import_module(module_name)
        assert sys.modules[module_name] is module, module_name
        for name, expected in names.items():
            value = getattr(module, name)
            assert value is expected, f"{module_name}.{name} is {value!r}"


def check_alias_submodules_import_as_modules(tmp: Path) -> None:
    import flask.ctx
    import flask.json.provider
    import flask.wrappers
    from flask.ctx import RequestContext
    from flask.globals import request_ctx

    assert RequestContext is kettle.ctx.AppContext
    assert request_ctx is kettle.app_ctx
    assert flask.wrappers.Response is kettle.Response
    assert flask.json.provider.DefaultJSONProvider is DefaultJSONProvider
    assert flask.ctx._AppCtxGlobals is kettle.ctx.AppCtxGlobals


def check_alias_deprecated_names_do_not_warn(tmp: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        importlib.import_module("flask.ctx").RequestContext  # noqa: B018
        importlib.import_module("flask.globals").request_ctx  # noqa: B018
    assert caught == [], [str(w.message) for w in caught]


def check_alias_unknown_module_and_name_say_kettle(tmp: Path) -> None:
    try:
        importlib.import_module("flask.nonexistent")
    except ModuleNotFoundError as e:
        assert e.name == "flask.nonexistent", e.name
        assert "Kettle has no counterpart of 'flask.nonexistent'" in str(e), str(e)
    else:
        raise AssertionError("import flask.nonexistent did not fail")
    try:
        exec("from flask import _request_ctx_stack", {})
    except ImportError as e:
        assert f"({kettle.__file__})" in str(e), str(e)
    else:
        raise AssertionError("flask._request_ctx_stack was found")


def check_alias_second_import_is_a_no_op(tmp: Path) -> None:
    module = sys.modules["kettle.flask_compat"]
    assert importlib.import_module("kettle.flask_compat") is module
    importlib.reload(module)
    finders = [f for f in sys.meta_path if type(f).__name__ == "FlaskAliasFinder"]
    assert len(finders) == 1, sys.meta_path
    import flask

    assert flask.Flask is kettle.Kettle


# -- Flask-Login ----------------------------------------------------------------------


def check_login_form_logs_in_and_the_remember_cookie_logs_in_a_new_client(
    tmp: Path,
) -> None:
    app = app_with_data(tmp)
    client = app.test_client()
    wrong = log_in(client, password="nope")
    assert wrong.status_code == 200 and "wrong password" in wrong.text, wrong.text
    assert_redirects_to_login(client.get("/profile"), "/profile")
    response = log_in(client, remember=True)
    assert response.status_code in (302, 303) and response.location == "/profile"
    assert client.get("/profile").text == "Hello, alice!"
    remember = client.get_cookie("remember_token")
    assert remember is not None, response.headers
    fresh = app.test_client()
    fresh.set_cookie("remember_token", remember.value)
    assert fresh.get_cookie("session") is None
    assert fresh.get("/profile").text == "Hello, alice!"


def check_login_without_remember_a_new_client_is_anonymous(tmp: Path) -> None:
    app = app_with_data(tmp)
    client = app.test_client()
    log_in(client)
    assert client.get("/profile").text == "Hello, alice!"
    assert client.get_cookie("remember_token") is None
    assert_redirects_to_login(app.test_client().get("/profile"), "/profile")


def check_login_required_redirects_to_the_login_view(tmp: Path) -> None:
    app = app_with_data(tmp)
    client = app.test_client()
    response = client.get("/notes")
    assert_redirects_to_login(response, "/notes")
    page = client.get(response.location)
    assert page.status_code == 200 and "csrf_token" in page.text
    with client.session_transaction() as session:
        flashes = session.get("_flashes")
    assert flashes and "Please log in" in flashes[0][1], flashes


def check_login_logout_ends_the_login_and_clears_the_remember_cookie(tmp: Path) -> None:
    app = app_with_data(tmp)
    client = app.test_client()
    log_in(client, remember=True)
    assert client.get_cookie("remember_token") is not None
    response = client.get("/logout")
    assert response.status_code in (302, 303) and response.location == "/login"
    assert client.get_cookie("remember_token") is None
    assert_redirects_to_login(client.get("/profile"), "/profile")


def check_login_flask_login_client_logs_a_user_in(tmp: Path) -> None:
    assert issubclass(FlaskLoginClient, kettle.testing.KettleClient)
    app = app_with_data(tmp)
    app.test_client_class = FlaskLoginClient
    with app.app_context():
        bob = db.session.execute(sa.select(User).filter_by(name="bob")).scalar_one()
    client = app.test_client(user=bob)
    assert type(client) is FlaskLoginClient
    assert client.get("/profile").text == "Hello, bob!"
    assert_redirects_to_login(app.test_client().get("/profile"), "/profile")


# -- Flask-SQLAlchemy -----------------------------------------------------------------


def check_sqlalchemy_models_are_stored_and_loaded(tmp: Path) -> None:
    app = app_with_data(tmp, notes=2)
    with app.app_context():
        alice = db.session.execute(sa.select(User).filter_by(name="alice")).scalar_one()
        titles = db.session.scalars(sa.select(Note.title).filter_by(owner_id=alice.id))
        assert list(titles) == ["note 1", "note 2"]
    with sqlite3.connect(tmp / "notes.sqlite") as conn:
        rows = conn.execute("SELECT name FROM user ORDER BY id").fetchall()
    assert rows == [("alice",), ("bob",)], rows


def check_sqlalchemy_session_is_scoped_to_the_app_context(tmp: Path) -> None:
    app = app_with_data(tmp)
    seen_in_request: list[Any] = []

    @app.get("/which-session")
    def which_session() -> str:
        seen_in_request.append(db.session())
        return "ok"

    with app.app_context():
        outer = db.session()
        with app.app_context():
            inner = db.session()
            assert inner is not outer
        assert db.session() is outer
        assert app.test_client().get("/which-session").text == "ok"
        assert seen_in_request[0] is not outer, "a request reused the outer session"
        assert db.session() is outer


def check_sqlalchemy_session_is_removed_at_teardown(tmp: Path) -> None:
    app = app_with_data(tmp)
    with app.app_context() as ctx:
        session = db.session()
        pending = User(name="carol", password="x")
        session.add(pending)
        assert pending in session
        key = id(ctx)
        assert key in db.session.registry.registry
    assert key not in db.session.registry.registry, "the session outlived its context"
    assert pending not in session, "the session was not closed at teardown"
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    assert count == 2, "an uncommitted user was saved"


def check_sqlalchemy_paginate_gives_pages_total_and_items(tmp: Path) -> None:
    app = app_with_data(tmp, notes=7)
    with app.app_context():
        page = db.paginate(sa.select(Note).order_by(Note.id), page=3, per_page=3)
        assert (page.page, page.pages, page.total) == (3, 3, 7)
        assert [n.title for n in page.items] == ["note 7"]
        assert page.has_prev and not page.has_next
        assert list(page.iter_pages()) == [1, 2, 3]
    client = app.test_client()
    log_in(client)
    body = client.get("/notes?page=2").json
    assert body == {
        "page": 2,
        "pages": 3,
        "total": 7,
        "titles": ["note 4", "note 5", "note 6"],
    }, body
    assert client.get("/notes").json["titles"] == ["note 1", "note 2", "note 3"]
    assert client.get("/notes?page=9").status_code == 404


# -- Flask-WTF ------------------------------------------------------------------------


def check_wtf_post_without_the_csrf_token_is_400(tmp: Path) -> None:
    app = app_with_data(tmp)
    client = app.test_client()
    client.get("/login")
    response = client.post("/login", data={"name": "alice", "password": "wonderland"})
    assert response.status_code == 400, response.status_code
    assert "The CSRF token is missing." in response.text, response.text
    forged = client.post("/login", data={"name": "alice", "csrf_token": "forged"})
    assert forged.status_code == 400 and "The CSRF token is invalid." in forged.text
    assert_redirects_to_login(client.get("/profile"), "/profile")


def check_wtf_post_with_the_csrf_token_succeeds(tmp: Path) -> None:
    app = app_with_data(tmp)
    client = app.test_client()
    response = log_in(client)
    assert response.status_code in (302, 303), response.text
    assert client.get("/profile").text == "Hello, alice!"


# -- Flask-CORS -----------------------------------------------------------------------


def check_cors_headers_on_a_normal_response(tmp: Path) -> None:
    client = new_app(tmp).test_client()
    response = client.get("/api/data", headers={"Origin": ORIGIN})
    assert response.json == {"data": [1, 2, 3]}
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    other = client.get("/api/data", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    outside = client.get("/login", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in outside.headers


def check_cors_headers_on_error_responses(tmp: Path) -> None:
    app = new_app(tmp, TESTING=False)
    app.logger.disabled = True  # the 500 below is expected
    client = app.test_client()
    for path, status in [
        ("/api/missing", 404),
        ("/api/forbidden", 403),
        ("/api/boom", 500),
    ]:
        response = client.get(path, headers={"Origin": ORIGIN})
        assert response.status_code == status, (path, response.status_code)
        allowed = response.headers.get("Access-Control-Allow-Origin")
        assert allowed == ORIGIN, (path, response.headers)


def check_cors_cross_origin_view_and_its_automatic_options(tmp: Path) -> None:
    client = new_app(tmp).test_client()
    response = client.get("/open", headers={"Origin": "https://a.example"})
    assert response.text == "open to all"
    # origins="*" without send_wildcard: the request's origin is echoed.
    assert response.headers["Access-Control-Allow-Origin"] == "https://a.example"
    preflight = client.options(
        "/open",
        headers={
            "Origin": "https://a.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert preflight.status_code == 200, preflight.status_code
    assert preflight.text == ""
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert set(preflight.headers["Access-Control-Allow-Methods"].split(", ")) == {
        "GET",
        "POST",
    }
    assert {"GET", "POST", "OPTIONS"} <= set(preflight.allow), preflight.allow


def check_cors_make_default_options_response_accepts_both_spellings(
    tmp: Path,
) -> None:
    app = new_app(tmp)
    with app.test_request_context("/open", method="OPTIONS") as ctx:
        without_ctx = app.make_default_options_response()
        with_ctx = app.make_default_options_response(ctx)
    for response in (without_ctx, with_ctx):
        assert {"GET", "POST", "OPTIONS"} <= set(response.allow), response.allow


# -- Flask-Limiter --------------------------------------------------------------------


def check_limiter_answers_429_after_the_limit(tmp: Path) -> None:
    app = new_app(tmp)
    client = app.test_client()
    first, second, third = (client.get("/limited") for _ in range(3))
    assert [first.status_code, second.status_code] == [200, 200]
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert second.headers["X-RateLimit-Remaining"] == "0"
    assert third.status_code == 429, third.status_code
    assert "2 per 1 minute" in third.text, third.text
    assert int(third.headers["Retry-After"]) > 0
    assert client.get("/api/data").status_code == 200, "only /limited is limited"
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    assert elsewhere.get("/limited").status_code == 200, "limits are per address"


# -- Flask-Migrate --------------------------------------------------------------------


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def check_migrate_init_migrate_upgrade_and_downgrade(tmp: Path) -> None:
    app = new_app(tmp)
    runner = app.test_cli_runner()
    cli = kettle.cli.KettleGroup(create_app=lambda: app)
    migrations = str(tmp / "migrations")

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["db", *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    run("init", "-d", migrations)
    assert (tmp / "migrations" / "env.py").is_file()
    run("migrate", "-d", migrations, "-m", "users and notes")
    (script,) = (tmp / "migrations" / "versions").glob("*users_and_notes.py")
    assert "op.create_table('note'" in script.read_text()
    assert "user" not in _tables(tmp / "notes.sqlite")
    run("upgrade", "-d", migrations)
    assert {"user", "note", "alembic_version"} <= _tables(tmp / "notes.sqlite")
    run("downgrade", "-d", migrations)
    assert not {"user", "note"} & _tables(tmp / "notes.sqlite")


# -- the runner -----------------------------------------------------------------------


def _checks(groups: list[str]) -> list[tuple[str, Callable[[Path], None]]]:
    prefixes = tuple(f"check_{group}_" for group in groups)
    return [
        (name, func)
        for name, func in list(globals().items())
        if name.startswith(prefixes) and callable(func)
    ]


def _run(func: Callable[[Path], None]) -> str | None:
    """Run one check; its traceback if it failed (or left a context pushed)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            func(Path(tmp))
        except Exception:
            return traceback.format_exc()
    leaked = _cv_app.get(None)
    if leaked is not None:
        return f"the check left {leaked!r} pushed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("groups", nargs="+")
    args = parser.parse_args()
    for name, func in _checks(args.groups):
        error = _run(func)
        line = json.dumps({"check": name, "ok": error is None, "error": error})
        with open(args.results, "a") as results:
            results.write(line + "\n")


if __name__ == "__main__":
    main()
