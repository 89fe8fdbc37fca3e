"""A small notes app written in Flask style, run on Kettle after an import change.

The application part below (down to "The tests") is what a Flask user would have
written: an application factory, an ``auth`` and an ``api`` blueprint, Jinja
templates, signed-cookie sessions with login, flash messages, JSON endpoints, a
SQLite connection on ``g`` closed at teardown, error handlers and CLI commands.
Only ``from flask import ...`` became ``from kettle import ...`` and ``Flask``
became ``Kettle``. The tests then walk through it as a user would.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

import kettle.cli
from kettle import (
    Blueprint,
    Kettle,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from kettle.cli import with_appcontext

# ======================================================================================
# The application ("notes/__init__.py", "notes/db.py", "notes/auth.py", "notes/api.py")
# ======================================================================================

SCHEMA = """
DROP TABLE IF EXISTS note;
DROP TABLE IF EXISTS user;
CREATE TABLE user (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username TEXT UNIQUE NOT NULL,
  password TEXT NOT NULL
);
CREATE TABLE note (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  author_id INTEGER NOT NULL REFERENCES user (id),
  title TEXT NOT NULL,
  body TEXT NOT NULL DEFAULT ''
);
"""

TEMPLATES = {
    "base.html": """<!doctype html>
<title>{% block title %}{% endblock %} - Notes</title>
<nav>
  <a href="{{ url_for('index') }}">Notes</a>
  {% if g.user %}
    <span class="user">{{ g.user['username'] }}</span>
    <a href="{{ url_for('auth.logout') }}">Log Out</a>
  {% else %}
    <a href="{{ url_for('auth.register') }}">Register</a>
    <a href="{{ url_for('auth.login') }}">Log In</a>
  {% endif %}
</nav>
{% for category, message in get_flashed_messages(with_categories=true) %}
  <div class="flash {{ category }}">{{ message }}</div>
{% endfor %}
<main>{% block content %}{% endblock %}</main>
<footer>{{ config['SITE_NAME'] }}</footer>
""",
    "index.html": """{% extends 'base.html' %}
{% block title %}Notes{% endblock %}
{% block content %}
  {% if g.user %}
    <h1>{{ g.user['username'] }}'s notes ({{ notes|length }})</h1>
    <ul>
    {% for note in notes %}
      <li><a href="{{ url_for('api.get_note', note_id=note['id']) }}">
        {{- note['title'] }}</a></li>
    {% else %}
      <li class="empty">No notes yet.</li>
    {% endfor %}
    </ul>
  {% else %}
    <h1>Welcome, guest</h1>
  {% endif %}
{% endblock %}
""",
    "auth/register.html": """{% extends 'base.html' %}
{% block title %}Register{% endblock %}
{% block content %}
  <form method="post">
    <input name="username" value="{{ request.form['username'] }}">
    <input type="password" name="password">
    <input type="submit" value="Register">
  </form>
{% endblock %}
""",
    "auth/login.html": """{% extends 'base.html' %}
{% block title %}Log In{% endblock %}
{% block content %}
  <form method="post">
    <input name="username" value="{{ request.form['username'] }}">
    <input type="password" name="password">
    <input type="submit" value="Log In">
  </form>
{% endblock %}
""",
    "404.html": """{% extends 'base.html' %}
{% block title %}Not Found{% endblock %}
{% block content %}<h1>Nothing at {{ request.path }}</h1>{% endblock %}
""",
}


# -- notes/db.py -----------------------------------------------------------------------


def get_db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = sqlite3.connect(current_app.config["DATABASE"])
        g.db.row_factory = sqlite3.Row
        current_app.extensions["notes.connections"].append(g.db)
    return g.db  # type: ignore[no-any-return]


def close_db(e: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_db() -> None:
    get_db().executescript(SCHEMA)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Clear the existing data and create new tables."""
    init_db()
    click.echo("Initialized the database.")


def init_app(app: Kettle) -> None:
    app.extensions["notes.connections"] = []
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)


