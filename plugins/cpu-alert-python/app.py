"""cpu-alert in Python: the same processor as plugins/cpu-alert, record for
record and byte for byte.

A cpu record whose system.cpu.total.norm.pct is greater than the configured
threshold becomes an alert: its `host` object plus "timestamp" copied from
"@timestamp", written exactly as Gson's JsonObject.toString() writes it (key
order kept, numbers in their source text, compact). A record that is not JSON
or lacks those fields raises, which dead-letters it with the message.
Built against rill:processor@0.1.0 (its `wit` links there) on purpose: the
SDK runs on both worlds.
"""

import json
from json.encoder import encode_basestring

from rill import Context, Record, processor


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
        try:
            if record.value is None:
                raise ValueError("record has a null value")
            metric = parse(record.value)
            norm = field(field(field(field(metric, "system", dict), "cpu", dict), "total", dict), "norm", dict)
            pct = float(field(norm, "pct", Number))
            host = field(metric, "host", dict)
            if "@timestamp" not in metric:
                raise ValueError("missing field `@timestamp`")
        except RecursionError as error:
            raise ValueError(str(error))
        if pct <= self.threshold:
            return
        host["timestamp"] = metric["@timestamp"]
        ctx.emit("alert", value=dump(host).encode())
