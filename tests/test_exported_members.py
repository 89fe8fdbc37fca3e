"""The public API: what ``kettle`` exports is exactly ``__all__``."""

from __future__ import annotations

import importlib
import types

import pytest

import kettle

MODULES = [
    "kettle",
    "kettle.ctx",
    "kettle.globals",
    "kettle.signals",
    "kettle.helpers",
    "kettle.wrappers",
    "kettle.config",
    "kettle.sessions",
    "kettle.testing",
    "kettle.errors",
    "kettle.celery",
]


def test_all_matches_the_public_names_of_the_package() -> None:
    public = {
        name
        for name, value in vars(kettle).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }
    assert set(kettle.__all__) == public | {"json"}


def test_all_is_sorted() -> None:
    assert kettle.__all__ == sorted(kettle.__all__)


@pytest.mark.parametrize("module_name", MODULES)
def test_every_name_in_all_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name}"


@pytest.mark.parametrize(
    "name",
    [
        "abort",
        "current_app",
        "flash",
        "g",
        "has_app_context",
        "has_request_context",
        "make_response",
        "redirect",
        "request",
        "Response",
        "session",
        "url_for",
    ],
)
def test_names_flask_extensions_import_exist(name: str) -> None:
    assert name in kettle.__all__
