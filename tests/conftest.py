from __future__ import annotations

from collections.abc import Iterator

import pytest

from kettle import Kettle
from kettle.globals import _cv_app


@pytest.fixture(autouse=True)
def _no_leaked_context() -> Iterator[None]:
    """Fail any test that leaves a context pushed."""
    assert _cv_app.get(None) is None, "a context was already pushed before the test"
    yield
    leaked = _cv_app.get(None)
    assert leaked is None, f"the test left {leaked!r} pushed"


@pytest.fixture
def app() -> Kettle:
    app = Kettle("kettle_test_app")
    app.config.update(TESTING=True, SECRET_KEY="test key")
    return app


@pytest.fixture
def client(app: Kettle):  # type: ignore[no-untyped-def]
    return app.test_client()
