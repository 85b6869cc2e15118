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
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Union

from ._types import Error, Header, _Marker


@dataclass
class ConsumedRecord:
    """A record read from an input topic, before any processor sees it.
    `key`/`value` None are Kafka's nulls."""

    topic: str
    partition: int = 0
    offset: int = 0
    timestamp: int = 0
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    headers: List[Header] = field(default_factory=list)

    def change(self, **changes) -> "ChangedRecord":
        """This record with `key`, `value`, `headers` or `timestamp`
        replaced, as the action that makes processors see it so."""
        kept = ChangedRecord(self.key, self.value, list(self.headers), self.timestamp)
        return replace(kept, **changes)


@dataclass
class ChangedRecord:
    """A consumed record as processors should see it instead (where it came
    from cannot change: that is what the host commits)."""

    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[Header]
    timestamp: int


@dataclass
class CommittedOffset:
    """An input position the host committed: the next offset to read."""

    topic: str
    partition: int
    offset: int


@dataclass
class SendRecord:
    """An output record about to be produced. `id` is the host's; the
    acknowledgement of this record carries the same. `partition` None: the
    producer's partitioner chooses (known at the ack)."""

    topic: str
    id: int = 0
    partition: Optional[int] = None
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    headers: List[Header] = field(default_factory=list)
    timestamp: Optional[int] = None

    def change(self, **changes) -> "ChangedSend":
        """This record with `key`, `value`, `headers` or `timestamp`
        replaced, as the action that produces it so."""
        kept = ChangedSend(self.key, self.value, list(self.headers), self.timestamp)
        return replace(kept, **changes)


@dataclass
class ChangedSend:
    """A record being sent as it should be produced instead (its topic and
    partition cannot change). `timestamp` None keeps the record's."""

    key: Optional[bytes]
    value: Optional[bytes]
    headers: List[Header]
    timestamp: Optional[int] = None


@dataclass
class RecordMetadata:
    """Where the brokers wrote a record."""

    partition: int
    offset: int
    timestamp: int


@dataclass
class Acknowledgement:
    """The brokers' answer to one sent record: `metadata` where it was
    written, or `error` why it was not (exactly one is set)."""

    id: int
    topic: str
    metadata: Optional[RecordMetadata] = None
    error: Optional[str] = None


#: Processors see the consumed record as read; the record is produced as emitted.
PASS = _Marker("PASS")
#: No processor sees the consumed record; its offset still commits. Not for sends.
DROP = _Marker("DROP")

#: What `on_consume` returns per record.
ConsumeAction = Union[_Marker, ChangedRecord]
#: What `on_send` returns per record.
SendAction = Union[_Marker, ChangedSend]


class Interceptor:
    """An interceptor's hooks, each a batch at a time, each passing
    everything through unless overridden. A subclass is built with the
    manifest's `[config]` dict when its `__init__` takes one."""

    def on_consume(self, records: List[ConsumedRecord]) -> List[ConsumeAction]:
        """Records read from the inputs, before the first processor: one
        action per record, in order (PASS, DROP or a ChangedRecord)."""
        return [PASS] * len(records)

    def on_commit(self, offsets: List[CommittedOffset]) -> None:
        """Input positions the host committed."""

    def on_send(self, records: List[SendRecord]) -> List[SendAction]:
        """Output records about to be produced: one action per record, in
        order (PASS or a ChangedSend; there is no drop)."""
        return [PASS] * len(records)

    def on_acknowledgement(self, acks: List[Acknowledgement]) -> None:
        """The brokers' answers to records this interceptor saw in `on_send`."""


def build(target: Any, config_json: str) -> Any:
    """An instance of `target` from the JSON config, as the world's `init`
    builds it (shared by the component and InterceptorDriver)."""
    try:
        config: Dict[str, Any] = json.loads(config_json) if config_json else {}
    except ValueError as error:
        raise Error(f"invalid [config] table: {error}") from None
    from ._processor import _arity

    return target(config) if _arity(target.__init__) > 1 else target()


def checked(event: str, actions: Any, count: int) -> list:
    """The actions a hook returned for `count` records (None: all PASS);
    the wrong number, or DROP for a send, is an Error, as the host treats
    it."""
    actions = [PASS] * count if actions is None else list(actions)
    if len(actions) != count:
        raise Error(f"{event} returned {len(actions)} actions for {count} records")
    for action in actions:
        allowed = (ChangedSend,) if event == "on_send" else (ChangedRecord,)
        if action is PASS or (action is DROP and event == "on_consume") or isinstance(action, allowed):
            continue
        raise Error(f"{event} returned {action!r}, which is not an action of that call")
    return actions


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


class JsonLines:
    """An append-only file of JSON objects, one per line (what the seed's
    logging interceptors write): lines are buffered by `push` and written
    with one write per batch by `flush`, so a line is never split between
    two writers appending to one file. Its directory must be granted
    (`[[grants]]` in plugin.toml)."""

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
        data = ("\n".join(self._pending) + "\n").encode("utf-8")
        self._pending.clear()
        try:
            view = memoryview(data)
            while view:  # an unbuffered write may be partial
                view = view[self._file.write(view):]
        except OSError as error:
            raise Error(f"writing the log: {error}") from None


def text(data: Optional[bytes]) -> Optional[str]:
    """Bytes as text for a log line: UTF-8 (invalid sequences replaced), or
    None for Kafka's null."""
    return None if data is None else data.decode("utf-8", "replace")
