/*
 * rill.h: write rill stream processors in plain C.
 *
 * The same names and concepts as the Rust SDK (rill-sdk), guest-sdk/python
 * and guest-sdk/js: a processor is one function per callback, collected in
 * a `rill_processor` with RILL_PROCESSOR(...):
 *
 *     #include "rill.h"
 *
 *     static int copy(const rill_record *record, rill_ctx *ctx) {
 *         return rill_forward(ctx, "copy");   // to the manifest's [outputs] copy
 *     }
 *     RILL_PROCESSOR(.process = copy);
 *
 * Every callback returns RILL_OK, or an error: `return rill_fail(ctx,
 * "bad value: %s", why);` dead-letters the record with that message (any
 * other non-zero return does too, with a generic message). Callbacks left
 * out fail with the Rust SDK's messages, so the component always has every
 * export. State (`rill_store`, `rill_table`), timers and windows work as in
 * rill-sdk. tools/c/build-plugin.sh builds app.c with this SDK into a
 * component; rill_testing.h runs it natively (gcc) without a broker.
 *
 * Conventions: bytes are `rill_bytes` (pointer + length, not
 * NUL-terminated); a NULL `data` is Kafka's null. Bytes handed to a callback
 * are borrowed for the duration of the call. Functions taking a `rill_ctx`
 * return RILL_OK or RILL_ERROR and leave the message on the context, so a
 * callback can pass a failure on with `return RILL_ERROR;`.
 */
#ifndef RILL_H
#define RILL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Success. */
#define RILL_OK 0
/** Failure; the message is on the context (rill_error_message). */
#define RILL_ERROR (-1)

/** Bytes borrowed from somewhere else; `data == NULL` is Kafka's null. */
typedef struct rill_bytes {
    const uint8_t *data;
    size_t len;
} rill_bytes;

/** Kafka's null (no key, no value, a tombstone). */
#define RILL_NULL ((rill_bytes){NULL, 0})

/** The bytes of a NUL-terminated string (NULL gives RILL_NULL). */
rill_bytes rill_str(const char *text);
/** `len` bytes at `data`. */
rill_bytes rill_bytes_of(const void *data, size_t len);
/** True for Kafka's null. */
bool rill_is_null(rill_bytes bytes);
/** True when `bytes` holds exactly the text `text`. */
bool rill_bytes_eq(rill_bytes bytes, const char *text);
/** The number of UTF-8 characters (code points) in `bytes`; -1 when they
 *  are not valid UTF-8. Kafka Streams' `value.length()` counts these. */
long rill_utf8_length(rill_bytes bytes);

/** The length Java's `String.length()` gives for `bytes` decoded as Kafka's
 *  StringDeserializer decodes them: UTF-16 code units (a character above
 *  U+FFFF counts two), each ill-formed UTF-8 sequence one U+FFFD. This is
 *  what Kafka Streams' `value.length()` counts. */
size_t rill_java_length(rill_bytes bytes);

/** A growable byte buffer, for values being built. Start it zeroed
 *  (`rill_buf b = {0};`) and release it with rill_buf_free. */
typedef struct rill_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} rill_buf;

/** Appends `len` bytes; false when out of memory. */
bool rill_buf_append(rill_buf *buf, const void *data, size_t len);
/** Appends a NUL-terminated string. */
bool rill_buf_puts(rill_buf *buf, const char *text);
/** Appends printf-formatted text. */
bool rill_buf_printf(rill_buf *buf, const char *format, ...) __attribute__((format(printf, 2, 3)));
/** Empties the buffer, keeping its memory. */
void rill_buf_clear(rill_buf *buf);
/** The buffer's bytes (borrowed; valid until it changes). */
rill_bytes rill_buf_bytes(const rill_buf *buf);
/** The buffer as a NUL-terminated string (borrowed), or NULL when out of memory. */
const char *rill_buf_cstr(rill_buf *buf);
/** Releases the buffer's memory. */
void rill_buf_free(rill_buf *buf);

/** A Kafka record header. Kafka allows a header with no value. */
typedef struct rill_header {
    rill_bytes key;
    rill_bytes value;
} rill_header;

