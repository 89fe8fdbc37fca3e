"""Kettle's pytest plugin, loaded automatically when Kettle is installed.

* A test that leaves a Kettle context pushed fails, with where it was pushed (the
  context is popped so the next test starts clean).
* ``client`` and ``runner`` fixtures, built from an ``app`` fixture you define::

      @pytest.fixture
      def app():
          app = create_app({"TESTING": True})
          yield app

      def test_index(client):
          assert client.get("/").status_code == 200
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .globals import _cv_app

if TYPE_CHECKING:
    from .app import Kettle
    from .testing import KettleClient, KettleCliRunner

__all__ = ["client", "runner"]


def _pop_leaked(before: Any) -> list[str]:
    """Pop what a test left on top of ``before``; describe each context popped."""
    leaked: list[str] = []
    while True:
        ctx = _cv_app.get(None)
        if ctx is None or ctx is before:
            return leaked
        leaked.append(f"{ctx!r}{ctx.pushed_at_text}")
        try:
            while ctx.is_pushed and _cv_app.get(None) is ctx:
                ctx.pop()
        except Exception as e:  # a failing teardown must not hide the leak
            leaked.append(f"(its teardown raised {e!r})")


@pytest.fixture(autouse=True)
def _kettle_leaked_context_check() -> Iterator[None]:
    before = _cv_app.get(None)
    yield
    leaked = _pop_leaked(before)
    if leaked:
        pytest.fail(
            "The test left a Kettle context pushed: "
            + "; ".join(leaked)
            + ". Use `with app.app_context():` / `with app.test_request_context():`"
            " blocks (or pop what you push), and `with client:` for the test client.",
            pytrace=False,
        )


@pytest.fixture
def client(app: Kettle) -> KettleClient:
    """``app.test_client()`` for your ``app`` fixture."""
    return app.test_client()


@pytest.fixture
def runner(app: Kettle) -> KettleCliRunner:
    """``app.test_cli_runner()`` for your ``app`` fixture."""
    return app.test_cli_runner()
