"""JSON helpers that follow the active application's JSON provider.

Inside an app context these functions use ``current_app.json``, so an app's
settings and custom provider apply everywhere; outside one they fall back to the
standard library's :mod:`json`, still knowing Kettle's extra types.
"""

from __future__ import annotations

import json as _json
from typing import IO, Any

from ..errors import UnboundProxyError
from ..globals import _cv_app
from ..wrappers import Response, plain_response
from .provider import DefaultJSONProvider, response_value

__all__ = ["dump", "dumps", "jsonify", "load", "loads"]


def dumps(obj: Any, **kwargs: Any) -> str:
    """Serialize ``obj`` to a JSON string with the active app's provider.

    Without an active app the standard library is used, with Kettle's handling
    of dates, decimals, UUIDs, dataclasses and HTML strings.
    """
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.dumps(obj, **kwargs)
    kwargs.setdefault("default", DefaultJSONProvider.default)
    return _json.dumps(obj, **kwargs)


def dump(obj: Any, fp: IO[str], **kwargs: Any) -> None:
    """Serialize ``obj`` as JSON into the text file ``fp`` (see :func:`dumps`)."""
    ctx = _cv_app.get(None)
    if ctx is not None:
        ctx.app.json.dump(obj, fp, **kwargs)
        return
    kwargs.setdefault("default", DefaultJSONProvider.default)
    _json.dump(obj, fp, **kwargs)


def loads(s: str | bytes, **kwargs: Any) -> Any:
    """Parse the JSON document ``s`` with the active app's provider, if any."""
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.loads(s, **kwargs)
    return _json.loads(s, **kwargs)


def load(fp: IO[Any], **kwargs: Any) -> Any:
    """Parse the JSON document in the file ``fp`` with the active app's provider."""
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.load(fp, **kwargs)
    return _json.load(fp, **kwargs)


def jsonify(*args: Any, **kwargs: Any) -> Response:
    """Return a JSON response built by the active app's provider.

    One positional argument is serialized as it is, several become a list, and
    keyword arguments become an object. Needs an active app context.
    """
    ctx = _cv_app.get(None)
    if ctx is None:
        raise UnboundProxyError(
            "jsonify() needs an active application context to know which app's JSON"
            " provider and response class to use. Call it from a view, or inside"
            " `with app.app_context():`; to get a JSON string without an app, use"
            " `kettle.json.dumps()`."
        )
    app = ctx.app
    provider = app.json
    # PERF: the exact default class is recognized without looking up its method.
    kind = type(provider)
    default = (
        kind is DefaultJSONProvider or kind.response is DefaultJSONProvider.response
    )
    if default:
        # PERF: what DefaultJSONProvider.response does, with one argument taken as
        # it is, and the plain Response class made by its fast constructor.
        value = (
            args[0] if len(args) == 1 and not kwargs else response_value(args, kwargs)
        )
        body, content_type = provider.encode_response(value)
        cls = app.response_class
        if cls is Response:
            return plain_response(body.encode(), content_type)
        return cls(body, content_type=content_type)
    return provider.response(*args, **kwargs)
