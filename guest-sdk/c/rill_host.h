/*
 * rill_host.h: the SDK's inside, shared by the component ABI (abi.c) and the
 * native test driver (testing.c). Plugin code never includes it.
 *
 * `rill_host` is where host calls go: the component imports on wasm, an
 * in-memory store natively. `rill_run_*` are the one implementation of each
 * export, so the component and the driver behave the same.
 */
#ifndef RILL_HOST_H
#define RILL_HOST_H

#include "rill.h"

/** Host calls. Results are malloc'd and owned by the caller; each returns
 *  RILL_OK, or RILL_ERROR with a malloc'd message in `*error`. */
typedef struct rill_host {
    int (*get)(const char *store, rill_bytes key, rill_buf *value, bool *found, char **error);
    int (*put)(const char *store, rill_bytes key, rill_bytes value, char **error);
    int (*del)(const char *store, rill_bytes key, char **error);
    int (*range)(const char *store, rill_bytes start, rill_bytes end, uint32_t limit, rill_entries *out,
                 char **error);
    int (*lookup)(const char *table, rill_bytes key, rill_buf *value, bool *found, char **error);
    int (*schedule)(const char *name, rill_clock clock, uint64_t interval_ms, bool aligned, char **error);
    void (*cancel)(const char *name);
    void (*log)(rill_level level, const char *message, size_t len);
} rill_host;

/** The host calls go to (set by abi.c or the test driver). */
extern const rill_host *rill_current_host;

/** An emitted record; owns its bytes (malloc'd, so the component ABI can
 *  hand them to the host and free them after). */
typedef struct rill_owned_output {
    char *output;
    size_t output_len;
    uint8_t *key;
    size_t key_len;
    bool has_key;
    uint8_t *value;
    size_t value_len;
    bool has_value;
    rill_header *headers; /* keys and values malloc'd */
    size_t header_count;
    bool has_timestamp;
    int64_t timestamp;
    /** rill_forward under `[fields]`: the value is the input record's, which
     *  the host holds (`output-value::input`); `value` is not set. */
    bool value_from_input;
} rill_owned_output;

/** One processor instance: what survives between calls. */
typedef struct rill_instance {
    const rill_processor *processor;
    char *config;
    size_t config_len;
    void *self;
    /** The manifest's `[fields]` names in declaration order (malloc'd
     *  bytes), read from the host once, before the first record with
     *  fields; `field_names_known` says whether that happened. */
    rill_bytes *field_names;
    size_t field_name_count;
    bool field_names_known;
} rill_instance;

/** A record's declared fields (rill.h's opaque `rill_fields`). */
struct rill_fields {
    /** Where the names are (the instance's, read once). */
    const rill_instance *instance;
    /** One per name, in declaration order (when `error` is null). */
    const rill_field_value *values;
    size_t count;
    /** The host's message when the value is null or not JSON, else RILL_NULL. */
    rill_bytes error;
};

/** Keeps the `[fields]` names for the instance's lifetime (taking `names`
 *  and each name's bytes, all malloc'd). */
void rill_instance_set_field_names(rill_instance *instance, rill_bytes *names, size_t count);

struct rill_ctx {
    rill_instance *instance;
    const rill_record *record;
    rill_owned_output *outputs;
    size_t output_count;
    size_t output_cap;
    char *error;
};

/** A fresh context for one call. */
void rill_ctx_start(rill_ctx *ctx, rill_instance *instance, const rill_record *record);
/** Releases the context's outputs (those not taken) and error. */
void rill_ctx_finish(rill_ctx *ctx);
/** Releases one output's memory. */
void rill_owned_output_free(rill_owned_output *output);

/** Builds the instance from the config JSON (RILL_ERROR: ctx has why). */
int rill_run_init(rill_instance *instance, const char *config, size_t len, rill_ctx *ctx);
/** Runs `process` on one record (both the `process` and `process-fields`
 *  exports: `record->fields` tells them apart); outputs are on ctx. */
int rill_run_process(rill_instance *instance, const rill_record *record, rill_ctx *ctx);
/** Runs the handler of a timer firing; outputs are on ctx. */
int rill_run_timer(rill_instance *instance, const rill_tick *tick, rill_ctx *ctx);
/** Folds one aggregation as the `aggregate` export defines it: merge the
 *  bridged sessions (oldest first) into `current`, then fold each record,
 *  keeping every step (`running`) or the last; steps go into `steps[i]`,
 *  `*count` of them (at most record_count, or 1). */
int rill_run_aggregate(rill_instance *instance, const rill_window *window, rill_bytes current,
                       const rill_bytes *merged, size_t merged_count, const rill_record *records,
                       size_t record_count, bool running, rill_buf *steps, size_t *count, rill_ctx *ctx);
/** Turns one window result into outputs on ctx. */
int rill_run_emit(rill_instance *instance, const rill_window_result *result, rill_ctx *ctx);
/** Turns one stream-stream join result into outputs on ctx. */
int rill_run_join(rill_instance *instance, const rill_join_result *result, rill_ctx *ctx);
/** Releases the instance's data. */
void rill_instance_drop(rill_instance *instance);

/** A malloc'd copy of `len` bytes plus a NUL (NULL when out of memory). */
char *rill_strndup(const void *data, size_t len);
/** A malloc'd printf-formatted message. */
char *rill_format(const char *format, va_list args);
/** Fails the call with `message` (malloc'd, taken; NULL means out of
 *  memory); returns RILL_ERROR. */
int rill_fail_take(rill_ctx *ctx, char *message);

#endif
