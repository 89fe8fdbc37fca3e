"""Tests for kettle.proxy: what the global proxies forward, bound and unbound."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import kettle
from kettle import Kettle, app_ctx, current_app, g, request, session
from kettle.ctx import AppContext, AppCtxGlobals
from kettle.errors import UnboundProxyError
from kettle.proxy import ContextProxy, make_proxy
from kettle.sessions import SecureCookieSession, SessionMixin


class Holder:
    """A stand-in for the context variable: the proxy's target, or nothing."""

    def __init__(self) -> None:
        self.target: Any = None
        self.bound = False

    def resolve(self) -> Any:
        if not self.bound:
            raise UnboundProxyError("thing is unbound")
        return self.target

    def bind(self, target: Any) -> None:
        self.target = target
        self.bound = True


@pytest.fixture
def holder() -> Holder:
    return Holder()


@pytest.fixture
def thing(holder: Holder) -> Any:
    return make_proxy("thing", holder.resolve)


class Vec:
    """A value with a matrix product, which no builtin type has."""

    def __init__(self, *values: int) -> None:
        self.values = list(values)

    def __repr__(self) -> str:
        return f"Vec{tuple(self.values)}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vec) and self.values == other.values

    __hash__ = None  # type: ignore[assignment]

    def __matmul__(self, other: Vec) -> int:
        return sum(a * b for a, b in zip(self.values, other.values, strict=True))


# -- make_proxy ----------------------------------------------------------------------


def test_make_proxy_builds_a_named_context_proxy(thing: Any) -> None:
    assert isinstance(thing, ContextProxy)
    assert type(thing).__name__ == "thing_proxy"
    other = make_proxy("other", lambda: 1)
    assert type(other) is not type(thing)


def test_proxy_re_resolves_on_every_operation(holder: Holder, thing: Any) -> None:
    holder.bind([1, 2])
    assert len(thing) == 2
    holder.bind([1, 2, 3])
    assert len(thing) == 3
    assert thing[-1] == 3


def test_proxy_is_not_its_target_but_get_current_object_is(
    holder: Holder, thing: Any
) -> None:
    target = SimpleNamespace()
    holder.bind(target)
    assert thing is not target
    assert thing._get_current_object() is target


def test_get_current_object_returns_resolver_result_even_for_none(
    holder: Holder, thing: Any
) -> None:
    holder.bind(None)
    assert thing._get_current_object() is None


# -- attributes ----------------------------------------------------------------------


def test_attribute_get_set_delete_are_forwarded(holder: Holder, thing: Any) -> None:
    target = SimpleNamespace(a=1)
    holder.bind(target)
    assert thing.a == 1
    thing.b = 2
    assert target.b == 2
    del thing.a
    assert not hasattr(target, "a")
    assert vars(target) == {"b": 2}


def test_missing_attribute_raises_attribute_error(holder: Holder, thing: Any) -> None:
    holder.bind(SimpleNamespace())
    with pytest.raises(AttributeError, match="nope"):
        thing.nope  # noqa: B018
    with pytest.raises(AttributeError):
        del thing.nope
    assert not hasattr(thing, "nope")


def test_method_calls_are_forwarded(holder: Holder, thing: Any) -> None:
    target: list[int] = []
    holder.bind(target)
    thing.append(3)
    thing.extend([1, 2])
    thing.sort()
    assert target == [1, 2, 3]


def test_dir_lists_target_attributes(holder: Holder, thing: Any) -> None:
    holder.bind(SimpleNamespace(visible=1))
    assert "visible" in dir(thing)


def test_class_and_isinstance_report_target_class(holder: Holder, thing: Any) -> None:
    holder.bind(SimpleNamespace())
    assert thing.__class__ is SimpleNamespace
    assert isinstance(thing, SimpleNamespace)
    assert isinstance(thing, ContextProxy)
    holder.bind(3)
    assert isinstance(thing, int)


# -- containers ----------------------------------------------------------------------


def test_item_access_is_forwarded(holder: Holder, thing: Any) -> None:
    target = {"a": 1}
    holder.bind(target)
    assert thing["a"] == 1
    thing["b"] = 2
    assert target["b"] == 2
    del thing["a"]
    assert target == {"b": 2}
    with pytest.raises(KeyError):
        thing["a"]


def test_slices_are_forwarded(holder: Holder, thing: Any) -> None:
    target = [0, 1, 2, 3]
    holder.bind(target)
    assert thing[1:3] == [1, 2]
    thing[0:2] = ["a"]
    assert target == ["a", 2, 3]


