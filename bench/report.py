"""Markdown rendering of suite results."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import cases_proxy as proxy
from harness import Result

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


def _samples(result: Result | None) -> list[float] | None:
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
    raw, base = _samples(result), _samples(empty)
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
    base = _samples(empty)
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


# --- request suites (wsgi, later asgi) ----------------------------------------


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
        ref = _samples(cell.get((reference, w)))
        row += [
            _fmt_ratio(paired_ratio(_samples(cell.get((p, w))), ref)) for p in peers
        ]
        rows.append(row)
    return "\n".join([f"### {title}", "", markdown_table(header, rows)])
