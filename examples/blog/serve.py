"""Serve the example blog: ``python examples/blog/serve.py [--host H] [--port N]``.

The database (``instance/blog.sqlite`` beside the ``blog`` package) is created on
the first run; ``--init-db`` wipes it first, through the app's ``init-db`` command.
With ``BLOG_CELERY_BROKER`` set, background jobs go to Celery: run a worker beside
it, ``celery -A blog.worker:celery_app worker`` from this folder.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from blog import create_app

from kettle import Kettle
from kettle.cli import ScriptInfo


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve Kettle's example blog.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--init-db", action="store_true", help="delete all accounts and posts first"
    )
    args = parser.parse_args()
    app = create_app()
    if args.init_db:
        app.cli.main(
            ["init-db"], obj=ScriptInfo(create_app=lambda: app), standalone_mode=False
        )
    print(f" * Kettle Blog, database {app.config['DATABASE']}")
    print(f" * Background jobs: {_jobs_mode(app)}")
    app.run(host=args.host, port=args.port)


def _jobs_mode(app: Kettle) -> str:
    celery_app = app.extensions.get("celery")
    if celery_app is None:
        return "in this process (set BLOG_CELERY_BROKER to use Celery)"
    from kombu.utils.url import maybe_sanitize_url

    broker = maybe_sanitize_url(celery_app.conf.broker_url)
    return f"Celery, broker {broker} (start `celery -A blog.worker:celery_app worker`)"


if __name__ == "__main__":
    main()
