"""The command line: app discovery, .env files, built-in, app and plugin commands."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from kettle import Blueprint, Kettle, current_app, g
from kettle.cli import (
    AppGroup,
    KettleGroup,
    NoAppException,
    ScriptInfo,
    load_dotenv,
    main,
    pass_script_info,
    routes_command,
    run_command,
    shell_command,
    with_appcontext,
)
from kettle.cli.discovery import _split_import
from kettle.errors import SetupError
from kettle.globals import _cv_app
from kettle.testing import KettleCliRunner

VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in an empty folder; undo changes to os.environ, sys.path, sys.modules."""
    environ = dict(os.environ)
    path = list(sys.path)
    modules = set(sys.modules)
    monkeypatch.chdir(tmp_path)
    for name in ("KETTLE_APP", "KETTLE_DEBUG", "KETTLE_SKIP_DOTENV", "PYTHONSTARTUP"):
        monkeypatch.delenv(name, raising=False)
    yield
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def write(path: Path | str, source: str) -> Path:
    """Write dedented ``source`` to ``path`` (relative to the working directory)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def kettle(*args: str, **kwargs: Any) -> Result:
    """Invoke the ``kettle`` command as the console script would, in process."""
    return CliRunner().invoke(KettleGroup(name="kettle"), list(args), **kwargs)


HELLO = """
    import click
    from kettle import Kettle, current_app

    app = Kettle(__name__)

    @app.route("/")
    def index():
        return "hi"

    @app.cli.command()
    def hello():
        click.echo(f"hello from {current_app.name}")
"""


# -- discovery -----------------------------------------------------------------------


def test_app_option_loads_the_app_attribute_of_a_module() -> None:
    write("hello.py", HELLO)
    result = kettle("--app", "hello", "hello")
    assert result.exit_code == 0, result.output
    assert result.output == "hello from hello\n"


def test_kettle_app_environment_variable_names_the_app() -> None:
    write("hello.py", HELLO)
    result = kettle("hello", env={"KETTLE_APP": "hello"})
    assert result.output == "hello from hello\n"


@pytest.mark.parametrize(
    "source",
    [
        "from kettle import Kettle\napplication = Kettle('found')\n",
        "from kettle import Kettle\nmy_app = Kettle('found')\n",
        "from kettle import Kettle\ndef create_app():\n    return Kettle('found')\n",
        "from kettle import Kettle\ndef make_app(x=1):\n    return Kettle('found')\n",
    ],
    ids=["application", "lone-instance", "create_app", "make_app"],
)
def test_module_discovery_finds_the_app(source: str) -> None:
    write("mod.py", source)
    assert ScriptInfo("mod").load_app().name == "found"


def test_app_attribute_wins_over_other_instances() -> None:
    write(
        "mod.py", "from kettle import Kettle\nother = Kettle('o')\napp = Kettle('a')\n"
    )
    assert ScriptInfo("mod").load_app().name == "a"


def test_two_instances_need_a_name() -> None:
    write("mod.py", "from kettle import Kettle\none = Kettle('1')\ntwo = Kettle('2')\n")
    with pytest.raises(
        NoAppException, match=r"2 Kettle applications.*'--app mod:name'"
    ):
        ScriptInfo("mod").load_app()
    assert ScriptInfo("mod:two").load_app().name == "2"


def test_factory_needing_arguments_says_how_to_pass_them() -> None:
    write("mod.py", "def create_app(config):\n    pass\n")
    with pytest.raises(
        NoAppException, match=r"needs arguments.*mod:create_app\(args\)"
    ):
        ScriptInfo("mod").load_app()


def test_factory_returning_something_else_is_reported() -> None:
    write("mod.py", "def create_app():\n    return 42\n")
    with pytest.raises(NoAppException, match="not obtained from 'mod:create_app"):
        ScriptInfo("mod").load_app()


def test_module_without_an_app_lists_what_was_tried() -> None:
    write("empty.py", "x = 1\n")
    with pytest.raises(NoAppException) as info:
        ScriptInfo("empty").load_app()
    message = info.value.format_message()
    assert "in module 'empty'" in message
    assert "'application'" in message
    assert "'make_app'" in message
    assert "--app empty:name" in message


def test_module_without_an_app_is_a_usage_error_on_the_command_line() -> None:
    write("empty.py", "x = 1\n")
    result = kettle("--app", "empty", "routes")
    assert result.exit_code == 2
    assert "Failed to find a Kettle application or factory" in result.output


FACTORY = """
    from kettle import Kettle

    def create_app(name="default", *, suffix=""):
        return Kettle(name + suffix)

    def not_a_factory():
        return "text"
