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
 * it with serde's words, as the Rust original does.
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

/** `object[name]`, required to be there and (unless `kind` is negative) of
 *  that kind; NULL with serde's message otherwise. */
static const rill_json *field(rill_ctx *ctx, const rill_json *object, const char *name, int kind) {
    const rill_json *value = rill_json_get(object, name);
    if (!value) {
        rill_fail(ctx, "missing field `%s`", name);
        return NULL;
    }
    if (kind >= 0 && value->kind != (rill_json_kind)kind) {
        rill_fail(ctx, "invalid type for field `%s`", name);
        return NULL;
    }
    return value;
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

static int process(const rill_record *record, rill_ctx *ctx) {
    const cpu_alert *self = rill_self(ctx);
    rill_json *metric = rill_record_json(ctx, record);
    if (!metric) return RILL_ERROR;
    int status = RILL_ERROR;
    rill_buf value = {0};
    /* The fields the Rust original's structs declare, in its order of checks. */
    const rill_json *system = NULL, *cpu = NULL, *total = NULL, *norm = NULL, *pct = NULL, *host = NULL,
                    *timestamp = NULL;
    if (metric->kind != RILL_JSON_OBJECT) {
        rill_fail(ctx, "invalid type: expected struct CpuMetric");
        goto done;
    }
    if (!(system = field(ctx, metric, "system", RILL_JSON_OBJECT)) ||
        !(cpu = field(ctx, system, "cpu", RILL_JSON_OBJECT)) || !(total = field(ctx, cpu, "total", RILL_JSON_OBJECT)) ||
        !(norm = field(ctx, total, "norm", RILL_JSON_OBJECT)) || !(pct = field(ctx, norm, "pct", RILL_JSON_NUMBER)) ||
        !(host = field(ctx, metric, "host", RILL_JSON_OBJECT)) || !(timestamp = field(ctx, metric, "@timestamp", -1)))
        goto done;
    double usage;
    rill_json_number(pct, &usage);
    if (usage <= self->threshold) {
        status = RILL_OK;
        goto done;
    }
    if (!write_alert(&value, host, timestamp)) {
        rill_fail(ctx, "out of memory");
        goto done;
    }
    status = rill_map_value(ctx, "alert", rill_buf_bytes(&value));
done:
    rill_buf_free(&value);
    rill_json_free(metric);
    return status;
}

RILL_PROCESSOR(.init = init, .process = process, .drop = free);
