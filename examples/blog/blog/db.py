"""The SQLite connection: one per context, opened on first use, kept on ``g``."""

from __future__ import annotations

import sqlite3
from importlib import resources

import click

from kettle import Kettle, current_app, g
from kettle.cli import with_appcontext


def get_db() -> sqlite3.Connection:
    """The current context's connection to ``DATABASE``, opened on first use.

    Rows come back as :class:`sqlite3.Row` (index them by column name). The
    connection is not tied to the thread that opened it: under ASGI, the sync hooks
    and the view of one request may run in different worker threads, one at a time.
    """
    if "db" not in g:
        conn = sqlite3.connect(current_app.config["DATABASE"], check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        g.db = conn
    return g.db  # type: ignore[no-any-return]


def close_db(exc: BaseException | None = None) -> None:
    """Close the context's connection, if one was opened (a teardown function)."""
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_db() -> None:
    """Drop the blog's tables, if any, and create them empty."""
    schema = resources.files(__package__).joinpath("schema.sql").read_text("utf-8")
    get_db().executescript(schema)


def create_if_missing() -> bool:
    """Create the tables if the database has none yet; say whether it did.

    A database made before posts had a word count gets the column.
    """
    db = get_db()
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'post'"
    ).fetchone()
    if found is None:
        init_db()
    else:
        _add_word_count(db)
    return found is None


def _add_word_count(db: sqlite3.Connection) -> None:
    """Add ``post.word_count`` to a database made before it existed."""
    columns = {row["name"] for row in db.execute("PRAGMA table_info(post)")}
    if "word_count" not in columns:
        with db:
            db.execute("ALTER TABLE post ADD COLUMN word_count INTEGER")


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Delete every account and post: recreate the blog's tables, empty."""
    init_db()
    click.echo(f"Initialized the database at {current_app.config['DATABASE']}.")


def init_app(app: Kettle) -> None:
    """Close connections when contexts end, and add the ``init-db`` command."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
