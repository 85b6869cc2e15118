"""cpu-peak in Python: the same processor as plugins/cpu-peak, output for
output, built against rill:processor@0.2.0 (timers).

Each metricbeat CPU record raises its host's peak system.cpu.total.norm.pct
in the `peaks` store; the manifest's timer calls `on_timer`, which emits
every host's peak since the last firing as
{"host":"<name>","peak":<pct>,"until":<ms>} to output `peak` and clears it.
"""

import json
import struct
from typing import List

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports import state
from wit_world.imports.types import InputRecord, OutputRecord

PEAKS = "peaks"


class WitWorld(wit_world.WitWorld):
    def init(self, config: str) -> None:
        pass

    def process(self, batch: List[InputRecord]) -> List:
        return [self.one(record) for record in batch]

    def one(self, record: InputRecord):
        try:
            metric = json.loads(record.value)
            host = metric["host"]["name"]
            pct = float(metric["system"]["cpu"]["total"]["norm"]["pct"])
        except (ValueError, KeyError, TypeError) as error:
            return Err(f"not a metricbeat CPU record: {error}")
        key = host.encode()
        old = state.get(PEAKS, key)
        if old is None or pct > struct.unpack(">d", old)[0]:
            state.put(PEAKS, key, struct.pack(">d", pct))
        return Ok([])

    def aggregate(self, batch: List) -> List:
        return [Err("cpu-peak declares no windows") for _ in batch]

    def emit(self, results: List) -> List:
        return [Err("cpu-peak declares no windows") for _ in results]

    def on_timer(self, tick) -> List[OutputRecord]:
        outputs = []
        for entry in state.range(PEAKS, None, None, 2**32 - 1):
            peak = struct.unpack(">d", entry.value)[0]
            value = json.dumps(
                {"host": entry.key.decode(), "peak": peak, "until": tick.time},
                separators=(",", ":"),
            )
            outputs.append(OutputRecord("peak", entry.key, value.encode(), [], None))
            state.delete(PEAKS, entry.key)
        return outputs
