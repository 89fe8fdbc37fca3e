"""Bad input gets the right 4xx, a short body and no traceback, through the WSGI
test client and the ASGI interface (httpx ``ASGITransport``); the next request is
served normally. Plus a property-based test (hypothesis) of generated WSGI environs
and ASGI scopes. TESTING, DEBUG and PROPAGATE_EXCEPTIONS are off.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote_to_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_support import report

from kettle import Kettle, appcontext_popped, appcontext_pushed, request, session
from kettle.globals import _cv_app

STATIC = Path(__file__).parent / "apps" / "static"


def make_app() -> tuple[Kettle, dict[str, int]]:
    app = Kettle("kettle_reliability_bad_input", static_folder=str(STATIC))
    app.config.update(
        SECRET_KEY="bad input key",
        TESTING=False,
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=1024,
        MAX_FORM_PARTS=5,
        TRUSTED_HOSTS=["localhost", "testserver"],
    )
    counts = {"pushed": 0, "popped": 0}

    @appcontext_pushed.connect_via(app, weak=False)
    def pushed(sender: Any, **extra: Any) -> None:
        counts["pushed"] += 1

    @appcontext_popped.connect_via(app, weak=False)
    def popped(sender: Any, **extra: Any) -> None:
        counts["popped"] += 1

    @app.route("/json", methods=["POST"])
    def json_view() -> Any:
        data = request.get_json()
        if not isinstance(data, dict):
            return {"error": "expected an object"}, 400
        return {"keys": sorted(data)}

    @app.route("/form", methods=["POST"])
    def form_view() -> Any:
        return {"fields": len(request.form), "files": len(request.files)}

    @app.get("/session")
    def session_view() -> Any:
        return {"session": dict(session)}

    @app.get("/items/<name>")
    def item(name: str) -> Any:
        return {"name": name, "q": request.args.get("q")}

    @app.get("/ok")
    def ok() -> str:
        return "ok"

    return app, counts


def expired_cookie(app: Kettle) -> str:
    """A validly signed session cookie, signed long before its lifetime."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    with mock.patch("time.time", return_value=1_000_000_000.0):  # in 2001
        cookie: str = serializer.dumps({"user": "admin"})
    return cookie


def valid_cookie(app: Kettle) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie: str = serializer.dumps({"user": "alice"})
    return cookie


def tampered_cookie(app: Kettle) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    good: str = serializer.dumps({"user": "alice"})
    return good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")


