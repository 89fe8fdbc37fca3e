"""Background jobs on a Celery queue, run inside an app context: ``kettle.celery``.

An optional integration (``pip install 'kettle[celery]'``); ``import kettle`` never
imports it, nor Celery.

- :func:`init_celery` binds a new Celery app to a Kettle app, configured from the
  ``CELERY`` mapping of the Kettle app's config, and keeps it on
  ``app.extensions["celery"]``.
- :class:`KettleTask`, the base of that Celery app's tasks, runs every task in a
  fresh application context of the Kettle app: ``current_app``, an empty ``g``,
  ``url_for`` (with ``SERVER_NAME``), and the ``teardown_appcontext`` functions run
  once after the task, whether it returned or raised.
- :func:`enqueue` sends a task to the broker. In a request, the message leaves once
  the response has been made, and only when it is not a server error; elsewhere (a
  CLI command, a script, another task) at once.

Errors::

    RuntimeError
     └── EnqueueError   a job could not be handed to the broker (the reason chained)
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celery import Celery, Task  # type: ignore[import-untyped]
from celery.canvas import Signature  # type: ignore[import-untyped]
from kombu.utils.url import maybe_sanitize_url

from .globals import _cv_app

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext
    from .wrappers import Response

__all__ = ["EnqueueError", "KettleTask", "enqueue", "init_celery"]

#: Where a request keeps the jobs it enqueued until they are sent (see _Outbox).
_OUTBOX = "_kettle_celery_outbox"


class EnqueueError(RuntimeError):
    """A job could not be handed to the broker; the broker's error is its cause."""


class KettleTask(Task):  # type: ignore[misc]  # Celery has no type hints
    """A Celery task that runs in a fresh application context of its Kettle app.

    Each run, in a worker or called directly, pushes a new ``app.app_context()``
    (so ``g`` starts empty and there is no request) and pops it afterwards, passing
    the task's exception, if any, to the teardown functions. Called inside another
    context, such as a view, the task still gets its own: it behaves the same
    wherever it runs, and never shares the caller's ``g`` or database connection.
    """

    @property
    def kettle_app(self) -> Kettle:
        """The Kettle app this task's Celery app was bound to by :func:`init_celery`."""
        app: Kettle | None = getattr(self.app, "kettle_app", None)
        if app is None:
            raise RuntimeError(
                f"Task {self.name!r} is a KettleTask, but its Celery app"
                f" {self.app.main!r} is not bound to a Kettle app. Make the Celery app"
                " with `kettle.celery.init_celery(app)`."
            )
        return app

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        app = self.kettle_app
        ctx = app.app_context()
        ctx.push()
        try:
            result = super().__call__(*args, **kwargs)
        except BaseException as e:
            _pop_after_failure(app, ctx, e, self.name)
            raise
        ctx.pop()
        return result


def _pop_after_failure(
    app: Kettle, ctx: AppContext, error: BaseException, name: str
) -> None:
    """Pop a failed task's context; a teardown error is logged, the task's kept."""
    try:
        ctx.pop(error)
    except Exception:
        app.logger.exception(f"Teardown failed after task {name!r} raised {error!r}")


def init_celery(app: Kettle, **settings: Any) -> Any:
    """Make a Celery app for ``app``, whose tasks run in ``app``'s context.

    Its settings are the ``CELERY`` mapping of ``app.config`` (Celery's lowercase
    names: ``broker_url``, ``result_backend``, ...) updated with ``settings``; a
    ``broker_url`` is required (``"memory://"`` for tests without one). Tasks made
    with its ``task`` decorator derive from :class:`KettleTask`; with an app
    factory, pass them ``shared=False``, or Celery adds each to every Celery app
    made later. It is stored on ``app.extensions["celery"]`` and returned. Call it
    while setting the app up: it also registers the ``teardown_request`` function
    that sends what a request enqueued after its response (see :func:`enqueue`).
    """
    if "celery" in app.extensions:
        raise RuntimeError(
            f"The app {app.name!r} already has a Celery app:"
            " app.extensions['celery']. Call init_celery(app) once per app."
        )
    config: Mapping[str, Any] = app.config.get("CELERY") or {}
    conf = {**config, **settings}
    if not conf.get("broker_url"):
        raise RuntimeError(
            f"init_celery({app.name!r}) needs a broker: set"
            ' app.config["CELERY"] = {"broker_url": "redis://127.0.0.1:6379/0",'
            ' "result_backend": "redis://127.0.0.1:6379/0"}.'
        )
    celery_app = Celery(app.import_name, task_cls=KettleTask)
    celery_app.conf.update(conf)
    celery_app.kettle_app = app
    app.extensions["celery"] = celery_app
    app.teardown_request(_send_late_jobs)
    return celery_app