def test_iteration_len_contains_and_reversed(holder: Holder, thing: Any) -> None:
    holder.bind(["x", "y", "z"])
    assert list(thing) == ["x", "y", "z"]
    assert [item for item in thing] == ["x", "y", "z"]
    assert len(thing) == 3
    assert "y" in thing
    assert "w" not in thing
    assert list(reversed(thing)) == ["z", "y", "x"]


def test_bool_is_truth_of_target(holder: Holder, thing: Any) -> None:
    holder.bind([])
    assert not thing
    holder.bind([0])
    assert thing
    holder.bind(0)
    assert bool(thing) is False


# -- comparisons, arithmetic, conversions --------------------------------------------


def test_comparisons_are_forwarded(holder: Holder, thing: Any) -> None:
    holder.bind(5)
    assert thing == 5
    assert 5 == thing
    assert thing != 6
    assert thing < 6 and not thing < 5
    assert thing <= 5
    assert thing > 4
    assert thing >= 5
    assert 4 < thing
    assert sorted([7, thing, 3]) == [3, 5, 7]


def test_equality_with_the_target_object(holder: Holder, thing: Any) -> None:
    target = object()
    holder.bind(target)
    assert thing == target
    assert target == thing
    assert thing != object()


def test_hash_is_target_hash(holder: Holder, thing: Any) -> None:
    holder.bind("key")
    assert hash(thing) == hash("key")
    assert {thing: 1}["key"] == 1


BINARY_OPS = [
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.pow,
    operator.lshift,
    operator.rshift,
    operator.and_,
    operator.or_,
    operator.xor,
]


@pytest.mark.parametrize("op", BINARY_OPS, ids=lambda op: op.__name__)
def test_binary_arithmetic_is_forwarded(
    holder: Holder, thing: Any, op: Callable[[Any, Any], Any]
) -> None:
    holder.bind(12)
    assert op(thing, 5) == op(12, 5)


@pytest.mark.parametrize("op", BINARY_OPS, ids=lambda op: op.__name__)
def test_reflected_arithmetic_is_forwarded(
    holder: Holder, thing: Any, op: Callable[[Any, Any], Any]
) -> None:
    holder.bind(3)
    assert op(7, thing) == op(7, 3)


def test_arithmetic_between_two_proxies(holder: Holder, thing: Any) -> None:
    holder.bind(4)
    other = make_proxy("other", lambda: 10)
    assert thing + other == 14
    assert other - thing == 6


def test_matrix_multiplication_is_forwarded(holder: Holder, thing: Any) -> None:
    holder.bind(Vec(1, 2))
    assert thing @ Vec(3, 4) == 11


def test_unary_operators_are_forwarded(holder: Holder, thing: Any) -> None:
    holder.bind(-6)
    assert -thing == 6
    assert +thing == -6
    assert abs(thing) == 6
    assert ~thing == 5


def test_in_place_operator_mutates_mutable_target(holder: Holder, thing: Any) -> None:
    target = [1]
    holder.bind(target)
    alias = thing
    alias += [2]
    assert target == [1, 2]
    assert alias is target


def test_in_place_operator_on_immutable_target_rebinds_name(
    holder: Holder, thing: Any
) -> None:
    holder.bind(10)
    alias = thing
    alias += 5
    assert alias == 15
    assert thing == 10


def test_numeric_conversions_and_format(holder: Holder, thing: Any) -> None:
    holder.bind(3)
    assert int(thing) == 3
    assert float(thing) == 3.0
    assert ["a", "b", "c", "d"][thing] == "d"
    assert format(thing, "03d") == "003"
    assert f"{thing:>3}" == "  3"
    assert range(10)[thing] == 3


# -- calls, context managers, repr ---------------------------------------------------


def test_calls_are_forwarded_with_arguments(holder: Holder, thing: Any) -> None:
    holder.bind(lambda *args, **kwargs: (args, kwargs))
    assert thing(1, 2, key="v") == ((1, 2), {"key": "v"})


def test_with_statement_is_forwarded(holder: Holder, thing: Any) -> None:
    events: list[Any] = []

    class Managed:
        def __enter__(self) -> str:
            events.append("enter")
            return "value"

        def __exit__(self, *exc_info: Any) -> bool:
            events.append(exc_info[0])
            return True

    holder.bind(Managed())
    with thing as value:
        assert value == "value"
        raise KeyError("suppressed by the target")
    assert events == ["enter", KeyError]


