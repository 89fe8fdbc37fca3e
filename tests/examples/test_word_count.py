"""The blog's background job without a broker: word counts through ``kettle.spawn``.

(With a broker, the same job runs on Celery: tests/celery_jobs/test_celery_blog.py.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from blog.db import get_db
from blog.jobs import start_word_count

from kettle import Kettle

Query = Callable[..., list[tuple[Any, ...]]]
LogIn = Callable[..., Any]


def _counts(app: Kettle, query: Query) -> dict[str, int | None]:
    assert app.background.wait(10), "the word count did not finish"
    return dict(query("SELECT title, word_count FROM post"))  # type: ignore[arg-type]


def test_a_new_post_has_its_words_counted_in_the_background(
    app: Kettle, client: Any, log_in: LogIn, query: Query
) -> None:
    log_in("alice")
    response = client.post(
        "/create", data={"title": "Counted", "body": "one two  three\nfour"}
    )
    assert response.status_code == 303
    assert _counts(app, query)["Counted"] == 4
    html = client.get("/").get_data(as_text=True)
    assert '<span class="words">4 words</span>' in html


def test_editing_a_post_counts_its_words_again(
    app: Kettle, client: Any, log_in: LogIn, query: Query
) -> None:
    log_in("alice")
    data = {"title": "Alice's first post", "body": "Just one"}
    assert client.post("/1/update", data=data).status_code == 303
    assert _counts(app, query)["Alice's first post"] == 2
    data["body"] = "Single"
    assert client.post("/1/update", data=data).status_code == 303
    assert _counts(app, query)["Alice's first post"] == 1
    html = client.get("/").get_data(as_text=True)
    assert '<span class="words">1 word</span>' in html


def test_posts_not_counted_yet_show_no_count(client: Any) -> None:
    # The seeded posts were written straight to the database: no job ran.
    assert 'class="words"' not in client.get("/").get_data(as_text=True)


def test_without_a_broker_the_job_is_spawned(app: Kettle, query: Query) -> None:
    assert "celery" not in app.extensions
    with app.test_request_context("/"):
        future = start_word_count(2)
        assert isinstance(future, Future)
        assert future.result(timeout=10) == 4  # "Line one.\nLine two."
    assert query("SELECT word_count FROM post WHERE id = 2") == [(4,)]


def test_a_deleted_post_is_not_counted(app: Kettle) -> None:
    with app.test_request_context("/"):
        assert start_word_count(99).result(timeout=10) is None


def test_an_older_database_gets_the_word_count_column(
    tmp_path: Path, make_app: Callable[..., Kettle]
) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE account (id INTEGER PRIMARY KEY, username TEXT,"
            " password_hash TEXT, joined TIMESTAMP DEFAULT CURRENT_TIMESTAMP);"
            "CREATE TABLE post (id INTEGER PRIMARY KEY, author_id INTEGER,"
            " created TIMESTAMP DEFAULT CURRENT_TIMESTAMP, title TEXT, body TEXT);"
            "INSERT INTO account (username, password_hash) VALUES ('old', 'x');"
            "INSERT INTO post (author_id, title, body) VALUES (1, 'Kept', 'a b');"
        )
    old.close()
    app = make_app(path)
    with app.app_context():
        rows = get_db().execute("SELECT title, word_count FROM post").fetchall()
    assert [tuple(r) for r in rows] == [("Kept", None)]
    assert app.test_client().get("/").status_code == 200
