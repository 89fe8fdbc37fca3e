"""Tasks run by a real ``celery worker`` subprocess (prefork, two children).

The module starts one worker (``celery -A jobs_serve:celery_app worker``) on its own
Redis database and stops it at the end; the tasks record what they saw in Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery_support import (
    RedisServer,
    Subprocess,
    teardowns,
    wait_for_ready,
    worker_process,
)
from jobs_app import create_app

from kettle import Kettle

pytestmark = pytest.mark.timeout(60)

DB = 3
TIMEOUT = 15


@pytest.fixture(scope="module")
def worker(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Subprocess]:
    workdir = tmp_path_factory.mktemp("worker-process")
    worker = worker_process(
        redis_server.url(DB), workdir, "prefork", "--pool=prefork", "--concurrency=2"
    )
    wait_for_ready(worker)
    try:
        yield worker
    finally:
        code = worker.stop()
        assert code == 0, f"the worker exited with {code}:\n{worker.log()}"


@pytest.fixture(scope="module")
def app(redis_server: RedisServer, worker: Subprocess) -> Iterator[Kettle]:
    """The same app in this process: it sends the jobs and reads the results."""
    app = create_app(redis_server.url(DB))
    yield app
    app.extensions["celery"].close()
    app.extensions["jobs_redis"].close()


@pytest.fixture
def store(redis_server: RedisServer) -> redis.Redis:
    return redis_server.client(DB)


def test_tasks_run_in_fresh_app_contexts_in_the_worker_children(
    tasks: Any, store: redis.Redis, worker: Subprocess
) -> None:
    results = [tasks["jobs.probe"].delay(f"p{n}") for n in range(12)]
    seen = [r.get(timeout=TIMEOUT) for r in results]
    assert {s["app"] for s in seen} == {"jobs_app"}
    assert {s["url"] for s in seen} == {"https://jobs.example.test/enqueue/k"}
    assert [s["g_at_start"] for s in seen] == [[]] * 12
    assert not any(s["has_request"] for s in seen)
    assert worker.proc.pid not in {s["pid"] for s in seen}  # run by the children
    assert [teardowns(store, r.id) for r in results] == [["None"]] * 12


def test_failures_are_recorded_with_their_traceback(
    tasks: Any, store: redis.Redis
) -> None:
    results = [tasks["jobs.fail"].delay(f"f{n}") for n in range(4)]
    for n, result in enumerate(results):
        error = result.get(timeout=TIMEOUT, propagate=False)
        assert isinstance(error, ValueError), error
        assert result.state == "FAILURE"
        assert f"ValueError: job f{n} failed on purpose" in result.traceback
        assert "in _explode" in result.traceback
        assert teardowns(store, result.id) == [
            f"ValueError('job f{n} failed on purpose')"
        ]


def test_a_task_that_fails_twice_then_succeeds(tasks: Any, store: redis.Redis) -> None:
    result = tasks["jobs.mark"].delay("twice", fail_first=2)
    assert result.get(timeout=TIMEOUT) == "twice"
    assert store.get("attempts:twice") == "3"
    assert store.get("done:twice") == "1"
    # One teardown per run. A failing run schedules its retry before its own
    # teardown ends, and the retry may run in the other child process, so the
    # records need not arrive in run order.
    runs = teardowns(store, result.id)
    assert sorted(runs) == [
        "None",
        "Retry(Retry(...), RuntimeError('attempt 1 of twice fails on purpose'), 0)",
        "Retry(Retry(...), RuntimeError('attempt 2 of twice fails on purpose'), 0)",
    ], runs


def test_a_task_that_keeps_failing_ends_failed_after_its_retries(
    tasks: Any, store: redis.Redis
) -> None:
    result = tasks["jobs.mark"].delay("always", fail_first=99)
    error = result.get(timeout=TIMEOUT, propagate=False)
    assert isinstance(error, RuntimeError)
    assert str(error) == "attempt 4 of always fails on purpose"  # 1 + max_retries 3
    assert result.state == "FAILURE"
    assert store.get("done:always") is None
    assert len(teardowns(store, result.id)) == 4
