"""PNG chart of the in-process WSGI and ASGI tables (matplotlib, Agg backend).

One panel per table: workloads along the x axis, one bar per framework
(median µs per request, log scale), the value written above each bar.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness import Result

# One colour per framework, the same in both panels.
COLOURS = {
    "Kettle": "#d62728",
    "Flask": "#7f7f7f",
    "Quart": "#8c564b",
    "Falcon": "#1f77b4",
    "Starlette": "#2ca02c",
    "BlackSheep": "#111111",
    "bare WSGI": "#bcbd22",
    "bare ASGI": "#bcbd22",
}


def _panel(ax: object, title: str, results: Sequence[Result]) -> None:
    from matplotlib.ticker import FuncFormatter

    subjects = list(dict.fromkeys(r.entry.subject for r in results))
    workloads = list(dict.fromkeys(r.entry.workload for r in results))
    cell = {(r.entry.subject, r.entry.workload): r for r in results if r.ok}
    width = 0.8 / len(subjects)
    for i, subject in enumerate(subjects):
        xs, ys = [], []
        for x, workload in enumerate(workloads):
            result = cell.get((subject, workload))
            if result is not None:
                xs.append(x - 0.4 + width * (i + 0.5))
                ys.append(result.median * 1e6)
        bars = ax.bar(  # type: ignore[attr-defined]
            xs, ys, width, label=subject, color=COLOURS.get(subject)
        )
        labels = [f"{y:.0f}" if y >= 10 else f"{y:.1f}" for y in ys]
        ax.bar_label(bars, labels=labels, fontsize=6, rotation=90, padding=2)  # type: ignore[attr-defined]
    ax.set_xticks(range(len(workloads)), workloads)  # type: ignore[attr-defined]
    ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))  # type: ignore[attr-defined]
    ax.set_ylabel("µs per request (median, log scale)")  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.grid(axis="y", which="major", alpha=0.3)  # type: ignore[attr-defined]
    ax.legend(fontsize=8, ncols=len(subjects), loc="upper left")  # type: ignore[attr-defined]
    low, high = ax.get_ylim()  # type: ignore[attr-defined]
    ax.set_ylim(low, high * 6)  # type: ignore[attr-defined]  # room for labels


def write_chart(
    path: str, panels: Mapping[str, Sequence[Result]], caption: str = ""
) -> None:
    """Write one panel per (title -> results) to ``path`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {t: r for t, r in panels.items() if any(x.ok for x in r)}
    if not shown:
        raise ValueError("no WSGI or ASGI results to chart")
    fig, axes = plt.subplots(len(shown), 1, figsize=(12, 4.8 * len(shown)))
    for ax, (title, results) in zip(
        axes if len(shown) > 1 else [axes], shown.items(), strict=True
    ):
        _panel(ax, title, results)
    if caption:
        caption = textwrap.fill(caption, 170)
        fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=7)
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
