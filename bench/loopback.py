"""Loopback benchmark: req/s and p99 latency with `wrk` against real servers.

For each server, every framework that fits it is started as a subprocess on
127.0.0.1 (a free ephemeral port each, all at once), waited for and checked (both
routes must answer correctly).  Then, route by route (``/hello``, then
``/user/7?q=x``), each is warmed up and the frameworks take turns in one-second
``wrk -c<connections> --latency`` bursts, ``<duration>`` bursts each, so that the
frameworks compared see the same moments of a machine whose speed drifts.  The
servers are stopped (SIGTERM to each process group, then SIGKILL) in a
``finally``.  The whole run has a deadline; pairs that no longer fit are
skipped and reported.  The apps live in ``loopback_apps.py``.

    .venv/bin/python bench/loopback.py            # full run, about 6 minutes
    .venv/bin/python bench/loopback.py --quick    # smoke run, about 1.5 minutes

Needs ``wrk`` on PATH (``apt-get install wrk``) and the servers in the venv
(``pip install -e '.[bench]'``; uvicorn, hypercorn and gunicorn come with
``.[dev]``).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from verdict import Target, markdown_table

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
APPS_MODULE = "loopback_apps"

START_TIMEOUT = 20.0  # seconds for a server to answer its first request
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
STARTUP_ESTIMATE = 3.0  # seconds per server start + check + stop, for the plan
ROUTE_OVERHEAD = 1.0  # seconds per route beyond warm-up + duration, for the plan
BURST = 1  # seconds of one wrk burst; the frameworks of a server take turns
BURST_COST = 1.2  # seconds a burst takes, wrk's start and the CPU reads included


# --- what is run ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str
    path: str
    check: Callable[[int, str, bytes], list[str]]


def _check_hello(status: int, content_type: str, body: bytes) -> list[str]:
    problems = [] if status == 200 else [f"status {status}, expected 200"]
    if body != b"Hello, World!":
        problems.append(f"body {body[:80]!r}, expected b'Hello, World!'")
    return problems


def _check_user(status: int, content_type: str, body: bytes) -> list[str]:
    problems = [] if status == 200 else [f"status {status}, expected 200"]
    if not content_type.startswith("application/json"):
        problems.append(f"content-type {content_type!r}, expected application/json")
    try:
        if json.loads(body) != {"id": 7, "q": "x"}:
            problems.append(f"JSON {body[:80]!r}, expected {{'id': 7, 'q': 'x'}}")
    except ValueError:
        problems.append(f"body is not JSON: {body[:80]!r}")
    return problems


ROUTES = [
    Route("hello", "/hello", _check_hello),
    Route("user", "/user/7?q=x", _check_user),
]


@dataclass(frozen=True)
class Subject:
    framework: str
    interface: str  # "wsgi" or "asgi"
    target: str  # attribute of loopback_apps
    module: str  # top-level import that must be available


# Kettle first in each interface: it is the reference for ratios.
SUBJECTS = [
    Subject("Kettle", "wsgi", "kettle_wsgi", "kettle"),
    Subject("Flask", "wsgi", "flask_wsgi", "flask"),
    Subject("Falcon", "wsgi", "falcon_wsgi", "falcon"),
    Subject("Kettle", "asgi", "kettle_asgi", "kettle"),
    Subject("Starlette", "asgi", "starlette_asgi", "starlette"),
    Subject("Falcon", "asgi", "falcon_asgi", "falcon"),
    Subject("BlackSheep", "asgi", "blacksheep_asgi", "blacksheep"),
    # A hand-written callable: what the server alone costs (bench/README).
    Subject("bare", "wsgi", "bare_wsgi", "json"),
    Subject("bare", "asgi", "bare_asgi", "json"),
]


@dataclass(frozen=True)
class Server:
    key: str  # for --server
    label: str  # for the tables
    interface: str
    module: str
    command: Callable[[str, int], list[str]]  # (app target, port) -> argv


def _granian(interface: str) -> Callable[[str, int], list[str]]:
    def command(target: str, port: int) -> list[str]:
        # One blocking thread per worker, as README's Deploying section advises
        # for CPU-bound views: with granian's default, WSGI threads take turns on
        # the GIL, at ~50 us of server CPU per request for every framework.
        # (ASGI accepts only 1.)
        return [
            *(sys.executable, "-m", "granian", "--interface", interface),
            *("--host", HOST, "--port", str(port), "--workers", "1"),
            *("--blocking-threads", "1"),
            *("--log-level", "warning", "--no-access-log", target),
        ]

    return command


def _uvicorn(target: str, port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", target, "--host", HOST, "--port", str(port)),
        *("--http", "httptools", "--no-access-log", "--log-level", "warning"),
    ]


def _hypercorn(target: str, port: int) -> list[str]:
    # hypercorn finds the app with eval() in the module's namespace, which skips
    # loopback_apps' lazy module __getattr__: call that explicitly.
    module, name = target.split(":")
    target = f"{module}:__getattr__({name!r})"
    # The default asyncio worker; the access log is off unless asked for.
    return [
        *(sys.executable, "-m", "hypercorn", target, "--workers", "1"),
        *("--bind", f"{HOST}:{port}", "--log-level", "warning"),
    ]


def _gunicorn(worker_class: str) -> Callable[[str, int], list[str]]:
    def command(target: str, port: int) -> list[str]:
        argv = [
            *(sys.executable, "-m", "gunicorn", "--workers", "1"),
            *("--worker-class", worker_class, "--bind", f"{HOST}:{port}"),
            *("--log-level", "warning", target),
        ]
        if worker_class == "gthread":
            argv[-1:-1] = ["--threads", "4"]
        return argv

    return command


SERVERS = [
    Server("granian-wsgi", "granian (WSGI)", "wsgi", "granian", _granian("wsgi")),
    Server("gunicorn", "gunicorn (sync)", "wsgi", "gunicorn", _gunicorn("sync")),
    Server(
        "gunicorn-gthread",
        "gunicorn (gthread)",
        "wsgi",
        "gunicorn",
        _gunicorn("gthread"),
    ),
    Server("granian-asgi", "granian (ASGI)", "asgi", "granian", _granian("asgi")),
    Server("uvicorn", "uvicorn (httptools)", "asgi", "uvicorn", _uvicorn),
    Server("hypercorn", "hypercorn (asyncio)", "asgi", "hypercorn", _hypercorn),
]


@dataclass(frozen=True)
class Comparison:
    server: str  # Server.key
    peer: str  # framework compared against Kettle
    target: float | None  # Done-when threshold for Kettle/peer, if any


COMPARISONS = [
    Comparison("granian-wsgi", "Flask", 5.0),
    Comparison("gunicorn", "Flask", None),
    Comparison("gunicorn-gthread", "Flask", None),
    Comparison("uvicorn", "Starlette", 1.0),
    Comparison("granian-asgi", "Starlette", None),
    Comparison("hypercorn", "Starlette", None),
]


# --- results --------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    # CPU time the server's processes used per request (user + system), in µs; None
    # where /proc cannot tell. Steadier than req/s when wrk shares the cores.
    cpu_us: float | None = None


@dataclass
class Cell:
    """All rounds of one (framework, server, route)."""

    runs: list[WrkResult | None] = field(default_factory=list)  # None: round failed
    note: str = ""  # why there is no number ("n/a", "invalid", "skipped")
    flagged: bool = False  # a number exists, but something was wrong (⚠)

    def numbers(self) -> list[WrkResult]:
        return [r for r in self.runs if r is not None]


Key = tuple[str, str, str]  # (framework, server key, route key)


@dataclass
class Results:
    cells: dict[Key, Cell] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def cell(self, key: Key) -> Cell:
        return self.cells.setdefault(key, Cell())


# --- wrk ------------------------------------------------------------------------------

_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if not (rps and p99 and total):
        raise ValueError(f"could not parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps.group(1)),
        p99_ms=float(p99.group(1)) * _TIME_UNITS_MS[p99.group(2)],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, errors.groups())) if errors else 0,
    )


def group_cpu_seconds(pgid: int) -> float | None:
    """CPU time (user + system) of every process in the group ``pgid`` (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue  # gone meanwhile
        # After the command: state, ppid, pgrp, ..., utime (12th), stime (13th).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def run_wrk(
    url: str, threads: int, connections: int, seconds: int, latency: bool
) -> str:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    if latency:
        cmd.append("--latency")
    done = subprocess.run(
        [*cmd, url],
        capture_output=True,
        text=True,
        timeout=seconds + 15,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


# --- servers --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheader("Content-Type", ""), body
    finally:
        conn.close()


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Has the server's leader process exited?  Does not reap it.

    While the leader is unreaped its pid (= the process group id) can't be reused,
    so signalling the group stays safe until `stop_server` reaps it.
    """
    if proc.returncode is not None:
        return True
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    try:
        return os.waitid(os.P_PID, proc.pid, flags) is not None
    except ChildProcessError:
        return True


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    if proc.returncode is not None:  # reaped: the group id may be reused
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left."""
    try:
        _signal_group(proc, signal.SIGTERM)
        until = time.monotonic() + STOP_TIMEOUT
        while not _exited(proc) and time.monotonic() < until:
            time.sleep(0.05)
        # Workers that outlived their master, or a master that ignored SIGTERM.
        _signal_group(proc, signal.SIGKILL)
    finally:
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_server(
    argv: list[str], log: IO[bytes], cpus: frozenset[int] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The server as a subprocess (on ``cpus`` only, if given), stopped at exit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.Popen(
        argv,
        cwd=BENCH_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: stop_server signals it whole
        # Set before exec, so that every worker the server forks inherits it.
        preexec_fn=None if cpus is None else partial(os.sched_setaffinity, 0, cpus),
    )
    try:
        yield proc
    finally:
        stop_server(proc)


def wait_until_answering(
    proc: subprocess.Popen[bytes], port: int, timeout: float
) -> None:
    until = time.monotonic() + timeout
    while True:
        if _exited(proc):
            raise RuntimeError("server exited before answering")
        try:
            get(port, "/hello", timeout=1.0)
            return
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > until:
            raise RuntimeError(f"server did not answer within {timeout:.0f}s")
        time.sleep(0.1)


def check_routes(port: int) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for route in ROUTES:
        try:
            found = route.check(*get(port, route.path))
        except (OSError, http.client.HTTPException) as exc:
            found = [f"request failed: {exc!r}"]
        if found:
            problems[route.key] = found
    return problems


def _log_tail(log: IO[bytes], lines: int = 8) -> str:
    log.flush()
    log.seek(0)
    text = log.read().decode("utf-8", "replace").strip().splitlines()
    return "\n".join(f"    {line}" for line in text[-lines:])


# --- the run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    duration: int
    warmup: int
    connections: int
    rounds: int
    deadline: float  # seconds for the whole run
    pin: CpuSplit | None = None  # None: wrk and the server share every CPU


@dataclass(frozen=True)
class CpuSplit:
    """The CPUs the server runs on and the ones wrk (and this script) run on."""

    server: frozenset[int]
    client: frozenset[int]

    def describe(self) -> str:
        def cpus(ids: frozenset[int]) -> str:
            return ",".join(str(i) for i in sorted(ids))

        return f"server pinned to CPU {cpus(self.server)}, wrk to {cpus(self.client)}"


def split_cpus() -> CpuSplit | None:
    """The last usable CPU for the server, the others for wrk; None if fewer than 2."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None
    return CpuSplit(frozenset(usable[-1:]), frozenset(usable[:-1]))


def wrk_threads(settings: Settings) -> int:
    cpus = len(settings.pin.client) if settings.pin is not None else 2
    return max(1, min(2, cpus, settings.connections))


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def plan(
    servers: list[Server], subjects: list[Subject]
) -> list[tuple[Server, Subject]]:
    return [
        (server, subject)
        for server in servers
        for subject in subjects
        if subject.interface == server.interface
    ]


def pair_estimate(settings: Settings) -> float:
    per_route = settings.warmup + settings.duration + ROUTE_OVERHEAD
    return STARTUP_ESTIMATE + len(ROUTES) * per_route


@dataclass
class Live:
    """One framework's server while its group is measured."""

    subject: Subject
    proc: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]
    label: str


def combine(bursts: list[WrkResult]) -> WrkResult:
    """One result for a route from its one-second bursts.

    req/s is the bursts' mean (every burst lasts the same time), p99 their median
    (wrk reports no histogram to merge), counts their sums and CPU per request the
    total over the total.
    """
    requests = sum(b.requests for b in bursts)
    cpu = [b.cpu_us * b.requests for b in bursts if b.cpu_us is not None]
    return WrkResult(
        rps=statistics.fmean(b.rps for b in bursts),
        p99_ms=statistics.median(b.p99_ms for b in bursts),
        requests=requests,
        non_2xx=sum(b.non_2xx for b in bursts),
        socket_errors=sum(b.socket_errors for b in bursts),
        cpu_us=sum(cpu) / requests if len(cpu) == len(bursts) and requests else None,
    )


def _burst(live: Live, url: str, threads: int, settings: Settings) -> WrkResult:
    cpu_before = group_cpu_seconds(live.proc.pid)
    result = parse_wrk(run_wrk(url, threads, settings.connections, BURST, True))
    cpu_after = group_cpu_seconds(live.proc.pid)
    if cpu_before is not None and cpu_after is not None and result.requests:
        result.cpu_us = (cpu_after - cpu_before) / result.requests * 1e6
    return result


def measure_route(
    server: Server,
    group: list[Live],
    route: Route,
    settings: Settings,
    results: Results,
    round_no: int,
) -> None:
    """Time ``route`` on every live server of ``group``, interleaved.

    After a warm-up each, the frameworks take turns in one-second wrk bursts,
    ``settings.duration`` each, the order reversed from one turn to the next: the
    compared frameworks see the same moments of the machine, whose speed drifts by
    more than the differences measured.
    """
    threads = wrk_threads(settings)
    timed: list[Live] = []
    for live in group:
        cell = results.cell((live.subject.framework, server.key, route.key))
        problems = check_routes(live.port).get(route.key)
        if problems:
            text = "; ".join(problems)
            results.warnings.append(
                f"{live.label}, `{route.path}` invalid, not timed: {text}"
            )
            cell.runs.append(None)
            cell.note = "invalid"
            continue
        timed.append(live)
    bursts: dict[int, list[WrkResult]] = {id(live): [] for live in timed}
    failed: set[int] = set()
    try:
        for live in timed:
            if settings.warmup:
                url = f"http://{HOST}:{live.port}{route.path}"
                run_wrk(url, threads, settings.connections, settings.warmup, False)
        for turn in range(settings.duration):
            order = timed if (turn + round_no) % 2 else timed[::-1]
            for live in order:
                if id(live) in failed:
                    continue
                url = f"http://{HOST}:{live.port}{route.path}"
                try:
                    bursts[id(live)].append(_burst(live, url, threads, settings))
                except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                    results.warnings.append(f"{live.label}, `{route.path}`: {exc}")
                    failed.add(id(live))
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        results.warnings.append(f"{server.label} warm-up, `{route.path}`: {exc}")
        failed.update(id(live) for live in timed)
    for live in timed:
        cell = results.cell((live.subject.framework, server.key, route.key))
        if id(live) in failed or not bursts[id(live)]:
            cell.runs.append(None)
            cell.note = cell.note or "n/a"
            continue
        result = combine(bursts[id(live)])
        cell.runs.append(result)
        after = check_routes(live.port).get(route.key)
        if result.non_2xx or result.socket_errors or after:
            cell.flagged = True
            details = [
                f"{result.non_2xx} non-2xx responses" if result.non_2xx else "",
                f"{result.socket_errors} socket errors" if result.socket_errors else "",
                f"check after timing failed: {'; '.join(after)}" if after else "",
            ]
            text = ", ".join(d for d in details if d)
            results.warnings.append(
                f"{live.label}, `{route.path}` (of {result.requests} requests): {text}"
            )


def run_group(
    server: Server,
    subjects: list[Subject],
    settings: Settings,
    results: Results,
    time_left: Callable[[], float],
    round_no: int,
) -> None:
    """Start every framework's server of this kind at once, then time each route."""
    cpus = settings.pin.server if settings.pin is not None else None
    with contextlib.ExitStack() as stack:
        group: list[Live] = []
        for subject in subjects:
            port = free_port()
            argv = server.command(f"{APPS_MODULE}:{subject.target}", port)
            log = stack.enter_context(tempfile.TemporaryFile())
            proc = stack.enter_context(running_server(argv, log, cpus))
            label = f"{subject.framework} on {server.label}"
            group.append(Live(subject, proc, port, log, label))
        answering: list[Live] = []
        for live in group:
            try:
                start_timeout = max(1.0, min(START_TIMEOUT, time_left()))
                wait_until_answering(live.proc, live.port, start_timeout)
            except RuntimeError as exc:
                results.warnings.append(
                    f"{live.label}: {exc}; server output:\n{_log_tail(live.log)}"
                )
                for route in ROUTES:
                    cell = results.cell((live.subject.framework, server.key, route.key))
                    cell.runs.append(None)
                    cell.note = "n/a"
                continue
            answering.append(live)
        per_route = len(answering) * (settings.warmup + settings.duration * BURST_COST)
        for route in ROUTES:
            if time_left() < per_route:
                for live in answering:
                    cell = results.cell((live.subject.framework, server.key, route.key))
                    results.warnings.append(
                        f"{live.label}, `{route.path}`: skipped (deadline)"
                    )
                    cell.runs.append(None)
                    cell.note = cell.note or "skipped"
                continue
            measure_route(server, answering, route, settings, results, round_no)
        for live in answering:
            if _exited(live.proc):
                results.warnings.append(
                    f"{live.label}: server had exited by the end; output:\n"
                    f"{_log_tail(live.log)}"
                )


def run_all(
    pairs: list[tuple[Server, Subject]], settings: Settings, results: Results
) -> None:
    started = time.monotonic()

    def time_left() -> float:
        return settings.deadline - (time.monotonic() - started)

    estimate = pair_estimate(settings)
    servers = list(dict.fromkeys(server for server, _ in pairs))
    for round_no in range(1, settings.rounds + 1):
        for server in servers:
            subjects = [subject for s, subject in pairs if s is server]
            names = ", ".join(subject.framework for subject in subjects)
            if time_left() < estimate * len(subjects):
                results.warnings.append(
                    f"{names} on {server.label}, round {round_no}: skipped (deadline "
                    f"{settings.deadline:.0f}s; raise --deadline)"
                )
                for subject in subjects:
                    for route in ROUTES:
                        cell = results.cell((subject.framework, server.key, route.key))
                        cell.runs.append(None)
                        cell.note = cell.note or "skipped"
                continue
            print(
                f"[{time.monotonic() - started:5.0f}s] round {round_no}/"
                f"{settings.rounds}: {names} on {server.label}",
                file=sys.stderr,
                flush=True,
            )
            try:
                run_group(server, subjects, settings, results, time_left, round_no)
            except Exception as exc:  # one broken group must not end the run
                results.warnings.append(f"{server.label}: {exc!r}")
                for subject in subjects:
                    for route in ROUTES:
                        cell = results.cell((subject.framework, server.key, route.key))
                        if len(cell.runs) < round_no:
                            cell.runs.append(None)
                            cell.note = cell.note or "n/a"


# --- report ---------------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def environment_line(settings: Settings) -> str:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout + wrk.stderr).split("Copyright")[0].strip()
    dists = [
        "kettle",
        "flask",
        "falcon",
        "starlette",
        "blacksheep",
        "granian",
        "uvicorn",
        "httptools",
        "uvloop",
        "hypercorn",
        "gunicorn",
    ]
    versions = ", ".join(f"{d} {_version(d)}" for d in dists)
    threads = wrk_threads(settings)
    placement = (
        settings.pin.describe()
        if settings.pin is not None
        else "wrk and the server share them"
    )
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs "
        f"({placement}); {versions}; {wrk_version}; "
        f"`wrk -t{threads} -c{settings.connections} -d{BURST}s --latency` bursts, "
        f"{settings.duration} per framework and route, the frameworks of a server "
        f"taking turns, after a {settings.warmup}s warm-up each; "
        f"{settings.rounds} round(s), one server process (1 worker) per framework; "
        f"deadline {settings.deadline:.0f}s."
    )


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _cell_text(cell: Cell | None, pick: Callable[[WrkResult], float], fmt: str) -> str:
    if cell is None:
        return "-"
    numbers = cell.numbers()
    if not numbers:
        return cell.note or "n/a"
    text = format(_median([pick(r) for r in numbers]), fmt)
    if cell.flagged:
        text += " ⚠"
    if len(numbers) < len(cell.runs):
        text += f" ({len(numbers)}/{len(cell.runs)})"
    return text


