"""cpu-alert in Python: the same processor as plugins/cpu-alert, record for
record and byte for byte.

A cpu record whose system.cpu.total.norm.pct is greater than the configured
threshold becomes an alert: its `host` object plus "timestamp" copied from
"@timestamp", written exactly as Gson's JsonObject.toString() writes it (key
order kept, numbers in their source text, compact). The manifest's [fields]
has the host read those three out of each value, so the value itself never
enters the instance: the alert is `host` with the member spliced in
(rill.with_member) when its text is already compact, else `host` parsed and
written as Gson writes it. A record that is not JSON or lacks those fields
raises, which dead-letters it with the message.
"""

import json
from json.encoder import encode_basestring

from rill import Context, Record, processor, with_member


class Number(str):
    """A JSON number kept as its source text, as Gson keeps it. A str
    subclass, so json's C scanner makes one without running Python code (a
    class with an `__init__` ran one Python frame per number); float()
    parses the text."""

    __slots__ = ()


def parse(data: bytes):
    """JSON with every number kept as its source text."""
    return json.loads(data, parse_float=Number, parse_int=Number, parse_constant=Number)


def quote(text: str) -> str:
    """A JSON string literal as Gson writes it."""
    # json.dumps(text, ensure_ascii=False) escapes what Gson escapes, except
    # U+2028 and U+2029; encode_basestring is what it calls for a str, in C,
    # without building a JSONEncoder each time.
    return encode_basestring(text).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def dump(value) -> str:
    """Compact JSON as Gson's toString() writes it."""
    if isinstance(value, dict):
        return "{" + ",".join(quote(k) + ":" + dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, Number):
        return str.__str__(value)
    if isinstance(value, str):
        return quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "null"


def field(value, name: str, kind: type):
    """`value[name]`, failing with serde's words when absent or mistyped."""
    if not isinstance(value, dict) or name not in value:
        raise ValueError(f"missing field `{name}`")
    found = value[name]
    if not isinstance(found, kind):
        raise ValueError(f"field `{name}` has the wrong type")
    return found


@processor
class CpuAlert:
    """The alerting processor, built once from the `[config]` table."""

    def __init__(self, config: dict):
        try:
            threshold = field(config, "threshold", (int, float))
            unknown = set(config) - {"threshold"}
            if unknown:
                raise ValueError(f"unknown field `{sorted(unknown)[0]}`, expected `threshold`")
        except (ValueError, TypeError) as error:
            raise ValueError(f"invalid [config] table: {error}")
        self.threshold = float(threshold)

    def process(self, record: Record, ctx: Context) -> None:
        """One cpu record: an alert above the threshold, nothing otherwise."""
        fields = record.fields
        pct = fields.pct
        if not isinstance(pct, float):
            raise ValueError("field `pct` has the wrong type")
        host = fields.host
        if not host.text.startswith("{"):
            raise ValueError("field `host` has the wrong type")
        timestamp = fields.get("timestamp", None)
        if timestamp is None:
            raise ValueError("missing field `@timestamp`")
        if pct <= self.threshold:
            return
        alert = with_member(host, "timestamp", timestamp)
        if alert is None:
            alert = gson_alert(host.text, timestamp.text)
        ctx.emit("alert", value=alert)


def gson_alert(host: str, timestamp: str) -> bytes:
    """`host` with "timestamp" set (in place when it has one already), as
    Gson writes it: what with_member cannot splice (whitespace, a key twice,
    exponents, other escapes)."""
    try:
        value = parse(host)
        value["timestamp"] = parse(timestamp)
        return dump(value).encode()
    except RecursionError as error:
        raise ValueError(str(error))
