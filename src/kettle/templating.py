"""Jinja2 templates: the app's environment, its loaders, and the render functions.

Templates are looked up in the app's ``templates`` folder, then in each registered
blueprint's template folder, in registration order. Every render gets ``config``,
``request``, ``session``, ``g``, ``url_for`` and ``get_flashed_messages``, plus what
the context processors return; HTML, XML and SVG templates are autoescaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from jinja2 import BaseLoader, Template, TemplateNotFound
from jinja2 import Environment as _JinjaEnvironment
from markupsafe import Markup

from . import signals
from .globals import _cv_app, current_app
from .helpers import stream_with_context

if TYPE_CHECKING:
    from .app import Kettle
    from .scaffold import Scaffold

__all__ = [
    "DispatchingJinjaLoader",
    "Environment",
    "render_template",
    "render_template_string",
    "stream_template",
    "stream_template_string",
]

_AUTOESCAPED = (".html", ".htm", ".xml", ".xhtml", ".svg")


class Environment(_JinjaEnvironment):
    """The app's Jinja environment; its loader looks in the app and blueprints."""

    def __init__(self, app: Kettle, **options: Any) -> None:
        options.setdefault("loader", DispatchingJinjaLoader(app))
        super().__init__(**options)
        self.app = app


class DispatchingJinjaLoader(BaseLoader):
    """Finds a template in the app's folder, then in each blueprint's, in order."""

    def __init__(self, app: Kettle) -> None:
        self.app = app

    def _loaders(self) -> Iterator[tuple[Scaffold, BaseLoader]]:
        loader = self.app.jinja_loader
        if loader is not None:
            yield self.app, loader
        for blueprint in self.app.iter_blueprints():
            loader = blueprint.jinja_loader
            if loader is not None:
                yield blueprint, loader

    def get_source(
        self, environment: _JinjaEnvironment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        """The source of the first template named ``template`` found."""
        tried = []
        for owner, loader in self._loaders():
            try:
                return loader.get_source(environment, template)
            except TemplateNotFound:
                tried.append(repr(owner))
        if self.app.config["EXPLAIN_TEMPLATE_LOADING"]:
            self.app.logger.info(
                "Template %r not found; looked in: %s", template, ", ".join(tried)
            )
        raise TemplateNotFound(template)

    def list_templates(self) -> list[str]:
        """Every template name the app and its blueprints provide."""
        found: set[str] = set()
        for _, loader in self._loaders():
            found.update(loader.list_templates())
        return sorted(found)


def select_autoescape(filename: str | None) -> bool:
    """Autoescape templates from strings and ``.html``/``.xml``/``.svg`` files."""
    return filename is None or filename.endswith(_AUTOESCAPED)


def create_environment(app: Kettle) -> Environment:
    """Build the app's Jinja environment, with Kettle's globals and filters."""
    options = dict(app.jinja_options)
    options.setdefault("autoescape", app.select_jinja_autoescape)
    if "auto_reload" not in options:
        auto_reload = app.config["TEMPLATES_AUTO_RELOAD"]
        options["auto_reload"] = app.debug if auto_reload is None else auto_reload
    env = app.jinja_environment(app, **options)
    from .globals import g, request, session
    from .helpers import get_flashed_messages, url_for

    env.globals.update(
        url_for=url_for,
        get_flashed_messages=get_flashed_messages,
        config=app.config,
        request=request,
        session=session,
        g=g,
    )
    env.policies["json.dumps_function"] = app.json.dumps
    env.filters["tojson"] = _tojson_filter
    return env


def _tojson_filter(value: Any, **kwargs: Any) -> Markup:
    """JSON that is safe inside HTML, including in a <script> element."""
    text = current_app.json.dumps(value, **kwargs)
    return Markup(
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


def default_context() -> dict[str, Any]:
    """The active context's ``g`` and ``request`` (the real objects, not proxies)."""
    ctx = _cv_app.get(None)
    if ctx is None:
        return {}
    context: dict[str, Any] = {"g": ctx.g}
    if ctx._request is not None:
        context["request"] = ctx._request
    return context


def update_template_context(app: Kettle, context: dict[str, Any]) -> None:
    """Add the context processors' values; values passed to render win."""
    ctx = _cv_app.get(None)
    scopes: Iterable[str | None] = (None,)
    if ctx is not None and ctx._request is not None:
        scopes = (None, *reversed(ctx._request.blueprints))
    original = context.copy()
    context.update(default_context())
    for scope in scopes:
        for processor in app.template_context_processors.get(scope, ()):
            context.update(app.ensure_sync(processor)())
    context.update(original)


def _render(app: Kettle, template: Template, context: dict[str, Any]) -> str:
    app.update_template_context(context)
    if signals.before_render_template.receivers:
        signals.before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    rendered = template.render(context)
    if signals.template_rendered.receivers:
        signals.template_rendered.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    return rendered


def _stream(app: Kettle, template: Template, context: dict[str, Any]) -> Iterator[str]:
    app.update_template_context(context)
    if signals.before_render_template.receivers:
        signals.before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )

    def generate() -> Iterator[str]:
        yield from template.generate(context)
        if signals.template_rendered.receivers:
            signals.template_rendered.send(
                app, _async_wrapper=app.ensure_sync, template=template, context=context
            )

    return stream_with_context(generate())  # type: ignore[no-any-return]


def _app() -> Kettle:
    return current_app._get_current_object()  # type: ignore[attr-defined, no-any-return]


def render_template(
    template_name_or_list: str | Template | list[str | Template], **context: Any
) -> str:
    """Render a template (or the first that exists of a list) with ``context``."""
    app = _app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _render(app, template, context)


def render_template_string(source: str, **context: Any) -> str:
    """Render a template given as a string with ``context``."""
    app = _app()
    return _render(app, app.jinja_env.from_string(source), context)


def stream_template(
    template_name_or_list: str | Template | list[str | Template], **context: Any
) -> Iterator[str]:
    """Render a template piece by piece, to return as a streamed response."""
    app = _app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _stream(app, template, context)


def stream_template_string(source: str, **context: Any) -> Iterator[str]:
    """Render a template string piece by piece, to return as a streamed response."""
    app = _app()
    return _stream(app, app.jinja_env.from_string(source), context)
