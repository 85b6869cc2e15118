// stream-log-filter in JavaScript: the seed's filter example,
// streamLog.filter((key, value) -> value.length() > 5).to("stream_log_filter").
// Java's String.length() counts UTF-16 code units, which is exactly what a
// JavaScript string's length counts, so the same records pass.
import { processor } from 'rill-sdk';

export default processor({ outputs: ['long'] }, (record, ctx) => {
  if (record.text().length > 5) ctx.forward('long');
});
