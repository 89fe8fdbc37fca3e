"""The blog's factory: configuration, instance folder, blueprints, first run."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blog
import pytest
from blog import create_app
from blog.db import get_db

from kettle import Kettle, url_for

MakeApp = Callable[..., Kettle]


def test_test_config_is_used(tmp_path: Path, make_app: MakeApp) -> None:
    app = make_app(tmp_path / "x.sqlite")
    assert app.testing
    assert app.config["DATABASE"] == str(tmp_path / "x.sqlite")
    assert app.config["SECRET_KEY"] == "blog tests"
    assert not create_app(
        {"SECRET_KEY": "k", "DATABASE": str(tmp_path / "y.sqlite")}
    ).testing


def test_instance_folder_is_beside_the_package(
    tmp_path: Path, make_app: MakeApp
) -> None:
    # As in Flask: examples/blog/instance, not examples/blog/blog/instance.
    app = make_app(tmp_path / "x.sqlite")
    examples_blog = Path(blog.__file__).parent.parent
    assert app.instance_path == str(examples_blog / "instance")


def test_first_run_with_defaults_creates_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    monkeypatch.setattr(Kettle, "auto_find_instance_path", lambda self: str(instance))
    app = create_app()
    assert app.instance_path == str(instance)
    assert app.config["DATABASE"] == str(instance / "blog.sqlite")
    assert (instance / "blog.sqlite").is_file()
    with app.app_context():
        tables = {
            row[0]
            for row in get_db().execute("SELECT name FROM sqlite_master")
            if not row[0].startswith("sqlite_")
        }
    assert {"account", "post"} <= tables

    # A signing key was made, readable by its owner only, and is reused.
    key_file = instance / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(app.config["SECRET_KEY"]) == 64
    assert create_app().config["SECRET_KEY"] == app.config["SECRET_KEY"]

    assert app.test_client().get("/").status_code == 200


def test_instance_config_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        f"SECRET_KEY = 'from file'\nDATABASE = {str(tmp_path / 'f.sqlite')!r}\n"
    )
    monkeypatch.setattr(Kettle, "auto_find_instance_path", lambda self: str(instance))
    app = create_app()
    assert app.config["SECRET_KEY"] == "from file"
    assert (tmp_path / "f.sqlite").is_file()
    assert not (instance / "secret_key").exists()


def test_database_folder_is_created(tmp_path: Path, make_app: MakeApp) -> None:
    make_app(tmp_path / "deep" / "er" / "blog.sqlite")
    assert (tmp_path / "deep" / "er" / "blog.sqlite").is_file()


def test_existing_database_is_kept(app: Kettle, make_app: MakeApp) -> None:
    again = make_app(Path(app.config["DATABASE"]))
    with again.app_context():
        count = get_db().execute("SELECT count(*) FROM post").fetchone()[0]
    assert count == 2


def test_two_blueprints_and_their_urls(app: Kettle) -> None:
    assert set(app.blueprints) == {"auth", "posts"}
    with app.test_request_context():
        assert url_for("auth.register") == "/auth/register"
        assert url_for("auth.login") == "/auth/login"
        assert url_for("auth.logout") == "/auth/logout"
        assert url_for("posts.index") == "/"
        assert url_for("posts.create") == "/create"
        assert url_for("posts.update", post_id=3) == "/3/update"
        assert url_for("posts.delete", post_id=3) == "/3/delete"


def test_stylesheet_is_served(client: Any) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert b".flash-error" in response.data
    response.close()


def test_favicon_is_linked_and_served(client: Any) -> None:
    # Browsers log a missing icon as an error; some ask for /favicon.ico anyway.
    assert b'rel="icon" href="/static/favicon.svg"' in client.get("/").data
    response = client.get("/static/favicon.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    response.close()
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.headers["Location"] == "/static/favicon.svg"


def test_unknown_page_renders_in_the_layout(client: Any) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"404 \xc2\xb7 Not Found" in response.data
    assert b'href="/static/style.css"' in response.data
