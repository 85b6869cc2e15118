"""The plain data a processor sees and returns, named as in `rill-sdk` (the
Rust SDK): Record (with its Fields), Header, Output, Tick, Clock, Window,
WindowResult, and Error/StateError. Nothing here knows about the component
ABI, so the same objects serve the component and `rill.testing.Driver`."""

import enum
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


class Error(Exception):
    """Why a record could not be processed: raise it (or any exception) and
    the record goes to the dead-letter topic with this message."""


def message_of(error: BaseException) -> str:
    """The dead-letter message for an exception raised by processor code."""
    if isinstance(error, Error):
        return str(error)
    if isinstance(error, KeyError):
        return f"missing key {error}"
    text = str(error)
    return text if text else type(error).__name__


class StateError(Error):
    """A state call failed: the name is not a store or table declared in the
    manifest, or the host could not read or write its storage."""


@dataclass
class Header:
    """A Kafka record header; Kafka allows a header without a value."""

    key: str
    value: Optional[bytes] = None


def _text(data: Optional[bytes], what: str, errors: str) -> str:
    """`data` as UTF-8 text, failing the record when it is null."""
    if data is None:
        raise Error(f"record has a null {what}")
    return data.decode("utf-8", errors)


#: What `record.value` says when `[fields]` left the value in the host.
VALUE_OMITTED = ("the value was not passed to this processor: its manifest declares [fields], so the host "
                 "hands over only those; set input-value = \"bytes\" in plugin.toml to read record.value too")

#: What field access says when the manifest declares no `[fields]`.
NO_FIELDS = ("this processor's manifest declares no [fields]: add them to plugin.toml "
             "(name = \"path.in.the.value\") to read record.field(name)")


class _Marker:
    """A named singleton: OMITTED, INPUT, REQUIRED."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"rill.{self.name}"


#: A record's value that the host did not copy into the instance.
OMITTED = _Marker("OMITTED")
#: An output's value that is the input record's value, unchanged (the host
#: reuses the bytes it holds: WIT `output-value::input`).
INPUT = _Marker("INPUT")
#: A field asked for without a default.
_REQUIRED = _Marker("REQUIRED")
#: A field the path does not reach.
MISSING = _Marker("MISSING")


class Fields:
    """A record's `[fields]`, by the manifest's names: `fields.pct`,
    `fields["pct"]`, `"pct" in fields` (the path exists in the value).
    Numbers are float, strings str, booleans bool, null None, objects,
    arrays and fields declared `as = "raw"` rill.RawJson. A missing field
    raises Error("missing field `pct`"), as does reading any field of a
    value that is null or not JSON (with the host's message)."""

    __slots__ = ("_index", "_values", "_error")

    def __init__(self, index: Dict[str, int], values: Optional[List[Any]], error: Optional[str] = None):
        self._index = index
        self._values = values
        self._error = error

    def get(self, name: str, default: Any = _REQUIRED) -> Any:
        """Field `name`; when it is missing, `default` if given, else Error."""
        try:
            i = self._index[name]
        except KeyError:
            declared = ", ".join(self._index) or "none"
            raise Error(f"'{name}' is not a field declared in the manifest's [fields] (declared: {declared})") from None
        if self._values is None:
            raise Error(self._error)
        found = self._values[i]
        if found is MISSING:
            if default is _REQUIRED:
                raise Error(f"missing field `{name}`")
            return default
        return found

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return self.get(name, MISSING) is not MISSING

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        if self._values is None:
            return f"Fields(error={self._error!r})"
        return "Fields(" + ", ".join(f"{n}={v!r}" for n, v in zip(self._index, self._values)) + ")"


class Record:
    """One input record. `key` and `value` are the raw bytes (None is Kafka's
    null); `text()` and `json()` decode the value, raising (so dead-lettering
    the record) when it is null or malformed. With `[fields]` in the
    manifest, `field(name)` / `fields.name` are the declared fields, and the
    value stays in the host unless the manifest sets `input-value =
    "bytes"` (reading it then raises Error saying so)."""

    __slots__ = ("topic", "partition", "offset", "timestamp", "key", "_value", "headers", "_fields")

    def __init__(self, topic: str = "", partition: int = 0, offset: int = 0, timestamp: int = 0,
                 key: Optional[bytes] = None, value: Any = None, headers: Optional[List[Header]] = None,
                 fields: Optional[Fields] = None):
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self._value = value
        self.headers = headers if headers is not None else []
        self._fields = fields

    @property
    def value(self) -> Optional[bytes]:
        """The value's bytes (None: Kafka's null)."""
        if self._value is OMITTED:
            raise Error(VALUE_OMITTED)
        return self._value

    @value.setter
    def value(self, value: Optional[bytes]) -> None:
        self._value = value

    @property
    def fields(self) -> Fields:
        """The manifest's `[fields]` of this record."""
        if self._fields is None:
            raise Error(NO_FIELDS)
        return self._fields

    def field(self, name: str, default: Any = _REQUIRED) -> Any:
        """Field `name` of the manifest's `[fields]`; when the path does not
        exist in the value, `default` if given, else Error."""
        if self._fields is None:
            raise Error(NO_FIELDS)
        return self._fields.get(name, default)

    def text(self, errors: str = "strict") -> str:
        """The value as UTF-8 text (`errors="replace"` decodes like Java's
        String serde does, with U+FFFD for bad bytes)."""
        return _text(self.value, "value", errors)

    def json(self) -> Any:
        """The value parsed as JSON."""
        value = self.value
        if value is None:
            raise Error("record has a null value")
        return json.loads(value)

    def key_text(self, errors: str = "strict") -> str:
        """The key as UTF-8 text."""
        return _text(self.key, "key", errors)

    def header(self, key: str) -> Optional[bytes]:
        """The value of the last header named `key`, if any."""
        found = None
        for header in self.headers:
            if header.key == key:
                found = header.value
        return found

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Record) and all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __repr__(self) -> str:
        return (f"Record(topic={self.topic!r}, partition={self.partition}, offset={self.offset}, "
                f"timestamp={self.timestamp}, key={self.key!r}, value={self._value!r}, headers={self.headers!r})")


