"""Templates: the Jinja environment, loaders, default context, rendering and signals."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Template, TemplateNotFound, TemplatesNotFound
from markupsafe import Markup

import kettle
from kettle import (
    Blueprint,
    Kettle,
    before_render_template,
    flash,
    g,
    get_template_attribute,
    render_template,
    render_template_string,
    session,
    stream_template,
    stream_template_string,
    template_rendered,
)

TEMPLATES = {
    "page.html": "<p>{{ value }}</p>",
    "page.htm": "{{ value }}",
    "page.xml": "<v>{{ value }}</v>",
    "page.svg": "<svg>{{ value }}</svg>",
    "page.txt": "text: {{ value }}",
    "mail.j2": "{{ value }}",
    "context.html": (
        "{{ config.SITE }}|{{ request.path }}|{{ session.get('user') }}|"
        "{{ g.answer }}|{{ url_for('index') }}|{{ get_flashed_messages()|join(',') }}"
    ),
    "macros.html": (
        "{% macro where() %}{{ request.path }} {{ g.answer }} "
        "{{ url_for('index') }} {{ config.SITE }} {{ session.get('user') }}"
        "{% endmacro %}"
        "{% macro hello(name) %}Hello {{ name }}!{% endmacro %}"
        "{% set greeting = 'hi there' %}"
    ),
    "uses_macros.html": (
        "{% import 'macros.html' as m %}{{ m.where() }}"
        "{% from 'macros.html' import hello %} {{ hello('<b>') }}"
    ),
    "stream.html": "{% for i in items %}{{ request.args['sep'] }}{{ i }}{% endfor %}",
    "script.html": "<script>var data = {{ data|tojson }};</script>",
}


@pytest.fixture
def tapp(tmp_path: Path) -> Kettle:
    """An app rooted in ``tmp_path`` with the templates above."""
    folder = tmp_path / "templates"
    folder.mkdir()
    for name, source in TEMPLATES.items():
        (folder / name).write_text(source)
    app = Kettle("kettle_test_app", root_path=str(tmp_path))
    app.config.update(TESTING=True, SECRET_KEY="test key", SITE="Kettle site")

    @app.route("/")
    def index() -> str:
        return "index"

    return app


@pytest.fixture
def recorded() -> Iterator[list[tuple[str, Template, dict[str, Any]]]]:
    events: list[tuple[str, Template, dict[str, Any]]] = []

    def before(sender: Kettle, template: Template, context: dict[str, Any]) -> None:
        events.append(("before", template, dict(context)))

    def after(sender: Kettle, template: Template, context: dict[str, Any]) -> None:
        events.append(("after", template, dict(context)))

    before_render_template.connect(before)
    template_rendered.connect(after)
    try:
        yield events
    finally:
        before_render_template.disconnect(before)
        template_rendered.disconnect(after)


# -- autoescaping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("page.html", "<p>&lt;b&gt;&amp;</p>"),
        ("page.htm", "&lt;b&gt;&amp;"),
        ("page.xml", "<v>&lt;b&gt;&amp;</v>"),
        ("page.svg", "<svg>&lt;b&gt;&amp;</svg>"),
        ("page.txt", "text: <b>&"),
        ("mail.j2", "<b>&"),
    ],
)
def test_autoescaping_depends_on_the_template_extension(
    tapp: Kettle, name: str, expected: str
) -> None:
    with tapp.app_context():
        assert render_template(name, value="<b>&") == expected


def test_render_template_string_is_autoescaped(tapp: Kettle) -> None:
    with tapp.app_context():
        assert render_template_string("{{ v }}", v="<i>") == "&lt;i&gt;"
        assert render_template_string("{{ v }}", v=Markup("<i>")) == "<i>"
        assert render_template_string("{{ v|safe }}", v="<i>") == "<i>"
        assert (
            render_template_string(
                "{% autoescape false %}{{ v }}{% endautoescape %}", v="<i>"
            )
            == "<i>"
        )


def test_select_jinja_autoescape_can_be_overridden(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "x.txt").write_text("{{ v }}")

    class EscapeAll(Kettle):
        def select_jinja_autoescape(self, filename: str | None) -> bool:
            return True

    app = EscapeAll("kettle_test_app", root_path=str(tmp_path))
    with app.app_context():
        assert render_template("x.txt", v="<>") == "&lt;&gt;"


def test_render_template_returns_a_plain_string(tapp: Kettle) -> None:
    with tapp.app_context():
        rv = render_template("page.txt", value=1)
    assert type(rv) is str


# -- selecting templates --------------------------------------------------------------


def test_render_template_with_a_list_uses_the_first_that_exists(
    tapp: Kettle,
) -> None:
    with tapp.app_context():
        rv = render_template(["missing.html", "page.txt", "page.html"], value="v")
        assert rv == "text: v"


def test_render_template_with_a_list_of_missing_templates_raises(
    tapp: Kettle,
) -> None:
    with tapp.app_context():
        with pytest.raises(TemplatesNotFound) as info:
            render_template(["nope.html", "neither.html"])
    assert isinstance(info.value, TemplateNotFound)
    assert "nope.html" in str(info.value)
    assert "neither.html" in str(info.value)


def test_render_template_accepts_a_template_object(tapp: Kettle) -> None:
    with tapp.app_context():
        template = tapp.jinja_env.from_string("{{ a }}+{{ b }}")
        assert render_template(template, a=1, b=2) == "1+2"


def test_missing_template_raises_template_not_found(tapp: Kettle) -> None:
    @tapp.route("/missing")
    def missing() -> str:
        return render_template("does-not-exist.html")

    with tapp.app_context():
        with pytest.raises(TemplateNotFound, match=r"does-not-exist\.html"):
            render_template("does-not-exist.html")
    with pytest.raises(TemplateNotFound):
        tapp.test_client().get("/missing")
    tapp.config["PROPAGATE_EXCEPTIONS"] = False
    assert tapp.test_client().get("/missing").status_code == 500


def test_app_without_template_folder_finds_no_templates(tmp_path: Path) -> None:
    app = Kettle("kettle_test_app", root_path=str(tmp_path), template_folder=None)
    assert app.jinja_loader is None
    with app.app_context():
        with pytest.raises(TemplateNotFound):
            render_template("page.html")
        assert render_template_string("ok") == "ok"


def test_rendering_needs_an_active_context(tapp: Kettle) -> None:
    with pytest.raises(RuntimeError):
        render_template("page.txt")
    with pytest.raises(RuntimeError):
        render_template_string("x")


# -- loaders --------------------------------------------------------------------------


def _blueprint_with_templates(
    root: Path, name: str, files: dict[str, str]
) -> Blueprint:
    folder = root / name / "templates"
    for path, source in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(source)
    return Blueprint(
        name, __name__, template_folder="templates", root_path=str(root / name)
    )


def test_blueprint_templates_are_found_and_the_apps_folder_wins(
    tapp: Kettle, tmp_path: Path
) -> None:
    first = _blueprint_with_templates(
        tmp_path,
        "first",
        {"page.txt": "first's page", "first/own.txt": "first own", "both.txt": "1"},
    )
    second = _blueprint_with_templates(
        tmp_path, "second", {"both.txt": "2", "second/own.txt": "second own"}
    )
    tapp.register_blueprint(first)
    tapp.register_blueprint(second)
    with tapp.app_context():
        # The app's own folder wins over a blueprint's.
        assert render_template("page.txt", value="x") == "text: x"
        assert render_template("first/own.txt") == "first own"
        assert render_template("second/own.txt") == "second own"
        # Between blueprints, registration order decides.
        assert render_template("both.txt") == "1"
    names = tapp.jinja_env.list_templates()
    assert {"page.txt", "first/own.txt", "second/own.txt", "both.txt"} <= set(names)
    assert names == sorted(set(names))


def test_blueprint_template_rendered_from_app_view(
    tapp: Kettle, tmp_path: Path
) -> None:
    bp = _blueprint_with_templates(
        tmp_path, "widgets", {"widgets/w.html": "<w>{{ v }}</w>"}
    )
    tapp.register_blueprint(bp)

    @tapp.route("/w")
    def w() -> str:
        return render_template("widgets/w.html", v="<x>")

    assert tapp.test_client().get("/w").text == "<w>&lt;x&gt;</w>"


def test_explain_template_loading_logs_where_it_looked(
    tapp: Kettle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tapp.config["EXPLAIN_TEMPLATE_LOADING"] = True
    tapp.register_blueprint(_blueprint_with_templates(tmp_path, "bp", {"a.txt": ""}))
    with tapp.app_context(), caplog.at_level("INFO", logger=tapp.logger.name):
        tapp.logger.propagate = True
        with pytest.raises(TemplateNotFound):
            render_template("missing.txt")
    assert "missing.txt" in caplog.text
    assert "bp" in caplog.text


def test_jinja_options_are_passed_to_the_environment(tmp_path: Path) -> None:
    class Custom(Kettle):
        jinja_options = {"trim_blocks": True, "variable_start_string": "[["}  # noqa: RUF012

    app = Custom("kettle_test_app", root_path=str(tmp_path))
    assert app.jinja_env.trim_blocks is True
    with app.app_context():
        assert render_template_string("[[ x }}", x=3) == "3"


# -- default context ------------------------------------------------------------------


def test_default_context_is_available_in_templates(tapp: Kettle) -> None:
    @tapp.route("/ctx")
    def ctx() -> str:
        g.answer = 42
        session["user"] = "ada"
        flash("one")
        flash("two")
        return render_template("context.html")

    rv = tapp.test_client().get("/ctx")
    assert rv.text == "Kettle site|/ctx|ada|42|/|one,two"


def test_default_context_is_available_in_imported_macros(tapp: Kettle) -> None:
    @tapp.route("/macros")
    def macros() -> str:
        g.answer = 7
        session["user"] = "grace"
        return render_template("uses_macros.html")

    rv = tapp.test_client().get("/macros")
    assert rv.text == "/macros 7 / Kettle site grace Hello &lt;b&gt;!"


def test_default_context_without_a_request(tapp: Kettle) -> None:
    with tapp.app_context():
        g.answer = 5
        out = render_template_string(
            "{{ config.SITE }} {{ g.answer }} {{ 'no request' if not request }}"
        )
    assert out == "Kettle site 5 no request"


def test_get_flashed_messages_with_categories_in_templates(tapp: Kettle) -> None:
    @tapp.route("/flash")
    def do_flash() -> str:
        flash("saved", "info")
        flash("oops", "error")
        return "ok"

    @tapp.route("/show")
    def show() -> str:
        return render_template_string(
            "{% for c, m in get_flashed_messages(with_categories=true) %}"
            "[{{ c }}:{{ m }}]{% endfor %}"
            "{{ get_flashed_messages(category_filter=['error'])|join }}"
        )

    client = tapp.test_client()
    client.get("/flash")
    assert client.get("/show").text == "[info:saved][error:oops]oops"
    assert client.get("/show").text == ""


def test_context_processor_values_are_available_and_overridden_by_arguments(
    tapp: Kettle,
) -> None:
    @tapp.context_processor
    def inject() -> dict[str, Any]:
        return {"user": "processor", "site": "from processor", "g": "not g"}

    with tapp.test_request_context():
        g.answer = 1
        out = render_template_string("{{ user }} {{ site }} {{ g }}", user="argument")
    assert out == "argument from processor not g"


def test_context_processor_with_a_function_value(tapp: Kettle) -> None:
    @tapp.context_processor
    def utilities() -> dict[str, Any]:
        def money(amount: float) -> str:
            return f"{amount:.2f} EUR"

        return {"money": money}

    with tapp.app_context():
        assert render_template_string("{{ money(3) }}") == "3.00 EUR"


def test_async_context_processor(tapp: Kettle) -> None:
    @tapp.context_processor
    async def inject() -> dict[str, str]:
        return {"value": "async"}

    @tapp.route("/async")
    def view() -> str:
        return render_template_string("{{ value }}")

    assert tapp.test_client().get("/async").text == "async"


def test_update_template_context_adds_processor_values(tapp: Kettle) -> None:
    @tapp.context_processor
    def inject() -> dict[str, int]:
        return {"a": 1, "b": 2}

    context: dict[str, Any] = {"b": 3}
    with tapp.test_request_context("/path"):
        tapp.update_template_context(context)
        assert context["request"].path == "/path"
    assert context["a"] == 1
    assert context["b"] == 3


# -- filters, tests and globals --------------------------------------------------------


def test_template_filter_with_and_without_parentheses_and_name(tapp: Kettle) -> None:
    @tapp.template_filter
    def bare(s: str) -> str:
        return f"bare({s})"

    @tapp.template_filter()
    def parens(s: str) -> str:
        return f"parens({s})"

    @tapp.template_filter("renamed")
    def original_name(s: str) -> str:
        return f"renamed({s})"

    def added(s: str) -> str:
        return f"added({s})"

    tapp.add_template_filter(added)
    tapp.add_template_filter(added, "added_as")
    assert "original_name" not in tapp.jinja_env.filters
    assert tapp.jinja_env.filters["bare"] is bare
    with tapp.app_context():
        out = render_template_string(
            "{{ 'a'|bare }} {{ 'b'|parens }} {{ 'c'|renamed }} {{ 'd'|added }}"
            " {{ 'e'|added_as }}"
        )
    assert out == "bare(a) parens(b) renamed(c) added(d) added(e)"


def test_template_filter_output_is_escaped_unless_markup(tapp: Kettle) -> None:
    @tapp.template_filter
    def bold(s: str) -> str:
        return f"<b>{s}</b>"

    @tapp.template_filter
    def safe_bold(s: str) -> Markup:
        return Markup("<b>%s</b>") % s

    with tapp.app_context():
        assert render_template_string("{{ 'x'|bold }}") == "&lt;b&gt;x&lt;/b&gt;"
        assert render_template_string("{{ '<'|safe_bold }}") == "<b>&lt;</b>"


def test_template_test_with_and_without_parentheses_and_name(tapp: Kettle) -> None:
    @tapp.template_test
    def boolean(value: Any) -> bool:
        return isinstance(value, bool)

    @tapp.template_test()
    def short(value: str) -> bool:
        return len(value) < 3

    @tapp.template_test("palindrome")
    def is_palindrome(value: str) -> bool:
        return value == value[::-1]

    tapp.add_template_test(lambda v: v == 0, "nothing")
    tapp.add_template_test(is_palindrome)
    assert tapp.jinja_env.tests["is_palindrome"] is is_palindrome
    with tapp.app_context():
        out = render_template_string(
            "{{ false is boolean }} {{ 'abcd' is short }} {{ 'abba' is palindrome }}"
            " {{ 0 is nothing }} {{ 'ab' is is_palindrome }}"
        )
    assert out == "True False True True False"


def test_template_global_with_and_without_parentheses_and_name(tapp: Kettle) -> None:
    @tapp.template_global
    def one() -> int:
        return 1

    @tapp.template_global()
    def two() -> int:
        return 2

    @tapp.template_global("three")
    def get_three() -> int:
        return 3

    tapp.add_template_global(lambda: 4, "four")
    tapp.add_template_global(get_three)
    assert tapp.jinja_env.globals["one"] is one
    with tapp.app_context():
        out = render_template_string(
            "{{ one() }}{{ two() }}{{ three() }}{{ four() }}{{ get_three() }}"
        )
    assert out == "12343"


def test_template_global_is_available_in_imported_templates(
    tapp: Kettle, tmp_path: Path
) -> None:
    (tmp_path / "templates" / "lib.html").write_text(
        "{% macro m() %}{{ site_title() }}{% endmacro %}"
    )

    @tapp.template_global
    def site_title() -> str:
        return "Title"

    with tapp.app_context():
        out = render_template_string("{% import 'lib.html' as lib %}{{ lib.m() }}")
    assert out == "Title"


# -- get_template_attribute and tojson -------------------------------------------------


def test_get_template_attribute_returns_macros_and_variables(tapp: Kettle) -> None:
    with tapp.app_context():
        hello = get_template_attribute("macros.html", "hello")
        assert hello("Ada") == "Hello Ada!"
        assert get_template_attribute("macros.html", "greeting") == "hi there"
        with pytest.raises(AttributeError):
            get_template_attribute("macros.html", "nope")
        with pytest.raises(TemplateNotFound):
            get_template_attribute("none.html", "hello")


def test_get_template_attribute_needs_an_app_context(tapp: Kettle) -> None:
    with pytest.raises(RuntimeError):
        get_template_attribute("macros.html", "hello")


def test_tojson_filter_is_safe_inside_a_script_element(tapp: Kettle) -> None:
    data = {"html": "</script><script>alert('x')</script>", "amp": "a & b", "n": 1}
    with tapp.app_context():
        out = render_template("script.html", data=data)
    assert "</script><script>" not in out
    assert out.count("</script>") == 1
    assert "\\u003c/script\\u003e" in out
    assert "\\u0026" in out
    assert "\\u0027" in out
    body = out.removeprefix("<script>var data = ").removesuffix(";</script>")
    assert kettle.json.loads(body) == data


def test_tojson_filter_uses_the_apps_json_provider(tapp: Kettle) -> None:
    import datetime

    with tapp.app_context():
        out = render_template_string(
            "{{ d|tojson }}", d={"when": datetime.date(2024, 1, 2)}
        )
    assert "Tue, 02 Jan 2024" in out


def test_tojson_in_attribute_is_single_quote_safe(tapp: Kettle) -> None:
    with tapp.app_context():
        out = render_template_string(
            "<div data-x='{{ v|tojson }}'></div>", v="it's <b>"
        )
    assert out == "<div data-x='\"it\\u0027s \\u003cb\\u003e\"'></div>"


# -- streaming -------------------------------------------------------------------------


def test_stream_template_gives_a_streamed_response_with_the_request_available(
    tapp: Kettle,
) -> None:
    @tapp.route("/stream")
    def stream() -> kettle.Response:
        return tapp.response_class(
            stream_template("stream.html", items=[1, 2, 3]), mimetype="text/html"
        )

    rv = tapp.test_client().get("/stream?sep=-")
    assert rv.is_streamed
    assert rv.text == "-1-2-3"


def test_stream_template_string_can_be_returned_from_a_view(tapp: Kettle) -> None:
    seen: list[str] = []

    def items() -> Iterator[int]:
        for i in range(3):
            seen.append(f"produce {i}")
            yield i

    @tapp.route("/s")
    def view() -> Iterator[str]:
        g.prefix = "#"
        return stream_template_string(
            "{% for i in items %}{{ g.prefix }}{{ request.path }}{{ i }}"
            "{{ session.get('k', '') }}{% endfor %}",
            items=items(),
        )

    with tapp.test_client() as client:
        rv = client.get("/s", buffered=False)
        # Werkzeug's client reads the first chunk to get the status; no more.
        assert len(seen) <= 1
        assert rv.get_data(as_text=True) == "#/s0#/s1#/s2"
        rv.close()
    assert seen == ["produce 0", "produce 1", "produce 2"]


def test_stream_template_escapes_like_render(tapp: Kettle) -> None:
    @tapp.route("/esc")
    def esc() -> Iterator[str]:
        return stream_template_string("{{ v }}", v="<x>")

    assert tapp.test_client().get("/esc").text == "&lt;x&gt;"


def test_stream_template_is_lazy_and_yields_chunks(tapp: Kettle) -> None:
    produced: list[str] = []

    def items() -> Iterator[str]:
        for item in ("a", "b"):
            produced.append(item)
            yield item

    with tapp.test_request_context("/?sep=,"):
        chunks = stream_template("stream.html", items=items())
        assert not isinstance(chunks, str)
        assert produced == []
        assert next(chunks) == ","
        assert "".join(chunks) == "a,b"
    assert produced == ["a", "b"]


def test_stream_template_needs_an_active_context(tapp: Kettle) -> None:
    with pytest.raises(RuntimeError):
        stream_template("stream.html", items=[])
    with pytest.raises(RuntimeError):
        stream_template_string("x")


def test_stream_template_signals(
    tapp: Kettle, recorded: list[tuple[str, Template, dict[str, Any]]]
) -> None:
    with tapp.test_request_context():
        chunks = stream_template_string("{{ v }}", v=1)
        assert [e[0] for e in recorded] == ["before"]
        assert "".join(chunks) == "1"
    assert [e[0] for e in recorded] == ["before", "after"]


# -- signals ---------------------------------------------------------------------------


def test_template_rendered_and_before_render_template_signals(
    tapp: Kettle, recorded: list[tuple[str, Template, dict[str, Any]]]
) -> None:
    @tapp.route("/page")
    def page() -> str:
        return render_template("page.txt", value="v")

    assert tapp.test_client().get("/page").text == "text: v"
    assert [e[0] for e in recorded] == ["before", "after"]
    for _, template, context in recorded:
        assert template.name == "page.txt"
        assert context["value"] == "v"
        assert context["request"].path == "/page"


def test_template_signals_sender_is_the_app(tapp: Kettle) -> None:
    senders: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        senders.append(sender)

    template_rendered.connect(receiver, tapp)
    try:
        with tapp.app_context():
            render_template_string("x")
        other = Kettle("other")
        with other.app_context():
            render_template_string("y")
    finally:
        template_rendered.disconnect(receiver, tapp)
    assert senders == [tapp]


def test_before_render_template_can_change_the_context(tapp: Kettle) -> None:
    def change(sender: Kettle, template: Template, context: dict[str, Any]) -> None:
        context["value"] = "changed"
        context["extra"] = "added"

    before_render_template.connect(change, tapp)
    try:
        with tapp.app_context():
            out = render_template_string("{{ value }} {{ extra }}", value="given")
            streamed = "".join(stream_template_string("{{ value }}", value="given"))
    finally:
        before_render_template.disconnect(change, tapp)
    assert out == "changed added"
    assert streamed == "changed"


# -- auto reload -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "debug", "expected"),
    [
        (None, False, False),
        (None, True, True),
        (True, False, True),
        (False, True, False),
    ],
)
def test_templates_auto_reload_config(
    tmp_path: Path, setting: bool | None, debug: bool, expected: bool
) -> None:
    app = Kettle("kettle_test_app", root_path=str(tmp_path))
    app.config["TEMPLATES_AUTO_RELOAD"] = setting
    app.debug = debug
    assert app.jinja_env.auto_reload is expected


def _rewrite(path: Path, text: str) -> None:
    stat = path.stat()
    path.write_text(text)
    os.utime(path, (stat.st_atime + 10, stat.st_mtime + 10))


@pytest.mark.parametrize(("reload", "expected"), [(True, "new"), (False, "old")])
def test_changed_template_is_reloaded_only_with_auto_reload(
    tapp: Kettle, tmp_path: Path, reload: bool, expected: str
) -> None:
    path = tmp_path / "templates" / "changing.txt"
    path.write_text("old")
    tapp.config["TEMPLATES_AUTO_RELOAD"] = reload
    with tapp.app_context():
        assert render_template("changing.txt") == "old"
        _rewrite(path, "new")
        assert render_template("changing.txt") == expected
