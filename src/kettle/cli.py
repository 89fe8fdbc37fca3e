"""The command line: click groups whose commands run inside an app context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .globals import _cv_app

__all__ = ["AppGroup", "ScriptInfo", "with_appcontext"]

F = TypeVar("F", bound=Callable[..., Any])


class ScriptInfo:
    """What the CLI knows about the app it serves; ``load_app()`` returns it."""

    def __init__(self, create_app: Callable[..., Any] | None = None) -> None:
        self.create_app = create_app
        self._loaded_app: Any = None

    def load_app(self) -> Any:
        """The application, created once."""
        if self._loaded_app is None:
            if self.create_app is None:
                raise click.UsageError(
                    "Could not locate a Kettle application. Pass --app or set"
                    " KETTLE_APP."
                )
            self._loaded_app = self.create_app()
        return self._loaded_app


def with_appcontext(f: F) -> F:
    """Run the decorated click command inside the app's context.

    If a context is already pushed (of any app), it is reused.
    """

    @click.pass_context
    def decorator(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        if _cv_app.get(None) is None:
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())
        return ctx.invoke(f, *args, **kwargs)

    return functools.update_wrapper(decorator, f)  # type: ignore[return-value]


class AppGroup(click.Group):
    """A click group whose commands run in an app context (see :func:`with_appcontext`).

    Pass ``with_appcontext=False`` to ``command`` for a command that does not need one.
    """

    def command(self, *args: Any, **kwargs: Any) -> Any:
        """Register a command, wrapped with :func:`with_appcontext` by default."""
        wrap_for_ctx = kwargs.pop("with_appcontext", True)

        def decorator(f: Callable[..., Any]) -> click.Command:
            if wrap_for_ctx:
                f = with_appcontext(f)
            return click.Group.command(self, *args, **kwargs)(f)  # type: ignore[no-any-return]

        return decorator

    def group(self, *args: Any, **kwargs: Any) -> Any:
        """Register a subgroup, an ``AppGroup`` by default."""
        kwargs.setdefault("cls", AppGroup)
        return click.Group.group(self, *args, **kwargs)
