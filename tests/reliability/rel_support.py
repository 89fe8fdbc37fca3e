"""Helpers of the reliability suite: uvicorn in a subprocess, Werkzeug's threaded
server in a thread of this process, both on 127.0.0.1 with an ephemeral port and
always stopped (the pattern of ``tests/live/conftest.py``); the load generator.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

HERE = Path(__file__).parent
APPS_DIR = HERE / "apps"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
_PORT = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def load_app_module(name: str) -> Any:
    """A fresh, private copy of ``apps/{name}.py`` (its own app and counters)."""
    spec = importlib.util.spec_from_file_location(
        f"kettle_reliability_{name}_{uuid.uuid4().hex[:8]}", APPS_DIR / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class UvicornServer:
    """``uvicorn {module}:app.asgi`` (uvloop, httptools) in a subprocess."""

    def __init__(self, module: str, workdir: Path, ready_path: str = "/stats") -> None:
        self.log_path = workdir / f"uvicorn-{module}-{uuid.uuid4().hex[:8]}.log"
        self.ready_path = ready_path
        self.port = 0
        self.base_url = ""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(APPS_DIR), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        self._log_file = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"{module}:app.asgi",
                "--host=127.0.0.1",
                "--port=0",
                "--lifespan=on",
                "--no-access-log",
                "--timeout-graceful-shutdown=5",
            ],
            cwd=APPS_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while (found := _PORT.search(self.log())) is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn reported no port:\n{self.log()}")
            time.sleep(0.05)
        self.port = int(found.group(1))
        self.base_url = f"http://127.0.0.1:{self.port}"
        with httpx.Client(trust_env=False, base_url=self.base_url, timeout=2) as http:
            while True:
                try:
                    if http.get(self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn did not answer:\n{self.log()}")
                time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL to the group if it has not exited in time."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            return self.proc.returncode
        finally:
            if not self._log_file.closed:
                self._log_file.close()


class QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class ThreadedServer:
    """Werkzeug's threaded WSGI server (a thread per connection) in this process."""

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, wsgi_app, threaded=True, request_handler=QuietHandler
        )
        self.port = self.server.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="reliability-wsgi-server",
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()


@pytest.fixture(scope="module")
def start_uvicorn(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., UvicornServer]]:
    """Start ``uvicorn module:app.asgi``; every server is stopped at module end."""
    workdir = tmp_path_factory.mktemp("reliability")
    started: list[UvicornServer] = []

    def start(module: str, ready_path: str = "/stats") -> UvicornServer:
        server = UvicornServer(module, workdir, ready_path)
        started.append(server)
        try:
            server.wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def start_threaded() -> Iterator[Callable[..., ThreadedServer]]:
    """Serve a WSGI callable on a threaded server; every server is stopped after."""
    started: list[ThreadedServer] = []

    def start(wsgi_app: Callable[..., Any]) -> ThreadedServer:
        server = ThreadedServer(wsgi_app)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


#: Figures the tests report, printed in the terminal summary (see conftest.py).
FIGURES: list[str] = []


def report(request: pytest.FixtureRequest, name: str, value: Any, text: str) -> None:
    """Record a figure: as a JUnit property, and for the terminal summary."""
    request.node.user_properties.append((name, value))
    FIGURES.append(text)


def run_loadgen(job: dict[str, Any], processes: int, timeout: float) -> dict[str, Any]:
    """Run ``job`` with ``processes`` copies of ``loadgen.py`` at once, each sending
    every ``processes``-th request with ``job["concurrency"] // processes`` threads
    (fewer threads per process: less contention for its GIL); their summaries
    merged."""
    parts = [
        dict(
            job,
            offset=offset,
            step=processes,
            concurrency=job["concurrency"] // processes,
        )
        for offset in range(processes)
    ]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "loadgen.py"), json.dumps(part)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in parts
    ]
    deadline = time.monotonic() + timeout
    outputs: list[tuple[int, str, str]] = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            outputs.append((proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    merged: dict[str, Any] = {
        "seconds": 0.0,
        "cpu_seconds": 0.0,
        "counts": dict.fromkeys(job["kinds"], 0),
        "answered": 0,
        "wrong": 0,
        "wrong_examples": [],
        "errors": 0,
        "error_examples": [],
    }
    for returncode, out, err in outputs:
        assert returncode == 0, err[-3000:]
        summary = json.loads(out)
        merged["seconds"] = max(merged["seconds"], summary["seconds"])
        for key in ("cpu_seconds", "answered", "wrong", "errors"):
            merged[key] += summary[key]
        for key in ("wrong_examples", "error_examples"):
            merged[key] += summary[key]
        for kind, n in summary["counts"].items():
            merged["counts"][kind] += n
    return merged


def wait_until(
    probe: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 10.0
) -> Any:
    """Call ``probe`` until ``done`` says its result is final (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)
