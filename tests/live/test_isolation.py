"""Concurrent requests on real servers never see each other's context.

Hundreds of simultaneous requests, mixing a sync view, an async view and streamed
bodies (sync and async generators), each carrying its own token through the query
string, ``g``, the session and an after-request header; every response must carry
only its own token, and the app (``tests/live/apps/isoapp.py``) must have seen no
leaked state and torn down every request once. On uvicorn and hypercorn (ASGI), on
Werkzeug's threaded server in a thread of this process, and on gunicorn's gthread
worker (WSGI).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from kettle import Kettle
from kettle.globals import _cv_app

KINDS = ("sync", "async", "stream", "async-stream")
PER_KIND = 60  # 240 concurrent requests
APPS_DIR = Path(__file__).parent / "apps"


def load_isoapp() -> Any:
    """A fresh, private copy of the isolation app module, for this process."""
    spec = importlib.util.spec_from_file_location(
        "kettle_live_isoapp", APPS_DIR / "isoapp.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def isoapp() -> Kettle:
    app: Kettle = load_isoapp().app
    return app


class QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


def leak_checking(app: Kettle, seen: list[Any]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware recording, for each request once it is over, its path and the
    contexts active in the server's thread before and after it (none, both)."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        before = _cv_app.get(None)
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            seen.append((environ["PATH_INFO"], before, _cv_app.get(None)))

    return middleware


@pytest.fixture(
    params=["uvicorn", "hypercorn", "werkzeug-threaded", "gunicorn-gthread"]
)
def target(
    request: pytest.FixtureRequest,
    start_live_server: Callable[..., Any],
    isoapp: Kettle,
) -> Iterator[tuple[str, list[Any] | None]]:
    """The base URL of a server of the isolation app, and its leak record if the
    server runs in this process."""
    if request.param != "werkzeug-threaded":
        server = start_live_server(request.param, "isoapp", ready_path="/stats")
        try:
            yield server.base_url, None
        finally:
            server.stop()
        return
    seen: list[Any] = []
    server = make_server(
        "127.0.0.1",
        0,
        leak_checking(isoapp, seen),  # type: ignore[arg-type]
        threaded=True,
        request_handler=QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def no_cookie_jar() -> httpx.Cookies:
    """A cookie jar that stores nothing, so that every request is independent."""
    return httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


def session_cookie(response: httpx.Response) -> str:
    values = [
        header.split(";", 1)[0].split("=", 1)[1]
        for header in response.headers.get_list("set-cookie")
        if header.startswith("session=")
    ]
    assert len(values) == 1, response.headers.get_list("set-cookie")
    return values[0]


async def fire(base_url: str, tokens: list[tuple[str, str]]) -> list[httpx.Response]:
    """Send every request at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        trust_env=False,
        base_url=base_url,
        timeout=60,
        limits=limits,
        cookies=no_cookie_jar(),
    ) as client:
        return await asyncio.gather(
            *(client.get(f"/iso/{kind}", params={"token": t}) for kind, t in tokens)
        )


def wait_for_stats(base_url: str, done: Callable[[dict[str, int]], bool]) -> Any:
    """The app's counters, once ``done`` says so (or after 10 s)."""
    deadline = time.monotonic() + 10
    with httpx.Client(trust_env=False, base_url=base_url, timeout=5) as http:
        while True:
            stats = http.get("/stats").json()
            if done(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.02)


@pytest.mark.timeout(120)
def test_concurrent_requests_see_only_their_own_context(
    target: tuple[str, list[Any] | None], isoapp: Kettle
) -> None:
    base_url, seen = target
    before = wait_for_stats(base_url, lambda s: True)
    tokens = [
        (kind, f"{kind}-{i}-{uuid.uuid4().hex[:12]}")
        for i in range(PER_KIND)
        for kind in KINDS
    ]
    responses = asyncio.run(fire(base_url, tokens))

    serializer = isoapp.session_interface.get_signing_serializer(isoapp)  # type: ignore[attr-defined]
    assert serializer is not None
    wrong: list[str] = []
    for (kind, token), response in zip(tokens, responses, strict=True):
        assert "cookie" not in response.request.headers
        assert response.status_code == 200, response.text
        if kind.endswith("stream"):
            body = response.text
            expected: Any = f"kind={kind};arg={token};g={token};session={token};"
        else:
            body = response.json()
            expected = {"kind": kind, "arg": token, "g": token, "session": token}
        if (
            body != expected
            or response.headers.get("x-g-token") != token
            or serializer.loads(session_cookie(response)) != {"token": token}
        ):
            wrong.append(f"{kind} {token}: {body!r} {response.headers}")
    assert not wrong, f"{len(wrong)} responses carried another token:\n" + "\n".join(
        wrong[:5]
    )

    total = len(tokens)
    stats = wait_for_stats(
        base_url, lambda s: s["torn_down"] - before["torn_down"] >= total
    )
    assert stats["started"] - before["started"] == total
    assert stats["torn_down"] - before["torn_down"] == total
    assert stats["active"] == 0
    assert stats["peak"] > 1, "the requests did not overlap"
    leaks = {
        name: stats[name] - before[name]
        for name in (
            "g_not_fresh",
            "session_not_empty",
            "cookie_received",
            "teardown_token_mismatch",
            "teardown_errors",
        )
    }
    assert leaks == dict.fromkeys(leaks, 0)
    if seen is not None:
        # In the in-process server: no context active in a server thread around any
        # request.
        deadline = time.monotonic() + 10
        while sum(path.startswith("/iso/") for path, *_ in seen) < total:
            assert time.monotonic() < deadline, "requests did not finish"
            time.sleep(0.02)
        assert [(b, a) for _, b, a in seen if b is not None or a is not None] == []
    print(f"peak concurrent contexts: {stats['peak']}", file=sys.stderr)
