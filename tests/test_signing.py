"""The session cookie codec writes and reads exactly what itsdangerous does."""

from __future__ import annotations

import hashlib
import hmac
import time
from unittest import mock

import pytest
from itsdangerous import URLSafeTimedSerializer

from kettle import Kettle
from kettle.json.tag import TaggedJSONSerializer
from kettle.signing import CookieCodec, _KeyedHMAC

SALT = "cookie-session"


def reference(keys: list[str], digest=hashlib.sha1) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        keys,
        salt=SALT,
        serializer=TaggedJSONSerializer(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": digest},
    )


def codec(keys: list[str], digest: str = "sha1") -> CookieCodec:
    return CookieCodec(list(keys), SALT, digest, TaggedJSONSerializer())


VALUES = [
    {},
    {"n": 1},
    {"user": "ünïcode ✓", "ids": [1, 2, 3], "t": (1, "x")},
    {"big": "x" * 2000},  # compressible: itsdangerous compresses it
    {"noise": "".join(chr(33 + (i * 7919) % 90) for i in range(400))},
]


@pytest.mark.parametrize("value", VALUES)
def test_same_cookie_as_itsdangerous(value: dict) -> None:
    now = 1_700_000_000
    with mock.patch("time.time", return_value=now):
        ours = codec(["secret"]).dumps(value)
        theirs = reference(["secret"]).dumps(value)
    assert ours == theirs
    assert reference(["secret"]).loads(ours) == value
    assert codec(["secret"]).loads(theirs) == value


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512", "sha3_256", "blake2b"])
@pytest.mark.parametrize("key_length", [0, 1, 20, 64, 65, 128, 129, 300])
def test_keyed_hmac_is_the_standard_hmac(digest: str, key_length: int) -> None:
    # Keys shorter than, equal to and longer than every block size (64 to 136).
    key = bytes((i * 31 + 7) % 256 for i in range(key_length))
    keyed = _KeyedHMAC(key, digest)
    for message in (b"", b"payload.stamp", bytes(range(256)) * 3):
        assert keyed.sign(message) == hmac.digest(key, message, digest)
    assert keyed.sign(b"again") == keyed.sign(b"again")  # the states are copied


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_other_digests_match(digest: str) -> None:
    now = 1_700_000_000
    with mock.patch("time.time", return_value=now):
        ours = codec(["k"], digest).dumps({"a": 1})
        theirs = reference(["k"], getattr(hashlib, digest)).dumps({"a": 1})
    assert ours == theirs


def test_rotated_keys_read_old_cookies_and_sign_with_newest() -> None:
    old_cookie = codec(["old"]).dumps({"who": "old"})
    rotated = codec(["old", "new"])
    assert rotated.loads(old_cookie) == {"who": "old"}
    fresh = rotated.dumps({"who": "new"})
    assert codec(["new"]).loads(fresh) == {"who": "new"}
    with pytest.raises(ValueError, match="signature"):
        codec(["old"]).loads(fresh)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda c: c[:-2] + ("AA" if not c.endswith("AA") else "BB"),
        lambda c: "x" + c,
        lambda c: c.replace(".", "", 1),
        lambda c: "no-dots-at-all",
        lambda c: "",
        lambda c: c + "!",
        lambda c: "é" + c,
    ],
)
def test_forged_or_broken_cookies_are_refused(mangle) -> None:
    cookie = codec(["s"]).dumps({"admin": False})
    with pytest.raises(ValueError):
        codec(["s"]).loads(mangle(cookie))


def test_age_is_checked_both_ways() -> None:
    c = codec(["s"])
    cookie = c.dumps({"a": 1}, now=time.time() - 100)
    assert c.loads(cookie, max_age=200) == {"a": 1}
    with pytest.raises(ValueError, match="expired"):
        c.loads(cookie, max_age=50)
    future = c.dumps({"a": 1}, now=time.time() + 100)
    with pytest.raises(ValueError, match="expired"):
        c.loads(future, max_age=1000)
    assert c.loads(future) == {"a": 1}  # no max_age: no age check


def test_session_interface_uses_codec_and_itsdangerous_reads_it() -> None:
    app = Kettle(__name__)
    app.secret_key = "top"

    @app.route("/set")
    def set_() -> str:
        from kettle import session

        session["v"] = [1, 2]
        return "ok"

    client = app.test_client()
    response = client.get("/set")
    assert response.headers["Vary"] == "Cookie"
    cookie = client.get_cookie("session")
    assert cookie is not None
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer is not None
    assert serializer.loads(cookie.value) == {"v": [1, 2]}


def test_custom_key_derivation_falls_back_to_itsdangerous() -> None:
    from kettle.sessions import SecureCookieSessionInterface

    class Concat(SecureCookieSessionInterface):
        key_derivation = "concat"

    app = Kettle(__name__)
    app.secret_key = "top"
    app.session_interface = Concat()

    @app.route("/")
    def index() -> str:
        from kettle import session

        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    client = app.test_client()
    assert client.get("/").text == "1"
    assert client.get("/").text == "2"
    cookie = client.get_cookie("session")
    assert cookie is not None
    with pytest.raises(ValueError):
        codec(["top"]).loads(cookie.value)  # a different key: not the fast codec


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"SESSION_COOKIE_DOMAIN": "example.com", "SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_SAMESITE": "Lax", "SESSION_COOKIE_HTTPONLY": False},
        {"SESSION_COOKIE_PATH": "/app path/", "SESSION_COOKIE_PARTITIONED": True},
        {"SESSION_COOKIE_NAME": "sid", "SESSION_COOKIE_SECURE": True},
    ],
)
def test_set_cookie_header_is_what_werkzeug_writes(config: dict) -> None:
    from werkzeug.http import dump_cookie

    from kettle import session

    app = Kettle(__name__)
    app.secret_key = "top"
    app.config.update(config)

    @app.route("/")
    def index() -> str:
        session["n"] = 1
        return "ok"

    response = app.test_client().get("/")
    (header,) = response.headers.getlist("Set-Cookie")
    name = app.config["SESSION_COOKIE_NAME"]
    value = header.split(";")[0].split("=", 1)[1]
    options = app.session_interface._cookie_options(app)
    assert header == dump_cookie(name, value, **options)
    assert codec(["top"]).loads(value) == {"n": 1}


def test_permanent_session_cookie_carries_expiry() -> None:
    from kettle import session

    app = Kettle(__name__)
    app.secret_key = "top"

    @app.route("/")
    def index() -> str:
        session.permanent = True
        session["n"] = 1
        return "ok"

    header = app.test_client().get("/").headers["Set-Cookie"]
    assert "Expires=" in header


def test_oversized_session_cookie_still_warns() -> None:
    from kettle import session

    app = Kettle(__name__)
    app.secret_key = "top"

    @app.route("/")
    def index() -> str:
        session["blob"] = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))
        return "ok"

    with pytest.warns(UserWarning, match="cookie is too large"):
        app.test_client().get("/")