def _cpu_text(cell: Cell | None) -> str:
    values = [r.cpu_us for r in cell.numbers() if r.cpu_us is not None] if cell else []
    return f"{_median(values):.0f}" if values else "-"


def _cpu_ratio(mine: Cell | None, peer: Cell | None) -> str:
    """Peer CPU per request / Kettle's, medians: > 1 means Kettle uses less."""
    ours = [r.cpu_us for r in mine.numbers() if r.cpu_us] if mine else []
    theirs = [r.cpu_us for r in peer.numbers() if r.cpu_us] if peer else []
    if not ours or not theirs:
        return "-"
    return f"{_median(theirs) / _median(ours):.2f}x"


def results_table(pairs: list[tuple[Server, Subject]], results: Results) -> str:
    header = ["server", "framework"]
    for route in ROUTES:
        header += [
            f"`{route.path}` req/s",
            f"`{route.path}` p99 ms",
            f"`{route.path}` server CPU µs/req",
        ]
    rows = []
    for server, subject in pairs:
        row = [server.label, subject.framework]
        for route in ROUTES:
            cell = results.cells.get((subject.framework, server.key, route.key))
            row.append(_cell_text(cell, lambda r: r.rps, ",.0f"))
            row.append(_cell_text(cell, lambda r: r.p99_ms, ".2f"))
            row.append(_cpu_text(cell))
        rows.append(row)
    return markdown_table(header, rows, right=set(range(2, len(header))))


