"""The component ABI: the only module that imports componentize-py's
generated `wit_world` bindings. `world(definition)` builds the `WitWorld`
class componentize-py exports, for rill:processor@0.4.0, 0.3.0, 0.2.0 or
0.1.0 (an older world lacks `join` (0.4.0), `process-fields` (0.3.0) or the
time interfaces (0.2.0): the methods for them are simply never called, and
their imports are None).
Plugin code never sees this module; `@processor` installs its class in the
plugin's module when it runs inside a component build."""

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports import log as wit_log
from wit_world.imports import state as wit_state
from wit_world.imports import types as wit_types

try:  # rill:processor@0.2.0 and later
    from wit_world.imports import time as wit_time
    from wit_world.imports import timers as wit_timers
except ImportError:
    wit_time = None
    wit_timers = None

try:  # rill:processor@0.3.0 and later
    from wit_world.imports import fields as wit_fields
except ImportError:
    wit_fields = None

from . import _host
from ._types import (INPUT, MISSING, OMITTED, Clock, Error, Fields, Header, JoinResult, Output, Record, StateError,
                     Tick, message_of)
from .raw import RawJson

_LEVELS = {name: getattr(wit_log.Level, name.upper()) for name in ("trace", "debug", "info", "warn", "error")}


def _state_error(error: Err) -> StateError:
    """A WIT state-error as the Rust SDK words it."""
    value = error.value
    if isinstance(value, wit_state.StateError_Undeclared):
        return StateError(f"'{value.value}' is not a store or table declared in the manifest")
    return StateError(f"state storage failed: {getattr(value, 'value', value)}")


class _ComponentHost(_host.Host):
    """Host calls through the component's imports."""

    @staticmethod
    def _state(call, *args):
        """A state import called, its WIT error raised as StateError."""
        try:
            return call(*args)
        except Err as error:
            raise _state_error(error) from None

    def get(self, store, key):
        return self._state(wit_state.get, store, key)

    def put(self, store, key, value):
        self._state(wit_state.put, store, key, value)

    def delete(self, store, key):
        self._state(wit_state.delete, store, key)

    def range(self, store, start, end, limit):
        return [(e.key, e.value) for e in self._state(wit_state.range, store, start, end, limit)]

    def lookup(self, table, key):
        return self._state(wit_state.lookup, table, key)

    def schedule(self, name, clock, interval_ms, aligned):
        if wit_timers is None:
            raise Error("timers need rill:processor@0.2.0")
        wit_clock = wit_time.Clock.WALL_CLOCK if clock == Clock.WALL_CLOCK else wit_time.Clock.STREAM_TIME
        try:
            wit_timers.schedule(name, wit_clock, interval_ms, aligned)
        except Err as error:
            raise Error(str(error.value)) from None

    def cancel(self, name):
        if wit_timers is not None:
            wit_timers.cancel(name)

    def log(self, level, message):
        wit_log.log(_LEVELS.get(level, wit_log.Level.INFO), message)


def _record(r) -> Record:
    """A WIT input-record as a rill.Record."""
    return Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                  [Header(h.key, h.value) for h in r.headers])


def _output(o: Output):
    """A rill.Output as a WIT output-record."""
    return wit_types.OutputRecord(o.output, o.key, o.value, [wit_types.Header(h.key, h.value) for h in o.headers],
                                  o.timestamp)


def _outputs(outputs):
    return [_output(o) for o in outputs]


if wit_fields is not None:
    _CONVERT = {
        wit_fields.Field_Number: lambda f: f.value,
        wit_fields.Field_Text: lambda f: f.value,
        wit_fields.Field_Boolean: lambda f: f.value,
        wit_fields.Field_Raw: lambda f: RawJson(f.value.text, f.value.canonical),
        wit_fields.Field_Null: lambda f: None,
        wit_fields.Field_Missing: lambda f: MISSING,
    }
    _NULL_OUT = wit_fields.OutputValue_Null()
    _INPUT_OUT = wit_fields.OutputValue_Input()

#: The manifest's [fields] names -> position, read from the host once.
_index = None


def _field_index():
    """`fields.names()`, asked once per instance (the same for every call)."""
    global _index
    if _index is None:
        _index = {name: i for i, name in enumerate(wit_fields.names())}
    return _index


def _field_record(r, index) -> Record:
    """A WIT field-record as a rill.Record with its Fields."""
    fields = r.fields
    if isinstance(fields, Ok):
        convert = _CONVERT
        found = Fields(index, [convert[type(f)](f) for f in fields.value])
    else:
        found = Fields(index, None, fields.value)
    value = r.value
    if isinstance(value, wit_fields.InputValue_Bytes):
        value = value.value
    elif isinstance(value, wit_fields.InputValue_Omitted):
        value = OMITTED
    else:
        value = None
    return Record(r.topic, r.partition, r.offset, r.timestamp, r.key, value,
                  [Header(h.key, h.value) for h in r.headers], found)


def _field_output(o: Output):
    """A rill.Output as a WIT field-output (the INPUT marker as
    output-value::input)."""
    value = o.value
    if value is INPUT:
        value = _INPUT_OUT
    elif value is None:
        value = _NULL_OUT
    else:
        value = wit_fields.OutputValue_Bytes(value)
    return wit_fields.FieldOutput(o.output, o.key, value, [wit_types.Header(h.key, h.value) for h in o.headers],
                                  o.timestamp)


def world(definition):
    """The `WitWorld` export class running `definition` (a `_processor.Definition`;
    not imported here, so the two modules do not import each other)."""

    class WitWorld(wit_world.WitWorld):
        """componentize-py's export: each method adapts one WIT export."""

        def init(self, config: str) -> None:
            _host.install(_ComponentHost())
            try:
                definition.run_init(config)
            except Exception as error:
                raise Err(message_of(error))

        def process(self, batch):
            results = []
            for r in batch:
                try:
                    results.append(Ok(_outputs(definition.run_process(_record(r)))))
                except Exception as error:
                    results.append(Err(message_of(error)))
            return results

        def process_fields(self, batch):
            index = _field_index()
            results = []
            for r in batch:
                try:
                    outputs = definition.run_process(_field_record(r, index))
                    results.append(Ok([_field_output(o) for o in outputs]))
                except Exception as error:
                    results.append(Err(message_of(error)))
            return results

        def aggregate(self, batch):
            results = []
            for a in batch:
                try:
                    steps = definition.run_aggregate(a.store, a.key, a.window.start, a.window.end, a.current,
                                                     list(a.merged), [_record(r) for r in a.records], a.running)
                    results.append(Ok(steps))
                except Exception as error:
                    results.append(Err(message_of(error)))
            return results

        def emit(self, results):
            out = []
            for r in results:
                try:
                    out.append(Ok(_outputs(definition.run_emit(r.store, r.key, r.window.start, r.window.end,
                                                               r.value, r.timestamp))))
                except Exception as error:
                    out.append(Err(message_of(error)))
            return out

        def join(self, results):
            out = []
            for r in results:
                try:
                    result = JoinResult(r.join, r.key, r.left, r.right, r.timestamp)
                    out.append(Ok(_outputs(definition.run_join(result))))
                except Exception as error:
                    out.append(Err(message_of(error)))
            return out

        def on_timer(self, tick):
            clock = Clock.WALL_CLOCK if tick.clock == wit_time.Clock.WALL_CLOCK else Clock.STREAM_TIME
            try:
                return _outputs(definition.run_timer(Tick(tick.name, clock, tick.time)))
            except Exception as error:
                raise Err(message_of(error))

    return WitWorld
