"""cpu-alert in Python, checked natively with the Rust port's own cases
(plugins/cpu-alert/src/lib.rs); tests/tests/ports.rs compares the two
components end to end."""

import pytest

from rill import Error
from rill.testing import Driver, load_app

app = load_app(__file__)
SEED_CPU = (
    '{"@timestamp":"2025-01-31T07:55:26.555Z","service":{"type":"system"},"system":{"cpu":{"cores":10,'
    '"total":{"pct":1.8887,"norm":{"pct":0.1889}}}},"host":{"cpu":{"usage":0.1889},"name":"Aaronui-MacBookPro.local"}}'
)


def driver(threshold=0.5):
    return Driver(app.CpuAlert, manifest="plugin.toml", config={"threshold": threshold})


def test_the_seed_record_is_below_half_and_a_busy_one_alerts_byte_for_byte():
    d = driver()
    assert d.send("metric.cpu", value=SEED_CPU) == []
    busy = SEED_CPU.replace('"norm":{"pct":0.1889}', '"norm":{"pct":0.8586}').replace('"usage":0.1889', '"usage":0.8586')
    (alert,) = d.send("metric.cpu", key="k", value=busy)
    assert alert.key == b"k"
    assert alert.text() == '{"cpu":{"usage":0.8586},"name":"Aaronui-MacBookPro.local","timestamp":"2025-01-31T07:55:26.555Z"}'


def test_key_order_and_number_text_are_kept():
    v = '{"host":{"z":1.50,"a":{"n":1e-07}},"@timestamp":"new","system":{"cpu":{"total":{"norm":{"pct":1}}}}}'
    assert driver().send("metric.cpu", value=v)[0].text() == '{"z":1.50,"a":{"n":1e-07},"timestamp":"new"}'


def test_malformed_records_are_dead_lettered_with_why():
    d = driver()
    d.send("metric.cpu", value="{")
    d.send("metric.cpu", value='{"@timestamp":"t","system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}')
    d.send("metric.cpu", value='{"host":{},"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}')
    messages = [x.message for x in d.dead_letters]
    assert len(messages) == 3 and "host" in messages[1] and "@timestamp" in messages[2]


def test_config_is_checked():
    with pytest.raises(Error, match="threshold"):
        Driver(app.CpuAlert, config={})
    with pytest.raises(Error, match="unknown field `extra`"):
        Driver(app.CpuAlert, config={"threshold": 0.5, "extra": 1})


HOSTS = [
    # (host as in the input, the alert Gson writes for it with timestamp "t")
    ('{"name":"h"}', '{"name":"h","timestamp":"t"}'),
    ('{}', '{"timestamp":"t"}'),
    ('{"2":1,"1":{"10":true,"9":null},"name":"h"}', '{"2":1,"1":{"10":true,"9":null},"name":"h","timestamp":"t"}'),
    ('{"\\u0031":1,"a":[1,-0,0.10]}', '{"1":1,"a":[1,-0,0.10],"timestamp":"t"}'),
    ('{"a":1,"b":2,"a":3,"timestamp":0}', '{"a":3,"b":2,"timestamp":"t"}'),
    ('{ "name" : "h",\n "n": [1, 2] }', '{"name":"h","n":[1,2],"timestamp":"t"}'),
    ('{"s":"07:05:09.5\\"x\\u2028","n":123456789012345678901234567890}',
     '{"s":"07:05:09.5\\"x\\u2028","n":123456789012345678901234567890,"timestamp":"t"}'),
    ('{"s":"\\/\\u00e9\\u001F"}', '{"s":"/é\\u001f","timestamp":"t"}'),
]


@pytest.mark.parametrize("host,alert", HOSTS)
def test_the_alert_is_what_gson_writes_whether_spliced_or_rewritten(host, alert):
    value = '{"@timestamp":"t","host":' + host + ',"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}'
    (out,) = driver().send("metric.cpu", value=value)
    assert out.text() == alert
    assert app.gson_alert(host, '"t"').decode() == alert


def test_the_value_stays_in_the_host_and_key_and_headers_go_on():
    d = driver()
    (out,) = d.send("metric.cpu", key="k", headers={"h": "v"},
                    value='{"@timestamp":"t","host":{},"system":{"cpu":{"total":{"norm":{"pct":0.9}}}}}')
    assert (out.key, [(h.key, h.value) for h in out.headers]) == (b"k", [("h", b"v")])
    assert d.input_value is None and [f.name for f in d.fields] == ["pct", "host", "timestamp"]
