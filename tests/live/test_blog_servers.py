"""The example blog, served by real servers: the same visit over WSGI and ASGI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(90)


def _visit(base_url: str) -> list[tuple[str, str, int]]:
    """Register, log in, write, read, edit and delete a post; the status codes."""
    seen: list[tuple[str, str, int]] = []
    with httpx.Client(base_url=base_url, trust_env=False, timeout=10) as client:

        def call(method: str, path: str, **kwargs: object) -> httpx.Response:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            seen.append((method, path, response.status_code))
            return response

        assert "Nothing has been posted yet" in call("GET", "/").text
        assert call("GET", "/create").headers["location"].startswith("/auth/login")
        form = {"username": "ann", "password": "secret"}
        assert call("POST", "/auth/register", data=form).status_code == 303
        assert call("POST", "/auth/login", data=form).status_code == 303
        post = {"title": "Served live", "body": "Through a real server."}
        assert call("POST", "/create", data=post).status_code == 303
        page = call("GET", "/")
        assert "Served live" in page.text and "Signed in as" in page.text
        assert call("GET", "/1/update").status_code == 200
        edited = {"title": "Edited live", "body": "Changed."}
        assert call("POST", "/1/update", data=edited).status_code == 303
        assert "Edited live" in call("GET", "/").text
        assert call("GET", "/99/update").status_code == 404
        assert call("GET", "/1/delete").status_code == 405
        assert call("POST", "/1/delete").status_code == 303
        assert "Edited live" not in call("GET", "/").text
        assert call("GET", "/static/style.css").status_code == 200
        assert call("POST", "/auth/logout").status_code == 303
    return seen


@pytest.mark.parametrize(
    "kind", ["uvicorn", "hypercorn", "gunicorn-sync", "gunicorn-gthread"]
)
def test_the_blog_works_the_same_under_each_server(
    kind: str, tmp_path: Path, start_live_server: Callable[..., Any]
) -> None:
    server = start_live_server(
        kind,
        "blogapp",
        ready_path="/",
        env={"BLOG_DATABASE": str(tmp_path / "blog.sqlite")},
    )
    try:
        seen = _visit(server.base_url)
    finally:
        server.stop()
    assert [code for *_, code in seen] == [
        200, 303, 303, 303, 303, 200, 200, 303, 200, 404, 405, 303, 200, 200, 303
    ]  # fmt: skip
    assert "Traceback" not in server.log()