"""


@pytest.mark.parametrize(
    ("app_name", "expected"),
    [
        ("create_app", "default"),
        ("create_app()", "default"),
        ('create_app("given")', "given"),
        ("create_app('given', suffix='-1')", "given-1"),
    ],
)
def test_app_option_calls_a_factory_with_literal_arguments(
    app_name: str, expected: str
) -> None:
    write("factory.py", FACTORY)
    assert ScriptInfo(f"factory:{app_name}").load_app().name == expected


@pytest.mark.parametrize(
    ("app_name", "message"),
    [
        ("create_app(name)", "only literal values"),
        ("create_app(**{'a': 1})", r"'\*\*' arguments"),
        ("create_app(", "Failed to parse"),
        ("factory.create_app", "Failed to parse"),
        ("missing", "Failed to find attribute 'missing' in module 'factory'"),
        ("create_app(1, 2, 3)", "cannot be called with the arguments"),
        ("not_a_factory", "not obtained from 'factory:not_a_factory'"),
        ("Kettle", "not obtained from 'factory:Kettle'"),
    ],
)
def test_bad_app_names_are_explained(app_name: str, message: str) -> None:
    write("factory.py", FACTORY)
    with pytest.raises(NoAppException, match=message):
        ScriptInfo(f"factory:{app_name}").load_app()


def test_missing_module_says_it_could_not_be_imported() -> None:
    result = kettle("--app", "no_such_module", "routes")
    assert result.exit_code == 2
    assert "Could not import 'no_such_module': no such module" in result.output


def test_import_error_inside_the_module_shows_its_traceback() -> None:
    write("broken.py", "import no_such_dependency\n")
    with pytest.raises(NoAppException) as info:
        ScriptInfo("broken").load_app()
    message = info.value.format_message()
    assert "While importing 'broken', an ImportError was raised" in message
    assert "no_such_dependency" in message


def test_factory_raising_propagates_its_error() -> None:
    write("failing.py", "def create_app():\n    raise RuntimeError('db is down')\n")
    result = kettle("--app", "failing", "routes")
    assert isinstance(result.exception, RuntimeError)
    assert str(result.exception) == "db is down"


def test_help_still_lists_built_in_commands_when_the_factory_raises() -> None:
    write("failing.py", "def create_app():\n    raise RuntimeError('db is down')\n")
    result = kettle("--app", "failing", "--help")
    assert result.exit_code == 0
    assert "RuntimeError: db is down" in result.stderr
    assert "routes" in result.stdout
    assert "shell" in result.stdout


def test_app_option_accepts_a_file_path() -> None:
    write("project/serve.py", HELLO)
    result = kettle("--app", "project/serve.py", "hello")
    assert result.output == "hello from serve\n"


def test_file_path_inside_a_package_imports_the_package() -> None:
    write("pkg/__init__.py", "")
    write("pkg/web.py", HELLO)
    result = kettle("--app", "pkg/web.py", "hello")
    assert result.output == "hello from pkg.web\n"


def test_package_folder_path_with_a_factory() -> None:
    write(
        "src/blog/__init__.py",
        "from kettle import Kettle\ndef create_app():\n    return Kettle(__name__)\n",
    )
    assert ScriptInfo("src/blog").load_app().name == "blog"


@pytest.mark.parametrize("filename", ["wsgi.py", "app.py"])
def test_default_files_are_found_without_app_option(filename: str) -> None:
    write(filename, HELLO)
    result = kettle("hello")
    assert result.output == f"hello from {filename[:-3]}\n"


def test_without_any_app_the_error_says_how_to_name_one(tmp_path: Path) -> None:
    result = kettle("routes")
    assert result.exit_code == 2
    assert "Could not locate a Kettle application" in result.output
    assert "wsgi.py or app.py" in result.output
    assert "'--app module:create_app()'" in result.output


def test_script_info_loads_the_app_once() -> None:
    calls: list[int] = []

    def create() -> Kettle:
        calls.append(1)
        return Kettle("once")

    info = ScriptInfo(create_app=create)
    assert info.load_app() is info.load_app()
    assert calls == [1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello", ("hello", None)),
        ("hello:app", ("hello", "app")),
        ('hello:create_app("a:b")', ("hello", 'create_app("a:b")')),
        ("C:\\apps\\hello.py:app", ("C:\\apps\\hello.py", "app")),
        ("C:/apps/hello.py", ("C:/apps/hello.py", None)),
    ],
)
def test_import_string_splits_on_the_first_colon_after_a_drive(
    value: str, expected: tuple[str, str | None]
) -> None:
    assert _split_import(value) == expected


# -- debug flag ----------------------------------------------------------------------


DEBUG_APP = """
    import click
    from kettle import Kettle, current_app

    app = Kettle(__name__)

    @app.cli.command()
    def debug():
        click.echo(current_app.debug)