/** The fields the host read out of one record's value for the manifest's
 *  `[fields]` (opaque: read them with rill_field and its typed forms). */
typedef struct rill_fields rill_fields;

/** One record read from an input topic (rill-sdk's `Record`). */
typedef struct rill_record {
    rill_bytes topic;
    int32_t partition;
    int64_t offset;
    /** Milliseconds since the Unix epoch. */
    int64_t timestamp;
    rill_bytes key;
    /** The value; RILL_NULL for Kafka's null, and also when `value_omitted`
     *  (read it with rill_value to tell the two apart with a message). */
    rill_bytes value;
    const rill_header *headers;
    size_t header_count;
    /** True when the manifest declares `[fields]` without `input-value =
     *  "bytes"`: the host kept the value (it was not copied into the
     *  processor) and `value` is RILL_NULL. rill_value, rill_record_json
     *  fail with the fix; rill_forward still forwards the value. */
    bool value_omitted;
    /** The manifest's `[fields]` of this record (rill_field); NULL when the
     *  manifest declares none. */
    const rill_fields *fields;
} rill_record;

/** Separates an output's name from the topic chosen for one record in the
 *  output text the host receives ("by-host:alerts.web-1"), for an output
 *  the manifest declares with `topic-pattern` (Kafka Streams'
 *  TopicNameExtractor). Neither an output name nor a Kafka topic name can
 *  hold it. */
#define RILL_TOPIC_SEPARATOR ':'

/** One record to emit, addressed to an output of the manifest (rill-sdk's
 *  `Output`). Used with rill_emit_output; rill_emit, rill_forward,
 *  rill_forward_to and rill_map_value cover the common cases. */
typedef struct rill_output {
    /** A name of the manifest's `[outputs]` (or `[windows]`). */
    const char *output;
    rill_bytes key;
    rill_bytes value;
    const rill_header *headers;
    size_t header_count;
    /** When false, the input record's timestamp (a timer's firing time). */
    bool has_timestamp;
    int64_t timestamp;
    /** The topic chosen for this record, for an output declared with
     *  `topic-pattern` (it must fully match the pattern, else the input
     *  record is dead-lettered); NULL for an output with a fixed topic.
     *  (`Output::to_topic`.) */
    const char *topic;
} rill_output;

/** Which time a timer follows. */
typedef enum rill_clock {
    /** The processor's stream time: advances with records only. */
    RILL_STREAM_TIME = 0,
    /** The host's wall clock: fires even while no record arrives. */
    RILL_WALL_CLOCK = 1,
} rill_clock;

/** One firing of a timer. */
typedef struct rill_tick {
    rill_bytes name;
    rill_clock clock;
    /** The time the firing is for (epoch ms). */
    int64_t time;
} rill_tick;

/** One window of one key in a windowed store. */
typedef struct rill_window {
    /** The `[windows.<name>]` store. */
    rill_bytes store;
    rill_bytes key;
    /** Start (epoch ms, inclusive). */
    int64_t start;
    /** End: exclusive for time windows, a session's last record time, inclusive for sliding windows (start + time difference). */
    int64_t end;
} rill_window;

/** A window's aggregate, for the `emit` callback to turn into outputs. */
typedef struct rill_window_result {
    rill_window window;
    /** The aggregate; null for a session merged into a later one. */
    rill_bytes value;
    /** The latest record time in the window. */
    int64_t timestamp;
} rill_window_result;

/** One result of a stream-stream join (`[joins.<name>]`) for the `join`
 *  callback to turn into outputs: a matched pair, or an unmatched record of
 *  an outer side once its window closed. The host buffers, matches and
 *  times both sides; the callback is only the joiner. */
typedef struct rill_join_result {
    /** The `[joins.<name>]` it belongs to. */
    rill_bytes join;
    /** The records' key; null only for a keyless record (`keyless = "emit"`). */
    rill_bytes key;
    /** The left value; null for an unmatched right record (outer join). */
    rill_bytes left;
    /** The right value; null for an unmatched left record (left or outer join). */
    rill_bytes right;
    /** The later of the two records' times, or the unmatched record's (epoch ms). */
    int64_t timestamp;
} rill_join_result;

/** What a callback can do besides returning: emit, use state and timers,
 *  fail. One per call; never kept past it. */
