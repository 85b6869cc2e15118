/*
 * cpu-peak in C: the same processor as plugins/cpu-peak, output for output.
 *
 * Each metricbeat CPU record raises its host's peak
 * system.cpu.total.norm.pct in the `peaks` store (a float store: 8
 * big-endian bytes, as the Rust original stores it); the manifest's timer
 * `flush` emits every host's peak since the last firing as
 * {"host":"<name>","peak":<pct>,"until":<ms>} to output `peak`, keyed by the
 * host, and clears it.
 */
#include "rill.h"

#include <math.h>

static const rill_store PEAKS = RILL_STORE("peaks");

/** Raises the record's host's peak. */
static int process(const rill_record *record, rill_ctx *ctx) {
    rill_json *metric = rill_record_json(ctx, record);
    if (!metric) return rill_fail(ctx, "not a metricbeat CPU record: %s", rill_error_message(ctx));
    const char *host = rill_json_string(rill_json_path(metric, "host", "name", NULL));
    double pct;
    bool has_pct = rill_json_number(rill_json_path(metric, "system", "cpu", "total", "norm", "pct", NULL), &pct);
    int status = RILL_OK;
    if (!host || !has_pct) {
        status = rill_fail(ctx, "not a metricbeat CPU record: %s",
                           !host ? "host.name must be a string" : "system.cpu.total.norm.pct must be a number");
    } else {
        rill_bytes key = rill_bytes_of(host, rill_json_path(metric, "host", "name", NULL)->len);
        double peak = -INFINITY;
        bool found;
        status = rill_store_get_f64(ctx, PEAKS, key, &peak, &found);
        if (status == RILL_OK && pct > peak) status = rill_store_put_f64(ctx, PEAKS, key, pct);
    }
    rill_json_free(metric);
    return status;
}

/** Every host's peak since the last firing, then none. */
static int flush(const rill_tick *tick, rill_ctx *ctx) {
    rill_entries peaks;
    if (rill_store_range(ctx, PEAKS, RILL_NULL, RILL_NULL, UINT32_MAX, &peaks) != RILL_OK) return RILL_ERROR;
    int status = RILL_OK;
    rill_buf value = {0};
    for (size_t i = 0; status == RILL_OK && i < peaks.len; i++) {
        double peak;
        status = rill_f64_decode(ctx, peaks.items[i].value, &peak);
        if (status != RILL_OK) break;
        rill_buf_clear(&value);
        bool ok = rill_buf_puts(&value, "{\"host\":") && rill_json_write_string(&value, peaks.items[i].key, 0) &&
                  rill_buf_puts(&value, ",\"peak\":") && rill_json_write_f64(&value, peak) &&
                  rill_buf_printf(&value, ",\"until\":%lld}", (long long)tick->time);
        if (!ok) status = rill_fail(ctx, "out of memory");
        if (status == RILL_OK) status = rill_emit(ctx, "peak", peaks.items[i].key, rill_buf_bytes(&value));
        if (status == RILL_OK) status = rill_store_delete(ctx, PEAKS, peaks.items[i].key);
    }
    rill_buf_free(&value);
    rill_entries_free(&peaks);
    return status;
}

RILL_PROCESSOR(.process = process, .on_timer = flush);