"""


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {}, "False"),
        (("--debug",), {}, "True"),
        (("--no-debug",), {"KETTLE_DEBUG": "1"}, "False"),
        ((), {"KETTLE_DEBUG": "1"}, "True"),
    ],
)
def test_debug_option_and_variable_set_app_debug(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    write("dbg.py", DEBUG_APP)
    result = kettle(*args, "--app", "dbg", "debug", env=env)
    assert result.output == f"{expected}\n"


# -- .env files ----------------------------------------------------------------------


def test_dotenv_files_are_loaded_with_precedence() -> None:
    write(".kettleenv", "A=kettleenv\nB=kettleenv\nC=kettleenv\nD=kettleenv\n")
    write(".env", "B=env\nC=env\nD=env\n")
    write("extra.env", "C=extra\nD=extra\n")
    os.environ["D"] = "process"
    assert load_dotenv("extra.env")
    values = [os.environ[k] for k in "ABCD"]
    assert values == ["kettleenv", "env", "extra", "process"]


def test_dotenv_file_can_name_the_app() -> None:
    write("hello.py", HELLO)
    write(".env", "KETTLE_APP=hello\n")
    assert kettle("hello").output == "hello from hello\n"


def test_env_file_option_loads_a_file() -> None:
    write("hello.py", HELLO)
    write("settings.env", "KETTLE_APP=hello\nGREETING=hi\n")
    result = kettle("--env-file", "settings.env", "hello")
    assert result.output == "hello from hello\n"
    assert os.environ["GREETING"] == "hi"


def test_skip_dotenv_variable_ignores_the_default_files() -> None:
    write(".env", "FROM_DOTENV=1\n")
    kettle("--help", env={"KETTLE_SKIP_DOTENV": "1"})
    assert "FROM_DOTENV" not in os.environ
    kettle("--help")
    assert os.environ["FROM_DOTENV"] == "1"


def test_group_without_dotenv_ignores_the_default_files() -> None:
    write(".env", "FROM_DOTENV=1\n")
    CliRunner().invoke(KettleGroup(load_dotenv=False), ["--help"])
    assert "FROM_DOTENV" not in os.environ


def test_without_python_dotenv_default_files_are_skipped_silently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)
    write(".env", "FROM_DOTENV=1\n")
    write("hello.py", HELLO)
    result = kettle("--app", "hello", "hello")
    assert result.output == "hello from hello\n"
    assert "FROM_DOTENV" not in os.environ
    assert load_dotenv() is False


def test_without_python_dotenv_an_env_file_option_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)
    write("settings.env", "A=1\n")
    result = kettle("--env-file", "settings.env", "routes")
    assert result.exit_code == 2
    assert "python-dotenv is not installed" in result.output


# -- routes --------------------------------------------------------------------------


@pytest.fixture
def routed_app() -> Kettle:
    app = Kettle("routed", static_folder=None)

    @app.route("/zeta", methods=["GET", "POST"])
    def alpha() -> str:
        return ""

    @app.route("/alpha/<int:id>", methods=["DELETE"])
    def zeta(id: int) -> str:
        return ""

    @app.route("/middle", methods=["PUT"])
    def middle() -> str:
        return ""

    return app


def test_routes_prints_a_table_sorted_by_endpoint(routed_app: Kettle) -> None:
    result = routed_app.test_cli_runner().invoke(routes_command)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Endpoint  Methods    Rule",
        "--------  ---------  ---------------",
        "alpha     GET, POST  /zeta",
        "middle    PUT        /middle",
        "zeta      DELETE     /alpha/<int:id>",
    ]


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("rule", ["zeta", "middle", "alpha"]),
        ("methods", ["zeta", "alpha", "middle"]),
        ("match", ["alpha", "zeta", "middle"]),
        ("endpoint", ["alpha", "middle", "zeta"]),
    ],
)
def test_routes_sort_option(routed_app: Kettle, sort: str, order: list[str]) -> None:
    result = routed_app.test_cli_runner().invoke(routes_command, ["--sort", sort])
    assert [line.split()[0] for line in result.output.splitlines()[2:]] == order


def test_routes_hides_head_and_options_unless_all_methods(routed_app: Kettle) -> None:
    runner = routed_app.test_cli_runner()
    assert "HEAD" not in runner.invoke(routes_command).output
    output = runner.invoke(routes_command, ["--all-methods"]).output
    assert "GET, HEAD, OPTIONS, POST" in output
    assert "DELETE, OPTIONS" in output


def test_routes_shows_a_subdomain_column_when_one_is_used() -> None:
    app = Kettle("sub", static_folder=None, subdomain_matching=True)
    app.add_url_rule("/", "home", lambda: "")
    app.add_url_rule("/", "api", lambda: "", subdomain="api")
    lines = app.test_cli_runner().invoke(routes_command).output.splitlines()
    assert lines[0].split() == ["Endpoint", "Methods", "Subdomain", "Rule"]
    assert lines[2].split() == ["api", "GET", "api", "/"]


def test_routes_without_rules_says_so() -> None:
    app = Kettle("bare", static_folder=None)
    result = app.test_cli_runner().invoke(routes_command)
    assert result.output == "No routes were registered.\n"


def test_routes_rejects_an_unknown_sort_key(routed_app: Kettle) -> None:
    result = routed_app.test_cli_runner().invoke(routes_command, ["--sort", "size"])
    assert result.exit_code == 2
    assert "'size' is not one of" in result.output


# -- shell ---------------------------------------------------------------------------


def test_shell_runs_code_with_app_and_g(app: Kettle) -> None:
    result = app.test_cli_runner().invoke(
        shell_command, input="g.x = 5\nprint(app.name, g.x)\n"
    )
    assert result.exit_code == 0, result.output
    assert "kettle_test_app 5" in result.stdout
    assert f"App: {app.name}" in result.output


def test_shell_includes_the_shell_context_processors(app: Kettle) -> None:
    @app.shell_context_processor
    def tools() -> dict[str, Any]:
        return {"answer": 42, "has_app": current_app.name}

    result = app.test_cli_runner().invoke(
        shell_command, input="print(answer, has_app)\n"
    )
    assert "42 kettle_test_app" in result.stdout


def test_shell_runs_the_pythonstartup_script_first(app: Kettle) -> None:
    startup = write("startup.py", "from_startup = 'ok'\nanswer = 'startup'\n")
    app.shell_context_processor(lambda: {"answer": "processor"})
    result = app.test_cli_runner().invoke(
        shell_command,
        input="print(from_startup, answer)\n",
        env={"PYTHONSTARTUP": str(startup)},
    )
    assert "ok processor" in result.stdout


def test_make_shell_context_has_app_g_and_processors_in_order(app: Kettle) -> None:
    app.shell_context_processor(lambda: {"a": 1, "b": 1})
    app.shell_context_processor(lambda: {"b": 2})
    context = app.make_shell_context()
    assert context["app"] is app
    assert context["g"] is g
    assert (context["a"], context["b"]) == (1, 2)


def test_shell_context_processor_is_a_setup_method(app: Kettle) -> None:
    app.add_url_rule("/", "index", lambda: "")
    app.test_client().get("/")
    with pytest.raises(SetupError, match="'shell_context_processor'"):
        app.shell_context_processor(dict)


# -- run -----------------------------------------------------------------------------


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace Werkzeug's run_simple; each call's arguments are recorded."""
    calls: list[dict[str, Any]] = []

    def fake_run_simple(
        hostname: str, port: int, application: Any, **options: Any
    ) -> None:
        calls.append({"host": hostname, "port": port, "app": application, **options})

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    return calls


