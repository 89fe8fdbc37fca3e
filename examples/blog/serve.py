"""Serve the example blog: ``python examples/blog/serve.py [--host H] [--port N]``.

The database (``instance/blog.sqlite`` beside the ``blog`` package) is created on
the first run; ``--init-db`` wipes it first, through the app's ``init-db`` command.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from blog import create_app

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
    app.run(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
