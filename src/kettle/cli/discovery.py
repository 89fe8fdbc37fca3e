"""Finding the application: ``--app`` values, default files, factories, ``.env`` files.

:meth:`ScriptInfo.load_app` is the entry: it calls ``create_app`` if given, else
imports what ``--app`` names (:func:`prepare_import`, :func:`locate_app`), else looks
for ``wsgi.py`` or ``app.py`` in the working directory. Every failure raises
:class:`NoAppException` with what was tried and how to fix it.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import sys
import traceback
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeGuard

import click

from ..helpers import get_debug_flag as get_debug_flag

if TYPE_CHECKING:
    from ..app import Kettle

__all__ = [
    "NoAppException",
    "ScriptInfo",
    "find_app_by_string",
    "find_best_app",
    "get_debug_flag",
    "load_dotenv",
    "locate_app",
    "prepare_import",
]

_APP_NAMES = ("app", "application")
_FACTORY_NAMES = ("create_app", "make_app")
_DEFAULT_FILES = ("wsgi.py", "app.py")
_DOTENV_FILES = (".kettleenv", ".env")  # later files win a clash
_TRUE = ("1", "true", "yes", "on")


class NoAppException(click.UsageError):
    """The application could not be found or loaded; the message says how to fix it."""


# -- finding the application ---------------------------------------------------------


def _is_app(value: object) -> TypeGuard[Kettle]:
    from ..app import Kettle

    return isinstance(value, Kettle)


def prepare_import(path: str) -> str:
    """Make ``path`` importable and return its module name.

    A file (``src/hello.py``) or folder path has its top-most package folder's parent
    put first on ``sys.path``; a dotted module name is looked up from the working
    directory, which is put on ``sys.path``.
    """
    if not (path.endswith(".py") or "/" in path or os.sep in path):
        _prepend_sys_path(os.getcwd())
        return path
    path = os.path.realpath(path)
    if path.endswith(".py"):
        path = path[:-3]
    if os.path.basename(path) == "__init__":
        path = os.path.dirname(path)
    parts: list[str] = []
    while True:
        path, name = os.path.split(path)
        parts.append(name)
        if not os.path.isfile(os.path.join(path, "__init__.py")):
            break
    _prepend_sys_path(path)
    return ".".join(reversed(parts))


def _prepend_sys_path(path: str) -> None:
    if not sys.path or sys.path[0] != path:
        sys.path.insert(0, path)


def _import(module_name: str, raise_if_not_found: bool) -> types.ModuleType | None:
    try:
        __import__(module_name)
    except ImportError as e:
        missing = e.name or ""
        if missing and (module_name + ".").startswith(missing + "."):
            if not raise_if_not_found:
                return None
            raise NoAppException(
                f"Could not import {module_name!r}: no such module. Check the"
                " spelling, run the command from the folder that contains it, or pass"
                " a file path such as '--app path/to/app.py'."
            ) from e
        raise NoAppException(
            f"While importing {module_name!r}, an ImportError was raised:\n\n"
            f"{traceback.format_exc()}"
        ) from e
    return sys.modules[module_name]


def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: bool = True
) -> Kettle | None:
    """Import ``module_name`` and find the app in it (by ``app_name`` if given)."""
    module = _import(module_name, raise_if_not_found)
    if module is None:
        return None
    if app_name is None:
        return find_best_app(module)
    return find_app_by_string(module, app_name)


def find_best_app(module: types.ModuleType) -> Kettle:
    """The app of ``module``: ``app``/``application``, a lone app, or a factory."""
    name = module.__name__
    for attr in _APP_NAMES:
        value = getattr(module, attr, None)
        if _is_app(value):
            return value
    found = [v for v in vars(module).values() if _is_app(v)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise NoAppException(
            f"Detected {len(found)} Kettle applications in module {name!r}; name the"
            f" one to use with '--app {name}:name'."
        )
    for attr in _FACTORY_NAMES:
        factory = getattr(module, attr, None)
        if callable(factory):
            if not _accepts(factory, (), {}):
                raise NoAppException(
                    f"Detected the factory {attr!r} in module {name!r}, but it needs"
                    f" arguments. Pass them with '--app {name}:{attr}(args)'."
                )
            return _check_app(factory(), f"{name}:{attr}()")
    raise NoAppException(
        f"Failed to find a Kettle application or factory in module {name!r}. Tried"
        " the attributes 'app' and 'application', a single Kettle instance, and the"
        " factories 'create_app' and 'make_app' (called without arguments). Name"
        f" the app with '--app {name}:name' or '--app {name}:factory(args)'."
    )


def _accepts(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Any) -> bool:
    try:
        inspect.signature(func).bind(*args, **kwargs)
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): let the call decide
        pass
    return True


def _check_app(value: object, source: str) -> Kettle:
    if not _is_app(value):
        raise NoAppException(
            f"A valid Kettle application was not obtained from {source!r}: got"
            f" {value!r}."
        )
    return value


def find_app_by_string(module: types.ModuleType, app_name: str) -> Kettle:
    """The app named by ``app_name``: an attribute or a call with literal arguments.

    ``app``, ``create_app`` (a function is called without arguments) or
    ``create_app("dev", debug=True)``.
    """
    source = f"{module.__name__}:{app_name}"
    attr, args, kwargs = _parse_app_name(app_name, source)
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise NoAppException(
            f"Failed to find attribute {attr!r} in module {module.__name__!r}."
        ) from None
    if inspect.isfunction(value) or args or kwargs:
        if not callable(value) or not _accepts(value, args, kwargs):
            raise NoAppException(
                f"{attr!r} in module {module.__name__!r} cannot be called with the"
                f" arguments given in {source!r}."
            )
        value = value(*args, **kwargs)
    return _check_app(value, source)


def _parse_app_name(
    app_name: str, source: str
) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    try:
        expr = ast.parse(app_name.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppException(
            f"Failed to parse {app_name!r} (in {source!r}) as an attribute name or a"
            " function call such as 'create_app(\"dev\")'."
        ) from None
    if isinstance(expr, ast.Name):
        return expr.id, (), {}
    if not (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)):
        raise NoAppException(
            f"Failed to parse {app_name!r} (in {source!r}) as an attribute name or a"
            " function call."
        )
    try:
        args = tuple(ast.literal_eval(arg) for arg in expr.args)
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expr.keywords}
    except ValueError:
        raise NoAppException(
            f"Failed to parse the arguments in {source!r}: only literal values"
            " (strings, numbers, lists, dicts, True, False, None) can be passed."
        ) from None
    if None in kwargs:
        raise NoAppException(f"'**' arguments are not supported in {source!r}.")
    return expr.func.id, args, kwargs  # type: ignore[return-value]


def _split_import(value: str) -> tuple[str, str | None]:
    """Split ``module:name`` on the first colon that is not a Windows drive's."""
    match = re.match(r"((?:[A-Za-z]:[\\/])?[^:]*)(?::(.*))?$", value, re.DOTALL)
    assert match is not None  # the pattern matches every string
    return match.group(1), match.group(2)


