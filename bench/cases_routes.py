"""Suite "routes": route scaling, the last of N dynamic routes requested.

An app with N routes ``/r{i}/<int:x>`` (i = 0 .. N-1), each with its own view
returning ``f"{i}:{x}"``, gets ``GET /r{N-1}/7`` through its WSGI callable
(the driver of the WSGI suite).  The body ``"{N-1}:7"`` proves that the last
route answered.  Kettle and, for comparison, Flask.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from cases_wsgi import wsgi_case
from harness import Prepared, register
from workloads import HttpWorkload, expect_text

SUITE = "routes"
COUNTS = (1, 10, 100, 1000)
FRAMEWORKS = {"Kettle": ("kettle", "Kettle"), "Flask": ("flask", "Flask")}


def label(count: int) -> str:
    return f"{count:,} route{'s' if count != 1 else ''}"


def _view(i: int) -> Callable[[int], str]:
    def view(x: int) -> str:
        return f"{i}:{x}"

    return view


def many_routes_app(module_name: str, class_name: str, count: int) -> Any:
    m = importlib.import_module(module_name)
    app = getattr(m, class_name)(__name__)
    for i in range(count):
        app.add_url_rule(f"/r{i}/<int:x>", endpoint=f"r{i}", view_func=_view(i))
    return app


def routes_case(module_name: str, class_name: str, count: int) -> Prepared:
    last = count - 1
    workload = HttpWorkload(
        label(count), f"/r{last}/7", "", partial(expect_text, f"{last}:7".encode())
    )
    app = many_routes_app(module_name, class_name, count)
    return wsgi_case(app.wsgi_app, workload)


def register_all() -> None:
    for subject, (module_name, class_name) in FRAMEWORKS.items():
        for count in COUNTS:
            factory = partial(routes_case, module_name, class_name, count)
            register(SUITE, subject, label(count), factory)


register_all()
