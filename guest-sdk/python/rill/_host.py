"""Where state, timer and log calls go: the component's imports (set by the
hidden ABI module) or the in-memory host of `rill.testing.Driver`. One
instance runs one processor on one thread, so a module global is enough."""

from typing import List, Optional, Tuple


class Host:
    """The calls a processor makes into the host; raising StateError (or
    Error for timers) the way the WIT functions fail."""

    def get(self, store: str, key: bytes) -> Optional[bytes]:
        """The value under `key` in `store`."""
        raise NotImplementedError

    def put(self, store: str, key: bytes, value: bytes) -> None:
        """Stores `value` under `key`."""
        raise NotImplementedError

    def delete(self, store: str, key: bytes) -> None:
        """Removes `key`."""
        raise NotImplementedError

    def range(self, store: str, start: Optional[bytes], end: Optional[bytes], limit: int) -> List[Tuple[bytes, bytes]]:
        """Entries with start <= key < end in byte order, at most `limit`."""
        raise NotImplementedError

    def lookup(self, table: str, key: bytes) -> Optional[bytes]:
        """The current value of `key` in a table input."""
        raise NotImplementedError

    def schedule(self, name: str, clock, interval_ms: int, aligned: bool) -> None:
        """Schedules timer `name`."""
        raise NotImplementedError

    def cancel(self, name: str) -> None:
        """Stops timer `name`."""
        raise NotImplementedError

    def log(self, level: str, message: str) -> None:
        """Writes one line to the host log."""
        raise NotImplementedError


class _Outside(Host):
    """The host before any: a processor called outside the component and
    outside a Driver has no state."""

    def _no(self, *args, **kwargs):
        from ._types import Error

        raise Error("no rill host: run the processor in its component or in rill.testing.Driver")

    get = put = delete = range = lookup = schedule = cancel = _no

    def log(self, level, message):
        print(f"[{level}] {message}")


current: Host = _Outside()


def install(host: Host) -> None:
    """Routes every host call to `host`."""
    global current
    current = host