# -- notes/auth.py ---------------------------------------------------------------------

auth = Blueprint("auth", __name__, url_prefix="/auth")


@auth.before_app_request
def load_logged_in_user() -> None:
    user_id = session.get("user_id")
    if user_id is None:
        g.user = None
    else:
        g.user = (
            get_db().execute("SELECT * FROM user WHERE id = ?", (user_id,)).fetchone()
        )


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped_view(**kwargs: Any) -> Any:
        if g.user is None:
            if request.blueprint == "api":
                abort(401)
            flash("Please log in first.", "warning")
            return redirect(url_for("auth.login"))
        return view(**kwargs)

    return wrapped_view


@auth.route("/register", methods=("GET", "POST"))
def register() -> Any:
    if request.method == "POST":
        username = request.form["username"].strip()
        password = request.form["password"]
        db = get_db()
        error = None
        if not username:
            error = "Username is required."
        elif not password:
            error = "Password is required."
        if error is None:
            try:
                db.execute(
                    "INSERT INTO user (username, password) VALUES (?, ?)",
                    (username, generate_password_hash(password)),
                )
                db.commit()
            except db.IntegrityError:
                error = f"User {username} is already registered."
            else:
                flash("Registered! You can log in now.", "success")
                return redirect(url_for("auth.login"))
        flash(error, "error")
    return render_template("auth/register.html")


@auth.route("/login", methods=("GET", "POST"))
def login() -> Any:
    if request.method == "POST":
        username = request.form["username"]
        password = request.form["password"]
        user = (
            get_db()
            .execute("SELECT * FROM user WHERE username = ?", (username,))
            .fetchone()
        )
        if user is None or not check_password_hash(user["password"], password):
            flash("Incorrect username or password.", "error")
        else:
            session.clear()
            session["user_id"] = user["id"]
            flash(f"Welcome back, {user['username']}!", "success")
            return redirect(url_for("index"))
    return render_template("auth/login.html")


@auth.route("/logout")
def logout() -> Any:
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("index"))


# -- notes/api.py ----------------------------------------------------------------------

api = Blueprint("api", __name__, url_prefix="/api")


def json_error(e: HTTPException) -> Any:
    return jsonify(error=e.name, message=e.description), e.code


for _code in (400, 401, 404, 405, 415):
    api.register_error_handler(_code, json_error)


def note_as_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "title": row["title"], "body": row["body"]}


def get_own_note(note_id: int) -> sqlite3.Row:
    note = (
        get_db()
        .execute(
            "SELECT * FROM note WHERE id = ? AND author_id = ?",
            (note_id, g.user["id"]),
        )
        .fetchone()
    )
    if note is None:
        abort(404, description=f"Note {note_id} doesn't exist.")
    return note  # type: ignore[no-any-return]


@api.get("/notes")
@login_required
def list_notes() -> Any:
    rows = get_db().execute(
        "SELECT * FROM note WHERE author_id = ? ORDER BY id", (g.user["id"],)
    )
    return jsonify([note_as_dict(row) for row in rows])


@api.post("/notes")
@login_required
def create_note() -> Any:
    data = request.get_json()
    if not isinstance(data, dict) or not data.get("title"):
        abort(400, description="A note needs a title.")
    db = get_db()
    cursor = db.execute(
        "INSERT INTO note (author_id, title, body) VALUES (?, ?, ?)",
        (g.user["id"], data["title"], data.get("body", "")),
    )
    db.commit()
    note = get_own_note(cursor.lastrowid)  # type: ignore[arg-type]
    return (
        note_as_dict(note),
        201,
        {"Location": url_for(".get_note", note_id=note["id"])},
    )


@api.get("/notes/<int:note_id>")
@login_required
def get_note(note_id: int) -> Any:
    return jsonify(note_as_dict(get_own_note(note_id)))


@api.delete("/notes/<int:note_id>")
@login_required
def delete_note(note_id: int) -> Any:
    get_own_note(note_id)
    db = get_db()
    db.execute("DELETE FROM note WHERE id = ?", (note_id,))
    db.commit()
    return "", 204


