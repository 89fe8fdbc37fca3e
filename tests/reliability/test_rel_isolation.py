"""Isolation under load: over 100,000 requests on uvicorn and on Werkzeug's threaded
WSGI server, with no cross-talk between them.

Sync, async and streamed (sync and async generator) views, and views that hand work
to ``kettle.spawn`` (a thread, or a coroutine), of ``apps/rel_isoapp.py``. The load
comes from ``loadgen.py`` in a subprocess (httpx, keep-alive connections, a bounded
number in flight); each request carries a unique token that must come back, and only
it, in the body, the ``X-Token`` header and the signed session cookie. The app counts
every leak it sees (``g`` not fresh, a session or cookie it did not set, a teardown
seeing another token, spawned work seeing another token), and reports each spawned
token, which must arrive exactly once.
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
import pytest
from rel_support import (
    ThreadedServer,
    UvicornServer,
    load_app_module,
    report,
    run_loadgen,
    wait_until,
)

from kettle.globals import _cv_app

KINDS = ["sync", "async", "stream", "async-stream", "spawn", "async-spawn"]
SPAWNING = ("spawn", "async-spawn")
CONCURRENCY = 64
#: Load generator processes, sharing the CONCURRENCY connections.
PROCESSES = 4
UVICORN_REQUESTS = 70_000
WSGI_REQUESTS = 30_000
LEAKS = (
    "g_not_fresh",
    "g_dirty_in_view",
    "session_not_empty",
    "cookie_received",
    "teardown_token_mismatch",
    "teardown_errors",
    "spawn_mismatch",
)


def job(base_url: str, total: int, secret_key: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "prefix": uuid.uuid4().hex[:10],
        "kinds": KINDS,
        "total": total,
        "concurrency": CONCURRENCY,
        "secret_key": secret_key,
    }


def spawned_tokens(load: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """The tokens of the requests that spawned work (one piece each)."""
    prefix = load["prefix"]
    return [
        f"{prefix}-{KINDS[i % len(KINDS)]}-{i}"
        for i in range(load["total"])
        if KINDS[i % len(KINDS)] in SPAWNING
    ]


def check_summary(summary: dict[str, Any], total: int) -> None:
    assert summary["errors"] == 0, summary["error_examples"]
    assert summary["wrong"] == 0, (
        f"{summary['wrong']} responses carried another token: "
        f"{summary['wrong_examples']}"
    )
    assert summary["answered"] == total


def check_stats(stats: dict[str, int], total: int) -> None:
    assert stats["started"] == total
    assert stats["torn_down"] == total
    assert stats["appctx_torn_down"] == total
    assert stats["active"] == 0
    assert stats["pending"] == 0
    assert stats["peak"] > 1, "the requests did not overlap"
    leaks = {name: stats[name] for name in LEAKS}
    assert leaks == dict.fromkeys(LEAKS, 0)


def check_spawned(arrived: Iterable[str], expected: list[str]) -> None:
    counts = collections.Counter(arrived)
    twice = [t for t, n in counts.items() if n > 1]
    missing = [t for t in expected if t not in counts]
    unexpected = set(counts) - set(expected)
    assert not twice, f"spawned tokens reported more than once: {twice[:5]}"
    assert not missing, f"{len(missing)} spawned tokens never arrived: {missing[:5]}"
    assert not unexpected, f"unexpected spawned tokens: {sorted(unexpected)[:5]}"


@pytest.mark.timeout(240)
def test_isolation_under_load_uvicorn(
    start_uvicorn: Callable[..., UvicornServer], request: pytest.FixtureRequest
) -> None:
    server = start_uvicorn("rel_isoapp")
    app_module = load_app_module("rel_isoapp")  # for its secret key only
    load = job(server.base_url, UVICORN_REQUESTS, app_module.SECRET_KEY)
    started = time.monotonic()
    summary = run_loadgen(load, PROCESSES, timeout=200)
    check_summary(summary, UVICORN_REQUESTS)

    with httpx.Client(trust_env=False, base_url=server.base_url, timeout=10) as http:
        stats = wait_until(
            lambda: http.get("/stats").json(),
            lambda s: s["pending"] == 0 and s["torn_down"] >= UVICORN_REQUESTS,
        )
        check_stats(stats, UVICORN_REQUESTS)
        arrived = http.get("/spawned").json()["tokens"]
    expected = spawned_tokens(load, summary)
    check_spawned(arrived, expected)
    elapsed = time.monotonic() - started
    assert server.proc.poll() is None, server.log()
    report(
        request,
        "uvicorn_requests",
        UVICORN_REQUESTS,
        f"isolation, uvicorn: {UVICORN_REQUESTS} requests ({summary['counts']}),"
        f" {len(arrived)} spawned tokens each arrived once, {CONCURRENCY} in flight,"
        f" {summary['seconds']:.1f} s of load ({elapsed:.1f} s in all),"
        f" peak {stats['peak']} concurrent contexts, zero cross-talk",
    )
    request.node.user_properties.append(("uvicorn_seconds", summary["seconds"]))


def leak_checking(app: Any, seen: list[Any]) -> Callable[..., Iterable[bytes]]:
    """WSGI middleware recording, once each request is over, the contexts active in
    the server's thread before it and after it (there must be none)."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        before = _cv_app.get(None)
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            after = _cv_app.get(None)
            if before is not None or after is not None:
                seen.append((environ["PATH_INFO"], before, after))

    return middleware


@pytest.mark.timeout(200)
def test_isolation_under_load_threaded_wsgi(
    start_threaded: Callable[..., ThreadedServer], request: pytest.FixtureRequest
) -> None:
    app_module = load_app_module("rel_isoapp")
    app = app_module.app
    leaked: list[Any] = []
    server = start_threaded(leak_checking(app, leaked))
    load = job(server.base_url, WSGI_REQUESTS, app_module.SECRET_KEY)
    started = time.monotonic()
    summary = run_loadgen(load, PROCESSES, timeout=180)
    check_summary(summary, WSGI_REQUESTS)

    assert app.background.wait(10)
    stats = wait_until(
        lambda: dict(app_module.STATS, pending=app.background.pending),
        lambda s: s["torn_down"] >= WSGI_REQUESTS,
    )
    check_stats(stats, WSGI_REQUESTS)
    expected = spawned_tokens(load, summary)
    check_spawned(app_module.SPAWNED, expected)
    assert leaked == [], f"contexts active in a server thread: {leaked[:5]}"
    elapsed = time.monotonic() - started
    report(
        request,
        "wsgi_requests",
        WSGI_REQUESTS,
        f"isolation, Werkzeug threaded WSGI: {WSGI_REQUESTS} requests"
        f" ({summary['counts']}), {len(app_module.SPAWNED)} spawned tokens each"
        f" arrived once, {CONCURRENCY} in flight, {summary['seconds']:.1f} s of load"
        f" ({elapsed:.1f} s in all), peak {stats['peak']} concurrent contexts,"
        " no context left active in a server thread, zero cross-talk",
    )
    request.node.user_properties.append(("wsgi_seconds", summary["seconds"]))
    app.shutdown(5)


def test_totals() -> None:
    """The two servers together take over 100,000 requests."""
    assert UVICORN_REQUESTS + WSGI_REQUESTS >= 100_000
