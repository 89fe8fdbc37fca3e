"""Faults on real servers (uvicorn, Werkzeug's threaded server): views, hooks, error
handlers, teardown functions and spawned work that raise; clients that leave in the
middle of a stream (raw sockets, closed with a reset); async streams cancelled by the
client leaving; spawned coroutines cancelled. Afterwards every SQLite connection
opened on ``g`` is closed, every context was torn down exactly once and popped, no
spawned work is pending, and the server still answers. App: ``apps/rel_faultapp.py``.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from rel_support import (
    ThreadedServer,
    UvicornServer,
    load_app_module,
    report,
    wait_until,
)

REPEAT = 10
#: (path, expected status) — each sent REPEAT times; None: the connection may break.
FAULTS: list[tuple[str, int | None]] = [
    ("/ok", 200),
    ("/ok?fault=before", 500),
    ("/ok?fault=view", 500),
    ("/async-ok?fault=view", 500),
    ("/ok?fault=after", 500),
    ("/handled", 418),
    ("/handler-fails", 500),
    ("/abort", 409),
    ("/spawn?fault=spawn", 200),
    ("/spawn?delay=0.05", 200),
    ("/async-spawn?fault=spawn", 200),
    ("/async-spawn?delay=0.05", 200),
    ("/spawn-cancel", 200),
    ("/stream?n=3", 200),
    ("/async-stream?n=3", 200),
    # The response is sent before the teardown raises (the context outlives it).
    ("/ok?fault=teardown_request", None),
    ("/ok?fault=teardown_appcontext", None),
    # Fails after the first chunk: the body is cut short.
    ("/stream?n=5&fail_at=1", None),
]
NOT_FAULTS = {
    "/ok",
    "/spawn?delay=0.05",
    "/async-spawn?delay=0.05",
    "/stream?n=3",
    "/async-stream?n=3",
}
DISCONNECTS = ["/stream?n=3000", "/async-stream?n=3000", "/slow-async?delay=0.2"]


@pytest.fixture(params=["uvicorn", "werkzeug-threaded"])
def target(
    request: pytest.FixtureRequest,
    start_uvicorn: Callable[..., UvicornServer],
    start_threaded: Callable[..., ThreadedServer],
) -> Iterator[tuple[str, int, Callable[[], dict[str, Any]]]]:
    """A server of the fault app: base URL, port, and a probe of its counters."""
    if request.param == "uvicorn":
        server = start_uvicorn("rel_faultapp")

        def probe() -> dict[str, Any]:
            return httpx.get(f"{server.base_url}/stats", timeout=10).json()  # type: ignore[no-any-return]

        yield server.base_url, server.port, probe
        assert server.proc.poll() is None, server.log()
        return
    module = load_app_module("rel_faultapp")
    threaded = start_threaded(module.app)
    yield threaded.base_url, threaded.port, module.stats_now
    module.app.shutdown(5)


def leave_mid_stream(port: int, path: str, read: int) -> int:
    """Request ``path`` on a raw socket, read ``read`` bytes, close with a reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("latin-1")
        )
        got = b""
        if not read:
            time.sleep(0.05)  # so that the server has read the request
        while len(got) < read:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
        # SO_LINGER 0: close() sends a RST, as a client that crashes does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return len(got)


def settled(stats: dict[str, Any]) -> bool:
    return (
        stats["pending"] == 0
        and stats["still_pushed"] == 0
        and stats["not_torn_down"] == 0
        and stats["db_opened"] == stats["db_closed"]
    )


@pytest.mark.timeout(120)
def test_faults_leave_nothing_behind(
    target: tuple[str, int, Callable[[], dict[str, Any]]],
    request: pytest.FixtureRequest,
) -> None:
    base_url, port, probe = target
    statuses: dict[str, list[Any]] = {}
    broken = 0
    with httpx.Client(trust_env=False, base_url=base_url, timeout=10) as http:
        for _ in range(REPEAT):
            for path, expected in FAULTS:
                try:
                    if expected is None:
                        # A fresh connection: the server may close this one.
                        status: Any = httpx.get(base_url + path, timeout=10)
                        status = status.status_code
                    else:
                        status = http.get(path).status_code
                except httpx.TransportError as e:
                    status = type(e).__name__
                    broken += 1
                statuses.setdefault(path, []).append(status)
                if expected is not None:
                    assert status == expected, (path, status)
    for _ in range(REPEAT):
        for path in DISCONNECTS:
            read = 0 if path.startswith("/slow") else 8192
            leave_mid_stream(port, path, read)
    time.sleep(0.3)  # the slow views finish after their clients left

    stats = wait_until(probe, settled, timeout=20)
    requests = REPEAT * (len(FAULTS) + len(DISCONNECTS))
    assert stats["pushed"] == requests, stats
    assert stats["contexts"] == requests
    assert stats["still_pushed"] == 0, "a context was left pushed"
    assert stats["torn_down_once"] == requests, stats
    assert stats["torn_down_twice"] == 0
    assert stats["not_torn_down"] == 0
    assert stats["db_opened"] == stats["db_closed"] == requests
    assert stats["connections_open"] == 0, "SQLite connections left open"
    assert stats["db_closed_in_use"] == 0, "a connection was closed while in use"
    assert stats["pending"] == 0
    # Spawned work: 10 failed in threads and 10 in coroutines; 10 cancelled.
    assert stats["background_exceptions"] >= 2 * REPEAT
    assert stats["spawned_cancelled"] == REPEAT
    assert stats["spawned_done"] == 4 * REPEAT
    # Streams: 10 failing ones and 20 left by their clients were closed early.
    assert stats["streams_closed"] == 3 * REPEAT, stats
    assert stats["slow_views_done"] + stats["slow_views_cancelled"] == REPEAT
    for path, expected in FAULTS:
        if expected is None:
            assert all(s in (200, 500) or isinstance(s, str) for s in statuses[path])

    with httpx.Client(trust_env=False, base_url=base_url, timeout=10) as http:
        assert [http.get("/ok").status_code for _ in range(5)] == [200] * 5
    kinds = sum(1 for path, _ in FAULTS if path not in NOT_FAULTS)
    faults = REPEAT * (kinds + len(DISCONNECTS))
    report(
        request,
        f"faults_{request.node.callspec.id}",
        faults,
        f"faults, {request.node.callspec.id}: {requests} requests, {faults} faults"
        f" injected ({kinds} kinds x {REPEAT}, {len(DISCONNECTS)} kinds of"
        f" disconnect x {REPEAT}); {stats['db_opened']} SQLite connections opened"
        f" and closed, {stats['torn_down_once']} contexts torn down exactly once and"
        f" popped, {stats['background_exceptions']} background exceptions signalled,"
        f" {stats['streams_closed']} streams closed early"
        f" ({stats['streams_cancelled']} async ones cancelled),"
        f" {stats['spawned_cancelled']} spawned coroutines cancelled,"
        f" {broken} broken responses; server still answering",
    )
