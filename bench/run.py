"""Kettle benchmark: prints markdown tables for every registered suite.

    .venv/bin/python bench/run.py            # full run (~2.5 min)
    .venv/bin/python bench/run.py --quick    # smoke run (~20 s)
    .venv/bin/python bench/run.py --chart bench/chart.png
    .venv/bin/python bench/run.py --loopback   # + the loopback target rows (~6 min)

See bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path

# Importing the case modules registers their entries (order = table order).
import cases_asgi
import cases_proxy
import cases_routes
import cases_wsgi
import report
import targets
import verdict
from harness import Config, Result, run_suites, suites
from report import RatioColumn

DISTRIBUTIONS = (
    "kettle",
    "flask",
    "werkzeug",
    "quart",
    "starlette",
    "falcon",
    "blacksheep",
)

FULL = Config(repeats=15, sample_seconds=0.1)
QUICK = Config(repeats=5, sample_seconds=0.01)

WSGI_TITLE = "In-process WSGI requests"
ASGI_TITLE = "In-process ASGI requests"
REFERENCE = "Kettle"
W, A = cases_wsgi.SUITE, cases_asgi.SUITE

# Kettle's cost / the peer's, same interface where the peer has it.
WSGI_RATIOS = (
    RatioColumn("Kettle/Flask", W, "Flask"),
    RatioColumn("Kettle/Falcon", W, "Falcon"),
    RatioColumn("Kettle/Starlette (ASGI)", A, "Starlette"),
    RatioColumn("Kettle/BlackSheep (ASGI)", A, "BlackSheep"),
)
ASGI_RATIOS = (
    RatioColumn("Kettle/Quart", A, "Quart"),
    RatioColumn("Kettle/Falcon", A, "Falcon"),
    RatioColumn("Kettle/Starlette", A, "Starlette"),
    RatioColumn("Kettle/BlackSheep", A, "BlackSheep"),
)

Renderer = Callable[[Mapping[str, Sequence[Result]]], str]
RENDERERS: dict[str, Renderer] = {
    cases_proxy.SUITE: lambda by: report.proxy_report(by[cases_proxy.SUITE]),
    W: partial(report.request_report, WSGI_TITLE, W, REFERENCE, WSGI_RATIOS),
    A: partial(report.request_report, ASGI_TITLE, A, REFERENCE, ASGI_RATIOS),
    cases_routes.SUITE: partial(report.routes_report, suite=cases_routes.SUITE),
}

# Report order of the suites; suites registered elsewhere follow.
SUITE_ORDER = (cases_proxy.SUITE, W, A, cases_routes.SUITE)
# Suites sampled in the same rounds, so that ratios across them are paired.
TOGETHER = frozenset({W, A})

NOTES = {
    W: (
        "Ratios: Kettle's time / the peer's, paired medians; < 1.00x means Kettle"
        " is faster. (ASGI) columns divide by the ASGI table's cell, sampled in"
        " the same rounds. `\u2013`: the framework has no such feature. A µs value in"
        " parentheses is the peer's `user (jsonify)` cell (it has one way to"
        " return JSON), which the `user (dict)` ratios use."
    ),
    A: (
        "Ratios: Kettle's time / the peer's, paired medians; < 1.00x means Kettle"
        " is faster. `\u2013` and parentheses as in the WSGI table."
    ),
    cases_routes.SUITE: (
        "N/1: time with N routes / time with 1 route, paired medians (the"
        " issue's target for Kettle: 1,000 routes <= 1.2x)."
    ),
}


def default_suites() -> list[str]:
    known = suites()
    return [s for s in SUITE_ORDER if s in known] + [
        s for s in known if s not in SUITE_ORDER
    ]


def plan(selected: Sequence[str]) -> list[list[str]]:
    """Groups of suites to run one after another; `TOGETHER` suites share one."""
    groups: list[list[str]] = []
    for suite in dict.fromkeys(selected):
        if suite in TOGETHER and groups and groups[-1][0] in TOGETHER:
            groups[-1].append(suite)
        else:
            groups.append([suite])
    return groups


def render(suite: str, by_suite: Mapping[str, Sequence[Result]]) -> str:
    renderer = RENDERERS.get(suite)
    if renderer is None:
        return report.comparison_report(suite, by_suite[suite])
    text = renderer(by_suite)
    note = NOTES.get(suite)
    return f"{text}\n\n{note}" if note else text


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_line(config: Config) -> str:
    versions = ", ".join(f"{d} {_version(d)}" for d in DISTRIBUTIONS)
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; "
        f"{versions}; "
        f"{config.repeats} samples x ~{config.sample_seconds}s per case, "
        "medians (proxy: also min); ratios are paired medians."
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument("--repeats", type=int, help="samples per case")
    parser.add_argument("--sample-time", type=float, help="seconds per sample")
    parser.add_argument(
        "--suite", action="append", choices=suites(), help="run only this suite"
    )
    parser.add_argument("--json", metavar="PATH", help="also write raw results")
    parser.add_argument(
        "--chart", metavar="PATH", help="also draw the WSGI/ASGI tables as a PNG"
    )
    parser.add_argument(
        "--loopback",
        action="store_true",
        help="also run loopback.py on the servers issue 7 sets targets for",
    )
    parser.add_argument(
        "--loopback-rounds",
        type=int,
        default=5,
        metavar="N",
        help="rounds of the loopback run (default 5)",
    )
    args = parser.parse_args(argv)
    if args.loopback_rounds < 1:
        parser.error("--loopback-rounds must be >= 1")
    return args


def make_config(args: argparse.Namespace) -> Config:
    base = QUICK if args.quick else FULL
    return Config(
        repeats=args.repeats or base.repeats,
        sample_seconds=args.sample_time or base.sample_seconds,
    )


def to_json(results: Sequence[Result]) -> list[dict[str, object]]:
    return [
        {
            "suite": r.entry.suite,
            "subject": r.entry.subject,
            "workload": r.entry.workload,
            "seconds_per_op": r.samples,
            "ops_per_sample": r.number,
            "problems": r.problems,
            "error": r.error,
        }
        for r in results
    ]


def run_loopback(args: argparse.Namespace) -> list[verdict.Target]:
    """Run loopback.py's granian (WSGI) and uvicorn rows; their targets."""
    import loopback

    if shutil.which("wrk") is None:
        print("\nNo loopback run: it needs wrk on PATH (apt-get install -y wrk).")
        return []
    servers = [c.server for c in loopback.COMPARISONS if c.target is not None]
    argv = ["--rounds", str(args.loopback_rounds)]
    argv += [arg for server in servers for arg in ("--server", server)]
    if args.quick:
        argv.append("--quick")
    print(f"\nLoopback: `bench/loopback.py {' '.join(argv)}`\n", flush=True)
    signal.signal(signal.SIGTERM, loopback.terminate)
    outcome = loopback.measure(loopback.parse_args(argv))
    print(outcome.text, flush=True)
    return outcome.targets


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = make_config(args)
    started = time.perf_counter()
    print("## Kettle benchmark\n")
    env = environment_line(config)
    print(env, flush=True)
    by_suite: dict[str, list[Result]] = {}
    for group in plan(args.suite or default_suites()):
        by_suite.update(run_suites(group, config))
        for suite in group:
            print("\n" + render(suite, by_suite), flush=True)
    everything = [r for results in by_suite.values() for r in results]
    warnings = report.problems_section(everything)
    if warnings:
        print("\n### Warnings\n")
        print("Cells `n/a`/`invalid` were not measured; `⚠` = failed re-check.\n")
        print(warnings)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(everything), indent=2), encoding="utf-8")
    if args.chart:
        import chart

        panels = {WSGI_TITLE: by_suite.get(W, []), ASGI_TITLE: by_suite.get(A, [])}
        try:
            chart.write_chart(args.chart, panels, caption=env)
            print(f"\nChart written to {args.chart}.")
        except (ImportError, ValueError) as exc:
            print(f"\nNo chart: {type(exc).__name__}: {exc}")
    checked = targets.in_process(by_suite)
    if args.loopback:
        checked += run_loopback(args)
    if checked:
        print("\n### Issue 7 targets, this run\n")
        print(verdict.table(checked))
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
