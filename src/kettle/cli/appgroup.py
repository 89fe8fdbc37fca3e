"""Click groups whose commands run inside an app context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click

from ..globals import _cv_app
from .discovery import ScriptInfo

__all__ = ["AppGroup", "with_appcontext"]

P = ParamSpec("P")
R = TypeVar("R")


def with_appcontext(f: Callable[P, R]) -> Callable[P, R]:
    """Run the decorated click callback inside the app's context.

    An already pushed context (of any app) is reused; otherwise the app is loaded
    through the click context's :class:`ScriptInfo` and its context pushed until the
    click context closes.
    """

    @click.pass_context
    def decorator(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        if _cv_app.get(None) is None:
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())
        return ctx.invoke(f, *args, **kwargs)

    return functools.update_wrapper(decorator, f)


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
