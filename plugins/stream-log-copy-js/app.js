// stream-log-copy in JavaScript: the seed's first Kafka Streams example,
// builder.stream("stream_log").to("stream_log_copy"): every record of
// stream_log goes to stream_log_copy with key, value, headers and timestamp
// unchanged.
import { processor } from 'rill-sdk';

export default processor({ outputs: ['copy'] }, (record, ctx) => {
  ctx.forward('copy');
});
