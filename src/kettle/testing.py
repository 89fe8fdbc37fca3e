"""Testing helpers: an environ builder with the app's defaults and the test client."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import werkzeug.test
from click.testing import CliRunner, Result
from werkzeug.test import TestResponse
from werkzeug.wrappers import Request as BaseRequest

from .adapters.wsgi import PRESERVE_CONTEXT_KEY
from .cli import ScriptInfo
from .sessions import SessionMixin
from .websocket import WebsocketDisconnect

if TYPE_CHECKING:
    from .app import Kettle
    from .ctx import AppContext

__all__ = [
    "EnvironBuilder",
    "KettleCliRunner",
    "KettleClient",
    "WebsocketTestConnection",
]


class EnvironBuilder(werkzeug.test.EnvironBuilder):
    """Werkzeug's ``EnvironBuilder`` with defaults from the app's config.

    Without ``base_url``, the URL is built from ``PREFERRED_URL_SCHEME`` (or
    ``url_scheme``), ``SERVER_NAME`` (or ``localhost``, with ``subdomain``) and
    ``APPLICATION_ROOT``. A ``json`` body is serialised with the app's provider.
    """

    def __init__(
        self,
        app: Kettle,
        path: str = "/",
        base_url: str | None = None,
        subdomain: str | None = None,
        url_scheme: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if base_url is not None and (subdomain or url_scheme):
            raise ValueError(
                "Pass either 'base_url' or 'subdomain'/'url_scheme', not both."
            )
        if base_url is None:
            base_url, path = _base_url(app, path, subdomain, url_scheme)
        self.app = app
        super().__init__(path, base_url, *args, **kwargs)

    def json_dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialise a ``json=`` body with the app's JSON provider."""
        return self.app.json.dumps(obj, **kwargs)


def _base_url(
    app: Kettle, path: str, subdomain: str | None, url_scheme: str | None
) -> tuple[str, str]:
    config = app.config
    host = config["SERVER_NAME"] or "localhost"
    if subdomain:
        host = f"{subdomain}.{host}"
    scheme = url_scheme or config["PREFERRED_URL_SCHEME"]
    root = (config["APPLICATION_ROOT"] or "/").lstrip("/")
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        scheme, host = parts.scheme or scheme, parts.netloc or host
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{scheme}://{host}/{root}", path


def _werkzeug_version() -> str:
    return importlib.metadata.version("werkzeug")