# -- notes/__init__.py -----------------------------------------------------------------


def create_app(
    test_config: dict[str, Any] | None = None, root_path: str | None = None
) -> Kettle:
    app = Kettle(__name__, instance_relative_config=True, root_path=root_path)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE=os.path.join(app.instance_path, "notes.sqlite"),
        SITE_NAME="Kettle Notes",
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    init_app(app)
    app.register_blueprint(auth)
    app.register_blueprint(api)

    @app.route("/")
    def index() -> str:
        notes = []
        if g.user is not None:
            notes = (
                get_db()
                .execute("SELECT * FROM note WHERE author_id = ?", (g.user["id"],))
                .fetchall()
            )
        return render_template("index.html", notes=notes)

    @app.errorhandler(404)
    def page_not_found(e: HTTPException) -> Any:
        return render_template("404.html"), 404

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.cli.command("seed")
    @click.option("--notes", default=2, help="How many notes to create.")
    def seed(notes: int) -> None:
        """Create a demo user with a few notes."""
        db = get_db()
        cursor = db.execute(
            "INSERT INTO user (username, password) VALUES (?, ?)",
            ("demo", generate_password_hash("demo")),
        )
        for i in range(notes):
            db.execute(
                "INSERT INTO note (author_id, title) VALUES (?, ?)",
                (cursor.lastrowid, f"Demo note {i + 1}"),
            )
        db.commit()
        click.echo(f"Seeded user 'demo' with {notes} notes.")

    return app


# ======================================================================================
# The tests
# ======================================================================================


@pytest.fixture
def notes_app(tmp_path: Path) -> Kettle:
    for name, source in TEMPLATES.items():
        path = tmp_path / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    app = create_app(
        {"TESTING": True, "DATABASE": str(tmp_path / "test.sqlite")},
        root_path=str(tmp_path),
    )
    with app.app_context():
        init_db()
    return app


def register_user(
    client: Any, username: str = "ada", password: str = "lovelace"
) -> Any:
    return client.post(
        "/auth/register", data={"username": username, "password": password}
    )


def log_in(client: Any, username: str = "ada", password: str = "lovelace") -> Any:
    return client.post("/auth/login", data={"username": username, "password": password})


def flashes(html: str) -> list[str]:
    import re

    return re.findall(r'<div class="flash (\w+)">([^<]*)</div>', html)  # type: ignore[return-value]


def test_factory_configures_the_app(notes_app: Kettle, tmp_path: Path) -> None:
    assert notes_app.testing
    assert notes_app.instance_path == str(tmp_path / "instance")
    assert os.path.isdir(notes_app.instance_path)
    assert set(notes_app.blueprints) == {"auth", "api"}
    assert not create_app(root_path=str(tmp_path)).testing


def test_factory_reads_instance_config(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "config.py").write_text("SITE_NAME = 'From instance'\n")
    app = create_app(root_path=str(tmp_path))
    assert app.config["SITE_NAME"] == "From instance"


