"""The SDK's own tests: the processor API, codecs, stores, timers, windows
and dead letters, run through rill.testing.Driver."""

import pytest

from rill import Clock, Error, Output, Record, codecs, processor
from rill.testing import Driver


@processor(stores={"peaks": float, "names": str, "counts": int, "docs": dict})
def peaks(record, ctx):
    """cpu-peak as the illustration writes it."""
    metric = record.json()
    host = metric["host"]["name"]
    pct = metric["pct"]
    store = ctx.store("peaks")
    if pct > store.get(host, default=0.0):
        store[host] = pct


@peaks.on_timer("flush")
def flush(tick, ctx):
    """Emits and clears every peak."""
    for host, peak in ctx.store("peaks").items():
        ctx.emit("peak", key=host, value={"host": host, "peak": peak, "until": tick.time})
    ctx.store("peaks").clear()


def metric(host, pct):
    return {"host": {"name": host}, "pct": pct}


def peak_driver():
    return Driver(peaks, outputs={"peak": "metric.cpu.peak"}, stores=["peaks"],
                  timers={"flush": (Clock.STREAM_TIME, 60_000, True)})


def test_timers_fire_on_stream_time_with_typed_stores():
    d = peak_driver()
    d.send("metric.cpu", value=metric("h1", 0.7), timestamp=0)
    d.send("metric.cpu", value=metric("h1", 0.9), timestamp=1_000)
    d.send("metric.cpu", value=metric("h2", 0.4), timestamp=2_000)
    assert d.store("peaks").get("h1") == 0.9
    fired = d.advance_stream_time(60_000)
    assert [o.json() for o in fired] == [
        {"host": "h1", "peak": 0.9, "until": 60_000},
        {"host": "h2", "peak": 0.4, "until": 60_000},
    ]
    assert fired[0].key == b"h1" and fired[0].timestamp == 60_000
    assert d.store("peaks").items() == []
    assert d.advance_stream_time(60_001) == []


def test_an_exception_dead_letters_only_its_record():
    d = peak_driver()
    assert d.send("metric.cpu", value=b"{", timestamp=1) == []
    d.send("metric.cpu", value=metric("h1", 0.5), timestamp=1)
    d.send("metric.cpu", value=b'{"host":{}}', timestamp=1)
    assert [x.message for x in d.dead_letters][1] == "missing key 'name'"
    assert len(d.dead_letters) == 2
    assert d.store("peaks").items() == [("h1", 0.5)]


