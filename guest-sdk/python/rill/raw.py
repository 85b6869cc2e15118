"""Raw JSON slices of an input value, as `[fields]` declared `as = "raw"`
(and objects or arrays declared as values) hand them over, and
`with_member`, which adds one member to a raw object without parsing it.

```python
alert = rill.with_member(record.fields.host, "timestamp", record.fields.timestamp)
if alert is None:            # not canonical, or "timestamp" already there
    alert = my_writer(...)   # parse and write as you would without fields
```
"""

import json
from json.encoder import encode_basestring
from typing import Any, Optional


class RawJson:
    """The exact JSON text of a value as it stands in the input record.
    `canonical` is true when `text` is already what a compact writer
    (serde_json compact, Gson's `toString()`) writes for it, so it can be
    copied into an output instead of parsed and re-written."""

    __slots__ = ("text", "canonical")

    def __init__(self, text: str, canonical: bool):
        self.text = text
        self.canonical = canonical

    def json(self) -> Any:
        """The value parsed (json.loads)."""
        return json.loads(self.text)

    def __str__(self) -> str:
        return self.text

    def __bytes__(self) -> bytes:
        return self.text.encode()

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, RawJson) and other.text == self.text and other.canonical == self.canonical

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"RawJson({self.text!r}, canonical={self.canonical})"


def with_member(obj: RawJson, key: str, value: RawJson) -> Optional[bytes]:
    """`obj` with `"key": value` added as its last member, spliced as text,
    or None when that could differ from parsing `obj`, setting the member
    and writing it compactly: `obj` or `value` is not canonical, `obj` is
    not an object, `key` needs escaping, or the text `"key"` occurs in `obj`
    at all (it could be a member already, which a writer would replace in
    place). The caller then falls back to parsing and writing."""
    if not (obj.canonical and value.canonical):
        return None
    text = obj.text
    if not text.startswith("{"):
        return None
    quoted = encode_basestring(key)
    if len(quoted) != len(key) + 2 or "\u2028" in key or "\u2029" in key or quoted in text:
        return None
    separator = "" if text == "{}" else ","
    return (text[:-1] + separator + quoted + ":" + value.text + "}").encode()
