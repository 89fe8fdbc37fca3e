"""mypy --strict passes on the package, and proxies are typed as their targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_src_is_clean_under_mypy_strict() -> None:
    result = _mypy()
    assert result.returncode == 0, result.stdout + result.stderr


def test_proxies_are_typed_as_what_they_stand_for(tmp_path: Path) -> None:
    user_code = tmp_path / "user_app.py"
    user_code.write_text(
        "from kettle import Kettle, current_app, g, request, session\n"
        "reveal_type(request)\n"
        "reveal_type(current_app)\n"
        "reveal_type(session)\n"
        "reveal_type(g)\n"
        "method: str = request.method\n"
        "name: str = current_app.name\n"
    )
    result = _mypy("--strict", "--no-incremental", str(user_code))
    out = result.stdout
    assert 'Revealed type is "kettle.wrappers.Request"' in out, out
    assert 'Revealed type is "kettle.app.Kettle"' in out, out
    assert 'Revealed type is "kettle.sessions.SessionMixin"' in out, out
    assert 'Revealed type is "kettle.ctx.AppCtxGlobals"' in out, out
    assert "error: Incompatible types" not in out, out


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]])
def test_source_and_tests_are_ruff_clean(command: list[str]) -> None:
    paths = ["src", "tests", "bench", "examples"]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
