"""The interceptor world's component ABI: the only module that imports
componentize-py's `wit_world` bindings of rill:interceptor@0.1.0 (the
processor world's are `_abi`'s; a component holds one world, so the two
are never imported together). `world(target)` builds the `WitWorld` class
componentize-py exports; plugin code never sees this module."""

import wit_world
from componentize_py_types import Err, Ok
from wit_world.imports import log as wit_log
from wit_world.imports import types as wit_types

from . import _host
from ._types import Header, message_of
from ._intercept_types import (DROP, PASS, Acknowledgement, CommittedOffset, ConsumedRecord, RecordMetadata,
                               SendRecord, build, checked)

_LEVELS = {name: getattr(wit_log.Level, name.upper()) for name in ("trace", "debug", "info", "warn", "error")}


class _InterceptorHost(_host.Host):
    """The interceptor world imports only `log`; state and timers stay
    `_host`'s "not here" (NotImplementedError)."""

    def log(self, level, message):
        wit_log.log(_LEVELS.get(level, wit_log.Level.INFO), message)


def _headers(headers):
    return [Header(h.key, h.value) for h in headers]


def _wit_headers(headers):
    return [wit_types.Header(h.key, h.value) for h in headers]


def _consume_action(action):
    if action is PASS:
        return wit_types.ConsumeAction_Pass()
    if action is DROP:
        return wit_types.ConsumeAction_Drop()
    return wit_types.ConsumeAction_Change(
        wit_types.ChangedRecord(action.key, action.value, _wit_headers(action.headers), action.timestamp))


def _send_action(action):
    if action is PASS:
        return wit_types.SendAction_Pass()
    return wit_types.SendAction_Change(
        wit_types.ChangedSend(action.key, action.value, _wit_headers(action.headers), action.timestamp))


def _ack(a) -> Acknowledgement:
    outcome = a.outcome
    if isinstance(outcome, Ok):
        m = outcome.value
        return Acknowledgement(a.id, a.topic, RecordMetadata(m.partition, m.offset, m.timestamp))
    return Acknowledgement(a.id, a.topic, error=outcome.value)


def world(target):
    """The `WitWorld` export class running interceptor class `target`."""

    class WitWorld(wit_world.WitWorld):
        """componentize-py's export: each method adapts one WIT export; an
        exception becomes the call's error (the host then applies nothing)."""

        instance = None

        def init(self, config: str) -> None:
            _host.install(_InterceptorHost())
            try:
                WitWorld.instance = build(target, config)
            except Exception as error:
                raise Err(message_of(error))

        def on_consume(self, records):
            try:
                batch = [ConsumedRecord(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                                        _headers(r.headers)) for r in records]
                actions = checked("on_consume", WitWorld.instance.on_consume(batch), len(batch))
                return [_consume_action(a) for a in actions]
            except Exception as error:
                raise Err(message_of(error))

        def on_commit(self, offsets):
            try:
                WitWorld.instance.on_commit([CommittedOffset(o.topic, o.partition, o.offset) for o in offsets])
            except Exception as error:
                raise Err(message_of(error))

        def on_send(self, records):
            try:
                batch = [SendRecord(r.topic, r.id, r.partition, r.key, r.value, _headers(r.headers), r.timestamp)
                         for r in records]
                actions = checked("on_send", WitWorld.instance.on_send(batch), len(batch))
                return [_send_action(a) for a in actions]
            except Exception as error:
                raise Err(message_of(error))

        def on_acknowledgement(self, acks):
            try:
                WitWorld.instance.on_acknowledgement([_ack(a) for a in acks])
            except Exception as error:
                raise Err(message_of(error))

    return WitWorld
