"""rill: write rill stream processors in plain Python.

```python
from rill import processor, Record, Context

@processor
def copy(record: Record, ctx: Context):
    ctx.emit("copy")            # key, value and headers of the input record
```

A raised exception dead-letters that record with its message; the rest of
the batch goes on. `ctx.store(name)` is a typed store, `@p.on_timer(name)`
a timer handler, `@p.aggregate` / `@p.emit` windowed aggregation, as in the
Rust SDK (`rill-sdk`). With `[fields]` in plugin.toml, the host reads
those paths out of each JSON value and `record.field("pct")` /
`record.fields.pct` are them (`rill.RawJson` for raw slices, which
`rill.with_member` splices without parsing). `rill.testing.Driver` runs a
processor in pytest without a component or a broker.
"""

from . import codecs, log
from ._processor import Context, Definition, processor
from ._types import (TOPIC_SEPARATOR, Clock, Error, Fields, Header, JoinResult, Output, Record, StateError, Tick, Window,
                     WindowResult)
from .raw import RawJson, with_member
from .state import Store, Table

#: The illustration's name for a timer firing; the same class as Tick.
Timer = Tick

__all__ = [
    "Clock", "Context", "Definition", "Error", "Fields", "Header", "JoinResult", "Output", "RawJson", "Record", "StateError",
    "Store", "Table", "Tick", "Timer", "TOPIC_SEPARATOR", "Window", "WindowResult", "codecs", "log", "processor",
    "with_member",
]