class KettleClient(werkzeug.test.Client):
    """Werkzeug's test client, with the app's defaults and context preservation.

    Inside ``with client:``, the context of the last request stays pushed until the
    next request or the end of the block, so ``request``, ``session`` and ``g`` can
    be inspected after a request. Its teardown runs once, when it is let go.
    """

    application: Kettle

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.preserve_context = False
        self._handed_over: list[AppContext] = []
        self._kept: AppContext | None = None
        self.environ_base = {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": f"Werkzeug/{_werkzeug_version()}",
        }

    def _with_base(self, environ: Mapping[str, Any] | None) -> dict[str, Any]:
        merged = {**self.environ_base, **(environ or {})}
        if self.preserve_context:
            merged[PRESERVE_CONTEXT_KEY] = self._handed_over.append
        return merged

    def _build_request(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args and isinstance(args[0], werkzeug.test.EnvironBuilder):
            builder = args[0].__class__.__new__(args[0].__class__)
            builder.__dict__.update(args[0].__dict__)
            builder.environ_base = self._with_base(builder.environ_base)
            return builder.get_request()
        if args and isinstance(args[0], dict):
            return self._with_base(args[0])
        if args and isinstance(args[0], BaseRequest):
            args[0].environ.update(self._with_base(None))
            return args[0]
        kwargs["environ_base"] = self._with_base(kwargs.get("environ_base"))
        builder = EnvironBuilder(self.application, *args, **kwargs)
        try:
            return builder.get_request()
        finally:
            builder.close()

    def open(
        self,
        *args: Any,
        buffered: bool = False,
        follow_redirects: bool = False,
        **kwargs: Any,
    ) -> TestResponse:
        """Make a request; arguments are those of :class:`EnvironBuilder`."""
        request = self._build_request(args, kwargs)
        self._let_go_kept()
        response = super().open(
            request, buffered=buffered, follow_redirects=follow_redirects
        )
        self._keep_last()
        return response

    def _keep_last(self) -> None:
        handed_over, self._handed_over = self._handed_over, []
        if not handed_over:
            return
        *earlier, last = handed_over
        for ctx in earlier:
            ctx.release()
        last.push()
        self._kept = last

    def _let_go_kept(self) -> None:
        # Clear in place: the environ of the request about to run is already bound
        # to this list's ``append`` (see ``_with_base``).
        handed_over = list(self._handed_over)
        self._handed_over.clear()
        for ctx in handed_over:
            ctx.release()
        kept, self._kept = self._kept, None
        if kept is not None:
            try:
                kept.pop()
            finally:
                kept.release()

    def __enter__(self) -> KettleClient:
        if self.preserve_context:
            raise RuntimeError(
                "Cannot nest client invocations: 'with client:' is already active."
            )
        self.preserve_context = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.preserve_context = False
        self._let_go_kept()

    @contextmanager
    def session_transaction(self, *args: Any, **kwargs: Any) -> Iterator[SessionMixin]:
        """Open the session the client's cookies carry, to read or change it in a test.

        Changes made in the ``with`` block are saved into the client's cookies.
        Arguments are those of ``app.test_request_context``.
        """
        if self._cookies is None:
            raise TypeError(
                "Cookies are disabled. Create the client with use_cookies=True."
            )
        app = self.application
        interface = app.session_interface
        ctx = app.test_request_context(*args, **kwargs)
        self._add_cookies_to_wsgi(ctx.request.environ)
        with ctx:
            session = interface.open_session(app, ctx.request)
            if session is None:
                raise RuntimeError("Session backend did not open a session.")
            ctx.retain()
        try:
            yield session
        except BaseException:
            ctx.release()
            raise
        ctx.push()
        ctx.release()
        try:
            response = app.response_class()
            if not interface.is_null_session(session):
                interface.save_session(app, session, response)
        finally:
            ctx.pop()
        self._update_cookies_from_response(
            ctx.request.host.partition(":")[0],
            ctx.request.path,
            response.headers.getlist("Set-Cookie"),
        )


class WebsocketTestConnection:
    """An in-process WebSocket client for tests of ``@app.websocket`` routes.

    ::

        async with app.test_websocket("/ws?room=1") as ws:
            await ws.send("hello")
            assert await ws.receive() == "echo: hello"

    The app's ASGI entry point runs in a task on the test's event loop; leaving the
    block disconnects (close code 1000) and waits for the view and its teardown.
    A connection the view rejects (closes before accepting) raises
    :class:`~kettle.websocket.WebsocketDisconnect` on entering.
    """

    def __init__(
        self,
        app: Kettle,
        path: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        subprotocols: list[str] | None = None,
    ) -> None:
        base, _, query = path.partition("?")
        self._scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "path": base,
            "raw_path": base.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in [("host", "localhost"), *(headers or [])]
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
            "subprotocols": subprotocols or [],
        }
        self._app = app
        self._to_app: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: The subprotocol the app accepted, if any.
        self.subprotocol: str | None = None
        #: The close code once the app closed the connection.
        self.close_code: int | None = None

    async def __aenter__(self) -> WebsocketTestConnection:
        await self._to_app.put({"type": "websocket.connect"})
        self._task = asyncio.ensure_future(
            self._app.asgi(self._scope, self._to_app.get, self._from_app.put)
        )
        message = await self._next_message()
        if message["type"] == "websocket.close":
            await self._finish()
            raise WebsocketDisconnect(
                message.get("code", 1000), message.get("reason", "")
            )
        self.subprotocol = message.get("subprotocol")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.close_code is None:
            await self._to_app.put({"type": "websocket.disconnect", "code": 1000})
        await self._finish()

    async def _finish(self) -> None:
        assert self._task is not None
        await self._task

    async def _next_message(self) -> MutableMapping[str, Any]:
        assert self._task is not None
        getting = asyncio.ensure_future(self._from_app.get())
        await asyncio.wait({getting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if getting.done():
            return getting.result()
        getting.cancel()
        self._task.result()  # raises what the app raised
        raise RuntimeError("The WebSocket view ended without accepting or closing.")

    async def send(self, data: str | bytes) -> None:
        """Send a text (str) or binary (bytes) message to the view."""
        key = "text" if isinstance(data, str) else "bytes"
        await self._to_app.put({"type": "websocket.receive", key: data})

    async def send_json(self, value: Any) -> None:
        """Send ``value`` as a JSON text message."""
        await self.send(json.dumps(value))

    async def receive(self) -> str | bytes:
        """The next message from the view; WebsocketDisconnect once it closed."""
        message = await self._next_message()
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            raise WebsocketDisconnect(self.close_code, message.get("reason", ""))
        text = message.get("text")
        if text is not None:
            return str(text)
        return bytes(message.get("bytes", b""))

    async def receive_json(self) -> Any:
        """The next message, decoded from JSON."""
        return json.loads(await self.receive())


class KettleCliRunner(CliRunner):
    """A click ``CliRunner`` for the app's commands, with the app already loaded.

    ``invoke()`` runs ``app.cli`` unless given another command, with a
    :class:`~kettle.cli.ScriptInfo` that returns this app as the click ``obj``.
    """

    def __init__(self, app: Kettle, **kwargs: Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def invoke(  # type: ignore[override]
        self, cli: Any = None, args: Any = None, **kwargs: Any
    ) -> Result:
        """Run ``cli`` (default: ``app.cli``) with ``args``, as ``CliRunner`` does."""
        if cli is None:
            cli = self.app.cli
        if "obj" not in kwargs:
            kwargs["obj"] = ScriptInfo(create_app=lambda: self.app)
        return super().invoke(cli, args, **kwargs)
