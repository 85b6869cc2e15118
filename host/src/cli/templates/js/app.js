// {{name}}: forwards the records whose value is longer than `min-length`
// characters (the manifest's [config]) to output `long`, like Kafka Streams'
// filter((key, value) -> value.length() > minLength). Characters are code
// points ([...text].length), so an emoji counts as one. A record with a null
// value, or one that is not UTF-8, is dead-lettered with the reason.
// `node --test` runs app.test.js natively; `rill build` makes the component
// and `rill test` runs tests/*.toml against it.
import { processor } from 'rill-sdk';

let minLength = 5;

export default processor(
  {
    outputs: ['long'],
    init(config) {
      if (!Number.isInteger(config['min-length'])) {
        throw new Error('[config] min-length must be an integer, e.g. min-length = 5');
      }
      minLength = config['min-length'];
    },
  },
  (record, ctx) => {
    if ([...record.text()].length > minLength) ctx.forward('long');
  },
);