typedef struct rill_ctx rill_ctx;

/** A processor: the callbacks of one plugin. Only `process` is required. */
typedef struct rill_processor {
    /** Called once per instance before any record; rill_config(ctx) is the
     *  manifest's `[config]` table as JSON. An error refuses the instance. */
    int (*init)(rill_ctx *ctx);
    /** Processes one record: emit outputs, or fail to dead-letter it. */
    int (*process)(const rill_record *record, rill_ctx *ctx);
    /** A timer fired; outputs go where `process` outputs go. */
    int (*on_timer)(const rill_tick *tick, rill_ctx *ctx);
    /** Folds `record` into the window's aggregate `current` (null for a new
     *  window) and writes the new aggregate into `next` (empty on entry). */
    int (*aggregate)(const rill_window *window, rill_bytes current, const rill_record *record, rill_buf *next,
                     rill_ctx *ctx);
    /** Session windows: merges an `older` session's aggregate into a
     *  `newer` one, written into `merged` (empty on entry). */
    int (*merge)(const rill_window *window, rill_bytes older, rill_bytes newer, rill_buf *merged, rill_ctx *ctx);
    /** Turns a window result into outputs. */
    int (*emit)(const rill_window_result *result, rill_ctx *ctx);
    /** Turns a stream-stream join result into outputs (rill_emit_joined). */
    int (*join)(const rill_join_result *result, rill_ctx *ctx);
    /** Releases what `init` put in rill_set_self (optional). */
    void (*drop)(void *self);
} rill_processor;

/** Declares the plugin's processor: `RILL_PROCESSOR(.process = f, ...);`
 *  at file scope, once per plugin. */
#define RILL_PROCESSOR(...) const rill_processor rill_processor_def = {__VA_ARGS__}
/** The processor RILL_PROCESSOR declared (the component exports it; the
 *  test driver takes it). */
extern const rill_processor rill_processor_def;

/* ---- Context ---------------------------------------------------------- */

/** The manifest's `[config]` table as JSON text. */
rill_bytes rill_config(const rill_ctx *ctx);
/** This instance's own data (set by `init`; NULL until then). */
void *rill_self(const rill_ctx *ctx);
/** Keeps `self` for this instance's later calls (`drop` releases it). */
void rill_set_self(rill_ctx *ctx, void *self);
/** The input record of a `process` call, NULL elsewhere. */
const rill_record *rill_input(const rill_ctx *ctx);

/** Fails the call with a printf-formatted message; returns RILL_ERROR so
 *  `return rill_fail(ctx, ...);` dead-letters the record. */
int rill_fail(rill_ctx *ctx, const char *format, ...) __attribute__((format(printf, 2, 3)));
/** The message of the last failure on `ctx` ("" when none). */
const char *rill_error_message(const rill_ctx *ctx);

/** Emits a record with this key and value to `output`, no headers, the
 *  input record's timestamp (rill-sdk's `Output::new`). Bytes are copied. */
int rill_emit(rill_ctx *ctx, const char *output, rill_bytes key, rill_bytes value);
/** Sends the input record on to `output` unchanged: key, value, headers and
 *  timestamp (`Output::forward`, Kafka Streams' `to`). With `[fields]` the
 *  value is not copied out of the processor: the host reuses the input's
 *  bytes, whether or not they were copied in. */
int rill_forward(rill_ctx *ctx, const char *output);
/** rill_forward to `topic`, chosen for this record, of an output declared
 *  with `topic-pattern` (`Output::forward(..).to_topic(..)`, Kafka Streams'
 *  `to(TopicNameExtractor)`). */
int rill_forward_to(rill_ctx *ctx, const char *output, const char *topic);
/** The input record with another value: key, headers and timestamp stay
 *  (`Output::map_value`, Kafka Streams' `mapValues`). */
int rill_map_value(rill_ctx *ctx, const char *output, rill_bytes value);
/** Emits a record with every field given. */
int rill_emit_output(rill_ctx *ctx, const rill_output *output);
/** Emits `value` to `output` with a join result's key and timestamp, no
 *  headers (rill-sdk's `Output::joined`). */
int rill_emit_joined(rill_ctx *ctx, const char *output, const rill_join_result *result, rill_bytes value);

