"""Sessions: per-user data that lives across requests, stored in a signed cookie.

The app's ``session_interface`` opens a session for each request that uses one and
saves it into the response. The default, :class:`SecureCookieSessionInterface`,
keeps the whole session in a cookie signed with ``SECRET_KEY``: users can read it
but not change it. Without a secret key the session is a :class:`NullSession`,
readable and empty, which raises on the first write.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import MutableMapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from itsdangerous import BadData, Signer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from werkzeug.datastructures import CallbackDict
from werkzeug.http import dump_cookie

from .json.tag import TaggedJSONSerializer
from .signing import CookieCodec

if TYPE_CHECKING:
    from .app import Kettle
    from .wrappers import Request, Response

__all__ = [
    "NullSession",
    "SecureCookieSession",
    "SecureCookieSessionInterface",
    "SessionInterface",
    "SessionMixin",
    "session_json_serializer",
]


class SessionMixin(MutableMapping[str, Any]):
    """The attributes every session has, on top of being a mutable mapping."""

    #: True when the session was created for this request rather than read from it.
    new = False
    #: True when the session changed and must be saved.
    modified = True
    #: True when the session was read or written, so the response varies on it.
    accessed = False

    @property
    def permanent(self) -> bool:
        """Whether the session outlives the browser session.

        A permanent session's cookie expires after ``PERMANENT_SESSION_LIFETIME``;
        otherwise it is deleted when the browser closes. Stored under the
        ``_permanent`` key.
        """
        return bool(self.get("_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)


class SecureCookieSession(CallbackDict[str, Any], SessionMixin):
    """The session of :class:`SecureCookieSessionInterface`: a dict that tracks use.

    Any change sets ``modified`` and ``accessed``; reading a key, its presence or the
    length sets ``accessed``.
    """

    modified = False
    accessed = False

    def __init__(self, initial: Any = None) -> None:
        super().__init__(initial, _mark_modified)

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)

    def __contains__(self, key: object) -> bool:
        self.accessed = True
        return super().__contains__(key)

    def __len__(self) -> int:
        self.accessed = True
        return super().__len__()


def _mark_modified(session: SecureCookieSession) -> None:
    session.modified = True
    session.accessed = True


class NullSession(SecureCookieSession):
    """The session used when sessions are unavailable: empty, and every write raises.

    It stands in when no ``SECRET_KEY`` is set, so that reading the session works
    and a write explains what is missing.
    """

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError(
            "The session is unavailable because no secret key was set. Set"
            " `app.secret_key` (or `SECRET_KEY` in the app's config) to a long"
            " random value, for example one made with"
            " `python -c 'import secrets; print(secrets.token_hex())'`, and keep"
            " it out of version control."
        )

    __setitem__ = __delitem__ = clear = pop = popitem = update = _fail
    setdefault = _fail


class SessionInterface:
    """How an app opens and saves sessions; subclass it to store sessions elsewhere.

    Implement :meth:`open_session` and :meth:`save_session`. The ``get_cookie_*``
    methods read the ``SESSION_COOKIE_*`` config, for interfaces that use a cookie.
    """

    #: The class of the session used when :meth:`open_session` returns None.
    null_session_class: type[SessionMixin] = NullSession
    #: Whether the interface stores sessions with pickle (informational).
    pickle_based = False

    def make_null_session(self, app: Kettle) -> SessionMixin:
        """Return the session used when no real one can be opened."""
        return self.null_session_class()

    def is_null_session(self, obj: object) -> bool:
        """Return whether ``obj`` is a null session, which is never saved."""
        return isinstance(obj, self.null_session_class)

    def get_cookie_name(self, app: Kettle) -> str:
        """The cookie's name, from ``SESSION_COOKIE_NAME``."""
        return app.config["SESSION_COOKIE_NAME"]  # type: ignore[no-any-return]

    def get_cookie_domain(self, app: Kettle) -> str | None:
        """The cookie's domain, from ``SESSION_COOKIE_DOMAIN``; None for this host."""
        return app.config["SESSION_COOKIE_DOMAIN"]  # type: ignore[no-any-return]

    def get_cookie_path(self, app: Kettle) -> str:
        """The cookie's path: ``SESSION_COOKIE_PATH``, else ``APPLICATION_ROOT``."""
        config = app.config
        return config["SESSION_COOKIE_PATH"] or config["APPLICATION_ROOT"]  # type: ignore[no-any-return]

    def get_cookie_httponly(self, app: Kettle) -> bool:
        """Whether scripts in the page cannot read the cookie."""
        return app.config["SESSION_COOKIE_HTTPONLY"]  # type: ignore[no-any-return]

    def get_cookie_secure(self, app: Kettle) -> bool:
        """Whether the browser sends the cookie over HTTPS only."""
        return app.config["SESSION_COOKIE_SECURE"]  # type: ignore[no-any-return]

    def get_cookie_samesite(self, app: Kettle) -> str | None:
        """The cookie's ``SameSite`` policy (``"Strict"``, ``"Lax"`` or None)."""
        return app.config["SESSION_COOKIE_SAMESITE"]  # type: ignore[no-any-return]

    def get_cookie_partitioned(self, app: Kettle) -> bool:
        """Whether the cookie is partitioned by top-level site (CHIPS)."""
        return app.config["SESSION_COOKIE_PARTITIONED"]  # type: ignore[no-any-return]

    def get_expiration_time(
        self, app: Kettle, session: SessionMixin
    ) -> datetime | None:
        """When a permanent session's cookie expires; None for a browser session."""
        if not session.permanent:
            return None
        return datetime.now(timezone.utc) + _lifetime(app)

    def should_set_cookie(self, app: Kettle, session: SessionMixin) -> bool:
        """Whether to send the cookie again: the session changed, or it is permanent
        and ``SESSION_REFRESH_EACH_REQUEST`` renews its expiry on every request.
        """
        if session.modified:
            return True
        return session.permanent and bool(app.config["SESSION_REFRESH_EACH_REQUEST"])

    def open_session(self, app: Kettle, request: Request) -> SessionMixin | None:
        """Load the session of ``request``; None means use the null session."""
        raise NotImplementedError

    def save_session(
        self, app: Kettle, session: SessionMixin, response: Response
    ) -> None:
        """Store ``session`` in ``response`` (or elsewhere) at the end of a request."""
        raise NotImplementedError


