"""A target's verdict, and the markdown tables the loopback and target reports use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]
) -> str:
    """A markdown table; columns whose index is in ``right`` are right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [
        "| "
        + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
        + " |",
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i in right else (":" + "-" * (w + 1))
            for i, w in enumerate(widths)
        )
        + "|",
    ]
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One measured ratio and the bound it must stay within."""

    label: str  # what is compared, e.g. "WSGI `hello`: Kettle / Falcon"
    value: float | None  # None when either side was not measured
    bound: float
    at_least: bool = False  # False: value <= bound; True: value >= bound

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    def row(self) -> list[str]:
        sign = "≥" if self.at_least else "≤"
        value = "n/a" if self.value is None else f"{self.value:.2f}x"
        verdict = "met" if self.met else "NOT met"
        return [self.label, value, f"{sign} {self.bound:g}x", verdict]


def table(targets: Sequence[Target]) -> str:
    """A markdown table of the targets and one line saying how many are met."""
    rows = [t.row() for t in targets]
    missed = [t for t in targets if not t.met]
    summary = (
        f"All {len(targets)} targets in this run are met."
        if not missed
        else f"NOT met: {len(missed)} of the {len(targets)} targets in this run."
    )
    header = ["target (issue 7)", "this run", "bound", "verdict"]
    return "\n".join([markdown_table(header, rows, right={1, 2}), "", summary])
