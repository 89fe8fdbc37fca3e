"""A Kettle app with Celery tasks, for the tests of ``kettle.celery``.

``create_app(redis_url)`` builds it; ``jobs_serve.py`` builds one from the
environment for the worker and server subprocesses. Every task and every context
teardown records what it saw in Redis, so that the tests can check work done in
other processes:

- ``teardown:<task id>``     how many times a task's context was torn down
- ``teardown-exc:<task id>`` the exceptions the teardown functions received
- ``attempts:<key>``         how many times ``jobs.mark`` ran for ``key``
- ``done:<key>``             how many times ``jobs.mark`` finished for ``key``
- ``hosts``                  the workers that ran ``jobs.mark``
"""

from __future__ import annotations

import os
import socket
from typing import Any

import redis
from celery import current_task

from kettle import Kettle, current_app, g, has_request_context, request, url_for
from kettle.celery import enqueue, init_celery


def create_app(redis_url: str, **config: Any) -> Kettle:
    """The app, its Celery app (``app.extensions["celery"]``) and its tasks."""
    app = Kettle("jobs_app")
    app.config.update(
        SERVER_NAME="jobs.example.test",
        PREFERRED_URL_SCHEME="https",
        CELERY={
            "broker_url": redis_url,
            "result_backend": redis_url,
            "broker_connection_retry_on_startup": True,
            "task_default_queue": "jobs",
            "result_expires": 600,
        },
    )
    app.config.update(config)
    app.extensions["jobs_redis"] = redis.Redis.from_url(redis_url)
    app.teardown_appcontext(_record_teardown)
    _add_views(app)
    _add_tasks(init_celery(app))
    return app


def store() -> redis.Redis:
    """The Redis client of the current app, where the tasks record what they saw."""
    return current_app.extensions["jobs_redis"]  # type: ignore[no-any-return]


def _record_teardown(exc: BaseException | None) -> None:
    task_id = current_task.request.id if current_task else None
    if task_id is None:  # a request's context, or a task called directly
        return
    pipe = store().pipeline()
    pipe.incr(f"teardown:{task_id}")
    pipe.rpush(f"teardown-exc:{task_id}", repr(exc))
    pipe.execute()


def _add_tasks(celery_app: Any) -> None:
    @celery_app.task(name="jobs.probe", shared=False)
    def probe(tag: str) -> dict[str, Any]:
        """What a task sees of its context; leaves ``tag`` on ``g``."""
        seen = {
            "app": current_app.name,
            "g_at_start": sorted(g),
            "has_request": has_request_context(),
            "url": url_for("enqueue_view", key="k"),
            "pid": os.getpid(),
        }
        g.tag = tag
        return seen

    @celery_app.task(name="jobs.fail", shared=False)
    def fail(tag: str) -> None:
        _explode(tag)

    @celery_app.task(name="jobs.mark", bind=True, max_retries=3, shared=False)
    def mark(self: Any, key: str, fail_first: int = 0, retry_in: float = 0) -> str:
        """Count a run of ``key``; the first ``fail_first`` runs fail and retry
        ``retry_in`` seconds later."""
        db = store()
        attempts = db.incr(f"attempts:{key}")
        if attempts <= fail_first:
            error = RuntimeError(f"attempt {attempts} of {key} fails on purpose")
            # Celery publishes the retry before it stores the RETRY state: with more
            # than one worker and no delay, another worker can finish the retry and
            # store SUCCESS first, which RETRY then overwrites (seen once in about 20
            # loaded runs of the scale-out test). That test retries after a second.
            raise self.retry(exc=error, countdown=retry_in)
        pipe = db.pipeline()
        pipe.incr(f"done:{key}")
        pipe.sadd("hosts", f"{socket.gethostname()}:{self.request.hostname}")
        pipe.execute()
        return key


def _explode(tag: str) -> None:
    raise ValueError(f"job {tag} failed on purpose")


def _add_views(app: Kettle) -> None:
    @app.post("/enqueue/<key>")
    def enqueue_view(key: str) -> Any:
        """Enqueue ``jobs.mark(key)``; ``?then=`` makes the request fail after."""
        celery_app = current_app.extensions["celery"]
        fail_first = int(request.args.get("fail_first", 0))
        retry_in = float(request.args.get("retry_in", 0))
        mark = celery_app.tasks["jobs.mark"]
        result = enqueue(mark, key, fail_first=fail_first, retry_in=retry_in)
        then = request.args.get("then")
        if then == "raise":
            raise RuntimeError(f"the view failed after enqueuing {key}")
        if then == "503":
            return {"id": result.id}, 503
        return {"id": result.id}

    @app.get("/ready")
    def ready() -> str:
        return "ready"
