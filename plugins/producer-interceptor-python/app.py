"""The seed notes' producer interceptor in Python: Kafka's `onSend` and
`onAcknowledgement`, logging each record sent and each acknowledgement to
`producer_interceptor.log` in the granted log directory, one JSON object
per line, as plugins/producer-interceptor (Rust) writes them. A send has
no partition or offset yet (the producer's partitioner and the broker
decide them); its acknowledgement, matched by `id`, has both, or the error:

    {"event":"send","id":0,"topic":"metric.cpu","timestamp":1700000000000,"key":null,"value":"{...}"}
    {"event":"ack","id":0,"topic":"metric.cpu","partition":2,"offset":17,"timestamp":1700000000000,"key":null,"value":"{...}"}

Records go out unchanged: it only watches."""

from rill.intercept import Interceptor, JsonLines, interceptor, text

#: The log file it appends to.
FILE = "producer_interceptor.log"


@interceptor
class ProducerInterceptor(Interceptor):
    """Logs sends and acknowledgements; `config["dir"]` is the guest path of
    the granted log directory."""

    def __init__(self, config):
        self.log = JsonLines(f"{config['dir'].rstrip('/')}/{FILE}")
        #: Key and value (as logged) of each send awaiting its
        #: acknowledgement, so the ack line names the record too.
        self.in_flight = {}

    def on_send(self, records):
        for r in records:
            key, value = text(r.key), text(r.value)
            self.log.push({"event": "send", "id": r.id, "topic": r.topic, "timestamp": r.timestamp, "key": key,
                           "value": value})
            self.in_flight[r.id] = (key, value)
        self.log.flush()
        return super().on_send(records)

    def on_acknowledgement(self, acks):
        for a in acks:
            key, value = self.in_flight.pop(a.id, (None, None))
            line = {"event": "ack", "id": a.id, "topic": a.topic}
            if a.metadata is not None:
                m = a.metadata
                line.update(partition=m.partition, offset=m.offset, timestamp=m.timestamp)
            else:
                line["error"] = a.error
            line.update(key=key, value=value)
            self.log.push(line)
        self.log.flush()
