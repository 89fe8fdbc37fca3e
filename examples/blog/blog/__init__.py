"""Kettle's example blog: accounts, posts, and a SQLite database kept on ``g``.

``create_app()`` is the application factory; ``serve.py`` beside this package
serves it. The database is created on first use; the ``init-db`` command of
``app.cli`` (``serve.py --init-db``) wipes it and starts afresh. A background job
(``jobs.py``) counts the words of each post: on Celery when a broker is configured,
otherwise in this process.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from typing import Any

from werkzeug.exceptions import HTTPException

from kettle import Kettle, redirect, render_template, url_for


def create_app(test_config: Mapping[str, Any] | None = None) -> Kettle:
    """Build a blog application.

    Settings come, in order, from the defaults below, then ``instance/config.py``
    (if present), unless ``test_config`` is given, in which case it is used instead.
    """
    app = Kettle(__name__, instance_relative_config=True)
    app.config.from_mapping(
        DATABASE=os.path.join(app.instance_path, "blog.sqlite"),
        PASSWORD_HASH_METHOD="scrypt",
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        _celery_from_environment(app)
    else:
        app.config.from_mapping(test_config)

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)

    from . import auth, db, jobs, posts

    db.init_app(app)
    jobs.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(posts.bp)

    @app.get("/favicon.ico")
    def favicon() -> Any:
        # Browsers ask for /favicon.ico whatever the page links to.
        return redirect(url_for("static", filename="favicon.svg"), 301)

    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    def show_error(error: HTTPException) -> tuple[str, int, list[tuple[str, str]]]:
        # Keep the error's own headers (a 405's Allow), not its content type.
        headers = [h for h in error.get_headers() if h[0].lower() != "content-type"]
        return render_template("error.html", error=error), error.code or 500, headers

    # The first run on a fresh machine makes the database (and its folder).
    database = app.config["DATABASE"]
    if database != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
    with app.app_context():
        db.create_if_missing()

    return app


def _celery_from_environment(app: Kettle) -> None:
    """``BLOG_CELERY_BROKER`` (and ``BLOG_CELERY_BACKEND``, by default the same URL)
    set a Celery broker for the background jobs; without one they run in-process."""
    broker = os.environ.get("BLOG_CELERY_BROKER")
    if broker:
        app.config["CELERY"] = {
            "broker_url": broker,
            "result_backend": os.environ.get("BLOG_CELERY_BACKEND", broker),
            "broker_connection_retry_on_startup": True,
        }


def _instance_secret(instance_path: str) -> str:
    """A random signing key, made once and kept in the instance folder.

    Several worker processes starting together agree on one key: the first to
    create the file writes it, the others read it.
    """
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    for _ in range(50):
        try:
            with open(path, encoding="ascii") as f:
                key = f.read().strip()
            if key:
                return key
        except FileNotFoundError:
            key = secrets.token_hex(32)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue  # another process made it first: read theirs
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(key + "\n")
            return key
        time.sleep(0.01)  # created but not yet written by another process
    raise RuntimeError(f"The secret key file {path} stays empty; delete it.")
