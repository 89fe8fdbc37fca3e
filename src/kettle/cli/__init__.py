"""The command line: the ``kettle`` command, app discovery and app-aware click groups.

``kettle --app hello run`` finds the application (see :meth:`ScriptInfo.load_app`),
then runs a command: a built-in one (``run``, ``shell``, ``routes``), one installed
by a plugin (entry-point groups ``kettle.commands`` and ``flask.commands``), or one
the app registered with ``@app.cli.command()``. Commands of an :class:`AppGroup` run
inside an app context (see :func:`with_appcontext`).

``discovery`` finds the app, ``appgroup`` runs commands in its context, ``commands``
holds the built-in commands; this module assembles the ``kettle`` group.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from ..globals import _cv_app
from .appgroup import AppGroup as AppGroup
from .appgroup import with_appcontext as with_appcontext
from .commands import routes_command as routes_command
from .commands import run_command as run_command
from .commands import shell_command as shell_command
from .discovery import _TRUE
from .discovery import NoAppException as NoAppException
from .discovery import ScriptInfo as ScriptInfo
from .discovery import find_app_by_string as find_app_by_string
from .discovery import find_best_app as find_best_app
from .discovery import get_debug_flag as get_debug_flag
from .discovery import load_dotenv as load_dotenv
from .discovery import locate_app as locate_app
from .discovery import prepare_import as prepare_import

__all__ = [
    "AppGroup",
    "KettleGroup",
    "NoAppException",
    "ScriptInfo",
    "find_app_by_string",
    "find_best_app",
    "get_debug_flag",
    "load_dotenv",
    "locate_app",
    "main",
    "pass_script_info",
    "prepare_import",
    "routes_command",
    "run_command",
    "shell_command",
    "with_appcontext",
]

_PLUGIN_GROUPS = ("flask.commands", "kettle.commands")  # later groups win a clash


#: Pass the click context's :class:`ScriptInfo` (made if missing) to the callback.
pass_script_info = click.make_pass_decorator(ScriptInfo, ensure=True)


def _env_file_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    info = ctx.ensure_object(ScriptInfo)
    if value is not None or info.load_dotenv_defaults:
        load_dotenv(value, defaults=info.load_dotenv_defaults)
    return value


def _app_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None:
        ctx.ensure_object(ScriptInfo).app_import_path = value
    return value


def _debug_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    source = ctx.get_parameter_source(param.name or "debug")
    if value is not None and source not in (None, click.core.ParameterSource.DEFAULT):
        os.environ["KETTLE_DEBUG"] = "1" if value else "0"
    return value


def _version_callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if not value or ctx.resilient_parsing:
        return
    versions = {
        name: importlib.metadata.version(name) for name in ("kettle", "werkzeug")
    }
    click.echo(
        f"Python {sys.version.split()[0]}\nKettle {versions['kettle']}\n"
        f"Werkzeug {versions['werkzeug']}"
    )
    ctx.exit()


def _group_params(add_version_option: bool) -> list[click.Parameter]:
    params: list[click.Parameter] = [
        click.Option(
            ["-e", "--env-file"],
            type=click.Path(exists=True, dir_okay=False),
            is_eager=True,
            expose_value=False,
            callback=_env_file_callback,
            help="Load environment variables from this file (needs python-dotenv).",
        ),
        click.Option(
            ["-A", "--app"],
            metavar="IMPORT",
            is_eager=True,
            expose_value=False,
            callback=_app_callback,
            help="The app to load: 'module', 'module:name', 'module:create_app()',"
            " 'module:create_app(\"arg\")' or 'path/to/file.py'. Default: wsgi.py or"
            " app.py in the current folder. Also KETTLE_APP.",
        ),
        click.Option(
            ["--debug/--no-debug"],
            default=None,
            is_eager=True,
            expose_value=False,
            callback=_debug_callback,
            help="Turn debug mode on or off. Also KETTLE_DEBUG.",
        ),
    ]
    if add_version_option:
        params.append(
            click.Option(
                ["--version"],
                is_flag=True,
                is_eager=True,
                expose_value=False,
                callback=_version_callback,
                help="Show the Python, Kettle and Werkzeug versions.",
            )
        )
    return params


class KettleGroup(AppGroup):
    """The ``kettle`` command: app discovery, built-in, plugin and app commands.

    ``create_app`` replaces discovery with a callable returning the app.
    ``load_dotenv=False`` skips the default ``.env``/``.kettleenv`` files (so does
    KETTLE_SKIP_DOTENV=1). Plugin commands are loaded when first needed; one that
    fails to load is reported on stderr and left out.
    """

    def __init__(
        self,
        add_default_commands: bool = True,
        create_app: Callable[[], Any] | None = None,
        add_version_option: bool = True,
        load_dotenv: bool = True,
        set_debug_flag: bool = True,
        **extra: Any,
    ) -> None:
        extra["params"] = [*extra.get("params", ()), *_group_params(add_version_option)]
        extra.setdefault("context_settings", {}).setdefault(
            "auto_envvar_prefix", "KETTLE"
        )
        super().__init__(**extra)
        self.create_app = create_app
        self.load_dotenv = load_dotenv
        self.set_debug_flag = set_debug_flag
        self._plugins: dict[str, importlib.metadata.EntryPoint] | None = None
        self._loaded_plugins: dict[str, click.Command | None] = {}
        if add_default_commands:
            for command in (run_command, shell_command, routes_command):
                self.add_command(command)

    def _plugin_entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        if self._plugins is None:
            self._plugins = {
                ep.name: ep
                for group in _PLUGIN_GROUPS
                for ep in importlib.metadata.entry_points(group=group)
            }
        return self._plugins

    def _plugin_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self._loaded_plugins:
            ep = self._plugin_entry_points().get(name)
            if ep is not None and ep.group == "flask.commands":
                _load_app_before_flask_plugin(ctx)
            self._loaded_plugins[name] = None if ep is None else _load_plugin(ep)
        return self._loaded_plugins[name]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A built-in or plugin command, else the app's (run in its context)."""
        command = super().get_command(ctx, cmd_name)
        command = command or self._plugin_command(ctx, cmd_name)
        if command is not None:
            return command
        try:
            app = ctx.ensure_object(ScriptInfo).load_app()
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
            return None
        active = _cv_app.get(None)
        if active is None or active.app is not app:
            ctx.with_resource(app.app_context())
        return app.cli.get_command(ctx, cmd_name)  # type: ignore[no-any-return]

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in, plugin and app command names; an app that fails is reported."""
        names = set(super().list_commands(ctx)) | set(self._plugin_entry_points())
        try:
            names.update(
                ctx.ensure_object(ScriptInfo).load_app().cli.list_commands(ctx)
            )
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
        except Exception:
            click.secho(f"{traceback.format_exc()}\n", err=True, fg="red")
        return sorted(names)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """A click context whose ``obj`` is a :class:`ScriptInfo` for this group."""
        if "obj" not in extra and "obj" not in self.context_settings:
            extra["obj"] = ScriptInfo(
                create_app=self.create_app,
                set_debug_flag=self.set_debug_flag,
                load_dotenv_defaults=self.load_dotenv
                and os.environ.get("KETTLE_SKIP_DOTENV", "").lower() not in _TRUE,
            )
        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse; ``--env-file`` and ``--app`` are read before help lists commands."""
        only_help = (not args and self.no_args_is_help) or (
            len(args) == 1 and args[0] in self.get_help_option_names(ctx)
        )
        try:
            if only_help:  # help stops parsing before these options are read
                for param in self.params:
                    if param.name in ("env_file", "app"):
                        param.handle_parse_result(ctx, {}, [])
            return super().parse_args(ctx, args)
        except BaseException:
            # click does not close a context whose parsing stopped (for --help or
            # an error); close it so app contexts pushed for help text are popped.
            ctx.close()
            raise