#: (name, method, url, kwargs, expected status)
def cases(app: Kettle) -> list[tuple[str, str, str, dict[str, Any], int]]:
    json_headers = {"Content-Type": "application/json"}
    multipart = "".join(
        f'--b\r\nContent-Disposition: form-data; name="f{i}"\r\n\r\nv\r\n'
        for i in range(20)
    )
    return [
        (
            "malformed JSON",
            "POST",
            "/json",
            {"content": b"{", "headers": json_headers},
            400,
        ),
        (
            "JSON not an object",
            "POST",
            "/json",
            {"content": b"[1, 2]", "headers": json_headers},
            400,
        ),
        (
            "JSON invalid UTF-8",
            "POST",
            "/json",
            {"content": b'{"a": "\xff"}', "headers": json_headers},
            400,
        ),
        (
            "JSON wrong content type",
            "POST",
            "/json",
            {"content": b"{}", "headers": {"Content-Type": "text/plain"}},
            415,
        ),
        (
            "body over MAX_CONTENT_LENGTH",
            "POST",
            "/form",
            {
                "content": b"a=" + b"x" * 4096,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            413,
        ),
        (
            "too many form parts",
            "POST",
            "/form",
            {
                "content": (multipart + "--b--\r\n").encode(),
                "headers": {"Content-Type": "multipart/form-data; boundary=b"},
            },
            413,
        ),
        (
            "valid session cookie (the control)",
            "GET",
            "/session",
            {"headers": {"Cookie": f"session={valid_cookie(app)}"}},
            200,
        ),
        (
            "tampered session cookie",
            "GET",
            "/session",
            {"headers": {"Cookie": f"session={tampered_cookie(app)}"}},
            200,
        ),
        (
            "expired session cookie",
            "GET",
            "/session",
            {"headers": {"Cookie": f"session={expired_cookie(app)}"}},
            200,
        ),
        (
            "garbage session cookie",
            "GET",
            "/session",
            {"headers": {"Cookie": "session=%ff%fe...."}},
            200,
        ),
        ("invalid percent-encoding in path", "GET", "/items/%zz%", {}, 200),
        ("invalid UTF-8 in path", "GET", "/items/%ff%fe", {}, 200),
        ("invalid percent-encoding in query", "GET", "/items/x?q=%zz", {}, 200),
        ("invalid UTF-8 in query", "GET", "/items/x?q=%ff", {}, 200),
        (
            "invalid UTF-8 in a header",
            "GET",
            "/ok",
            {"headers": {"X-Name": b"\xff\xfe"}},
            200,
        ),
        (
            "path traversal on static",
            "GET",
            "/static/../test_rel_bad_input.py",
            {},
            404,
        ),
        (
            "encoded path traversal on static",
            "GET",
            "/static/%2e%2e/%2e%2e/conftest.py",
            {},
            404,
        ),
        (
            "encoded slash traversal on static",
            "GET",
            "/static/..%2f..%2fconftest.py",
            {},
            404,
        ),
        ("Host not trusted", "GET", "/ok", {"headers": {"Host": "evil.example"}}, 400),
    ]


def check_body(name: str, status: int, body: bytes) -> None:
    assert b"Traceback" not in body, (name, body)
    assert b'File "' not in body, (name, body)
    if status >= 400:
        assert len(body) < 1000, (name, body)


def session_for(case: str) -> dict[str, Any]:
    """What /session answers: the cookie's data only if it was valid."""
    return {"session": {"user": "alice"} if case.startswith("valid") else {}}


def test_bad_input_wsgi_and_asgi(request: pytest.FixtureRequest) -> None:
    app, counts = make_app()
    tried = cases(app)
    # The WSGI test client (it takes str headers: bytes go as latin-1).
    client = app.test_client()
    for name, method, url, kwargs, expected in tried:
        headers = {
            k: v.decode("latin-1") if isinstance(v, bytes) else v
            for k, v in kwargs.get("headers", {}).items()
        }
        path, _, query = url.partition("?")
        client = app.test_client()
        environ: dict[str, Any] = {}
        if "Cookie" in headers:
            name_, _, value = headers.pop("Cookie").partition("=")
            client.set_cookie(name_, value)
        if "Host" in headers:
            environ["HTTP_HOST"] = headers.pop("Host")
        # As a server presents them: the path percent-decoded, as latin-1.
        environ["PATH_INFO"] = unquote_to_bytes(path).decode("latin-1")
        environ["QUERY_STRING"] = query
        response = client.open(
            path,
            method=method,
            data=kwargs.get("content"),
            headers=headers,
            environ_overrides=environ,
        )
        assert response.status_code == expected, (
            name,
            response.status_code,
            response.data,
        )
        check_body(name, response.status_code, response.data)
        if url == "/session":
            assert response.get_json() == session_for(name), name
        assert client.get("/ok").data == b"ok", name
    # The ASGI interface.

    async def through_asgi() -> None:
        transport = httpx.ASGITransport(app=app.asgi)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as http:
            for name, method, url, kwargs, expected in tried:
                response = await http.request(method, url, **kwargs)
                assert response.status_code == expected, (
                    name,
                    response.status_code,
                    response.content,
                )
                check_body(name, response.status_code, response.content)
                if url == "/session":
                    assert response.json() == session_for(name), name
                assert (await http.get("/ok")).text == "ok", name
                http.cookies.clear()

    asyncio.run(through_asgi())
    assert counts["pushed"] == counts["popped"] == 4 * len(tried)
    report(
        request,
        "bad_inputs",
        len(tried),
        f"bad input: {len(tried)} kinds, each through the WSGI test client and ASGI"
        " (httpx ASGITransport), each answered as expected with a short body and no"
        " traceback, and followed by a normal request: "
        + ", ".join(f"{name} ({status})" for name, _, _, _, status in tried),
    )


# -- generated input ------------------------------------------------------------------

METHODS = st.sampled_from(
    ["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE"]
) | st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8
)
RAW = st.binary(max_size=40)
PATHS = st.one_of(
    st.sampled_from(
        [
            "/json",
            "/form",
            "/session",
            "/items/x",
            "/ok",
            "/static/hello.txt",
            "/static/../x",
        ]
    ),
    RAW.map(lambda b: "/" + b.decode("latin-1")),
    st.tuples(st.sampled_from(["/items/", "/static/"]), RAW).map(
        lambda t: t[0] + t[1].decode("latin-1")
    ),
)
HEADER_NAMES = st.sampled_from(
    ["Content-Type", "Cookie", "Host", "Accept", "X-Junk", "Content-Length"]
) | st.text(
    alphabet=st.characters(min_codepoint=65, max_codepoint=90), min_size=1, max_size=6
)
HEADER_VALUES = st.sampled_from(
    [
        "application/json",
        "multipart/form-data; boundary=b",
        "application/x-www-form-urlencoded",
        "session=abc.def.ghi",
        "localhost",
        "-1",
        "99999999",
    ]
) | RAW.map(lambda b: b.decode("latin-1"))
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5)
BODIES = st.sampled_from(
    [b"", b"{", b'{"a": 1}', b"a=1&b=2", b"--b\r\n\r\n--b--"]
) | st.binary(max_size=200)


