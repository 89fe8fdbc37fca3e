"""``init_celery`` and ``KettleTask`` without a broker: tasks called in this process."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from kettle import Kettle, current_app, g, has_request_context, request, url_for
from kettle.celery import KettleTask, enqueue, init_celery
from kettle.errors import SetupError


def noop() -> None:
    """A task that does nothing."""


@pytest.fixture
def app() -> Kettle:
    app = Kettle("binding_app")
    app.config.update(
        TESTING=True,
        SERVER_NAME="binding.example.test",
        CELERY={"broker_url": "memory://", "task_default_queue": "binding"},
    )

    @app.get("/posts/<int:post_id>")
    def post(post_id: int) -> str:
        return str(post_id)

    return app


@pytest.fixture
def torn_down(app: Kettle) -> list[str]:
    """What the teardown functions received, one entry per context torn down."""
    seen: list[str] = []
    app.teardown_appcontext(lambda exc: seen.append(repr(exc)))
    return seen


@pytest.fixture
def celery_app(app: Kettle, torn_down: list[str]) -> Iterator[Any]:
    celery_app = init_celery(app)
    yield celery_app
    celery_app.close()


def test_importing_kettle_does_not_import_celery() -> None:
    code = (
        "import sys, kettle, kettle.testing\n"
        "assert 'celery' not in sys.modules and 'kombu' not in sys.modules, sorted(\n"
        "    m for m in sys.modules if m.startswith(('celery', 'kombu')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_init_celery_configures_and_stores_the_celery_app(app: Kettle) -> None:
    celery_app = init_celery(app, task_default_queue="other", result_expires=60)
    try:
        assert isinstance(celery_app, Celery)
        assert app.extensions["celery"] is celery_app
        assert celery_app.kettle_app is app
        assert celery_app.conf.broker_url == "memory://"
        assert celery_app.conf.task_default_queue == "other"  # the argument wins
        assert celery_app.conf.result_expires == 60
        task = celery_app.task(noop, name="noop", shared=False)
        assert isinstance(task, KettleTask)
        assert task.kettle_app is app
    finally:
        celery_app.close()


def test_init_celery_needs_a_broker() -> None:
    app = Kettle("no_broker")
    with pytest.raises(RuntimeError, match=r'app.config\["CELERY"\]'):
        init_celery(app)
    assert "celery" not in app.extensions


def test_init_celery_binds_once(app: Kettle, celery_app: Any) -> None:
    with pytest.raises(RuntimeError, match="already has a Celery app"):
        init_celery(app)


def test_init_celery_is_a_setup_step(app: Kettle) -> None:
    assert app.test_client().get("/posts/1").status_code == 200
    with pytest.raises(SetupError):
        init_celery(app)


def test_a_direct_call_runs_in_a_fresh_app_context(
    app: Kettle, celery_app: Any, torn_down: list[str]
) -> None:
    @celery_app.task(shared=False)
    def look(tag: str) -> dict[str, Any]:
        seen = {
            "app": current_app.name,
            "g": sorted(g),
            "has_request": has_request_context(),
            "url": url_for("post", post_id=3),
        }
        g.tag = tag
        return seen

    expected = {
        "app": "binding_app",
        "g": [],
        "has_request": False,
        "url": "http://binding.example.test/posts/3",
    }
    assert look("outside") == expected  # no context at all
    assert torn_down == ["None"]
    with app.test_request_context("/posts/1"):
        g.user = "ann"
        assert look("inside") == expected
        # The caller's context is untouched: its g, its request.
        assert sorted(g) == ["user"]
        assert request.path == "/posts/1"
        assert torn_down == ["None", "None"]
    assert torn_down == ["None", "None", "None"]  # and the request's own


def test_a_failing_direct_call_passes_its_error_to_teardown(
    celery_app: Any, torn_down: list[str]
) -> None:
    @celery_app.task(shared=False)
    def fail() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        fail()
    assert torn_down == ["KeyError('missing')"]


def test_a_teardown_error_does_not_hide_the_task_error(
    app: Kettle, celery_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    @app.teardown_appcontext
    def broken(exc: BaseException | None) -> None:
        raise OSError("teardown broke")

    @celery_app.task(shared=False)
    def fail() -> None:
        raise KeyError("missing")

    with caplog.at_level(logging.ERROR, logger="binding_app"):
        with pytest.raises(KeyError, match="missing"):
            fail()
    assert "Teardown failed after task" in caplog.text
    assert "teardown broke" in caplog.text


def test_eager_apply_records_failure_and_traceback(
    celery_app: Any, torn_down: list[str]
) -> None:
    @celery_app.task(shared=False)
    def add(a: int, b: int) -> int:
        return a + b

    @celery_app.task(shared=False)
    def fail() -> None:
        raise ValueError("eager failure")

    assert add.apply((2, 3)).get() == 5
    result = fail.apply()
    assert result.failed()
    assert isinstance(result.result, ValueError)
    assert "ValueError: eager failure" in result.traceback
    assert torn_down == ["None", "ValueError('eager failure')"]


def test_a_kettle_task_of_an_unbound_celery_app_says_how_to_bind() -> None:
    plain = Celery("plain", broker="memory://", task_cls=KettleTask)
    try:
        task = plain.task(noop, name="orphan", shared=False)
        with pytest.raises(RuntimeError, match=r"init_celery\(app\)"):
            task()
    finally:
        plain.close()


def test_enqueue_takes_tasks_and_signatures_only(celery_app: Any) -> None:
    def not_a_task() -> None:
        pass

    with pytest.raises(TypeError, match=r"kettle\.spawn"):
        enqueue(not_a_task)


def test_enqueue_in_a_request_needs_init_celery(celery_app: Any) -> None:
    other = Kettle("unbound")
    task = celery_app.task(noop, name="noop", shared=False)
    with other.test_request_context("/"):
        with pytest.raises(RuntimeError, match=r"init_celery\(app\)"):
            enqueue(task)
