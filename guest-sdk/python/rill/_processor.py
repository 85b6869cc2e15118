"""The `@processor` decorator and the `Context` a handler gets.

A processor is a plain function `(record, ctx)` (with optional handlers
registered on it: `init`, `on_timer`, `aggregate`, `merge`, `emit`, `join`) or a
class with those methods, as the Rust `Processor` trait has them. Handlers
that are not given fail with the Rust SDK's messages, so the component
always has every export. `Definition.run_*` are the one implementation of
each export, shared by the component ABI and `rill.testing.Driver`."""

import inspect
import json
import sys
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional

from . import _host, log as _log
from ._types import (INPUT, TOPIC_SEPARATOR, Clock, Error, Header, JoinResult, Output, Record, Tick, Window,
                     WindowResult, message_of)
from .codecs import Json, codec, to_bytes
from .state import Store, Table

_KEEP = object()


class Context:
    """What a handler can do besides returning: emit records, use state and
    timers, log. `record` is the input record (None in timers and `emit`);
    `config` is the manifest's `[config]` table."""

    def __init__(self, definition: "Definition", record: Optional[Record] = None):
        self._definition = definition
        self.record = record
        self.config: Dict[str, Any] = definition.config
        self.outputs: List[Output] = []
        self.log = _log

    def emit(self, output: str, key: Any = _KEEP, value: Any = _KEEP, headers: Any = _KEEP,
             timestamp: Optional[int] = None, topic: Optional[str] = None) -> None:
        """Emits a record to `output` (a name of the manifest's `[outputs]`
        or `[windows]`). key and value may be bytes, str (UTF-8), None (null)
        or anything JSON-able (compact JSON). In `process`, key, value and
        headers left out are the input record's (Kafka Streams' forward; with
        `[fields]` the value is then forwarded by the host, not copied);
        elsewhere they are null and empty. `timestamp` None keeps the input
        record's time (a timer's firing time in `on_timer`). `topic` is the
        topic chosen for this record, for an output declared with
        `topic-pattern` (Kafka Streams' TopicNameExtractor): it must fully
        match the pattern, else the input record is dead-lettered."""
        if topic is not None:
            output = f"{output}{TOPIC_SEPARATOR}{topic}"
        record = self.record
        if key is _KEEP:
            key = record.key if record else None
        if value is _KEEP:
            value = _input_value(record)
        if headers is _KEEP:
            headers = list(record.headers) if record else []
        elif isinstance(headers, dict):
            headers = [Header(k, to_bytes(v)) for k, v in headers.items()]
        else:
            headers = [h if isinstance(h, Header) else Header(h[0], to_bytes(h[1])) for h in headers]
        self.outputs.append(Output(output, to_bytes(key), value if value is INPUT else to_bytes(value), headers, timestamp))

    def forward(self, output: str, topic: Optional[str] = None) -> None:
        """Sends the input record on to `output` unchanged, timestamp too
        (the Rust SDK's `Output::forward`); `topic` as in `emit`."""
        if self.record is None:
            raise Error("forward needs an input record")
        self.emit(output, timestamp=self.record.timestamp, topic=topic)

    def store(self, name: str) -> Store:
        """The typed handle on store `name` (declared in `@processor(stores=)`
        for its codecs; bytes otherwise)."""
        return self._definition.store(name)

    def table(self, topic: str) -> Table:
        """The read-only table (or global table) input `topic`."""
        return self._definition.table(topic)

    def schedule(self, name: str, clock: Clock, interval: Any, aligned: bool = False) -> None:
        """Schedules timer `name` every `interval` (ms or a timedelta) of
        `clock`, replacing a timer of that name."""
        if isinstance(interval, timedelta):
            interval = int(interval.total_seconds() * 1000)
        _host.current.schedule(name, clock, int(interval), aligned)

    def cancel(self, name: str) -> None:
        """Stops timer `name`."""
        _host.current.cancel(name)


def _input_value(record: Optional[Record]) -> Any:
    """What "the input's value" is in an output: for a record passed with
    its `[fields]`, the INPUT marker (the host forwards the bytes it holds,
    whether or not they were copied in); otherwise its bytes."""
    if record is None:
        return None
    value = record._value
    if record._fields is not None and value is not None:
        return INPUT
    return value


_ARITIES: Dict[Any, int] = {}


