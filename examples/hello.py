"""A small Kettle app; ``python examples/hello.py [--port N]`` serves it locally."""

from __future__ import annotations

import argparse

from kettle import Kettle, g, jsonify, request, url_for

app = Kettle(__name__)


@app.before_request
def remember_visitor() -> None:
    g.visitor = request.args.get("name", "World")


@app.get("/")
def index() -> str:
    link = url_for("greet", name=g.visitor)
    return f"<h1>Hello, {g.visitor}!</h1><p>Try <a href='{link}'>{link}</a>.</p>"


@app.get("/hello/<name>")
def greet(name: str) -> object:
    return jsonify(greeting=f"Hello, {name}!", path=request.path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
