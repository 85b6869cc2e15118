"""The seed notes' consumer interceptor in Python: Kafka's `onConsume` and
`onCommit`, logging each consumed record and each committed offset to
`consumer_interceptor.log` in the granted log directory, one JSON object
per line, as plugins/consumer-interceptor (Rust) writes them:

    {"event":"consume","topic":"metric.all","partition":0,"offset":41,"timestamp":1700000000000,"key":null,"value":"{...}"}
    {"event":"commit","topic":"metric.all","partition":0,"offset":42}

Records pass unchanged: it only watches."""

from rill.intercept import Interceptor, JsonLines, interceptor, text

#: The log file it appends to.
FILE = "consumer_interceptor.log"


@interceptor
class ConsumerInterceptor(Interceptor):
    """Logs consumed records and commits; `config["dir"]` is the guest path
    of the granted log directory."""

    def __init__(self, config):
        self.log = JsonLines(f"{config['dir'].rstrip('/')}/{FILE}")

    def on_consume(self, records):
        for r in records:
            self.log.push({"event": "consume", "topic": r.topic, "partition": r.partition, "offset": r.offset,
                           "timestamp": r.timestamp, "key": text(r.key), "value": text(r.value)})
        self.log.flush()
        return super().on_consume(records)

    def on_commit(self, offsets):
        for o in offsets:
            self.log.push({"event": "commit", "topic": o.topic, "partition": o.partition, "offset": o.offset})
        self.log.flush()
