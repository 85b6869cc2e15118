"""cpu-peak in Python, natively: peaks per host, emitted and cleared on
each aligned minute of stream time (tests/tests/time.rs compares the
component with the Rust one end to end)."""

import json

from rill.testing import Driver, load_app

app = load_app(__file__)


def metric(host, pct):
    return json.dumps({"host": {"name": host}, "system": {"cpu": {"total": {"norm": {"pct": pct}}}}})


def test_the_peak_of_each_host_every_minute():
    d = Driver(app.cpu_peak, manifest="plugin.toml")
    d.send("metric.cpu", key="h1", value=metric("h1", 0.7), timestamp=1)
    d.send("metric.cpu", key="h1", value=metric("h1", 0.9), timestamp=1_000)
    d.send("metric.cpu", key="h2", value=metric("h2", 0.4), timestamp=2_000)
    d.send("metric.cpu", key="h1", value=metric("h1", 0.8), timestamp=3_000)
    fired = d.advance_stream_time(60_000)
    assert [(o.key, o.text()) for o in fired] == [
        (b"h1", '{"host":"h1","peak":0.9,"until":60000}'),
        (b"h2", '{"host":"h2","peak":0.4,"until":60000}'),
    ]
    assert d.store("peaks").items() == []


def test_a_record_that_is_not_a_cpu_metric_is_dead_lettered():
    d = Driver(app.cpu_peak, manifest="plugin.toml")
    d.send("metric.cpu", value='{"host":{}}', timestamp=1)
    assert d.dead_letters[0].message.startswith("not a metricbeat CPU record")
