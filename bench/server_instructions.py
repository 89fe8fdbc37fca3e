"""Instructions per request inside a real server's worker, counted by callgrind.

    .venv/bin/python bench/server_instructions.py                 # granian (WSGI)
    .venv/bin/python bench/server_instructions.py --server uvicorn

On this shared 2-core VM, loopback req/s (``loopback.py``) move by up to ±30%
between runs, and wrk shares the cores with the server. Instruction counts do
not move: for each framework and route, the server (the same command as
``loopback.py``) is started under ``valgrind --tool=callgrind`` twice, one
keep-alive client sends ``SHORT`` and then ``LONG`` requests, and the worker
exits after the last one (see ``instr_target.py``). The difference between the
two counts, divided by ``LONG - SHORT``, is what one request costs in the
worker: the server's own work (its Rust or Python HTTP code, the WSGI or ASGI
glue) plus the framework's. ``bare`` is a hand-written callable: the server's
floor. Needs ``valgrind`` (``apt-get install valgrind``); about 90 s per cell.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import loopback

SHORT, LONG = 300, 1300
CLIENT_TIMEOUT = 300.0  # seconds for a server under valgrind to answer at all
_COLLECTED = re.compile(r"Collected : ([\d,]+)")

# server key -> frameworks, reference last (ratios are reference / framework).
PLANS = {
    "granian-wsgi": (["Kettle", "Falcon", "bare"], "Flask"),
    "granian-asgi": (["Kettle", "Falcon", "BlackSheep", "bare"], "Starlette"),
    "uvicorn": (["Kettle", "Falcon", "BlackSheep", "bare"], "Starlette"),
}


def _client(port: int, path: str, count: int) -> None:
    until = time.monotonic() + CLIENT_TIMEOUT
    while True:
        try:
            conn = http.client.HTTPConnection(loopback.HOST, port, timeout=60)
            conn.request("GET", path)
            conn.getresponse().read()
            break
        except OSError:
            if time.monotonic() > until:
                raise
            time.sleep(0.2)
    for _ in range(count - 1):
        try:
            conn.request("GET", path)
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            return  # the worker exited after its last request


def worker_instructions(
    server: loopback.Server, target: str, path: str, requests: int
) -> int:
    """Instructions of the busiest process of one server run serving ``requests``."""
    port = loopback.free_port()
    entry = "instr_target:wsgi" if server.interface == "wsgi" else "instr_target:asgi"
    with tempfile.TemporaryDirectory() as logs:
        argv = [
            *("valgrind", "--tool=callgrind", "--trace-children=yes"),
            *("--callgrind-out-file=/dev/null", f"--log-file={logs}/vg.%p"),
            *server.command(entry, port),
        ]
        env = {**os.environ, "TARGET": target, "LIMIT": str(requests)}
        env["PYTHONPATH"] = os.pathsep.join([str(loopback.BENCH_DIR), *sys.path])
        with open(os.devnull, "wb") as sink:
            proc = subprocess.Popen(
                argv,
                cwd=loopback.BENCH_DIR,
                env=env,
                stdout=sink,
                stderr=sink,
                start_new_session=True,
            )
            try:
                _client(port, path, requests)
            finally:
                time.sleep(1.0)  # let the exiting worker write its count
                loopback.stop_server(proc)
        counts = [
            int(match.group(1).replace(",", ""))
            for log in Path(logs).iterdir()
            for match in _COLLECTED.finditer(log.read_text(errors="replace"))
        ]
    return max(counts)


def per_request(server: loopback.Server, target: str, path: str) -> float:
    short = worker_instructions(server, target, path, SHORT)
    long = worker_instructions(server, target, path, LONG)
    return (long - short) / (LONG - SHORT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=sorted(PLANS), default="granian-wsgi")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    server = next(s for s in loopback.SERVERS if s.key == args.server)
    names, reference = PLANS[args.server]
    subjects = {
        s.framework: s
        for s in loopback.SUBJECTS
        if s.interface == server.interface and loopback.available(s.module)
    }
    print(f"## Instructions per request in the {server.label} worker (callgrind)\n")
    print(f"| framework | {' | '.join(f'`{r.path}`' for r in loopback.ROUTES)} |")
    print(f"|:--|{'--:|' * len(loopback.ROUTES)}")
    table: dict[str, list[float]] = {}
    for name in [reference, *names]:
        if name not in subjects:
            continue
        target = subjects[name].target
        table[name] = [per_request(server, target, r.path) for r in loopback.ROUTES]
        cells = " | ".join(f"{n / 1000:,.1f}k" for n in table[name])
        print(f"| {name} | {cells} |", flush=True)
    if reference in table:
        print(f"\n{reference}'s count / each framework's (> 1: it does less):\n")
        for name, counts in table.items():
            if name != reference:
                pairs = zip(table[reference], counts, strict=True)
                ratios = ", ".join(f"{ref / n:.2f}x" for ref, n in pairs)
                print(f"* {name}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
