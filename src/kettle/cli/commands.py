"""The built-in commands: ``run``, ``routes`` and ``shell``."""

from __future__ import annotations

import code
import importlib.util
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import click

from ..globals import current_app
from .appgroup import with_appcontext
from .discovery import ScriptInfo, get_debug_flag

if TYPE_CHECKING:
    from werkzeug.routing import Rule

__all__ = ["routes_command", "run_command", "shell_command"]


class _SeparatedPaths(click.Path):
    """Existing paths separated by ``os.pathsep`` (``:`` or ``;`` on Windows)."""

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        if not isinstance(value, str):
            return value
        paths = []
        for part in _split(value):
            paths.append(super().convert(part, param, ctx))
        return paths


def _split(value: str) -> list[str]:
    return [part for part in value.split(os.pathsep) if part]


def _ssl_context(cert: str | None, key: str | None) -> Any:
    if cert is None:
        if key is not None:
            raise click.BadParameter('"--cert" must also be given.', param_hint="--key")
        return None
    if cert == "adhoc":
        if key is not None:
            raise click.BadParameter(
                "not used with '--cert adhoc', which generates its own key.",
                param_hint="--key",
            )
        if importlib.util.find_spec("cryptography") is None:
            raise click.BadParameter(
                "'adhoc' needs the cryptography library: pip install cryptography.",
                param_hint="--cert",
            )
        return "adhoc"
    if not os.path.isfile(cert):
        raise click.BadParameter(
            f"{cert!r} is neither a certificate file nor 'adhoc'.", param_hint="--cert"
        )
    if key is None:
        raise click.BadParameter(
            "required with a certificate file given to '--cert'.", param_hint="--key"
        )
    return (os.path.abspath(cert), key)


@click.command("run", short_help="Run a development server.")
@click.option("--host", "-h", default="127.0.0.1", help="The interface to bind to.")
@click.option("--port", "-p", default=5000, help="The port to bind to.")
@click.option("--cert", help="A certificate file, or 'adhoc' for a generated one.")
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    help="The key file for '--cert'.",
)
@click.option(
    "--reload/--no-reload",
    default=None,
    help="Restart on code changes. On by default in debug mode.",
)
@click.option(
    "--debugger/--no-debugger",
    default=None,
    help="Show the interactive debugger on errors. On by default in debug mode.",
)
@click.option(
    "--with-threads/--without-threads", default=True, help="Serve with threads."
)
@click.option(
    "--extra-files",
    type=_SeparatedPaths(exists=True),
    default=None,
    help=f"More files the reloader watches, separated by {os.pathsep!r}.",
)
@click.option(
    "--exclude-patterns",
    default=None,
    help=f"fnmatch patterns the reloader ignores, separated by {os.pathsep!r}.",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    host: str,
    port: int,
    cert: str | None,
    key: str | None,
    reload: bool | None,
    debugger: bool | None,
    with_threads: bool,
    extra_files: list[str] | None,
    exclude_patterns: str | None,
) -> None:
    """Serve the app with Werkzeug's development server (never in production).

    Debug mode (``--debug`` or KETTLE_DEBUG=1) turns on the reloader and debugger.
    """
    from werkzeug.serving import run_simple

    ssl_context = _ssl_context(cert, key)
    app = ctx.ensure_object(ScriptInfo).load_app()
    debug = get_debug_flag()
    if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        click.echo(f" * Serving Kettle app {app.name!r}")
        click.echo(f" * Debug mode: {'on' if debug else 'off'}")
    run_simple(
        host,
        port,
        app,
        use_reloader=debug if reload is None else reload,
        use_debugger=debug if debugger is None else debugger,
        threaded=with_threads,
        ssl_context=ssl_context,
        extra_files=extra_files,
        exclude_patterns=_split(exclude_patterns) if exclude_patterns else None,
    )


_SORT_KEYS = ("endpoint", "methods", "domain", "rule", "match")


def _rule_methods(rule: Rule, ignored: set[str]) -> str:
    return ", ".join(sorted((rule.methods or set()) - ignored))


def _sorted_rules(rules: list[Rule], sort: str, ignored: set[str]) -> list[Rule]:
    if sort == "match":
        return rules
    keys: dict[str, Callable[[Rule], Any]] = {
        "endpoint": lambda r: r.endpoint,
        "methods": lambda r: sorted((r.methods or set()) - ignored),
        "domain": lambda r: (r.host or "") if r.map.host_matching else r.subdomain,
        "rule": lambda r: r.rule,
    }
    return sorted(rules, key=keys[sort])


def _table(headers: list[str], rows: list[list[str]]) -> Iterable[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    yield "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    yield "  ".join("-" * w for w in widths)
    for row in rows:
        yield "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()


@click.command("routes", short_help="Show the routes of the app.")
@click.option(
    "--sort",
    "-s",
    type=click.Choice(_SORT_KEYS),
    default="endpoint",
    help="The column to sort by; 'match' is the order rules are tried in.",
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS too.")
@with_appcontext
def routes_command(sort: str, all_methods: bool) -> None:
    """Show every URL rule: its endpoint, methods and pattern."""
    rules = list(current_app.url_map.iter_rules())
    if not rules:
        click.echo("No routes were registered.")
        return
    ignored = set() if all_methods else {"HEAD", "OPTIONS"}
    rules = _sorted_rules(rules, sort, ignored)
    host_matching = current_app.url_map.host_matching
    with_domain = any(r.host if host_matching else r.subdomain for r in rules)
    headers = ["Endpoint", "Methods"]
    if with_domain:
        headers.append("Host" if host_matching else "Subdomain")
    headers.append("Rule")
    rows = []
    for rule in rules:
        row = [rule.endpoint, _rule_methods(rule, ignored)]
        if with_domain:
            row.append((rule.host if host_matching else rule.subdomain) or "")
        rows.append([*row, rule.rule])
    for line in _table(headers, rows):
        click.echo(line)


@click.command("shell", short_help="Run a Python shell in the app's context.")
@with_appcontext
def shell_command() -> None:
    """An interactive Python shell with ``app``, ``g`` and the shell context.

    The ``PYTHONSTARTUP`` script runs first, as in the plain interpreter.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    namespace: dict[str, Any] = {}
    startup = os.environ.get("PYTHONSTARTUP")
    if startup and os.path.isfile(startup):
        with open(startup, encoding="utf-8") as f:
            exec(compile(f.read(), startup, "exec"), namespace)
    namespace.update(app.make_shell_context())
    banner = (
        f"Python {sys.version} on {sys.platform}\n"
        f"App: {app.name}\nInstance: {app.instance_path}"
    )
    if sys.stdin.isatty():
        _enable_completion(namespace)
    code.interact(banner=banner, local=namespace)


def _enable_completion(namespace: dict[str, Any]) -> None:
    hook = getattr(sys, "__interactivehook__", None)
    try:
        import readline
        from rlcompleter import Completer
    except ImportError:
        return
    readline.set_completer(Completer(namespace).complete)
    if hook is not None:
        hook()