def test_run_serves_the_app_with_defaults(
    app: Kettle, run_calls: list[dict[str, Any]]
) -> None:
    result = app.test_cli_runner().invoke(run_command)
    assert result.exit_code == 0, result.output
    assert " * Serving Kettle app 'kettle_test_app'" in result.output
    assert " * Debug mode: off" in result.output
    [call] = run_calls
    assert call["app"] is app
    assert (call["host"], call["port"]) == ("127.0.0.1", 5000)
    assert call["use_reloader"] is False
    assert call["use_debugger"] is False
    assert call["threaded"] is True
    assert call["ssl_context"] is None
    assert call["extra_files"] is None
    assert call["exclude_patterns"] is None


def test_run_in_debug_mode_turns_reloader_and_debugger_on(
    run_calls: list[dict[str, Any]],
) -> None:
    write("hello.py", HELLO)
    result = kettle("--app", "hello", "--debug", "run")
    assert " * Debug mode: on" in result.output
    assert run_calls[0]["app"].debug is True
    assert run_calls[0]["use_reloader"] is True
    assert run_calls[0]["use_debugger"] is True
    kettle("--app", "hello", "--debug", "run", "--no-reload", "--no-debugger")
    assert run_calls[1]["use_reloader"] is False
    assert run_calls[1]["use_debugger"] is False


