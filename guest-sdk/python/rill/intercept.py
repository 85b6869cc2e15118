"""Write rill interceptors in plain Python: Kafka's consumer and producer
interceptors (`onConsume`, `onCommit`, `onSend`, `onAcknowledgement`) as a
component of the `rill:interceptor@0.1.0` world
(wit/interceptor/interceptor.wit, docs/interceptors.md); the Python side of
the Rust SDK's `rill_sdk::intercept`.

```python
from rill.intercept import DROP, PASS, Interceptor, interceptor

@interceptor
class KeyedOnly(Interceptor):
    def on_consume(self, records):
        return [PASS if r.key is not None else DROP for r in records]
```

Each hook takes a whole batch (as the host calls it) and every hook of the
`Interceptor` base class passes everything through, so a class writes only
the hooks its manifest's `events` lists. An exception from a hook (or a
wrong number of actions) is logged and counted by the host and changes
nothing: the batch goes on as if passed. `rill.testing.InterceptorDriver`
runs one natively in pytest."""

import json
import sys
from typing import Any, List, Optional

from ._intercept_types import (DROP, PASS, Acknowledgement, ChangedRecord, ChangedSend, CommittedOffset,
                               ConsumeAction, ConsumedRecord, Interceptor, RecordMetadata, SendAction,
                               SendRecord, build, checked)
from ._types import Error

__all__ = [
    "DROP", "PASS", "Acknowledgement", "ChangedRecord", "ChangedSend", "CommittedOffset", "ConsumeAction",
    "ConsumedRecord", "Interceptor", "JsonLines", "RecordMetadata", "SendAction", "SendRecord", "build",
    "checked", "interceptor", "packed", "text", "APPEND_CHUNK",
]


def interceptor(target: Any) -> Any:
    """Makes a class (an `Interceptor` subclass) the interceptor of this
    plugin: inside a component build it defines the module's `WitWorld`
    export class; natively it returns the class unchanged."""
    try:
        import wit_world  # noqa: F401  (only present in a component build)
    except ImportError:
        return target
    from . import _intercept_abi

    module = sys.modules.get(target.__module__)
    if module is not None:
        setattr(module, "WitWorld", _intercept_abi.world(target))
    return target


#: The most bytes WASI appends in one piece (`blocking-write-and-flush`
#: takes at most 4,096): a write within it is never split.
APPEND_CHUNK = 4096


def packed(lines: List[bytes], limit: int) -> List[bytes]:
    """`lines` joined into writes of whole lines of at most `limit` bytes
    each; a longer line is a write of its own."""
    writes: List[bytes] = []
    current: List[bytes] = []
    size = 0
    for line in lines:
        if current and size + len(line) > limit:
            writes.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        writes.append(b"".join(current))
    return writes


class JsonLines:
    """An append-only file of JSON objects, one per line (what the seed's
    logging interceptors write): lines are buffered by `push` and written by
    `flush` as whole lines packed into writes of at most `APPEND_CHUNK`
    bytes. WASI appends a write in pieces of at most 4 KiB, so a write
    within one piece lands whole between other instances' appends to the
    same file (a longer line goes alone and may interleave). Its directory
    must be granted (`[[grants]]` in plugin.toml)."""

    def __init__(self, path: str):
        try:
            self._file = open(path, "ab", buffering=0)
        except OSError as error:
            raise Error(f"cannot open {path} for appending (is its directory granted?): {error}") from None
        self._pending: List[str] = []

    def push(self, obj: Any) -> None:
        """Buffers `obj` as one line (compact JSON, as serde_json writes)."""
        self._pending.append(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))

    def flush(self) -> None:
        """Writes the buffered lines in one call."""
        if not self._pending:
            return
        lines = [(line + "\n").encode("utf-8") for line in self._pending]
        self._pending.clear()
        try:
            for chunk in packed(lines, APPEND_CHUNK):
                view = memoryview(chunk)
                while view:  # an unbuffered write may be partial
                    view = view[self._file.write(view):]
        except OSError as error:
            raise Error(f"writing the log: {error}") from None


def text(data: Optional[bytes]) -> Optional[str]:
    """Bytes as text for a log line: UTF-8 (invalid sequences replaced), or
    None for Kafka's null."""
    return None if data is None else data.decode("utf-8", "replace")