def test_the_float_codec_is_rusts_f64_to_be_bytes():
    assert codecs.Float.encode(0.9) == bytes.fromhex("3feccccccccccccd")
    assert codecs.Int.encode(-2) == b"\xff" * 7 + b"\xfe"
    assert codecs.Json.encode({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    assert codecs.Utf8.decode("é".encode()) == "é"


def test_undeclared_stores_and_outputs_fail_the_record():
    @processor
    def bad(record, ctx):
        ctx.store(record.text()).put("k", b"v")

    d = Driver(bad, outputs={}, stores=["ok"])
    d.send("t", value="ok")
    d.send("t", value="nope")
    assert [x.message for x in d.dead_letters] == ["'nope' is not a store or table declared in the manifest"]

    @processor
    def wrong(record, ctx):
        ctx.emit("elsewhere")

    d = Driver(wrong, outputs={"out": "topic"})
    d.send("t", value="x")
    assert "elsewhere" in d.dead_letters[0].message


def test_a_topic_per_record_is_named_after_the_output_and_checked_like_the_host():
    @processor
    def route(record, ctx):
        ctx.forward("by-host", topic=f"alerts.{record.text()}")

    d = Driver(route, outputs={"by-host": {"topic-pattern": r"alerts\.[a-z0-9-]+"}})
    out = d.send("t", value="web-1")
    assert out[0].output == "by-host:alerts.web-1"
    assert (out[0].output_name, out[0].topic) == ("by-host", "alerts.web-1")
    assert d.send("t", value="Web 1") == []
    assert "does not match its topic-pattern" in d.dead_letters[0].message

    @processor
    def fixed(record, ctx):
        ctx.emit("out", topic="alerts.x")

    d = Driver(fixed, outputs={"out": "topic"})
    d.send("t", value="x")
    assert "has a fixed topic" in d.dead_letters[0].message


def test_emit_defaults_forward_the_input_record():
    @processor
    def copy(record, ctx):
        ctx.emit("out")
        ctx.emit("out", value=record.text().upper(), headers={"h": "1"})
        ctx.forward("out")

    d = Driver(copy)
    out = d.send("t", key="k", value="v", headers=[("a", b"b")], timestamp=7)
    assert out[0] == Output("out", b"k", b"v", out[0].headers, None)
    assert out[0].headers[0].key == "a" and out[0].headers[0].value == b"b"
    assert out[1].value == b"V" and out[1].headers[0].value == b"1"
    assert out[2].timestamp == 7


def test_class_processors_take_their_config_and_refuse_a_bad_one():
    @processor
    class Threshold:
        """Keeps values above a configured number."""

        def __init__(self, config):
            self.limit = config["limit"]

        def process(self, record, ctx):
            if float(record.text()) > self.limit:
                ctx.forward("high")

    d = Driver(Threshold, config={"limit": 1})
    d.send("t", value="2")
    d.send("t", value="0")
    assert [o.text() for o in d.outputs("high")] == ["2"]
    with pytest.raises(Error, match="missing key 'limit'"):
        Driver(Threshold, config={})


def test_windows_fold_with_the_store_codec():
    @processor(windows={"counts": int})
    def count(record, ctx):
        ctx.forward("counts")

    @count.aggregate
    def add(window, total, record):
        return (total or 0) + 1

    @count.merge
    def both(window, older, newer):
        return older + newer

    @count.emit
    def out(result, ctx):
        ctx.emit("count", key=result.window.key, value=str(result.value))

    d = Driver(count)
    records = [Record(value=b"x") for _ in range(3)]
    assert d.aggregate("counts", "k", 0, 10, records, running=True) == [1, 2, 3]
    assert d.aggregate("counts", "k", 0, 10, records, current=2, merged=[5]) == [10]
    assert [o.text() for o in d.emit_window("counts", "k", 0, 10, 4, 9)] == ["4"]


def test_join_turns_a_join_result_into_outputs():
    @processor
    def order_payment(record, ctx):
        pass

    @order_payment.join
    def joined(result, ctx):
        ctx.emit("joined", key=result.key, value=f"{result.left_text()}|{result.right_text() or 'null'}",
                 timestamp=result.timestamp)

    d = Driver(order_payment)
    [out] = d.join("order-payment", "o-1", "Bike", None, 550000)
    assert (out.output, out.key_text(), out.text(), out.timestamp) == ("joined", "o-1", "Bike|null", 550000)


def test_missing_handlers_say_what_is_missing():
    @processor
    def plain(record, ctx):
        pass

    d = Driver(plain, timers={"t": (Clock.WALL_CLOCK, 10, False)})
    d.advance_wall_clock(5)
    assert d.dead_letters[0].message == "on_timer is not implemented, but timer 't' fired"
    with pytest.raises(Error, match="aggregate is not implemented"):
        d.aggregate("w", "k", 0, 1, [])
    with pytest.raises(Error, match="join is not implemented, but join 'j' has a result"):
        d.join("j", "k", "l", "r", 1)


def test_tables_are_read_by_topic():
    @processor(tables={"address": str})
    def join(record, ctx):
        ctx.emit("joined", value=f"{record.text()}@{ctx.table('address')[record.key_text()]}")

    d = Driver(join, tables=["address"])
    d.set_table("address", "jihun", "seoul")
    assert d.send("order", key="jihun", value="book")[0].text() == "book@seoul"
    d.send("order", key="nobody", value="pen")
    assert d.dead_letters[0].message == "missing key 'nobody'"
