"""Run a processor natively in pytest: no component, no bindings, no broker
(the Python side of the Rust SDK's `rill_sdk::testing::TestDriver`, in the
spirit of Kafka Streams' TopologyTestDriver).

```python
from rill.testing import Driver
from app import copy

def test_copies():
    d = Driver(copy, manifest="plugin.toml")      # next to app.py
    d.send("stream_log", key="k", value="hello")
    assert [o.text() for o in d.outputs("copy")] == ["hello"]
```

The Driver reads the manifest's `[config]`, `[outputs]`, `stores`, table
inputs, `[[timers]]` and `[fields]` (reading each record's fields out of its
JSON value as the host does), keeps stores and tables in memory, fails a record
that emits to an undeclared output (as the host does), keeps dead letters
in `dead_letters`, and fires timers when stream time (the largest
timestamp processed without an error) or the wall clock passes them.
Window assignment is left to the host: `aggregate` and `emit_window` call
a processor's window handlers directly.

`InterceptorDriver` does the same for an interceptor (`rill.intercept`):
built from its manifest's `[config]`, handed batches as the host hands
them (`consume`, `commit`, `send` numbering ids, `acknowledge`).
"""

import bisect
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Tuple

from . import _fields, _host
from ._processor import Definition
from ._types import message_of
from ._types import INPUT, OMITTED, TOPIC_SEPARATOR, Clock, Error, Header, JoinResult, Output, Record, StateError, Tick
from .codecs import to_bytes
from .intercept import Acknowledgement, CommittedOffset, ConsumedRecord, SendRecord, build, checked


@dataclass
class DeadLetter:
    """A record (or timer firing) that failed, and why."""

    record: Optional[Record]
    message: str