/* ---- Fields ----------------------------------------------------------- */
/* A manifest's `[fields]` table names paths into the JSON value
 * (`pct = "system.cpu.total.norm.pct"`, `host = { path = "host", as =
 * "raw" }`). The host parses each value once, natively, and hands `process`
 * the declared fields with the record; the value itself is not copied into
 * the processor unless the manifest sets `input-value = "bytes"`. Fields are
 * read by their manifest names: the SDK reads the names from the host once
 * per instance (the first record), and a lookup compares `name` with the
 * declared ones, no host call. Everything a field points at is borrowed for
 * the call. */

/** What a declared field holds in one record. */
typedef enum rill_field_kind {
    /** The path is not in this record's value. */
    RILL_FIELD_MISSING,
    /** JSON `null`. */
    RILL_FIELD_NULL,
    /** `true` or `false`: `boolean`. */
    RILL_FIELD_BOOL,
    /** A number: `number`. */
    RILL_FIELD_NUMBER,
    /** A string, unescaped UTF-8: `text`. */
    RILL_FIELD_TEXT,
    /** An object or array, or any field declared `as = "raw"`: `raw`. */
    RILL_FIELD_RAW,
    /** No field to read: the value is null or not JSON (the host's message),
     *  or `name` is not in `[fields]`; `text` says which. */
    RILL_FIELD_ERROR,
} rill_field_kind;

/** JSON text exactly as it stands in the input value. */
typedef struct rill_raw_json {
    rill_bytes text;
    /** `text` is already what a compact writer (serde_json, Gson) writes:
     *  no whitespace, no key twice, no exponent, strings escaping only `"`,
     *  `\` and control characters, U+2028/U+2029 escaped. A writer can copy
     *  it instead of parsing and re-writing it (rill_json_with_member). */
    bool canonical;
} rill_raw_json;

/** One declared field of one record: `kind` says which member holds it. */
typedef struct rill_field_value {
    rill_field_kind kind;
    union {
        bool boolean;
        double number;
        /** RILL_FIELD_TEXT's text, RILL_FIELD_ERROR's message. */
        rill_bytes text;
        rill_raw_json raw;
    };
} rill_field_value;

/** The field the manifest's `[fields]` calls `name` in `record`. */
rill_field_value rill_field(const rill_record *record, const char *name);
/** The `index`th declared field (declaration order), for a loop over all;
 *  RILL_FIELD_ERROR past the end. */
rill_field_value rill_field_at(const rill_record *record, size_t index);
/** The number of fields the manifest declares (0 without `[fields]`). */
size_t rill_field_count(const rill_record *record);

/* Typed reads: RILL_OK with the field in `*out`, or RILL_ERROR with a
 * message on ctx (the value is not JSON, the field is missing, undeclared
 * or of another kind), so `return RILL_ERROR;` dead-letters the record. */

/** A number field. */
int rill_field_number(rill_ctx *ctx, const rill_record *record, const char *name, double *out);
/** A text field (unescaped UTF-8, borrowed). */
int rill_field_text(rill_ctx *ctx, const rill_record *record, const char *name, rill_bytes *out);
/** A boolean field. */
int rill_field_bool(rill_ctx *ctx, const rill_record *record, const char *name, bool *out);
/** A raw field: one declared `as = "raw"`, or an object or array. */
int rill_field_raw(rill_ctx *ctx, const rill_record *record, const char *name, rill_raw_json *out);

/** The record's value: `*out` is its bytes (RILL_NULL for Kafka's null);
 *  fails when the host did not copy it in (`value_omitted`), with the fix:
 *  set `input-value = "bytes"` in plugin.toml. */
int rill_value(rill_ctx *ctx, const rill_record *record, rill_bytes *out);

/* ---- Codecs ----------------------------------------------------------- */
/* The Rust SDK's natural encodings, so a store reads the same from every
 * language: a float is an IEEE 754 double, an int a signed 64-bit integer,
 * both 8 bytes big-endian (`f64::to_be_bytes`, `i64::to_be_bytes`). */

