"""Blueprints: groups of routes, hooks and handlers registered on an app as a unit.

A blueprint records what is registered on it and replays it on each app (or parent
blueprint) it is registered with, under its name: endpoints become ``name.endpoint``,
URL rules get the blueprint's ``url_prefix``, subdomain and defaults, and hooks and
error handlers apply to the blueprint's requests only. The ``*_app_*`` variants
(``before_app_request``, ``app_errorhandler``...) apply to every request of the app.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from .cli import AppGroup
from .errors import SetupError
from .scaffold import Scaffold, setupmethod

if TYPE_CHECKING:
    from .app import Kettle
    from .typing import (
        AfterRequestCallable,
        BeforeRequestCallable,
        ErrorHandlerCallable,
        RouteCallable,
        TeardownCallable,
        TemplateContextProcessorCallable,
        URLDefaultCallable,
        URLValuePreprocessorCallable,
    )

__all__ = ["Blueprint", "BlueprintSetupState"]

F = TypeVar("F", bound=Callable[..., Any])
DeferredSetupFunction = Callable[["BlueprintSetupState"], None]
_UNSET: Any = object()


def _join_prefix(outer: str | None, inner: str | None) -> str | None:
    if outer and inner:
        return f"{outer.rstrip('/')}/{inner.lstrip('/')}"
    return inner or outer


def _join_subdomain(outer: str | None, inner: str | None) -> str | None:
    if outer and inner:
        return f"{inner}.{outer}"
    return inner or outer


class BlueprintSetupState:
    """What a blueprint's recorded functions see when it is registered on an app."""

    def __init__(
        self,
        blueprint: Blueprint,
        app: Kettle,
        options: dict[str, Any],
        first_registration: bool,
    ) -> None:
        self.app = app
        self.blueprint = blueprint
        self.options = options
        self.first_registration = first_registration
        self.subdomain = options.get("subdomain", blueprint.subdomain)
        url_prefix = options.get("url_prefix", blueprint.url_prefix)
        self.url_prefix: str | None = url_prefix
        self.name: str = options.get("name", blueprint.name)
        self.name_prefix: str = options.get("name_prefix", "")
        self.url_defaults = {
            **blueprint.url_values_defaults,
            **options.get("url_defaults", {}),
        }

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: RouteCallable | None = None,
        **options: Any,
    ) -> None:
        """Register a rule on the app with the blueprint's prefix, name and defaults."""
        if self.url_prefix is not None:
            rule = (
                f"{self.url_prefix.rstrip('/')}/{rule.lstrip('/')}"
                if rule
                else self.url_prefix
            )
        options.setdefault("subdomain", self.subdomain)
        if endpoint is None:
            endpoint = view_func.__name__  # type: ignore[union-attr]
        defaults = {**self.url_defaults, **(options.pop("defaults", None) or {})}
        if defaults:
            options["defaults"] = defaults
        full_endpoint = f"{self.name_prefix}.{self.name}.{endpoint}".lstrip(".")
        self.app.add_url_rule(rule, full_endpoint, view_func, **options)