def run_wsgi(
    app: Kettle,
    method: str,
    path: str,
    query: bytes,
    headers: dict[str, str],
    body: bytes,
) -> tuple[str, list[tuple[str, str]], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
        else:
            environ["HTTP_" + key] = value
    started: list[Any] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        started.append((status, response_headers))

    result = app.wsgi_app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert len(started) == 1
    return started[0][0], started[0][1], content


async def run_asgi(
    app: Kettle,
    method: str,
    path: str,
    query: bytes,
    headers: dict[str, str],
    body: bytes,
) -> tuple[int, list[Any], bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"localhost")]
        + [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in headers.items()
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    sent_body = False
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app.asgi(scope, receive, send)
    start = messages[0]
    assert start["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in messages[1:])
    return (
        start["status"],
        start["headers"],
        b"".join(m.get("body", b"") for m in messages[1:]),
    )


@pytest.mark.timeout(120)
def test_generated_requests_get_well_formed_responses(
    request: pytest.FixtureRequest,
) -> None:
    app, counts = make_app()
    examples = [0]
    loop = asyncio.new_event_loop()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(METHODS, PATHS, RAW, HEADERS, BODIES)
    def check(
        method: str, path: str, query: bytes, headers: dict[str, str], body: bytes
    ) -> None:
        examples[0] += 1
        status, wsgi_headers, content = run_wsgi(
            app, method, path, query, headers, body
        )
        code = int(status.split(" ", 1)[0])
        assert 100 <= code <= 599
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in wsgi_headers)
        assert isinstance(content, bytes)
        assert b"Traceback" not in content
        assert _cv_app.get(None) is None
        code, asgi_headers, content = loop.run_until_complete(
            run_asgi(app, method, path, query, headers, body)
        )
        assert 100 <= code <= 599
        assert all(
            isinstance(k, bytes) and isinstance(v, bytes) for k, v in asgi_headers
        )
        assert isinstance(content, bytes)
        assert b"Traceback" not in content
        assert _cv_app.get(None) is None
        assert counts["pushed"] == counts["popped"]

    try:
        check()
    finally:
        loop.close()
    report(
        request,
        "generated_requests",
        examples[0],
        f"property-based: {examples[0]} generated requests, each as a WSGI environ and"
        " an ASGI scope, all well-formed responses, no context left pushed",
    )
