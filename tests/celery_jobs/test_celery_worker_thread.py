"""Tasks run by Celery's in-process test worker, against a real Redis.

One worker (``celery.contrib.testing.worker.start_worker``, solo pool: one task at
a time, in the order received) serves the whole module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery_support import SETEX_DEPRECATED, RedisServer, teardowns, wait_until
from jobs_app import create_app

from kettle import Kettle

pytestmark = pytest.mark.filterwarnings(SETEX_DEPRECATED)

DB = 1
TIMEOUT = 10


@pytest.fixture(scope="module")
def app(redis_server: RedisServer) -> Iterator[Kettle]:
    app = create_app(redis_server.url(DB), PROPAGATE_EXCEPTIONS=False)
    celery_app = app.extensions["celery"]
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=TIMEOUT
    ):
        yield app
    celery_app.close()
    app.extensions["jobs_redis"].close()


@pytest.fixture
def store(redis_server: RedisServer) -> redis.Redis:
    return redis_server.client(DB)


def test_a_task_runs_in_an_app_context_of_its_app(
    tasks: Any, store: redis.Redis
) -> None:
    result = tasks["jobs.probe"].delay("first")
    seen = result.get(timeout=TIMEOUT)
    assert seen["app"] == "jobs_app"
    assert seen["has_request"] is False
    assert seen["url"] == "https://jobs.example.test/enqueue/k"  # SERVER_NAME
    assert seen["g_at_start"] == []
    assert teardowns(store, result.id) == ["None"]
    assert store.get(f"teardown:{result.id}") == "1"


def test_every_task_gets_a_fresh_g(tasks: Any, store: redis.Redis) -> None:
    # Each probe leaves a value on g: the next one, in the same worker thread,
    # must not see it.
    results = [tasks["jobs.probe"].delay(f"tag{n}") for n in range(5)]
    seen = [r.get(timeout=TIMEOUT) for r in results]
    assert [s["g_at_start"] for s in seen] == [[]] * 5
    assert [teardowns(store, r.id) for r in results] == [["None"]] * 5


def test_a_failure_is_recorded_with_its_traceback_and_torn_down_once(
    tasks: Any, store: redis.Redis
) -> None:
    result = tasks["jobs.fail"].delay("f1")
    error = result.get(timeout=TIMEOUT, propagate=False)
    assert isinstance(error, ValueError)
    assert str(error) == "job f1 failed on purpose"
    assert result.state == "FAILURE"
    assert "in _explode" in result.traceback
    assert "ValueError: job f1 failed on purpose" in result.traceback
    assert teardowns(store, result.id) == ["ValueError('job f1 failed on purpose')"]


def test_retries_are_honoured_each_run_in_its_own_context(
    tasks: Any, store: redis.Redis
) -> None:
    result = tasks["jobs.mark"].delay("retried", fail_first=2)
    assert result.get(timeout=TIMEOUT) == "retried"
    assert result.state == "SUCCESS"
    assert store.get("attempts:retried") == "3"
    assert store.get("done:retried") == "1"
    runs = teardowns(store, result.id)  # a retry keeps the task's id
    assert len(runs) == 3
    assert [r.startswith("Retry(") for r in runs] == [True, True, False]
    assert runs[2] == "None"


def test_a_job_whose_request_fails_is_never_sent(
    app: Kettle, tasks: Any, store: redis.Redis
) -> None:
    client = app.test_client()
    assert client.post("/enqueue/rolled-back?then=raise").status_code == 500
    busy = client.post("/enqueue/server-error?then=503")
    assert busy.status_code == 503
    kept = client.post("/enqueue/kept")
    assert kept.status_code == 200
    # The solo worker runs jobs in the order they were sent: once the last one is
    # done, any job sent before it would have been done too.
    assert tasks["jobs.mark"].AsyncResult(kept.json["id"]).get(timeout=TIMEOUT)
    assert store.get("done:kept") == "1"
    for key in ("rolled-back", "server-error"):
        assert store.get(f"attempts:{key}") is None
        assert store.get(f"done:{key}") is None
    assert tasks["jobs.mark"].AsyncResult(busy.json["id"]).state == "PENDING"
    wait_until(lambda: store.llen("jobs") == 0, what="an empty queue")