class Blueprint(Scaffold):
    """A group of views and hooks to register on apps, possibly several times.

    ``url_prefix``, ``subdomain`` and ``url_defaults`` apply to all its rules;
    ``static_folder`` and ``template_folder`` add its own static files and templates.
    ``cli_group`` names the group of its CLI commands (None: merged into the app's).
    """

    def __init__(
        self,
        name: str,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        url_prefix: str | None = None,
        subdomain: str | None = None,
        url_defaults: dict[str, Any] | None = None,
        root_path: str | None = None,
        cli_group: str | None = _UNSET,
    ) -> None:
        super().__init__(
            import_name, static_folder, static_url_path, template_folder, root_path
        )
        if not name:
            raise ValueError("A blueprint needs a non-empty name.")
        if "." in name:
            raise ValueError(
                f"Blueprint name {name!r} contains a dot; dots separate nested"
                " blueprints' names. Use another character."
            )
        self.name = name
        self.url_prefix = url_prefix
        self.subdomain = subdomain
        self.url_values_defaults = dict(url_defaults or {})
        self.cli_group = cli_group
        self.deferred_functions: list[DeferredSetupFunction] = []
        self._blueprints: list[tuple[Blueprint, dict[str, Any]]] = []
        self._got_registered_once = False
        self.cli = _make_cli_group(name)

    def _check_setup_finished(self, f_name: str) -> None:
        if self._got_registered_once:
            raise _late_setup_error(self.name, f_name)

    # -- recording -------------------------------------------------------------------

    @setupmethod
    def record(self, func: DeferredSetupFunction) -> None:
        """Call ``func(state)`` each time the blueprint is registered."""
        self.deferred_functions.append(func)

    @setupmethod
    def record_once(self, func: DeferredSetupFunction) -> None:
        """Call ``func(state)`` the first time the blueprint is registered on an app."""

        def wrapper(state: BlueprintSetupState) -> None:
            if state.first_registration:
                func(state)

        self.record(wrapper)

    def make_setup_state(
        self, app: Kettle, options: dict[str, Any], first_registration: bool = False
    ) -> BlueprintSetupState:
        """The state passed to recorded functions for one registration."""
        return BlueprintSetupState(self, app, options, first_registration)

    @setupmethod
    def register_blueprint(self, blueprint: Blueprint, **options: Any) -> None:
        """Nest ``blueprint`` in this one; it is registered along with this one."""
        if blueprint is self:
            raise ValueError("A blueprint cannot be registered on itself.")
        self._blueprints.append((blueprint, options))

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        """Record a URL rule; it is added to the app with the blueprint's prefix."""
        if endpoint and "." in endpoint:
            raise ValueError(f"The endpoint {endpoint!r} may not contain a dot.")
        name = getattr(view_func, "__name__", None)
        if view_func is not None and name and "." in name:
            raise ValueError(f"The view function name {name!r} may not contain a dot.")
        self.record(
            lambda s: s.add_url_rule(
                rule,
                endpoint,
                view_func,
                provide_automatic_options=provide_automatic_options,
                **options,
            )
        )

    # -- registration ----------------------------------------------------------------

    def register(self, app: Kettle, options: dict[str, Any]) -> None:
        """Register this blueprint (and the ones nested in it) on ``app``."""
        name = f"{options.get('name_prefix', '')}.{options.get('name', self.name)}"
        name = name.lstrip(".")
        existing = app.blueprints.get(name)
        if existing is not None:
            where = "this" if existing is self else "a different"
            raise ValueError(
                f"The name {name!r} is already registered for {where} blueprint. Pass"
                " a unique name=... to register_blueprint to register it again."
            )
        first_registration = not any(bp is self for bp in app.blueprints.values())
        app.blueprints[name] = self
        self._got_registered_once = True
        state = self.make_setup_state(app, options, first_registration)
        if self.has_static_folder:
            state.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                view_func=self.send_static_file,
                endpoint="static",
            )
        self._merge_registries(app, name)
        for deferred in self.deferred_functions:
            deferred(state)
        self._register_cli(app, options)
        self._register_nested(app, state, name)

    def _merge_registries(self, app: Kettle, name: str) -> None:
        def scoped(key: str | None) -> str:
            return name if key is None else f"{name}.{key}"

        for registry in (
            "before_request_funcs",
            "after_request_funcs",
            "teardown_request_funcs",
            "url_default_functions",
            "url_value_preprocessors",
            "template_context_processors",
        ):
            target = getattr(app, registry)
            for key, funcs in getattr(self, registry).items():
                target.setdefault(scoped(key), []).extend(funcs)
        for key, by_code in self.error_handler_spec.items():
            for code, by_class in by_code.items():
                app.error_handler_spec[scoped(key)][code].update(by_class)
        for endpoint, func in self.view_functions.items():
            app.view_functions[f"{name}.{endpoint}"] = func

    def _register_cli(self, app: Kettle, options: dict[str, Any]) -> None:
        if not self.cli.commands:
            return
        group = options.get("cli_group", self.cli_group)
        if group is None:
            app.cli.commands.update(self.cli.commands)
        else:
            self.cli.name = self.name if group is _UNSET else group
            app.cli.add_command(self.cli)

    def _register_nested(
        self, app: Kettle, state: BlueprintSetupState, name: str
    ) -> None:
        for blueprint, nested_options in self._blueprints:
            options = dict(nested_options)
            options["url_prefix"] = _join_prefix(
                state.url_prefix, options.get("url_prefix", blueprint.url_prefix)
            )
            options["subdomain"] = _join_subdomain(
                state.subdomain, options.get("subdomain", blueprint.subdomain)
            )
            options["name_prefix"] = name
            blueprint.register(app, options)

    # -- hooks that apply to the whole app --------------------------------------------

    def _on_app(self, registry: str, f: Any) -> None:
        self.record_once(
            lambda s: getattr(s.app, registry).setdefault(None, []).append(f)
        )

    @setupmethod
    def before_app_request(self, f: BeforeRequestCallable) -> BeforeRequestCallable:
        """Like ``before_request``, for every request of the app."""
        self._on_app("before_request_funcs", f)
        return f

    @setupmethod
    def after_app_request(self, f: AfterRequestCallable) -> AfterRequestCallable:
        """Like ``after_request``, for every request of the app."""
        self._on_app("after_request_funcs", f)
        return f

    @setupmethod
    def teardown_app_request(self, f: TeardownCallable) -> TeardownCallable:
        """Like ``teardown_request``, for every request of the app."""
        self._on_app("teardown_request_funcs", f)
        return f

    @setupmethod
    def app_context_processor(
        self, f: TemplateContextProcessorCallable
    ) -> TemplateContextProcessorCallable:
        """Like ``context_processor``, for every template the app renders."""
        self._on_app("template_context_processors", f)
        return f

    @setupmethod
    def app_url_value_preprocessor(
        self, f: URLValuePreprocessorCallable
    ) -> URLValuePreprocessorCallable:
        """Like ``url_value_preprocessor``, for every request of the app."""
        self._on_app("url_value_preprocessors", f)
        return f

    @setupmethod
    def app_url_defaults(self, f: URLDefaultCallable) -> URLDefaultCallable:
        """Like ``url_defaults``, for every URL the app builds."""
        self._on_app("url_default_functions", f)
        return f

    @setupmethod
    def app_errorhandler(
        self, code: type[Exception] | int
    ) -> Callable[[ErrorHandlerCallable], ErrorHandlerCallable]:
        """Like ``errorhandler``, for errors in any request of the app."""

        def decorator(f: ErrorHandlerCallable) -> ErrorHandlerCallable:
            self.record_once(lambda s: s.app.register_error_handler(code, f))
            return f

        return decorator

    # -- templates (registered on the app) ------------------------------------------

    def _on_app_template(self, adder: str, f: Any, name: str | None) -> None:
        self.record_once(lambda s: getattr(s.app, adder)(f, name))

    def _template_decorator(self, adder: str, name: Any) -> Any:
        if callable(name):
            self._on_app_template(adder, name, None)
            return name

        def decorator(f: F) -> F:
            self._on_app_template(adder, f, name)
            return f

        return decorator

    @setupmethod
    def app_template_filter(self, name: Any = None) -> Any:
        """Register a Jinja filter on the app (with or without a name)."""
        return self._template_decorator("add_template_filter", name)

    @setupmethod
    def add_app_template_filter(
        self, f: Callable[..., Any], name: str | None = None
    ) -> None:
        """Register ``f`` as a Jinja filter of the app."""
        self._on_app_template("add_template_filter", f, name)

    @setupmethod
    def app_template_test(self, name: Any = None) -> Any:
        """Register a Jinja test on the app (with or without a name)."""
        return self._template_decorator("add_template_test", name)

    @setupmethod
    def add_app_template_test(
        self, f: Callable[..., bool], name: str | None = None
    ) -> None:
        """Register ``f`` as a Jinja test of the app."""
        self._on_app_template("add_template_test", f, name)

    @setupmethod
    def app_template_global(self, name: Any = None) -> Any:
        """Register a Jinja global on the app (with or without a name)."""
        return self._template_decorator("add_template_global", name)

    @setupmethod
    def add_app_template_global(
        self, f: Callable[..., Any], name: str | None = None
    ) -> None:
        """Register ``f`` as a Jinja global of the app."""
        self._on_app_template("add_template_global", f, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _late_setup_error(name: str, f_name: str) -> Exception:
    return SetupError(
        f"The setup method '{f_name}' can no longer be called on the blueprint"
        f" '{name}': it has already been registered, and the change would not apply"
        " to the registration that was made. Finish setting up the blueprint before"
        " registering it."
    )


def _make_cli_group(name: str) -> AppGroup:
    return AppGroup(name)