def test_run_passes_host_port_threads_and_reloader_files(
    app: Kettle, run_calls: list[dict[str, Any]]
) -> None:
    one, two = write("one.cfg", ""), write("two.cfg", "")
    args = [
        "--host", "0.0.0.0", "--port", "8080", "--reload", "--debugger",
        "--without-threads", "--extra-files", f"{one}{os.pathsep}{two}",
        "--exclude-patterns", f"*.tmp{os.pathsep}*.swp",
    ]  # fmt: skip
    result = app.test_cli_runner().invoke(run_command, args)
    assert result.exit_code == 0, result.output
    [call] = run_calls
    assert (call["host"], call["port"]) == ("0.0.0.0", 8080)
    assert call["use_reloader"] is True
    assert call["use_debugger"] is True
    assert call["threaded"] is False
    assert call["extra_files"] == [str(one), str(two)]
    assert call["exclude_patterns"] == ["*.tmp", "*.swp"]


def test_run_port_from_the_environment(run_calls: list[dict[str, Any]]) -> None:
    write("hello.py", HELLO)
    kettle("--app", "hello", "run", env={"KETTLE_RUN_PORT": "9000"})
    assert run_calls[0]["port"] == 9000


def test_run_with_cert_and_key_files(
    app: Kettle, run_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    write("server.crt", "")
    write("server.key", "")
    result = app.test_cli_runner().invoke(
        run_command, ["--cert", "server.crt", "--key", "server.key"]
    )
    assert result.exit_code == 0, result.output
    expected = (str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    assert run_calls[0]["ssl_context"] == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cert", "server.crt"], "Invalid value for --key: required with a cert"),
        (["--key", "server.key"], 'Invalid value for --key: "--cert" must also'),
        (["--cert", "missing.crt"], "neither a certificate file nor 'adhoc'"),
        (["--cert", "adhoc", "--key", "server.key"], "not used with '--cert adhoc'"),
    ],
)
def test_run_rejects_inconsistent_cert_options(
    app: Kettle, run_calls: list[dict[str, Any]], args: list[str], message: str
) -> None:
    write("server.crt", "")
    write("server.key", "")
    result = app.test_cli_runner().invoke(run_command, args)
    assert result.exit_code == 2
    assert message in result.output
    assert run_calls == []


