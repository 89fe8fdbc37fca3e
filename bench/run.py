"""Kettle benchmark: prints markdown tables for every registered suite.

    .venv/bin/python bench/run.py            # full run (~20 s)
    .venv/bin/python bench/run.py --quick    # smoke run (a few seconds)

See bench/README.md for what the numbers mean.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path

# Importing the case modules registers their entries (order = table order).
import cases_asgi
import cases_proxy
import cases_wsgi
import report
from harness import Config, Result, run_suite, suites

DISTRIBUTIONS = ("kettle", "flask", "werkzeug", "starlette", "quart")

FULL = Config(repeats=15, sample_seconds=0.1)
QUICK = Config(repeats=5, sample_seconds=0.01)

Renderer = Callable[[Sequence[Result]], str]
RENDERERS: dict[str, Renderer] = {
    cases_proxy.SUITE: report.proxy_report,
    cases_wsgi.SUITE: partial(report.comparison_report, "In-process WSGI requests"),
    cases_asgi.SUITE: partial(report.comparison_report, "In-process ASGI requests"),
}


# Report order of the suites; suites registered elsewhere follow.
SUITE_ORDER = (cases_proxy.SUITE, cases_wsgi.SUITE, cases_asgi.SUITE)


def default_suites() -> list[str]:
    known = suites()
    return [s for s in SUITE_ORDER if s in known] + [
        s for s in known if s not in SUITE_ORDER
    ]


def _renderer(suite: str) -> Renderer:
    return RENDERERS.get(suite, partial(report.comparison_report, suite))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_line(config: Config) -> str:
    versions = ", ".join(f"{d} {_version(d)}" for d in DISTRIBUTIONS)
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}; {versions}; "
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
    return parser.parse_args(argv)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = make_config(args)
    print("## Kettle benchmark\n")
    print(environment_line(config), flush=True)
    everything: list[Result] = []
    for suite in args.suite or default_suites():
        results = run_suite(suite, config)
        everything.extend(results)
        print("\n" + _renderer(suite)(results), flush=True)
    warnings = report.problems_section(everything)
    if warnings:
        print("\n### Warnings\n")
        print("Cells `n/a`/`invalid` were not measured; `⚠` = failed re-check.\n")
        print(warnings)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_json(everything), indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
