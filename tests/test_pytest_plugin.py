"""Tests for Kettle's pytest plugin (``kettle.pytest_plugin``, a ``pytest11`` plugin).

The plugin's behaviour is checked end to end: pytest runs in a subprocess on a
temporary directory holding a small test suite (a ``conftest.py`` with an ``app``
fixture and a test module), and the outcome of each test is read from its JUnit XML
report. The leak check's helper is also tested in-process.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

import kettle.pytest_plugin
from kettle import Kettle
from kettle.globals import _cv_app
from kettle.pytest_plugin import _pop_leaked

SUBPROCESS_TIMEOUT = 45

CONFTEST = """
import pytest
import kettle

TORN_DOWN = []


@pytest.fixture
def app():
    app = kettle.Kettle("user_app")
    app.config.update(TESTING=True, SECRET_KEY="user secret")

    @app.get("/")
    def index():
        kettle.session["seen"] = True
        return f"hello from {kettle.current_app.name}"

    @app.cli.command("greet")
    def greet():
        print(f"greetings from {kettle.current_app.name}")

    @app.teardown_appcontext
    def record(exc):
        TORN_DOWN.append(kettle.g.get("label"))

    yield app
"""

TESTS = """
import kettle
from kettle.globals import _cv_app
from conftest import TORN_DOWN


def test_1_leaves_an_app_context_pushed(app):
    ctx = app.app_context()
    ctx.push()  # LEAK-APP
    kettle.g.label = "leaked app context"


def test_2_next_test_starts_clean(app):
    assert _cv_app.get(None) is None
    assert TORN_DOWN == ["leaked app context"]  # the plugin popped it


def test_3_leaves_two_contexts_pushed(app):
    app.app_context().push()  # LEAK-OUTER
    app.test_request_context("/inner").push()  # LEAK-INNER


def test_4_clean_after_a_double_leak(app):
    assert _cv_app.get(None) is None


def test_5_client_fixture_uses_the_user_app(client, app):
    response = client.get("/")
    assert response.status_code == 200
    assert response.data == b"hello from user_app"
    assert client.application is app
    with client.session_transaction() as session:
        assert session["seen"] is True


def test_6_client_keeps_the_context_inside_a_with_block(client):
    with client:
        client.get("/")
        assert kettle.request.path == "/"
    assert _cv_app.get(None) is None


def test_7_runner_fixture_uses_the_user_app(runner, app):
    result = runner.invoke(args=["greet"])
    assert result.exit_code == 0, result.output
    assert "greetings from user_app" in result.output


def test_8_leak_with_a_failing_teardown(app):
    @app.teardown_appcontext
    def broken(exc):
        raise ConnectionError("pool gone")

    app.app_context().push()  # LEAK-BROKEN


def test_9_still_clean(app):
    assert _cv_app.get(None) is None


def test_10_balanced_pushes_pass(app):
    with app.app_context():
        with app.test_request_context("/x"):
            assert kettle.request.path == "/x"