class _Schedule:
    """When a timer fires: the Rust SDK's `time::Schedule` (aligned firings
    at multiples of the interval; a jump past several fires once, for the
    latest)."""

    def __init__(self, clock: Clock, interval: int, aligned: bool):
        self.clock = clock
        self.interval = max(1, interval)
        self.aligned = aligned
        self.next: Optional[int] = None

    def due(self, now: int) -> Optional[int]:
        if self.next is None:
            if self.aligned:
                self.next = (now // self.interval) * self.interval + (0 if now % self.interval == 0 else self.interval)
            else:
                self.next = now
        if now < self.next:
            return None
        due = self.next + (now - self.next) // self.interval * self.interval
        self.next = due + self.interval
        return due


_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: Any) -> int:
    """A manifest duration ("60s", "10m", "500ms", or ms) in milliseconds."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h|d)\s*", str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


class _MemoryHost(_host.Host):
    """Stores and tables in memory, checked against the manifest."""

    def __init__(self, driver: "Driver"):
        self.driver = driver

    def _store(self, name: str) -> Dict[bytes, bytes]:
        if name not in self.driver.state:
            raise StateError(f"'{name}' is not a store or table declared in the manifest")
        return self.driver.state[name]

    def get(self, store, key):
        return self._store(store).get(bytes(key))

    def put(self, store, key, value):
        self._store(store)[bytes(key)] = bytes(value)

    def delete(self, store, key):
        self._store(store).pop(bytes(key), None)

    def range(self, store, start, end, limit):
        keys = sorted(self._store(store))
        lo = 0 if start is None else bisect.bisect_left(keys, start)
        hi = len(keys) if end is None else bisect.bisect_left(keys, end)
        data = self._store(store)
        return [(k, data[k]) for k in keys[lo:hi][:limit]]

    def lookup(self, table, key):
        if table not in self.driver.tables:
            raise StateError(f"'{table}' is not a store or table declared in the manifest")
        return self.driver.tables[table].get(bytes(key))

    def schedule(self, name, clock, interval_ms, aligned):
        self.driver.timers[name] = _Schedule(clock, interval_ms, aligned)

    def cancel(self, name):
        self.driver.timers.pop(name, None)

    def log(self, level, message):
        self.driver.logs.append((level, message))


class Driver:
    """One processor instance (one task) in memory.

    `manifest` is a plugin.toml path (relative paths are tried from the
    working directory, then from the processor's module's directory);
    without one, `config`, `outputs`, `stores`, `tables`, `timers` (name
    -> (Clock, interval ms, aligned)), `fields` (the `[fields]` table as a
    dict) and `input_value` ("bytes") say the same. `config` and `fields`
    override the manifest's. With `[fields]`, each record sent gets its
    fields read from its JSON value as the host reads them, its value only
    with `input-value = "bytes"`, and an output forwarding the input's value
    gets the input's bytes. Construction runs `init`; a refusal raises
    rill.Error."""

    def __init__(self, definition: Definition, manifest: Optional[str] = None, config: Optional[dict] = None,
                 outputs: Optional[Dict[str, str]] = None, stores: Optional[List[str]] = None,
                 tables: Optional[List[str]] = None, timers: Optional[Dict[str, tuple]] = None,
                 fields: Optional[Dict[str, Any]] = None, input_value: Optional[str] = None):
        if not isinstance(definition, Definition):
            raise TypeError("Driver takes a processor made with @rill.processor")
        self.definition = definition
        table = self._manifest(manifest) if manifest else {}
        declared = fields if fields is not None else table.get("fields")
        self.fields = None if declared is None else _fields.declared(declared)
        self._field_index = {f.name: i for i, f in enumerate(self.fields or [])}
        self.input_value = input_value if input_value is not None else table.get("input-value")
        self.outputs_declared: Optional[Dict[str, str]] = dict(table.get("outputs", {})) if manifest else None
        if outputs is not None:
            self.outputs_declared = dict(outputs)
        for name in table.get("windows", {}):
            if self.outputs_declared is not None:
                self.outputs_declared.setdefault(name, f"<window store {name}>")
        declared_stores = list(table.get("stores", [])) + list(stores or [])
        self.state: Dict[str, Dict[bytes, bytes]] = {name: {} for name in declared_stores}
        table_topics = [i["topic"] for i in table.get("inputs", []) if i.get("kind") in ("table", "global-table")]
        self.tables: Dict[str, Dict[bytes, bytes]] = {t: {} for t in table_topics + list(tables or [])}
        self.timers: Dict[str, _Schedule] = {}
        for timer in table.get("timers", []):
            clock = Clock.WALL_CLOCK if timer.get("clock") == "wall-clock" else Clock.STREAM_TIME
            self.timers[timer["name"]] = _Schedule(clock, duration_ms(timer["interval"]), bool(timer.get("aligned")))
        for name, (clock, interval, aligned) in (timers or {}).items():
            self.timers[name] = _Schedule(clock, interval, aligned)
        self.stream_time: Optional[int] = None
        self.emitted: List[Output] = []
        self.dead_letters: List[DeadLetter] = []
        self.logs: List[tuple] = []
        self._offsets: Dict[tuple, int] = {}
        self._host = _MemoryHost(self)
        with self._installed():
            self.definition.run_init(json.dumps(config if config is not None else table.get("config", {})))

    def _manifest(self, path: str) -> dict:
        return _read_manifest(path, self.definition.module_file)

    def _installed(self):
        driver = self

        class Installed:
            def __enter__(self):
                self.previous = _host.current
                _host.install(driver._host)

            def __exit__(self, *exc):
                _host.install(self.previous)

        return Installed()

    def _check(self, outputs: List[Output]) -> None:
        if self.outputs_declared is None:
            return
        for output in outputs:
            name, topic = output.output_name, output.topic
            declared = self.outputs_declared.get(name)
            if declared is None:
                raise Error(f"output '{name}' is not declared in the manifest's [outputs]")
            pattern = declared.get("topic-pattern") if isinstance(declared, dict) else None
            if pattern is None and topic is not None:
                raise Error(f"output '{name}' has a fixed topic; it takes no topic per record ('{topic}')")
            if pattern is not None and topic is None:
                raise Error(f"output '{name}' chooses its topic per record: emit with topic=...")
            if pattern is not None and not re.fullmatch(pattern, topic):
                raise Error(f"topic '{topic}' of output '{name}' does not match its topic-pattern \"{pattern}\"")

    def send(self, topic: str, value: Any = None, key: Any = None, headers: Any = (), timestamp: int = 0,
             partition: int = 0) -> List[Output]:
        """Processes one record (key and value as `ctx.emit` takes them) and
        returns its outputs; a failure returns [] and adds a DeadLetter.
        Stream-time timers then fire as the host fires them."""
        offset = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = offset + 1
        if isinstance(headers, dict):
            headers = list(headers.items())
        record = Record(topic, partition, offset, timestamp, to_bytes(key), to_bytes(value),
                        [h if isinstance(h, Header) else Header(h[0], to_bytes(h[1])) for h in headers])
        with self._installed():
            try:
                outputs = [replace(o, value=record.value) if o.value is INPUT else o
                           for o in self.definition.run_process(self._as_processed(record))]
                self._check(outputs)
            except Exception as error:
                self.dead_letters.append(DeadLetter(record, message_of(error)))
                return []
        self.emitted.extend(outputs)
        if self.stream_time is None or timestamp > self.stream_time:
            self.stream_time = timestamp
        self._fire(Clock.STREAM_TIME, self.stream_time)
        return outputs

    def _as_processed(self, record: Record) -> Record:
        """`record` as the host passes it: with `[fields]`, its Fields, and
        its value only when `input-value = "bytes"`."""
        if self.fields is None:
            return record
        value = record.value
        if value is not None and self.input_value != "bytes":
            value = OMITTED
        found = _fields.read(record.value, self.fields, self._field_index)
        return Record(record.topic, record.partition, record.offset, record.timestamp, record.key, value,
                      record.headers, found)

    def advance_stream_time(self, time: int) -> List[Output]:
        """Moves stream time forward to `time` (as idle-advance would) and
        returns what the timers due emitted."""
        if self.stream_time is None or time > self.stream_time:
            self.stream_time = time
        return self._fire(Clock.STREAM_TIME, self.stream_time)

    def advance_wall_clock(self, now: int) -> List[Output]:
        """Sets the wall clock to `now` and returns what wall-clock timers
        due emitted."""
        return self._fire(Clock.WALL_CLOCK, now)

    def _fire(self, clock: Clock, now: int) -> List[Output]:
        fired = []
        for name, schedule in list(self.timers.items()):
            if schedule.clock != clock:
                continue
            due = schedule.due(now)
            if due is None:
                continue
            with self._installed():
                try:
                    outputs = self.definition.run_timer(Tick(name, clock, due))
                    self._check(outputs)
                except Exception as error:
                    self.dead_letters.append(DeadLetter(None, message_of(error)))
                    continue
            for output in outputs:
                if output.timestamp is None:
                    output.timestamp = due
            fired.extend(outputs)
        self.emitted.extend(fired)
        return fired

    def aggregate(self, store: str, key: Any, start: int, end: int, records: List[Record],
                  current: Any = None, merged: Any = (), running: bool = False) -> List[Any]:
        """Calls the window handlers on one aggregation (`current` and
        `merged` as decoded values) and returns the decoded aggregates."""
        value_codec = self.definition.windows.get(store)
        from .codecs import Json

        value_codec = value_codec or Json
        with self._installed():
            steps = self.definition.run_aggregate(
                store, to_bytes(key), start, end, None if current is None else value_codec.encode(current),
                [value_codec.encode(m) for m in merged], list(records), running)
        return [value_codec.decode(s) for s in steps]

    def emit_window(self, store: str, key: Any, start: int, end: int, value: Any, timestamp: int) -> List[Output]:
        """Calls the `emit` handler on one window result (`value` decoded)."""
        from .codecs import Json

        value_codec = self.definition.windows.get(store) or Json
        with self._installed():
            outputs = self.definition.run_emit(store, to_bytes(key), start, end,
                                               None if value is None else value_codec.encode(value), timestamp)
            self._check(outputs)
        self.emitted.extend(outputs)
        return outputs

    def join(self, join: str, key: Any, left: Any, right: Any, timestamp: int) -> List[Output]:
        """Calls the `join` handler on one stream-stream join result (key
        and values as `ctx.emit` takes them; None: no record on that side)."""
        result = JoinResult(join, to_bytes(key), to_bytes(left), to_bytes(right), timestamp)
        with self._installed():
            outputs = self.definition.run_join(result)
            self._check(outputs)
        self.emitted.extend(outputs)
        return outputs

    def outputs(self, name: Optional[str] = None) -> List[Output]:
        """Everything emitted so far (to output `name` only, if given)."""
        return [o for o in self.emitted if name is None or o.output == name]

    def store(self, name: str):
        """The processor's typed handle on store `name`, reading this
        Driver's memory (for assertions and seeding)."""
        handle = self.definition.store(name)
        driver = self

        class Bound:
            def __getattr__(self, attr):
                member = getattr(handle, attr)
                if not callable(member):
                    return member

                def call(*args, **kwargs):
                    with driver._installed():
                        return member(*args, **kwargs)

                return call

            def __getitem__(self, key):
                return self.__getattr__("__getitem__")(key)

            def __contains__(self, key):
                return self.__getattr__("__contains__")(key)

        return Bound()

    def set_table(self, topic: str, key: Any, value: Any) -> None:
        """Sets (None: removes) `key` of table input `topic`."""
        if topic not in self.tables:
            raise StateError(f"'{topic}' is not a table input of the manifest")
        k = to_bytes(key)
        if value is None:
            self.tables[topic].pop(k, None)
        else:
            self.tables[topic][k] = to_bytes(value)


