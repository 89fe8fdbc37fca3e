"""Issue 7's done-when targets, checked against the results of one run.

`bench/run.py` prints the in-process targets after its tables, and, with
`--loopback`, the loopback targets measured in the same invocation; the last
table of its report then says, target by target, whether this run meets it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cases_asgi
import cases_proxy as proxy
import cases_routes
import cases_wsgi
import report
from harness import Result
from verdict import Target
from workloads import CTX, DB, ECHO, HELLO, SESSION, USER, USER_DICT

W, A = cases_wsgi.SUITE, cases_asgi.SUITE


def _time_ratio(
    cells: report.Cells, suite: str, workload: str, peer_suite: str, peer: str
) -> float | None:
    """Kettle's time / the peer's, paired median (< 1: Kettle is faster)."""
    mine = cells.get((suite, "Kettle", workload))
    theirs = report.lookup(cells, peer_suite, peer, workload)
    return report.paired_ratio(report.ok_samples(mine), report.ok_samples(theirs))


# (suite, workloads, peer suite, peer, bound): Kettle's time / the peer's <= bound.
_REQUEST_BOUNDS = (
    (W, (HELLO, USER, USER_DICT, CTX), W, "Falcon", 2.5),
    (W, (ECHO,), W, "Falcon", 1.5),
    (W, (DB,), W, "Falcon", 1.3),
    (W, (SESSION,), A, "Starlette", 1.0),
    (A, (HELLO, USER, USER_DICT, ECHO, SESSION, DB, CTX), A, "Starlette", 1.0),
    (A, (HELLO, USER, USER_DICT), A, "BlackSheep", 1.5),
)


def _request_targets(by_suite: Mapping[str, Sequence[Result]]) -> list[Target]:
    cells = report.index(by_suite)
    found = []
    for suite, workloads, peer_suite, peer, bound in _REQUEST_BOUNDS:
        if suite not in by_suite:
            continue
        side = "WSGI" if suite == W else "ASGI"
        peer_side = "" if peer_suite == suite else f" ({peer_suite.upper()})"
        for workload in workloads:
            value = _time_ratio(cells, suite, workload, peer_suite, peer)
            label = f"{side} `{workload}`: Kettle / {peer}{peer_side}"
            found.append(Target(label, value, bound))
    return found


def _proxy_targets(results: Sequence[Result]) -> list[Target]:
    by = {r.entry.subject: r for r in results}
    empty = by.get(proxy.EMPTY)
    net = {s: report.net_samples(by.get(s), empty) for s in report.PROXY_ROWS}
    mine, direct, local = net[proxy.KETTLE], net[proxy.DIRECT], net[proxy.LOCALPROXY]
    return [
        Target(
            "proxy `request.method`: Kettle / direct `ContextVar` read",
            report.paired_ratio(mine, direct),
            3.0,
        ),
        Target(
            "proxy `request.method`: `LocalProxy` / Kettle",
            report.paired_ratio(local, mine),
            10.0,
            at_least=True,
        ),
    ]


def _routes_target(results: Sequence[Result]) -> list[Target]:
    cell = {(r.entry.subject, r.entry.workload): r for r in results}
    first, last = (cases_routes.label(n) for n in (1, 1000))
    value = report.paired_ratio(
        report.ok_samples(cell.get(("Kettle", last))),
        report.ok_samples(cell.get(("Kettle", first))),
    )
    return [Target("route scaling: Kettle's 1,000th route / its first", value, 1.2)]


def in_process(by_suite: Mapping[str, Sequence[Result]]) -> list[Target]:
    """The in-process targets whose suites ran."""
    found = []
    if proxy.SUITE in by_suite:
        found += _proxy_targets(by_suite[proxy.SUITE])
    found += _request_targets(by_suite)
    if cases_routes.SUITE in by_suite:
        found += _routes_target(by_suite[cases_routes.SUITE])
    return found
