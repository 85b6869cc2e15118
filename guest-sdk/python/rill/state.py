"""Typed handles on the task's state: a `Store` per store declared in the
manifest (`stores = [...]`) and a read-only `Table` per table or global-table
input, named by its topic. Keys and values go through codecs (`rill.codecs`)
so a processor reads and writes floats, text or JSON instead of bytes.

`get`, `put`, `delete` and `range` are the Rust SDK's `Store` methods; the
dict-like extras (`store[k]`, `in`, `items()`, `clear()`) page through
`range` underneath."""

from typing import Any, Iterator, List, Optional, Tuple

from . import _host
from .codecs import Bytes, Codec, Utf8

_PAGE = 1000
_MISSING = object()


class Store:
    """One declared store, with a key codec (UTF-8 text unless declared) and
    a value codec."""

    def __init__(self, name: str, value: Codec = Bytes, key: Codec = Utf8):
        self.name = name
        self.value_codec = value
        self.key_codec = key

    def _key(self, key: Any) -> bytes:
        return key if isinstance(key, bytes) else self.key_codec.encode(key)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value under `key`, or `default` when there is none."""
        data = _host.current.get(self.name, self._key(key))
        return default if data is None else self.value_codec.decode(data)

    def put(self, key: Any, value: Any) -> None:
        """Stores `value` under `key`, replacing what was there."""
        _host.current.put(self.name, self._key(key), self.value_codec.encode(value))

    def delete(self, key: Any) -> None:
        """Removes `key`; removing a missing key is not an error."""
        _host.current.delete(self.name, self._key(key))

    def range(self, start: Any = None, end: Any = None, limit: int = _PAGE) -> List[Tuple[Any, Any]]:
        """Entries with start <= key < end in key byte order (None leaves a
        side open), at most `limit`, decoded."""
        s = None if start is None else self._key(start)
        e = None if end is None else self._key(end)
        return [
            (self.key_codec.decode(k), self.value_codec.decode(v))
            for k, v in _host.current.range(self.name, s, e, min(limit, 2**32 - 1))
        ]

    def _raw_items(self) -> Iterator[Tuple[bytes, bytes]]:
        start = None
        while True:
            page = _host.current.range(self.name, start, None, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            start = page[-1][0] + b"\x00"

    def items(self) -> List[Tuple[Any, Any]]:
        """Every entry, in key byte order (a snapshot, so deleting while
        iterating is fine)."""
        return [(self.key_codec.decode(k), self.value_codec.decode(v)) for k, v in self._raw_items()]

    def keys(self) -> List[Any]:
        """Every key, in byte order."""
        return [k for k, _ in self.items()]

    def clear(self) -> None:
        """Deletes every entry."""
        for k, _ in list(self._raw_items()):
            _host.current.delete(self.name, k)

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def __delitem__(self, key: Any) -> None:
        self.delete(key)

    def __contains__(self, key: Any) -> bool:
        return _host.current.get(self.name, self._key(key)) is not None


class Table:
    """A table or global-table input, named by its topic: read-only."""

    def __init__(self, topic: str, value: Codec = Bytes, key: Codec = Utf8):
        self.topic = topic
        self.value_codec = value
        self.key_codec = key

    def get(self, key: Any, default: Any = None) -> Any:
        """The current value of `key`, or `default`."""
        k = key if isinstance(key, bytes) else self.key_codec.encode(key)
        data = _host.current.lookup(self.topic, k)
        return default if data is None else self.value_codec.decode(data)

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: Any) -> bool:
        return self.get(key, _MISSING) is not _MISSING


def lookup(topic: str, key: bytes) -> Optional[bytes]:
    """The raw value of `key` in table `topic` (the Rust SDK's
    `state::lookup`)."""
    return _host.current.lookup(topic, key)
