"""The blog's Celery worker: ``celery -A blog.worker:celery_app worker``.

Run it from ``examples/blog`` with the same settings as the web process, for
example ``BLOG_CELERY_BROKER=redis://127.0.0.1:6379/0`` in the environment of both.
"""

from __future__ import annotations

from typing import Any

from . import create_app

blog_app = create_app()
celery_app: Any = blog_app.extensions.get("celery")
if celery_app is None:
    raise RuntimeError(
        "The blog has no broker to take jobs from: set BLOG_CELERY_BROKER (for"
        " example redis://127.0.0.1:6379/0), or CELERY = {'broker_url': ...} in"
        f" {blog_app.instance_path}/config.py, for the worker and the web server."
    )
