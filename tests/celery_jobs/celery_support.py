"""A real Redis, Celery workers and servers, for the tests of ``kettle.celery``.

``start_redis`` runs ``redis-server`` on 127.0.0.1 (a free port, no persistence, in
a temporary folder), stopped by its process id. Under CI (``CI=true``) a missing
``redis-server`` fails the tests; elsewhere they are skipped with how to install
it. Workers and servers run from this folder, log to files the tests can read, and
are stopped with SIGTERM, then SIGKILL of their process group.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

HERE = Path(__file__).resolve().parent
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

#: Redis 8's client deprecates SETEX, which Celery's result backend still calls in
#: the in-process worker; nothing else is filtered.
SETEX_DEPRECATED = "ignore:Call to deprecated setex:DeprecationWarning"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A redis-server subprocess on 127.0.0.1."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    clients: list[redis.Redis] = field(default_factory=list)

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self, db: int) -> redis.Redis:
        """A client of database ``db``, closed when the server stops."""
        client = redis.Redis(port=self.port, db=db, decode_responses=True)
        self.clients.append(client)
        return client

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def find_redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe is not None:
        return exe
    if os.environ.get("CI") == "true":
        pytest.fail(
            "redis-server is not installed, and CI must run the Celery tests: install"
            " it with `apt-get install redis-server` (.ci/run does)."
        )
    pytest.skip(
        "redis-server is not installed: `sudo apt-get install redis-server` (Debian,"
        " Ubuntu) or `brew install redis` (macOS) runs these tests."
    )


def start_redis(exe: str, workdir: Path) -> RedisServer:
    port = free_port()
    log_path = workdir / f"redis-{port}.log"
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--databases", "32"]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(workdir)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RedisServer(port, proc, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    probe = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        while True:
            try:
                if probe.ping():
                    return server
            except redis.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"redis-server did not start:\n{server.log()}")
            time.sleep(0.02)
    finally:
        probe.close()


class Subprocess:
    """A worker or server subprocess run from this folder, its log in a file."""

    def __init__(
        self, argv: list[str], log_path: Path, env: dict[str, str], ready: str
    ) -> None:
        self.argv = argv
        self.log_path = log_path
        #: What the log says once the process is ready (a group: the port).
        self.ready = ready
        #: The port a server listens on, once known.
        self.port = 0
        full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p
        )
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=HERE,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: SIGKILL reaches its children
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = START_TIMEOUT) -> str:
        """The first match of ``pattern`` in the log; fail with the log if none."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.log())
            if found is not None:
                return found.group(found.lastindex or 0)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{pattern!r} not in the log of {self.argv}:\n{self.log()}")
            time.sleep(0.05)

    def wait_ready(self) -> None:
        """Wait until the log says the process is ready; take the port from it."""
        found = self.wait_for_log(self.ready)
        if found.isdigit():
            self.port = int(found)

    def stop(self) -> int:
        """SIGTERM (a warm shutdown), SIGKILL the group if it lingers; exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            return self.proc.returncode
        finally:
            if not self._log.closed:
                self._log.close()


def worker_process(
    redis_url: str, workdir: Path, name: str, *options: str
) -> Subprocess:
    """Launch ``celery -A jobs_serve:celery_app worker``; ``wait_for_ready`` it."""
    node = f"{name}-{uuid.uuid4().hex[:6]}@%h"
    argv = [sys.executable, "-m", "celery", "-A", "jobs_serve:celery_app", "worker"]
    argv += [f"--hostname={node}", "--loglevel=INFO", *options]
    argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    env = {"JOBS_REDIS_URL": redis_url}
    return Subprocess(argv, workdir / f"worker-{name}.log", env, r"\S+@\S+ ready\.")


def server_process(redis_url: str, workdir: Path, name: str) -> Subprocess:
    """Launch gunicorn serving ``jobs_serve:app`` on a free port (``.port``)."""
    argv = [sys.executable, "-m", "gunicorn", "jobs_serve:app"]
    argv += ["--bind=127.0.0.1:0", "--workers=1", "--worker-class=gthread"]
    argv += ["--threads=4", "--graceful-timeout=5", "--error-logfile=-"]
    argv += ["--no-control-socket"]
    env = {"JOBS_REDIS_URL": redis_url}
    ready = r"Listening at: http://127\.0\.0\.1:(\d+)"
    return Subprocess(argv, workdir / f"server-{name}.log", env, ready)


def wait_for_ready(*processes: Subprocess) -> None:
    """Wait until each process is ready; stop them all if one is not."""
    try:
        for process in processes:
            process.wait_ready()
    except BaseException:
        for process in processes:
            process.stop()
        raise


def wait_until(
    condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.02)


def teardowns(store: redis.Redis, task_id: str) -> list[str]:
    """The exceptions the teardown of each run of ``task_id`` received (the jobs
    app records them in Redis)."""
    return list(store.lrange(f"teardown-exc:{task_id}", 0, -1))  # type: ignore[arg-type]
