"""URLs of an app: matching a request's URL, and building URLs with ``url_for``.

Werkzeug's ``Map`` is the source of truth; :class:`~kettle.routing.FastMatcher`
answers the common case of matching without binding an adapter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from werkzeug.exceptions import HTTPException, MethodNotAllowed, SecurityError
from werkzeug.routing import BuildError, MapAdapter

from .globals import _cv_app
from .routing import FastMatcher

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext
    from .wrappers import Request

__all__ = [
    "build_url",
    "compile_matcher",
    "create_url_adapter",
    "inject_url_defaults",
    "match_request",
]


def create_url_adapter(app: Kettle, request: Request | None) -> MapAdapter | None:
    """Build the URL adapter for a request, or for no request from the config."""
    config = app.config
    if request is not None:
        server_name = config["SERVER_NAME"]
        subdomain = None
        if app.url_map.host_matching:
            server_name = None
        elif not app.subdomain_matching:
            subdomain = app.url_map.default_subdomain or ""
        return app.url_map.bind_to_environ(
            request.environ, server_name=server_name, subdomain=subdomain
        )
    if config["SERVER_NAME"] is not None:
        return app.url_map.bind(
            config["SERVER_NAME"],
            script_name=config["APPLICATION_ROOT"],
            url_scheme=config["PREFERRED_URL_SCHEME"],
        )
    return None


def match_request(app: Kettle, ctx: AppContext, request: Request) -> None:
    """Match the request's URL; store the rule and values, or the routing error."""
    trusted_hosts = app._trusted_hosts  # config TRUSTED_HOSTS
    if trusted_hosts is not None:
        request.trusted_hosts = trusted_hosts
        try:
            request.host  # noqa: B018 -- validates the Host header
        except SecurityError as e:
            request.routing_exception = e
            return
    matcher = app._matcher
    if matcher is None:
        matcher = compile_matcher(app)
    # A WebSocket goes to Werkzeug, which tells WebSocket and HTTP rules apart.
    hit = None if ctx._websocket else matcher.match(request.path, request.method)
    if hit is not None:
        request.url_rule, request.view_args = hit
        return
    try:
        adapter = ctx.url_adapter
        assert adapter is not None  # a request always gets an adapter
        request.url_rule, request.view_args = adapter.match(return_rule=True)  # type: ignore[assignment]
    except MethodNotAllowed as e:
        # Werkzeug lists them from a set; sorted, the Allow header is stable.
        e.valid_methods = sorted(e.valid_methods or ())
        request.routing_exception = e
    except HTTPException as e:
        request.routing_exception = e


def compile_matcher(app: Kettle) -> FastMatcher:
    """The fast matcher of the app's URL map (compiled once, at the first request)."""
    app.url_map.update()
    matcher = FastMatcher(app.url_map)
    if app.subdomain_matching:
        matcher = FastMatcher(app.url_map_class(host_matching=True))
    app._matcher = matcher
    return matcher


def build_url(
    app: Kettle,
    endpoint: str,
    values: dict[str, Any],
    _anchor: str | None = None,
    _method: str | None = None,
    _scheme: str | None = None,
    _external: bool | None = None,
) -> str:
    """Build the URL of ``endpoint`` with ``values`` (see :func:`kettle.url_for`).

    Uses the active context only if it belongs to ``app``: another app's context
    never builds this app's URLs.
    """
    ctx = _cv_app.get(None)
    if ctx is not None and ctx.app is not app:
        ctx = None
    if ctx is not None and ctx._request is not None:
        adapter = ctx.url_adapter
        if endpoint[:1] == ".":
            blueprint = ctx._request.blueprint
            endpoint = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
        external = _external if _external is not None else _scheme is not None
    else:
        adapter = ctx.url_adapter if ctx is not None else app.create_url_adapter(None)
        if adapter is None:
            raise RuntimeError(
                f"Unable to build the URL of {endpoint!r} outside a request: set"
                " SERVER_NAME in the config (with APPLICATION_ROOT and"
                " PREFERRED_URL_SCHEME if needed), or call url_for during a"
                " request."
            )
        external = _external if _external is not None else True
    assert adapter is not None  # a request's context always has one
    if _scheme is not None and not external:
        raise ValueError(
            "'_scheme' only applies to external URLs: pass _external=True."
        )
    app.inject_url_defaults(endpoint, values)
    try:
        url = adapter.build(
            endpoint,
            values,
            method=_method,
            url_scheme=_scheme,
            force_external=external,
        )
    except BuildError as error:
        values.update(
            _anchor=_anchor, _method=_method, _scheme=_scheme, _external=_external
        )
        return app.handle_url_build_error(error, endpoint, values)
    if _anchor is not None:
        url = f"{url}#{quote(_anchor, safe='%!#$&()*+,/:;=?@')}"
    return url


def inject_url_defaults(app: Kettle, endpoint: str, values: dict[str, Any]) -> None:
    """Let the ``url_defaults`` functions fill in values for building a URL."""
    scopes: list[str | None] = [None]
    if "." in endpoint:
        parts = endpoint.rpartition(".")[0].split(".")
        scopes.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    for scope in scopes:
        for func in app.url_default_functions.get(scope, ()):
            func(endpoint, values)
