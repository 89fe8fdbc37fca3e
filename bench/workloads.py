"""The HTTP workloads shared by the WSGI, ASGI and route-scaling suites.

A workload is one request (method, path, query, body, headers) and the
validator of its response.  Every app factory serves exactly one workload, so
an app carries only what that workload needs (no session middleware on the
hello app, no database hook on the user app).

Shared resources live here too: the session secret, the app name read by the
ctx workload, and the sqlite3 database file of the db workload (created once
per run in a temporary directory, removed at exit).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

Headers = list[tuple[str, str]]
Response = tuple[str, Headers, bytes]  # (status line or code, headers, body)

SECRET_KEY = "bench-secret-key-not-for-production"
SESSION_COOKIE = "session"
APP_NAME = "bench"  # what the ctx workload reads as "the app name" on peers
CTX_READS = 20
ECHO_DOC = {"name": "kettle", "tags": ["wsgi", "asgi"], "n": 3, "ok": True}
ECHO_BODY = json.dumps(ECHO_DOC).encode()


class NotApplicableError(Exception):
    """The framework has no such feature (e.g. Falcon has no sessions)."""


# --- the sqlite3 file of the db workload --------------------------------------

_db_dir: Path | None = None


def db_path() -> str:
    """Path of a small sqlite3 file database, created on first use."""
    global _db_dir
    if _db_dir is None:
        _db_dir = Path(tempfile.mkdtemp(prefix="kettle-bench-"))
        atexit.register(shutil.rmtree, _db_dir, ignore_errors=True)
        con = sqlite3.connect(_db_dir / "bench.sqlite3")
        with con:
            con.execute("create table if not exists item (id integer primary key)")
        con.close()
    return str(_db_dir / "bench.sqlite3")


# --- validators ---------------------------------------------------------------


def _status_problems(status: str) -> list[str]:
    return [] if status.startswith("200") else [f"status {status!r}, expected 200"]


def header(headers: Headers, name: str) -> str:
    return next((v for k, v in headers if k.lower() == name.lower()), "")


def expect_text(expected: bytes, response: Response) -> list[str]:
    status, _headers, body = response
    problems = _status_problems(status)
    if body != expected:
        problems.append(f"body {body[:80]!r}, expected {expected!r}")
    return problems


def expect_json(expected: object, response: Response) -> list[str]:
    status, headers, body = response
    problems = _status_problems(status)
    content_type = header(headers, "Content-Type")
    if not content_type.startswith("application/json"):
        problems.append(f"content-type {content_type!r}, expected application/json")
    try:
        if json.loads(body) != expected:
            problems.append(f"JSON {body[:80]!r}, expected {expected!r}")
    except ValueError:
        problems.append(f"body is not JSON: {body[:80]!r}")
    return problems


def session_cookie(headers: Headers) -> str | None:
    """``session=<value>`` from the response's Set-Cookie headers, if any."""
    for key, value in headers:
        if key.lower() == "set-cookie":
            pair = value.split(";", 1)[0].strip()
            if pair.startswith(SESSION_COOKIE + "="):
                return pair
    return None


def expect_session(expected_n: int, response: Response) -> list[str]:
    problems = expect_text(str(expected_n).encode(), response)
    if session_cookie(response[1]) is None:
        problems.append(f"no {SESSION_COOKIE!r} cookie set")
    return problems


def expect_ctx(response: Response) -> list[str]:
    status, _headers, body = response
    problems = _status_problems(status)
    method, path, value, *name = body.decode("latin-1").split(" ")
    if (method, path, value) != ("GET", "/ctx", "v") or not name or not name[0]:
        problems.append(f"body {body[:80]!r}, expected b'GET /ctx v <app name>'")
    return problems


# --- workloads ----------------------------------------------------------------


@dataclass(frozen=True)
class HttpWorkload:
    name: str  # row label, also the key the app factories dispatch on
    path: str
    query: str
    validate: Callable[[Response], list[str]]
    method: str = "GET"
    body: bytes = b""
    content_type: str = ""
    # Session workload: the case first makes one request without a cookie
    # (n=1) and sends the cookie it got with every timed request (n=2).
    session: bool = False
    # Peers with one way of doing this workload are measured only under `like`
    # (user (dict) -> user); the ratios of this row then use that cell.
    like: str | None = None


HELLO = "hello"
USER = "user (jsonify)"
USER_DICT = "user (dict)"
ECHO = "echo"
SESSION = "session"
DB = "db"
CTX = "ctx"

USER_JSON = {"id": 7, "q": "x"}

WORKLOADS = [
    HttpWorkload(HELLO, "/hello", "", partial(expect_text, b"Hello, World!")),
    HttpWorkload(USER, "/user/7", "q=x", partial(expect_json, USER_JSON)),
    HttpWorkload(
        USER_DICT, "/user-dict/7", "q=x", partial(expect_json, USER_JSON), like=USER
    ),
    HttpWorkload(
        ECHO,
        "/echo",
        "",
        partial(expect_json, ECHO_DOC),
        method="POST",
        body=ECHO_BODY,
        content_type="application/json",
    ),
    HttpWorkload(SESSION, "/session", "", partial(expect_session, 2), session=True),
    HttpWorkload(DB, "/db", "", partial(expect_text, b"1")),
    HttpWorkload(CTX, "/ctx", "", expect_ctx),
]
BY_NAME = {w.name: w for w in WORKLOADS}


def session_follow_up(
    request: Callable[[str | None], Response], response: Response
) -> list[str]:
    """Send the cookie a session response set; it must be a valid session n=2."""
    cookie = session_cookie(response[1])
    if cookie is None:
        return []  # already reported by the validator
    again = request(cookie)
    return [f"replaying the new cookie: {p}" for p in expect_session(3, again)]


# --- a hand-written signed cookie for the bare apps ---------------------------

_SECRET = SECRET_KEY.encode()


def sign_session(data: dict[str, int]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode("ascii")
    mac = hmac.new(_SECRET, payload.encode("ascii"), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}"


def load_session(cookie_header: str) -> dict[str, int]:
    """The session from a Cookie header; empty if missing or badly signed."""
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            payload, _, mac = value.rpartition(".")
            good = hmac.new(_SECRET, payload.encode("ascii"), hashlib.sha256)
            if hmac.compare_digest(good.hexdigest(), mac):
                return json.loads(base64.urlsafe_b64decode(payload))  # type: ignore[no-any-return]
    return {}
