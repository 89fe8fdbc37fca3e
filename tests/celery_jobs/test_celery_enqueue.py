"""When ``enqueue`` sends a job, checked on a real Redis queue with no worker on it.

Each message kombu publishes is pushed onto the Redis list named after the queue
(``jobs``); reading that list shows exactly what was sent, and when.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from celery_support import RedisServer, free_port
from jobs_app import create_app

from kettle import Kettle, current_app, request, spawn, websocket
from kettle.celery import EnqueueError, enqueue

DB = 2
QUEUE = "jobs"


@pytest.fixture
def queue(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The Redis database of these tests, its queue emptied before and after."""
    store = redis_server.client(DB)
    store.delete(QUEUE)
    yield store
    store.delete(QUEUE)


def sent(queue: redis.Redis) -> list[tuple[str, str, Any]]:
    """(task, id, args) of every message on the queue, in the order they were sent."""
    messages = [json.loads(raw) for raw in reversed(queue.lrange(QUEUE, 0, -1))]
    return [
        (m["headers"]["task"], m["headers"]["id"], m["headers"]["argsrepr"])
        for m in messages
    ]


@pytest.fixture
def make_app(redis_server: RedisServer) -> Iterator[Callable[..., Kettle]]:
    """``make_app(**config)``: the jobs app on database DB, closed after the test."""
    apps: list[Kettle] = []

    def make(**config: Any) -> Kettle:
        app = create_app(redis_server.url(DB), TESTING=True, **config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["celery"].close()
        app.extensions["jobs_redis"].close()


@pytest.fixture
def app(make_app: Callable[..., Kettle]) -> Kettle:
    return make_app()


def mark(app: Kettle) -> Any:
    return app.extensions["celery"].tasks["jobs.mark"]


def test_a_job_is_sent_once_the_response_is_made(
    app: Kettle, queue: redis.Redis
) -> None:
    in_view: list[int] = []

    @app.post("/write")
    def write() -> Any:
        result = enqueue(mark(app), "w")
        in_view.append(queue.llen(QUEUE))
        return {"id": result.id}

    response = app.test_client().post("/write")
    assert response.status_code == 200
    assert in_view == [0]  # held while the view ran
    assert sent(queue) == [("jobs.mark", response.json["id"], "('w',)")]


def test_the_jobs_of_a_request_are_sent_in_order(
    app: Kettle, queue: redis.Redis
) -> None:
    @app.post("/many")
    def many() -> Any:
        ids = [enqueue(mark(app), f"k{n}").id for n in range(5)]
        ids.append(enqueue(mark(app).s("sig").set(countdown=0)).id)
        return {"ids": ids}

    response = app.test_client().post("/many")
    assert [(task, id_) for task, id_, _ in sent(queue)] == [
        ("jobs.mark", id_) for id_ in response.json["ids"]
    ]
    assert [args for *_, args in sent(queue)][-2:] == ["('k4',)", "('sig',)"]


@pytest.mark.parametrize("propagate", [True, False], ids=["propagated", "500"])
def test_no_job_is_sent_when_the_view_raises(
    make_app: Callable[..., Kettle],
    queue: redis.Redis,
    propagate: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=propagate)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="jobs_app"):
        if propagate:
            with pytest.raises(RuntimeError, match="failed after enqueuing"):
                client.post("/enqueue/lost?then=raise")
        else:
            assert client.post("/enqueue/lost?then=raise").status_code == 500
    assert sent(queue) == []
    assert "Not sending the jobs enqueued by POST /enqueue/lost" in caplog.text
    # The same request that does not fail sends its job: the check can fail.
    assert client.post("/enqueue/kept").status_code == 200
    assert [args for *_, args in sent(queue)] == ["('kept',)"]


