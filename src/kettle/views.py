"""Class-based views: ``View`` and ``MethodView``.

A ``MethodView`` subclass answers each HTTP method with the method of the same name
(``get``, ``post``...); those may be ``async def``. Register one with
``app.add_url_rule("/items/<int:id>", view_func=ItemView.as_view("item"))``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from .globals import request
from .typing import ResponseReturnValue

__all__ = ["MethodView", "View"]

_HTTP_METHODS = frozenset(
    ("get", "post", "head", "options", "delete", "put", "trace", "patch")
)


class View:
    """Subclass and implement :meth:`dispatch_request`, then register :meth:`as_view`.

    ``methods`` lists the HTTP methods of the URL rule; ``decorators`` are applied to
    the generated view function; with ``init_every_request = False`` one instance
    serves every request (so it must not keep per-request state).
    """

    methods: ClassVar[set[str] | None] = None
    provide_automatic_options: ClassVar[bool | None] = None
    decorators: ClassVar[list[Callable[..., Any]]] = []
    init_every_request: ClassVar[bool] = True

    def dispatch_request(self, **kwargs: Any) -> ResponseReturnValue:
        """Handle the request; the URL rule's values are the keyword arguments."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement dispatch_request()."
        )

    @classmethod
    def _is_async(cls) -> bool:
        return inspect.iscoroutinefunction(cls.dispatch_request)

    @classmethod
    def as_view(
        cls, name: str, *class_args: Any, **class_kwargs: Any
    ) -> Callable[..., Any]:
        """A view function named ``name`` dispatching to an instance of this class."""
        instance = None if cls.init_every_request else cls(*class_args, **class_kwargs)

        def get_instance() -> View:
            if instance is not None:
                return instance
            return view.view_class(*class_args, **class_kwargs)  # type: ignore[attr-defined, no-any-return]

        if cls._is_async():

            async def view(**kwargs: Any) -> Any:
                return await get_instance().dispatch_request(**kwargs)  # type: ignore[misc]

        else:

            def view(**kwargs: Any) -> Any:  # type: ignore[misc]
                return get_instance().dispatch_request(**kwargs)

        for decorator in cls.decorators:
            view = decorator(view)
        view.view_class = cls  # type: ignore[attr-defined]
        view.__name__ = name
        view.__doc__ = cls.__doc__
        view.__module__ = cls.__module__
        view.methods = cls.methods  # type: ignore[attr-defined]
        view.provide_automatic_options = cls.provide_automatic_options  # type: ignore[attr-defined]
        return view


class MethodView(View):
    """A view whose methods named after HTTP methods (``get``, ``post``...) answer them.

    ``methods`` is filled in from the methods the class defines. A ``HEAD`` request
    without a ``head`` method is answered by ``get``.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "methods" in cls.__dict__:
            return
        found: set[str] = set()
        for base in cls.__bases__:
            found.update(getattr(base, "methods", None) or ())
        found.update(name.upper() for name in _HTTP_METHODS if hasattr(cls, name))
        if found:
            cls.methods = found

    @classmethod
    def _handlers(cls) -> list[Callable[..., Any]]:
        return [getattr(cls, name) for name in _HTTP_METHODS if hasattr(cls, name)]

    @classmethod
    def _is_async(cls) -> bool:
        handlers = cls._handlers()
        return bool(handlers) and all(inspect.iscoroutinefunction(h) for h in handlers)

    def dispatch_request(self, **kwargs: Any) -> Any:
        """Call the method named after the request's HTTP method."""
        method = request.method.lower()
        handler = getattr(self, method, None)
        if handler is None and method == "head":
            handler = getattr(self, "get", None)
        if handler is None:
            raise NotImplementedError(
                f"{type(self).__name__} has no method for {request.method}; add"
                f" '{method}' or remove it from 'methods'."
            )
        # An async handler's coroutine is awaited by whichever adapter serves the
        # request: on the server's loop under ASGI, the thread's loop under WSGI.
        return handler(**kwargs)
