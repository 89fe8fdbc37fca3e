"""The ``adapter`` fixture: one request function, served over WSGI or ASGI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kettle import Kettle

Result = tuple[int, dict[str, str], bytes]
Requester = Callable[..., Result]


class WSGIAdapter:
    """Requests through ``app.test_client()`` (cookies kept between requests)."""

    name = "wsgi"

    def __init__(self, app: Kettle) -> None:
        self.client = app.test_client()

    def request(self, method: str, path: str, **kwargs: Any) -> Result:
        if "content" in kwargs:
            kwargs["data"] = kwargs.pop("content")
        response = self.client.open(path, method=method, **kwargs)
        headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status_code, headers, response.get_data()


class ASGIAdapter:
    """Requests through httpx's ASGI transport to ``app.asgi``, one loop each."""

    name = "asgi"

    def __init__(self, app: Kettle) -> None:
        self.app = app
        self.cookies = httpx.Cookies()

    def request(self, method: str, path: str, **kwargs: Any) -> Result:
        async def main() -> Result:
            transport = httpx.ASGITransport(app=self.app.asgi)  # type: ignore[arg-type]
            async with httpx.AsyncClient(
                transport=transport, base_url="http://localhost", cookies=self.cookies
            ) as client:
                response = await client.request(method, path, **kwargs)
                self.cookies = httpx.Cookies(client.cookies)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status_code, headers, response.content

        return asyncio.run(main())


@pytest.fixture(params=["wsgi", "asgi"])
def adapter(request: pytest.FixtureRequest, app: Kettle) -> Requester:
    """``adapter(method, path, **kw) -> (status, headers, body)`` for ``app``."""
    kind = WSGIAdapter if request.param == "wsgi" else ASGIAdapter
    return kind(app).request
