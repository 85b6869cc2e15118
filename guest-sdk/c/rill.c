/*
 * rill.c: what a processor calls besides its context: codecs, state,
 * timers and log over `rill_current_host`, the windows' count aggregate,
 * and the one implementation of each export (rill_run_*), shared by the
 * component ABI (abi.c) and the native test driver (testing.c). It builds on
 * every other part of the SDK; none of them calls back into it.
 */
#include "rill_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const rill_host *rill_current_host;

/* ---- Codecs ----------------------------------------------------------- */

void rill_i64_encode(int64_t value, uint8_t out[8]) {
    uint64_t bits = (uint64_t)value;
    for (int i = 7; i >= 0; i--, bits >>= 8) out[i] = (uint8_t)bits;
}

int rill_i64_decode(rill_ctx *ctx, rill_bytes bytes, int64_t *value) {
    if (bytes.len != 8 || !bytes.data) return rill_fail(ctx, "an int is 8 bytes, found %zu", bytes.len);
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = (bits << 8) | bytes.data[i];
    *value = (int64_t)bits;
    return RILL_OK;
}

void rill_f64_encode(double value, uint8_t out[8]) {
    int64_t bits;
    memcpy(&bits, &value, 8);
    rill_i64_encode(bits, out);
}

int rill_f64_decode(rill_ctx *ctx, rill_bytes bytes, double *value) {
    if (bytes.len != 8 || !bytes.data) return rill_fail(ctx, "a float is 8 bytes, found %zu", bytes.len);
    int64_t bits;
    rill_i64_decode(ctx, bytes, &bits);
    memcpy(value, &bits, 8);
    return RILL_OK;
}

/* ---- State, timers, log ---------------------------------------------- */

/** Passes a host call's result on, moving its message onto ctx. */
static int host_result(rill_ctx *ctx, int status, char *error) {
    if (status == RILL_OK) return RILL_OK;
    return rill_fail_take(ctx, error);
}

int rill_store_get(rill_ctx *ctx, rill_store store, rill_bytes key, rill_buf *value, bool *found) {
    char *error = NULL;
    rill_buf_clear(value);
    return host_result(ctx, rill_current_host->get(store.name, key, value, found, &error), error);
}

int rill_store_put(rill_ctx *ctx, rill_store store, rill_bytes key, rill_bytes value) {
    char *error = NULL;
    if (!value.data) value = rill_str("");
    return host_result(ctx, rill_current_host->put(store.name, key, value, &error), error);
}

int rill_store_delete(rill_ctx *ctx, rill_store store, rill_bytes key) {
    char *error = NULL;
    return host_result(ctx, rill_current_host->del(store.name, key, &error), error);
}

int rill_store_range(rill_ctx *ctx, rill_store store, rill_bytes start, rill_bytes end, uint32_t limit,
                     rill_entries *entries) {
    char *error = NULL;
    *entries = (rill_entries){0};
    return host_result(ctx, rill_current_host->range(store.name, start, end, limit, entries, &error), error);
}

void rill_entries_free(rill_entries *entries) {
    for (size_t i = 0; i < entries->len; i++) {
        free((void *)entries->items[i].key.data);
        free((void *)entries->items[i].value.data);
    }
    free(entries->items);
    *entries = (rill_entries){0};
}

int rill_store_get_f64(rill_ctx *ctx, rill_store store, rill_bytes key, double *value, bool *found) {
    rill_buf buf = {0};
    int status = rill_store_get(ctx, store, key, &buf, found);
    if (status == RILL_OK && *found) status = rill_f64_decode(ctx, rill_buf_bytes(&buf), value);
    rill_buf_free(&buf);
    return status;
}

int rill_store_put_f64(rill_ctx *ctx, rill_store store, rill_bytes key, double value) {
    uint8_t bytes[8];
    rill_f64_encode(value, bytes);
    return rill_store_put(ctx, store, key, rill_bytes_of(bytes, 8));
}

int rill_store_get_i64(rill_ctx *ctx, rill_store store, rill_bytes key, int64_t *value, bool *found) {
    rill_buf buf = {0};
    int status = rill_store_get(ctx, store, key, &buf, found);
    if (status == RILL_OK && *found) status = rill_i64_decode(ctx, rill_buf_bytes(&buf), value);
    rill_buf_free(&buf);
    return status;
}

