"""The plain data a processor sees and returns, named as in `rill-sdk` (the
Rust SDK): Record, Header, Output, Tick, Clock, Window, WindowResult, and
Error/StateError. Nothing here knows about the component ABI, so the same
objects serve the component and `rill.testing.Driver`."""

import enum
import json
from dataclasses import dataclass, field
from typing import Any, List, Optional


class Error(Exception):
    """Why a record could not be processed: raise it (or any exception) and
    the record goes to the dead-letter topic with this message."""


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


@dataclass
class Record:
    """One input record. `key` and `value` are the raw bytes (None is Kafka's
    null); `text()` and `json()` decode the value, raising (so dead-lettering
    the record) when it is null or malformed."""

    topic: str = ""
    partition: int = 0
    offset: int = 0
    timestamp: int = 0
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    headers: List[Header] = field(default_factory=list)

    def text(self, errors: str = "strict") -> str:
        """The value as UTF-8 text (`errors="replace"` decodes like Java's
        String serde does, with U+FFFD for bad bytes)."""
        return _text(self.value, "value", errors)

    def json(self) -> Any:
        """The value parsed as JSON."""
        if self.value is None:
            raise Error("record has a null value")
        return json.loads(self.value)

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


@dataclass
class Output:
    """One record to emit, addressed to a named output of the manifest (not
    a topic). `timestamp` None keeps the input record's (or, from a timer,
    the firing's) time."""

    output: str
    key: Optional[bytes] = None
    value: Optional[bytes] = None
    headers: List[Header] = field(default_factory=list)
    timestamp: Optional[int] = None

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
class WindowResult:
    """A window's aggregate to turn into outputs. `value` is decoded with the
    store's codec; None for a session merged into a later one."""

    window: Window
    value: Any
    timestamp: int