def _signing_keys(app: Kettle) -> tuple[str | bytes, ...] | None:
    """The app's secret keys, oldest first (the last one signs); None without one."""
    config = app.config
    secret_key = config["SECRET_KEY"]
    if not secret_key:
        return None
    return (*(config["SECRET_KEY_FALLBACKS"] or ()), secret_key)


def _lifetime(app: Kettle) -> timedelta:
    value = app.config["PERMANENT_SESSION_LIFETIME"]
    if isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)


class _SessionSigner(TimestampSigner):
    """A signer that derives each signing key once instead of on every call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[str | bytes | None, bytes] = {}

    # PERF: the derived key depends only on the secret key and the salt, and
    # deriving it is an HMAC: about a third of what verifying a cookie costs.
    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        derived = self._derived.get(secret_key)
        if derived is None:
            derived = self._derived[secret_key] = super().derive_key(secret_key)
        return derived


_COMPRESS_FROM = 256

# A cookie value Werkzeug writes as it is, without quotes (what signers produce).
_PLAIN_VALUE = re.compile(r"[\w.\-]*", re.ASCII)

# What signs and reads session cookies: the fast codec or an itsdangerous serializer.
_Codec = CookieCodec | URLSafeTimedSerializer


class _SessionSerializer(URLSafeTimedSerializer):
    """A serializer that keeps one signer per salt instead of one per call."""

    default_signer = _SessionSigner

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._by_salt: dict[str | bytes | None, Signer] = {}

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        signer = self._by_salt.get(salt)
        if signer is None:
            signer = self._by_salt[salt] = super().make_signer(salt)
        return signer

    def dump_payload(self, obj: Any) -> bytes:
        # Compressing a small session never makes it shorter; don't try (the
        # reader accepts either form, as the "." prefix marks compression).
        json = self.serializer.dumps(obj, **self.serializer_kwargs)
        data = json.encode() if isinstance(json, str) else json
        if len(data) < _COMPRESS_FROM:
            return base64_encode(data)
        return super().dump_payload(obj)


class SecureCookieSessionInterface(SessionInterface):
    """Sessions kept in a cookie signed with itsdangerous.

    The cookie is signed with ``SECRET_KEY``. Cookies signed with a key listed in
    ``SECRET_KEY_FALLBACKS`` are still accepted, so keys can be rotated without
    logging everyone out; new cookies are always signed with ``SECRET_KEY``.
    A cookie older than ``PERMANENT_SESSION_LIFETIME``, tampered with or unreadable
    gives a new, empty session.
    """

    #: Separates session signatures from other signatures made with the same key.
    salt = "cookie-session"
    #: The hash function of the HMAC signature. hashlib's own constructor, so that
    #: ``hmac`` takes its OpenSSL fast path (a Python wrapper makes it 3x slower).
    digest_method = staticmethod(hashlib.sha1)
    #: How itsdangerous derives the signing key from the secret key.
    key_derivation = "hmac"
    #: The session class returned by :meth:`open_session`.
    session_class: type[SecureCookieSession] = SecureCookieSession

    def __init__(self) -> None:
        #: Turns the session into text and back; register tags on it for more types.
        self.serializer = TaggedJSONSerializer()
        self._signers: dict[tuple[str | bytes, ...], URLSafeTimedSerializer] = {}
        self._codecs: dict[tuple[str | bytes, ...], _Codec] = {}
        self._suffixes: dict[tuple[Any, ...], str] = {}

    def get_signing_serializer(self, app: Kettle) -> URLSafeTimedSerializer | None:
        """The signer for the app's current keys, or None without ``SECRET_KEY``.

        It is built once for each combination of keys and then reused, so set
        ``salt``, ``digest_method``, ``key_derivation`` and ``serializer`` before
        the first request.
        """
        keys = _signing_keys(app)
        if keys is None:
            return None
        signer = self._signers.get(keys)
        if signer is None:
            signer = self._make_signer(keys)
        return signer

    def _make_signer(self, keys: tuple[str | bytes, ...]) -> URLSafeTimedSerializer:
        if len(self._signers) >= 8:
            self._signers.clear()
        # itsdangerous signs with the last key and accepts every key when reading.
        # Its signature wants all str or all bytes; mixing them works at run time.
        secret_keys: Any = list(keys)
        signer = _SessionSerializer(
            secret_keys,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )
        self._signers[keys] = signer
        return signer

    def _codec(self, app: Kettle) -> _Codec | None:
        # PERF: with the default key derivation, cookies are signed and read by a
        # CookieCodec (same format, a third of the cost); anything else, or a
        # subclass that builds its own signer, goes through itsdangerous.
        keys = _signing_keys(app)
        if keys is None:
            return None
        codec = self._codecs.get(keys)
        if codec is None:
            codec = self._make_codec(app, keys)
        return codec

    def _make_codec(self, app: Kettle, keys: tuple[str | bytes, ...]) -> _Codec | None:
        codec: _Codec | None = None
        default_signer = (
            type(self).get_signing_serializer
            is SecureCookieSessionInterface.get_signing_serializer
        )
        if default_signer and self.key_derivation == "hmac":
            try:
                digest = self.digest_method().name
                codec = CookieCodec(list(keys), self.salt, digest, self.serializer)
            except (TypeError, ValueError, AttributeError):
                codec = None
        if codec is None:
            codec = self.get_signing_serializer(app)
            if codec is None:
                return None
        if len(self._codecs) >= 8:
            self._codecs.clear()
        self._codecs[keys] = codec
        return codec

    def open_session(self, app: Kettle, request: Request) -> SecureCookieSession | None:
        """Read the session from the request's cookie; a new one if there is none."""
        codec = self._codec(app)
        if codec is None:
            return None
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return self._new_session()
        max_age = int(_lifetime(app).total_seconds())
        try:
            data = codec.loads(cookie, max_age=max_age)
        except (BadData, ValueError):
            return self._new_session()
        if not isinstance(data, dict):
            return self._new_session()
        return self.session_class(data)

    def _new_session(self) -> SecureCookieSession:
        session = self.session_class()
        session.new = True
        return session

    def save_session(
        self, app: Kettle, session: SessionMixin, response: Response
    ) -> None:
        """Set, refresh or delete the session cookie on ``response``.

        The response gets ``Vary: Cookie`` when the session was used or the cookie
        changes, so that caches do not serve one user's page to another.
        """
        accessed = session.accessed
        if self._update_cookie(app, session, response) or accessed:
            # PERF: a response without Vary gets the header directly, without
            # parsing it into a header set and writing it back.
            headers = response.headers
            if any(key.lower() == "vary" for key, _ in headers._list):
                response.vary.add("Cookie")
            else:
                headers._list.append(("Vary", "Cookie"))

    def _update_cookie(
        self, app: Kettle, session: SessionMixin, response: Response
    ) -> bool:
        if not session:
            if not session.modified:
                return False
            name = self.get_cookie_name(app)
            response.delete_cookie(name, **self._cookie_options(app))
            return True
        if not self.should_set_cookie(app, session):
            return False
        codec = self._codec(app)
        if codec is None:
            return False
        name = self.get_cookie_name(app)
        value = codec.dumps(dict(session))
        expires = self.get_expiration_time(app, session)
        options = self._cookie_options(app)
        if expires is None and _PLAIN_VALUE.fullmatch(value):
            header = f"{name}={value}{self._cookie_suffix(name, options)}"
            if len(header) <= response.max_cookie_size:
                response.headers._list.append(("Set-Cookie", header))
                return True
        response.set_cookie(name, value, expires=expires, **options)
        return True

    def _cookie_suffix(self, name: str, options: dict[str, Any]) -> str:
        # PERF: a browser-session cookie's attributes depend only on the config:
        # Werkzeug writes them once, then each cookie is the name, value and these.
        key = (name, *options.values())
        suffix = self._suffixes.get(key)
        if suffix is None:
            empty = dump_cookie(name, "", **options)
            prefix = f"{name}="
            if not empty.startswith(prefix):
                raise ValueError(f"Cannot write a cookie named {name!r}.")
            if len(self._suffixes) >= 8:
                self._suffixes.clear()
            suffix = self._suffixes[key] = empty[len(prefix) :]
        return suffix

    def _cookie_options(self, app: Kettle) -> dict[str, Any]:
        return {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app),
            "partitioned": self.get_cookie_partitioned(app),
        }


#: The tagged JSON serializer used for session cookies (Flask's name for it).
session_json_serializer = TaggedJSONSerializer()
