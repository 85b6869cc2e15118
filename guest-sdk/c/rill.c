/*
 * rill.c: the SDK's plain parts: bytes and buffers, the context (outputs,
 * errors), codecs, state, timers and log over `rill_current_host`, and the
 * one implementation of each export (rill_run_*), shared by the component
 * ABI and the native test driver.
 */
#include "rill_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const rill_host *rill_current_host;

/* ---- Bytes and buffers ------------------------------------------------ */

rill_bytes rill_str(const char *text) {
    return text ? (rill_bytes){(const uint8_t *)text, strlen(text)} : RILL_NULL;
}

rill_bytes rill_bytes_of(const void *data, size_t len) {
    return (rill_bytes){(const uint8_t *)data, len};
}

bool rill_is_null(rill_bytes bytes) { return bytes.data == NULL; }

bool rill_bytes_eq(rill_bytes bytes, const char *text) {
    size_t len = strlen(text);
    return bytes.data != NULL && bytes.len == len && memcmp(bytes.data, text, len) == 0;
}

long rill_utf8_length(rill_bytes bytes) {
    long count = 0;
    size_t i = 0;
    while (i < bytes.len) {
        uint8_t c = bytes.data[i];
        size_t n;
        uint32_t min;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            count++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return -1;
        }
        if (i + n >= bytes.len) return -1;
        for (size_t k = 1; k <= n; k++) {
            uint8_t cc = bytes.data[i + k];
            if ((cc & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (cc & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
        i += n + 1;
        count++;
    }
    return count;
}

size_t rill_java_length(rill_bytes bytes) {
    size_t units = 0;
    size_t i = 0;
    while (i < bytes.len) {
        uint8_t c = bytes.data[i++];
        units++;
        if (c < 0x80) continue;
        /* The well-formed second-byte range of each lead byte (Unicode
         * table 3-7); anything else ends a maximal subpart as one U+FFFD. */
        size_t more;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c >= 0xE0 && c <= 0xEF) more = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) more = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else continue;
        size_t got = 0;
        while (got < more && i < bytes.len && bytes.data[i] >= lo && bytes.data[i] <= hi) {
            i++, got++;
            lo = 0x80, hi = 0xBF;
        }
        if (got == more && more == 3) units++; /* a supplementary character: a surrogate pair */
    }
    return units;
}

static bool buf_reserve(rill_buf *buf, size_t more) {
    if (buf->len + more + 1 <= buf->cap) return true;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < buf->len + more + 1) cap *= 2;
    uint8_t *data = realloc(buf->data, cap);
    if (!data) return false;
    buf->data = data;
    buf->cap = cap;
    return true;
}

bool rill_buf_append(rill_buf *buf, const void *data, size_t len) {
    if (!buf_reserve(buf, len)) return false;
    if (len) memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return true;
}

bool rill_buf_puts(rill_buf *buf, const char *text) { return rill_buf_append(buf, text, strlen(text)); }

bool rill_buf_printf(rill_buf *buf, const char *format, ...) {
    va_list args;
    va_start(args, format);
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(NULL, 0, format, args);
    va_end(args);
    bool ok = n >= 0 && buf_reserve(buf, (size_t)n);
    if (ok) {
        vsnprintf((char *)buf->data + buf->len, (size_t)n + 1, format, again);
        buf->len += (size_t)n;
    }
    va_end(again);
    return ok;
}

void rill_buf_clear(rill_buf *buf) { buf->len = 0; }

rill_bytes rill_buf_bytes(const rill_buf *buf) {
    static const uint8_t empty[1];
    return (rill_bytes){buf->data ? buf->data : empty, buf->len};
}

const char *rill_buf_cstr(rill_buf *buf) {
    if (!buf_reserve(buf, 0)) return NULL;
    buf->data[buf->len] = 0;
    return (const char *)buf->data;
}

void rill_buf_free(rill_buf *buf) {
    free(buf->data);
    *buf = (rill_buf){0};
}

char *rill_strndup(const void *data, size_t len) {
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    if (len) memcpy(copy, data, len);
    copy[len] = 0;
    return copy;
}

char *rill_format(const char *format, va_list args) {
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(NULL, 0, format, args);
    char *message = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (message) vsnprintf(message, (size_t)n + 1, format, again);
    va_end(again);
    return message;
}

/* ---- Context ---------------------------------------------------------- */

void rill_ctx_start(rill_ctx *ctx, rill_instance *instance, const rill_record *record) {
    *ctx = (rill_ctx){.instance = instance, .record = record};
}

void rill_owned_output_free(rill_owned_output *o) {
    free(o->output);
    free(o->key);
    free(o->value);
    for (size_t i = 0; i < o->header_count; i++) {
        free((void *)o->headers[i].key.data);
        free((void *)o->headers[i].value.data);
    }
    free(o->headers);
    *o = (rill_owned_output){0};
}

