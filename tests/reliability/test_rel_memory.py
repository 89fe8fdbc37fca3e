"""Memory: after a warm-up, resident memory grows less than 5% over 200,000
in-process requests (``app.wsgi_app`` driven directly) that use ``g``, the signed
cookie session and ``kettle.spawn``.
"""

from __future__ import annotations

import gc
import io
import os
import sys
import time
from typing import Any

import pytest
from rel_support import report

from kettle import Kettle, g, request, session, spawn

REQUESTS = 200_000
WARM_UP = 20_000
WAIT_EVERY = 500  # wait for the spawned work this often
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident memory of this process, in bytes (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def make_app() -> tuple[Kettle, list[int]]:
    app = Kettle("kettle_reliability_memory", static_folder=None)
    app.config.update(SECRET_KEY="memory key", BACKGROUND_WORKERS=2)
    done = [0]

    def background(n: int) -> None:
        assert g.n == n
        done[0] += 1

    @app.before_request
    def load() -> None:
        g.n = int(request.args["n"])

    @app.get("/")
    def index() -> str:
        seen = session.get("n", 0)
        session["n"] = g.n
        spawn(background, g.n)
        return f"{seen}->{g.n}"

    return app, done


def drive(app: Kettle, start: int, count: int, cookie: str) -> str:
    """Send ``count`` requests to ``app.wsgi_app``; the last session cookie."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc: Any = None):  # type: ignore[no-untyped-def]
        statuses.append(status)
        for name, value in headers:
            if name == "Set-Cookie" and value.startswith("session="):
                nonlocal cookie
                cookie = value.split(";", 1)[0].split("=", 1)[1]

    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for n in range(start, start + count):
        environ = dict(base)
        environ["QUERY_STRING"] = f"n={n}"
        environ["HTTP_COOKIE"] = f"session={cookie}"
        environ["wsgi.input"] = io.BytesIO()
        body = app.wsgi_app(environ, start_response)
        try:
            assert b"".join(body).endswith(f"->{n}".encode())
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if n % WAIT_EVERY == 0:
            assert app.background.wait(10)
    assert app.background.wait(10)
    assert statuses == ["200 OK"] * count
    return cookie


@pytest.mark.timeout(240)
def test_memory_is_stable_over_200k_requests(request: pytest.FixtureRequest) -> None:
    app, done = make_app()
    cookie = drive(app, 0, WARM_UP, "")
    gc.collect()
    before = rss()
    started = time.monotonic()
    drive(app, WARM_UP, REQUESTS, cookie)
    elapsed = time.monotonic() - started
    gc.collect()
    after = rss()
    app.shutdown(5)
    assert done[0] == WARM_UP + REQUESTS
    growth = (after - before) / before
    figures = (
        f"memory: {REQUESTS} requests (after {WARM_UP} to warm up) in"
        f" {elapsed:.1f} s, using g, the session and spawned work: RSS"
        f" {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after"
        f" ({growth:+.2%})"
    )
    request.node.user_properties += [("rss_before", before), ("rss_after", after)]
    report(request, "rss_growth", growth, figures)
    assert growth < 0.05, figures
