"""A small notes app on six unmodified Flask extensions, served by Kettle.

It is written exactly as a Flask app would be, with ``flask`` imports; the first
line, ``import kettle.flask_compat``, is the only change a Flask user makes. Users
log in with Flask-Login through a Flask-WTF form (CSRFProtect guards every POST),
notes live in SQLite through Flask-SQLAlchemy with Flask-Migrate's ``db`` commands,
``/api/*`` answers CORS requests (Flask-CORS) and ``/limited`` is rate limited
(Flask-Limiter).

The checks in ``checks.py`` drive it; the CLI tests run it through the ``kettle``
command with ``--app extapp``, taking the instance folder from ``EXTAPP_INSTANCE``.
"""

import kettle.flask_compat  # noqa: F401, I001 -- first: `flask` is Kettle from here on

import os
from typing import Any

import sqlalchemy as sa
from flask import Flask, abort, jsonify, redirect, render_template_string, request
from flask import url_for
from flask_cors import CORS, cross_origin
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_required
from flask_login import login_user, logout_user
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect, FlaskForm
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
migrate = Migrate()
cors = CORS()
csrf = CSRFProtect()


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    password: Mapped[str] = mapped_column(sa.String(80))


class Note(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))


class LoginForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])
    remember = BooleanField("Remember me")


LOGIN_PAGE = """<form method="post">
{{ form.csrf_token }} {{ form.name }} {{ form.password }} {{ form.remember }}
</form>{% for field, errors in form.errors.items() %}
<p class="error">{{ field }}: {{ errors|join(", ") }}</p>{% endfor %}"""


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def create_app(instance_path: str | None = None, **config: Any) -> Flask:
    """The app, with its SQLite file in ``instance_path`` (or $EXTAPP_INSTANCE)."""
    instance_path = instance_path or os.environ["EXTAPP_INSTANCE"]
    app = Flask(__name__, instance_path=instance_path)
    app.config.from_mapping(
        SECRET_KEY="extapp secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance_path}/notes.sqlite",
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.update(config)
    db.init_app(app)
    migrate.init_app(app, db)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "login"
    cors.init_app(app, resources={r"/api/*": {"origins": "https://notes.example"}})
    # One limiter per app: its counters must not be shared between test apps.
    limiter = Limiter(get_remote_address, app=app)
    _add_views(app, limiter)
    return app


def _add_views(app: Flask, limiter: Limiter) -> None:
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        form = LoginForm()
        if form.validate_on_submit():
            user = db.session.execute(
                sa.select(User).filter_by(name=form.name.data)
            ).scalar_one_or_none()
            if user is not None and user.password == form.password.data:
                login_user(user, remember=form.remember.data)
                return redirect(request.args.get("next") or url_for("profile"))
            form.name.errors.append("unknown user or wrong password")
        return render_template_string(LOGIN_PAGE, form=form)

    @app.route("/logout")
    def logout() -> Any:
        logout_user()
        return redirect(url_for("login"))

    @app.route("/profile")
    @login_required
    def profile() -> str:
        return f"Hello, {current_user.name}!"

    @app.route("/notes")
    @login_required
    def notes() -> Any:
        page = db.paginate(
            sa.select(Note).filter_by(owner_id=current_user.id).order_by(Note.id),
            per_page=3,
        )
        return jsonify(
            page=page.page,
            pages=page.pages,
            total=page.total,
            titles=[note.title for note in page.items],
        )

    @app.route("/api/data")
    def api_data() -> Any:
        return jsonify(data=[1, 2, 3])

    @app.route("/api/boom")
    def api_boom() -> Any:
        raise RuntimeError("boom")

    @app.route("/api/forbidden")
    def api_forbidden() -> Any:
        abort(403)

    @app.route("/open", methods=["GET", "POST"])
    @cross_origin(origins="*", methods=["GET", "POST"])
    def open_view() -> Any:
        return "open to all"

    @app.route("/limited")
    @limiter.limit("2 per minute")
    def limited() -> str:
        return "within the limit"


def add_users_and_notes(app: Flask, notes: int = 0) -> None:
    """Create the tables, the users alice (with ``notes`` notes) and bob."""
    with app.app_context():
        db.create_all()
        alice = User(name="alice", password="wonderland")
        db.session.add_all([alice, User(name="bob", password="builder")])
        db.session.flush()
        db.session.add_all(
            Note(title=f"note {i}", owner_id=alice.id) for i in range(1, notes + 1)
        )
        db.session.commit()