void rill_ctx_finish(rill_ctx *ctx) {
    for (size_t i = 0; i < ctx->output_count; i++) rill_owned_output_free(&ctx->outputs[i]);
    free(ctx->outputs);
    free(ctx->error);
    ctx->outputs = NULL;
    ctx->output_count = ctx->output_cap = 0;
    ctx->error = NULL;
}

rill_bytes rill_config(const rill_ctx *ctx) {
    return (rill_bytes){(const uint8_t *)ctx->instance->config, ctx->instance->config_len};
}

void *rill_self(const rill_ctx *ctx) { return ctx->instance->self; }

void rill_set_self(rill_ctx *ctx, void *self) { ctx->instance->self = self; }

const rill_record *rill_input(const rill_ctx *ctx) { return ctx->record; }

/** Replaces the context's error message (taking `message`). */
static int set_error(rill_ctx *ctx, char *message) {
    if (!ctx) {
        free(message);
        return RILL_ERROR;
    }
    free(ctx->error);
    ctx->error = message ? message : rill_strndup("out of memory", 13);
    return RILL_ERROR;
}

int rill_fail(rill_ctx *ctx, const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *message = rill_format(format, args);
    va_end(args);
    return set_error(ctx, message);
}

const char *rill_error_message(const rill_ctx *ctx) { return ctx->error ? ctx->error : ""; }

/** A malloc'd copy of optional bytes (a non-NULL pointer even when empty). */
static bool copy_optional(rill_bytes in, uint8_t **data, size_t *len, bool *present) {
    *present = in.data != NULL;
    *len = in.len;
    *data = NULL;
    if (!in.data) return true;
    *data = malloc(in.len ? in.len : 1);
    if (!*data) return false;
    if (in.len) memcpy(*data, in.data, in.len);
    return true;
}

int rill_emit_output(rill_ctx *ctx, const rill_output *in) {
    if (!in->output) return rill_fail(ctx, "an output needs the name of a manifest output");
    if (ctx->output_count == ctx->output_cap) {
        size_t cap = ctx->output_cap ? ctx->output_cap * 2 : 4;
        rill_owned_output *grown = realloc(ctx->outputs, cap * sizeof *grown);
        if (!grown) return rill_fail(ctx, "out of memory");
        ctx->outputs = grown;
        ctx->output_cap = cap;
    }
    rill_owned_output o = {.has_timestamp = in->has_timestamp, .timestamp = in->timestamp};
    o.output_len = strlen(in->output);
    o.output = rill_strndup(in->output, o.output_len);
    bool ok = o.output != NULL && copy_optional(in->key, &o.key, &o.key_len, &o.has_key) &&
              copy_optional(in->value, &o.value, &o.value_len, &o.has_value);
    if (ok && in->header_count) {
        o.headers = calloc(in->header_count, sizeof *o.headers);
        ok = o.headers != NULL;
        for (size_t i = 0; ok && i < in->header_count; i++) {
            o.header_count++;
            uint8_t *data;
            size_t len;
            bool present;
            ok = copy_optional(in->headers[i].key.data ? in->headers[i].key : rill_str(""), &data, &len, &present);
            o.headers[i].key = (rill_bytes){data, len};
            ok = ok && copy_optional(in->headers[i].value, &data, &len, &present);
            if (ok) o.headers[i].value = (rill_bytes){data, len};
        }
    }
    if (!ok) {
        rill_owned_output_free(&o);
        return rill_fail(ctx, "out of memory");
    }
    ctx->outputs[ctx->output_count++] = o;
    return RILL_OK;
}

int rill_emit(rill_ctx *ctx, const char *output, rill_bytes key, rill_bytes value) {
    rill_output o = {.output = output, .key = key, .value = value};
    return rill_emit_output(ctx, &o);
}

int rill_forward(rill_ctx *ctx, const char *output) {
    const rill_record *r = ctx->record;
    if (!r) return rill_fail(ctx, "forward needs an input record");
    rill_output o = {.output = output,
                     .key = r->key,
                     .value = r->value,
                     .headers = r->headers,
                     .header_count = r->header_count,
                     .has_timestamp = true,
                     .timestamp = r->timestamp};
    return rill_emit_output(ctx, &o);
}

int rill_map_value(rill_ctx *ctx, const char *output, rill_bytes value) {
    const rill_record *r = ctx->record;
    if (!r) return rill_fail(ctx, "map_value needs an input record");
    rill_output o = {.output = output,
                     .key = r->key,
                     .value = value.data ? value : rill_str(""),
                     .headers = r->headers,
                     .header_count = r->header_count,
                     .has_timestamp = true,
                     .timestamp = r->timestamp};
    return rill_emit_output(ctx, &o);
}

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
    return set_error(ctx, error);
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

void rill_instance_drop(rill_instance *instance) {
    if (instance->self && instance->processor->drop) instance->processor->drop(instance->self);
    free(instance->config);
    instance->self = NULL;
    instance->config = NULL;
}
