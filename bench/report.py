"""Markdown rendering of suite results."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cases_proxy as proxy
from harness import Result
from workloads import BY_NAME

NA = "n/a"
INVALID = "invalid"
FLAG = " ⚠"  # appended to a number whose case failed the re-check after timing


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    # First column (labels) left-aligned, the numbers right-aligned.
    marks = [":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]]
    rule = "|" + "|".join(marks) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def ok_samples(result: Result | None) -> list[float] | None:
    return result.samples if result is not None and result.ok else None


def paired_ratio(num: list[float] | None, den: list[float] | None) -> float | None:
    """Median of per-round ratios.

    Samples with the same index were taken in the same round-robin round,
    seconds apart, so a machine-wide slowdown that hits the whole round
    cancels out in the ratio of that round.
    """
    if not num or not den:
        return None
    ratios = [n / d for n, d in zip(num, den, strict=True) if d > 0]
    return statistics.median(ratios) if ratios else None


def _fmt_ratio(value: float | None) -> str:
    return NA if value is None else f"{value:.2f}x"


def _flag(result: Result) -> str:
    return FLAG if result.problems else ""


def _missing(result: Result | None) -> str:
    """Cell text for a case without numbers."""
    return INVALID if result is not None and result.problems else NA


def problems_section(results: Sequence[Result]) -> str:
    """One line per failed/suspicious case; empty string when all is well."""
    lines = []
    for r in results:
        where = f"[{r.entry.suite}] {r.entry.subject} / {r.entry.workload}"
        if r.error is not None:
            lines.append(f"- WARNING {where}: not measured: {r.error}")
        lines.extend(f"- WARNING {where}: {p}" for p in r.problems)
    return "\n".join(lines)


# --- proxy suite --------------------------------------------------------------


def _by_subject(results: Sequence[Result]) -> dict[str, Result]:
    return {r.entry.subject: r for r in results}


def net_samples(result: Result | None, empty: Result | None) -> list[float] | None:
    """Per-round seconds minus the same round's empty-loop seconds."""
    raw, base = ok_samples(result), ok_samples(empty)
    if raw is None or base is None:
        return None
    return [r - e for r, e in zip(raw, base, strict=True)]


def _accessor_row(
    subject: str, result: Result | None, net: list[float] | None
) -> list[str]:
    if net is None:
        return [f"`{subject}`", _missing(result), _missing(result)]
    flag = _flag(result) if result is not None else ""
    values = (statistics.median(net), min(net))
    return [f"`{subject}`", *(f"{v * 1e9:.1f}{flag}" for v in values)]


PROXY_ROWS = (proxy.KETTLE, proxy.LOCALPROXY, proxy.FLASK, proxy.DIRECT)
PROXY_RATIOS = (
    ("LocalProxy / kettle.request", proxy.LOCALPROXY, proxy.KETTLE),
    ("kettle.request / direct", proxy.KETTLE, proxy.DIRECT),
    ("flask.request / kettle.request", proxy.FLASK, proxy.KETTLE),
)


def proxy_report(results: Sequence[Result]) -> str:
    by = _by_subject(results)
    empty = by.get(proxy.EMPTY)
    net = {s: net_samples(by.get(s), empty) for s in PROXY_ROWS}
    rows = [_accessor_row(s, by.get(s), net[s]) for s in PROXY_ROWS]
    table = markdown_table(["accessor", "ns/access (median)", "ns/access (min)"], rows)
    ratio_rows = [
        [name, _fmt_ratio(paired_ratio(net[a], net[b]))] for name, a, b in PROXY_RATIOS
    ]
    base = ok_samples(empty)
    overhead = f"{statistics.median(base) * 1e9:.1f} ns" if base else NA
    return "\n".join(
        [
            "### Proxy micro-benchmark: `request.method`",
            "",
            table,
            "",
            markdown_table(["ratio (paired median)", "value"], ratio_rows),
            "",
            f"Empty-loop cost (median {overhead}/iteration) subtracted from every"
            " sample, round by round.",
        ]
    )


# --- request suites (wsgi, asgi) ---------------------------------------------------

NOT_APPLICABLE = "\u2013"  # the framework has no such feature / variant


def _cell_us(result: Result | None) -> str:
    if result is None or not result.ok:
        return _missing(result)
    return f"{result.median * 1e6:.2f}{_flag(result)}"