def _module_file(target: Any) -> Optional[str]:
    """The file of the module defining `target`, if any."""
    return getattr(sys.modules.get(getattr(target, "__module__", ""), None), "__file__", None)


def _read_manifest(path: str, module_file: Optional[str]) -> dict:
    """The plugin.toml at `path`, tried as given and, when relative, next
    to `module_file` (the plugin's app.py)."""
    candidates = [path]
    if not os.path.isabs(path) and module_file:
        candidates.append(os.path.join(os.path.dirname(module_file), path))
    for candidate in candidates:
        if os.path.exists(candidate):
            with open(candidate, "rb") as f:
                return tomllib.load(f)
    raise FileNotFoundError(f"no manifest at {' or '.join(candidates)}")


class InterceptorDriver:
    """Builds `target` from the manifest's `[config]` (`manifest`: a
    plugin.toml path, relative paths also tried next to the module defining
    `target`) with `config` entries overriding it, as the host's `init`
    does; then hands it batches. A hook's exception propagates (the host
    would log it and apply nothing), and so does the wrong number of
    actions or an action the call does not take (DROP for a send)."""

    def __init__(self, target: Any, manifest: Optional[str] = None, config: Optional[dict] = None):
        table = _read_manifest(manifest, _module_file(target)) if manifest else {}
        if manifest and table.get("kind") != "interceptor":
            raise ValueError(f"{manifest} is not an interceptor's manifest: it needs kind = \"interceptor\"")
        self.events: Optional[List[str]] = table.get("events") if manifest else None
        merged = {**table.get("config", {}), **(config or {})}
        self.interceptor = build(target, json.dumps(merged))
        self._next_offset = 0
        self._next_id = 0

    def _listed(self, event: str) -> None:
        """A hook the manifest's `events` leaves out is never called by the
        host; calling it here is a test's mistake."""
        if self.events is not None and event not in self.events:
            raise ValueError(f"the manifest's events {self.events} do not list \"{event}\": the host never calls it")

    def consume(self, records: List[ConsumedRecord]) -> list:
        """`on-consume` of `records`; a record whose offset is 0 gets the
        next offset in turn, as if read one after another. Returns the
        actions."""
        self._listed("consume")
        batch = []
        for record in records:
            if record.offset == 0:
                record = replace(record, offset=self._next_offset)
            self._next_offset = record.offset + 1
            batch.append(record)
        return checked("on_consume", self.interceptor.on_consume(batch), len(batch))

    def commit(self, offsets: List[CommittedOffset]) -> None:
        """`on-commit` of `offsets`."""
        self._listed("commit")
        self.interceptor.on_commit(list(offsets))

    def send(self, records: List[SendRecord]) -> Tuple[list, List[int]]:
        """`on-send` of `records`, numbered as the host numbers them;
        returns the actions and the ids given."""
        self._listed("send")
        batch = []
        for record in records:
            batch.append(replace(record, id=self._next_id))
            self._next_id += 1
        actions = checked("on_send", self.interceptor.on_send(batch), len(batch))
        return actions, [r.id for r in batch]

    def acknowledge(self, acks: List[Acknowledgement]) -> None:
        """`on-acknowledgement` of `acks`."""
        self._listed("acknowledgement")
        self.interceptor.on_acknowledgement(list(acks))



def load_app(path: str, name: str = "app"):
    """Imports the plugin module `name`.py of the directory holding `path`
    (or its parent, for a test in the plugin's tests/ directory) under a
    unique module name, so the tests of several plugins run in one pytest
    session: `app = load_app(__file__)`."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(path))
    for directory in (here, os.path.dirname(here)):
        file = os.path.join(directory, f"{name}.py")
        if os.path.exists(file):
            unique = f"rill_plugin_{re.sub(r'[^0-9A-Za-z_]', '_', os.path.basename(directory))}_{name}"
            spec = importlib.util.spec_from_file_location(unique, file)
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError(f"no {name}.py next to {path}")
