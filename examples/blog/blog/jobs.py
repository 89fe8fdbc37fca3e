"""The blog's background job: count the words of a post once it is saved.

With a broker configured (``CELERY`` in the config, or ``BLOG_CELERY_BROKER`` in
the environment), the job goes to Celery through :mod:`kettle.celery` and a worker
runs it: ``celery -A blog.worker:celery_app worker``. Without one, it runs in this
process with :func:`kettle.spawn`, so the blog needs nothing but itself.
"""

from __future__ import annotations

from typing import Any

from kettle import Kettle, current_app, spawn

from .db import get_db

#: The Celery name of :func:`count_words`.
COUNT_WORDS = "blog.count_words"


def count_words(post_id: int) -> int | None:
    """Store the number of words in the body of post ``post_id``; return it.

    It uses the context's connection (``get_db``): the request's own when spawned,
    a fresh one, closed when the task ends, in a Celery worker. None if the post
    has been deleted meanwhile.
    """
    db = get_db()
    row = db.execute("SELECT body FROM post WHERE id = ?", (post_id,)).fetchone()
    if row is None:
        return None
    count = len(row["body"].split())
    with db:
        db.execute("UPDATE post SET word_count = ? WHERE id = ?", (count, post_id))
    return count


def start_word_count(post_id: int) -> Any:
    """Count the words of ``post_id`` in the background: on Celery, or spawned.

    On Celery the job is sent when the response has been made, and only if the
    request did not fail; the returned ``AsyncResult`` (or the spawn's Future)
    follows it.
    """
    celery_app = current_app.extensions.get("celery")
    if celery_app is None:
        return spawn(count_words, post_id)
    from kettle.celery import enqueue

    return enqueue(celery_app.tasks[COUNT_WORDS], post_id)


def init_app(app: Kettle) -> None:
    """Bind a Celery app when ``CELERY`` names a broker, and register the job."""
    if not (app.config.get("CELERY") or {}).get("broker_url"):
        return
    from kettle.celery import init_celery

    celery_app = init_celery(app)
    celery_app.task(name=COUNT_WORDS, shared=False)(count_words)
