"""Fixtures of the ``kettle.celery`` tests: one real Redis for the session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery_support import RedisServer, find_redis_server, start_redis

from kettle import Kettle


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server for the whole session (a free port is retried once if taken)."""
    exe = find_redis_server()
    workdir = tmp_path_factory.mktemp("redis")
    try:
        server = start_redis(exe, workdir)
    except RuntimeError:
        server = start_redis(exe, workdir)  # the port was taken meanwhile
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tasks(app: Kettle) -> Any:
    """The jobs app's Celery tasks (each test module provides its ``app``)."""
    return app.extensions["celery"].tasks
