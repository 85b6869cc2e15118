"""cpu-alert in Python: the same processor as plugins/cpu-alert, record for
record and byte for byte.

A cpu record whose system.cpu.total.norm.pct is greater than the configured
threshold becomes an alert: its `host` object plus "timestamp" copied from
"@timestamp", written exactly as Gson's JsonObject.toString() writes it (key
order kept, numbers in their source text, compact). A record that is not JSON
or lacks those fields is an error for that record (dead-letter topic).
"""

import json
from typing import List

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports.types import InputRecord, OutputRecord


class Number:
    """A JSON number kept as its source text, as Gson keeps it."""

    def __init__(self, text: str):
        self.text = text

    def __float__(self) -> float:
        return float(self.text)


def parse(data: bytes):
    return json.loads(data, parse_float=Number, parse_int=Number, parse_constant=Number)


def quote(text: str) -> str:
    # json.dumps escapes what Gson escapes, except U+2028 and U+2029.
    return json.dumps(text, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def dump(value) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(quote(k) + ":" + dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    if isinstance(value, Number):
        return value.text
    if isinstance(value, str):
        return quote(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "null"


def field(value, name: str, kind: type):
    if not isinstance(value, dict) or name not in value:
        raise ValueError(f"missing field `{name}`")
    found = value[name]
    if not isinstance(found, kind):
        raise ValueError(f"field `{name}` has the wrong type")
    return found


class WitWorld(wit_world.WitWorld):
    threshold = 0.5

    def init(self, config: str) -> None:
        try:
            table = parse(config)
            threshold = field(table, "threshold", Number)
            unknown = set(table) - {"threshold"}
            if unknown:
                raise ValueError(f"unknown field `{sorted(unknown)[0]}`, expected `threshold`")
            WitWorld.threshold = float(threshold)
        except (ValueError, TypeError) as error:
            raise Err(f"invalid [config] table: {error}")

    def process(self, batch: List[InputRecord]) -> List:
        return [self.one(record) for record in batch]

    def one(self, record: InputRecord):
        try:
            if record.value is None:
                raise ValueError("record has a null value")
            metric = parse(record.value)
            norm = field(field(field(field(metric, "system", dict), "cpu", dict), "total", dict), "norm", dict)
            pct = float(field(norm, "pct", Number))
            host = field(metric, "host", dict)
            timestamp = metric["@timestamp"] if isinstance(metric, dict) and "@timestamp" in metric else None
            if not isinstance(metric, dict) or "@timestamp" not in metric:
                raise ValueError("missing field `@timestamp`")
        except (ValueError, TypeError, RecursionError) as error:
            return Err(str(error))
        if pct <= WitWorld.threshold:
            return Ok([])
        host["timestamp"] = timestamp
        alert = dump(host).encode()
        return Ok([OutputRecord("alert", record.key, alert, record.headers, record.timestamp)])
