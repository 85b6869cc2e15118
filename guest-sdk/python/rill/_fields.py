"""`[fields]` read out of a JSON value natively, as the host reads them
(host/src/fields): what `rill.testing.Driver` hands a processor, so field
access is unit-tested without a component. A declaration is the manifest's
`name = "path"` or `name = { path = "...", as = "value" | "raw" }`; a path
is dotted (`system.cpu.total.norm.pct`, a numeric segment also indexes an
array) or, starting with `/`, a JSON Pointer (RFC 6901)."""

import json
from json.encoder import encode_basestring
from typing import Any, Dict, List, Optional, Tuple

from ._types import MISSING, Error, Fields
from .raw import RawJson

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


class Declared:
    """One `[fields]` entry: its path's segments and whether it is raw."""

    __slots__ = ("name", "segments", "raw")

    def __init__(self, name: str, spec: Any):
        if isinstance(spec, str):
            path, kind = spec, "value"
        elif isinstance(spec, dict) and isinstance(spec.get("path"), str):
            path, kind = spec["path"], spec.get("as", "value")
        else:
            raise Error(f"[fields] {name}: a path (\"a.b.c\") or {{ path = \"...\", as = \"value\" | \"raw\" }}")
        if kind not in ("value", "raw"):
            raise Error(f"[fields] {name}: as = \"value\" or \"raw\", not {kind!r}")
        self.name = name
        self.segments = segments(name, path)
        self.raw = kind == "raw"


def segments(name: str, path: str) -> List[str]:
    """The steps of `path` from the value's root."""
    if not path:
        raise Error(f"[fields] {name}: the path is empty")
    if path.startswith("/"):
        out = []
        for token in path[1:].split("/"):
            text = token.replace("~1", "/").replace("~0", "~")
            if "~" in token.replace("~0", "").replace("~1", ""):
                raise Error(f"[fields] {name}: a JSON Pointer escapes `~` as `~0` and `/` as `~1`")
            out.append(text)
        return out
    parts = path.split(".")
    if any(not p for p in parts):
        raise Error(f"[fields] {name}: the path has an empty segment; for a key with dots write a JSON Pointer")
    return parts


def declared(table: Dict[str, Any]) -> List[Declared]:
    """A manifest's `[fields]` table, in declaration order."""
    return [Declared(name, spec) for name, spec in table.items()]


def _index_of(segment: str) -> Optional[int]:
    """The array index a segment names (digits, no leading zero)."""
    if segment.isdigit() and segment.isascii() and (segment == "0" or not segment.startswith("0")):
        return int(segment)
    return None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def _end_of(text: str, i: int) -> int:
    """Where the (valid) JSON value starting at `i` ends."""
    return _DECODER.raw_decode(text, i)[1]


def _find(text: str, start: int, path: List[str]) -> Optional[Tuple[int, int]]:
    """The span of the value at `path` inside the value starting at
    `start`; None when the path does not exist. A key written twice is its
    last occurrence, as a parser keeping the last value finds it."""
    if not path:
        return start, _end_of(text, start)
    segment, rest = path[0], path[1:]
    opening = text[start]
    found = None
    if opening == "{":
        i = _skip_space(text, start + 1)
        if text[i] == "}":
            return None
        while True:
            key, i = _DECODER.raw_decode(text, i)
            i = _skip_space(text, i) + 1  # the ':'
            i = _skip_space(text, i)
            if key == segment:
                found = _find(text, i, rest)
            i = _skip_space(text, _end_of(text, i))
            if text[i] == "}":
                return found
            i = _skip_space(text, i + 1)
    if opening == "[":
        wanted = _index_of(segment)
        i = _skip_space(text, start + 1)
        if text[i] == "]":
            return None
        n = 0
        while True:
            if n == wanted:
                return _find(text, i, rest)
            i = _skip_space(text, _end_of(text, i))
            if text[i] == "]":
                return None
            i = _skip_space(text, i + 1)
            n += 1
    return None


def canonical(text: str) -> bool:
    """`text` (one valid JSON value) is what a compact writer writes for
    it: no whitespace between tokens, no key twice in an object, no
    exponent in a number, strings escaping only `"`, `\\` and control
    characters (short forms where there is one, else lower-case `\\u00xx`)
    and U+2028/U+2029. Checked by writing it so and comparing."""

    class Number(str):
        __slots__ = ()

    duplicate = []

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            duplicate.append(True)
        return dict(items)

    value = json.loads(text, parse_float=Number, parse_int=Number, object_pairs_hook=pairs)
    if duplicate:
        return False

    def write(v) -> str:
        if isinstance(v, dict):
            return "{" + ",".join(_quote(k) + ":" + write(x) for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ",".join(write(x) for x in v) + "]"
        if isinstance(v, Number):
            return str.__str__(v) if "e" not in v and "E" not in v else ""
        if isinstance(v, str):
            return _quote(v)
        return "null" if v is None else ("true" if v else "false")

    return write(value) == text


def _quote(text: str) -> str:
    return encode_basestring(text).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _scalar(text: str) -> Any:
    """A field declared as a value: scalars typed, objects and arrays raw."""
    first = text[0]
    if first in "{[":
        return RawJson(text, canonical(text))
    if first == "n":
        return None
    if first == "t":
        return True
    if first == "f":
        return False
    if first == '"':
        return json.loads(text)
    return float(text)


def _not_json(word: str):
    raise ValueError(f"{word} is not JSON")


def read(value: Optional[bytes], fields: List[Declared], index: Dict[str, int]) -> Fields:
    """A record's Fields for `value`, as the host computes them: an error
    when the value is null or not JSON."""
    if value is None:
        return Fields(index, None, "the value is null")
    try:
        text = bytes(value).decode("utf-8")
        json.loads(text, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError) as error:
        return Fields(index, None, f"the value is not JSON: {error}")
    root = _skip_space(text, 0)
    values = []
    for field in fields:
        span = _find(text, root, field.segments)
        if span is None:
            values.append(MISSING)
            continue
        found = text[span[0]:span[1]]
        values.append(RawJson(found, canonical(found)) if field.raw else _scalar(found))
    return Fields(index, values)
