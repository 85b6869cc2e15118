"""The interceptor world's plain data and rules, apart from the ABI glue
that converts them (`_intercept_abi`) and the author-facing module that
re-exports them (`rill.intercept`): records, actions, the `Interceptor`
base class, how an instance is built from `[config]` and how a hook's
actions are checked. Both other modules import this one, never each
other's back."""

import json
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