class ScriptInfo:
    """What the CLI knows about the app it serves; :meth:`load_app` returns it.

    ``app_import_path`` is the ``--app`` value; ``create_app`` a callable returning
    the app, used instead when given. ``data`` is free for commands to share state.
    """

    def __init__(
        self,
        app_import_path: str | None = None,
        create_app: Callable[[], Any] | None = None,
        set_debug_flag: bool = True,
        load_dotenv_defaults: bool = True,
    ) -> None:
        self.app_import_path = app_import_path
        self.create_app = create_app
        self.set_debug_flag = set_debug_flag
        self.load_dotenv_defaults = load_dotenv_defaults
        self.data: dict[Any, Any] = {}
        self._loaded_app: Any = None

    def load_app(self) -> Any:
        """The application, loaded once: from ``create_app``, ``--app`` or a file."""
        if self._loaded_app is not None:
            return self._loaded_app
        if self.create_app is not None:
            app = self.create_app()
        elif self.app_import_path:
            module, name = _split_import(self.app_import_path)
            app = locate_app(prepare_import(module), name)
        else:
            app = self._load_default_file()
        if self.set_debug_flag and "KETTLE_DEBUG" in os.environ:
            app.debug = get_debug_flag()
        self._loaded_app = app
        return app

    def _load_default_file(self) -> Kettle:
        for filename in _DEFAULT_FILES:
            if os.path.isfile(filename):
                app = locate_app(prepare_import(filename), None, False)
                if app is not None:
                    return app
        raise NoAppException(
            "Could not locate a Kettle application: no '--app' option, no KETTLE_APP"
            f" environment variable, and no {' or '.join(_DEFAULT_FILES)} in"
            f" {os.getcwd()!r}. Pass '--app module', '--app module:name',"
            " '--app module:create_app()' or '--app path/to/file.py'."
        )


# -- .env files ----------------------------------------------------------------------


def load_dotenv(
    path: str | os.PathLike[str] | None = None, defaults: bool = True
) -> bool:
    """Load environment variables from ``.kettleenv``, ``.env`` and ``path``.

    The default files are searched from the working directory upwards. Variables
    already set win over ``path``, which wins over ``.env``, which wins over
    ``.kettleenv``. Without python-dotenv installed the defaults are skipped and a
    ``path`` is an error. Returns whether any file was loaded.
    """
    try:
        import dotenv
    except ImportError:
        if path is not None:
            raise click.UsageError(
                f"Cannot load {os.fspath(path)!r}: python-dotenv is not installed."
                " Install it with 'pip install python-dotenv'."
            ) from None
        return False
    files = [dotenv.find_dotenv(name, usecwd=True) for name in _DOTENV_FILES]
    files = [f for f in files if f] if defaults else []
    if path is not None:
        files.append(os.fspath(path))
    values: dict[str, str | None] = {}
    for filename in files:
        values.update(dotenv.dotenv_values(filename, encoding="utf-8"))
    for key, value in values.items():
        if value is not None:
            os.environ.setdefault(key, value)
    return bool(files)
