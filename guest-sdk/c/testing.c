/*
 * testing.c: the native test driver (rill_testing.h): an in-memory host
 * (stores and tables as sorted arrays, timers, a log, `[fields]` read
 * by testing_fields.c) behind the same rill_run_* functions the component
 * exports call, plus a minimal test runner. Built with gcc by tools/c/test.sh, never into a component.
 */
#include "rill_host.h"
#include "rill_testing.h"
#include "testing_fields.h"

#include <stdlib.h>
#include <string.h>

typedef struct kv {
    rill_buf key;
    rill_buf value;
} kv;

/** One store or table: entries sorted by key bytes. */
typedef struct map {
    char *name;
    kv *items;
    size_t len;
    size_t cap;
} map;

typedef struct timer {
    char *name;
    rill_clock clock;
    int64_t interval;
    bool aligned;
    bool has_next;
    int64_t next;
} timer;

struct rill_driver {
    rill_instance instance;
    char *init_error;
    map *stores;
    size_t store_count;
    map *tables;
    size_t table_count;
    timer *timers;
    size_t timer_count;
    bool has_stream_time;
    int64_t stream_time;
    int64_t wall;
    int64_t next_offset;
    rill_buf log;
    /** The manifest's `[fields]` declared so far, in order. */
    rill_field_decl *fields;
    size_t field_count;
    /** `input-value = "bytes"`: with fields, the value is copied in too. */
    bool input_bytes;
};

/** The driver host calls go to (one call at a time, as in a component). */
static rill_driver *current;

/* ---- In-memory maps --------------------------------------------------- */

static int compare(rill_bytes a, rill_bytes b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.data, b.data, n) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

static map *find_map(map **maps, size_t *count, const char *name, bool create) {
    for (size_t i = 0; i < *count; i++)
        if (strcmp((*maps)[i].name, name) == 0) return &(*maps)[i];
    if (!create) return NULL;
    map *grown = realloc(*maps, (*count + 1) * sizeof *grown);
    if (!grown) abort();
    *maps = grown;
    grown[*count] = (map){.name = rill_strndup(name, strlen(name))};
    return &grown[(*count)++];
}

/** The index of `key`, or where it would go (`*hit` says which). */
static size_t position(const map *m, rill_bytes key, bool *hit) {
    size_t lo = 0, hi = m->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = compare(rill_buf_bytes(&m->items[mid].key), key);
        if (c == 0) return *hit = true, mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *hit = false;
    return lo;
}

static void map_put(map *m, rill_bytes key, rill_bytes value) {
    bool hit;
    size_t at = position(m, key, &hit);
    if (!hit) {
        if (m->len == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 8;
            m->items = realloc(m->items, m->cap * sizeof *m->items);
            if (!m->items) abort();
        }
        memmove(&m->items[at + 1], &m->items[at], (m->len - at) * sizeof *m->items);
        m->items[at] = (kv){0};
        rill_buf_append(&m->items[at].key, key.data, key.len);
        m->len++;
    }
    rill_buf_clear(&m->items[at].value);
    rill_buf_append(&m->items[at].value, value.data, value.len);
}

static bool map_get(const map *m, rill_bytes key, rill_buf *value) {
    bool hit = false;
    size_t at = m ? position(m, key, &hit) : 0;
    if (hit) rill_buf_append(value, m->items[at].value.data, m->items[at].value.len);
    return hit;
}

static void map_delete(map *m, rill_bytes key) {
    bool hit = false;
    size_t at = m ? position(m, key, &hit) : 0;
    if (!hit) return;
    rill_buf_free(&m->items[at].key);
    rill_buf_free(&m->items[at].value);
    memmove(&m->items[at], &m->items[at + 1], (m->len - at - 1) * sizeof *m->items);
    m->len--;
}

static void maps_free(map *maps, size_t count) {
    for (size_t i = 0; i < count; i++) {
        for (size_t k = 0; k < maps[i].len; k++) {
            rill_buf_free(&maps[i].items[k].key);
            rill_buf_free(&maps[i].items[k].value);
        }
        free(maps[i].items);
        free(maps[i].name);
    }
    free(maps);
}

/* ---- The host --------------------------------------------------------- */

