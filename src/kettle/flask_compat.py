"""Run unmodified Flask extensions on Kettle: ``import kettle.flask_compat`` first.

Importing this module installs an import hook, so that from then on ``import flask``
and ``import flask.<module>`` (``flask.ctx``, ``flask.globals``, ``flask.testing``,
``flask.cli``, ...) give *aliases* of Kettle's own modules, even when the real Flask
package is installed too. An alias module is a thin view of the Kettle module: every
attribute is Kettle's own object (``flask.request is kettle.request``), and the few
names Flask spells differently are mapped (``flask.Flask`` is :class:`kettle.Kettle`,
``flask.testing.FlaskClient`` is ``KettleClient``, ``flask.cli.FlaskGroup`` is
``KettleGroup``). Importing a Flask module that Kettle has no counterpart for raises a
``ModuleNotFoundError`` that says so.

Import it once, before any Flask extension, at the top of the module that creates the
app (and of ``conftest.py``)::

    import kettle.flask_compat  # noqa: F401 -- `flask` is Kettle from here on

    from flask_login import LoginManager
    from kettle import Kettle

Importing it again is a no-op. Importing it after the real ``flask`` was imported
raises :class:`~kettle.errors.FlaskImportedFirstError`, naming the module that
imported Flask: objects already taken from Flask cannot be switched to Kettle's.
This module never imports the real Flask.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

from .errors import FlaskImportedFirstError

__all__ = ["FlaskAlias", "FlaskAliasFinder"]

#: Each Flask module and the Kettle module its alias shows.
_MODULES = {
    "flask": "kettle",
    "flask.app": "kettle.app",
    "flask.blueprints": "kettle.blueprints",
    "flask.cli": "kettle.cli",
    "flask.config": "kettle.config",
    "flask.ctx": "kettle.ctx",
    "flask.globals": "kettle.globals",
    "flask.helpers": "kettle.helpers",
    "flask.json": "kettle.json",
    "flask.json.provider": "kettle.json.provider",
    "flask.json.tag": "kettle.json.tag",
    "flask.logging": "kettle.logging",
    "flask.scaffold": "kettle.scaffold",
    "flask.sessions": "kettle.sessions",
    "flask.signals": "kettle.signals",
    "flask.templating": "kettle.templating",
    "flask.testing": "kettle.testing",
    "flask.typing": "kettle.typing",
    "flask.views": "kettle.views",
    "flask.wrappers": "kettle.wrappers",
}

#: Flask's spelling of a name -> Kettle's, per alias module.
_RENAMES = {
    "flask": {"Flask": "Kettle"},
    "flask.app": {"Flask": "Kettle"},
    "flask.cli": {"FlaskGroup": "KettleGroup"},
    "flask.ctx": {"_AppCtxGlobals": "AppCtxGlobals"},
    "flask.testing": {
        "FlaskClient": "KettleClient",
        "FlaskCliRunner": "KettleCliRunner",
    },
}

_PACKAGES = frozenset(name.rpartition(".")[0] for name in _MODULES) - {""}


class FlaskAlias(types.ModuleType):
    """A module named like Flask's whose attributes are those of a Kettle module."""

    def __init__(self, name: str, target: types.ModuleType) -> None:
        super().__init__(name, target.__doc__)
        # Python names __file__ in "cannot import name ..." errors: show Kettle's.
        self.__file__ = getattr(target, "__file__", None)
        self.__kettle_module__ = target
        self.__kettle_renames__: dict[str, str] = _RENAMES.get(name, {})
        if hasattr(target, "__all__"):  # `from flask import *` gets Flask's names too
            self.__all__ = sorted({*target.__all__, *self.__kettle_renames__})

    def __getattr__(self, name: str) -> Any:
        # Only called for names not set on the alias itself (submodules, once
        # imported, are set on their parent by the import system).
        if name.startswith("__kettle_"):
            raise AttributeError(name)
        target = self.__kettle_module__
        submodule = f"{self.__name__}.{name}"
        if submodule in _MODULES:
            return importlib.import_module(submodule)
        try:
            return getattr(target, self.__kettle_renames__.get(name, name))
        except AttributeError:
            raise AttributeError(
                f"module {self.__name__!r} (Kettle's {target.__name__!r} through"
                f" kettle.flask_compat) has no attribute {name!r}: Kettle has no"
                f" counterpart of Flask's {submodule!r}."
            ) from None

    def __dir__(self) -> list[str]:
        names = set(dir(self.__kettle_module__)) | set(self.__kettle_renames__)
        return sorted(names | set(self.__dict__))


class FlaskAliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """The import hook: finds ``flask`` and ``flask.*`` and loads Kettle aliases."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for an alias of a Flask module; None for any other module."""
        if fullname != "flask" and not fullname.startswith("flask."):
            return None
        kettle_name = _MODULES.get(fullname)
        if kettle_name is None:
            raise ModuleNotFoundError(
                f"No module named {fullname!r}: kettle.flask_compat makes 'flask' an"
                f" alias of Kettle, and Kettle has no counterpart of {fullname!r}."
                f" The Flask modules it provides are: {', '.join(sorted(_MODULES))}.",
                name=fullname,
            )
        return importlib.machinery.ModuleSpec(
            fullname,
            self,
            origin=f"{kettle_name}, through kettle.flask_compat",
            is_package=fullname in _PACKAGES,
        )

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        """The alias module, wrapping the Kettle module (imported now)."""
        return FlaskAlias(spec.name, importlib.import_module(_MODULES[spec.name]))

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: the alias reads everything from the Kettle module."""


def _refers_to_flask(module: types.ModuleType | None) -> bool:
    """Whether ``module``'s namespace holds a Flask module, class or function."""
    for value in dict(getattr(module, "__dict__", {})).values():
        if isinstance(value, types.ModuleType):
            name = value.__name__
        elif isinstance(value, (type, types.FunctionType)):
            name = getattr(value, "__module__", None) or ""
        else:
            continue
        if name == "flask" or name.startswith("flask."):
            return True
    return False


def _flask_importer() -> str:
    """Best guess at the module that imported the real ``flask`` first.

    ``sys.modules`` keeps insertion order, and the import system moves a module to
    the end once its body has run. So the importer is usually the nearest module
    *after* ``flask`` that holds something of Flask's, or, when its import has not
    finished yet (a script, a module importing the alias), one *before* it.
    """
    names = [n for n in sys.modules if n == "flask" or not _is_flask_or_kettle(n)]
    index = names.index("flask") if "flask" in names else len(names)
    for name in [*names[index + 1 :], *reversed(names[:index])]:
        module = sys.modules.get(name)
        if _refers_to_flask(module):
            where = getattr(module, "__file__", None)
            return f"module {name!r}" + (f" ({where})" if where else "")
    return "a module that could not be identified"


def _is_flask_or_kettle(name: str) -> bool:
    return name.partition(".")[0] in ("flask", "kettle")


def _is_ours(obj: object) -> bool:
    # By module name rather than class, so that a reloaded module knows its own.
    return type(obj).__module__ == __name__


def _install() -> None:
    real = sys.modules.get("flask")
    if real is not None and not _is_ours(real):
        raise FlaskImportedFirstError(
            "kettle.flask_compat was imported after the real Flask package: flask was"
            f" first imported by {_flask_importer()}. Whatever took Flask's objects"
            " keeps them, so the alias cannot take effect. Fix: import"
            " kettle.flask_compat before any Flask extension (at the top of the"
            " module that creates the app, and of conftest.py).",
            name="kettle.flask_compat",
        )
    if not any(_is_ours(finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, FlaskAliasFinder())


_install()
