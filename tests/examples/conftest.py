"""Fixtures for the example blog: a fresh app and database file per test.

``examples/blog`` is not installed; it is put on ``sys.path`` here, so that
``import blog`` finds the example package.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

BLOG_DIR = Path(__file__).resolve().parents[2] / "examples" / "blog"
if str(BLOG_DIR) not in sys.path:
    sys.path.insert(0, str(BLOG_DIR))

from blog import create_app  # noqa: E402
from blog.db import get_db  # noqa: E402

from kettle import Kettle  # noqa: E402
from kettle.testing import KettleClient, KettleCliRunner  # noqa: E402

#: Cheap hashes keep the tests fast; the real default is scrypt.
FAST_HASH = "pbkdf2:sha256:1000"

#: Seeded accounts: username -> password.
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}

#: Seeded posts: (author id, created, title, body). Bob's is the newer one.
POSTS = [
    (1, "2024-01-02 09:00:00", "Alice's first post", "Hello from Alice."),
    (2, "2024-03-04 10:30:00", "Bob writes", "Line one.\nLine two."),
]


def _make_app(database: Path, **config: Any) -> Kettle:
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "blog tests",
            "DATABASE": str(database),
            "PASSWORD_HASH_METHOD": FAST_HASH,
            **config,
        }
    )


@pytest.fixture
def make_app() -> Callable[..., Kettle]:
    """``make_app(database_path, **config)``: a blog with an empty database there."""
    return _make_app


@pytest.fixture
def app(tmp_path: Path) -> Kettle:
    """The blog with accounts alice (id 1) and bob (id 2), one post each."""
    app = _make_app(tmp_path / "blog.sqlite")
    with app.app_context():
        db = get_db()
        with db:
            db.executemany(
                "INSERT INTO account (username, password_hash) VALUES (?, ?)",
                [
                    (name, generate_password_hash(pw, method=FAST_HASH))
                    for name, pw in PASSWORDS.items()
                ],
            )
            db.executemany(
                "INSERT INTO post (author_id, created, title, body)"
                " VALUES (?, ?, ?, ?)",
                POSTS,
            )
    return app


@pytest.fixture
def client(app: Kettle) -> KettleClient:
    return app.test_client()


@pytest.fixture
def runner(app: Kettle) -> KettleCliRunner:
    """Invokes ``app.cli`` commands: ``runner.invoke(args=["init-db"])``."""
    return app.test_cli_runner()


@pytest.fixture
def log_in(client: KettleClient) -> Callable[..., Any]:
    """``log_in("alice")`` posts the login form with that account's password."""

    def log_in(username: str = "alice", password: str | None = None) -> Any:
        if password is None:
            password = PASSWORDS[username]
        return client.post(
            "/auth/login", data={"username": username, "password": password}
        )

    return log_in


@pytest.fixture
def query(app: Kettle) -> Callable[..., list[tuple[Any, ...]]]:
    """``query(sql, *params)``: rows from the app's database, as tuples."""

    def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with app.app_context():
            return [tuple(row) for row in get_db().execute(sql, params).fetchall()]

    return query