static int mem_get(const char *store, rill_bytes key, rill_buf *value, bool *found, char **error) {
    (void)error;
    *found = map_get(find_map(&current->stores, &current->store_count, store, false), key, value);
    return RILL_OK;
}

static int mem_put(const char *store, rill_bytes key, rill_bytes value, char **error) {
    (void)error;
    map_put(find_map(&current->stores, &current->store_count, store, true), key, value);
    return RILL_OK;
}

static int mem_delete(const char *store, rill_bytes key, char **error) {
    (void)error;
    map_delete(find_map(&current->stores, &current->store_count, store, false), key);
    return RILL_OK;
}

static uint8_t *copy_of(rill_buf *b) {
    uint8_t *data = malloc(b->len ? b->len : 1);
    if (!data) abort();
    if (b->len) memcpy(data, b->data, b->len);
    return data;
}

static int mem_range(const char *store, rill_bytes start, rill_bytes end, uint32_t limit, rill_entries *out,
                     char **error) {
    (void)error;
    map *m = find_map(&current->stores, &current->store_count, store, false);
    *out = (rill_entries){0};
    if (!m) return RILL_OK;
    out->items = calloc(m->len ? m->len : 1, sizeof *out->items);
    if (!out->items) abort();
    for (size_t i = 0; i < m->len && out->len < limit; i++) {
        rill_bytes key = rill_buf_bytes(&m->items[i].key);
        if (start.data && compare(key, start) < 0) continue;
        if (end.data && compare(key, end) >= 0) break;
        out->items[out->len++] = (rill_entry){{copy_of(&m->items[i].key), m->items[i].key.len},
                                              {copy_of(&m->items[i].value), m->items[i].value.len}};
    }
    return RILL_OK;
}

static int mem_lookup(const char *table, rill_bytes key, rill_buf *value, bool *found, char **error) {
    (void)error;
    *found = map_get(find_map(&current->tables, &current->table_count, table, false), key, value);
    return RILL_OK;
}

void rill_driver_with_timer(rill_driver *d, const char *name, rill_clock clock, int64_t interval_ms, bool aligned) {
    for (size_t i = 0; i < d->timer_count; i++)
        if (strcmp(d->timers[i].name, name) == 0) {
            d->timers[i] = (timer){d->timers[i].name, clock, interval_ms > 0 ? interval_ms : 1, aligned, false, 0};
            return;
        }
    d->timers = realloc(d->timers, (d->timer_count + 1) * sizeof *d->timers);
    if (!d->timers) abort();
    d->timers[d->timer_count++] =
        (timer){rill_strndup(name, strlen(name)), clock, interval_ms > 0 ? interval_ms : 1, aligned, false, 0};
}

static int mem_schedule(const char *name, rill_clock clock, uint64_t interval_ms, bool aligned, char **error) {
    (void)error;
    rill_driver_with_timer(current, name, clock, interval_ms > INT64_MAX ? INT64_MAX : (int64_t)interval_ms, aligned);
    return RILL_OK;
}

static void mem_cancel(const char *name) {
    for (size_t i = 0; i < current->timer_count; i++)
        if (strcmp(current->timers[i].name, name) == 0) {
            free(current->timers[i].name);
            current->timers[i] = current->timers[--current->timer_count];
            return;
        }
}

static void mem_log(rill_level level, const char *message, size_t len) {
    static const char *names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
    rill_buf_printf(&current->log, "%s %.*s\n", names[level <= RILL_ERROR_LEVEL ? level : RILL_ERROR_LEVEL], (int)len,
                    message);
}

static const rill_host memory_host = {
    .get = mem_get,
    .put = mem_put,
    .del = mem_delete,
    .range = mem_range,
    .lookup = mem_lookup,
    .schedule = mem_schedule,
    .cancel = mem_cancel,
    .log = mem_log,
};

static void enter(rill_driver *d) {
    current = d;
    rill_current_host = &memory_host;
}

/* ---- The driver ------------------------------------------------------- */

