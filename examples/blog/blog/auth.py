"""Accounts: register, log in, log out, and ``login_required`` for other views."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from werkzeug.security import check_password_hash, generate_password_hash

from kettle import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .db import get_db

bp = Blueprint("auth", __name__, url_prefix="/auth")

F = TypeVar("F", bound=Callable[..., Any])

MIN_PASSWORD_LENGTH = 6
MAX_USERNAME_LENGTH = 40


@bp.before_app_request
def load_logged_in_user() -> None:
    """Set ``g.user`` to the logged-in account's row, or None."""
    user_id = session.get("user_id")
    g.user = None
    if user_id is not None:
        g.user = (
            get_db()
            .execute("SELECT id, username FROM account WHERE id = ?", (user_id,))
            .fetchone()
        )


def login_required(view: F) -> F:
    """Send anonymous visitors to the login page, then back here once logged in."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            flash("Log in to do that.", "info")
            # Come back to a page after logging in, not to a form's POST.
            back = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=back))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _hash(password: str) -> str:
    """Hash with werkzeug's ``PASSWORD_HASH_METHOD`` (tests choose a fast one)."""
    return generate_password_hash(
        password, method=current_app.config["PASSWORD_HASH_METHOD"]
    )


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, else the front page."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("posts.index")


@bp.route("/register", methods=("GET", "POST"))
def register() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        error = None
        if not username:
            error = "Choose a username."
        elif len(username) > MAX_USERNAME_LENGTH:
            error = f"Usernames have at most {MAX_USERNAME_LENGTH} characters."
        elif not password:
            error = "Choose a password."
        elif len(password) < MIN_PASSWORD_LENGTH:
            error = f"Passwords need at least {MIN_PASSWORD_LENGTH} characters."

        if error is None:
            db = get_db()
            try:
                with db:
                    db.execute(
                        "INSERT INTO account (username, password_hash) VALUES (?, ?)",
                        (username, _hash(password)),
                    )
            except sqlite3.IntegrityError:
                error = f"Someone already has the username {username}."
            else:
                flash(f"Welcome, {username}! You can log in now.", "success")
                return redirect(url_for("auth.login"))

        flash(error, "error")
    return render_template("auth/register.html")


@bp.route("/login", methods=("GET", "POST"))
def login() -> Any:
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        account = (
            get_db()
            .execute(
                "SELECT id, password_hash FROM account WHERE username = ?",
                (username,),
            )
            .fetchone()
        )
        # One message for both mistakes: it does not tell who has an account.
        if account is None or not check_password_hash(
            account["password_hash"], password
        ):
            flash("Wrong username or password.", "error")
        else:
            session.clear()
            session["user_id"] = account["id"]
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html")


@bp.route("/logout", methods=("GET", "POST"))
def logout() -> Any:
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("posts.index"))
