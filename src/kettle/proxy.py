"""The proxy type behind ``current_app``, ``g``, ``request``, ``session``, ``app_ctx``.

A proxy forwards every operation to an object found in the active context. Werkzeug's
``LocalProxy`` does this generically and costs about a microsecond per access; here each
proxy class is built once with its lookup compiled into ``__getattribute__`` as a
closure, so an attribute access is one Python call on top of the direct lookup.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

__all__ = ["ContextProxy", "make_proxy"]

Resolver = Callable[[], Any]


class ContextProxy:
    """Base class of Kettle's global proxies.

    Attribute access, assignment and deletion are forwarded by the ``__getattribute__``
    that :func:`make_proxy` installs on each subclass; the special methods below
    forward everything Python looks up on the type (operators, ``len``, iteration,
    calls, comparisons, ``repr``...).
    """

    __slots__ = ()
    _kettle_name: str = "proxy"

    @staticmethod
    def _kettle_resolve() -> Any:  # replaced in every subclass
        raise NotImplementedError

    def __repr__(self) -> str:
        try:
            target = type(self)._kettle_resolve()
        except RuntimeError:
            return f"<{type(self)._kettle_name} unbound>"
        return repr(target)

    def __str__(self) -> str:
        return str(type(self)._kettle_resolve())

    def __bool__(self) -> bool:
        try:
            target = type(self)._kettle_resolve()
        except RuntimeError:
            return False
        return bool(target)

    def __dir__(self) -> list[str]:
        try:
            return dir(type(self)._kettle_resolve())
        except RuntimeError:
            return []

    def __hash__(self) -> int:
        return hash(type(self)._kettle_resolve())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return type(self)._kettle_resolve()(*args, **kwargs)

    def __len__(self) -> int:
        return len(type(self)._kettle_resolve())

    def __iter__(self) -> Any:
        return iter(type(self)._kettle_resolve())

    def __reversed__(self) -> Any:
        return reversed(type(self)._kettle_resolve())

    def __contains__(self, item: object) -> bool:
        return item in type(self)._kettle_resolve()

    def __getitem__(self, key: Any) -> Any:
        return type(self)._kettle_resolve()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        type(self)._kettle_resolve()[key] = value

    def __delitem__(self, key: Any) -> None:
        del type(self)._kettle_resolve()[key]

    def __enter__(self) -> Any:
        return type(self)._kettle_resolve().__enter__()

    def __exit__(self, *exc_info: object) -> Any:
        return type(self)._kettle_resolve().__exit__(*exc_info)

    def __format__(self, format_spec: str) -> str:
        return format(type(self)._kettle_resolve(), format_spec)

    def __index__(self) -> int:
        return operator.index(type(self)._kettle_resolve())

    def __int__(self) -> int:
        return int(type(self)._kettle_resolve())

    def __float__(self) -> float:
        return float(type(self)._kettle_resolve())


def _forward_binary(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def method(self: ContextProxy, other: Any) -> Any:
        return op(type(self)._kettle_resolve(), other)

    return method


def _forward_reflected(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def method(self: ContextProxy, other: Any) -> Any:
        return op(other, type(self)._kettle_resolve())

    return method


def _forward_unary(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def method(self: ContextProxy) -> Any:
        return op(type(self)._kettle_resolve())

    return method


_BINARY = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_ARITHMETIC = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "matmul": operator.matmul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "pow": operator.pow,
    "lshift": operator.lshift,
    "rshift": operator.rshift,
    "and": operator.and_,
    "or": operator.or_,
    "xor": operator.xor,
}
_IN_PLACE = {
    "iadd": operator.iadd,
    "isub": operator.isub,
    "imul": operator.imul,
    "itruediv": operator.itruediv,
    "ifloordiv": operator.ifloordiv,
    "imod": operator.imod,
    "iand": operator.iand,
    "ior": operator.ior,
    "ixor": operator.ixor,
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg,
    "pos": operator.pos,
    "abs": operator.abs,
    "invert": operator.invert,
}

for _name, _op in {**_BINARY, **_ARITHMETIC, **_IN_PLACE}.items():
    setattr(ContextProxy, f"__{_name}__", _forward_binary(_op))
for _name, _op in _ARITHMETIC.items():
    setattr(ContextProxy, f"__r{_name}__", _forward_reflected(_op))
for _name, _unary in _UNARY.items():
    setattr(ContextProxy, f"__{_name}__", _forward_unary(_unary))
del _name, _op, _unary


# The lookup of a proxy that reads one attribute of the active context, generated
# per proxy so that the attribute name is a constant in the bytecode (as
# collections.namedtuple does): no second Python call on the hot path.
# PERF: ``_get_current_object`` is answered only when the target has no attribute of
# that name: checking for it before every read cost a tenth of the read. The
# targets (app, request, g) have none, and AppCtxGlobals, whose subclasses may
# answer any name, defines it as itself. A field made on first use is None until
# then (or whenever its target is falsy): ``resolve()`` makes it.
_FIELD_GETATTRIBUTE = """
def __getattribute__(self, attr):
    try:
        return getattr(get_ctx().{field}{or_make}, attr)
    except (LookupError, AttributeError):
        # No context, no {field} in it, or the target itself raised: tell them apart
        # only now, off the fast path.
        if attr == GET_CURRENT_OBJECT:
            return resolve
        ctx = get_ctx(None)
        if ctx is None or ctx.{field} is None:
            return unbound_getattr(self, attr)
        raise