rill_driver *rill_driver_new(const rill_processor *processor, const char *config_json) {
    rill_driver *d = calloc(1, sizeof *d);
    if (!d) abort();
    d->instance.processor = processor;
    enter(d);
    rill_ctx ctx;
    rill_ctx_start(&ctx, &d->instance, NULL);
    if (rill_run_init(&d->instance, config_json, strlen(config_json), &ctx) != RILL_OK)
        d->init_error = rill_strndup(rill_error_message(&ctx), strlen(rill_error_message(&ctx)));
    rill_ctx_finish(&ctx);
    return d;
}

const char *rill_driver_error(const rill_driver *d) { return d->init_error; }

void rill_driver_with_field(rill_driver *d, const char *name, const char *path, rill_field_as as) {
    d->fields = realloc(d->fields, (d->field_count + 1) * sizeof *d->fields);
    if (!d->fields) abort();
    d->fields[d->field_count++] =
        (rill_field_decl){rill_strndup(name, strlen(name)), rill_strndup(path, strlen(path)), as == RILL_FIELD_AS_RAW};
    /* The names the host's `fields.names` would give the instance. */
    rill_bytes *names = calloc(d->field_count, sizeof *names);
    if (!names) abort();
    for (size_t i = 0; i < d->field_count; i++)
        names[i] = rill_bytes_of(rill_strndup(d->fields[i].name, strlen(d->fields[i].name)), strlen(d->fields[i].name));
    for (size_t i = 0; i < d->instance.field_name_count; i++) free((void *)d->instance.field_names[i].data);
    free(d->instance.field_names);
    rill_instance_set_field_names(&d->instance, names, d->field_count);
}

void rill_driver_with_input_bytes(rill_driver *d) { d->input_bytes = true; }

void rill_driver_free(rill_driver *d) {
    if (!d) return;
    enter(d);
    rill_instance_drop(&d->instance);
    maps_free(d->stores, d->store_count);
    maps_free(d->tables, d->table_count);
    for (size_t i = 0; i < d->timer_count; i++) free(d->timers[i].name);
    free(d->timers);
    free(d->init_error);
    rill_buf_free(&d->log);
    for (size_t i = 0; i < d->field_count; i++) free(d->fields[i].name), free(d->fields[i].path);
    free(d->fields);
    free(d);
}

void rill_result_free(rill_result *r) {
    for (size_t i = 0; i < r->len; i++) {
        free((void *)r->outputs[i].output);
        free((void *)r->outputs[i].key.data);
        free((void *)r->outputs[i].value.data);
        for (size_t h = 0; h < r->outputs[i].header_count; h++) {
            free((void *)r->outputs[i].headers[h].key.data);
            free((void *)r->outputs[i].headers[h].value.data);
        }
        free((void *)r->outputs[i].headers);
    }
    free(r->outputs);
    free((void *)r->error);
    *r = (rill_result){0};
}

static void append(rill_result *r, rill_emitted e) {
    r->outputs = realloc(r->outputs, (r->len + 1) * sizeof *r->outputs);
    if (!r->outputs) abort();
    r->outputs[r->len++] = e;
}

/** Moves a call's outputs into `r` (timestamps defaulted to `time`, a
 *  forward under `[fields]` given `input`'s value), or its error; returns
 *  whether the call succeeded. */
static bool collect(rill_result *r, rill_ctx *ctx, int status, int64_t time, const rill_record *input) {
    if (status != RILL_OK) {
        const char *message = rill_error_message(ctx);
        r->ok = false;
        free((void *)r->error);
        r->error = rill_strndup(message, strlen(message));
        rill_ctx_finish(ctx);
        return false;
    }
    for (size_t i = 0; i < ctx->output_count; i++) {
        rill_owned_output *o = &ctx->outputs[i];
        if (o->value_from_input && input && input->value.data) {
            /* What the host sends for output-value::input: the input's bytes. */
            free(o->value);
            o->value = malloc(input->value.len ? input->value.len : 1);
            if (!o->value) abort();
            if (input->value.len) memcpy(o->value, input->value.data, input->value.len);
            o->value_len = input->value.len;
            o->has_value = true;
        }
        append(r, (rill_emitted){
                      .output = o->output,
                      .key = o->has_key ? (rill_bytes){o->key, o->key_len} : RILL_NULL,
                      .value = o->has_value ? (rill_bytes){o->value, o->value_len} : RILL_NULL,
                      .headers = o->headers,
                      .header_count = o->header_count,
                      .timestamp = o->has_timestamp ? o->timestamp : time,
                  });
        if (!o->has_key) free(o->key);
        if (!o->has_value) free(o->value);
        *o = (rill_owned_output){0};
    }
    ctx->output_count = 0;
    rill_ctx_finish(ctx);
    return true;
}

