// order-window-count in JavaScript on rill-sdk: the same processor as
// plugins/order-window-count, output for output. The seed's "orders of the
// last 10 minutes" (groupByKey().windowedBy(...).count()): process sends
// every order to the `counts` windowed store by its key; the host assigns
// windows, drops late orders and keeps the counts (JSON numbers, as the Rust
// SDK's windows::count_one writes them); this app adds one per order, adds
// sessions' counts when they merge, and writes each window's result as
// {"key":"<key>","start":<ms>,"end":<ms>,"count":<n>} (end exclusive).
import { processor } from 'rill-sdk';

export default processor(
  {
    outputs: ['count', 'counts'],
    windows: { counts: 'json' },
    aggregate: (window, count) => (count ?? 0) + 1,
    merge: (window, older, newer) => older + newer,
    emit(result, ctx) {
      const { key, start, end } = result.window;
      // A session merged into a later one: its result is withdrawn.
      if (result.value === null) return ctx.emit('count', { key, value: null });
      const value = JSON.stringify({ key: result.window.keyText(), start, end, count: result.value });
      ctx.emit('count', { key, value });
    },
  },
  (record, ctx) => {
    if (record.key === null) throw new Error('an order needs a key to be counted');
    ctx.forward('counts');
  },
);
