"""The blog's SQLite connection on ``g``, its teardown, and the ``init-db`` command."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blog.db import close_db, create_if_missing, get_db

from kettle import Kettle, g


def test_one_connection_per_context_closed_at_the_end(app: Kettle) -> None:
    with app.app_context():
        conn = get_db()
        assert get_db() is conn
        assert g.db is conn
        assert conn.execute("SELECT 1").fetchone()[0] == 1
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        conn.execute("SELECT 1")


def test_each_context_has_its_own_connection(app: Kettle) -> None:
    with app.app_context():
        first = get_db()
        with app.app_context():
            inner = get_db()
            assert inner is not first
        with pytest.raises(sqlite3.ProgrammingError):
            inner.execute("SELECT 1")
        assert first.execute("SELECT 1").fetchone()[0] == 1


def test_a_request_closes_its_connection(app: Kettle, client: Any) -> None:
    seen: list[sqlite3.Connection] = []

    @app.after_request
    def keep(response: Any) -> Any:
        seen.append(g.db)
        return response

    assert client.get("/").status_code == 200
    (conn,) = seen
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1")


def test_closing_without_a_connection_does_nothing(app: Kettle) -> None:
    with app.app_context():
        close_db()
        assert "db" not in g


def test_rows_by_column_name_and_foreign_keys(app: Kettle) -> None:
    with app.app_context():
        db = get_db()
        row = db.execute("SELECT id, username FROM account WHERE id = 2").fetchone()
        assert row["username"] == "bob"
        with pytest.raises(sqlite3.IntegrityError):
            db.execute("INSERT INTO post (author_id, title) VALUES (99, 'orphan')")
        db.execute("DELETE FROM account WHERE id = 2")
        assert [tuple(r) for r in db.execute("SELECT author_id FROM post")] == [(1,)]


def test_create_if_missing_only_fills_an_empty_database(tmp_path: Path) -> None:
    app = Kettle("blog_db_test")
    app.config["DATABASE"] = str(tmp_path / "empty.sqlite")
    app.teardown_appcontext(close_db)
    with app.app_context():
        assert create_if_missing() is True
        get_db().execute(
            "INSERT INTO account (username, password_hash) VALUES ('a', 'h')"
        )
        get_db().commit()
        assert create_if_missing() is False
        assert get_db().execute("SELECT count(*) FROM account").fetchone()[0] == 1


def test_init_db_command_empties_the_database(
    runner: Any, query: Callable[..., list[tuple[Any, ...]]], app: Kettle
) -> None:
    assert query("SELECT count(*) FROM post") == [(2,)]
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert result.output == f"Initialized the database at {app.config['DATABASE']}.\n"
    assert query("SELECT count(*) FROM post") == [(0,)]
    assert query("SELECT count(*) FROM account") == [(0,)]


def test_init_db_command_is_listed(runner: Any) -> None:
    result = runner.invoke(args=["--help"])
    assert result.exit_code == 0
    assert "init-db" in result.output
    assert "Delete every account and post" in result.output
