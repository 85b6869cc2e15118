"""{{name}}: forwards records whose value is longer than `min-length` bytes
to output `long` (Kafka Streams' filter). Replace `one` with your logic;
`python -m unittest test_app` runs it natively (after generating the
bindings)."""

import json
from typing import List

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports.types import InputRecord, OutputRecord


class WitWorld(wit_world.WitWorld):
    min_length = 5

    def init(self, config: str) -> None:
        try:
            WitWorld.min_length = int(json.loads(config)["min-length"])
        except (ValueError, KeyError, TypeError) as error:
            raise Err(f"invalid [config] table: {error}")

    def process(self, batch: List[InputRecord]) -> List:
        return [self.one(record) for record in batch]

    def one(self, record: InputRecord):
        if record.value is None:
            return Err("record has a null value")
        if len(record.value) <= WitWorld.min_length:
            return Ok([])
        return Ok([OutputRecord("long", record.key, record.value, record.headers, record.timestamp)])

    # Windows and timers (rill:processor@0.2.0). Unused here: declare
    # `[windows.<name>]` or `[[timers]]` in plugin.toml to get these calls.
    def aggregate(self, batch: List) -> List:
        return [Err("this processor declares no windows") for _ in batch]

    def emit(self, results: List) -> List:
        return [Err("this processor declares no windows") for _ in results]

    def on_timer(self, tick) -> List[OutputRecord]:
        raise Err("this processor has no timers")