def comparison_report(title: str, results: Sequence[Result]) -> str:
    """Rows = workloads, columns = subjects (median µs per request).

    Ratios are peer / first subject, as paired medians (see `paired_ratio`).
    """
    subjects = list(dict.fromkeys(r.entry.subject for r in results))
    workloads = list(dict.fromkeys(r.entry.workload for r in results))
    cell = {(r.entry.subject, r.entry.workload): r for r in results}
    reference, peers = subjects[0], subjects[1:]
    header = ["workload", *(f"{s} µs/req" for s in subjects)]
    header += [f"{p}/{reference}" for p in peers]
    rows = []
    for w in workloads:
        row = [f"`{w}`", *(_cell_us(cell.get((s, w))) for s in subjects)]
        ref = ok_samples(cell.get((reference, w)))
        row += [
            _fmt_ratio(paired_ratio(ok_samples(cell.get((p, w))), ref)) for p in peers
        ]
        rows.append(row)
    return "\n".join([f"### {title}", "", markdown_table(header, rows)])


@dataclass(frozen=True)
class RatioColumn:
    """A ``reference / peer`` column; the peer may be in another suite."""

    label: str
    suite: str
    subject: str


Cells = dict[tuple[str, str, str], Result]  # (suite, subject, workload) -> result


def index(by_suite: Mapping[str, Sequence[Result]]) -> Cells:
    return {
        (r.entry.suite, r.entry.subject, r.entry.workload): r
        for results in by_suite.values()
        for r in results
    }


def lookup(cells: Cells, suite: str, subject: str, workload: str) -> Result | None:
    """The cell, or the one the workload falls back to (``like``) for peers."""
    found = cells.get((suite, subject, workload))
    like = BY_NAME[workload].like if workload in BY_NAME else None
    if found is None and like is not None:
        found = cells.get((suite, subject, like))
    return found


def request_report(
    title: str,
    suite: str,
    reference: str,
    columns: Sequence[RatioColumn],
    by_suite: Mapping[str, Sequence[Result]],
) -> str:
    """One row per workload: µs per subject, then reference / peer ratios."""
    results = by_suite[suite]
    cells = index(by_suite)
    subjects = list(dict.fromkeys(r.entry.subject for r in results))
    workloads = list(dict.fromkeys(r.entry.workload for r in results))
    header = ["workload", *(f"{s} µs" for s in subjects)]
    header += [c.label for c in columns]
    rows = []
    for w in workloads:
        row = [f"`{w}`"]
        for s in subjects:
            own = cells.get((suite, s, w))
            like = lookup(cells, suite, s, w)
            if own is not None:
                row.append(_cell_us(own))
            elif like is not None:
                row.append(f"({_cell_us(like)})")
            else:
                row.append(NOT_APPLICABLE)
        ref = ok_samples(cells.get((suite, reference, w)))
        for c in columns:
            peer = lookup(cells, c.suite, c.subject, w)
            if peer is None and c.suite in by_suite:
                row.append(NOT_APPLICABLE)
            else:
                row.append(_fmt_ratio(paired_ratio(ref, ok_samples(peer))))
        rows.append(row)
    return "\n".join([f"### {title}", "", markdown_table(header, rows)])


def routes_report(by_suite: Mapping[str, Sequence[Result]], suite: str) -> str:
    """Rows = route counts; µs per subject and each subject's N / 1-route ratio."""
    results = by_suite[suite]
    subjects = list(dict.fromkeys(r.entry.subject for r in results))
    counts = list(dict.fromkeys(r.entry.workload for r in results))
    cell = {(r.entry.subject, r.entry.workload): r for r in results}
    header = ["routes (last one requested)", *(f"{s} µs" for s in subjects)]
    header += [f"{s} N/1" for s in subjects]
    if len(subjects) > 1:
        header.append(f"{subjects[0]}/{subjects[1]}")
    rows = []
    for n in counts:
        row = [n, *(_cell_us(cell.get((s, n))) for s in subjects)]
        for s in subjects:
            first = ok_samples(cell.get((s, counts[0])))
            row.append(_fmt_ratio(paired_ratio(ok_samples(cell.get((s, n))), first)))
        if len(subjects) > 1:
            pair = (ok_samples(cell.get((s, n))) for s in subjects[:2])
            row.append(_fmt_ratio(paired_ratio(*pair)))
        rows.append(row)
    return "\n".join(["### Route scaling (WSGI)", "", markdown_table(header, rows)])
