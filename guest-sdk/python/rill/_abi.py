"""The component ABI: the only module that imports componentize-py's
generated `wit_world` bindings. `world(definition)` builds the `WitWorld`
class componentize-py exports, for rill:processor@0.2.0 or 0.1.0 (which has
no time interface: its extra methods are simply never called). Plugin code
never sees this module; `@processor` installs its class in the plugin's
module when it runs inside a component build."""

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports import log as wit_log
from wit_world.imports import state as wit_state
from wit_world.imports import types as wit_types

try:  # rill:processor@0.2.0 only
    from wit_world.imports import time as wit_time
    from wit_world.imports import timers as wit_timers
except ImportError:
    wit_time = None
    wit_timers = None

from . import _host
from ._processor import Definition, message_of
from ._types import Clock, Error, Header, Output, Record, StateError, Tick

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


def world(definition: Definition):
    """The `WitWorld` export class running `definition`."""

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

        def on_timer(self, tick):
            clock = Clock.WALL_CLOCK if tick.clock == wit_time.Clock.WALL_CLOCK else Clock.STREAM_TIME
            try:
                return _outputs(definition.run_timer(Tick(tick.name, clock, tick.time)))
            except Exception as error:
                raise Err(message_of(error))

    return WitWorld
