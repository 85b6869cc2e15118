/*
 * rill_testing.h: run a C processor natively (gcc, no component, no broker),
 * as rill-sdk's `testing::TestDriver` and guest-sdk/python's
 * `rill.testing.Driver` do. The driver keeps stores and tables in memory,
 * tracks stream time and the wall clock, fires timers, and returns each
 * call's outputs (or its error). tools/c/test.sh builds every C plugin's
 * app_test.c with it.
 *
 *     rill_driver *d = rill_driver_new(&rill_processor_def, "{\"threshold\":0.5}");
 *     rill_result r = rill_driver_process_value(d, "{...}");
 *     RILL_CHECK(r.ok && r.len == 1);
 *     RILL_CHECK_TEXT(r.outputs[0].value, "...");
 *     rill_result_free(&r);
 *     rill_driver_free(d);
 *
 * A test file defines test functions with RILL_TEST(name) and ends with
 * RILL_TEST_MAIN(), which runs them and prints "N passed, N failed".
 */
#ifndef RILL_TESTING_H
#define RILL_TESTING_H

#include "rill.h"

#include <stdio.h>
#include <string.h>

/** An emitted record, as the driver saw it (owned by the result). */
typedef struct rill_emitted {
    const char *output;
    rill_bytes key;
    rill_bytes value;
    const rill_header *headers;
    size_t header_count;
    /** The record's timestamp: given, or the input's / the firing's. */
    int64_t timestamp;
} rill_emitted;

/** What one driver call gave: outputs, or the error that would
 *  dead-letter the record (`ok` false, `error` set). */
typedef struct rill_result {
    bool ok;
    const char *error;
    rill_emitted *outputs;
    size_t len;
} rill_result;

/** Releases a result. */
void rill_result_free(rill_result *result);

typedef struct rill_driver rill_driver;

/** A driver for `processor` built with `config_json` (the `[config]` table
 *  as JSON). When init fails, the driver is returned anyway and
 *  rill_driver_error tells why; every call on it then fails. */
rill_driver *rill_driver_new(const rill_processor *processor, const char *config_json);
/** Why init failed (NULL when it did not). */
const char *rill_driver_error(const rill_driver *driver);
/** Declares a timer as the manifest's `[[timers]]` would. */
void rill_driver_with_timer(rill_driver *driver, const char *name, rill_clock clock, int64_t interval_ms,
                            bool aligned);
/** How a declared field is handed over: the manifest's `as`. */
typedef enum rill_field_as {
    /** `as = "value"` (the default): scalars typed, objects and arrays raw. */
    RILL_FIELD_AS_VALUE,
    /** `as = "raw"`: always the JSON text. */
    RILL_FIELD_AS_RAW,
} rill_field_as;
/** Declares a field as the manifest's `[fields]` does (`name = { path, as
 *  }`; call in declaration order). From then on each record's fields are
 *  read out of its JSON value as the host reads them (a dotted path, a
 *  numeric segment indexing an array, or a JSON Pointer starting with "/";
 *  raw text with its canonical flag), the value is not passed
 *  (`value_omitted`) and rill_forward forwards the input's value. */
void rill_driver_with_field(rill_driver *driver, const char *name, const char *path, rill_field_as as);
/** The manifest's `input-value = "bytes"`: with fields, the value too. */
void rill_driver_with_input_bytes(rill_driver *driver);
/** Releases the driver, its processor instance and its state. */
void rill_driver_free(rill_driver *driver);

/** Processes one record: its outputs, then the stream-time timer firings
 *  it causes (stream time moves to its timestamp when it succeeds). */
rill_result rill_driver_process(rill_driver *driver, const rill_record *record);
/** A record with this text value, no key, at the current stream time
 *  (NULL gives a null value). */
rill_result rill_driver_process_value(rill_driver *driver, const char *value);
/** A record with this key and value at the current stream time. */
rill_result rill_driver_process_keyed(rill_driver *driver, const char *key, const char *value);
/** A record with this key and value at `timestamp`. */
rill_result rill_driver_process_at(rill_driver *driver, const char *key, const char *value, int64_t timestamp);
/** Moves stream time forward to `time`, firing stream-time timers. */
rill_result rill_driver_advance_stream_time(rill_driver *driver, int64_t time);
/** Sets the wall clock to `now`, firing wall-clock timers. */
rill_result rill_driver_advance_wall_clock(rill_driver *driver, int64_t now);
/** Calls the `aggregate` export's fold directly: `records` into `current`
 *  for `window`; the last aggregate (or every step when `running`) comes
 *  back as the values of the result's outputs. */
rill_result rill_driver_aggregate(rill_driver *driver, const rill_window *window, rill_bytes current,
                                  const rill_record *records, size_t count, bool running);
/** Calls `emit` on a window result. */
rill_result rill_driver_emit(rill_driver *driver, const rill_window_result *result);
/** Calls `join` on a stream-stream join result. */
rill_result rill_driver_join(rill_driver *driver, const rill_join_result *result);

/** Seeds or reads a store (`found` may be NULL); reading copies into `value`. */
void rill_driver_store_put(rill_driver *driver, const char *store, rill_bytes key, rill_bytes value);
bool rill_driver_store_get(rill_driver *driver, const char *store, rill_bytes key, rill_buf *value);
/** The number of entries in a store. */
size_t rill_driver_store_len(rill_driver *driver, const char *store);
/** Seeds a table (or global table) read from `topic`; a null value deletes. */
void rill_driver_set_table(rill_driver *driver, const char *topic, rill_bytes key, rill_bytes value);
/** Lines the processor logged so far, one per line ("INFO message\n"). */
const char *rill_driver_log(rill_driver *driver);

/* ---- A minimal test runner -------------------------------------------- */

/** Failed checks of the running test (the runner's own counter). */
extern int rill_test_failures;

/** Checks a condition; a failure prints the file, line and expression. */
#define RILL_CHECK(cond)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
            rill_test_failures++;                                                         \
        }                                                                                 \
    } while (0)

/** Checks that `bytes` hold exactly the text `text`, printing both when not. */
#define RILL_CHECK_TEXT(bytes, text)                                                                     \
    do {                                                                                                 \
        rill_bytes rill_got_ = (bytes);                                                                  \
        if (!rill_bytes_eq(rill_got_, (text))) {                                                         \
            fprintf(stderr, "  %s:%d: expected %s, got %.*s\n", __FILE__, __LINE__, (text),             \
                    rill_got_.data ? (int)rill_got_.len : 6, rill_got_.data ? (const char *)rill_got_.data \
                                                                            : "(null)");                 \
            rill_test_failures++;                                                                        \
        }                                                                                                \
    } while (0)

typedef struct rill_test_case {
    const char *name;
    void (*run)(void);
} rill_test_case;

/** Registers a test (run in definition order by RILL_TEST_MAIN). */
void rill_test_register(const char *name, void (*run)(void));
/** Runs every registered test; prints one line per test and the totals.
 *  Returns the process exit status. */
int rill_test_run_all(const char *suite);

#define RILL_TEST(name)                                                          \
    static void name(void);                                                      \
    __attribute__((constructor)) static void rill_register_##name(void) {        \
        rill_test_register(#name, name);                                         \
    }                                                                            \
    static void name(void)

#define RILL_TEST_MAIN() \
    int main(void) { return rill_test_run_all(__FILE__); }

#endif
