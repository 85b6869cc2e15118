"""producer-interceptor in Python, checked natively with the Rust port's
own case (plugins/producer-interceptor/src/lib.rs)."""

import json

from rill.intercept import PASS, Acknowledgement, RecordMetadata, SendRecord
from rill.testing import InterceptorDriver, load_app

app = load_app(__file__)


def test_a_send_has_no_offset_until_its_acknowledgement_names_it(tmp_path):
    d = InterceptorDriver(app.ProducerInterceptor, manifest="plugin.toml", config={"dir": str(tmp_path)})
    record = SendRecord("metric.cpu", value=b"v", timestamp=5)
    actions, ids = d.send([record, record])
    assert actions == [PASS, PASS]
    d.acknowledge([
        Acknowledgement(ids[0], "metric.cpu", RecordMetadata(partition=2, offset=17, timestamp=5)),
        Acknowledgement(ids[1], "metric.cpu", error="message too large"),
    ])
    lines = [json.loads(line) for line in (tmp_path / app.FILE).read_text().splitlines()]
    assert len(lines) == 4
    assert lines[0] == {"event": "send", "id": 0, "topic": "metric.cpu", "timestamp": 5, "key": None, "value": "v"}
    assert lines[2] == {"event": "ack", "id": 0, "topic": "metric.cpu", "partition": 2, "offset": 17, "timestamp": 5,
                        "key": None, "value": "v"}
    assert lines[3] == {"event": "ack", "id": 1, "topic": "metric.cpu", "error": "message too large", "key": None,
                        "value": "v"}
    assert d.interceptor.in_flight == {}


def test_an_ack_without_its_send_logs_null_key_and_value(tmp_path):
    d = InterceptorDriver(app.ProducerInterceptor, manifest="plugin.toml", config={"dir": str(tmp_path)})
    d.acknowledge([Acknowledgement(9, "metric.cpu", RecordMetadata(0, 1, 2))])
    (line,) = [json.loads(x) for x in (tmp_path / app.FILE).read_text().splitlines()]
    assert (line["key"], line["value"], line["offset"]) == (None, None, 1)