def test_no_job_is_sent_when_the_response_is_a_server_error(
    app: Kettle, queue: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jobs_app"):
        response = app.test_client().post("/enqueue/busy?then=503")
    assert response.status_code == 503
    assert sent(queue) == []
    assert "the response is a 503" in caplog.text
    assert response.json["id"] in caplog.text


def test_a_client_error_response_still_sends_its_jobs(
    app: Kettle, queue: redis.Redis
) -> None:
    # Only server errors drop jobs: a view that answers 404 or 422 after enqueuing
    # has done its work; enqueue after validating when that is not wanted.
    @app.post("/missing")
    def missing() -> Any:
        enqueue(mark(app), "audit")
        return "no such thing", 404

    assert app.test_client().post("/missing").status_code == 404
    assert [args for *_, args in sent(queue)] == ["('audit',)"]


@pytest.mark.parametrize("where", ["after_request", "session"])
def test_no_job_is_sent_when_finishing_the_response_fails(
    make_app: Callable[..., Kettle], queue: redis.Redis, where: str
) -> None:
    # Jobs go only once nothing else can fail: after the app's after_request
    # functions and the session were saved.
    app = make_app(PROPAGATE_EXCEPTIONS=False, SECRET_KEY="k")
    order: list[str] = []

    @app.post("/then-fail")
    def then_fail() -> Any:
        from kettle import session

        enqueue(mark(app), "doomed")
        if where == "session":
            session["bad"] = object()  # cannot be serialized: saving fails
        return "ok"

    @app.after_request
    def after(response: Any) -> Any:
        order.append(f"after_request saw {queue.llen(QUEUE)} sent")
        if where == "after_request" and request.path == "/then-fail":
            raise RuntimeError("after_request failed")
        return response

    assert app.test_client().post("/then-fail").status_code == 500
    assert sent(queue) == []
    assert order[0] == "after_request saw 0 sent"
    # Without the failure the job goes, after the after_request function ran.
    assert app.test_client().post("/enqueue/kept").status_code == 200
    assert [args for *_, args in sent(queue)] == ["('kept',)"]


def test_outside_a_request_a_job_is_sent_at_once(
    app: Kettle, queue: redis.Redis
) -> None:
    enqueue(mark(app), "no-context")
    assert len(sent(queue)) == 1
    with app.app_context():
        enqueue(mark(app), "app-context")
        assert len(sent(queue)) == 2

    @app.cli.command("nightly")
    def nightly() -> None:
        enqueue(current_app.extensions["celery"].tasks["jobs.mark"], "cli")
        assert len(sent(queue)) == 3

    result = app.test_cli_runner().invoke(args=["nightly"])
    assert result.exit_code == 0, result.output
    assert [args for *_, args in sent(queue)] == [
        "('no-context',)",
        "('app-context',)",
        "('cli',)",
    ]


@pytest.mark.parametrize("earlier_job", [True, False], ids=["after-one", "first"])
def test_a_job_enqueued_by_spawned_work_is_sent(
    app: Kettle, queue: redis.Redis, earlier_job: bool
) -> None:
    response_sent = threading.Event()
    seen_by_work: list[int] = []

    def later() -> None:
        assert response_sent.wait(10)
        enqueue(mark(app), "late")
        seen_by_work.append(len(sent(queue)))

    @app.post("/spawn")
    def start() -> str:
        if earlier_job:
            enqueue(mark(app), "early")
        spawn(later)
        return "started"

    assert app.test_client().post("/spawn").status_code == 200
    response_sent.set()
    assert app.background.wait(10)
    if earlier_job:
        # The response was handled before: the late job goes at once.
        assert seen_by_work == [2]
        assert [args for *_, args in sent(queue)] == ["('early',)", "('late',)"]
    else:
        # Held, then sent as the request's context ended (after the work).
        assert seen_by_work == [0]
        assert [args for *_, args in sent(queue)] == ["('late',)"]


def test_a_job_enqueued_by_a_streamed_body_is_sent(
    app: Kettle, queue: redis.Redis
) -> None:
    @app.get("/stream")
    def stream() -> Any:
        def body() -> Iterator[str]:
            yield "one "
            enqueue(mark(app), request.path)
            yield "two"

        return body()

    response = app.test_client().get("/stream")
    assert response.get_data(as_text=True) == "one two"
    response.close()
    assert [args for *_, args in sent(queue)] == ["('/stream',)"]


@pytest.fixture
def unreachable(make_app: Callable[..., Kettle], redis_server: RedisServer) -> Kettle:
    """The jobs app with its broker on a port nobody listens on."""
    dead = f"redis://127.0.0.1:{free_port()}/{DB}"
    return make_app(
        CELERY={
            "broker_url": dead,
            "result_backend": redis_server.url(DB),
            "task_default_queue": QUEUE,
        }
    )


def _clear_error(text: str, app: Kettle) -> None:
    broker = app.extensions["celery"].conf.broker_url
    assert "Could not send job 'jobs.mark' (id " in text
    assert f"to the broker {broker}: OperationalError: " in text
    assert "Connection refused" in text


def test_an_unreachable_broker_fails_the_request_with_a_clear_error(
    unreachable: Kettle, queue: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.ERROR, logger="jobs_app"):
        response = unreachable.test_client().post("/enqueue/nowhere")
    assert response.status_code == 500
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == "Exception on /enqueue/nowhere [POST]"
    assert record.exc_info is not None
    error = record.exc_info[1]
    assert isinstance(error, EnqueueError)
    _clear_error(str(error), unreachable)
    _clear_error(caplog.text, unreachable)
    assert sent(queue) == []


def test_an_unreachable_broker_raises_where_the_job_is_sent(
    unreachable: Kettle,
) -> None:
    with pytest.raises(EnqueueError) as raised:
        unreachable.test_client().post("/enqueue/nowhere")  # propagated: TESTING
    _clear_error(str(raised.value), unreachable)
    with pytest.raises(EnqueueError) as raised:
        enqueue(mark(unreachable), "no-context")
    _clear_error(str(raised.value), unreachable)


def test_over_asgi_jobs_follow_the_response_too(
    make_app: Callable[..., Kettle], queue: redis.Redis
) -> None:
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    async def visit() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app.asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/enqueue/asgi"), await c.post("/enqueue/x?then=raise")

    ok, failed = asyncio.run(visit())
    assert (ok.status_code, failed.status_code) == (200, 500)
    assert sent(queue) == [("jobs.mark", ok.json()["id"], "('asgi',)")]


def test_in_a_websocket_a_job_is_sent_at_once(app: Kettle, queue: redis.Redis) -> None:
    @app.websocket("/ws")
    async def chat() -> None:
        await websocket.accept()
        enqueue(mark(app), await websocket.receive())
        await websocket.send(str(len(sent(queue))))

    async def talk() -> str:
        async with app.test_websocket("/ws") as ws:
            await ws.send("hello")
            return str(await ws.receive())

    assert asyncio.run(talk()) == "1"  # while the connection is still open
    assert [args for *_, args in sent(queue)] == ["('hello',)"]
