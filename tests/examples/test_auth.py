"""Registering, logging in and out, ``g.user`` and ``login_required``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.security import check_password_hash

from kettle import Kettle, g, session

Query = Callable[..., list[tuple[Any, ...]]]


def test_register_page(client: Any) -> None:
    response = client.get("/auth/register")
    assert response.status_code == 200
    assert b"<h1>Create an account</h1>" in response.data
    assert b'name="password"' in response.data


def test_register_stores_a_hashed_password(client: Any, query: Query) -> None:
    response = client.post(
        "/auth/register", data={"username": " carol ", "password": "carol-secret"}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/login"
    ((stored,),) = query("SELECT password_hash FROM account WHERE username = 'carol'")
    assert stored != "carol-secret"
    assert stored.startswith("pbkdf2:sha256:1000$")
    assert check_password_hash(stored, "carol-secret")

    page = client.get("/auth/login")
    assert b"Welcome, carol! You can log in now." in page.data
    assert b"flash-success" in page.data
    # A flashed message is shown once.
    assert b"Welcome" not in client.get("/auth/login").data


def test_registering_uses_scrypt_by_default(make_app: Any, tmp_path: Any) -> None:
    app = make_app(tmp_path / "s.sqlite", PASSWORD_HASH_METHOD="scrypt")
    client = app.test_client()
    client.post("/auth/register", data={"username": "dan", "password": "dan-secret"})
    assert app.config["PASSWORD_HASH_METHOD"] == "scrypt"
    response = client.post(
        "/auth/login", data={"username": "dan", "password": "dan-secret"}
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("", "long enough", b"Choose a username."),
        ("   ", "long enough", b"Choose a username."),
        ("x" * 41, "long enough", b"Usernames have at most 40 characters."),
        ("carol", "", b"Choose a password."),
        ("carol", "12345", b"Passwords need at least 6 characters."),
        ("alice", "long enough", b"Someone already has the username alice."),
    ],
)
def test_register_refuses(
    client: Any, query: Query, username: str, password: str, message: bytes
) -> None:
    response = client.post(
        "/auth/register", data={"username": username, "password": password}
    )
    assert response.status_code == 200
    assert message in response.data
    assert b"flash-error" in response.data
    # The form keeps what was typed.
    if username.strip():
        assert f'value="{username}"'.encode() in response.data
    assert query("SELECT count(*) FROM account") == [(2,)]


def test_login_page(client: Any) -> None:
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert b"<h1>Log in</h1>" in response.data


def test_login_and_logout(client: Any, log_in: Callable[..., Any]) -> None:
    with client:
        response = log_in("alice")
        assert response.status_code == 303
        assert response.headers["Location"] == "/"
        assert session["user_id"] == 1

        page = client.get("/")
        assert g.user["username"] == "alice"
        assert b"Signed in as <strong>alice</strong>" in page.data

        response = client.post("/auth/logout")
        assert response.status_code == 303
        assert response.headers["Location"] == "/"
        assert "user_id" not in session

        page = client.get("/")
        assert g.user is None
        assert b"You are logged out." in page.data
        assert b"Signed in as" not in page.data


def test_logout_by_get_also_works(client: Any, log_in: Callable[..., Any]) -> None:
    log_in("bob")
    with client:
        assert client.get("/auth/logout").status_code == 303
        assert "user_id" not in session


def test_login_replaces_the_previous_session(
    client: Any, log_in: Callable[..., Any]
) -> None:
    with client.session_transaction() as sess:
        sess["left_over"] = "from before"
    log_in("bob")
    with client.session_transaction() as sess:
        assert dict(sess) == {"user_id": 2}


@pytest.mark.parametrize(
    ("username", "password"),
    [("nobody", "alice-password"), ("alice", "wrong-password"), ("alice", "")],
)
def test_login_refuses(
    client: Any, log_in: Callable[..., Any], username: str, password: str
) -> None:
    with client:
        response = log_in(username, password)
        assert response.status_code == 200
        assert b"Wrong username or password." in response.data
        assert "user_id" not in session
        assert g.user is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/create", "/create"),
        ("/2/update", "/2/update"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("https://evil.example/", "/"),
    ],
)
def test_login_returns_to_a_local_page_only(
    client: Any, target: str, expected: str
) -> None:
    response = client.post(
        "/auth/login",
        query_string={"next": target},
        data={"username": "alice", "password": "alice-password"},
    )
    assert response.headers["Location"] == expected


def test_session_of_a_deleted_account_is_anonymous(app: Kettle, client: Any) -> None:
    with client.session_transaction() as sess:
        sess["user_id"] = 99
    with client:
        page = client.get("/")
        assert g.user is None
        assert b'href="/auth/login"' in page.data


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/create"),
        ("POST", "/create"),
        ("GET", "/1/update"),
        ("POST", "/1/update"),
        ("POST", "/1/delete"),
    ],
)
def test_login_required(client: Any, query: Query, method: str, path: str) -> None:
    response = client.open(path, method=method, data={"title": "sneaky"})
    assert response.status_code == 303
    if method == "GET":
        assert response.headers["Location"] == f"/auth/login?next={path}"
    else:
        assert response.headers["Location"] == "/auth/login"
    assert query("SELECT id, title FROM post ORDER BY id") == [
        (1, "Alice's first post"),
        (2, "Bob writes"),
    ]
    page = client.get(response.headers["Location"])
    assert b"Log in to do that." in page.data


def test_login_required_then_back(client: Any) -> None:
    response = client.get("/create", follow_redirects=True)
    assert response.request.path == "/auth/login"
    response = client.post(
        "/auth/login",
        query_string={"next": "/create"},
        data={"username": "alice", "password": "alice-password"},
        follow_redirects=True,
    )
    assert response.request.path == "/create"
    assert b"<h1>New post</h1>" in response.data