/** The firing due at clock time `now` for `t`, if any (rill-sdk's
 *  `Schedule::due`). */
static bool due(timer *t, int64_t now, int64_t *at) {
    if (!t->has_next) {
        int64_t rem = ((now % t->interval) + t->interval) % t->interval;
        t->next = t->aligned ? now - rem + (rem ? t->interval : 0) : now;
        t->has_next = true;
    }
    if (now < t->next) return false;
    *at = t->next + (now - t->next) / t->interval * t->interval;
    t->next = *at + t->interval;
    return true;
}

static void fire(rill_driver *d, rill_clock clock, rill_result *r) {
    int64_t now = clock == RILL_STREAM_TIME ? d->stream_time : d->wall;
    if (clock == RILL_STREAM_TIME && !d->has_stream_time) return;
    for (size_t i = 0; i < d->timer_count && r->ok; i++) {
        int64_t at;
        if (d->timers[i].clock != clock || !due(&d->timers[i], now, &at)) continue;
        rill_tick tick = {rill_str(d->timers[i].name), clock, at};
        rill_ctx ctx;
        rill_ctx_start(&ctx, &d->instance, NULL);
        collect(r, &ctx, rill_run_timer(&d->instance, &tick, &ctx), at, NULL);
    }
}

/** A result that fails because init did. */
static bool refused(rill_driver *d, rill_result *r) {
    *r = (rill_result){.ok = true};
    if (!d->init_error) return false;
    r->ok = false;
    r->error = rill_strndup(d->init_error, strlen(d->init_error));
    return true;
}

rill_result rill_driver_process(rill_driver *d, const rill_record *record) {
    rill_result r;
    if (refused(d, &r)) return r;
    enter(d);
    d->next_offset = record->offset + 1;
    /* With [fields], what process-fields hands over: the fields, and the
     * value only under input-value = "bytes". */
    rill_record seen = *record;
    rill_computed_fields computed = {0};
    rill_fields fields = {.instance = &d->instance};
    if (d->field_count && !record->fields) {
        rill_compute_fields(d->fields, d->field_count, record->value, &computed);
        fields.values = computed.values;
        fields.count = computed.count;
        fields.error = computed.error ? rill_str(computed.error) : RILL_NULL;
        seen.fields = &fields;
        seen.value_omitted = record->value.data && !d->input_bytes;
        if (seen.value_omitted) seen.value = RILL_NULL;
    }
    rill_ctx ctx;
    rill_ctx_start(&ctx, &d->instance, &seen);
    bool ok = collect(&r, &ctx, rill_run_process(&d->instance, &seen, &ctx), record->timestamp, record);
    rill_computed_fields_free(&computed);
    if (!ok) return r;
    if (!d->has_stream_time || record->timestamp > d->stream_time) d->stream_time = record->timestamp;
    d->has_stream_time = true;
    fire(d, RILL_STREAM_TIME, &r);
    return r;
}

rill_result rill_driver_process_at(rill_driver *d, const char *key, const char *value, int64_t timestamp) {
    rill_record record = {
        .topic = rill_str("input"),
        .offset = d->next_offset,
        .timestamp = timestamp,
        .key = rill_str(key),
        .value = rill_str(value),
    };
    return rill_driver_process(d, &record);
}

rill_result rill_driver_process_keyed(rill_driver *d, const char *key, const char *value) {
    return rill_driver_process_at(d, key, value, d->has_stream_time ? d->stream_time : 0);
}

rill_result rill_driver_process_value(rill_driver *d, const char *value) {
    return rill_driver_process_keyed(d, NULL, value);
}

