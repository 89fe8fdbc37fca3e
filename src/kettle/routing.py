"""A URL matcher compiled from the app's Werkzeug ``Map`` for the common case.

Werkzeug's ``Map`` stays the source of truth: it builds URLs and decides every hard
case (redirects for a missing slash or merged slashes, 405s, defaults and aliases,
host and subdomain matching). Binding a ``MapAdapter`` and running its state machine
costs several microseconds per request, though, so :class:`FastMatcher` answers the
easy, unambiguous case directly, and says "don't know" for anything else:

* a path that equals exactly one static rule allowing the method;
* a path that exactly one dynamic rule matches, with no other rule matching it or it
  with a slash added or removed.

A "don't know" (None) makes the caller fall back to Werkzeug, so the fast path can
only ever return what Werkzeug would have returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from werkzeug.routing import BaseConverter, IntegerConverter, Map, Rule, ValidationError

__all__ = ["FastMatcher"]

# The regexes of Werkzeug's int converter (unsigned) and default string converter.
_DIGITS = r"\d+"
_SEGMENT = "[^/]{1,}"

_PLACEHOLDER = re.compile(r"<(?:[^>:]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>|<[^>]*>")


class _DynamicRule:
    """One rule with converters, compiled to a regex over the whole path."""

    __slots__ = (
        "digits",
        "eligible",
        "name",
        "params",
        "pattern",
        "prefix",
        "rule",
        "slash_group",
        "trailing_slash",
    )

    def __init__(self, rule: Rule, pattern: re.Pattern[str], eligible: bool) -> None:
        self.rule = rule
        self.pattern = pattern
        self.eligible = eligible
        self.trailing_slash = rule.rule.endswith("/")
        # The last group holds the optional trailing slash.
        self.slash_group = pattern.groups
        # (name, to_python) in the order the variables appear in the path.
        names = sorted(pattern.groupindex, key=pattern.groupindex.__getitem__)
        self.params: tuple[tuple[str, Callable[[str], Any] | None], ...] = tuple(
            (name, _to_python(rule._converters[name])) for name in names
        )
        # A rule that is a static prefix and then one plain string or int variable
        # (``/user/<int:id>``) is matched without its regex: a path starting with
        # ``prefix`` gives the rest as the value of ``name``. (prefix is "" for any
        # other rule; name and digits repeat params[0] to save lookups per match.)
        self.prefix = ""
        self.name = ""
        self.digits = False
        if len(self.params) == 1 and not self.trailing_slash:
            name, to_python = self.params[0]
            regex = rule._converters[name].regex
            head, _, tail = rule.rule.rpartition("<")
            if (
                tail.endswith(">")
                and "<" not in head
                and (
                    (regex == _DIGITS and to_python is int)
                    or (regex == _SEGMENT and to_python is None)
                )
            ):
                self.prefix = head
                self.name = name
                self.digits = to_python is int


def _to_python(converter: BaseConverter) -> Callable[[str], Any] | None:
    """The converter's to_python, or None where it returns the string unchanged."""
    kind = type(converter)
    if kind.to_python is BaseConverter.to_python:
        return None
    if (
        kind is IntegerConverter
        and not converter.fixed_digits  # type: ignore[attr-defined]
        and converter.min is None  # type: ignore[attr-defined]
        and converter.max is None  # type: ignore[attr-defined]
        and not converter.signed  # type: ignore[attr-defined]
    ):
        return int  # its regex admits digits only: int() is all it does
    return converter.to_python


def _first_segment(path: str) -> str:
    # A rule's bucket key; FastMatcher.match writes the same expression inline.
    return path.split("/", 2)[1]


def _is_eligible(rule: Rule, endpoints_with_defaults: set[str], url_map: Map) -> bool:
    """Whether Werkzeug returns this rule as is when it is the only match."""
    return not (
        rule.websocket
        or rule.build_only
        or rule.redirect_to is not None
        or not rule.strict_slashes
        or rule.defaults
        or rule.alias
        or rule.methods is None
        or (url_map.redirect_defaults and rule.endpoint in endpoints_with_defaults)
    )