def _arity(function: Callable) -> int:
    """How many positional parameters `function` takes. Remembered per
    handler: inspect.signature cost more than the whole of a typical
    processor's work for each record (12 us natively, about 40% of
    cpu-alert-python's time per record). A bound method is a new object at
    each access but equal to the last one, so it finds its entry."""
    try:
        return _ARITIES[function]
    except KeyError:
        pass
    except TypeError:  # unhashable: counted each time
        return _count_positional(function)
    arity = _ARITIES[function] = _count_positional(function)
    return arity


def _count_positional(function: Callable) -> int:
    params = inspect.signature(function).parameters.values()
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _call(function: Callable, *args):
    """Calls a handler with as many of `args` as it declares (so `ctx` is
    optional)."""
    return function(*args[: _arity(function)])


class Definition:
    """One processor: its handlers and its declared codecs. Returned by
    `@processor`; its methods register the other handlers."""

    def __init__(self, target: Any, stores: Any, tables: Any, windows: Any, keys: Any):
        self.target = target
        self.name = getattr(target, "__name__", "processor")
        self.module_file = getattr(sys.modules.get(getattr(target, "__module__", ""), None), "__file__", None)
        self.stores = {n: codec(c) for n, c in _declared(stores).items()}
        self.tables = {n: codec(c) for n, c in _declared(tables).items()}
        self.windows = {n: codec(c if c is not None else "json") for n, c in _declared(windows).items()}
        self.keys = {n: codec(c) for n, c in (keys or {}).items()}
        self.config: Dict[str, Any] = {}
        self.instance: Any = None
        self.is_class = inspect.isclass(target)
        self._init: Optional[Callable] = None
        self._timers: Dict[Optional[str], Callable] = {}
        self._aggregate: Optional[Callable] = None
        self._merge: Optional[Callable] = None
        self._emit: Optional[Callable] = None
        self._join: Optional[Callable] = None

    # Registration (function form).
    def init(self, function: Callable) -> Callable:
        """Registers `function(config)`, called once before any record; an
        exception refuses the instance with its message."""
        self._init = function
        return function

    def on_timer(self, name: Any = None):
        """Registers `function(tick, ctx)` for timer `name` (every timer when
        no name is given)."""
        if callable(name):
            self._timers[None] = name
            return name

        def register(function):
            self._timers[name] = function
            return function

        return register

    def aggregate(self, function: Callable) -> Callable:
        """Registers `function(window, aggregate, record)` returning the new
        aggregate (`aggregate` is None for a new window; values go through
        the window store's codec, JSON by default)."""
        self._aggregate = function
        return function

    def merge(self, function: Callable) -> Callable:
        """Registers `function(window, older, newer)` for session windows."""
        self._merge = function
        return function

    def emit(self, function: Callable) -> Callable:
        """Registers `function(result, ctx)` turning a WindowResult into
        outputs with `ctx.emit`."""
        self._emit = function
        return function

    def join(self, function: Callable) -> Callable:
        """Registers `function(result, ctx)` turning a stream-stream
        JoinResult into outputs with `ctx.emit` (key and timestamp are not
        filled in: pass `key=result.key, timestamp=result.timestamp`)."""
        self._join = function
        return function

    def __call__(self, *args, **kwargs):
        """The decorated function stays callable as written."""
        return self.target(*args, **kwargs)

    # Lookups.
    def store(self, name: str) -> Store:
        """Store `name` with its declared codecs."""
        return Store(name, self.stores.get(name, codec(bytes)), self.keys.get(name, codec(str)))

    def table(self, topic: str) -> Table:
        """Table `topic` with its declared codecs."""
        return Table(topic, self.tables.get(topic, codec(bytes)), self.keys.get(topic, codec(str)))

    def _handler(self, name: str, registered: Optional[Callable]) -> Optional[Callable]:
        if self.is_class:
            return getattr(self.instance, name, None)
        return registered

    # The exports, one implementation each.
    def run_init(self, config_json: str) -> None:
        """Parses the config and builds the processor; raises Error."""
        try:
            self.config = json.loads(config_json) if config_json else {}
        except ValueError as error:
            raise Error(f"invalid [config] table: {error}")
        try:
            if self.is_class:
                self.instance = self.target(self.config) if _arity(self.target.__init__) > 1 else self.target()
            elif self._init is not None:
                self._init(self.config)
        except Exception as error:
            raise Error(message_of(error)) from error

    def run_process(self, record: Record) -> List[Output]:
        """Runs the processor on one record; raises to dead-letter it."""
        ctx = Context(self, record)
        function = self.instance.process if self.is_class else self.target
        returned = _call(function, record, ctx)
        return ctx.outputs + _returned(returned)

    def run_aggregate(self, store: str, key: bytes, start: int, end: int, current: Optional[bytes],
                      merged: List[bytes], records: List[Record], running: bool) -> List[bytes]:
        """Folds one aggregation as the `aggregate` export defines it: merge
        bridged sessions (oldest first) into `current`, then fold each
        record, keeping every step when `running`."""
        window = Window(store, key, start, end)
        fold = self._handler("aggregate", self._aggregate)
        if fold is None:
            raise Error(f"aggregate is not implemented, but records reached window store '{store}'")
        value_codec = self.windows.get(store, Json)
        aggregate = None if current is None else value_codec.decode(current)
        for newer in merged:
            newer_value = value_codec.decode(newer)
            if aggregate is None:
                aggregate = newer_value
                continue
            merge = self._handler("merge", self._merge)
            if merge is None:
                raise Error(f"merge is not implemented, but sessions of window store '{store}' merged")
            aggregate = merge(window, aggregate, newer_value)
        steps = []
        for record in records:
            aggregate = fold(window, aggregate, record)
            if running:
                steps.append(value_codec.encode(aggregate))
        if not running and aggregate is not None:
            steps.append(value_codec.encode(aggregate))
        return steps

    def run_emit(self, store: str, key: bytes, start: int, end: int, value: Optional[bytes],
                 timestamp: int) -> List[Output]:
        """Turns one window result into outputs."""
        function = self._handler("emit", self._emit)
        if function is None:
            raise Error(f"emit is not implemented, but window store '{store}' has a result")
        decoded = None if value is None else self.windows.get(store, Json).decode(value)
        ctx = Context(self)
        returned = _call(function, WindowResult(Window(store, key, start, end), decoded, timestamp), ctx)
        return ctx.outputs + _returned(returned)

    def run_join(self, result: JoinResult) -> List[Output]:
        """Turns one stream-stream join result into outputs."""
        function = self._handler("join", self._join)
        if function is None:
            raise Error(f"join is not implemented, but join '{result.join}' has a result")
        ctx = Context(self)
        returned = _call(function, result, ctx)
        return ctx.outputs + _returned(returned)

    def run_timer(self, tick: Tick) -> List[Output]:
        """Runs the handler of `tick`'s timer."""
        if self.is_class:
            function = getattr(self.instance, "on_timer", None)
        else:
            function = self._timers.get(tick.name, self._timers.get(None))
        if function is None:
            raise Error(f"on_timer is not implemented, but timer '{tick.name}' fired")
        ctx = Context(self)
        returned = _call(function, tick, ctx)
        return ctx.outputs + _returned(returned)


