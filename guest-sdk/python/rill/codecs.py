"""Codecs between Python values and the bytes the host stores.

The binary ones are the Rust SDK's natural encodings, so a store written by
a Rust processor reads the same in Python: `Float` is an IEEE 754 double,
big-endian (`f64::to_be_bytes`), `Int` a signed 64-bit big-endian integer
(`i64::to_be_bytes`). `Json` is compact UTF-8 JSON, as `rill_sdk::windows`
keeps aggregates. A codec is named by a Python type in declarations:
`bytes`, `str`, `int`, `float`, `dict`/`list`/`"json"`.
"""

import json
import struct
from typing import Any


class Codec:
    """Turns a value into bytes and back; subclass it for your own format."""

    name = "codec"

    def encode(self, value: Any) -> bytes:
        """The bytes stored for `value`."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """The value stored as `data`."""
        raise NotImplementedError


class _Bytes(Codec):
    """Raw bytes, unchanged (str is encoded as UTF-8 for convenience)."""

    name = "bytes"

    def encode(self, value):
        if isinstance(value, str):
            return value.encode()
        return bytes(value)

    def decode(self, data):
        return bytes(data)


class _Utf8(Codec):
    """Text as UTF-8."""

    name = "str"

    def encode(self, value):
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if not isinstance(value, str):
            raise TypeError(f"a str store takes str, not {type(value).__name__}")
        return value.encode()

    def decode(self, data):
        return bytes(data).decode()


class _Int(Codec):
    """A signed 64-bit integer, big-endian (Rust's `i64::to_be_bytes`)."""

    name = "int"

    def encode(self, value):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"an int store takes int, not {type(value).__name__}")
        return struct.pack(">q", value)

    def decode(self, data):
        if len(data) != 8:
            raise ValueError(f"an int is 8 bytes, found {len(data)}")
        return struct.unpack(">q", data)[0]


class _Float(Codec):
    """An IEEE 754 double, big-endian (Rust's `f64::to_be_bytes`)."""

    name = "float"

    def encode(self, value):
        return struct.pack(">d", float(value))

    def decode(self, data):
        if len(data) != 8:
            raise ValueError(f"a float is 8 bytes, found {len(data)}")
        return struct.unpack(">d", data)[0]


class _Json(Codec):
    """Compact UTF-8 JSON."""

    name = "json"

    def encode(self, value):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def decode(self, data):
        return json.loads(data)


Bytes = _Bytes()
Utf8 = _Utf8()
Int = _Int()
Float = _Float()
Json = _Json()

_BY_TYPE = {bytes: Bytes, str: Utf8, int: Int, float: Float, dict: Json, list: Json, "json": Json, None: Bytes}


def codec(spec: Any) -> Codec:
    """The codec a declaration names: a Codec, a type above, or None (bytes)."""
    if isinstance(spec, Codec):
        return spec
    try:
        return _BY_TYPE[spec]
    except (KeyError, TypeError):
        raise TypeError(f"no codec for {spec!r}: use bytes, str, int, float, dict, list, 'json' or a rill.codecs.Codec")


def to_bytes(value: Any) -> Any:
    """An emitted key or value as bytes: bytes as is, str as UTF-8, None as
    Kafka's null, anything else as compact JSON."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return Json.encode(value)