def _compile(rule: Rule) -> re.Pattern[str] | None:
    """A regex matching the rule's path with or without a trailing slash."""
    body = rule.rule.rstrip("/") or "/"
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(body):
        name = match.group(1)
        converter = rule._converters.get(name) if name else None
        if converter is None:
            return None
        parts.append(re.escape(body[position : match.start()]))
        parts.append(f"(?P<{name}>{converter.regex})")
        position = match.end()
    parts.append(re.escape(body[position:]))
    try:
        # \Z, not $: a $ would also match before a final newline ("/user/7%0A").
        return re.compile(f"^{''.join(parts)}(/?)\\Z")
    except re.error:
        return None


class FastMatcher:
    """Matches request paths against a ``Map`` without binding an adapter."""

    __slots__ = ("_dynamic", "_enabled", "_slashed", "_static", "_wildcard")

    def __init__(self, url_map: Map) -> None:
        self._static: dict[str, list[tuple[Rule, bool]]] = {}
        self._dynamic: dict[str, list[_DynamicRule]] = {}
        self._wildcard: list[_DynamicRule] = []
        self._slashed: set[str] = set()
        rules = list(url_map.iter_rules())
        self._enabled = not url_map.host_matching and not any(
            r.subdomain for r in rules
        )
        if self._enabled:
            self._enabled = self._add_rules(url_map, rules)

    def _add_rules(self, url_map: Map, rules: list[Rule]) -> bool:
        with_defaults = {r.endpoint for r in rules if r.defaults}
        for rule in rules:
            eligible = _is_eligible(rule, with_defaults, url_map)
            if not rule.arguments:
                self._static.setdefault(rule.rule, []).append((rule, eligible))
                continue
            pattern = _compile(rule)
            if pattern is None:
                return False
            compiled = _DynamicRule(rule, pattern, eligible)
            head = _first_segment(rule.rule)
            if "<" in head:
                self._wildcard.append(compiled)
            else:
                self._dynamic.setdefault(head, []).append(compiled)
        # A path whose first segment names a bucket may still match a rule that
        # starts with a variable: each bucket lists those too.
        for bucket in self._dynamic.values():
            bucket.extend(self._wildcard)
        # Paths that a static rule has with a trailing slash: Werkzeug redirects them.
        self._slashed = {p[:-1] for p in self._static if p.endswith("/") and p != "/"}
        return True

    def match(self, path: str, method: str) -> tuple[Rule, dict[str, Any]] | None:
        """Return ``(rule, values)`` for an unambiguous match, else None."""
        # PERF: this runs for every request; it is written flat on purpose.
        if not self._enabled or "//" in path:
            return None
        static = self._static.get(path)
        if static is not None:
            if len(static) != 1:
                return None
            rule, eligible = static[0]
            if not eligible or method not in rule.methods:  # type: ignore[operator]
                return None
            return rule, {}
        if path in self._slashed:
            return None
        if path[-1:] == "/" and path[:-1] in self._static:
            # A static rule without the slash may match it (strict_slashes=False),
            # ahead of any dynamic rule; Werkzeug decides.
            return None
        found: _DynamicRule | None = None
        match: re.Match[str] | None = None
        # PERF: _first_segment(path) written inline (paths start with "/"); one
        # split beats a slice and a partition.
        candidates = self._dynamic.get(path.split("/", 2)[1], self._wildcard)
        if len(candidates) == 1:
            only = candidates[0]
            prefix = only.prefix
            if prefix:
                # PERF: what its regex decides, without it: \d+ is a run of Unicode
                # decimal digits, [^/]{1,} a non-empty run without a slash.
                if not path.startswith(prefix):
                    return None
                value = path[len(prefix) :]
                if only.digits:
                    if not value.isdecimal():
                        return None
                    converted: Any = int(value)
                elif not value or "/" in value:
                    return None
                else:
                    converted = value
                if not only.eligible or method not in only.rule.methods:  # type: ignore[operator]
                    return None
                return only.rule, {only.name: converted}
        for candidate in candidates:
            m = candidate.pattern.match(path)
            if m is None:
                continue
            if (
                found is not None
                or bool(m[candidate.slash_group]) != candidate.trailing_slash
            ):
                return None
            found = candidate
            match = m
        if found is None or not found.eligible or method not in found.rule.methods:  # type: ignore[operator]
            return None
        values: dict[str, Any] = {}
        try:
            for name, to_python in found.params:
                value = match[name]  # type: ignore[index]  # set with found
                values[name] = value if to_python is None else to_python(value)
        except ValidationError:
            return None
        return found.rule, values
