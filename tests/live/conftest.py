"""Real servers for the live tests: subprocesses on 127.0.0.1, always stopped.

Each server binds port 0. uvicorn, hypercorn and gunicorn log the port they got;
granian logs ``127.0.0.1:0``, so its port is read from the listening sockets of its
process group (``/proc``, Linux). The log (stdout and stderr) goes to a file that
tests can read. A server is stopped with SIGTERM (or the signal a test asks for),
then SIGKILL if it has not exited in time.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

APPS_DIR = Path(__file__).parent / "apps"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

_PORT_PATTERNS = {
    "uvicorn": re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)"),
    "hypercorn": re.compile(r"Running on http://127\.0\.0\.1:(\d+)"),
    "gunicorn": re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)"),
}


def server_argv(kind: str, module: str, workers: int = 1) -> list[str]:
    """The command that serves ``module``'s ``app`` with a server of ``kind``, in
    ``workers`` worker processes."""
    python = [sys.executable, "-m"]
    asgi = f"{module}:app.asgi"
    if kind == "uvicorn-h11":
        argv = [
            *python,
            "uvicorn",
            asgi,
            "--host=127.0.0.1",
            "--port=0",
            "--loop=asyncio",
            "--http=h11",
            "--lifespan=on",
            "--timeout-graceful-shutdown=5",
        ]
    elif kind == "uvicorn":  # the defaults: uvloop and httptools
        argv = [
            *python,
            "uvicorn",
            asgi,
            "--host=127.0.0.1",
            "--port=0",
            "--lifespan=on",
            "--timeout-graceful-shutdown=5",
        ]
    elif kind == "hypercorn":
        argv = [
            *python,
            "hypercorn",
            asgi,
            "--bind=127.0.0.1:0",
            "--graceful-timeout=5",
            "--error-logfile=-",
        ]
    elif kind in ("gunicorn-sync", "gunicorn-gthread"):
        argv = [
            *python,
            "gunicorn",
            f"{module}:app",
            "--bind=127.0.0.1:0",
            "--graceful-timeout=5",
            "--timeout=30",
            "--error-logfile=-",
            # The default control socket is one path per user: servers would collide.
            "--no-control-socket",
        ]
        if kind == "gunicorn-gthread":
            argv += ["--worker-class=gthread", "--threads=4"]
        else:
            argv += ["--worker-class=sync"]
    elif kind in ("granian-wsgi", "granian-asgi"):
        interface = kind.removeprefix("granian-")
        argv = [
            *python,
            "granian",
            f"--interface={interface}",
            "--host=127.0.0.1",
            "--port=0",
            # SIGKILL a worker that has not stopped 5 s after SIGTERM.
            "--workers-kill-timeout=5",
            f"{module}:app" if interface == "wsgi" else asgi,
        ]
        if interface == "wsgi":
            # Threads that run the WSGI app, per worker (ASGI allows only 1).
            argv.insert(-1, "--blocking-threads=4")
    else:
        raise ValueError(f"unknown server kind {kind!r}")
    return [*argv, f"--workers={workers}"]


def group_pids(pgid: int) -> list[int]:
    """The processes of group ``pgid`` (a server and its workers), from ``/proc``."""
    pids = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            stat = (proc_dir / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(proc_dir.name))
    return pids


def listening_ports(pgid: int) -> set[int]:
    """The TCP ports on 127.0.0.1 that processes of group ``pgid`` listen on.

    Read from ``/proc`` (Linux): the socket inodes of the group's open files, looked
    up among the listening sockets of ``/proc/net/tcp``.
    """
    inodes: set[str] = set()
    for pid in group_pids(pgid):
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:
            continue  # gone meanwhile
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        host, port = fields[1].split(":")
        if fields[3] == "0A" and host == "0100007F" and fields[9] in inodes:
            ports.add(int(port, 16))  # 0A: LISTEN; 0100007F: 127.0.0.1
    return ports


class LiveServer:
    """A server subprocess on 127.0.0.1, with its log in a file."""

    def __init__(
        self,
        kind: str,
        module: str,
        workdir: Path,
        ready_path: str = "/hello",
        env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.kind = kind
        self.module = module
        self.argv = server_argv(kind, module, workers)
        self.log_path = workdir / f"{kind}-{module}-{uuid.uuid4().hex[:8]}.log"
        self.ready_path = ready_path
        self.port = 0
        self.base_url = ""
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(APPS_DIR), full_env.get("PYTHONPATH", "")) if p
        )
        full_env["PYTHONUNBUFFERED"] = "1"
        self._log_file = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=APPS_DIR,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: a SIGKILL reaches the workers
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until the log matches ``pattern``; fail with the log after timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.log())
            if found is not None:
                return found
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.kind}: {pattern!r} not in the log after {timeout}s:\n"
                    + self.log()
                )
            time.sleep(0.05)

    def bound_port(self) -> int | None:
        """The port the server bound, once it says (or listens), else None."""
        pattern = _PORT_PATTERNS.get(self.kind.split("-")[0])
        if pattern is not None:
            found = pattern.search(self.log())
            return None if found is None else int(found.group(1))
        if not Path("/proc/net/tcp").exists():
            pytest.skip(f"{self.kind} does not log its port; finding it needs /proc")
        ports = listening_ports(self.proc.pid)
        if len(ports) > 1:
            raise RuntimeError(f"{self.kind} listens on several ports: {ports}")
        return ports.pop() if ports else None

    def wait_ready(self) -> None:
        """Wait for the bound port, then for an answer on ``ready_path``."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}"
                )
            port = self.bound_port()
            if port is not None:
                self.port = port
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.kind} did not report a port:\n{self.log()}")
            time.sleep(0.05)
        self.base_url = f"http://127.0.0.1:{self.port}"
        with httpx.Client(trust_env=False, base_url=self.base_url, timeout=2) as client:
            while True:
                try:
                    if client.get(self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.kind} did not answer:\n{self.log()}")
                time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Stop with ``sig``, SIGKILL the group after ``timeout``; the exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            return self.proc.returncode
        finally:
            if not self._log_file.closed:
                self._log_file.close()

    def processes(self) -> list[int]:
        """The pids of the server's process group: its main process and workers."""
        return group_pids(self.proc.pid)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<LiveServer {self.kind} {self.base_url}>"


