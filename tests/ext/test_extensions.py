"""Six unmodified Flask extensions on Kettle, through ``import kettle.flask_compat``.

The alias must be installed before anything imports Flask, and this test process
has imported the real Flask (for the comparison tests), so everything here runs in
child processes. ``apps/checks.py`` holds the checks against ``apps/extapp.py``;
they all run in one child process, each with its own app and folder, and each
becomes one test here that fails with the check's traceback. The other tests start
a process of their own: they need one where something else happened first, or the
``kettle`` command itself.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

APPS = Path(__file__).resolve().parent / "apps"
#: Warnings are errors, as in the suite, except one the two extensions cause between
#: them: Flask-Migrate's env.py template tries Flask-SQLAlchemy's deprecated
#: ``get_engine()`` before ``engine``.
WARNINGS = ("-W", "error", "-W", "ignore:'get_engine' is deprecated:DeprecationWarning")


def _check_names() -> list[str]:
    tree = ast.parse((APPS / "checks.py").read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")
    ]


def _group(check: str) -> str:
    return check.split("_")[1]


def _python(
    *args: str, env: dict[str, str] | None = None, timeout: float = 50
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=APPS,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class CheckRun:
    """The checks' results, from one child process that ran the selected groups."""

    def __init__(self, groups: list[str], results: Path) -> None:
        process = _python(*WARNINGS, "checks.py", "--results", str(results), *groups)
        lines = results.read_text().splitlines() if results.exists() else []
        self._by_name = {entry["check"]: entry for entry in map(json.loads, lines)}
        self._output = (
            f"exit status {process.returncode}\n--- stdout:\n{process.stdout[-4000:]}"
            f"\n--- stderr:\n{process.stderr[-4000:]}"
        )

    def result(self, check: str) -> dict[str, Any]:
        """The check's result; fails the test if the check did not report."""
        if check not in self._by_name:
            pytest.fail(
                f"{check} did not report; the checks' process ended:\n{self._output}"
            )
        return self._by_name[check]


@pytest.fixture(scope="session")
def check_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> CheckRun:
    here = [i for i in request.session.items if Path(i.path) == Path(__file__)]
    params = [getattr(item, "callspec", None) for item in here]
    selected = {_group(p.params["check"]) for p in params if p and "check" in p.params}
    # The alias checks last: one of them re-imports kettle.flask_compat.
    groups = sorted(selected, key=lambda group: (group == "alias", group))
    return CheckRun(groups, tmp_path_factory.mktemp("ext-checks") / "results.jsonl")


@pytest.mark.parametrize("check", _check_names(), ids=lambda name: name[6:])
def test_extension_check(check_run: CheckRun, check: str) -> None:
    result = check_run.result(check)
    if not result["ok"]:
        pytest.fail(f"{check} failed in the checks' process:\n{result['error']}")


def test_the_checks_cover_every_extension() -> None:
    groups = {_group(name) for name in _check_names()}
    extensions = {"login", "sqlalchemy", "wtf", "cors", "limiter", "migrate"}
    assert groups == {"alias", *extensions}


# -- processes of their own -----------------------------------------------------------


def test_importing_the_alias_after_flask_names_the_importer(tmp_path: Path) -> None:
    (tmp_path / "myapp.py").write_text("import flask\nimport kettle.flask_compat\n")
    direct = _python("-c", "import myapp", env={"PYTHONPATH": str(tmp_path)})
    through_extension = _python("-c", "import flask_login\nimport kettle.flask_compat")
    for process, importer in [
        (direct, f"module 'myapp' ({tmp_path / 'myapp.py'})"),
        (through_extension, "module 'flask_login."),
    ]:
        assert process.returncode == 1, process.stdout
        error = process.stderr.strip().splitlines()[-1]
        assert error.startswith("kettle.errors.FlaskImportedFirstError:"), error
        assert f"flask was first imported by {importer}" in error, error
        assert "import kettle.flask_compat before any Flask extension" in error


def test_flask_limiter_imports_without_deprecation_warnings() -> None:
    code = (
        "import kettle.flask_compat, kettle\n"
        "import flask_limiter, flask_limiter.commands\n"
        "from flask_limiter import _compat\n"
        "assert _compat.request_ctx is kettle.app_ctx, _compat.request_ctx\n"
        "assert _compat.RequestContext is kettle.ctx.AppContext\n"
    )
    process = _python("-W", "error::DeprecationWarning", "-c", code)
    assert process.returncode == 0, process.stderr


def _kettle_command() -> str:
    script = Path(sys.executable).with_name("kettle")
    assert script.is_file(), f"the kettle console script is not installed: {script}"
    return str(script)


def test_kettle_help_lists_the_extension_commands(tmp_path: Path) -> None:
    process = subprocess.run(
        [_kettle_command(), "--app", "extapp", "--help"],
        cwd=APPS,
        env={**os.environ, "EXTAPP_INSTANCE": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    listed = dict(
        line.split(maxsplit=1)
        for line in process.stdout.partition("Commands:")[2].strip().splitlines()
    )
    assert listed["db"] == "Perform database migrations.", listed
    assert listed["limiter"] == "Flask-Limiter maintenance & utility commands"
    assert process.stderr == ""


#: Runs the `kettle` command's entry point, then says which `flask` it ended with.
KETTLE_MAIN = """
import atexit, sys
atexit.register(lambda: print("flask module:", type(sys.modules.get("flask"))))
from kettle.cli import main
sys.argv[0] = "kettle"
main()
"""


def test_the_limiter_command_group_runs_on_kettle(tmp_path: Path) -> None:
    process = _python(
        "-c",
        KETTLE_MAIN,
        "--app",
        "extapp",
        "limiter",
        "limits",
        env={"EXTAPP_INSTANCE": str(tmp_path)},
    )
    output = process.stdout + process.stderr
    # The extension's command module was imported after the app, through the alias.
    assert "flask module: <class 'kettle.flask_compat.FlaskAlias'>" in output, output
    if importlib.util.find_spec("rich") is not None:
        assert process.returncode == 0, output
        assert "limited: /limited" in output and "2 per 1 minute" in output, output
    else:  # without the `cli` extra of Flask-Limiter, its group says what is missing
        assert process.returncode == 1, output
        assert "Missing dependencies for flask-limiter cli" in output, output
