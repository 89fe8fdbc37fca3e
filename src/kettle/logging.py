"""The app's logger, and where it writes by default."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO, cast

from .globals import _cv_app
from .proxy import make_proxy

if TYPE_CHECKING:
    from .app import Kettle

__all__ = ["create_logger", "has_level_handler", "wsgi_errors_stream"]


def _errors_stream() -> TextIO:
    ctx = _cv_app.get(None)
    if ctx is not None and ctx._request is not None:
        stream = ctx._request.environ.get("wsgi.errors")
        if stream is not None:
            return cast(TextIO, stream)
    return sys.stderr


#: The WSGI server's error stream during a request, ``sys.stderr`` otherwise.
wsgi_errors_stream: TextIO = cast(
    TextIO, make_proxy("wsgi_errors_stream", _errors_stream)
)


def has_level_handler(logger: logging.Logger) -> bool:
    """Whether a handler on ``logger`` or its ancestors handles its effective level."""
    level = logger.getEffectiveLevel()
    current: Any = logger
    while current:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False


def create_logger(app: Kettle) -> logging.Logger:
    """The logger named after the app, with a stream handler if nothing handles it."""
    logger = logging.getLogger(app.name)
    if app.debug and not logger.level:
        logger.setLevel(logging.DEBUG)
    if not has_level_handler(logger):
        handler = logging.StreamHandler(wsgi_errors_stream)
        handler.setFormatter(
            logging.Formatter("[%(asctime)s] %(levelname)s in %(module)s: %(message)s")
        )
        logger.addHandler(handler)
    return logger
