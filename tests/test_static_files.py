"""Static files and file responses: the static route, send_file, caching, resources."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.exceptions import NotFound

from kettle import Kettle, send_file, send_from_directory, url_for

CSS = b"body { color: teal; }\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "style.css").write_bytes(CSS)
    (tmp_path / "static" / "sub").mkdir()
    (tmp_path / "static" / "sub" / "app.js").write_text("let x = 1;")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "report.txt").write_text("quarterly report\n")
    (tmp_path / "files" / "data.bin").write_bytes(bytes(range(256)))
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "schema.sql").write_text("CREATE TABLE été (x);\n")
    return tmp_path


@pytest.fixture
def sapp(root: Path) -> Kettle:
    app = Kettle("kettle_test_app", root_path=str(root))
    app.config.update(TESTING=True, SECRET_KEY="test key")
    return app


# -- the static route ------------------------------------------------------------------


def test_static_route_serves_files_from_the_static_folder(sapp: Kettle) -> None:
    client = sapp.test_client()
    rv = client.get("/static/style.css")
    assert rv.status_code == 200
    assert rv.data == CSS
    assert rv.mimetype == "text/css"
    assert rv.headers["Content-Length"] == str(len(CSS))
    rv.close()
    rv = client.get("/static/sub/app.js")
    assert rv.data == b"let x = 1;"
    assert "javascript" in rv.mimetype
    rv.close()


def test_static_route_answers_404_for_missing_files_and_traversal(
    sapp: Kettle,
) -> None:
    client = sapp.test_client()
    assert client.get("/static/missing.css").status_code == 404
    assert client.get("/static/../secret.txt").status_code == 404
    assert client.get("/static/%2e%2e/secret.txt").status_code == 404
    assert client.get("/static/sub").status_code == 404


def test_static_route_answers_head_without_a_body(sapp: Kettle) -> None:
    rv = sapp.test_client().head("/static/style.css")
    assert rv.status_code == 200
    assert rv.data == b""
    assert rv.headers["Content-Length"] == str(len(CSS))
    rv.close()


def test_url_for_static(sapp: Kettle) -> None:
    with sapp.test_request_context():
        assert url_for("static", filename="style.css") == "/static/style.css"
        assert url_for("static", filename="sub/app.js") == "/static/sub/app.js"
        assert (
            url_for("static", filename="style.css", _external=True)
            == "http://localhost/static/style.css"
        )


def test_static_folder_and_static_url_path_options(root: Path) -> None:
    (root / "public").mkdir()
    (root / "public" / "robots.txt").write_text("User-agent: *")
    app = Kettle(
        "kettle_test_app",
        root_path=str(root),
        static_folder="public",
        static_url_path="/assets",
    )
    assert app.static_folder == str(root / "public")
    assert app.static_url_path == "/assets"
    client = app.test_client()
    rv = client.get("/assets/robots.txt")
    assert rv.text == "User-agent: *"
    rv.close()
    assert client.get("/static/robots.txt").status_code == 404
    with app.test_request_context():
        assert url_for("static", filename="robots.txt") == "/assets/robots.txt"


def test_static_url_path_defaults_to_the_folder_name(root: Path) -> None:
    (root / "public").mkdir()
    (root / "public" / "a.txt").write_text("a")
    app = Kettle("kettle_test_app", root_path=str(root), static_folder="public/")
    assert app.static_url_path == "/public"
    rv = app.test_client().get("/public/a.txt")
    assert rv.text == "a"
    rv.close()


def test_empty_static_url_path_serves_files_at_the_root(root: Path) -> None:
    app = Kettle("kettle_test_app", root_path=str(root), static_url_path="")

    @app.route("/")
    def index() -> str:
        return "index"

    client = app.test_client()
    rv = client.get("/style.css")
    assert rv.data == CSS
    rv.close()
    assert client.get("/").text == "index"
    with app.test_request_context():
        assert url_for("static", filename="style.css") == "/style.css"


def test_no_static_folder_means_no_static_route(root: Path) -> None:
    app = Kettle("kettle_test_app", root_path=str(root), static_folder=None)
    assert not app.has_static_folder
    assert app.static_folder is None
    assert app.static_url_path is None
    assert "static" not in app.view_functions
    assert app.test_client().get("/static/style.css").status_code == 404
    with app.test_request_context():
        with pytest.raises(RuntimeError, match="static folder"):
            app.send_static_file("style.css")


def test_static_host_with_host_matching(root: Path) -> None:
    app = Kettle(
        "kettle_test_app",
        root_path=str(root),
        host_matching=True,
        static_host="cdn.example.test",
    )
    app.config["TESTING"] = True

    @app.route("/", host="www.example.test")
    def index() -> str:
        return url_for("static", filename="style.css")

    client = app.test_client()
    rv = client.get("/static/style.css", base_url="http://cdn.example.test")
    assert rv.data == CSS
    rv.close()
    assert (
        client.get("/static/style.css", base_url="http://www.example.test").status_code
        == 404
    )
    assert (
        client.get("/", base_url="http://www.example.test").text
        == "http://cdn.example.test/static/style.css"
    )


def test_static_host_requires_host_matching(root: Path) -> None:
    with pytest.raises(ValueError, match="static_host"):
        Kettle("kettle_test_app", root_path=str(root), static_host="cdn.test")
    with pytest.raises(ValueError, match="host_matching"):
        Kettle("kettle_test_app", root_path=str(root), host_matching=True)
    # Without a static folder, host matching needs no static host.
    app = Kettle(
        "kettle_test_app", root_path=str(root), host_matching=True, static_folder=None
    )
    assert app.url_map.host_matching


# -- caching --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3600, timedelta(hours=1)], ids=["int", "timedelta"])
def test_send_file_max_age_default_sets_cache_control_for_static_files(
    sapp: Kettle, value: int | timedelta
) -> None:
    sapp.config["SEND_FILE_MAX_AGE_DEFAULT"] = value
    rv = sapp.test_client().get("/static/style.css")
    assert rv.cache_control.max_age == 3600
    assert rv.cache_control.public
    rv.close()


@pytest.mark.parametrize("value", [60, timedelta(minutes=1)], ids=["int", "timedelta"])
def test_send_file_max_age_default_applies_to_send_file(
    sapp: Kettle, value: int | timedelta
) -> None:
    sapp.config["SEND_FILE_MAX_AGE_DEFAULT"] = value

    @sapp.route("/report")
    def report() -> object:
        return send_file("files/report.txt")

    rv = sapp.test_client().get("/report")
    assert rv.cache_control.max_age == 60
    rv.close()


def test_no_max_age_by_default_means_revalidation(sapp: Kettle) -> None:
    assert sapp.config["SEND_FILE_MAX_AGE_DEFAULT"] is None
    rv = sapp.test_client().get("/static/style.css")
    assert rv.cache_control.max_age is None
    assert rv.cache_control.no_cache
    rv.close()


def test_get_send_file_max_age_override_for_static_files(root: Path) -> None:
    class PerTypeCaching(Kettle):
        def get_send_file_max_age(self, filename: str | None) -> int | None:
            if filename is not None and filename.endswith(".css"):
                return 86400
            return 10

    app = PerTypeCaching("kettle_test_app", root_path=str(root))
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 5
    client = app.test_client()
    rv = client.get("/static/style.css")
    assert rv.cache_control.max_age == 86400
    rv.close()
    rv = client.get("/static/sub/app.js")
    assert rv.cache_control.max_age == 10
    rv.close()


def test_get_send_file_max_age_reads_the_config(sapp: Kettle) -> None:
    with sapp.app_context():
        assert sapp.get_send_file_max_age("x") is None
        sapp.config["SEND_FILE_MAX_AGE_DEFAULT"] = timedelta(minutes=2)
        assert sapp.get_send_file_max_age("x") == 120
        sapp.config["SEND_FILE_MAX_AGE_DEFAULT"] = 7
        assert sapp.get_send_file_max_age("x") == 7


def test_get_send_file_max_age_override_applies_to_send_file(root: Path) -> None:
    class LongCaching(Kettle):
        def get_send_file_max_age(self, filename: str | None) -> int | None:
            return 999

    app = LongCaching("kettle_test_app", root_path=str(root))

    @app.route("/report")
    def report() -> object:
        return send_file("files/report.txt")

    rv = app.test_client().get("/report")
    assert rv.cache_control.max_age == 999
    rv.close()


# -- conditional requests --------------------------------------------------------------


def test_if_none_match_with_the_etag_answers_304(sapp: Kettle) -> None:
    client = sapp.test_client()
    rv = client.get("/static/style.css")
    etag = rv.headers["ETag"]
    assert rv.headers["Last-Modified"]
    rv.close()
    rv = client.get("/static/style.css", headers={"If-None-Match": etag})
    assert rv.status_code == 304
    assert rv.data == b""
    rv.close()
    rv = client.get("/static/style.css", headers={"If-None-Match": '"other"'})
    assert rv.status_code == 200
    rv.close()


def test_if_modified_since_answers_304(sapp: Kettle) -> None:
    client = sapp.test_client()
    rv = client.get("/static/style.css")
    last_modified = rv.headers["Last-Modified"]
    rv.close()
    rv = client.get("/static/style.css", headers={"If-Modified-Since": last_modified})
    assert rv.status_code == 304
    rv.close()


def test_range_request_answers_206(sapp: Kettle) -> None:
    rv = sapp.test_client().get("/static/style.css", headers={"Range": "bytes=0-3"})
    assert rv.status_code == 206
    assert rv.data == CSS[:4]
    assert rv.headers["Content-Range"] == f"bytes 0-3/{len(CSS)}"
    rv.close()


def test_send_file_with_conditional_false_ignores_etags(sapp: Kettle) -> None:
    @sapp.route("/plain")
    def plain() -> object:
        return send_file("files/report.txt", conditional=False, etag=False)

    rv = sapp.test_client().get("/plain", headers={"If-None-Match": "*"})
    assert rv.status_code == 200
    assert "ETag" not in rv.headers
    rv.close()


# -- send_file -------------------------------------------------------------------------


def test_send_file_with_a_path_relative_to_the_root_path(sapp: Kettle) -> None:
    @sapp.route("/report")
    def report() -> object:
        return send_file("files/report.txt")

    rv = sapp.test_client().get("/report")
    assert rv.status_code == 200
    assert rv.text == "quarterly report\n"
    assert rv.mimetype == "text/plain"
    assert rv.headers["Content-Disposition"] == "inline; filename=report.txt"
    rv.close()


def test_send_file_with_an_absolute_path_object(sapp: Kettle, root: Path) -> None:
    @sapp.route("/bin")
    def binary() -> object:
        return send_file(root / "files" / "data.bin")

    rv = sapp.test_client().get("/bin")
    assert rv.data == bytes(range(256))
    assert rv.mimetype == "application/octet-stream"
    rv.close()


def test_send_file_with_a_file_object_and_download_name(sapp: Kettle) -> None:
    @sapp.route("/export")
    def export() -> object:
        return send_file(io.BytesIO(b"a,b\n1,2\n"), download_name="export.csv")

    rv = sapp.test_client().get("/export")
    assert rv.data == b"a,b\n1,2\n"
    assert rv.mimetype == "text/csv"
    assert rv.headers["Content-Disposition"] == "inline; filename=export.csv"
    rv.close()


def test_send_file_as_attachment(sapp: Kettle) -> None:
    @sapp.route("/download")
    def download() -> object:
        return send_file(
            io.BytesIO(b"%PDF-"), download_name="Résumé 2024.pdf", as_attachment=True
        )

    rv = sapp.test_client().get("/download")
    disposition = rv.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%202024.pdf" in disposition
    assert rv.mimetype == "application/pdf"
    rv.close()


def test_send_file_as_attachment_defaults_to_the_file_name(sapp: Kettle) -> None:
    @sapp.route("/download")
    def download() -> object:
        return send_file("files/report.txt", as_attachment=True)

    rv = sapp.test_client().get("/download")
    assert rv.headers["Content-Disposition"] == "attachment; filename=report.txt"
    rv.close()


def test_send_file_with_explicit_mimetype(sapp: Kettle) -> None:
    @sapp.route("/data")
    def data() -> object:
        return send_file(io.BytesIO(b"{}"), mimetype="application/json")

    @sapp.route("/override")
    def override() -> object:
        return send_file("files/report.txt", mimetype="text/markdown")

    client = sapp.test_client()
    rv = client.get("/data")
    assert rv.mimetype == "application/json"
    assert rv.data == b"{}"
    rv.close()
    rv = client.get("/override")
    assert rv.mimetype == "text/markdown"
    rv.close()


def test_send_file_object_without_name_or_mimetype_is_an_error(sapp: Kettle) -> None:
    with sapp.test_request_context():
        with pytest.raises(TypeError, match=r"(?i)mime"):
            send_file(io.BytesIO(b"x"))


def test_send_file_with_text_file_object_is_an_error(sapp: Kettle) -> None:
    with sapp.test_request_context():
        with pytest.raises(ValueError, match="binary"):
            send_file(io.StringIO("x"), mimetype="text/plain")


def test_send_file_needs_a_request(sapp: Kettle) -> None:
    with sapp.app_context():
        with pytest.raises(RuntimeError):
            send_file("files/report.txt")


def test_send_file_with_use_x_sendfile(sapp: Kettle, root: Path) -> None:
    sapp.config["USE_X_SENDFILE"] = True

    @sapp.route("/x")
    def x() -> object:
        return send_file("files/report.txt")

    rv = sapp.test_client().get("/x")
    assert rv.headers["X-Sendfile"] == str(root / "files" / "report.txt")
    assert rv.data == b""
    rv.close()


# -- send_from_directory ---------------------------------------------------------------


def test_send_from_directory_serves_files_in_the_directory(sapp: Kettle) -> None:
    @sapp.route("/files/<path:name>")
    def files(name: str) -> object:
        return send_from_directory("files", name)

    client = sapp.test_client()
    rv = client.get("/files/report.txt")
    assert rv.text == "quarterly report\n"
    rv.close()
    assert client.get("/files/nothing.txt").status_code == 404


@pytest.mark.parametrize(
    "name", ["../secret.txt", "..%2fsecret.txt", "sub/../../secret.txt"]
)
def test_send_from_directory_path_traversal_is_a_404(sapp: Kettle, name: str) -> None:
    @sapp.route("/files/<path:name>")
    def files(name: str) -> object:
        return send_from_directory("files", name)

    rv = sapp.test_client().get(f"/files/{name}")
    assert rv.status_code == 404
    assert b"top secret" not in rv.data


def test_send_from_directory_raises_not_found_for_unsafe_paths(
    sapp: Kettle, root: Path
) -> None:
    with sapp.test_request_context():
        for unsafe in ("../secret.txt", str(root / "secret.txt"), "/etc/passwd"):
            with pytest.raises(NotFound):
                send_from_directory(root / "files", unsafe)
        rv = send_from_directory(root / "files", "report.txt", as_attachment=True)
        assert rv.headers["Content-Disposition"] == "attachment; filename=report.txt"
        rv.close()


# -- open_resource ---------------------------------------------------------------------


def test_open_resource_reads_binary_by_default(sapp: Kettle) -> None:
    with sapp.open_resource("resources/schema.sql") as f:
        assert f.read() == "CREATE TABLE été (x);\n".encode()


def test_open_resource_reads_text_as_utf8(sapp: Kettle) -> None:
    with sapp.open_resource("resources/schema.sql", "r") as f:
        assert f.read() == "CREATE TABLE été (x);\n"
    with sapp.open_resource("resources/schema.sql", "rt", encoding="latin-1") as f:
        assert f.read() == "CREATE TABLE Ã©tÃ© (x);\n"


@pytest.mark.parametrize("mode", ["w", "wb", "a", "r+", "x"])
def test_open_resource_rejects_write_modes(sapp: Kettle, mode: str) -> None:
    with pytest.raises(ValueError, match="reading"):
        sapp.open_resource("resources/schema.sql", mode)


def test_open_resource_missing_file(sapp: Kettle) -> None:
    with pytest.raises(FileNotFoundError):
        sapp.open_resource("resources/none.sql")


def test_blueprint_open_resource_is_relative_to_its_root(root: Path) -> None:
    from kettle import Blueprint

    bp = Blueprint("bp", __name__, root_path=str(root / "resources"))
    with bp.open_resource("schema.sql", "r") as f:
        assert f.read().startswith("CREATE TABLE")