def _round_ratios(mine: Cell | None, peer: Cell | None) -> list[float]:
    """Kettle req/s / peer req/s, round by round (rounds where both ran)."""
    if mine is None or peer is None:
        return []
    return [
        a.rps / b.rps
        for a, b in zip(mine.runs, peer.runs, strict=False)
        if a is not None and b is not None and b.rps > 0
    ]


def _paired_ratio(comp: Comparison, route: Route, results: Results) -> float | None:
    """Median of the per-round Kettle / peer req/s ratios, or None."""
    mine = results.cells.get(("Kettle", comp.server, route.key))
    peer = results.cells.get((comp.peer, comp.server, route.key))
    ratios = _round_ratios(mine, peer)
    return _median(ratios) if ratios else None


def targets(servers: list[Server], results: Results) -> list[Target]:
    """Issue 7's loopback targets for the servers that ran (req/s, Kettle / peer)."""
    labels = {s.key: s.label for s in servers}
    return [
        Target(
            f"loopback {labels[comp.server]} `{route.path}`: Kettle / {comp.peer}",
            _paired_ratio(comp, route, results),
            comp.target,
            at_least=True,
        )
        for comp in COMPARISONS
        if comp.target is not None and comp.server in labels
        for route in ROUTES
    ]


def ratio_table(servers: list[Server], results: Results, rounds: int) -> str:
    labels = {s.key: s.label for s in servers}
    header = ["ratio", "server", "route", "Kettle req/s", "peer req/s", "ratio"]
    if rounds > 1:
        header.append("per round")
    header += ["server CPU, peer/Kettle", "target"]
    rows = []
    for comp in COMPARISONS:
        if comp.server not in labels:
            continue
        for route in ROUTES:
            mine = results.cells.get(("Kettle", comp.server, route.key))
            peer = results.cells.get((comp.peer, comp.server, route.key))
            ratio = _paired_ratio(comp, route, results)
            if comp.target is None:
                target = "-"
            else:
                check = Target("", ratio, comp.target, at_least=True)
                target = f"≥ {comp.target:.2f}x: {'met' if check.met else 'NOT met'}"
            row = [
                f"Kettle/{comp.peer}",
                labels[comp.server],
                f"`{route.path}`",
                _cell_text(mine, lambda r: r.rps, ",.0f"),
                _cell_text(peer, lambda r: r.rps, ",.0f"),
                "n/a" if ratio is None else f"{ratio:.2f}x",
            ]
            if rounds > 1:
                row.append(
                    ", ".join(f"{r:.2f}" for r in _round_ratios(mine, peer)) or "-"
                )
            rows.append([*row, _cpu_ratio(mine, peer), target])
    return markdown_table(header, rows, right={3, 4, 5})


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def report(
    pairs: list[tuple[Server, Subject]],
    servers: list[Server],
    settings: Settings,
    results: Results,
    elapsed: float,
    load_before: str,
) -> str:
    parts = [
        "# Loopback benchmark",
        "",
        environment_line(settings),
        "",
        "## req/s and p99 latency",
        "",
        results_table(pairs, results),
        "",
        "## Ratios (req/s, Kettle / peer; > 1 means Kettle serves more)",
        "",
        ratio_table(servers, results, settings.rounds),
        "",
        f"Total time {elapsed:.0f}s. Load average (1, 5, 15 min) before the run: "
        f"{load_before}; after: {load_average()} (other work on the machine makes "
        "the numbers noisy).",
    ]
    if results.warnings:
        parts += ["", "## Warnings", ""]
        parts += [f"* {w}" for w in results.warnings]
    return "\n".join(parts)


