"""Tests for kettle.sessions."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.http import parse_cookie
from werkzeug.test import EnvironBuilder

from kettle import Kettle, session
from kettle.config import DEFAULT_CONFIG, Config
from kettle.sessions import (
    NullSession,
    SecureCookieSession,
    SecureCookieSessionInterface,
    SessionInterface,
    SessionMixin,
)
from kettle.wrappers import Request, Response


class StandInApp:
    def __init__(self, **config: Any) -> None:
        self.config = Config(".", DEFAULT_CONFIG)
        self.config.update(config)
        self.debug = False
        self.response_class = Response


def make_request(cookie: str | None = None, name: str = "session") -> Request:
    headers = [] if cookie is None else [("Cookie", f"{name}={cookie}")]
    return Request(EnvironBuilder(headers=headers).get_environ())


def set_cookie_headers(response: Response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


@pytest.fixture
def stand_in() -> StandInApp:
    return StandInApp(SECRET_KEY="secret")


@pytest.fixture
def interface() -> SecureCookieSessionInterface:
    return SecureCookieSessionInterface()


def changed(data: dict[str, Any]) -> SecureCookieSession:
    session = SecureCookieSession()
    session.update(data)
    return session


def round_trip(
    interface: SecureCookieSessionInterface, stand_in: StandInApp, session: SessionMixin
) -> SessionMixin | None:
    response = Response()
    interface.save_session(stand_in, session, response)  # type: ignore[arg-type]
    cookie = parse_cookie(set_cookie_headers(response)[0])["session"]
    return interface.open_session(stand_in, make_request(cookie))  # type: ignore[arg-type]


# --- session objects --------------------------------------------------------------


def test_mixin_defaults() -> None:
    assert SessionMixin.new is False
    assert SessionMixin.modified is True
    assert SessionMixin.accessed is False


def test_permanent_is_stored_under_key() -> None:
    session = SecureCookieSession()
    assert session.permanent is False
    session.permanent = True
    assert session["_permanent"] is True
    assert session.permanent is True
    session.permanent = False
    assert session["_permanent"] is False


def test_new_session_is_neither_modified_nor_accessed() -> None:
    session = SecureCookieSession({"a": 1})
    assert session.modified is False
    assert session.accessed is False


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__("b", 2),
        lambda s: s.__delitem__("a"),
        lambda s: s.update(b=2),
        lambda s: s.pop("a"),
        lambda s: s.popitem(),
        lambda s: s.clear(),
        lambda s: s.setdefault("new", 1),
    ],
)
def test_writes_mark_modified_and_accessed(write: Any) -> None:
    session = SecureCookieSession({"a": 1})
    write(session)
    assert session.modified is True
    assert session.accessed is True


@pytest.mark.parametrize(
    "read",
    [
        lambda s: s["a"],
        lambda s: s.get("a"),
        lambda s: s.setdefault("a", 2),
        lambda s: "a" in s,
        lambda s: len(s),
    ],
)
def test_reads_mark_accessed_only(read: Any) -> None:
    session = SecureCookieSession({"a": 1})
    read(session)
    assert session.accessed is True
    assert session.modified is False


def test_null_session_reads_as_empty() -> None:
    session = NullSession()
    assert session.get("a") is None
    assert "a" not in session
    assert len(session) == 0
    assert session.permanent is False
    assert dict(session) == {}


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.__setitem__("a", 1),
        lambda s: s.__delitem__("a"),
        lambda s: s.update(a=1),
        lambda s: s.pop("a", None),
        lambda s: s.popitem(),
        lambda s: s.clear(),
        lambda s: s.setdefault("a", 1),
        lambda s: setattr(s, "permanent", True),
    ],
)
def test_null_session_write_explains_secret_key(write: Any) -> None:
    with pytest.raises(RuntimeError, match="no secret key was set") as info:
        write(NullSession())
    assert "SECRET_KEY" in str(info.value)


# --- the interface's config readers ------------------------------------------------


def test_cookie_settings_come_from_config(interface: SessionInterface) -> None:
    app: Any = StandInApp(
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PARTITIONED=True,
    )
    assert interface.get_cookie_name(app) == "sid"
    assert interface.get_cookie_domain(app) == "example.com"
    assert interface.get_cookie_httponly(app) is False
    assert interface.get_cookie_secure(app) is True
    assert interface.get_cookie_samesite(app) == "Lax"
    assert interface.get_cookie_partitioned(app) is True


def test_cookie_path_falls_back_to_application_root(
    interface: SessionInterface,
) -> None:
    app: Any = StandInApp(APPLICATION_ROOT="/app")
    assert interface.get_cookie_path(app) == "/app"
    app.config["SESSION_COOKIE_PATH"] = "/only"
    assert interface.get_cookie_path(app) == "/only"


def test_expiration_time(interface: SessionInterface) -> None:
    app: Any = StandInApp(PERMANENT_SESSION_LIFETIME=timedelta(hours=2))
    session = SecureCookieSession()
    assert interface.get_expiration_time(app, session) is None
    session.permanent = True
    expires = interface.get_expiration_time(app, session)
    assert expires is not None
    expected = datetime.now(timezone.utc) + timedelta(hours=2)
    assert abs((expires - expected).total_seconds()) < 5
    app.config["PERMANENT_SESSION_LIFETIME"] = 60
    expires = interface.get_expiration_time(app, session)
    assert expires is not None
    assert abs((expires - datetime.now(timezone.utc)).total_seconds() - 60) < 5


def test_should_set_cookie(interface: SessionInterface) -> None:
    app: Any = StandInApp()
    session = SecureCookieSession({"a": 1})
    assert interface.should_set_cookie(app, session) is False
    permanent = SecureCookieSession({"_permanent": True})
    assert interface.should_set_cookie(app, permanent) is True
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert interface.should_set_cookie(app, permanent) is False
    session["b"] = 2
    assert interface.should_set_cookie(app, session) is True


def test_null_session_helpers(interface: SessionInterface) -> None:
    null = interface.make_null_session(StandInApp())  # type: ignore[arg-type]
    assert isinstance(null, NullSession)
    assert interface.is_null_session(null)
    assert not interface.is_null_session(SecureCookieSession())


def test_base_interface_is_abstract() -> None:
    interface = SessionInterface()
    app: Any = StandInApp()
    with pytest.raises(NotImplementedError):
        interface.open_session(app, make_request())
    with pytest.raises(NotImplementedError):
        interface.save_session(app, SecureCookieSession(), Response())


# --- the secure cookie interface ---------------------------------------------------


def test_open_without_secret_key_returns_none(
    interface: SecureCookieSessionInterface,
) -> None:
    app: Any = StandInApp()
    assert interface.get_signing_serializer(app) is None
    assert interface.open_session(app, make_request("anything")) is None


def test_open_without_cookie_gives_new_empty_session(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    session = interface.open_session(stand_in, make_request())
    assert isinstance(session, SecureCookieSession)
    assert dict(session) == {}
    assert session.new is True
    assert session.modified is False


def test_save_and_open_round_trip(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    session = SecureCookieSession()
    session["user"] = 42
    session["tags"] = ("a", b"b")
    opened = round_trip(interface, stand_in, session)
    assert isinstance(opened, SecureCookieSession)
    assert dict(opened) == {"user": 42, "tags": ("a", b"b")}
    assert opened.new is False
    assert opened.modified is False


def test_signer_is_cached_per_keys(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    first = interface.get_signing_serializer(stand_in)
    assert isinstance(first, URLSafeTimedSerializer)
    assert interface.get_signing_serializer(stand_in) is first
    stand_in.config["SECRET_KEY"] = "other"
    second = interface.get_signing_serializer(stand_in)
    assert second is not first
    stand_in.config["SECRET_KEY"] = "secret"
    assert interface.get_signing_serializer(stand_in) is first
    stand_in.config["SECRET_KEY_FALLBACKS"] = ["old"]
    assert interface.get_signing_serializer(stand_in) not in (first, second)


def test_signer_cache_is_per_interface(stand_in: Any) -> None:
    one = SecureCookieSessionInterface().get_signing_serializer(stand_in)
    two = SecureCookieSessionInterface().get_signing_serializer(stand_in)
    assert one is not two


def test_signer_cache_stays_small(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    for number in range(50):
        stand_in.config["SECRET_KEY"] = f"key-{number}"
        assert interface.get_signing_serializer(stand_in) is not None
    assert len(interface._signers) <= 8


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "", "a.b.c", "eyJhIjoxfQ.AAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAA"],
)
def test_bad_cookie_gives_new_empty_session(
    interface: SecureCookieSessionInterface, stand_in: Any, cookie: str
) -> None:
    session = interface.open_session(stand_in, make_request(cookie))
    assert isinstance(session, SecureCookieSession)
    assert dict(session) == {}


def test_tampered_cookie_gives_new_empty_session(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    signer = interface.get_signing_serializer(stand_in)
    assert signer is not None
    cookie = signer.dumps({"admin": False})
    payload, rest = cookie.split(".", 1)
    forged = signer.dump_payload({"admin": True}).decode()
    session = interface.open_session(stand_in, make_request(f"{forged}.{rest}"))
    assert session is not None
    assert dict(session) == {}
    assert payload != forged


def test_cookie_from_other_key_or_salt_is_rejected(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    other = URLSafeTimedSerializer("other-secret", salt="cookie-session")
    session = interface.open_session(stand_in, make_request(other.dumps({"a": 1})))
    assert session is not None and dict(session) == {}
    salted = URLSafeTimedSerializer("secret", salt="something-else")
    session = interface.open_session(stand_in, make_request(salted.dumps({"a": 1})))
    assert session is not None and dict(session) == {}


def test_signed_but_undecodable_payload_gives_new_session(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    signer = interface.get_signing_serializer(stand_in)
    assert signer is not None
    plain = URLSafeTimedSerializer(
        "secret", salt="cookie-session", signer_kwargs=signer.signer_kwargs
    )
    for value in ([1, 2], {" b": "!!!not base64"}):
        session = interface.open_session(stand_in, make_request(plain.dumps(value)))
        assert session is not None and dict(session) == {}


def test_expired_cookie_gives_new_session(
    interface: SecureCookieSessionInterface, stand_in: Any, monkeypatch: Any
) -> None:
    session = changed({"a": 1})
    response = Response()
    interface.save_session(stand_in, session, response)
    cookie = parse_cookie(set_cookie_headers(response)[0])["session"]
    stand_in.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=30)
    opened = interface.open_session(stand_in, make_request(cookie))
    assert opened is not None and dict(opened) == {"a": 1}
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 60)
    opened = interface.open_session(stand_in, make_request(cookie))
    assert opened is not None and dict(opened) == {}


def test_key_rotation(interface: SecureCookieSessionInterface) -> None:
    old_app: Any = StandInApp(SECRET_KEY="old")
    session = changed({"a": 1})
    response = Response()
    interface.save_session(old_app, session, response)
    old_cookie = parse_cookie(set_cookie_headers(response)[0])["session"]

    rotated: Any = StandInApp(SECRET_KEY="new", SECRET_KEY_FALLBACKS=["older", "old"])
    opened = interface.open_session(rotated, make_request(old_cookie))
    assert opened is not None and dict(opened) == {"a": 1}

    opened["b"] = 2
    response = Response()
    interface.save_session(rotated, opened, response)
    new_cookie = parse_cookie(set_cookie_headers(response)[0])["session"]
    only_new: Any = StandInApp(SECRET_KEY="new")
    reopened = interface.open_session(only_new, make_request(new_cookie))
    assert reopened is not None and dict(reopened) == {"a": 1, "b": 2}
    dropped = interface.open_session(only_new, make_request(old_cookie))
    assert dropped is not None and dict(dropped) == {}


def test_save_unchanged_session_sets_nothing(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    response = Response()
    interface.save_session(stand_in, SecureCookieSession({"a": 1}), response)
    assert set_cookie_headers(response) == []
    assert "Vary" not in response.headers


def test_save_accessed_session_varies_on_cookie(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    session = SecureCookieSession({"a": 1})
    assert session["a"] == 1
    response = Response()
    interface.save_session(stand_in, session, response)
    assert set_cookie_headers(response) == []
    assert response.headers["Vary"] == "Cookie"


def test_save_emptied_session_deletes_cookie_with_same_options(
    interface: SecureCookieSessionInterface,
) -> None:
    app: Any = StandInApp(
        SECRET_KEY="secret",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/app",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PARTITIONED=True,
    )
    session = SecureCookieSession({"a": 1})
    session.clear()
    response = Response()
    interface.save_session(app, session, response)
    (header,) = set_cookie_headers(response)
    assert header.startswith("session=;")
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in header
    for part in ("Domain=example.com", "Path=/app", "Secure", "HttpOnly"):
        assert part in header
    assert "SameSite=Lax" in header
    assert "Partitioned" in header
    assert response.headers["Vary"] == "Cookie"


def test_save_empty_unmodified_session_does_nothing(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    response = Response()
    interface.save_session(stand_in, SecureCookieSession(), response)
    assert set_cookie_headers(response) == []


def test_save_sets_all_cookie_options(interface: SecureCookieSessionInterface) -> None:
    app: Any = StandInApp(
        SECRET_KEY="secret",
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/app",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PARTITIONED=True,
    )
    session = SecureCookieSession()
    session["a"] = 1
    response = Response()
    interface.save_session(app, session, response)
    (header,) = set_cookie_headers(response)
    assert header.startswith("sid=")
    for part in ("Domain=example.com", "Path=/app", "Secure", "SameSite=Strict"):
        assert part in header
    assert "Partitioned" in header
    assert "HttpOnly" not in header
    assert "Expires" not in header
    assert response.headers["Vary"] == "Cookie"


def test_permanent_session_cookie_expires_and_refreshes(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    stand_in.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=1)
    session = SecureCookieSession({"_permanent": True, "a": 1})
    response = Response()
    interface.save_session(stand_in, session, response)
    (header,) = set_cookie_headers(response)
    assert "Expires=" in header
    assert "Max-Age" not in header
    stand_in.config["SESSION_REFRESH_EACH_REQUEST"] = False
    response = Response()
    interface.save_session(stand_in, SecureCookieSession(dict(session)), response)
    assert set_cookie_headers(response) == []


def test_custom_serializer_tag_reaches_cookie(
    interface: SecureCookieSessionInterface, stand_in: Any
) -> None:
    class Celsius(float):
        pass

    from kettle.json.tag import JSONTag

    class TagCelsius(JSONTag):
        __slots__ = ()
        key = " c"

        def check(self, value: Any) -> bool:
            return isinstance(value, Celsius)

        def to_json(self, value: Any) -> Any:
            return float(value)

        def to_python(self, value: Any) -> Any:
            return Celsius(value)

    interface.serializer.register(TagCelsius, index=0)
    opened = round_trip(interface, stand_in, changed({"t": Celsius(3.5)}))
    assert opened is not None
    assert type(opened["t"]) is Celsius


# --- through a real application ------------------------------------------------------


@pytest.fixture
def kettle_app() -> Kettle:
    app = Kettle(__name__)
    app.testing = True
    app.secret_key = "test-secret"

    @app.route("/set/<name>/<value>")
    def set_value(name: str, value: str) -> str:
        session[name] = value
        return "set"

    @app.route("/get/<name>")
    def get_value(name: str) -> str:
        return repr(session.get(name))

    @app.route("/items")
    def items() -> str:
        return repr(sorted(session.items()))

    @app.route("/clear")
    def clear() -> str:
        session.clear()
        return "cleared"

    @app.route("/permanent")
    def permanent() -> str:
        session.permanent = True
        session["p"] = 1
        return "permanent"

    @app.route("/untouched")
    def untouched() -> str:
        return "untouched"

    return app


def session_cookie(response: Any, name: str = "session") -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return str(header)
    return None


def test_app_session_persists_across_requests(kettle_app: Kettle) -> None:
    client = kettle_app.test_client()
    assert client.get("/get/user").text == "None"
    assert client.get("/set/user/ada").text == "set"
    assert client.get("/set/role/admin").text == "set"
    assert client.get("/get/user").text == "'ada'"
    assert client.get("/items").text == "[('role', 'admin'), ('user', 'ada')]"


def test_app_sessions_are_per_client(kettle_app: Kettle) -> None:
    first = kettle_app.test_client()
    second = kettle_app.test_client()
    first.get("/set/user/ada")
    assert second.get("/get/user").text == "None"


def test_app_tampered_cookie_gives_empty_session(kettle_app: Kettle) -> None:
    client = kettle_app.test_client()
    client.get("/set/user/ada")
    cookie = client.get_cookie("session")
    assert cookie is not None
    payload, timestamp, signature = cookie.value.split(".")
    other = "A" if signature[0] != "A" else "B"
    client.set_cookie("session", f"{payload}.{timestamp}.{other}{signature[1:]}")
    assert client.get("/get/user").text == "None"
    client.set_cookie("session", "not-a-session")
    assert client.get("/get/user").text == "None"


def test_app_expired_cookie_gives_empty_session(
    kettle_app: Kettle, monkeypatch: Any
) -> None:
    kettle_app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=5)
    client = kettle_app.test_client()
    client.get("/set/user/ada")
    assert client.get("/get/user").text == "'ada'"
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 600)
    assert client.get("/get/user").text == "None"


def test_app_key_rotation(kettle_app: Kettle) -> None:
    client = kettle_app.test_client()
    client.get("/set/user/ada")
    kettle_app.config["SECRET_KEY"] = "new-secret"
    assert client.get("/get/user").text == "None"
    kettle_app.config["SECRET_KEY_FALLBACKS"] = ["test-secret"]
    assert client.get("/get/user").text == "'ada'"
    client.get("/set/role/admin")
    kettle_app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/items").text == "[('role', 'admin'), ('user', 'ada')]"


def test_app_vary_cookie_only_when_session_used(kettle_app: Kettle) -> None:
    client = kettle_app.test_client()
    response = client.get("/get/user")
    assert response.headers["Vary"] == "Cookie"
    assert session_cookie(response) is None
    response = client.get("/untouched")
    assert "Vary" not in response.headers
    assert session_cookie(response) is None


def test_app_unchanged_session_is_not_resent(kettle_app: Kettle) -> None:
    client = kettle_app.test_client()
    assert session_cookie(client.get("/set/user/ada")) is not None
    assert session_cookie(client.get("/get/user")) is None


def test_app_emptied_session_deletes_cookie(kettle_app: Kettle) -> None:
    kettle_app.config.update(
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    client = kettle_app.test_client()
    client.get("https://example.com/set/user/ada")
    assert client.get_cookie("session", domain="example.com") is not None
    response = client.get("https://example.com/clear")
    header = session_cookie(response)
    assert header is not None
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in header
    for part in ("Domain=example.com", "Path=/", "Secure", "HttpOnly", "Lax"):
        assert part in header
    assert response.headers["Vary"] == "Cookie"
    assert client.get_cookie("session", domain="example.com") is None
    assert client.get("https://example.com/get/user").text == "None"


def test_app_cookie_options(kettle_app: Kettle) -> None:
    kettle_app.config.update(
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/set",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PARTITIONED=True,
    )
    response = kettle_app.test_client().get("https://example.com/set/a/b")
    header = session_cookie(response, "sid")
    assert header is not None
    for part in (
        "Domain=example.com",
        "Path=/set",
        "Secure",
        "SameSite=Strict",
        "Partitioned",
    ):
        assert part in header
    assert "HttpOnly" not in header
    assert "Expires" not in header
    assert session_cookie(response) is None


def test_app_cookie_path_defaults_to_application_root(kettle_app: Kettle) -> None:
    kettle_app.config["APPLICATION_ROOT"] = "/root"
    header = session_cookie(kettle_app.test_client().get("/set/a/b"))
    assert header is not None
    assert "Path=/root" in header


def test_app_permanent_session_expires_and_refreshes(kettle_app: Kettle) -> None:
    kettle_app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=2)
    client = kettle_app.test_client()
    header = session_cookie(client.get("/permanent"))
    assert header is not None
    assert "Expires=" in header
    refreshed = session_cookie(client.get("/get/p"))
    assert refreshed is not None and "Expires=" in refreshed
    kettle_app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert session_cookie(client.get("/get/p")) is None
    assert client.get("/get/p").text == "1"


def test_app_session_keeps_tagged_types(kettle_app: Kettle) -> None:
    @kettle_app.route("/typed")
    def typed() -> str:
        if "value" not in session:
            session["value"] = {"t": (1, b"x"), " u": "collides"}
            return "stored"
        value = session["value"]
        assert value == {"t": (1, b"x"), " u": "collides"}
        return type(value["t"]).__name__

    client = kettle_app.test_client()
    assert client.get("/typed").text == "stored"
    assert client.get("/typed").text == "tuple"


def test_app_without_secret_key_reads_but_cannot_write() -> None:
    app = Kettle(__name__)
    app.testing = True

    @app.route("/read")
    def read() -> str:
        return f"{session.get('a')!r} {len(session)} {isinstance(session, NullSession)}"

    @app.route("/write")
    def write() -> str:
        session["a"] = 1
        return "written"

    client = app.test_client()
    response = client.get("/read")
    assert response.text == "None 0 True"
    assert session_cookie(response) is None
    with pytest.raises(RuntimeError, match="no secret key was set"):
        client.get("/write")


def test_cookies_are_interchangeable_with_flask(kettle_app: Kettle) -> None:
    import flask

    flask_app = flask.Flask(__name__)
    flask_app.secret_key = "test-secret"
    value = {"t": (1, b"x"), "m": Markup("<b>"), " d": "collides"}

    def flask_set() -> str:
        flask.session["value"] = value
        return "set"

    def flask_get() -> str:
        return repr(flask.session.get("value") == value)

    flask_app.add_url_rule("/set", view_func=flask_set)
    flask_app.add_url_rule("/get", view_func=flask_get)

    @kettle_app.route("/set-typed")
    def kettle_set() -> str:
        session["value"] = value
        return "set"

    @kettle_app.route("/get-typed")
    def kettle_get() -> str:
        return repr(session.get("value") == value)

    flask_client = flask_app.test_client()
    flask_client.get("/set")
    flask_cookie = flask_client.get_cookie("session")
    kettle_client = kettle_app.test_client()
    kettle_client.get("/set-typed")
    kettle_cookie = kettle_client.get_cookie("session")
    assert flask_cookie is not None and kettle_cookie is not None

    kettle_client.set_cookie("session", flask_cookie.value)
    assert kettle_client.get("/get-typed").text == "True"
    flask_client.set_cookie("session", kettle_cookie.value)
    assert flask_client.get("/get").text == "True"


def test_app_session_transaction_round_trip(kettle_app: Kettle) -> None:
    client = kettle_app.test_client()
    with client.session_transaction() as sess:
        sess["user"] = "grace"
    assert client.get("/get/user").text == "'grace'"
    client.get("/set/role/admin")
    with client.session_transaction() as sess:
        assert dict(sess) == {"user": "grace", "role": "admin"}
