"""Kettle served as in production: stopped gracefully, and in several processes.

* Graceful stop, on every server a user would pick: SIGTERM arrives while slow
  requests (a sync and an async view) are in flight; they still get their 200 and
  their whole body, the server and all its workers exit by themselves (not
  killed), and on the ASGI servers (uvicorn, hypercorn, granian ``--interface
  asgi``) the lifespan shutdown (``while_serving`` after its ``yield``, then
  ``after_serving``) runs after the requests have finished. granian's ``asgi``
  interface runs the lifespan (its ``asginl`` interface would not); gunicorn and
  granian's ``wsgi`` interface have no lifespan.
* Several worker processes (gunicorn and uvicorn, 4 workers each): requests on fresh
  connections reach at least two distinct worker processes, and a session written
  through one is read through another, because the session is a cookie signed with
  the app's fixed ``SECRET_KEY``. A control case draws the key in each process and
  shows the other workers then read an empty session.

The app is ``tests/live/apps/liveapp.py``; the servers are started by
``tests/live/conftest.py``.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

LiveServer = Any

ASGI_KINDS = ("uvicorn", "hypercorn", "granian-asgi")
WSGI_KINDS = ("gunicorn-sync", "gunicorn-gthread", "granian-wsgi")
SLOW_SECONDS = 1.0  # how long the slow views sleep (SIGTERM comes meanwhile)
WORKERS = 4
SPREAD_TIMEOUT = 15.0  # seconds to reach a second worker process


def slow_body(key: str) -> str:
    """What ``/slow/*?key=KEY`` answers (about 100 KB)."""
    return f"slow {key}\n" + "".join(f"line {i:06d}\n" for i in range(8000))


def wait_for_line(path: Path, line: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and line in path.read_text().splitlines()):
        assert time.monotonic() < deadline, f"{line!r} not in {path} after {timeout}s"
        time.sleep(0.01)


@pytest.mark.parametrize("kind", ASGI_KINDS + WSGI_KINDS)
def test_sigterm_lets_the_requests_in_flight_finish(
    kind: str, live_workdir: Path, start_live_server: Callable[..., LiveServer]
) -> None:
    """A sync and an async view are both mid-request when SIGTERM arrives (only the
    sync one on gunicorn's sync worker, which serves one request at a time)."""
    markers = live_workdir / f"graceful-{kind}.txt"
    server = start_live_server(kind, env={"KETTLE_LIVE_MARKERS": str(markers)})
    flavours = ["sync"] if kind == "gunicorn-sync" else ["sync", "async"]
    keys = {flavour: f"{flavour}-{uuid.uuid4().hex}" for flavour in flavours}
    with (
        httpx.Client(trust_env=False, base_url=server.base_url, timeout=15) as http,
        ThreadPoolExecutor(len(flavours)) as pool,
    ):
        # Connection: close, or gunicorn's gthread worker waits for the idle
        # keep-alive connection to time out (2 s) before it exits.
        in_flight: dict[str, Future[httpx.Response]] = {
            key: pool.submit(
                http.get,
                f"/slow/{flavour}",
                params={"key": key, "seconds": SLOW_SECONDS},
                headers={"Connection": "close"},
            )
            for flavour, key in keys.items()
        }
        try:
            for key in keys.values():
                wait_for_line(markers, f"slow:start {key}")
        finally:
            # Stop even if the request never started: the fixture would, but later.
            started = time.monotonic()
            code = server.stop(signal.SIGTERM)
            stopped_after = time.monotonic() - started
        responses = {key: future.result(timeout=5) for key, future in in_flight.items()}

    for key, response in responses.items():
        assert response.status_code == 200, server.log()
        assert response.text == slow_body(key)
        assert response.headers["content-length"] == str(len(slow_body(key)))
    # Exited by itself, neither killed after STOP_TIMEOUT nor cut short. (uvicorn
    # exits by raising the signal it caught again, once it has shut down.)
    assert code in (0, -signal.SIGTERM), server.log()
    assert SLOW_SECONDS * 0.5 < stopped_after < SLOW_SECONDS + 5, server.log()
    # The workers (and helpers such as multiprocessing's resource tracker, which
    # follows its parent shortly after) are gone too.
    deadline = time.monotonic() + 5
    while (left := server.processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == [], f"processes of {kind} outlived it"

    lines = markers.read_text().splitlines()
    startup, shutdown = [], []
    if kind in ASGI_KINDS:
        startup = [
            "before_serving app=liveapp",
            "while_serving:before-yield app=liveapp",
        ]
        shutdown = [
            "while_serving:after-yield app=liveapp",
            "after_serving app=liveapp",
        ]
    # Lifespan start-up, both requests (each started before either ended), then
    # the lifespan shut-down; nothing else.
    assert lines[: len(startup)] == startup, lines
    assert lines[len(lines) - len(shutdown) :] == shutdown, lines
    middle = lines[len(startup) : len(lines) - len(shutdown)]
    assert sorted(middle[: len(keys)]) == sorted(
        f"slow:start {k}" for k in keys.values()
    )
    assert sorted(middle[len(keys) :]) == sorted(f"slow:end {k}" for k in keys.values())
    assert "Traceback" not in server.log()


def fresh_get(base_url: str, path: str, cookies: dict[str, str]) -> dict[str, Any]:
    """GET ``path`` on a new connection (a new client, closed after one request)."""
    with httpx.Client(
        trust_env=False, base_url=base_url, timeout=5, cookies=cookies
    ) as client:
        response = client.get(path, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


MULTI_WORKER_CASES = [
    ("gunicorn-sync", "fixed"),
    ("uvicorn", "fixed"),
    # The control: with a key drawn in each process, the other workers cannot read
    # the session; this is what the fixed SECRET_KEY prevents.
    ("gunicorn-sync", "per-process"),
]


@pytest.mark.parametrize(
    ("kind", "secret_key"),
    MULTI_WORKER_CASES,
    ids=[f"{kind}-{key}-key" for kind, key in MULTI_WORKER_CASES],
)
def test_session_written_by_one_worker_is_read_by_another(
    kind: str, secret_key: str, start_live_server: Callable[..., LiveServer]
) -> None:
    server = start_live_server(
        kind, workers=WORKERS, env={"KETTLE_LIVE_SECRET_KEY": secret_key}
    )
    try:
        value = {"token": uuid.uuid4().hex}
        with httpx.Client(trust_env=False, base_url=server.base_url, timeout=5) as w:
            written = w.post("/session", json={"value": value})
            assert written.status_code == 200
            writer = written.json()["pid"]
            cookies = {"session": w.cookies["session"]}

        # Fresh connections, four at a time, until one reaches another process;
        # each process answers with its pid and what it read from the session.
        readers: dict[int, list[Any]] = {}  # pid: the values it read
        lock = threading.Lock()

        def read() -> None:
            answer = fresh_get(server.base_url, "/session", cookies)
            with lock:
                readers.setdefault(answer["pid"], []).append(answer["value"])

        deadline = time.monotonic() + SPREAD_TIMEOUT
        with ThreadPoolExecutor(4) as pool:
            while set(readers) <= {writer}:
                assert time.monotonic() < deadline, (
                    f"every request went to process {writer} for {SPREAD_TIMEOUT}s"
                )
                for done in [pool.submit(read) for _ in range(4)]:
                    done.result(timeout=10)
        # The answering processes are the server's workers, not its main process.
        processes = set(server.processes())
    finally:
        server.stop()
    assert {writer, *readers} <= processes - {server.proc.pid}, (readers, processes)
    others = {pid: got for pid, got in readers.items() if pid != writer}
    assert others, readers
    # The writer reads its own session back; the others read it too with the fixed
    # key, and an empty session with keys of their own.
    elsewhere = value if secret_key == "fixed" else None
    assert all(got == value for got in readers.get(writer, [])), readers
    assert all(got == elsewhere for gots in others.values() for got in gots), readers
