"""Exceptions raised by Kettle itself.

Every class here is raised for a misuse that a user can fix, and its message says
how. The hierarchy::

    RuntimeError
     └── ContextError              a context was used in a way that cannot work
          ├── UnboundProxyError    a global proxy was used with no suitable context
          └── ContextPopError      a context was popped that is not the active one
    RuntimeError, AssertionError
     └── SetupError                a setup method was called after the first request
    ImportError
     └── FlaskImportedFirstError   kettle.flask_compat was imported after real flask

``SetupError`` also derives from ``AssertionError`` because Flask raises that type
there, and code migrating from Flask may catch it.

HTTP errors are Werkzeug's ``HTTPException`` subclasses and are not repeated here.
Errors from teardown functions are raised together as an ``ExceptionGroup`` on
Python 3.11+ (see :func:`raise_collected`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = [
    "ContextError",
    "ContextPopError",
    "FlaskImportedFirstError",
    "SetupError",
    "UnboundProxyError",
    "raise_collected",
]


class ContextError(RuntimeError):
    """A context was used in a way that cannot work."""


class UnboundProxyError(ContextError):
    """A global proxy was used while no suitable context was active."""


class ContextPopError(ContextError):
    """A context was popped that is not pushed or is not the active one."""


class SetupError(RuntimeError, AssertionError):
    """A setup method was called after the application handled its first request."""


class FlaskImportedFirstError(ImportError):
    """``kettle.flask_compat`` was imported after the real ``flask`` package.

    The alias only works when it is installed before anything imports Flask; the
    message names the module that imported Flask first.
    """


def raise_collected(message: str, errors: Sequence[BaseException]) -> None:
    """Raise the errors collected while running callbacks that must all run.

    A ``KeyboardInterrupt`` or ``SystemExit`` among them is re-raised as it is, so
    that interrupting a server still works. Otherwise the errors are raised together
    as an ``ExceptionGroup`` (Python 3.11+) or, on 3.10, the first one is raised.
    """
    if not errors:
        return
    for error in errors:
        if not isinstance(error, Exception):
            raise error
    if sys.version_info >= (3, 11):
        group = ExceptionGroup  # noqa: F821 -- a builtin from Python 3.11 on
        raise group(message, [e for e in errors if isinstance(e, Exception)])
    raise errors[0]