def test_a_whole_user_journey(notes_app: Kettle) -> None:
    client = notes_app.test_client()

    # A guest sees the welcome page with links to register and log in.
    rv = client.get("/")
    assert rv.status_code == 200
    assert rv.headers["X-Content-Type-Options"] == "nosniff"
    assert "Welcome, guest" in rv.text
    assert 'href="/auth/register"' in rv.text
    assert "<footer>Kettle Notes</footer>" in rv.text

    # The API refuses guests with a JSON error.
    rv = client.get("/api/notes")
    assert rv.status_code == 401
    assert rv.get_json()["error"] == "Unauthorized"

    # Registering with no password shows the error on the same page.
    rv = register_user(client, password="")
    assert rv.status_code == 200
    assert flashes(rv.text) == [("error", "Password is required.")]

    # Registering redirects to the login page, where the message is flashed once.
    rv = register_user(client)
    assert rv.status_code == 303
    assert rv.location == "/auth/login"
    rv = client.get(rv.location)
    assert flashes(rv.text) == [("success", "Registered! You can log in now.")]
    assert flashes(client.get("/auth/login").text) == []

    # The same name cannot be registered twice.
    rv = register_user(client)
    assert flashes(rv.text) == [("error", "User ada is already registered.")]

    # A wrong password keeps the user out, and the form keeps the name.
    rv = log_in(client, password="wrong")
    assert flashes(rv.text) == [("error", "Incorrect username or password.")]
    assert 'value="ada"' in rv.text

    # Logging in sets the signed session cookie and greets on the next page.
    rv = log_in(client, password="lovelace")
    assert rv.status_code == 303
    assert rv.location == "/"
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only
    rv = client.get("/")
    assert flashes(rv.text) == [("success", "Welcome back, ada!")]
    assert '<span class="user">ada</span>' in rv.text
    assert "No notes yet." in rv.text
    assert flashes(client.get("/").text) == []

    # Create notes through the JSON API.
    rv = client.post("/api/notes", json={"title": "Shopping", "body": "tea, milk"})
    assert rv.status_code == 201
    assert rv.get_json() == {"id": 1, "title": "Shopping", "body": "tea, milk"}
    assert rv.headers["Location"] == "/api/notes/1"
    rv = client.post("/api/notes", json={"title": "<script>alert(1)</script>"})
    assert rv.status_code == 201
    second_id = rv.get_json()["id"]

    # Bad requests get JSON errors: malformed JSON, wrong type, missing title.
    rv = client.post(
        "/api/notes", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert rv.status_code == 400
    assert rv.get_json()["error"] == "Bad Request"
    rv = client.post("/api/notes", data={"title": "form post"})
    assert rv.status_code == 415
    assert rv.get_json()["error"] == "Unsupported Media Type"
    rv = client.post("/api/notes", json={"body": "no title"})
    assert rv.status_code == 400
    assert rv.get_json()["message"] == "A note needs a title."
    assert client.put("/api/notes").status_code == 405

    # Read them back, as JSON and on the HTML page (escaped).
    rv = client.get("/api/notes")
    assert rv.status_code == 200
    assert [n["title"] for n in rv.get_json()] == [
        "Shopping",
        "<script>alert(1)</script>",
    ]
    rv = client.get("/")
    assert "ada's notes (2)" in rv.text
    assert '<a href="/api/notes/1">Shopping</a>' in rv.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rv.text
    assert "<script>alert(1)</script>" not in rv.text
    assert client.get("/api/notes/1").get_json()["body"] == "tea, milk"

    # Missing notes: JSON 404 in the API, the HTML page elsewhere.
    rv = client.get("/api/notes/999")
    assert rv.status_code == 404
    assert rv.get_json() == {"error": "Not Found", "message": "Note 999 doesn't exist."}
    rv = client.get("/no/such/page")
    assert rv.status_code == 404
    assert "<h1>Nothing at /no/such/page</h1>" in rv.text
    assert '<span class="user">ada</span>' in rv.text

    # Delete one note.
    assert client.delete(f"/api/notes/{second_id}").status_code == 204
    assert client.delete(f"/api/notes/{second_id}").status_code == 404
    assert len(client.get("/api/notes").get_json()) == 1

    # Another user cannot see ada's notes.
    other = notes_app.test_client()
    register_user(other, "bob", "builder")
    log_in(other, "bob", "builder")
    assert other.get("/api/notes").get_json() == []
    assert other.get("/api/notes/1").status_code == 404

    # Logging out clears the session and says so on the next page.
    rv = client.get("/auth/logout")
    assert rv.status_code == 303
    rv = client.get(rv.location)
    assert flashes(rv.text) == [("info", "You have been logged out.")]
    assert "Welcome, guest" in rv.text
    assert client.get("/api/notes").status_code == 401

    # Every connection opened on g was closed by the teardown.
    connections = notes_app.extensions["notes.connections"]
    assert len(connections) > 10
    for connection in connections:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            connection.execute("SELECT 1")


def test_login_required_redirects_html_views_with_a_flash(notes_app: Kettle) -> None:
    @notes_app.route("/private")
    @login_required
    def private() -> str:
        return "secret"

    client = notes_app.test_client()
    rv = client.get("/private", follow_redirects=True)
    assert rv.request.path == "/auth/login"
    assert flashes(rv.text) == [("warning", "Please log in first.")]
    register_user(client)
    log_in(client)
    assert client.get("/private").text == "secret"


def test_session_state_with_session_transaction(notes_app: Kettle) -> None:
    client = notes_app.test_client()
    register_user(client)
    log_in(client)
    with client.session_transaction() as sess:
        assert sess["user_id"] == 1
        assert sess["_flashes"] == [("success", "Welcome back, ada!")]
    with client.session_transaction() as sess:
        sess["user_id"] = 42  # a user that does not exist
    assert "Welcome, guest" in client.get("/").text


def test_tampered_session_cookie_is_an_anonymous_session(notes_app: Kettle) -> None:
    client = notes_app.test_client()
    register_user(client)
    log_in(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    payload, _, signature = cookie.value.rpartition(".")
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    client.set_cookie("session", forged)
    rv = client.get("/")
    assert rv.status_code == 200
    assert "Welcome, guest" in rv.text


def test_session_cookie_from_another_secret_key_is_ignored(
    notes_app: Kettle, tmp_path: Path
) -> None:
    client = notes_app.test_client()
    register_user(client)
    log_in(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    other_app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "another",
            "DATABASE": notes_app.config["DATABASE"],
        },
        root_path=str(tmp_path),
    )
    other = other_app.test_client()
    other.set_cookie("session", cookie.value)
    assert "Welcome, guest" in other.get("/").text


def test_cli_commands_with_the_test_cli_runner(notes_app: Kettle) -> None:
    runner = notes_app.test_cli_runner()
    result = runner.invoke(args=["seed", "--notes", "3"])
    assert result.exit_code == 0, result.output
    assert result.output == "Seeded user 'demo' with 3 notes.\n"
    client = notes_app.test_client()
    log_in(client, "demo", "demo")
    titles = [n["title"] for n in client.get("/api/notes").get_json()]
    assert titles == ["Demo note 1", "Demo note 2", "Demo note 3"]
    # The command's connection was closed when its app context ended.
    for connection in notes_app.extensions["notes.connections"]:
        with pytest.raises(sqlite3.ProgrammingError):
            connection.execute("SELECT 1")


def test_cli_commands_with_click_and_script_info(notes_app: Kettle) -> None:
    info = kettle.cli.ScriptInfo(create_app=lambda: notes_app)
    result = CliRunner().invoke(notes_app.cli, ["seed"], obj=info)
    assert result.exit_code == 0, result.output
    assert result.output == "Seeded user 'demo' with 2 notes.\n"
    result = CliRunner().invoke(notes_app.cli, ["init-db"], obj=info)
    assert result.output == "Initialized the database.\n"
    client = notes_app.test_client()
    assert "Incorrect" in log_in(client, "demo", "demo").text


def test_cli_help_lists_the_commands(notes_app: Kettle) -> None:
    result = notes_app.test_cli_runner().invoke(args=["--help"])
    assert result.exit_code == 0
    assert "seed" in result.output
    assert "init-db" in result.output
    result = notes_app.test_cli_runner().invoke(args=["seed", "--help"])
    assert "How many notes to create." in result.output


def test_cli_command_error_exits_non_zero(notes_app: Kettle) -> None:
    runner = notes_app.test_cli_runner()
    assert runner.invoke(args=["seed"]).exit_code == 0
    result = runner.invoke(args=["seed"])  # "demo" exists already
    assert result.exit_code == 1
    assert isinstance(result.exception, sqlite3.IntegrityError)
