"""Session cookies signed in itsdangerous's URL-safe timed format, without its layers.

:class:`CookieCodec` writes and reads exactly what ``URLSafeTimedSerializer`` does
with HMAC key derivation (``payload.timestamp.signature``, each part URL-safe base64
without padding; a payload starting with ``.`` is zlib-compressed), so cookies pass
both ways between the two. It exists for speed: the derived keys are computed once,
and each cookie costs one HMAC and a few base64 calls instead of itsdangerous's
chain of signer, serializer and encoding objects.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import time
import zlib
from typing import Any, Protocol

__all__ = ["CookieCodec"]

# A payload shorter than this never gets shorter by compressing it.
_COMPRESS_FROM = 256


class _TextSerializer(Protocol):
    def dumps(self, value: Any) -> str: ...

    def loads(self, value: str) -> Any: ...


# URL-safe base64 without padding, as itsdangerous writes it; binascii directly,
# which is what the base64 module's functions do after a few checks and copies.
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64encode(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    # Like base64.urlsafe_b64decode: characters outside the alphabet are skipped.
    padded = data.translate(_FROM_URLSAFE) + b"=" * (-len(data) % 4)
    return binascii.a2b_base64(padded)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


# RFC 2104's inner and outer pads, as translation tables (key byte -> padded byte).
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))


class _KeyedHMAC:
    """HMAC with one key (RFC 2104): the key's inner and outer hash states are made
    once and copied for each message. PERF: ``hmac.digest()`` looks the hash up in
    OpenSSL on every call; copying two hash states costs about a third of that."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, digest: str) -> None:
        self._inner = hashlib.new(digest)
        self._outer = hashlib.new(digest)
        block_size = self._inner.block_size
        if len(key) > block_size:
            key = hashlib.new(digest, key).digest()
        key = key.ljust(block_size, b"\0")
        self._inner.update(key.translate(_INNER_PAD))
        self._outer.update(key.translate(_OUTER_PAD))

    def sign(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class CookieCodec:
    """Signs values into cookie strings and reads them back, checking age and keys.

    ``secret_keys`` lists the keys oldest first: the last one signs, every one is
    accepted when reading (newest first), as with itsdangerous's key rotation.
    ``digest`` is a hash name OpenSSL knows (``"sha1"`` by default in sessions).
    """

    __slots__ = ("_keys", "_serializer", "_signer")

    def __init__(
        self,
        secret_keys: list[str | bytes],
        salt: str | bytes,
        digest: str,
        serializer: _TextSerializer,
    ) -> None:
        salt_bytes = _as_bytes(salt)
        derived = [
            _KeyedHMAC(hmac.digest(_as_bytes(k), salt_bytes, digest), digest)
            for k in secret_keys
        ]
        self._signer = derived[-1]
        self._keys = tuple(reversed(derived))
        self._serializer = serializer

    def dumps(self, value: Any, now: float | None = None) -> str:
        """``value`` serialized, stamped with the time and signed."""
        data = self._serializer.dumps(value).encode()
        if len(data) < _COMPRESS_FROM:
            payload = _b64encode(data)
        else:
            compressed = zlib.compress(data)
            if len(compressed) < len(data) - 1:
                payload = b"." + _b64encode(compressed)
            else:
                payload = _b64encode(data)
        stamp = int(time.time() if now is None else now)
        stamp_bytes = stamp.to_bytes((stamp.bit_length() + 7) // 8, "big")
        signed = payload + b"." + _b64encode(stamp_bytes)
        signature = self._signer.sign(signed)
        return (signed + b"." + _b64encode(signature)).decode("ascii")

    def loads(self, cookie: str, max_age: int | None = None) -> Any:
        """The value in ``cookie``; raises ValueError when it is forged, malformed
        or older than ``max_age`` seconds."""
        signed, _, signature_b64 = cookie.encode().rpartition(b".")
        payload, dot, stamp_b64 = signed.rpartition(b".")
        if not dot:
            raise ValueError("the cookie is not signed")
        try:
            signature = _b64decode(signature_b64)
            stamp = int.from_bytes(_b64decode(stamp_b64), "big")
        except binascii.Error as e:
            raise ValueError("the cookie's signature is malformed") from e
        for key in self._keys:
            if hmac.compare_digest(key.sign(signed), signature):
                break
        else:
            raise ValueError("the cookie's signature does not match")
        if max_age is not None:
            age = int(time.time()) - stamp
            if age > max_age or age < 0:
                raise ValueError("the cookie has expired")
        try:
            if payload[:1] == b".":
                data = zlib.decompress(_b64decode(payload[1:]))
            else:
                data = _b64decode(payload)
            return self._serializer.loads(data.decode())
        except Exception as e:  # any failure to decode means an unusable cookie
            raise ValueError("the cookie's payload is malformed") from e