def _returned(value: Any) -> List[Output]:
    """Outputs a handler returned instead of emitting (None: none)."""
    if value is None:
        return []
    if isinstance(value, Output):
        return [value]
    outputs = list(value)
    for output in outputs:
        if not isinstance(output, Output):
            raise Error(f"a handler returned {type(output).__name__}, not rill.Output (use ctx.emit)")
    return outputs


def _declared(names: Any) -> Dict[str, Any]:
    """`["a", "b"]` or `{"a": float}` as a name -> codec spec mapping."""
    if names is None:
        return {}
    if isinstance(names, dict):
        return dict(names)
    return {name: None for name in names}


def processor(target: Any = None, *, stores: Any = None, tables: Any = None, windows: Any = None,
              keys: Optional[Dict[str, Any]] = None):
    """Makes a function `(record, ctx)` or a class (with `process(record,
    ctx)` and optionally `on_timer`, `aggregate`, `merge`, `emit`, `join`; built with
    the config dict when its `__init__` takes one) the processor of this
    plugin.

    `stores={"peaks": float}` declares value codecs per store (a list of
    names means bytes); `tables` the same per table topic; `windows` per
    window store (JSON by default); `keys` a key codec per name (UTF-8 text
    by default). When the plugin is being built into a component, this also
    defines the module's `WitWorld` export class."""

    def wrap(target):
        definition = Definition(target, stores, tables, windows, keys)
        _export(definition, target)
        return definition

    return wrap(target) if target is not None else wrap


def _export(definition: Definition, target: Any) -> None:
    """Inside componentize-py (where `wit_world` imports), gives the defining
    module its `WitWorld` class; natively, nothing."""
    try:
        import wit_world  # noqa: F401  (only present in a component build)
    except ImportError:
        return
    from . import _abi

    module = sys.modules.get(target.__module__)
    if module is not None:
        setattr(module, "WitWorld", _abi.world(definition))