def test_repr_and_str_of_bound_proxy_are_targets(holder: Holder, thing: Any) -> None:
    holder.bind(Vec(1, 2))
    assert repr(thing) == "Vec(1, 2)"
    assert str(thing) == "Vec(1, 2)"
    holder.bind("text")
    assert str(thing) == "text"
    assert repr(thing) == "'text'"


# -- unbound -------------------------------------------------------------------------


def test_unbound_repr_names_the_proxy(thing: Any) -> None:
    assert repr(thing) == "<thing unbound>"


def test_unbound_bool_is_false(thing: Any) -> None:
    assert bool(thing) is False
    assert not thing


def test_unbound_dir_is_empty(thing: Any) -> None:
    assert dir(thing) == []


def test_unbound_isinstance_does_not_raise(thing: Any) -> None:
    assert not isinstance(thing, SimpleNamespace)
    assert isinstance(thing, ContextProxy)
    assert thing.__class__ is type(thing)


UNBOUND_OPERATIONS: dict[str, Callable[[Any], Any]] = {
    "getattr": lambda p: p.attr,
    "setattr": lambda p: setattr(p, "attr", 1),
    "delattr": lambda p: delattr(p, "attr"),
    "getitem": lambda p: p["k"],
    "setitem": lambda p: operator.setitem(p, "k", 1),
    "delitem": lambda p: operator.delitem(p, "k"),
    "iter": iter,
    "reversed": reversed,
    "len": len,
    "contains": lambda p: 1 in p,
    "eq": lambda p: p == 1,
    "lt": lambda p: p < 1,
    "add": lambda p: p + 1,
    "radd": lambda p: 1 + p,
    "neg": operator.neg,
    "call": lambda p: p(),
    "str": str,
    "hash": hash,
    "int": int,
    "format": lambda p: format(p, ""),
    "get_current_object": lambda p: p._get_current_object(),
}


@pytest.mark.parametrize("name", sorted(UNBOUND_OPERATIONS))
def test_unbound_operations_raise_the_resolver_error(thing: Any, name: str) -> None:
    with pytest.raises(UnboundProxyError, match="thing is unbound"):
        UNBOUND_OPERATIONS[name](thing)


# -- the real globals ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["current_app", "g", "request", "session", "app_ctx"])
def test_global_proxy_unbound_repr_bool_and_isinstance(name: str) -> None:
    proxy = getattr(kettle, name)
    assert repr(proxy) == f"<{name} unbound>"
    assert bool(proxy) is False
    assert not isinstance(proxy, (Kettle, AppCtxGlobals, kettle.Request, AppContext))
    assert isinstance(proxy, ContextProxy)
    with pytest.raises(RuntimeError):
        proxy._get_current_object()


def test_global_proxies_report_their_targets_class(app: Kettle) -> None:
    with app.test_request_context("/"):
        assert isinstance(current_app, Kettle)
        assert isinstance(g, AppCtxGlobals)
        assert isinstance(request, kettle.Request)
        assert isinstance(session, SessionMixin)
        assert isinstance(app_ctx, AppContext)
        assert request.__class__ is app.request_class


def test_get_current_object_identity_for_each_global(app: Kettle) -> None:
    with app.test_request_context("/") as ctx:
        assert current_app._get_current_object() is app
        assert g._get_current_object() is ctx.g
        assert request._get_current_object() is ctx.request
        assert session._get_current_object() is ctx._session
        assert app_ctx._get_current_object() is ctx
        assert current_app is not app
        assert request is not ctx.request


def test_bound_global_repr_and_str_are_targets(app: Kettle) -> None:
    with app.test_request_context("/here") as ctx:
        assert repr(current_app) == repr(app) == "<Kettle 'kettle_test_app'>"
        assert str(current_app) == str(app)
        assert repr(request) == repr(ctx.request)
        assert "/here" in repr(request)
        assert repr(app_ctx) == repr(ctx)


def test_current_app_forwards_attributes_and_compares_equal(app: Kettle) -> None:
    with app.app_context():
        assert current_app.name == "kettle_test_app"
        assert current_app.config["TESTING"] is True
        current_app.config["NEW"] = "value"
        assert app.config["NEW"] == "value"
        current_app.custom_attribute = 1
        assert app.custom_attribute == 1  # type: ignore[attr-defined]
        del current_app.custom_attribute
        assert not hasattr(app, "custom_attribute")
        assert current_app == app
        assert app == current_app
        assert current_app != Kettle("other_app")
        assert hash(current_app) == hash(app)
        assert bool(current_app) is True