def start_server(
    kind: str,
    module: str,
    workdir: Path,
    ready_path: str = "/hello",
    env: dict[str, str] | None = None,
    workers: int = 1,
) -> LiveServer:
    """Start a server and wait until it answers; stop it if it never does."""
    server = LiveServer(kind, module, workdir, ready_path, env, workers)
    try:
        server.wait_ready()
    except BaseException:
        server.stop(signal.SIGKILL, timeout=5)
        raise
    return server


class ServerPool:
    """Servers started on first use and all stopped at the end (one per kind)."""

    def __init__(
        self, module: str, workdir: Path, ready_path: str = "/hello", **env: str
    ) -> None:
        self.module = module
        self.workdir = workdir
        self.ready_path = ready_path
        self.env = env
        self.servers: dict[str, LiveServer] = {}

    def get(self, kind: str) -> LiveServer:
        server = self.servers.get(kind)
        if server is None:
            server = start_server(
                kind, self.module, self.workdir, self.ready_path, self.env
            )
            self.servers[kind] = server
        return server

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="module")
def live_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="module")
def server_pool(live_workdir: Path) -> Iterator[ServerPool]:
    """The liveapp servers of one test module, each started at most once."""
    pool = ServerPool(
        "liveapp",
        live_workdir,
        KETTLE_LIVE_MARKERS=str(live_workdir / "pool-markers.txt"),
    )
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def start_live_server(live_workdir: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers (``kind, module, ready_path=..., env=..., workers=...``); all
    stopped at the end of the module (a test may stop one earlier)."""
    started: list[LiveServer] = []

    def start(
        kind: str,
        module: str = "liveapp",
        ready_path: str = "/hello",
        env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> LiveServer:
        server = start_server(kind, module, live_workdir, ready_path, env, workers)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
