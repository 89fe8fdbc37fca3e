"""The jobs app for subprocesses, its Redis URL from ``JOBS_REDIS_URL``.

Worker: ``celery -A jobs_serve:celery_app worker``; server:
``gunicorn jobs_serve:app`` (run from this folder).
"""

from __future__ import annotations

import os

from jobs_app import create_app

app = create_app(os.environ["JOBS_REDIS_URL"])
celery_app = app.extensions["celery"]
