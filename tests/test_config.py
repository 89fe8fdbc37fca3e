"""Tests for kettle.config: defaults and the loaders."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import pickle
import sys
import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kettle import Config, Kettle, request
from kettle.config import DEFAULT_CONFIG, ConfigAttribute

# -- defaults --------------------------------------------------------------------------


def test_app_config_starts_with_flask_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETTLE_DEBUG", raising=False)
    app = Kettle("config_defaults", static_folder=None)
    config = app.config
    assert isinstance(config, Config)
    assert config["DEBUG"] is False
    assert config["TESTING"] is False
    assert config["PROPAGATE_EXCEPTIONS"] is None
    assert config["SECRET_KEY"] is None
    assert config["SERVER_NAME"] is None
    assert config["APPLICATION_ROOT"] == "/"
    assert config["PREFERRED_URL_SCHEME"] == "http"
    assert config["MAX_CONTENT_LENGTH"] is None
    assert config["TRUSTED_HOSTS"] is None
    assert config["PERMANENT_SESSION_LIFETIME"] == timedelta(days=31)
    assert config["SESSION_COOKIE_NAME"] == "session"
    assert config["TRAP_HTTP_EXCEPTIONS"] is False
    assert config["TRAP_BAD_REQUEST_ERRORS"] is None
    assert config["MAX_COOKIE_SIZE"] == 4093
    assert config["PROVIDE_AUTOMATIC_OPTIONS"] is True
    assert set(DEFAULT_CONFIG) <= set(config)


def test_default_config_cannot_be_changed_through_an_app() -> None:
    app = Kettle("config_isolated", static_folder=None)
    app.config["SERVER_NAME"] = "changed.test"
    assert DEFAULT_CONFIG["SERVER_NAME"] is None
    assert Kettle("config_other", static_folder=None).config["SERVER_NAME"] is None
    with pytest.raises(TypeError):
        DEFAULT_CONFIG["SERVER_NAME"] = "x"  # type: ignore[index]


def test_debug_default_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETTLE_DEBUG", "1")
    assert Kettle("config_debug", static_folder=None).debug is True
    monkeypatch.setenv("KETTLE_DEBUG", "0")
    assert Kettle("config_nodebug", static_folder=None).debug is False


def test_config_attributes_read_and_write_config() -> None:
    app = Kettle("config_attrs", static_folder=None)
    app.testing = True
    app.secret_key = "s3cret"
    app.debug = True
    assert app.config["TESTING"] is True
    assert app.config["SECRET_KEY"] == "s3cret"
    assert app.config["DEBUG"] is True
    app.config["PERMANENT_SESSION_LIFETIME"] = 60
    assert app.permanent_session_lifetime == timedelta(seconds=60)
    assert isinstance(Kettle.testing, ConfigAttribute)


def test_config_repr_names_the_class() -> None:
    config = Config(".", {"A": 1})
    assert repr(config) == "<Config {'A': 1}>"


# -- from_object / from_mapping --------------------------------------------------------


class BaseSettings:
    DEBUG = True
    SECRET_KEY = "from class"
    lower_case = "ignored"


class Settings(BaseSettings):
    SECRET_KEY = "from subclass"
    EXTRA = (1, 2)


def test_from_object_loads_upper_case_attributes_including_inherited() -> None:
    config = Config(".")
    config.from_object(Settings)
    assert config == {"DEBUG": True, "SECRET_KEY": "from subclass", "EXTRA": (1, 2)}


def test_from_object_accepts_an_instance_and_a_module() -> None:
    config = Config(".")
    config.from_object(Settings())
    assert config["SECRET_KEY"] == "from subclass"
    module = types.ModuleType("settings_module")
    module.VALUE = 3  # type: ignore[attr-defined]
    module.hidden = 4  # type: ignore[attr-defined]
    config.from_object(module)
    assert config["VALUE"] == 3
    assert "hidden" not in config


def test_from_object_accepts_an_import_path(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("kettle_test_settings")
    module.IMPORTED = "yes"  # type: ignore[attr-defined]
    module.Prod = type("Prod", (), {"LEVEL": "prod"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kettle_test_settings", module)
    config = Config(".")
    config.from_object("kettle_test_settings")
    config.from_object("kettle_test_settings.Prod")
    assert config == {"IMPORTED": "yes", "LEVEL": "prod"}


def test_from_mapping_loads_upper_case_keys_and_kwargs() -> None:
    config = Config(".")
    assert config.from_mapping({"A": 1, "b": 2}, C=3, d=4) is True
    assert config == {"A": 1, "C": 3}


def test_from_mapping_kwargs_override_mapping() -> None:
    config = Config(".")
    config.from_mapping({"A": 1}, A=2)
    assert config["A"] == 2
    config.from_mapping()
    assert config == {"A": 2}


# -- from_pyfile / from_envvar / from_file ---------------------------------------------


@pytest.fixture
def pyfile(tmp_path: Path) -> Path:
    path = tmp_path / "settings.py"
    path.write_text(
        "import os\n"
        "SECRET_KEY = 'from pyfile'\n"
        "PORT = 40 + 2\n"
        "helper = 'not loaded'\n"
        "FILE_SEEN = __file__\n"
    )
    return path


def test_from_pyfile_runs_the_file_and_loads_upper_case(pyfile: Path) -> None:
    config = Config(pyfile.parent)
    assert config.from_pyfile("settings.py") is True
    assert config["SECRET_KEY"] == "from pyfile"
    assert config["PORT"] == 42
    assert config["FILE_SEEN"] == str(pyfile)
    assert "helper" not in config
    assert "os" not in config


def test_from_pyfile_absolute_path_ignores_root(pyfile: Path) -> None:
    config = Config("/nonexistent-root")
    config.from_pyfile(str(pyfile))
    assert config["PORT"] == 42


def test_from_pyfile_missing_file(tmp_path: Path) -> None:
    config = Config(tmp_path)
    with pytest.raises(OSError, match="Unable to load configuration file"):
        config.from_pyfile("missing.py")
    assert config.from_pyfile("missing.py", silent=True) is False


def test_from_pyfile_is_relative_to_instance_path_when_asked(tmp_path: Path) -> None:
    (tmp_path / "instance.py").write_text("WHERE = 'instance'\n")
    app = Kettle(
        "config_instance",
        static_folder=None,
        instance_path=str(tmp_path),
        instance_relative_config=True,
    )
    app.config.from_pyfile("instance.py")
    assert app.config["WHERE"] == "instance"


def test_from_envvar_loads_the_named_file(
    pyfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETTLE_TEST_SETTINGS", str(pyfile))
    config = Config(".")
    assert config.from_envvar("KETTLE_TEST_SETTINGS") is True
    assert config["SECRET_KEY"] == "from pyfile"


def test_from_envvar_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETTLE_TEST_SETTINGS", raising=False)
    config = Config(".")
    with pytest.raises(RuntimeError, match="'KETTLE_TEST_SETTINGS' is not set"):
        config.from_envvar("KETTLE_TEST_SETTINGS")
    assert config.from_envvar("KETTLE_TEST_SETTINGS", silent=True) is False


def test_from_envvar_pointing_at_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KETTLE_TEST_SETTINGS", str(tmp_path / "nope.py"))
    config = Config(".")
    with pytest.raises(OSError):
        config.from_envvar("KETTLE_TEST_SETTINGS")
    assert config.from_envvar("KETTLE_TEST_SETTINGS", silent=True) is False


def test_from_file_with_json_load(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"SECRET_KEY": "json key", "ITEMS": [1, 2], "lower": 1})
    )
    config = Config(tmp_path)
    assert config.from_file("config.json", load=json.load) is True
    assert config == {"SECRET_KEY": "json key", "ITEMS": [1, 2]}


def test_from_file_in_binary_mode(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_bytes(b'{"BINARY": true}')
    config = Config(tmp_path)
    seen: list[type] = []

    def load(f: object) -> dict[str, object]:
        data = f.read()  # type: ignore[attr-defined]
        seen.append(type(data))
        return json.loads(data)  # type: ignore[no-any-return]

    config.from_file("config.json", load=load, text=False)
    assert config["BINARY"] is True
    assert seen == [bytes]


def test_from_file_missing(tmp_path: Path) -> None:
    config = Config(tmp_path)
    with pytest.raises(OSError, match="Unable to load configuration file"):
        config.from_file("missing.json", load=json.load)
    assert config.from_file("missing.json", load=json.load, silent=True) is False


# -- from_prefixed_env -----------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in list(os.environ):
        if key.startswith(("KETTLE_", "MYAPP_")):
            monkeypatch.delenv(key)
    return monkeypatch


def test_from_prefixed_env_decodes_json_values(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KETTLE_STRING", "plain text")
    clean_env.setenv("KETTLE_INT", "3")
    clean_env.setenv("KETTLE_FLOAT", "2.5")
    clean_env.setenv("KETTLE_BOOL", "true")
    clean_env.setenv("KETTLE_NULL", "null")
    clean_env.setenv("KETTLE_LIST", "[1, 2]")
    clean_env.setenv("KETTLE_OBJECT", '{"a": {"b": 1}}')
    clean_env.setenv("KETTLE_QUOTED", '"quoted"')
    clean_env.setenv("OTHER_THING", "1")
    config = Config(".")
    assert config.from_prefixed_env() is True
    assert config == {
        "STRING": "plain text",
        "INT": 3,
        "FLOAT": 2.5,
        "BOOL": True,
        "NULL": None,
        "LIST": [1, 2],
        "OBJECT": {"a": {"b": 1}},
        "QUOTED": "quoted",
    }


def test_from_prefixed_env_nested_keys(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("KETTLE_DB__HOST", "db.local")
    clean_env.setenv("KETTLE_DB__PORT", "5432")
    clean_env.setenv("KETTLE_DB__OPTIONS__SSL", "true")
    config = Config(".")
    config["DB"] = {"NAME": "kept"}
    config.from_prefixed_env()
    assert config["DB"] == {
        "NAME": "kept",
        "HOST": "db.local",
        "PORT": 5432,
        "OPTIONS": {"SSL": True},
    }


def test_from_prefixed_env_custom_prefix_and_loads(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("MYAPP_NAME", "value")
    clean_env.setenv("KETTLE_NAME", "ignored")
    config = Config(".")
    config.from_prefixed_env("MYAPP", loads=str.upper)
    assert config == {"NAME": "VALUE"}


def test_from_prefixed_env_overrides_existing_values(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("KETTLE_SECRET_KEY", "env secret")
    app = Kettle("config_env", static_folder=None)
    app.config.from_prefixed_env()
    assert app.config["SECRET_KEY"] == "env secret"


# -- get_namespace ---------------------------------------------------------------------


@pytest.fixture
def namespaced() -> Config:
    config = Config(".")
    config.from_mapping(
        IMAGE_STORE_TYPE="fs",
        IMAGE_STORE_PATH="/var/app/images",
        IMAGE_STORE_BASE_URL="http://img.example.com",
        OTHER_SETTING=1,
    )
    return config


def test_get_namespace_trims_and_lowercases(namespaced: Config) -> None:
    assert namespaced.get_namespace("IMAGE_STORE_") == {
        "type": "fs",
        "path": "/var/app/images",
        "base_url": "http://img.example.com",
    }


def test_get_namespace_keeps_case(namespaced: Config) -> None:
    assert namespaced.get_namespace("IMAGE_STORE_", lowercase=False) == {
        "TYPE": "fs",
        "PATH": "/var/app/images",
        "BASE_URL": "http://img.example.com",
    }


def test_get_namespace_keeps_namespace(namespaced: Config) -> None:
    assert namespaced.get_namespace("IMAGE_STORE_", trim_namespace=False) == {
        "image_store_type": "fs",
        "image_store_path": "/var/app/images",
        "image_store_base_url": "http://img.example.com",
    }


def test_get_namespace_without_matches_is_empty(namespaced: Config) -> None:
    assert namespaced.get_namespace("NOPE_") == {}


# -- settings read on every request, kept by the app as attributes ---------------------
# The app copies DEBUG/TESTING, TRUSTED_HOSTS and MAX_CONTENT_LENGTH when the config
# changes; every way of changing it must reach the requests that follow.

_SET_TESTING: list[Callable[[Kettle], None]] = [
    lambda app: app.config.__setitem__("TESTING", True),
    lambda app: app.config.update(TESTING=True),
    lambda app: app.config.update({"TESTING": True}),
    lambda app: app.config.__ior__({"TESTING": True}),
    lambda app: app.config.from_mapping(TESTING=True),
    lambda app: app.config.from_object(types.SimpleNamespace(TESTING=True)),
    lambda app: setattr(app, "testing", True),
    lambda app: setattr(app, "debug", True),
    lambda app: (app.config.pop("TESTING"), app.config.setdefault("TESTING", True)),
]


@pytest.mark.parametrize("change", _SET_TESTING)
def test_context_push_sites_follow_later_config_changes(
    change: Callable[[Kettle], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KETTLE_DEBUG", raising=False)
    app = Kettle("hot_config", static_folder=None)
    with app.app_context() as before:
        assert before.pushed_at_text == ""
    change(app)
    with app.app_context() as after:
        assert "pushed at" in after.pushed_at_text
    app.config["TESTING"] = app.config["DEBUG"] = False
    with app.app_context() as again:
        assert again.pushed_at_text == ""


def test_config_deleting_or_clearing_the_keys_turns_push_sites_off() -> None:
    app = Kettle("hot_config", static_folder=None)
    app.config.update(TESTING=True, DEBUG=False)
    del app.config["TESTING"]
    with app.app_context() as ctx:
        assert ctx.pushed_at_text == ""
    app.config["TESTING"] = True
    app.config.clear()
    with app.app_context() as ctx:
        assert ctx.pushed_at_text == ""
    app.config["DEBUG"] = True
    app.config.popitem()
    with app.app_context() as ctx:
        assert ctx.pushed_at_text == ""


def _hosts_app() -> Kettle:
    app = Kettle("hot_config", static_folder=None)
    app.add_url_rule("/", "index", lambda: "ok")
    app.add_url_rule(
        "/upload", "upload", lambda: str(len(request.get_data())), methods=["POST"]
    )
    return app


def _asgi_status(app: Kettle, method: str, url: str, **kwargs: Any) -> int:
    async def main() -> int:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport) as client:
            return (await client.request(method, url, **kwargs)).status_code

    return asyncio.run(main())


def test_trusted_hosts_set_after_requests_apply_to_the_next_ones() -> None:
    app = _hosts_app()
    client = app.test_client()
    assert client.get("/", base_url="http://evil.example").status_code == 200
    assert _asgi_status(app, "GET", "http://evil.example/") == 200
    app.config["TRUSTED_HOSTS"] = ["good.example"]
    assert client.get("/", base_url="http://evil.example").status_code == 400
    assert client.get("/", base_url="http://good.example").status_code == 200
    assert _asgi_status(app, "GET", "http://evil.example/") == 400
    assert _asgi_status(app, "GET", "http://good.example/") == 200


def test_max_content_length_set_after_requests_applies_to_the_next_ones() -> None:
    app = _hosts_app()
    client = app.test_client()
    body = b"x" * 100
    assert client.post("/upload", data=body).get_data() == b"100"
    assert _asgi_status(app, "POST", "http://t/upload", content=body) == 200
    app.config.update(MAX_CONTENT_LENGTH=10)
    assert client.post("/upload", data=body).status_code == 413
    assert _asgi_status(app, "POST", "http://t/upload", content=body) == 413
    assert _asgi_status(app, "POST", "http://t/upload", content=b"small") == 200


def test_a_replaced_config_is_followed_and_the_old_one_let_go() -> None:
    app = _hosts_app()
    old = app.config
    app.config = Config(app.root_path, {**old, "TRUSTED_HOSTS": ["good.example"]})
    client = app.test_client()
    assert client.get("/", base_url="http://evil.example").status_code == 400
    old["TRUSTED_HOSTS"] = None  # no longer the app's: changes nothing
    assert client.get("/", base_url="http://evil.example").status_code == 400
    app.config["TRUSTED_HOSTS"] = None
    assert client.get("/", base_url="http://evil.example").status_code == 200


def test_app_config_must_stay_a_config() -> None:
    app = _hosts_app()
    with pytest.raises(TypeError, match=r"app\.config must be a kettle\.Config"):
        app.config = {"TRUSTED_HOSTS": ["good.example"]}  # type: ignore[assignment]
    assert isinstance(app.config, Config)


def test_config_copies_and_pickles_leave_the_app_behind() -> None:
    app = _hosts_app()
    for copied in (
        copy.copy(app.config),
        copy.deepcopy(app.config),
        pickle.loads(pickle.dumps(app.config)),
    ):
        assert dict(copied) == dict(app.config)
        assert copied.root_path == app.config.root_path
        copied["TRUSTED_HOSTS"] = ["good.example"]  # not the app's config
        assert app.config["TRUSTED_HOSTS"] is None
    client = app.test_client()
    assert client.get("/", base_url="http://evil.example").status_code == 200