def test_run_with_an_adhoc_certificate(
    app: Kettle, run_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    installed = {"cryptography": True}

    def find_spec(name: str, *args: Any) -> Any:
        if name == "cryptography":
            return object() if installed["cryptography"] else None
        return real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    app.test_cli_runner().invoke(run_command, ["--cert", "adhoc"])
    assert run_calls[0]["ssl_context"] == "adhoc"
    installed["cryptography"] = False
    result = app.test_cli_runner().invoke(run_command, ["--cert", "adhoc"])
    assert result.exit_code == 2
    assert "needs the cryptography library" in result.output


def test_run_without_an_app_is_a_usage_error(run_calls: list[dict[str, Any]]) -> None:
    result = kettle("run")
    assert result.exit_code == 2
    assert "Could not locate a Kettle application" in result.output
    assert run_calls == []


# -- app commands and contexts -------------------------------------------------------


def test_app_commands_run_in_the_app_context(app: Kettle) -> None:
    @app.cli.command()
    def where() -> None:
        click.echo(current_app.name)

    result = app.test_cli_runner().invoke(args=["where"])
    assert result.output == "kettle_test_app\n"


def test_app_command_parameter_callbacks_see_the_app(app: Kettle) -> None:
    def callback(ctx: click.Context, param: click.Parameter, value: str) -> str:
        return f"{value}@{current_app.name}"

    @app.cli.command(with_appcontext=False)
    @click.option("--name", default="x", callback=callback)
    def show(name: str) -> None:
        click.echo(name)

    group = KettleGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(group, ["show"])
    assert result.output == "x@kettle_test_app\n"


def test_get_command_reuses_a_pushed_context_of_the_same_app(app: Kettle) -> None:
    @app.cli.command(with_appcontext=False)
    def read() -> None:
        click.echo(g.get("outer", "fresh"))

    group = KettleGroup(create_app=lambda: app)
    with app.app_context():
        g.outer = "reused"
        result = app.test_cli_runner().invoke(group, ["read"])
    assert result.output == "reused\n"


def test_get_command_pushes_its_app_over_another_apps_context(app: Kettle) -> None:
    @app.cli.command(with_appcontext=False)
    def name() -> None:
        click.echo(current_app.name)

    group = KettleGroup(create_app=lambda: app)
    with Kettle("other").app_context():
        result = app.test_cli_runner().invoke(group, ["name"])
    assert result.output == "kettle_test_app\n"


def test_command_without_appcontext_has_no_context(app: Kettle) -> None:
    @app.cli.command(with_appcontext=False)
    def plain() -> None:
        click.echo(bool(current_app))

    assert app.test_cli_runner().invoke(args=["plain"]).output == "False\n"


def test_command_needing_a_context_without_an_app_fails_clearly() -> None:
    @click.command()
    @with_appcontext
    def needs_app() -> None:
        click.echo(current_app.name)

    result = CliRunner().invoke(needs_app)
    assert result.exit_code == 2
    assert "Could not locate a Kettle application" in result.output


def test_with_appcontext_reuses_the_context_of_a_group_callback(app: Kettle) -> None:
    @app.cli.group()
    @with_appcontext
    def db() -> None:
        g.connection = "shared"

    @db.command()
    def show() -> None:
        click.echo(g.connection)

    assert isinstance(db, AppGroup)
    result = app.test_cli_runner().invoke(args=["db", "show"])
    assert result.output == "shared\n"


def test_subgroups_are_app_groups_whose_commands_have_a_context(app: Kettle) -> None:
    @app.cli.group()
    def users() -> None:
        pass

    @users.command()
    def count() -> None:
        click.echo(current_app.name)

    result = app.test_cli_runner().invoke(args=["users", "count"])
    assert result.output == "kettle_test_app\n"


def test_unknown_command_reports_the_app_error_and_no_such_command() -> None:
    result = kettle("--app", "no_such_module", "frobnicate")
    assert result.exit_code == 2
    assert "Could not import 'no_such_module'" in result.stderr
    assert "No such command 'frobnicate'" in result.output


def test_help_with_app_option_lists_app_commands() -> None:
    write("hello.py", HELLO)
    result = kettle("--app", "hello", "--help")
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1].split()
    for name in ("hello", "routes", "run", "shell"):
        assert name in commands


