/*
 * cpu-alert in C: the same processor as plugins/cpu-alert, record for record
 * and byte for byte.
 *
 * A cpu record whose system.cpu.total.norm.pct is greater than the
 * configured threshold becomes an alert: its `host` object plus "timestamp"
 * copied from "@timestamp", written as Gson's JsonObject.toString() writes it
 * (compact, key order kept, numbers in their source text, U+2028/U+2029
 * escaped). Key and timestamp are kept. A record that is not JSON or lacks
 * those fields (or has them with the wrong type) fails, which dead-letters
 * it, as the Rust original does.
 *
 * The host reads the three fields (plugin.toml's [fields]); the value itself
 * is never copied in. `host` and `timestamp` come as raw JSON text, so the
 * alert is usually the two texts spliced together without a parse
 * (rill_json_with_member); when that cannot be proven equal to Gson's
 * output (text not canonical, or host already has a "timestamp"), they are
 * parsed and written member by member, as before fields.
 */
#include "rill.h"

#include <math.h>
#include <stdlib.h>

/** The processor's own data, built by `init`. */
typedef struct cpu_alert {
    /** Alerts fire strictly above this normalized cpu usage (0..1). */
    double threshold;
} cpu_alert;

/** The `[config]` table: exactly one field, `threshold`, a number. */
static int init(rill_ctx *ctx) {
    rill_json *config = rill_json_parse(ctx, rill_config(ctx));
    if (!config) return RILL_ERROR;
    double threshold = 0;
    int status = RILL_OK;
    if (config->kind != RILL_JSON_OBJECT) status = rill_fail(ctx, "invalid [config] table: expected a table");
    for (size_t i = 0; status == RILL_OK && i < config->count; i++)
        if (!rill_bytes_eq(config->members[i].key, "threshold"))
            status = rill_fail(ctx, "invalid [config] table: unknown field `%.*s`, expected `threshold`",
                               (int)config->members[i].key.len, (const char *)config->members[i].key.data);
    if (status == RILL_OK && !rill_json_get(config, "threshold"))
        status = rill_fail(ctx, "invalid [config] table: missing field `threshold`");
    if (status == RILL_OK && !rill_json_number(rill_json_get(config, "threshold"), &threshold))
        status = rill_fail(ctx, "invalid [config] table: `threshold` must be a number");
    if (status == RILL_OK && !isfinite(threshold)) status = rill_fail(ctx, "threshold must be a finite number");
    rill_json_free(config);
    if (status != RILL_OK) return status;
    cpu_alert *self = malloc(sizeof *self);
    if (!self) return rill_fail(ctx, "out of memory");
    self->threshold = threshold;
    rill_set_self(ctx, self);
    return RILL_OK;
}

/** The alert: `host` with "timestamp" set to `timestamp` (in its place
 *  when host has one, last otherwise), written as Gson writes it. */
static bool write_alert(rill_buf *out, const rill_json *host, const rill_json *timestamp) {
    bool ok = rill_buf_append(out, "{", 1);
    bool replaced = false;
    for (size_t i = 0; ok && i < host->count; i++) {
        bool is_timestamp = rill_bytes_eq(host->members[i].key, "timestamp");
        replaced = replaced || is_timestamp;
        ok = (i == 0 || rill_buf_append(out, ",", 1)) &&
             rill_json_write_string(out, host->members[i].key, RILL_JSON_ESCAPE_LINE_SEPARATORS) &&
             rill_buf_append(out, ":", 1) &&
             rill_json_write(out, is_timestamp ? timestamp : host->members[i].value, RILL_JSON_ESCAPE_LINE_SEPARATORS);
    }
    if (ok && !replaced)
        ok = (host->count == 0 || rill_buf_append(out, ",", 1)) && rill_buf_puts(out, "\"timestamp\":") &&
             rill_json_write(out, timestamp, RILL_JSON_ESCAPE_LINE_SEPARATORS);
    return ok && rill_buf_append(out, "}", 1);
}

/** The alert from the raw texts: spliced when they are canonical and host
 *  has no "timestamp" yet (the bytes Gson would write anyway), else parsed
 *  and written by write_alert. */
static int alert_of(rill_ctx *ctx, rill_raw_json host, rill_raw_json timestamp, rill_buf *out) {
    if (rill_json_with_member(host, "timestamp", timestamp, out)) return RILL_OK;
    rill_json *host_json = rill_json_parse(ctx, host.text);
    rill_json *timestamp_json = host_json ? rill_json_parse(ctx, timestamp.text) : NULL;
    int status = RILL_ERROR;
    if (timestamp_json) status = write_alert(out, host_json, timestamp_json) ? RILL_OK : rill_fail(ctx, "out of memory");
    rill_json_free(host_json);
    rill_json_free(timestamp_json);
    return status;
}

/** The manifest's [fields] pct, host (raw) and timestamp (raw): the fields
 *  the Rust original's structs declare, checked in its order. */
static int process(const rill_record *record, rill_ctx *ctx) {
    const cpu_alert *self = rill_self(ctx);
    double usage;
    rill_raw_json host, timestamp;
    if (rill_field_number(ctx, record, "pct", &usage) != RILL_OK) return RILL_ERROR;
    if (rill_field_raw(ctx, record, "host", &host) != RILL_OK) return RILL_ERROR;
    if (host.text.len == 0 || host.text.data[0] != '{') return rill_fail(ctx, "invalid type for field `host`");
    if (rill_field_raw(ctx, record, "timestamp", &timestamp) != RILL_OK) return RILL_ERROR;
    if (usage <= self->threshold) return RILL_OK;
    rill_buf value = {0};
    int status = alert_of(ctx, host, timestamp, &value);
    if (status == RILL_OK) status = rill_map_value(ctx, "alert", rill_buf_bytes(&value));
    rill_buf_free(&value);
    return status;
}

RILL_PROCESSOR(.init = init, .process = process, .drop = free);