/** `value` as 8 big-endian bytes. */
void rill_f64_encode(double value, uint8_t out[8]);
/** The double in `bytes`; fails unless they are 8 bytes. */
int rill_f64_decode(rill_ctx *ctx, rill_bytes bytes, double *value);
/** `value` as 8 big-endian bytes. */
void rill_i64_encode(int64_t value, uint8_t out[8]);
/** The integer in `bytes`; fails unless they are 8 bytes. */
int rill_i64_decode(rill_ctx *ctx, rill_bytes bytes, int64_t *value);

/* ---- State ------------------------------------------------------------ */

/** A store declared in the manifest's `stores = [...]`. */
typedef struct rill_store {
    const char *name;
} rill_store;
/** The handle on store `name`: `static const rill_store PEAKS = RILL_STORE("peaks");` */
#define RILL_STORE(name) {(name)}

/** One entry of a range. */
typedef struct rill_entry {
    rill_bytes key;
    rill_bytes value;
} rill_entry;

/** The entries a range returned; they own their bytes (rill_entries_free). */
typedef struct rill_entries {
    rill_entry *items;
    size_t len;
} rill_entries;
/** Releases a range's entries. */
void rill_entries_free(rill_entries *entries);

/** The value under `key` into `value` (cleared first); `*found` says
 *  whether there was one. */
int rill_store_get(rill_ctx *ctx, rill_store store, rill_bytes key, rill_buf *value, bool *found);
/** Stores `value` under `key`, replacing what was there. */
int rill_store_put(rill_ctx *ctx, rill_store store, rill_bytes key, rill_bytes value);
/** Removes `key`; removing a missing key is not an error. */
int rill_store_delete(rill_ctx *ctx, rill_store store, rill_bytes key);
/** Entries with `start <= key < end` in key byte order (a null bound is
 *  open), at most `limit`. */
int rill_store_range(rill_ctx *ctx, rill_store store, rill_bytes start, rill_bytes end, uint32_t limit,
                     rill_entries *entries);
/** A float store's value (`*found` false leaves `*value` alone). */
int rill_store_get_f64(rill_ctx *ctx, rill_store store, rill_bytes key, double *value, bool *found);
/** Stores a float. */
int rill_store_put_f64(rill_ctx *ctx, rill_store store, rill_bytes key, double value);
/** An int store's value (`*found` false leaves `*value` alone). */
int rill_store_get_i64(rill_ctx *ctx, rill_store store, rill_bytes key, int64_t *value, bool *found);
/** Stores an int. */
int rill_store_put_i64(rill_ctx *ctx, rill_store store, rill_bytes key, int64_t value);

/** A table or global-table input, named by its topic: read-only. */
typedef struct rill_table {
    const char *topic;
} rill_table;
/** The handle on the table read from `topic`. */
#define RILL_TABLE(topic) {(topic)}
/** The current value of `key` in the table, as rill_store_get. */
int rill_table_get(rill_ctx *ctx, rill_table table, rill_bytes key, rill_buf *value, bool *found);

/* ---- Timers and log --------------------------------------------------- */

/** Schedules timer `name` every `interval_ms` of `clock`, replacing one of
 *  that name; `aligned` fires at multiples of the interval since the epoch.
 *  Timers can also be declared in the manifest (`[[timers]]`). */
int rill_schedule(rill_ctx *ctx, const char *name, rill_clock clock, uint64_t interval_ms, bool aligned);
/** Stops timer `name`; stopping a missing timer is not an error. */
void rill_cancel(rill_ctx *ctx, const char *name);

