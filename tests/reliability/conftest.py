"""The reliability suite's fixtures (defined in ``rel_support.py``), and its figures
in the terminal summary."""

from __future__ import annotations

from typing import Any

from rel_support import FIGURES, start_threaded, start_uvicorn

__all__ = ["pytest_terminal_summary", "start_threaded", "start_uvicorn"]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("kettle reliability figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
