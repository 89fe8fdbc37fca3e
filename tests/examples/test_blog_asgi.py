"""The blog over ASGI: the same app object serves a whole visit through httpx."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx

from kettle import Kettle

Query = Callable[..., list[tuple[Any, ...]]]


async def _visit(app: Kettle) -> list[tuple[str, str, int]]:
    """Register, log in, write, read, edit and delete; return what was fetched."""
    log: list[tuple[str, str, int]] = []
    transport = httpx.ASGITransport(app=app.asgi)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://localhost"
    ) as client:

        async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
            response = await client.request(method, url, **kwargs)
            log.append((method, url, response.status_code))
            return response

        page = await call("GET", "/auth/register")
        assert "Create an account" in page.text

        account = {"username": "erin", "password": "erin-password"}
        response = await call("POST", "/auth/register", data=account)
        assert response.headers["location"] == "/auth/login"
        page = await call("GET", "/auth/login")
        assert "Welcome, erin!" in page.text

        response = await call("POST", "/auth/login", data=account)
        assert response.headers["location"] == "/"
        assert "session" in client.cookies

        page = await call("GET", "/create")
        assert "<h1>New post</h1>" in page.text
        response = await call(
            "POST", "/create", data={"title": "Over ASGI", "body": "async & sync"}
        )
        assert response.headers["location"] == "/"

        page = await call("GET", "/")
        assert "Signed in as <strong>erin</strong>" in page.text
        assert "Your post is published." in page.text
        assert "async &amp; sync" in page.text
        (edit_url,) = re.findall(r'href="(/\d+/update)"', page.text)
        post_id = edit_url.split("/")[1]

        # Someone else's post is off limits, a missing one is not found.
        assert (await call("GET", "/1/update")).status_code == 403
        assert (await call("POST", "/999/delete")).status_code == 404

        response = await call(
            "POST", edit_url, data={"title": "Edited over ASGI", "body": "b"}
        )
        assert response.headers["location"] == "/"
        page = await call("GET", "/")
        assert "Edited over ASGI" in page.text

        response = await call("POST", f"/{post_id}/delete")
        assert response.headers["location"] == "/"
        page = await call("GET", "/")
        assert "Edited over ASGI" not in page.text
        assert "The post is deleted." in page.text

        await call("POST", "/auth/logout")
        page = await call("GET", "/")
        assert "Signed in as" not in page.text
        assert (await call("GET", "/create")).status_code == 303

        css = await call("GET", "/static/style.css")
        assert css.headers["content-type"].startswith("text/css")
    return log


def test_a_whole_visit_over_asgi(app: Kettle, query: Query) -> None:
    log = asyncio.run(_visit(app))
    assert [status for _, _, status in log] == [
        200, 303, 200, 303, 200, 303, 200, 403, 404,
        303, 200, 303, 200, 303, 200, 303, 200,
    ]  # fmt: skip
    # The WSGI side of the same app object sees what was done over ASGI.
    assert query("SELECT username FROM account ORDER BY id") == [
        ("alice",),
        ("bob",),
        ("erin",),
    ]
    assert query("SELECT count(*) FROM post") == [(2,)]
    client = app.test_client()
    client.post("/auth/login", data={"username": "erin", "password": "erin-password"})
    assert b"Signed in as <strong>erin</strong>" in client.get("/").data
