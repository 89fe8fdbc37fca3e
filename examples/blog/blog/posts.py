"""Posts: the front page lists them; logged-in authors write, edit and delete."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from kettle import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)

from .auth import login_required
from .db import get_db
from .jobs import start_word_count

bp = Blueprint("posts", __name__)

MAX_TITLE_LENGTH = 200


@bp.app_template_filter("when")
def format_timestamp(value: str | datetime) -> str:
    """``2025-03-07 14:05:00`` (SQLite's UTC text) as ``7 Mar 2025, 14:05 UTC``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


@bp.get("/")
def index() -> str:
    posts = (
        get_db()
        .execute(
            "SELECT post.id, title, body, created, author_id, word_count,"
            " username AS author"
            " FROM post JOIN account ON account.id = post.author_id"
            " ORDER BY created DESC, post.id DESC"
        )
        .fetchall()
    )
    return render_template("posts/index.html", posts=posts)


def get_post(post_id: int, check_author: bool = True) -> sqlite3.Row:
    """The post with this id: 404 if there is none, 403 if it is someone else's."""
    post = (
        get_db()
        .execute(
            "SELECT post.id, title, body, created, author_id, username AS author"
            " FROM post JOIN account ON account.id = post.author_id"
            " WHERE post.id = ?",
            (post_id,),
        )
        .fetchone()
    )
    if post is None:
        abort(404, f"There is no post {post_id}.")
    if check_author and post["author_id"] != g.user["id"]:
        abort(403, "Only its author can change this post.")
    return post  # type: ignore[no-any-return]


def _read_form() -> tuple[str, str, str | None]:
    """The submitted title and body, and what is wrong with them (or None)."""
    title = request.form.get("title", "").strip()
    body = request.form.get("body", "").strip()
    error = None
    if not title:
        error = "A post needs a title."
    elif len(title) > MAX_TITLE_LENGTH:
        error = f"Titles have at most {MAX_TITLE_LENGTH} characters."
    return title, body, error


@bp.route("/create", methods=("GET", "POST"))
@login_required
def create() -> Any:
    if request.method == "POST":
        title, body, error = _read_form()
        if error is None:
            db = get_db()
            with db:
                cursor = db.execute(
                    "INSERT INTO post (title, body, author_id) VALUES (?, ?, ?)",
                    (title, body, g.user["id"]),
                )
            start_word_count(cursor.lastrowid)
            flash("Your post is published.", "success")
            return redirect(url_for("posts.index"))
        flash(error, "error")
    return render_template("posts/create.html")


@bp.route("/<int:post_id>/update", methods=("GET", "POST"))
@login_required
def update(post_id: int) -> Any:
    post = get_post(post_id)
    if request.method == "POST":
        title, body, error = _read_form()
        if error is None:
            db = get_db()
            with db:
                db.execute(
                    "UPDATE post SET title = ?, body = ?, word_count = NULL"
                    " WHERE id = ?",
                    (title, body, post_id),
                )
            start_word_count(post_id)
            flash("Your changes are saved.", "success")
            return redirect(url_for("posts.index"))
        flash(error, "error")
    return render_template("posts/update.html", post=post)


@bp.post("/<int:post_id>/delete")
@login_required
def delete(post_id: int) -> Any:
    get_post(post_id)
    db = get_db()
    with db:
        db.execute("DELETE FROM post WHERE id = ?", (post_id,))
    flash("The post is deleted.", "info")
    return redirect(url_for("posts.index"))
