"""A load generator for the isolation test, run in subprocesses (their own GILs).

Takes a JSON job as its argument: ``base_url``, ``prefix``, ``kinds`` (view names
under ``/iso/``), ``total`` requests (spread round-robin over the kinds),
``concurrency`` (threads, each with its own keep-alive httpx connection),
``secret_key``, and ``offset`` and ``step``: it sends requests ``offset``,
``offset + step``, ... below ``total`` (several generators share a job). Every
request carries its own token ``{prefix}-{kind}-{i}`` in the query string; every
response must carry that token, and no other, in its body, its ``X-Token`` header
and its signed session cookie. Writes a JSON summary to stdout: counts, seconds,
and the first mismatches.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sys
import threading
import time
from typing import Any

import httpx
from itsdangerous import BadSignature, URLSafeTimedSerializer

MAX_REPORTED = 10


def session_serializer(secret_key: str) -> URLSafeTimedSerializer:
    """The serializer of Kettle's (and Flask's) signed cookie session."""
    return URLSafeTimedSerializer(
        secret_key,
        salt="cookie-session",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )


def check(
    kind: str, token: str, response: httpx.Response, serializer: URLSafeTimedSerializer
) -> str | None:
    """What is wrong with the response to ``token``'s request, or None."""
    if response.status_code != 200:
        return f"status {response.status_code}: {response.content[:200]!r}"
    body = response.content.decode()
    if kind.endswith("stream"):
        if body != f"kind={kind};arg={token};g={token};session={token};":
            return f"body {body!r}"
        if response.headers.get("x-view") != token:
            return f"x-view {response.headers.get('x-view')!r}"
    else:
        try:
            data = json.loads(body)
        except ValueError:
            return f"body {body!r}"
        if data != {"kind": kind, "arg": token, "g": token, "session": token}:
            return f"body {body!r}"
    if response.headers.get("x-token") != token:
        return f"x-token {response.headers.get('x-token')!r}"
    cookies = [
        value.split(";", 1)[0].split("=", 1)[1]
        for value in response.headers.get_list("set-cookie")
        if value.startswith("session=")
    ]
    if len(cookies) != 1:
        return f"set-cookie {response.headers.get_list('set-cookie')!r}"
    try:
        session = serializer.loads(cookies[0])
    except BadSignature as e:
        return f"session cookie {cookies[0]!r}: {e}"
    if session != {"t": token}:
        return f"session {session!r}"
    return None


def run(job: dict[str, Any]) -> dict[str, Any]:
    base_url: str = job["base_url"]
    prefix: str = job["prefix"]
    kinds: list[str] = job["kinds"]
    total: int = job["total"]
    concurrency: int = job["concurrency"]
    offset: int = job.get("offset", 0)
    step: int = job.get("step", 1)
    serializer = session_serializer(job["secret_key"])
    counter = itertools.count()
    lock = threading.Lock()
    counts = dict.fromkeys(kinds, 0)
    wrong: list[str] = []
    errors: list[str] = []
    n_wrong = n_errors = 0
    timeout = {"connect": 10.0, "read": 30.0, "write": 10.0, "pool": 30.0}

    def worker() -> None:
        # One keep-alive connection per thread: a shared pool costs O(connections)
        # per request.
        with httpx.HTTPTransport(limits=httpx.Limits(max_connections=1)) as transport:
            while (i := offset + step * next(counter)) < total:
                send_one(transport, i)

    def send_one(transport: httpx.HTTPTransport, i: int) -> None:
        nonlocal n_wrong, n_errors
        kind = kinds[i % len(kinds)]
        token = f"{prefix}-{kind}-{i}"
        request = httpx.Request(
            "GET",
            f"{base_url}/iso/{kind}?t={token}",
            extensions={"timeout": timeout},
        )
        try:
            response = transport.handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        except httpx.HTTPError as e:
            with lock:
                n_errors += 1
                if len(errors) < MAX_REPORTED:
                    errors.append(f"{token}: {e!r}")
            return
        problem = check(kind, token, response, serializer)
        with lock:
            counts[kind] += 1
            if problem is not None:
                n_wrong += 1
                if len(wrong) < MAX_REPORTED:
                    wrong.append(f"{token}: {problem}")

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "seconds": time.monotonic() - started,
        "counts": counts,
        "answered": sum(counts.values()),
        "wrong": n_wrong,
        "wrong_examples": wrong,
        "errors": n_errors,
        "error_examples": errors,
        "cpu_seconds": time.process_time(),
    }


if __name__ == "__main__":
    json.dump(run(json.loads(sys.argv[1])), sys.stdout)