def test_help_without_arguments_sees_the_app_named_in_dotenv() -> None:
    write("hello.py", HELLO)
    write(".env", "KETTLE_APP=hello\n")
    result = kettle()
    assert "hello" in result.output.split("Commands:")[1].split()


def test_help_with_a_bad_app_still_lists_built_in_commands() -> None:
    result = kettle("--app", "no_such_module", "--help")
    assert result.exit_code == 0
    assert "Error: Could not import 'no_such_module'" in result.stderr
    assert "routes" in result.stdout


def test_version_option_shows_the_versions() -> None:
    result = kettle("--version")
    assert result.exit_code == 0
    assert f"Kettle {importlib.metadata.version('kettle')}" in result.output
    assert "Werkzeug" in result.output
    assert "Python" in result.output


def test_group_without_default_commands_or_version() -> None:
    group = KettleGroup(add_default_commands=False, add_version_option=False)
    result = CliRunner().invoke(group, ["--help"])
    assert "--version" not in result.output
    assert "routes" not in result.output


# -- blueprint groups ----------------------------------------------------------------


def _bp_with_command(name: str, **kwargs: Any) -> Blueprint:
    bp = Blueprint(name, __name__, **kwargs)

    @bp.cli.command("greet")
    def greet() -> None:
        click.echo(f"greet in {current_app.name}")

    return bp


def test_blueprint_commands_are_grouped_under_its_name(app: Kettle) -> None:
    app.register_blueprint(_bp_with_command("shop"))
    result = app.test_cli_runner().invoke(args=["shop", "greet"])
    assert result.output == "greet in kettle_test_app\n"


def test_blueprint_cli_group_none_merges_into_the_app_group(app: Kettle) -> None:
    app.register_blueprint(_bp_with_command("shop", cli_group=None))
    result = app.test_cli_runner().invoke(args=["greet"])
    assert result.output == "greet in kettle_test_app\n"


def test_blueprint_cli_group_can_be_renamed(app: Kettle) -> None:
    app.register_blueprint(_bp_with_command("shop", cli_group="store"))
    assert app.test_cli_runner().invoke(args=["store", "greet"]).exit_code == 0
    other = Kettle("other")
    other.register_blueprint(_bp_with_command("shop"), cli_group="market")
    assert other.test_cli_runner().invoke(args=["market", "greet"]).exit_code == 0


def test_blueprint_commands_run_through_the_kettle_group(app: Kettle) -> None:
    app.register_blueprint(_bp_with_command("shop"))
    group = KettleGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(group, ["shop", "greet"])
    assert result.output == "greet in kettle_test_app\n"


# -- plugins -------------------------------------------------------------------------


PLUGIN = """
    import click

    @click.command("migrate")
    def migrate():
        click.echo("migrated")

    @click.command("lint")
    def lint():
        click.echo("kettle lint")

    not_a_command = 42
"""


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A fake installed distribution's entry points; records each group looked up."""
    write("fake_ext.py", PLUGIN)
    sys.path.insert(0, os.getcwd())
    groups: dict[str, list[importlib.metadata.EntryPoint]] = {
        "flask.commands": [
            importlib.metadata.EntryPoint("migrate", "fake_ext:migrate", "x"),
            importlib.metadata.EntryPoint("lint", "fake_ext:migrate", "x"),
            importlib.metadata.EntryPoint("broken", "no_such_ext:cmd", "x"),
        ],
        "kettle.commands": [
            importlib.metadata.EntryPoint("lint", "fake_ext:lint", "x"),
            importlib.metadata.EntryPoint("odd", "fake_ext:not_a_command", "x"),
        ],
    }
    looked_up: dict[str, list[str]] = {"groups": []}

    def fake_entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        looked_up["groups"].append(group)
        return groups.get(group, [])

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    return looked_up


def test_flask_extension_commands_are_available(
    app: Kettle, entry_points: dict[str, list[str]]
) -> None:
    group = KettleGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(group, ["migrate"])
    assert result.output == "migrated\n"
    assert entry_points["groups"] == ["flask.commands", "kettle.commands"]