def test_request_proxy_forwards_attributes(app: Kettle) -> None:
    with app.test_request_context("/r?a=1&a=2", method="PATCH", headers={"X-T": "t"}):
        assert request.method == "PATCH"
        assert request.args.getlist("a") == ["1", "2"]
        assert request.headers["X-T"] == "t"
        request.custom = "mine"
        assert request._get_current_object().custom == "mine"
        assert bool(request) is True


def test_session_proxy_forwards_mapping_operations(app: Kettle) -> None:
    with app.test_request_context("/") as ctx:
        assert not session
        assert len(session) == 0
        session["a"] = 1
        session["b"] = 2
        assert session
        assert session["a"] == 1
        assert "a" in session and "z" not in session
        assert sorted(session) == ["a", "b"]
        assert len(session) == 2
        del session["a"]
        assert dict(session) == {"b": 2}
        assert session == {"b": 2}
        assert session.modified
        assert ctx._session is not None and ctx._session.accessed
        with pytest.raises(KeyError):
            session["a"]


def test_session_proxy_union_operators(app: Kettle) -> None:
    given = SecureCookieSession({"a": 1})
    with app.test_request_context("/") as ctx:
        ctx._session = given
        assert session | {"b": 2} == {"a": 1, "b": 2}
        assert {"z": 0} | session == {"z": 0, "a": 1}


def test_app_ctx_proxy_forwards_attributes(app: Kettle) -> None:
    with app.app_context() as ctx:
        assert app_ctx.app is app
        assert app_ctx.g is ctx.g
        app_ctx.extension_state = "kept"
        assert ctx.extension_state == "kept"  # type: ignore[attr-defined]
        del app_ctx.extension_state
        assert not hasattr(ctx, "extension_state")


class Counter:
    """A g class with operators, as a custom ``app_ctx_globals_class``."""

    def __init__(self) -> None:
        self.value = 10
        self.calls: list[Any] = []

    def __add__(self, other: int) -> int:
        return self.value + other

    def __radd__(self, other: int) -> int:
        return other + self.value

    def __sub__(self, other: int) -> int:
        return self.value - other

    def __mul__(self, other: int) -> int:
        return self.value * other

    def __lt__(self, other: int) -> bool:
        return self.value < other

    def __eq__(self, other: object) -> bool:
        return other == self.value

    __hash__ = object.__hash__

    def __neg__(self) -> int:
        return -self.value

    def __len__(self) -> int:
        return self.value

    def __iter__(self) -> Iterator[int]:
        return iter(range(3))

    def __contains__(self, item: object) -> bool:
        return item == "inside"

    def __getitem__(self, key: str) -> str:
        return key.upper()

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append((args, kwargs))
        return "called"

    def __str__(self) -> str:
        return f"Counter at {self.value}"


def test_g_proxy_forwards_operators_of_custom_globals_class(app: Kettle) -> None:
    app.app_ctx_globals_class = Counter
    with app.app_context() as ctx:
        assert isinstance(g, Counter)
        assert g + 5 == 15
        assert 5 + g == 15
        assert g - 3 == 7
        assert g * 2 == 20
        assert g < 11 and not g < 10
        assert g == 10 and g != 11
        assert -g == -10
        assert len(g) == 10
        assert list(g) == [0, 1, 2]
        assert "inside" in g and "outside" not in g
        assert g["key"] == "KEY"
        assert str(g) == "Counter at 10"
        g.value = 20
        assert ctx.g.value == 20
        assert g + 1 == 21


def test_g_proxy_forwards_calls_to_callable_globals(app: Kettle) -> None:
    app.app_ctx_globals_class = Counter
    with app.app_context() as ctx:
        assert g(1, flag=True) == "called"
        assert ctx.g.calls == [((1,), {"flag": True})]


def test_g_proxy_works_with_any_zero_argument_factory(app: Kettle) -> None:
    app.app_ctx_globals_class = lambda: [1, 2, 3]  # type: ignore[assignment]
    with app.app_context():
        assert g == [1, 2, 3]
        g.append(4)
        g[0] = 0
        assert list(g) == [0, 2, 3, 4]
        assert g[-1] == 4 and len(g) == 4
        assert list(reversed(g)) == [4, 3, 2, 0]


def test_g_get_current_object_with_getattr_fallback_class(app: Kettle) -> None:
    class Lenient(AppCtxGlobals):
        def __getattr__(self, name: str) -> Any:
            return None

    app.app_ctx_globals_class = Lenient
    with app.app_context() as ctx:
        assert g.unset is None
        assert g._get_current_object() is ctx.g