# --- command line ---------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=int,
        help="one-second wrk bursts per framework and route (default 5; quick 1)",
    )
    parser.add_argument(
        "--warmup", type=int, help="seconds of wrk warm-up per route (default 1)"
    )
    parser.add_argument("--connections", type=int, default=64, help="default 64")
    parser.add_argument("--rounds", type=int, default=1, help="default 1")
    parser.add_argument(
        "--quick", action="store_true", help="1s per route, no warm-up: smoke run"
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="let wrk and the server share every CPU (default: the server gets"
        " the last CPU, wrk the others)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        help="seconds for the whole run (default: the plan's estimate x1.3 + 30)",
    )
    parser.add_argument(
        "--server",
        action="append",
        choices=[s.key for s in SERVERS],
        help="only this server (repeatable)",
    )
    parser.add_argument(
        "--framework",
        action="append",
        choices=sorted({s.framework for s in SUBJECTS}),
        help="only this framework (repeatable; add Kettle for the ratios)",
    )
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 1 if args.quick else 5
    if args.warmup is None:
        args.warmup = 0 if args.quick else 1
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.rounds < 1:
        parser.error("--duration, --connections and --rounds must be >= 1")
    return args


def terminate(signum: int, frame: object) -> None:
    # Unwind like Ctrl-C: every running server is stopped, partial tables printed.
    raise KeyboardInterrupt


@dataclass
class Outcome:
    """What one loopback run produced: the report, the targets, an interruption."""

    text: str
    targets: list[Target]
    interrupted: bool


def measure(args: argparse.Namespace) -> Outcome:
    """Run the planned (server, framework) pairs and build the report."""
    results = Results()
    servers = []
    for server in SERVERS:
        if args.server and server.key not in args.server:
            continue
        if available(server.module):
            servers.append(server)
        else:
            results.warnings.append(f"{server.label}: `{server.module}` not installed")
    subjects = []
    for subject in SUBJECTS:
        if args.framework and subject.framework not in args.framework:
            continue
        if available(subject.module):
            subjects.append(subject)
        else:
            results.warnings.append(
                f"{subject.framework} ({subject.interface.upper()}): "
                f"`{subject.module}` not installed"
            )
    pairs = plan(servers, subjects)

    settings = Settings(args.duration, args.warmup, args.connections, args.rounds, 0.0)
    estimate = len(pairs) * settings.rounds * pair_estimate(settings)
    deadline = args.deadline if args.deadline is not None else estimate * 1.3 + 30
    pin = None if args.no_pin else split_cpus()
    settings = Settings(
        args.duration, args.warmup, args.connections, args.rounds, deadline, pin
    )
    print(
        f"{len(pairs)} server runs x {settings.rounds} round(s), "
        f"estimated {estimate:.0f}s, deadline {deadline:.0f}s",
        file=sys.stderr,
        flush=True,
    )

    load_before = load_average()
    started = time.monotonic()
    interrupted = False
    own_cpus = os.sched_getaffinity(0) if pin is not None else None
    try:
        # This script, and the wrk it starts, stay off the server's CPU.
        if pin is not None:
            os.sched_setaffinity(0, pin.client)
        run_all(pairs, settings, results)
    except KeyboardInterrupt:
        interrupted = True
        results.warnings.append("interrupted: the tables are partial")
    finally:
        if own_cpus is not None:
            os.sched_setaffinity(0, own_cpus)
    elapsed = time.monotonic() - started
    text = report(pairs, servers, settings, results, elapsed, load_before)
    return Outcome(text, targets(servers, results), interrupted)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("loopback.py needs wrk on PATH: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, terminate)
    outcome = measure(args)
    print(outcome.text)
    return 130 if outcome.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