/** Log severities, as in every logging library. */
typedef enum rill_level { RILL_TRACE, RILL_DEBUG, RILL_INFO, RILL_WARN, RILL_ERROR_LEVEL } rill_level;
/** Writes one line to the host log, tagged with processor and task. */
void rill_log(rill_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- Windows ---------------------------------------------------------- */

/** The most common aggregate, a count kept as JSON: `count` (null for a new
 *  window) plus one, into `next` (rill-sdk's `windows::count_one`). */
int rill_count_one(rill_ctx *ctx, rill_bytes count, rill_buf *next);
/** Two sessions' JSON counts added up (rill-sdk's `windows::add_counts`). */
int rill_add_counts(rill_ctx *ctx, rill_bytes older, rill_bytes newer, rill_buf *merged);
/** A JSON count (null gives 0). */
int rill_count_decode(rill_ctx *ctx, rill_bytes count, uint64_t *value);

/* ---- JSON ------------------------------------------------------------- */
/* A small JSON tree that keeps what a byte-exact port needs: object keys in
 * source order and numbers as their source text. Parsing is strict (RFC
 * 8259, as serde_json), writing is compact (as serde_json and Gson). */

typedef enum rill_json_kind {
    RILL_JSON_NULL,
    RILL_JSON_FALSE,
    RILL_JSON_TRUE,
    RILL_JSON_NUMBER,
    RILL_JSON_STRING,
    RILL_JSON_ARRAY,
    RILL_JSON_OBJECT,
} rill_json_kind;

typedef struct rill_json rill_json;

/** One member of an object (or element of an array: `key` is null). */
typedef struct rill_json_member {
    rill_bytes key;
    rill_json *value;
} rill_json_member;

/** A JSON value. `text` is a string's decoded UTF-8 (NUL-terminated) or a
 *  number's source text; `members` an array's or object's contents. */
struct rill_json {
    rill_json_kind kind;
    char *text;
    size_t len;
    rill_json_member *members;
    size_t count;
    size_t cap;
    /** The SDK's own bookkeeping (where `text` lives); leave it alone. */
    unsigned internal;
};

/** Parses JSON text; NULL (with the reason on ctx, when given) if it is not
 *  one valid JSON value. */
rill_json *rill_json_parse(rill_ctx *ctx, rill_bytes text);
/** The input record's value as JSON; a null value, bad JSON or a value the
 *  host kept (`value_omitted`) fails. */
rill_json *rill_record_json(rill_ctx *ctx, const rill_record *record);
/** Releases a value and everything in it. */
void rill_json_free(rill_json *value);
/** `object[key]`, or NULL when `object` is not an object or has no `key`. */
const rill_json *rill_json_get(const rill_json *object, const char *key);
/** Follows object keys: rill_json_path(v, "system", "cpu", NULL). */
const rill_json *rill_json_path(const rill_json *value, ...);
/** A number's value; false when `value` is not a number. */
bool rill_json_number(const rill_json *value, double *number);
/** A string's text; NULL when `value` is not a string. */
const char *rill_json_string(const rill_json *value);

/** New values (NULL when out of memory). */
rill_json *rill_json_new(rill_json_kind kind);
rill_json *rill_json_new_string(const char *text, size_t len);
rill_json *rill_json_new_f64(double number);
rill_json *rill_json_new_i64(int64_t number);
/** A deep copy. */
rill_json *rill_json_copy(const rill_json *value);
/** Sets `object[key]` to `value` (taking it): replaced in place when the key
 *  exists, appended otherwise (serde_json's preserve_order). */
bool rill_json_set(rill_json *object, const char *key, rill_json *value);
/** Appends `value` (taking it) to an array. */
bool rill_json_push(rill_json *array, rill_json *value);

/** Escape U+2028 and U+2029 too (as Gson and JavaScript writers do). */
#define RILL_JSON_ESCAPE_LINE_SEPARATORS 1u
/** Appends `value` as compact JSON. */
bool rill_json_write(rill_buf *out, const rill_json *value, unsigned flags);
/** Appends `text` as a JSON string literal. */
bool rill_json_write_string(rill_buf *out, rill_bytes text, unsigned flags);
/** Appends a double as serde_json writes an f64: the shortest text that
 *  reads back the same ("0.9", "1.0", "1e21"); null when not finite. */
bool rill_json_write_f64(rill_buf *out, double value);

/** Appends `object` with member `key` = `value` added at its end, spliced
 *  from their texts without parsing: `{"a":1}` + `b`, `2` gives
 *  `{"a":1,"b":2}`. Only when both are canonical, `object` is an object and
 *  the text `"key"` occurs nowhere in it (so the key cannot be there
 *  already); otherwise returns false with `out` unchanged, and the caller
 *  parses and writes instead. Also false when out of memory. */
bool rill_json_with_member(rill_raw_json object, const char *key, rill_raw_json value, rill_buf *out);

#ifdef __cplusplus
}
#endif
#endif