def enqueue(task: Any, /, *args: Any, **kwargs: Any) -> Any:
    """Send ``task(*args, **kwargs)`` to the broker; return its ``AsyncResult``.

    ``task`` is a Celery task, or a signature (``task.s(...).set(countdown=5)``),
    to which ``args`` and ``kwargs`` are added as Celery adds them to a partial.

    Outside a request (a CLI command, a script, another task, a WebSocket) it is
    sent at once. In a request it is held until the view's response has been
    made, and sent before that response goes to the client, unless it is a server
    error (5xx, including the 500 of an unhandled error): then the job is dropped,
    and logged, so that it never sees what the failed request rolled back. If the
    broker cannot be reached, :class:`EnqueueError` is raised there, so the client
    gets a 500 and the log says which job could not be sent, and why. Jobs go in
    the order they were enqueued, after the app's ``after_request`` functions ran
    and the session was saved.

    A job enqueued after the response was made, by work started with
    ``kettle.spawn`` or by a streamed body, is sent at once, or, if the request
    enqueued nothing before, when the request's context ends (after that work);
    again only if the request did not fail. The returned result's id is the job's
    id from the start; a dropped job's result stays ``PENDING``.
    """
    signature = _signature(task, args, kwargs)
    ctx = _cv_app.get(None)
    # A WebSocket has no response to wait for: its jobs go at once too.
    if ctx is None or not ctx.has_request or ctx._websocket is not None:
        return _send(signature)
    return _outbox(ctx).add(ctx, signature)


def _signature(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if isinstance(task, Signature):
        return task.clone(args, kwargs) if args or kwargs else task.clone()
    if isinstance(task, Task):
        return task.s(*args, **kwargs)
    raise TypeError(
        f"enqueue() takes a Celery task or signature, not {task!r}. Make the function"
        " a task with the `task` decorator of the app's Celery app, or run it in the"
        " background of this process with `kettle.spawn`."
    )


def _send(signature: Any) -> Any:
    """Publish one job; any failure becomes an :class:`EnqueueError` naming it."""
    try:
        return signature.apply_async()
    except Exception as e:
        broker = maybe_sanitize_url(str(signature.app.conf.broker_url))
        job_id = signature.options.get("task_id")
        raise EnqueueError(
            f"Could not send job {signature.task!r} (id {job_id}) to the broker"
            f" {broker}: {type(e).__name__}: {e}"
        ) from e


def _outbox(ctx: AppContext) -> _Outbox:
    outbox: _Outbox | None = getattr(ctx, _OUTBOX, None)
    if outbox is None:
        if "celery" not in ctx.app.extensions:
            raise RuntimeError(
                f"enqueue() was called in a request of {ctx.app.name!r}, which has no"
                " Celery app. Call `kettle.celery.init_celery(app)` while setting the"
                " app up: it adds what sends a request's jobs when it ends."
            )
        outbox = _Outbox()
        setattr(ctx, _OUTBOX, outbox)
        # Last of all, after the after-request functions and the session were saved:
        # a failure there is a 500, and the jobs must not have gone yet.
        hooks = ctx._response_hooks
        if hooks is None:
            hooks = ctx._response_hooks = []
        hooks.append(outbox.send_with)
    return outbox


class _Outbox:
    """The jobs of one request, held until its response is made.

    ``send_with`` runs with the final response, after the after-request functions
    and the session were saved (a response hook of the context): it
    sends them, or drops them for a 5xx response. Jobs enqueued after that are sent
    by ``enqueue`` itself (or dropped). Whatever is still held when the request's
    context ends (``send_with`` never ran: the first job came after the response
    had been handled, or an error propagated) goes, or is dropped, in
    :func:`_send_late_jobs`.
    """

    __slots__ = ("held", "lock", "status")

    def __init__(self) -> None:
        self.held: list[Any] = []
        self.lock = threading.Lock()
        #: The status of the response once ``send_with`` saw it, or None before.
        self.status: int | None = None

    def add(self, ctx: AppContext, signature: Any) -> Any:
        result = signature.freeze()
        with self.lock:
            status = self.status
            if status is None:
                self.held.append(signature)
                return result
        if status >= 500:
            _log_dropped(ctx, [signature], f"its request failed ({status})")
        else:
            _send(signature)
        return result

    def take(self, status: int | None = None) -> list[Any]:
        """The held jobs, removed; record the response's status if given."""
        with self.lock:
            held, self.held = self.held, []
            if status is not None:
                self.status = status
            return held

    def send_with(self, response: Response) -> Response:
        status = response.status_code
        jobs = self.take(status)
        if status >= 500:
            _log_dropped(_cv_app.get(), jobs, f"the response is a {status}")
            return response
        for index, signature in enumerate(jobs):
            try:
                _send(signature)
            except EnqueueError:
                self.status = 500  # what the client will get; later jobs drop
                reason = "as an earlier one could not be sent"
                _log_dropped(_cv_app.get(), jobs[index + 1 :], reason)
                raise
        return response


def _send_late_jobs(exc: BaseException | None) -> None:
    """Send what a request still holds as it ends, unless it failed (teardown)."""
    ctx = _cv_app.get()
    outbox: _Outbox | None = getattr(ctx, _OUTBOX, None)
    if outbox is None:
        return
    jobs = outbox.take()
    status = outbox.status
    if not jobs:
        return
    if exc is not None or (status is not None and status >= 500):
        reason = f"{type(exc).__name__}" if exc is not None else f"a {status}"
        _log_dropped(ctx, jobs, f"its request failed ({reason})")
        return
    for signature in jobs:
        _send(signature)


def _log_dropped(ctx: AppContext, jobs: list[Any], reason: str) -> None:
    if not jobs:
        return
    names = ", ".join(f"{s.task} (id {s.options.get('task_id')})" for s in jobs)
    where = f" by {ctx.request.method} {ctx.request.path}" if ctx.has_request else ""
    ctx.app.logger.warning(f"Not sending the jobs enqueued{where}, {reason}: {names}")
