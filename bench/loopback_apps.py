"""The apps that `loopback.py` serves over real sockets.

Each attribute is an app target for a server, e.g. ``loopback_apps:kettle_wsgi``.
Apps are built lazily, on first access (module ``__getattr__``), so a server
process imports only the framework it serves, and a missing optional framework
(BlackSheep) only breaks its own rows.

Every app serves the same two routes as the in-process suites:

* ``GET /hello`` -> 200, ``text/plain`` (or ``text/html`` for the Flask API),
  body exactly ``Hello, World!``
* ``GET /user/7?q=x`` -> 200, ``application/json``, ``{"id": 7, "q": "x"}``

WSGI apps use sync handlers, ASGI apps ``async def`` handlers.  Kettle and Flask
run the very same code (only the imports differ): on WSGI the user route returns
``jsonify(...)``, as the in-process WSGI table's ``GET /user/7?q=x`` row does; on
ASGI it returns a dict, as the in-process ASGI table does.

No ``from __future__ import annotations`` here: BlackSheep reads the handlers'
annotations at startup, and they name classes imported inside the factories.
"""

from collections.abc import Callable
from typing import Any

HELLO = "Hello, World!"


# --- Flask API (Kettle, Flask) ------------------------------------------------------


def _flask_api_wsgi(app_class: Any, request: Any, jsonify: Any) -> Any:
    app = app_class(__name__)

    @app.route("/hello")
    def hello() -> str:
        return HELLO

    @app.route("/user/<int:user_id>")
    def user(user_id: int) -> Any:
        return jsonify({"id": user_id, "q": request.args["q"]})

    return app


def _flask_api_asgi(app_class: Any, request: Any) -> Any:
    app = app_class(__name__)

    @app.route("/hello")
    async def hello() -> str:
        return HELLO

    @app.route("/user/<int:user_id>")
    async def user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "q": request.args["q"]}

    return app


def _kettle_wsgi() -> Any:
    import kettle

    return _flask_api_wsgi(kettle.Kettle, kettle.request, kettle.jsonify)


def _kettle_asgi() -> Any:
    import kettle

    return _flask_api_asgi(kettle.Kettle, kettle.request).asgi


def _flask_wsgi() -> Any:
    import flask

    return _flask_api_wsgi(flask.Flask, flask.request, flask.jsonify)


# --- Falcon ---------------------------------------------------------------------------


def _falcon_wsgi() -> Any:
    import falcon

    class Hello:
        def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = HELLO

    class User:
        def on_get(self, req: Any, resp: Any, user_id: int) -> None:
            resp.media = {"id": user_id, "q": req.get_param("q")}

    app = falcon.App()
    app.add_route("/hello", Hello())
    app.add_route("/user/{user_id:int}", User())
    return app


def _falcon_asgi() -> Any:
    import falcon
    import falcon.asgi

    class Hello:
        async def on_get(self, req: Any, resp: Any) -> None:
            resp.content_type = falcon.MEDIA_TEXT
            resp.text = HELLO

    class User:
        async def on_get(self, req: Any, resp: Any, user_id: int) -> None:
            resp.media = {"id": user_id, "q": req.get_param("q")}

    app = falcon.asgi.App()
    app.add_route("/hello", Hello())
    app.add_route("/user/{user_id:int}", User())
    return app


# --- Starlette, BlackSheep --------------------------------------------------------


def _starlette_asgi() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(HELLO)

    async def user(request: Request) -> JSONResponse:
        user_id = request.path_params["user_id"]
        return JSONResponse({"id": user_id, "q": request.query_params["q"]})

    return Starlette(
        routes=[Route("/hello", hello), Route("/user/{user_id:int}", user)]
    )


def _blacksheep_asgi() -> Any:
    from blacksheep import Application, Request, json, text

    app = Application()

    @app.router.get("/hello")
    async def hello() -> Any:
        return text(HELLO)

    @app.router.get("/user/{int:user_id}")
    async def user(request: Request, user_id: int) -> Any:
        return json({"id": user_id, "q": request.query["q"][0]})

    return app


# --- Bare callables: the server's own cost, the floor under every framework -------


def _bare_wsgi() -> Any:
    from apps_wsgi import bare_wsgi_app
    from workloads import HELLO as HELLO_WORKLOAD
    from workloads import USER

    hello, user = bare_wsgi_app(HELLO_WORKLOAD), bare_wsgi_app(USER)

    def app(environ: Any, start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/hello":
            return hello(environ, start_response)
        return user(environ, start_response)

    return app


def _bare_asgi() -> Any:
    from apps_asgi import bare_asgi_app
    from workloads import HELLO as HELLO_WORKLOAD
    from workloads import USER

    hello, user = bare_asgi_app(HELLO_WORKLOAD), bare_asgi_app(USER)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["path"] == "/hello":
            await hello(scope, receive, send)
        else:
            await user(scope, receive, send)

    return app


#: Target name -> factory.  `loopback.py` imports this table to plan its runs.
FACTORIES: dict[str, Callable[[], Any]] = {
    "kettle_wsgi": _kettle_wsgi,
    "kettle_asgi": _kettle_asgi,
    "flask_wsgi": _flask_wsgi,
    "falcon_wsgi": _falcon_wsgi,
    "falcon_asgi": _falcon_asgi,
    "starlette_asgi": _starlette_asgi,
    "blacksheep_asgi": _blacksheep_asgi,
    "bare_wsgi": _bare_wsgi,
    "bare_asgi": _bare_asgi,
}

_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    factory = FACTORIES.get(name)
    if factory is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _built:
        _built[name] = factory()
    return _built[name]