def _load_app_before_flask_plugin(ctx: click.Context) -> None:
    """Load the app, if it loads, before importing a Flask extension's command.

    An app that uses Flask extensions imports ``kettle.flask_compat`` first; loading
    it now lets the extension's module import Kettle through that alias rather than
    the real Flask. A failure is left for the command itself to report.
    """
    try:
        ctx.ensure_object(ScriptInfo).load_app()
    except Exception:
        pass


def _load_plugin(ep: importlib.metadata.EntryPoint) -> click.Command | None:
    try:
        command = ep.load()
    except Exception as e:
        click.secho(
            f"Warning: the command {ep.name!r} from {ep.value!r} could not be loaded"
            f" and was skipped: {type(e).__name__}: {e}",
            err=True,
            fg="yellow",
        )
        return None
    if not isinstance(command, click.Command):
        click.secho(
            f"Warning: the command {ep.name!r} from {ep.value!r} is not a click"
            f" command ({command!r}) and was skipped.",
            err=True,
            fg="yellow",
        )
        return None
    return command


def main() -> None:
    """The ``kettle`` console command."""
    KettleGroup(
        name="kettle",
        help="A general utility script for Kettle applications.\n\n"
        "Pick the app with '--app' (or KETTLE_APP), then a command.",
    ).main()