int rill_store_put_i64(rill_ctx *ctx, rill_store store, rill_bytes key, int64_t value) {
    uint8_t bytes[8];
    rill_i64_encode(value, bytes);
    return rill_store_put(ctx, store, key, rill_bytes_of(bytes, 8));
}

int rill_table_get(rill_ctx *ctx, rill_table table, rill_bytes key, rill_buf *value, bool *found) {
    char *error = NULL;
    rill_buf_clear(value);
    return host_result(ctx, rill_current_host->lookup(table.topic, key, value, found, &error), error);
}

int rill_schedule(rill_ctx *ctx, const char *name, rill_clock clock, uint64_t interval_ms, bool aligned) {
    char *error = NULL;
    return host_result(ctx, rill_current_host->schedule(name, clock, interval_ms, aligned, &error), error);
}

void rill_cancel(rill_ctx *ctx, const char *name) {
    (void)ctx;
    rill_current_host->cancel(name);
}

void rill_log(rill_level level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *message = rill_format(format, args);
    va_end(args);
    if (message && rill_current_host) rill_current_host->log(level, message, strlen(message));
    free(message);
}

/* ---- Windows ---------------------------------------------------------- */

int rill_count_decode(rill_ctx *ctx, rill_bytes count, uint64_t *value) {
    *value = 0;
    if (!count.data) return RILL_OK;
    if (count.len == 0 || count.len > 20) return rill_fail(ctx, "aggregate is not the JSON expected: a count");
    uint64_t n = 0;
    for (size_t i = 0; i < count.len; i++) {
        uint8_t c = count.data[i];
        if (c < '0' || c > '9' || (i == 0 && c == '0' && count.len > 1) || n > (UINT64_MAX - (c - '0')) / 10)
            return rill_fail(ctx, "aggregate is not the JSON expected: a count");
        n = n * 10 + (uint64_t)(c - '0');
    }
    *value = n;
    return RILL_OK;
}

int rill_count_one(rill_ctx *ctx, rill_bytes count, rill_buf *next) {
    uint64_t n;
    if (rill_count_decode(ctx, count, &n) != RILL_OK) return RILL_ERROR;
    rill_buf_clear(next);
    return rill_buf_printf(next, "%llu", (unsigned long long)(n + 1)) ? RILL_OK : rill_fail(ctx, "out of memory");
}

int rill_add_counts(rill_ctx *ctx, rill_bytes older, rill_bytes newer, rill_buf *merged) {
    uint64_t a, b;
    if (rill_count_decode(ctx, older, &a) != RILL_OK || rill_count_decode(ctx, newer, &b) != RILL_OK)
        return RILL_ERROR;
    rill_buf_clear(merged);
    return rill_buf_printf(merged, "%llu", (unsigned long long)(a + b)) ? RILL_OK : rill_fail(ctx, "out of memory");
}

/* ---- The exports, one implementation each ----------------------------- */

/** A callback's status as RILL_OK/RILL_ERROR, with a message for a bare
 *  error code. */
static int checked(rill_ctx *ctx, int status, const char *callback) {
    if (status == RILL_OK) return RILL_OK;
    if (!ctx->error) rill_fail(ctx, "%s returned error code %d", callback, status);
    return RILL_ERROR;
}

int rill_run_init(rill_instance *instance, const char *config, size_t len, rill_ctx *ctx) {
    rill_json *parsed = rill_json_parse(ctx, rill_bytes_of(config, len));
    if (!parsed) {
        char *why = ctx->error;
        ctx->error = NULL;
        rill_fail(ctx, "invalid [config] table: %s", why ? why : "out of memory");
        free(why);
        return RILL_ERROR;
    }
    rill_json_free(parsed);
    instance->config = rill_strndup(config, len);
    instance->config_len = len;
    if (!instance->config) return rill_fail(ctx, "out of memory");
    if (!instance->processor->process) return rill_fail(ctx, "the processor has no process callback");
    if (!instance->processor->init) return RILL_OK;
    return checked(ctx, instance->processor->init(ctx), "init");
}

