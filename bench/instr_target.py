"""The app that `server_instructions.py` serves: a loopback app that ends its process.

``TARGET`` names the app in :mod:`loopback_apps`; after ``LIMIT`` HTTP requests the
worker process exits at once, so that callgrind's count stops right there.
"""

import os
from typing import Any

import loopback_apps

_app = getattr(loopback_apps, os.environ["TARGET"])
_limit = int(os.environ["LIMIT"])
_served = [0]


def _count() -> None:
    _served[0] += 1
    if _served[0] >= _limit:
        os._exit(0)


def wsgi(environ: Any, start_response: Any) -> Any:
    try:
        return _app(environ, start_response)
    finally:
        _count()


async def asgi(scope: Any, receive: Any, send: Any) -> None:
    try:
        await _app(scope, receive, send)
    finally:
        if scope["type"] == "http":
            _count()
