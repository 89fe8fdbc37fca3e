"""The example blog with a broker: its word counts run on a Celery worker.

(Without a broker they are spawned in-process: tests/examples/test_word_count.py.)
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery_support import SETEX_DEPRECATED, RedisServer, wait_until

from kettle import Kettle

BLOG_DIR = Path(__file__).resolve().parents[2] / "examples" / "blog"
if str(BLOG_DIR) not in sys.path:
    sys.path.insert(0, str(BLOG_DIR))

from blog import create_app  # noqa: E402
from blog.db import get_db  # noqa: E402

pytestmark = pytest.mark.filterwarnings(SETEX_DEPRECATED)

DB = 5


@pytest.fixture
def store(redis_server: RedisServer) -> redis.Redis:
    store = redis_server.client(DB)
    store.flushdb()
    return store


@pytest.fixture
def app(
    tmp_path: Path, redis_server: RedisServer, store: redis.Redis
) -> Iterator[Kettle]:
    """The blog on a Celery broker, with an in-process worker running its jobs."""
    url = redis_server.url(DB)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "celery blog",
            "DATABASE": str(tmp_path / "blog.sqlite"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "CELERY": {
                "broker_url": url,
                "result_backend": url,
                "broker_connection_retry_on_startup": True,
            },
        }
    )
    celery_app = app.extensions["celery"]
    with start_worker(celery_app, pool="solo", perform_ping_check=False):
        yield app
    celery_app.close()


def _word_count(app: Kettle, title: str) -> Any:
    with app.app_context():
        row = (
            get_db()
            .execute("SELECT word_count FROM post WHERE title = ?", (title,))
            .fetchone()
        )
    return row[0]


def test_a_new_post_is_counted_by_the_celery_worker(
    app: Kettle, store: redis.Redis
) -> None:
    client = app.test_client()
    account = {"username": "wren", "password": "wren-password"}
    assert client.post("/auth/register", data=account).status_code == 303
    assert client.post("/auth/login", data=account).status_code == 303
    post = {"title": "On a queue", "body": "five words in this body"}
    assert client.post("/create", data=post).status_code == 303

    wait_until(lambda: _word_count(app, "On a queue") is not None, what="the job")
    assert _word_count(app, "On a queue") == 5
    assert app.background.pending == 0  # nothing was spawned in this process
    # The result is stored just after the task returned.
    wait_until(lambda: store.keys("celery-task-meta-*"), what="the job's result")
    (meta_key,) = store.keys("celery-task-meta-*")
    meta = json.loads(store.get(meta_key))  # type: ignore[arg-type]
    assert (meta["status"], meta["result"]) == ("SUCCESS", 5)
    assert '<span class="words">5 words</span>' in client.get("/").get_data(
        as_text=True
    )


def test_the_broker_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Kettle, "auto_find_instance_path", lambda s: str(tmp_path))
    monkeypatch.delenv("BLOG_CELERY_BROKER", raising=False)
    assert "celery" not in create_app().extensions

    monkeypatch.setenv("BLOG_CELERY_BROKER", "memory://")
    app = create_app()
    celery_app = app.extensions["celery"]
    try:
        assert celery_app.conf.broker_url == "memory://"
        assert celery_app.conf.result_backend == "memory://"
        assert "blog.count_words" in celery_app.tasks
    finally:
        celery_app.close()


def test_the_worker_module_needs_a_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Kettle, "auto_find_instance_path", lambda s: str(tmp_path))
    monkeypatch.delitem(sys.modules, "blog.worker", raising=False)
    monkeypatch.delenv("BLOG_CELERY_BROKER", raising=False)
    with pytest.raises(RuntimeError, match="BLOG_CELERY_BROKER"):
        importlib.import_module("blog.worker")

    monkeypatch.delitem(sys.modules, "blog.worker", raising=False)
    monkeypatch.setenv("BLOG_CELERY_BROKER", "memory://")
    worker = importlib.import_module("blog.worker")
    try:
        assert worker.celery_app is worker.blog_app.extensions["celery"]
        assert worker.celery_app.conf.broker_url == "memory://"
    finally:
        worker.celery_app.close()
        sys.modules.pop("blog.worker", None)