int rill_run_process(rill_instance *instance, const rill_record *record, rill_ctx *ctx) {
    (void)instance;
    return checked(ctx, ctx->instance->processor->process(record, ctx), "process");
}

int rill_run_timer(rill_instance *instance, const rill_tick *tick, rill_ctx *ctx) {
    if (!instance->processor->on_timer)
        return rill_fail(ctx, "on_timer is not implemented, but timer '%.*s' fired", (int)tick->name.len,
                         (const char *)tick->name.data);
    return checked(ctx, instance->processor->on_timer(tick, ctx), "on_timer");
}

int rill_run_aggregate(rill_instance *instance, const rill_window *window, rill_bytes current,
                       const rill_bytes *merged, size_t merged_count, const rill_record *records,
                       size_t record_count, bool running, rill_buf *steps, size_t *count, rill_ctx *ctx) {
    const rill_processor *p = instance->processor;
    int store_len = (int)window->store.len;
    const char *store = (const char *)window->store.data;
    *count = 0;
    if (!p->aggregate)
        return rill_fail(ctx, "aggregate is not implemented, but records reached window store '%.*s'", store_len,
                         store);
    rill_buf a = {0}, b = {0};
    rill_buf *acc = &a, *next = &b;
    bool have = current.data != NULL;
    if (have && !rill_buf_append(acc, current.data, current.len)) goto oom;
    for (size_t i = 0; i < merged_count; i++) {
        if (!have) {
            if (!rill_buf_append(acc, merged[i].data, merged[i].len)) goto oom;
            have = true;
            continue;
        }
        if (!p->merge) {
            rill_buf_free(&a), rill_buf_free(&b);
            return rill_fail(ctx, "merge is not implemented, but sessions of window store '%.*s' merged", store_len,
                             store);
        }
        rill_buf_clear(next);
        if (checked(ctx, p->merge(window, rill_buf_bytes(acc), merged[i], next, ctx), "merge") != RILL_OK) goto fail;
        rill_buf *t = acc;
        acc = next, next = t;
    }
    for (size_t i = 0; i < record_count; i++) {
        rill_buf_clear(next);
        rill_bytes so_far = have ? rill_buf_bytes(acc) : RILL_NULL;
        if (checked(ctx, p->aggregate(window, so_far, &records[i], next, ctx), "aggregate") != RILL_OK) goto fail;
        rill_buf *t = acc;
        acc = next, next = t;
        have = true;
        if (running) {
            rill_buf_clear(&steps[*count]);
            if (!rill_buf_append(&steps[*count], acc->data, acc->len)) goto oom;
            (*count)++;
        }
    }
    if (!running && have) {
        rill_buf_clear(&steps[0]);
        if (!rill_buf_append(&steps[0], acc->data, acc->len)) goto oom;
        *count = 1;
    }
    rill_buf_free(&a), rill_buf_free(&b);
    return RILL_OK;
oom:
    rill_fail(ctx, "out of memory");
fail:
    rill_buf_free(&a), rill_buf_free(&b);
    return RILL_ERROR;
}

int rill_run_emit(rill_instance *instance, const rill_window_result *result, rill_ctx *ctx) {
    if (!instance->processor->emit)
        return rill_fail(ctx, "emit is not implemented, but window store '%.*s' has a result",
                         (int)result->window.store.len, (const char *)result->window.store.data);
    return checked(ctx, instance->processor->emit(result, ctx), "emit");
}

int rill_run_join(rill_instance *instance, const rill_join_result *result, rill_ctx *ctx) {
    if (!instance->processor->join)
        return rill_fail(ctx, "join is not implemented, but join '%.*s' has a result", (int)result->join.len,
                         (const char *)result->join.data);
    return checked(ctx, instance->processor->join(result, ctx), "join");
}

void rill_instance_drop(rill_instance *instance) {
    if (instance->self && instance->processor->drop) instance->processor->drop(instance->self);
    free(instance->config);
    for (size_t i = 0; i < instance->field_name_count; i++) free((void *)instance->field_names[i].data);
    free(instance->field_names);
    instance->self = NULL;
    instance->config = NULL;
    instance->field_names = NULL;
    instance->field_name_count = 0;
    instance->field_names_known = false;
}