#: Separates an output's name from the topic chosen for one record in
#: `Output.output` ("by-host:alerts.web-1"), for an output the manifest
#: declares with `topic-pattern`. Neither an output name nor a Kafka topic
#: name can hold it.
TOPIC_SEPARATOR = ":"


@dataclass
class Output:
    """One record to emit, addressed to a named output of the manifest (not
    a topic; for a `topic-pattern` output, `name:topic`, see `topic`). `value` is bytes, None (null) or rill's INPUT marker (the
    input record's value, which the host reuses; `rill.testing.Driver`
    turns it into those bytes). `timestamp` None keeps the input record's
    (or, from a timer, the firing's) time."""

    output: str
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    headers: List[Header] = field(default_factory=list)
    timestamp: Optional[int] = None

    @property
    def output_name(self) -> str:
        """The declared output's name, without a per-record topic."""
        return self.output.split(TOPIC_SEPARATOR, 1)[0]

    @property
    def topic(self) -> Optional[str]:
        """The topic chosen for this record (`ctx.emit(..., topic=...)`), if any."""
        parts = self.output.split(TOPIC_SEPARATOR, 1)
        return parts[1] if len(parts) == 2 else None

    def text(self) -> str:
        """The value as UTF-8 text (for tests)."""
        return _text(self.value, "value", "strict")

    def json(self) -> Any:
        """The value parsed as JSON (for tests)."""
        return json.loads(_text(self.value, "value", "strict"))

    def key_text(self) -> str:
        """The key as UTF-8 text (for tests)."""
        return _text(self.key, "key", "strict")


class Clock(enum.Enum):
    """Which time a timer follows: stream time (the largest timestamp
    processed) or the host's wall clock."""

    STREAM_TIME = "stream-time"
    WALL_CLOCK = "wall-clock"


@dataclass
class Tick:
    """One firing of a timer: its name, clock and the time (epoch ms) it is
    for."""

    name: str
    clock: Clock
    time: int


@dataclass(frozen=True)
class Window:
    """One window of one key in a windowed store: `start` inclusive, `end`
    exclusive for time windows and inclusive for sessions (epoch ms)."""

    store: str
    key: bytes
    start: int
    end: int


@dataclass
class JoinResult:
    """One result of a stream-stream join (`[joins.<name>]`) to turn into
    outputs: a matched pair, or an unmatched record of an outer side once
    its window closed. `left` / `right` are the values as bytes (None: no
    record on that side); `key` is None only for a keyless record;
    `timestamp` is the later of the two records' times, or the unmatched
    one's."""

    join: str
    key: Optional[bytes]
    left: Optional[bytes]
    right: Optional[bytes]
    timestamp: int

    def left_text(self, errors: str = "strict") -> Optional[str]:
        """The left value as UTF-8 text (None: no left record)."""
        return None if self.left is None else _text(self.left, "left value", errors)

    def right_text(self, errors: str = "strict") -> Optional[str]:
        """The right value as UTF-8 text (None: no right record)."""
        return None if self.right is None else _text(self.right, "right value", errors)


@dataclass
class WindowResult:
    """A window's aggregate to turn into outputs. `value` is decoded with the
    store's codec; None for a session merged into a later one."""

    window: Window
    value: Any
    timestamp: int
