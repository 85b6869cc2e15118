"""rill.intercept and rill.testing.InterceptorDriver: the Rust SDK's
cases (guest-sdk/src/intercept.rs) in Python."""

import json

import pytest

from rill import Error, Header
from rill.intercept import (DROP, PASS, Acknowledgement, ChangedRecord, CommittedOffset, ConsumedRecord, Interceptor,
                            JsonLines, RecordMetadata, SendRecord, interceptor, text)
from rill.testing import InterceptorDriver


@interceptor
class Upper(Interceptor):
    """Uppercases sent values and keeps acknowledgements; the rest default."""

    def __init__(self):
        self.acked = []

    def on_send(self, records):
        return [r.change(value=r.value.upper()) for r in records]

    def on_acknowledgement(self, acks):
        self.acked += [a.metadata.offset if a.metadata else a.error for a in acks]


def test_defaults_pass_and_overridden_hooks_change_and_see_acks():
    d = InterceptorDriver(Upper)
    assert d.consume([ConsumedRecord("in", value=b"a")] * 2) == [PASS, PASS]
    d.commit([CommittedOffset("in", 0, 2)])
    actions, ids = d.send([SendRecord("out", value=b"abc", headers=[Header("h", b"1")])] * 2)
    assert ids == [0, 1]
    assert actions[1].value == b"ABC" and actions[1].headers == [Header("h", b"1")] and actions[1].timestamp is None
    d.acknowledge([Acknowledgement(0, "out", RecordMetadata(0, 7, 1)), Acknowledgement(1, "out", error="too large")])
    assert d.interceptor.acked == [7, "too large"]


def test_consumed_records_are_numbered_as_read_and_can_be_changed_or_dropped():
    class Keyed(Interceptor):
        def on_consume(self, records):
            return [r.change(key=b"k" + str(r.offset).encode()) if r.key else DROP for r in records]

    d = InterceptorDriver(Keyed)
    actions = d.consume([ConsumedRecord("in", key=b"x", timestamp=5), ConsumedRecord("in")])
    assert actions == [ChangedRecord(b"k0", None, [], 5), DROP]
    assert d.consume([ConsumedRecord("in", key=b"y")])[0].key == b"k2"


def test_wrong_counts_and_a_drop_of_a_send_are_errors_as_the_host_treats_them():
    class Short(Interceptor):
        def on_consume(self, records):
            return []

        def on_send(self, records):
            return [DROP for _ in records]

    d = InterceptorDriver(Short)
    with pytest.raises(Error, match="0 actions for 1 records"):
        d.consume([ConsumedRecord("in")])
    with pytest.raises(Error, match="not an action of that call"):
        d.send([SendRecord("out")])


def test_config_from_the_manifest_and_its_events(tmp_path):
    (tmp_path / "plugin.toml").write_text(
        'manifest-version = 1\nkind = "interceptor"\nname = "x"\nversion = "0.1.0"\ncomponent = "x.wasm"\n'
        'events = ["consume"]\n[config]\nprefix = "p"\nkeep = 1\n')

    class Configured(Interceptor):
        def __init__(self, config):
            self.config = config

    d = InterceptorDriver(Configured, manifest=str(tmp_path / "plugin.toml"), config={"keep": 2})
    assert d.interceptor.config == {"prefix": "p", "keep": 2}
    with pytest.raises(ValueError, match='do not list "send"'):
        d.send([SendRecord("out")])
    (tmp_path / "processor.toml").write_text('manifest-version = 1\nname = "x"\n')
    with pytest.raises(ValueError, match='kind = "interceptor"'):
        InterceptorDriver(Configured, manifest=str(tmp_path / "processor.toml"))


def test_json_lines_are_written_once_per_flush(tmp_path):
    log = JsonLines(str(tmp_path / "a.log"))
    log.push({"event": "consume", "value": text(b"caf\xc3\xa9 \xff"), "key": text(None)})
    assert (tmp_path / "a.log").read_text() == ""
    log.flush()
    log.flush()
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"event": "consume", "value": "café \ufffd", "key": None}]
    with pytest.raises(Error, match="is its directory granted"):
        JsonLines(str(tmp_path / "missing" / "a.log"))


def test_log_lines_are_packed_whole_into_append_sized_writes():
    from rill.intercept import packed

    lines = [b"a" * 1000, b"b" * 1000, b"c" * 3000, b"d" * 5000, b"e" * 10]
    writes = packed(lines, 4096)
    assert writes == [lines[0] + lines[1], lines[2], lines[3], lines[4]]
    assert b"".join(writes) == b"".join(lines)
    assert packed([], 4096) == []
    many = [b"x" * 299 + b"\n" for _ in range(50)]
    assert all(len(w) <= 4096 for w in packed(many, 4096))
    assert b"".join(packed(many, 4096)) == b"".join(many)