"""


@dataclass
class Outcome:
    """How one test of the inner run ended, from the JUnit report."""

    passed: bool
    problems: list[str]  # the text of its <failure> and <error> elements


@dataclass
class InnerRun:
    returncode: int
    output: str
    outcomes: dict[str, Outcome]
    test_file: Path

    def line_of(self, marker: str) -> int:
        lines = self.test_file.read_text().splitlines()
        return next(i for i, text in enumerate(lines, 1) if f"# {marker}" in text)

    def problem(self, name: str) -> str:
        outcome = self.outcomes[name]
        assert not outcome.passed, f"{name} passed"
        return "\n".join(outcome.problems)


def run_inner_pytest(directory: Path, *options: str) -> InnerRun:
    """Run pytest on ``directory`` in a subprocess; parse its JUnit XML report."""
    report = directory / "report.xml"
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            # Slow to load and unused there; the kettle plugin still autoloads.
            "-p",
            "no:hypothesispytest",
            "-p",
            "no:anyio",
            *options,
            f"--junitxml={report}",
            "-o",
            "junit_family=xunit2",
            str(directory),
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    output = proc.stdout + proc.stderr
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        problems = [
            f"{element.get('message', '')}\n{element.text or ''}"
            for element in case
            if element.tag in ("failure", "error")
        ]
        skipped = any(element.tag == "skipped" for element in case)
        outcome = outcomes.setdefault(case.get("name", ""), Outcome(True, []))
        outcome.problems.extend(problems)
        outcome.passed = outcome.passed and not problems and not skipped
    return InnerRun(proc.returncode, output, outcomes, directory / "test_user.py")


def write_suite(directory: Path) -> None:
    (directory / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (directory / "test_user.py").write_text(textwrap.dedent(TESTS))


@pytest.fixture(scope="module")
def inner(tmp_path_factory: pytest.TempPathFactory) -> InnerRun:
    directory = tmp_path_factory.mktemp("plugin_suite")
    write_suite(directory)
    return run_inner_pytest(directory)


# -- registration ----------------------------------------------------------------------


def test_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    entries = importlib.metadata.entry_points(group="pytest11")
    kettle_entries = [entry for entry in entries if entry.name == "kettle"]
    assert len(kettle_entries) == 1
    assert kettle_entries[0].value == "kettle.pytest_plugin"
    assert kettle_entries[0].load() is kettle.pytest_plugin


def test_plugin_is_loaded_in_this_test_run(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("kettle")
    assert plugin is kettle.pytest_plugin


# -- the leak check, end to end --------------------------------------------------------


def test_inner_run_ran_every_test(inner: InnerRun) -> None:
    assert sorted(inner.outcomes) == sorted(
        line.split("(")[0][4:]
        for line in textwrap.dedent(TESTS).splitlines()
        if line.startswith("def test_")
    ), inner.output
    assert inner.returncode == 1, inner.output  # some tests failed, none crashed


def test_test_leaving_an_app_context_pushed_fails(inner: InnerRun) -> None:
    message = inner.problem("test_1_leaves_an_app_context_pushed")
    assert "The test left a Kettle context pushed" in message
    assert "<AppContext" in message
    assert "of user_app" in message


def test_leak_failure_names_the_file_and_line_of_the_push(inner: InnerRun) -> None:
    message = inner.problem("test_1_leaves_an_app_context_pushed")
    where = f"{inner.test_file}:{inner.line_of('LEAK-APP')}"
    assert f"(pushed at {where} in test_1_leaves_an_app_context_pushed)" in message
    assert "with app.app_context():" in message  # and says what to do


def test_next_test_after_a_leak_passes(inner: InnerRun) -> None:
    assert inner.outcomes["test_2_next_test_starts_clean"].passed, inner.output


def test_every_leaked_context_is_named_and_popped(inner: InnerRun) -> None:
    message = inner.problem("test_3_leaves_two_contexts_pushed")
    outer = f"{inner.test_file}:{inner.line_of('LEAK-OUTER')}"
    nested = f"{inner.test_file}:{inner.line_of('LEAK-INNER')}"
    assert outer in message
    assert nested in message
    assert "GET 'http://localhost/inner'" in message
    # Innermost first: that is the order they are popped in.
    assert message.index(nested) < message.index(outer)
    assert inner.outcomes["test_4_clean_after_a_double_leak"].passed, inner.output


def test_leak_with_a_failing_teardown_is_still_reported_and_cleaned_up(
    inner: InnerRun,
) -> None:
    message = inner.problem("test_8_leak_with_a_failing_teardown")
    assert f"{inner.test_file}:{inner.line_of('LEAK-BROKEN')}" in message
    assert "its teardown raised" in message
    assert "pool gone" in message
    assert inner.outcomes["test_9_still_clean"].passed, inner.output


def test_balanced_pushes_pass_the_leak_check(inner: InnerRun) -> None:
    assert inner.outcomes["test_10_balanced_pushes_pass"].passed, inner.output


# -- fixtures --------------------------------------------------------------------------


def test_client_fixture_is_built_from_the_user_app_fixture(inner: InnerRun) -> None:
    assert inner.outcomes["test_5_client_fixture_uses_the_user_app"].passed, (
        inner.output
    )
    assert inner.outcomes["test_6_client_keeps_the_context_inside_a_with_block"].passed


def test_runner_fixture_is_built_from_the_user_app_fixture(inner: InnerRun) -> None:
    assert inner.outcomes["test_7_runner_fixture_uses_the_user_app"].passed, (
        inner.output
    )


def test_without_the_plugin_there_is_no_leak_check_and_no_fixtures(
    tmp_path: Path,
) -> None:
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            def test_leak(app):
                app.app_context().push()

            def test_client(client):
                pass
            """
        )
    )
    run = run_inner_pytest(tmp_path, "-p", "no:kettle")
    assert run.outcomes["test_leak"].passed, run.output
    assert "fixture 'client' not found" in run.problem("test_client")


# -- the leak check's helper, in-process -----------------------------------------------


def test_pop_leaked_pops_and_describes_what_was_left(app: Kettle) -> None:
    torn: list[str] = []

    @app.teardown_appcontext
    def record(exc: BaseException | None) -> None:
        torn.append("torn down")

    outer = app.app_context()
    outer.push()
    nested = app.test_request_context("/left")
    nested.push()
    nested.push()  # pushed twice: popped twice
    leaked = _pop_leaked(None)
    assert _cv_app.get(None) is None
    assert [text.split(" (pushed at")[0] for text in leaked] == [
        repr(nested),
        repr(outer),
    ]
    assert all(f"(pushed at {__file__}:" in text for text in leaked)
    assert torn == ["torn down", "torn down"]


def test_pop_leaked_stops_at_the_context_active_before_the_test(app: Kettle) -> None:
    with app.app_context() as before:
        left = app.app_context()
        left.push()
        leaked = _pop_leaked(before)
        assert _cv_app.get(None) is before
    assert len(leaked) == 1
    assert leaked[0].startswith(repr(left))


def test_pop_leaked_reports_a_failing_teardown_and_goes_on(app: Kettle) -> None:
    @app.teardown_appcontext
    def broken(exc: BaseException | None) -> None:
        raise ConnectionError("cannot close")

    app.app_context().push()
    leaked = _pop_leaked(None)
    assert _cv_app.get(None) is None
    assert len(leaked) == 2
    assert "its teardown raised" in leaked[1]
    assert "cannot close" in leaked[1]


def test_pop_leaked_with_nothing_left_is_empty() -> None:
    assert _pop_leaked(None) == []
