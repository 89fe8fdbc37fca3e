"""The front page, and writing, editing and deleting posts with author checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kettle import Kettle

Query = Callable[..., list[tuple[Any, ...]]]
LogIn = Callable[..., Any]


def test_index_lists_posts_newest_first(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Latest posts</h1>" in html
    assert html.index("Bob writes") < html.index("Alice&#39;s first post")
    assert 'by <span class="author">bob</span>' in html
    assert 'by <span class="author">alice</span>' in html
    assert "4 Mar 2024, 10:30 UTC" in html
    assert '<time datetime="2024-01-02 09:00:00Z">2 Jan 2024, 09:00 UTC</time>' in html
    assert "Line one.\nLine two." in html
    # Anonymous visitors get no edit links, and are offered to log in.
    assert "/update" not in html
    assert 'href="/auth/login"' in html


def test_index_links_only_own_posts_for_editing(client: Any, log_in: LogIn) -> None:
    log_in("alice")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/1/update"' in html
    assert 'href="/2/update"' not in html
    assert 'href="/create"' in html


def test_index_when_there_are_no_posts(client: Any, query: Query, app: Kettle) -> None:
    from blog.db import get_db

    with app.app_context():
        get_db().execute("DELETE FROM post")
        get_db().commit()
    assert b"Nothing has been posted yet." in client.get("/").data


def test_post_text_is_escaped(client: Any, log_in: LogIn) -> None:
    log_in("alice")
    client.post("/create", data={"title": "<script>x()</script>", "body": "a & b"})
    html = client.get("/").get_data(as_text=True)
    assert "<script>x()" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html
    assert "a &amp; b" in html


def test_create(client: Any, log_in: LogIn, query: Query) -> None:
    log_in("alice")
    assert client.get("/create").status_code == 200
    response = client.post(
        "/create", data={"title": "  Third  ", "body": "Fresh off the kettle."}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert query("SELECT id, author_id, title, body FROM post WHERE id = 3") == [
        (3, 1, "Third", "Fresh off the kettle.")
    ]
    html = client.get("/").get_data(as_text=True)
    assert "Your post is published." in html
    # Created now, so it comes first.
    assert html.index("Third") < html.index("Bob writes")


def test_create_without_a_body(client: Any, log_in: LogIn, query: Query) -> None:
    log_in("bob")
    client.post("/create", data={"title": "Just a title"})
    assert query("SELECT author_id, body FROM post WHERE title = 'Just a title'") == [
        (2, "")
    ]


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("", b"A post needs a title."),
        ("   ", b"A post needs a title."),
        ("t" * 201, b"Titles have at most 200 characters."),
    ],
)
def test_create_refuses(
    client: Any, log_in: LogIn, query: Query, title: str, message: bytes
) -> None:
    log_in("alice")
    response = client.post("/create", data={"title": title, "body": "kept"})
    assert response.status_code == 200
    assert message in response.data
    assert b"flash-error" in response.data
    assert b">kept</textarea>" in response.data
    assert query("SELECT count(*) FROM post") == [(2,)]


def test_update(client: Any, log_in: LogIn, query: Query) -> None:
    log_in("alice")
    page = client.get("/1/update")
    assert page.status_code == 200
    assert b'value="Alice&#39;s first post"' in page.data
    assert b">Hello from Alice.</textarea>" in page.data
    assert b'action="/1/delete"' in page.data

    response = client.post("/1/update", data={"title": "Edited", "body": "New text"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert query("SELECT title, body, author_id FROM post WHERE id = 1") == [
        ("Edited", "New text", 1)
    ]
    assert b"Your changes are saved." in client.get("/").data


def test_update_refuses_an_empty_title(
    client: Any, log_in: LogIn, query: Query
) -> None:
    log_in("alice")
    response = client.post("/1/update", data={"title": "", "body": "x"})
    assert response.status_code == 200
    assert b"A post needs a title." in response.data
    assert query("SELECT title FROM post WHERE id = 1") == [("Alice's first post",)]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/2/update"), ("POST", "/2/update"), ("POST", "/2/delete")],
)
def test_only_the_author_may_change_a_post(
    client: Any, log_in: LogIn, query: Query, method: str, path: str
) -> None:
    log_in("alice")
    response = client.open(path, method=method, data={"title": "Hijacked"})
    assert response.status_code == 403
    assert b"Only its author can change this post." in response.data
    assert b"403 \xc2\xb7 Forbidden" in response.data
    assert query("SELECT id, title FROM post ORDER BY id") == [
        (1, "Alice's first post"),
        (2, "Bob writes"),
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/99/update"), ("POST", "/99/update"), ("POST", "/99/delete")],
)
def test_missing_post_is_404(
    client: Any, log_in: LogIn, method: str, path: str
) -> None:
    log_in("alice")
    response = client.open(path, method=method, data={"title": "x"})
    assert response.status_code == 404
    assert b"There is no post 99." in response.data


def test_delete(client: Any, log_in: LogIn, query: Query) -> None:
    log_in("bob")
    response = client.post("/2/delete")
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert query("SELECT id FROM post") == [(1,)]
    html = client.get("/").get_data(as_text=True)
    assert "The post is deleted." in html
    assert "Bob writes" not in html


def test_delete_needs_post(client: Any, log_in: LogIn, query: Query) -> None:
    log_in("bob")
    response = client.get("/2/delete")
    assert response.status_code == 405
    assert b"405 \xc2\xb7 Method Not Allowed" in response.data
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert query("SELECT count(*) FROM post") == [(2,)]