def test_kettle_plugins_win_a_name_clash(
    app: Kettle, entry_points: dict[str, list[str]]
) -> None:
    group = KettleGroup(create_app=lambda: app)
    assert app.test_cli_runner().invoke(group, ["lint"]).output == "kettle lint\n"


def test_plugins_are_loaded_lazily(entry_points: dict[str, list[str]]) -> None:
    group = KettleGroup()
    assert entry_points["groups"] == []
    assert "fake_ext" not in sys.modules
    result = CliRunner().invoke(group, ["migrate", "--help"])
    assert result.exit_code == 0
    assert "Warning" not in result.output, "the broken plugin was not needed"


def test_a_broken_plugin_prints_a_warning_instead_of_crashing(
    app: Kettle, entry_points: dict[str, list[str]]
) -> None:
    group = KettleGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(group, ["--help"])
    assert result.exit_code == 0
    assert "Warning: the command 'broken' from 'no_such_ext:cmd'" in result.stderr
    assert "ModuleNotFoundError" in result.stderr
    assert "'odd' from 'fake_ext:not_a_command' is not a click command" in (
        result.stderr
    )
    commands = result.stdout.split("Commands:")[1]
    assert "migrate" in commands
    assert "broken" not in commands
    result = app.test_cli_runner().invoke(group, ["broken"])
    assert result.exit_code == 2
    assert "No such command 'broken'" in result.output


# -- the test runner -----------------------------------------------------------------


def test_test_cli_runner_invokes_app_cli_with_the_app_loaded(app: Kettle) -> None:
    @app.cli.command()
    @click.pass_obj
    def info(obj: ScriptInfo) -> None:
        click.echo(obj.load_app() is current_app._get_current_object())  # type: ignore[attr-defined]

    runner = app.test_cli_runner()
    assert isinstance(runner, KettleCliRunner)
    assert runner.app is app
    assert runner.invoke(args=["info"]).output == "True\n"


def test_test_cli_runner_passes_options_and_an_explicit_obj(app: Kettle) -> None:
    @app.cli.command(with_appcontext=False)
    @click.pass_obj
    def show(obj: object) -> None:
        click.echo(obj)

    runner = app.test_cli_runner()
    assert runner.invoke(args=["show"], obj="custom").output == "custom\n"


def test_test_cli_runner_class_can_be_replaced(app: Kettle) -> None:
    class Runner(KettleCliRunner):
        pass

    app.test_cli_runner_class = Runner
    runner = app.test_cli_runner(env={"X": "1"})
    assert isinstance(runner, Runner)
    assert runner.env == {"X": "1"}


# -- the console script --------------------------------------------------------------


def test_console_script_runs_routes_and_an_app_command(tmp_path: Path) -> None:
    write("site_app.py", HELLO)
    script = VENV_BIN / "kettle"
    if not script.exists():
        pytest.skip(f"{script} is not installed; run 'pip install -e .'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KETTLE_")}
    for args, expected in [
        (["routes"], "index     GET      /"),
        (["hello"], "hello from site_app"),
    ]:
        done = subprocess.run(
            [str(script), "--app", str(tmp_path / "site_app.py"), *args],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout


def test_main_runs_the_kettle_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write("hello.py", HELLO)
    monkeypatch.setattr(sys, "argv", ["kettle", "--app", "hello", "hello"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    assert capsys.readouterr().out == "hello from hello\n"


# -- contexts are always popped ------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--app", "hello", "--help"],
        ["--app", "hello", "hello", "--help"],
        ["--app", "hello", "hello", "--bogus"],
        ["--app", "hello", "--bogus", "hello"],
    ],
)
def test_help_and_usage_errors_leave_no_context_pushed(args: list[str]) -> None:
    write("hello.py", HELLO)
    result = kettle(*args)
    assert result.exit_code in (0, 2)
    assert _cv_app.get(None) is None


def test_pass_script_info_gives_the_script_info(app: Kettle) -> None:
    @app.cli.command(with_appcontext=False)
    @pass_script_info
    def show(info: ScriptInfo) -> None:
        click.echo(info.load_app() is app)

    assert app.test_cli_runner().invoke(args=["show"]).output == "True\n"
