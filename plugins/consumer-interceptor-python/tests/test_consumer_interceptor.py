"""consumer-interceptor in Python, checked natively with the Rust port's
own case (plugins/consumer-interceptor/src/lib.rs)."""

import json

from rill.intercept import PASS, CommittedOffset, ConsumedRecord
from rill.testing import InterceptorDriver, load_app

app = load_app(__file__)


def test_every_consumed_record_and_commit_is_one_line(tmp_path):
    d = InterceptorDriver(app.ConsumerInterceptor, manifest="plugin.toml", config={"dir": str(tmp_path)})
    actions = d.consume([ConsumedRecord("metric.all", key=b"h1", value=b'{"a":1}'), ConsumedRecord("metric.all")])
    assert actions == [PASS, PASS]
    d.commit([CommittedOffset("metric.all", 0, 2)])
    text = (tmp_path / app.FILE).read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 3
    assert lines[0] == {"event": "consume", "topic": "metric.all", "partition": 0, "offset": 0, "timestamp": 0,
                        "key": "h1", "value": '{"a":1}'}
    assert lines[1]["offset"] == 1 and lines[1]["key"] is None
    assert lines[2] == {"event": "commit", "topic": "metric.all", "partition": 0, "offset": 2}
    # Compact, one object per line, as serde_json writes them.
    assert text.splitlines()[2] == '{"event":"commit","topic":"metric.all","partition":0,"offset":2}'


def test_the_log_is_appended_to_across_instances(tmp_path):
    for _ in range(2):
        d = InterceptorDriver(app.ConsumerInterceptor, manifest="plugin.toml", config={"dir": f"{tmp_path}/"})
        d.commit([CommittedOffset("metric.all", 0, 1)])
    assert len((tmp_path / app.FILE).read_text().splitlines()) == 2