rill_result rill_driver_advance_stream_time(rill_driver *d, int64_t time) {
    rill_result r;
    if (refused(d, &r)) return r;
    enter(d);
    if (!d->has_stream_time || time > d->stream_time) d->stream_time = time;
    d->has_stream_time = true;
    fire(d, RILL_STREAM_TIME, &r);
    return r;
}

rill_result rill_driver_advance_wall_clock(rill_driver *d, int64_t now) {
    rill_result r;
    if (refused(d, &r)) return r;
    enter(d);
    d->wall = now;
    fire(d, RILL_WALL_CLOCK, &r);
    return r;
}

rill_result rill_driver_aggregate(rill_driver *d, const rill_window *window, rill_bytes current_value,
                                  const rill_record *records, size_t count, bool running) {
    rill_result r;
    if (refused(d, &r)) return r;
    enter(d);
    rill_buf *steps = calloc(count ? count : 1, sizeof *steps);
    if (!steps) abort();
    size_t made = 0;
    rill_ctx ctx;
    rill_ctx_start(&ctx, &d->instance, NULL);
    int status = rill_run_aggregate(&d->instance, window, current_value, NULL, 0, records, count, running, steps,
                                    &made, &ctx);
    if (status == RILL_OK) {
        for (size_t i = 0; i < made; i++) {
            const char *store = rill_strndup(window->store.data, window->store.len);
            append(&r, (rill_emitted){.output = store,
                                      .key = {(const uint8_t *)rill_strndup(window->key.data, window->key.len),
                                              window->key.len},
                                      .value = {copy_of(&steps[i]), steps[i].len},
                                      .timestamp = window->end});
        }
    }
    for (size_t i = 0; i < (count ? count : 1); i++) rill_buf_free(&steps[i]);
    free(steps);
    collect(&r, &ctx, status, window->end, NULL);
    return r;
}

rill_result rill_driver_emit(rill_driver *d, const rill_window_result *result) {
    rill_result r;
    if (refused(d, &r)) return r;
    enter(d);
    rill_ctx ctx;
    rill_ctx_start(&ctx, &d->instance, NULL);
    collect(&r, &ctx, rill_run_emit(&d->instance, result, &ctx), result->timestamp, NULL);
    return r;
}

rill_result rill_driver_join(rill_driver *d, const rill_join_result *result) {
    rill_result r;
    if (refused(d, &r)) return r;
    enter(d);
    rill_ctx ctx;
    rill_ctx_start(&ctx, &d->instance, NULL);
    collect(&r, &ctx, rill_run_join(&d->instance, result, &ctx), result->timestamp, NULL);
    return r;
}

void rill_driver_store_put(rill_driver *d, const char *store, rill_bytes key, rill_bytes value) {
    map_put(find_map(&d->stores, &d->store_count, store, true), key, value);
}

bool rill_driver_store_get(rill_driver *d, const char *store, rill_bytes key, rill_buf *value) {
    rill_buf_clear(value);
    return map_get(find_map(&d->stores, &d->store_count, store, false), key, value);
}

size_t rill_driver_store_len(rill_driver *d, const char *store) {
    map *m = find_map(&d->stores, &d->store_count, store, false);
    return m ? m->len : 0;
}

void rill_driver_set_table(rill_driver *d, const char *topic, rill_bytes key, rill_bytes value) {
    map *m = find_map(&d->tables, &d->table_count, topic, true);
    if (value.data) map_put(m, key, value);
    else map_delete(m, key);
}

const char *rill_driver_log(rill_driver *d) {
    const char *text = rill_buf_cstr(&d->log);
    return text ? text : "";
}

/* ---- The test runner -------------------------------------------------- */

int rill_test_failures;
static rill_test_case *tests;
static size_t test_count;

void rill_test_register(const char *name, void (*run)(void)) {
    tests = realloc(tests, (test_count + 1) * sizeof *tests);
    if (!tests) abort();
    tests[test_count++] = (rill_test_case){name, run};
}

int rill_test_run_all(const char *suite) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < test_count; i++) {
        rill_test_failures = 0;
        tests[i].run();
        if (rill_test_failures) failed++;
        else passed++;
        printf("%s  %s: %s\n", rill_test_failures ? "FAIL" : "ok  ", suite, tests[i].name);
    }
    free(tests);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