"""
_GET_CURRENT_OBJECT = "_get_current_object"


def _generic_getattribute(resolve: Resolver) -> Callable[[ContextProxy, str], Any]:
    def __getattribute__(self: ContextProxy, attr: str) -> Any:  # noqa: N807
        if attr == _GET_CURRENT_OBJECT:
            return resolve
        try:
            target = resolve()
        except RuntimeError:
            # isinstance() and a few introspection tools ask for __class__ even
            # on an unbound proxy; answering keeps them working outside a context.
            if attr == "__class__":
                return type(self)
            raise
        try:
            return getattr(target, attr)
        except AttributeError:
            if attr == "_get_current_object":
                return resolve
            raise

    return __getattribute__


def _field_getattribute(
    resolve: Resolver, get_ctx: Callable[[Any], Any], field: str, lazy: bool
) -> Callable[[ContextProxy, str], Any]:
    if not field.isidentifier():
        raise ValueError(f"{field!r} is not an attribute name")
    namespace: dict[str, Any] = {
        "get_ctx": get_ctx,
        "resolve": resolve,
        "unbound_getattr": _generic_getattribute(resolve),
        "GET_CURRENT_OBJECT": _GET_CURRENT_OBJECT,
    }
    or_make = " or resolve()" if lazy else ""
    exec(_FIELD_GETATTRIBUTE.format(field=field, or_make=or_make), namespace)
    return namespace["__getattribute__"]  # type: ignore[no-any-return]


def make_proxy(
    name: str,
    resolve: Resolver,
    *,
    get_ctx: Callable[[Any], Any] | None = None,
    field: str | None = None,
    lazy: bool = False,
) -> ContextProxy:
    """Build a proxy named ``name`` whose target is what ``resolve()`` returns.

    ``resolve`` raises a ``RuntimeError`` that says what to do when no suitable
    context is active. When the target is simply ``get_ctx(None).<field>`` (None
    meaning "not available"), pass ``get_ctx`` and ``field`` too: attribute reads
    then take a generated fast path that does the lookup inline. With ``lazy``,
    the field is None until ``resolve()`` makes its target.
    """
    if get_ctx is not None and field is not None:
        getattribute = _field_getattribute(resolve, get_ctx, field, lazy)
    else:
        getattribute = _generic_getattribute(resolve)

    def __setattr__(self: ContextProxy, attr: str, value: Any) -> None:  # noqa: N807
        setattr(resolve(), attr, value)

    def __delattr__(self: ContextProxy, attr: str) -> None:  # noqa: N807
        delattr(resolve(), attr)

    namespace: dict[str, Any] = {
        "__slots__": (),
        "__getattribute__": getattribute,
        "__setattr__": __setattr__,
        "__delattr__": __delattr__,
        "_kettle_name": name,
        "_kettle_resolve": staticmethod(resolve),
        "__module__": __name__,
        "__qualname__": f"{name}_proxy",
    }
    cls = type(f"{name}_proxy", (ContextProxy,), namespace)
    return cls()  # type: ignore[no-any-return]
