"""The layering rules of src/kettle/README.md, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kettle"
SERVERS = {"gunicorn", "uvicorn", "hypercorn", "granian", "flask", "quart", "asgiref"}
TOOLS = {"testing.py", "pytest_plugin.py", "flask_compat.py"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _core_modules() -> list[Path]:
    return [
        p
        for p in _modules()
        if "adapters" not in p.relative_to(PACKAGE).parts and p.name not in TOOLS
    ]


def _imported_names(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ["kettle", *path.relative_to(PACKAGE).parent.parts]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_package_has_modules_to_check() -> None:
    assert len(_core_modules()) > 10


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: p.name)
def test_core_imports_no_server_package(path: Path) -> None:
    roots = {name.split(".")[0] for name in _imported_names(path)}
    assert not roots & SERVERS, f"{path.name} imports {roots & SERVERS}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_flask_or_quart(path: Path) -> None:
    # flask_compat.py names "flask" only in strings: it aliases it, never imports it.
    roots = {name.split(".")[0] for name in _imported_names(path)}
    assert not roots & {"flask", "quart"}, f"{path.name} imports {roots}"


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: p.name)
def test_only_app_py_imports_the_adapters(path: Path) -> None:
    adapters = {n for n in _imported_names(path) if n.startswith("kettle.adapters")}
    if path.name == "app.py":
        assert adapters <= {
            "kettle.adapters.asgi",
            "kettle.adapters.asgi.ASGIApp",
            "kettle.adapters.wsgi",
            "kettle.adapters.wsgi.serve_wsgi",
            "kettle.adapters.wsgi.run_dev_server",
        }
    else:
        assert not adapters, f"{path.name} imports {adapters}"


def _context_var_uses(path: Path) -> tuple[int, set[str]]:
    """How often ``path`` creates a ContextVar; which methods it calls on _cv_app."""
    tree = ast.parse(path.read_text())
    created = 0
    methods: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "ContextVar":
                created += 1
            if isinstance(func, ast.Attribute) and func.attr == "ContextVar":
                created += 1
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "_cv_app"
            ):
                methods.add(func.attr)
    return created, methods


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_globals_creates_and_only_ctx_sets_the_context_var(path: Path) -> None:
    created, methods = _context_var_uses(path)
    if path.name != "globals.py":
        assert created == 0, f"{path.name} creates a ContextVar"
    if path.name != "ctx.py":
        assert not methods & {"set", "reset"}, f"{path.name} sets the context var"


def test_ctx_py_is_where_the_context_var_is_set() -> None:
    _, methods = _context_var_uses(PACKAGE / "ctx.py")
    assert {"set", "reset"} <= methods


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_celery_integration_imports_celery(path: Path) -> None:
    names = _imported_names(path)
    if path.name != "celery.py" or path.parent != PACKAGE:
        roots = {name.split(".")[0] for name in names}
        assert not roots & {"celery", "kombu"}, f"{path.name} imports Celery"
    assert not any(n.startswith("kettle.celery") for n in names), path.name


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_level_mutable_containers(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        targets = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if names == ["__all__"] or value is None:
            continue
        mutable = isinstance(value, (ast.List, ast.Set, ast.ListComp, ast.SetComp))
        is_dict = isinstance(value, (ast.Dict, ast.DictComp))
        # Private constant lookup tables are allowed when never mutated (ALL_CAPS).
        if is_dict and all(n.lstrip("_").isupper() for n in names):
            continue
        assert not (mutable or is_dict), f"{path.name}: module-level {names} is mutable"
