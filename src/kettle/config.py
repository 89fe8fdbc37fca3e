"""The application's configuration: a dict with loaders, and its defaults."""

from __future__ import annotations

import errno
import json
import os
import types
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import IO, Any, Generic, TypeVar

from werkzeug.utils import import_string

__all__ = ["DEFAULT_CONFIG", "Config", "ConfigAttribute"]

T = TypeVar("T")

#: The keys every app starts with, and their values.
DEFAULT_CONFIG: Mapping[str, Any] = types.MappingProxyType(
    {
        "DEBUG": None,
        "TESTING": False,
        "PROPAGATE_EXCEPTIONS": None,
        "SECRET_KEY": None,
        "SECRET_KEY_FALLBACKS": None,
        "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
        "USE_X_SENDFILE": False,
        "TRUSTED_HOSTS": None,
        "SERVER_NAME": None,
        "APPLICATION_ROOT": "/",
        "SESSION_COOKIE_NAME": "session",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_PATH": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": False,
        "SESSION_COOKIE_PARTITIONED": False,
        "SESSION_COOKIE_SAMESITE": None,
        "SESSION_REFRESH_EACH_REQUEST": True,
        "MAX_CONTENT_LENGTH": None,
        "MAX_FORM_MEMORY_SIZE": 500_000,
        "MAX_FORM_PARTS": 1_000,
        "SEND_FILE_MAX_AGE_DEFAULT": None,
        "TRAP_BAD_REQUEST_ERRORS": None,
        "TRAP_HTTP_EXCEPTIONS": False,
        "EXPLAIN_TEMPLATE_LOADING": False,
        "PREFERRED_URL_SCHEME": "http",
        "TEMPLATES_AUTO_RELOAD": None,
        "MAX_COOKIE_SIZE": 4093,
        "PROVIDE_AUTOMATIC_OPTIONS": True,
        "BACKGROUND_WORKERS": 8,
        "BACKGROUND_SHUTDOWN_TIMEOUT": 10.0,
    }
)


class ConfigAttribute(Generic[T]):
    """An attribute of the app that reads and writes one config key."""

    def __init__(
        self, name: str, get_converter: Callable[[Any], T] | None = None
    ) -> None:
        self.__name__ = name
        self.get_converter = get_converter

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.config[self.__name__]
        if self.get_converter is not None:
            value = self.get_converter(value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.config[self.__name__] = value


class Config(dict[str, Any]):
    """A dict of settings that can be filled from objects, files and the environment.

    Only upper-case keys are read from objects, modules and mappings, so helper names
    and imports in a config module are ignored.
    """

    # Called after every change made through the dict's methods (see _watch).
    _watchers: tuple[Callable[[], None], ...] = ()

    def __init__(
        self,
        root_path: str | os.PathLike[str],
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(defaults or {})
        self.root_path = os.fspath(root_path)

    # -- change notification ---------------------------------------------------------
    # PERF: an app keeps the few settings that every request reads as its own
    # attributes (a lookup in a dict subclass is slow); each method that changes the
    # dict tells it. Copies and pickles leave the watchers behind.

    def _watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` now and after every later change."""
        self._watchers = (*self._watchers, callback)
        callback()

    def _unwatch(self, callback: Callable[[], None]) -> None:
        self._watchers = tuple(w for w in self._watchers if w != callback)

    def _changed(self) -> None:
        for callback in self._watchers:
            callback()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_watchers", None)
        return state

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._changed()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __ior__(self, other: Any) -> Config:  # type: ignore[override,misc]
        super().__ior__(other)
        self._changed()
        return self

    def from_envvar(self, variable_name: str, silent: bool = False) -> bool:
        """Load the Python file named by the environment variable ``variable_name``."""
        path = os.environ.get(variable_name)
        if not path:
            if silent:
                return False
            raise RuntimeError(
                f"The environment variable {variable_name!r} is not set, so no"
                " configuration file could be loaded from it. Set it to the path of"
                " a Python configuration file."
            )
        return self.from_pyfile(path, silent=silent)

    def from_prefixed_env(
        self, prefix: str = "KETTLE", *, loads: Callable[[str], Any] = json.loads
    ) -> bool:
        """Load ``{prefix}_*`` environment variables, decoding values with ``loads``.

        A value that does not decode stays a string; ``__`` in a name sets a key of a
        nested dict, as in ``KETTLE_DB__HOST``.
        """
        prefix = f"{prefix}_"
        for key in sorted(os.environ):
            if not key.startswith(prefix):
                continue
            raw = os.environ[key]
            try:
                value = loads(raw)
            except Exception:
                value = raw
            self._set_nested(key.removeprefix(prefix), value)
        return True

    def _set_nested(self, key: str, value: Any) -> None:
        *parents, last = key.split("__")
        target: dict[str, Any] = self
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value

    def from_pyfile(
        self, filename: str | os.PathLike[str], silent: bool = False
    ) -> bool:
        """Run a Python file and load its upper-case names."""
        path = os.path.join(self.root_path, filename)
        module = types.ModuleType("config")
        module.__file__ = path
        try:
            with open(path, mode="rb") as config_file:
                exec(compile(config_file.read(), path, "exec"), module.__dict__)
        except OSError as e:
            if silent and e.errno in (errno.ENOENT, errno.EISDIR, errno.ENOTDIR):
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        self.from_object(module)
        return True

    def from_object(self, obj: object | str) -> None:
        """Load the upper-case attributes of an object, or of an import path to one."""
        if isinstance(obj, str):
            obj = import_string(obj)
        for key in dir(obj):
            if key.isupper():
                self[key] = getattr(obj, key)

    def from_file(
        self,
        filename: str | os.PathLike[str],
        load: Callable[[IO[Any]], Mapping[str, Any]],
        silent: bool = False,
        text: bool = True,
    ) -> bool:
        """Load a file with ``load`` (such as ``json.load`` or ``tomllib.load``)."""
        path = os.path.join(self.root_path, filename)
        try:
            with open(path, "r" if text else "rb") as f:
                data = load(f)
        except OSError as e:
            if silent and e.errno in (errno.ENOENT, errno.EISDIR):
                return False
            e.strerror = f"Unable to load configuration file ({e.strerror})"
            raise
        return self.from_mapping(data)

    def from_mapping(
        self, mapping: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> bool:
        """Load the upper-case keys of a mapping and of the keyword arguments."""
        items = {**(mapping or {}), **kwargs}
        for key, value in items.items():
            if key.isupper():
                self[key] = value
        return True

    def get_namespace(
        self, namespace: str, lowercase: bool = True, trim_namespace: bool = True
    ) -> dict[str, Any]:
        """Return the keys starting with ``namespace`` as a new dict."""
        found = {}
        for key, value in self.items():
            if not key.startswith(namespace):
                continue
            name = key[len(namespace) :] if trim_namespace else key
            found[name.lower() if lowercase else name] = value
        return found

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict.__repr__(self)}>"
