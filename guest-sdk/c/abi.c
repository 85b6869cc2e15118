/*
 * abi.c: the component side of the C SDK, compiled only into components
 * (tools/c/build-plugin.sh). It implements the `processor` world's exports
 * on the rill_run_* functions and routes host calls to the world's imports,
 * through the bindings wit-bindgen generates (processor.h). Memory follows
 * the canonical ABI: arguments are ours to free, results are malloc'd and
 * freed by the generated post-return functions.
 *
 * The same file builds against each world a project may pin: `fields` and
 * `process-fields` (rill:processor@0.3.0) only when the bindings have them,
 * so a project whose `wit` is wit/0.2.0 still builds; `join`
 * (rill:processor@0.4.0) only when tools/c/build-plugin.sh defines
 * RILL_HAS_JOINS (the bindings define no macro to tell), so one on
 * wit/0.3.0 does too.
 */
#include "processor.h"
#include "rill_host.h"

#include <stdlib.h>
#include <string.h>

/** wit-bindgen's processor.c insists on linking its component-type object
 * file; tools/c-component embeds that type information itself (`new`), so
 * the symbol it forces is defined here instead. */
void __component_type_object_force_link_processor(void);
void __component_type_object_force_link_processor(void) {}

/** This instance of the processor (one component instance per task). */
static rill_instance instance = {.processor = &rill_processor_def};

/* ---- Host calls ------------------------------------------------------- */

static processor_string_t wit_string(const char *text) {
    return (processor_string_t){(uint8_t *)text, strlen(text)};
}

static processor_list_u8_t wit_bytes(rill_bytes bytes) {
    return (processor_list_u8_t){(uint8_t *)bytes.data, bytes.len};
}

/** The message of a state error (taking its string). */
static char *state_error(rill_processor_state_state_error_t *err) {
    processor_string_t *s = err->tag == RILL_PROCESSOR_STATE_STATE_ERROR_UNDECLARED ? &err->val.undeclared
                                                                                     : &err->val.storage;
    rill_buf text = {0};
    if (err->tag == RILL_PROCESSOR_STATE_STATE_ERROR_UNDECLARED)
        rill_buf_printf(&text, "'%.*s' is not a store or table declared in the manifest", (int)s->len, (char *)s->ptr);
    else
        rill_buf_printf(&text, "state storage failed: %.*s", (int)s->len, (char *)s->ptr);
    processor_string_free(s);
    return (char *)text.data;
}

/** Moves an optional host value into `value`. */
static void take_option(processor_option_list_u8_t *got, rill_buf *value, bool *found) {
    *found = got->is_some;
    if (got->is_some) {
        rill_buf_append(value, got->val.ptr, got->val.len);
        processor_list_u8_free(&got->val);
    }
}

static int host_get(const char *store, rill_bytes key, rill_buf *value, bool *found, char **error) {
    processor_string_t name = wit_string(store);
    processor_list_u8_t k = wit_bytes(key);
    processor_option_list_u8_t got;
    rill_processor_state_state_error_t err;
    if (!rill_processor_state_get(&name, &k, &got, &err)) return *error = state_error(&err), RILL_ERROR;
    take_option(&got, value, found);
    return RILL_OK;
}

static int host_lookup(const char *table, rill_bytes key, rill_buf *value, bool *found, char **error) {
    processor_string_t name = wit_string(table);
    processor_list_u8_t k = wit_bytes(key);
    processor_option_list_u8_t got;
    rill_processor_state_state_error_t err;
    if (!rill_processor_state_lookup(&name, &k, &got, &err)) return *error = state_error(&err), RILL_ERROR;
    take_option(&got, value, found);
    return RILL_OK;
}

static int host_put(const char *store, rill_bytes key, rill_bytes value, char **error) {
    processor_string_t name = wit_string(store);
    processor_list_u8_t k = wit_bytes(key), v = wit_bytes(value);
    rill_processor_state_state_error_t err;
    if (!rill_processor_state_put(&name, &k, &v, &err)) return *error = state_error(&err), RILL_ERROR;
    return RILL_OK;
}

static int host_delete(const char *store, rill_bytes key, char **error) {
    processor_string_t name = wit_string(store);
    processor_list_u8_t k = wit_bytes(key);
    rill_processor_state_state_error_t err;
    if (!rill_processor_state_delete(&name, &k, &err)) return *error = state_error(&err), RILL_ERROR;
    return RILL_OK;
}

static int host_range(const char *store, rill_bytes start, rill_bytes end, uint32_t limit, rill_entries *out,
                      char **error) {
    processor_string_t name = wit_string(store);
    processor_list_u8_t s = wit_bytes(start), e = wit_bytes(end);
    rill_processor_state_list_entry_t got;
    rill_processor_state_state_error_t err;
    if (!rill_processor_state_range(&name, start.data ? &s : NULL, end.data ? &e : NULL, limit, &got, &err))
        return *error = state_error(&err), RILL_ERROR;
    /* The entries' bytes become the caller's; an empty key or value gets a
     * real allocation so rill_entries_free can free every pointer. */
    out->items = calloc(got.len ? got.len : 1, sizeof *out->items);
    if (!out->items) {
        rill_processor_state_list_entry_free(&got);
        return *error = rill_strndup("out of memory", 13), RILL_ERROR;
    }
    for (size_t i = 0; i < got.len; i++) {
        rill_processor_state_entry_t *entry = &got.ptr[i];
        if (entry->key.len == 0) entry->key.ptr = calloc(1, 1);
        if (entry->value.len == 0) entry->value.ptr = calloc(1, 1);
        out->items[i] = (rill_entry){{entry->key.ptr, entry->key.len}, {entry->value.ptr, entry->value.len}};
    }
    out->len = got.len;
    if (got.len) free(got.ptr);
    return RILL_OK;
}

static int host_schedule(const char *name, rill_clock clock, uint64_t interval_ms, bool aligned, char **error) {
    processor_string_t n = wit_string(name);
    processor_string_t err;
    if (!rill_processor_timers_schedule(&n, (rill_processor_timers_clock_t)clock, interval_ms, aligned, &err)) {
        *error = rill_strndup(err.ptr, err.len);
        processor_string_free(&err);
        return RILL_ERROR;
    }
    return RILL_OK;
}

static void host_cancel(const char *name) {
    processor_string_t n = wit_string(name);
    rill_processor_timers_cancel(&n);
}

static void host_log(rill_level level, const char *message, size_t len) {
    processor_string_t m = {(uint8_t *)message, len};
    rill_processor_log_log((rill_processor_log_level_t)level, &m);
}

static const rill_host component_host = {
    .get = host_get,
    .put = host_put,
    .del = host_delete,
    .range = host_range,
    .lookup = host_lookup,
    .schedule = host_schedule,
    .cancel = host_cancel,
    .log = host_log,
};

/* ---- Conversions ------------------------------------------------------ */

static rill_bytes option_bytes(const processor_option_list_u8_t *o) {
    static const uint8_t empty[1];
    if (!o->is_some) return RILL_NULL;
    return (rill_bytes){o->val.len ? o->val.ptr : empty, o->val.len};
}

/** Borrowed views of WIT headers into `*headers` (to be freed); their count. */
static size_t headers_of(const rill_processor_types_header_t *in, size_t len, rill_header **headers) {
    *headers = len ? calloc(len, sizeof **headers) : NULL;
    size_t count = *headers ? len : 0;
    for (size_t i = 0; i < count; i++)
        (*headers)[i] = (rill_header){{in[i].key.ptr, in[i].key.len}, option_bytes(&in[i].value)};
    return count;
}

/** A borrowed view of an input record; `headers` must be freed. */
static rill_record record_of(const processor_input_record_t *in, rill_header **headers) {
    size_t count = headers_of(in->headers.ptr, in->headers.len, headers);
    return (rill_record){
        .topic = {in->topic.ptr, in->topic.len},
        .partition = in->partition,
        .offset = in->offset,
        .timestamp = in->timestamp,
        .key = option_bytes(&in->key),
        .value = option_bytes(&in->value),
        .headers = *headers,
        .header_count = count,
    };
}

/** Malloc'd optional bytes as a WIT option (an empty list needs no memory). */
static processor_option_list_u8_t wit_option(uint8_t *data, size_t len, bool present) {
    if (!present) {
        free(data);
        return (processor_option_list_u8_t){.is_some = false};
    }
    if (len == 0) free(data), data = NULL;
    return (processor_option_list_u8_t){.is_some = true, .val = {data, len}};
}

/** Moves an output's headers into a WIT list (the post-return frees it). */
static rill_processor_types_list_header_t take_headers(rill_owned_output *o) {
    rill_processor_types_list_header_t list = {NULL, o->header_count};
    if (o->header_count) {
        list.ptr = calloc(o->header_count, sizeof *list.ptr);
        if (!list.ptr) abort();
    }
    for (size_t h = 0; h < o->header_count; h++) {
        rill_header *in = &o->headers[h];
        uint8_t *key = (uint8_t *)in->key.data;
        if (in->key.len == 0) free(key), key = NULL;
        list.ptr[h].key = (processor_string_t){key, in->key.len};
        list.ptr[h].value = wit_option((uint8_t *)in->value.data, in->value.len, in->value.data != NULL);
    }
    free(o->headers);
    o->headers = NULL;
    o->header_count = 0;
    return list;
}

/** Moves an output's name into a WIT string. */
static processor_string_t take_name(rill_owned_output *o) {
    processor_string_t name = {(uint8_t *)o->output, o->output_len};
    if (o->output_len == 0) free(o->output), name.ptr = NULL;
    o->output = NULL;
    return name;
}

/** Forgets the context's outputs, whose memory the WIT results now own. */
static void forget_outputs(rill_ctx *ctx) {
    free(ctx->outputs);
    ctx->outputs = NULL;
    ctx->output_count = ctx->output_cap = 0;
}

/** Moves the context's outputs into a WIT list (the post-return frees it). */
static processor_list_output_record_t take_outputs(rill_ctx *ctx) {
    processor_list_output_record_t list = {NULL, 0};
    if (ctx->output_count == 0) return list;
    list.ptr = calloc(ctx->output_count, sizeof *list.ptr);
    if (!list.ptr) abort();
    for (size_t i = 0; i < ctx->output_count; i++) {
        rill_owned_output *o = &ctx->outputs[i];
        processor_output_record_t *w = &list.ptr[i];
        w->output = take_name(o);
        w->key = wit_option(o->key, o->key_len, o->has_key);
        w->value = wit_option(o->value, o->value_len, o->has_value);
        w->timestamp = (processor_option_s64_t){o->has_timestamp, o->timestamp};
        w->headers = take_headers(o);
    }
    list.len = ctx->output_count;
    forget_outputs(ctx);
    return list;
}

/** The context's error as a WIT string (malloc'd, for the post-return). */
static processor_string_t take_error(rill_ctx *ctx) {
    const char *message = rill_error_message(ctx);
    processor_string_t s;
    processor_string_dup(&s, message);
    return s;
}

/* ---- Exports ---------------------------------------------------------- */

bool exports_processor_init(processor_string_t *config, processor_string_t *err) {
    rill_current_host = &component_host;
    rill_ctx ctx;
    rill_ctx_start(&ctx, &instance, NULL);
    bool ok = rill_run_init(&instance, (const char *)config->ptr, config->len, &ctx) == RILL_OK;
    if (!ok) *err = take_error(&ctx);
    rill_ctx_finish(&ctx);
    processor_string_free(config);
    return ok;
}

void exports_processor_process(processor_list_input_record_t *batch, processor_list_record_result_t *ret) {
    ret->len = batch->len;
    ret->ptr = batch->len ? calloc(batch->len, sizeof *ret->ptr) : NULL;
    if (batch->len && !ret->ptr) abort();
    for (size_t i = 0; i < batch->len; i++) {
        rill_header *headers;
        rill_record record = record_of(&batch->ptr[i], &headers);
        rill_ctx ctx;
        rill_ctx_start(&ctx, &instance, &record);
        if (rill_run_process(&instance, &record, &ctx) == RILL_OK) {
            processor_list_output_record_t outputs = take_outputs(&ctx);
            ret->ptr[i].is_err = false;
            ret->ptr[i].val.ok = (rill_processor_types_list_output_record_t){outputs.ptr, outputs.len};
        } else {
            ret->ptr[i].is_err = true;
            ret->ptr[i].val.err = take_error(&ctx);
        }
        rill_ctx_finish(&ctx);
        free(headers);
    }
    processor_list_input_record_free(batch);
}

#ifdef RILL_PROCESSOR_FIELDS_FIELD_MISSING
/* ---- Fields (rill:processor@0.3.0) ------------------------------------ */

/** A WIT string's bytes (borrowed; never Kafka's null, even when empty). */
static rill_bytes wit_text(const processor_string_t *s) {
    static const uint8_t empty[1];
    return (rill_bytes){s->len ? s->ptr : empty, s->len};
}

/** Reads the `[fields]` names from the host, once per instance. */
static void load_field_names(void) {
    if (instance.field_names_known) return;
    processor_list_string_t got;
    rill_processor_fields_names(&got);
    rill_bytes *names = calloc(got.len ? got.len : 1, sizeof *names);
    if (!names) abort();
    for (size_t i = 0; i < got.len; i++) names[i] = (rill_bytes){got.ptr[i].len ? got.ptr[i].ptr : NULL, got.ptr[i].len};
    free(got.ptr);
    rill_instance_set_field_names(&instance, names, got.len);
}

/** A field as the SDK's tagged value (borrowing its text). */
static rill_field_value field_of(const rill_processor_fields_field_t *f) {
    switch (f->tag) {
    case RILL_PROCESSOR_FIELDS_FIELD_NULL: return (rill_field_value){.kind = RILL_FIELD_NULL};
    case RILL_PROCESSOR_FIELDS_FIELD_BOOLEAN: return (rill_field_value){.kind = RILL_FIELD_BOOL, .boolean = f->val.boolean};
    case RILL_PROCESSOR_FIELDS_FIELD_NUMBER: return (rill_field_value){.kind = RILL_FIELD_NUMBER, .number = f->val.number};
    case RILL_PROCESSOR_FIELDS_FIELD_TEXT:
        return (rill_field_value){.kind = RILL_FIELD_TEXT, .text = wit_text(&f->val.text)};
    case RILL_PROCESSOR_FIELDS_FIELD_RAW:
        return (rill_field_value){.kind = RILL_FIELD_RAW,
                                  .raw = {wit_text(&f->val.raw.text), f->val.raw.canonical}};
    default: return (rill_field_value){.kind = RILL_FIELD_MISSING};
    }
}

/** The fields of the record being processed, kept between records so a
 *  record costs no allocation for them. */
static rill_field_value *field_values;
static size_t field_values_cap;

/** A borrowed view of a field record: `*headers` must be freed. */
static rill_record field_record_of(const processor_field_record_t *in, rill_fields *fields, rill_header **headers) {
    static const uint8_t empty[1];
    size_t count = headers_of(in->headers.ptr, in->headers.len, headers);
    *fields = (rill_fields){.instance = &instance};
    if (in->fields.is_err) {
        fields->error = wit_text(&in->fields.val.err);
    } else {
        size_t n = in->fields.val.ok.len;
        if (n > field_values_cap) {
            field_values = realloc(field_values, n * sizeof *field_values);
            if (!field_values) abort();
            field_values_cap = n;
        }
        for (size_t i = 0; i < n; i++) field_values[i] = field_of(&in->fields.val.ok.ptr[i]);
        fields->values = field_values;
        fields->count = n;
    }
    rill_bytes value = RILL_NULL;
    if (in->value.tag == RILL_PROCESSOR_FIELDS_INPUT_VALUE_BYTES)
        value = (rill_bytes){in->value.val.bytes.len ? in->value.val.bytes.ptr : empty, in->value.val.bytes.len};
    return (rill_record){
        .topic = {in->topic.ptr, in->topic.len},
        .partition = in->partition,
        .offset = in->offset,
        .timestamp = in->timestamp,
        .key = option_bytes(&in->key),
        .value = value,
        .headers = *headers,
        .header_count = count,
        .value_omitted = in->value.tag == RILL_PROCESSOR_FIELDS_INPUT_VALUE_OMITTED,
        .fields = fields,
    };
}

/** Moves the context's outputs into a WIT list of field outputs. */
static rill_processor_fields_list_field_output_t take_field_outputs(rill_ctx *ctx) {
    rill_processor_fields_list_field_output_t list = {NULL, 0};
    if (ctx->output_count == 0) return list;
    list.ptr = calloc(ctx->output_count, sizeof *list.ptr);
    if (!list.ptr) abort();
    for (size_t i = 0; i < ctx->output_count; i++) {
        rill_owned_output *o = &ctx->outputs[i];
        rill_processor_fields_field_output_t *w = &list.ptr[i];
        w->output = take_name(o);
        w->key = wit_option(o->key, o->key_len, o->has_key);
        if (o->value_from_input) {
            free(o->value);
            w->value.tag = RILL_PROCESSOR_FIELDS_OUTPUT_VALUE_INPUT;
        } else if (!o->has_value) {
            free(o->value);
            w->value.tag = RILL_PROCESSOR_FIELDS_OUTPUT_VALUE_NULL;
        } else {
            w->value.tag = RILL_PROCESSOR_FIELDS_OUTPUT_VALUE_BYTES;
            if (o->value_len == 0) free(o->value), o->value = NULL;
            w->value.val.bytes = (processor_list_u8_t){o->value, o->value_len};
        }
        w->timestamp = (processor_option_s64_t){o->has_timestamp, o->timestamp};
        rill_processor_types_list_header_t headers = take_headers(o);
        w->headers = (rill_processor_fields_list_header_t){headers.ptr, headers.len};
    }
    list.len = ctx->output_count;
    forget_outputs(ctx);
    return list;
}

void exports_processor_process_fields(processor_list_field_record_t *batch, processor_list_field_result_t *ret) {
    load_field_names();
    ret->len = batch->len;
    ret->ptr = batch->len ? calloc(batch->len, sizeof *ret->ptr) : NULL;
    if (batch->len && !ret->ptr) abort();
    for (size_t i = 0; i < batch->len; i++) {
        rill_header *headers;
        rill_fields fields;
        rill_record record = field_record_of(&batch->ptr[i], &fields, &headers);
        rill_ctx ctx;
        rill_ctx_start(&ctx, &instance, &record);
        if (rill_run_process(&instance, &record, &ctx) == RILL_OK) {
            ret->ptr[i].is_err = false;
            ret->ptr[i].val.ok = take_field_outputs(&ctx);
        } else {
            ret->ptr[i].is_err = true;
            ret->ptr[i].val.err = take_error(&ctx);
        }
        rill_ctx_finish(&ctx);
        free(headers);
    }
    processor_list_field_record_free(batch);
}
#endif

void exports_processor_aggregate(processor_list_aggregation_t *batch, processor_list_result_list_list_u8_string_t *ret) {
    ret->len = batch->len;
    ret->ptr = batch->len ? calloc(batch->len, sizeof *ret->ptr) : NULL;
    if (batch->len && !ret->ptr) abort();
    for (size_t i = 0; i < batch->len; i++) {
        processor_aggregation_t *a = &batch->ptr[i];
        size_t n = a->records.len;
        rill_record *records = calloc(n ? n : 1, sizeof *records);
        rill_header **headers = calloc(n ? n : 1, sizeof *headers);
        rill_bytes *merged = calloc(a->merged.len ? a->merged.len : 1, sizeof *merged);
        rill_buf *steps = calloc(n ? n : 1, sizeof *steps);
        if (!records || !headers || !merged || !steps) abort();
        for (size_t r = 0; r < n; r++) records[r] = record_of(&a->records.ptr[r], &headers[r]);
        for (size_t m = 0; m < a->merged.len; m++) merged[m] = (rill_bytes){a->merged.ptr[m].ptr, a->merged.ptr[m].len};
        rill_window window = {{(const uint8_t *)a->store.ptr, a->store.len}, {a->key.ptr, a->key.len},
                              a->window.start, a->window.end};
        rill_ctx ctx;
        rill_ctx_start(&ctx, &instance, NULL);
        size_t count = 0;
        if (rill_run_aggregate(&instance, &window, option_bytes(&a->current), merged, a->merged.len, records, n,
                               a->running, steps, &count, &ctx) == RILL_OK) {
            ret->ptr[i].is_err = false;
            ret->ptr[i].val.ok = (processor_list_list_u8_t){count ? calloc(count, sizeof(processor_list_u8_t)) : NULL,
                                                            count};
            for (size_t s = 0; s < count; s++) {
                ret->ptr[i].val.ok.ptr[s] = (processor_list_u8_t){steps[s].len ? steps[s].data : NULL, steps[s].len};
                if (!steps[s].len) rill_buf_free(&steps[s]);
                steps[s] = (rill_buf){0};
            }
        } else {
            ret->ptr[i].is_err = true;
            ret->ptr[i].val.err = take_error(&ctx);
        }
        for (size_t s = 0; s < n; s++) rill_buf_free(&steps[s]);
        for (size_t r = 0; r < n; r++) free(headers[r]);
        free(steps), free(merged), free(headers), free(records);
        rill_ctx_finish(&ctx);
    }
    processor_list_aggregation_free(batch);
}

/** Room for one result per item of a list export (`emit`, `join`). */
static void start_results(processor_list_result_list_output_record_string_t *ret, size_t len) {
    ret->len = len;
    ret->ptr = len ? calloc(len, sizeof *ret->ptr) : NULL;
    if (len && !ret->ptr) abort();
}

/** One item's result from its call's `status`: the outputs on `ctx`, or
 *  its error; then finishes `ctx`. */
static void finish_result(rill_ctx *ctx, int status, processor_result_list_output_record_string_t *result) {
    if (status == RILL_OK) {
        result->is_err = false;
        result->val.ok = take_outputs(ctx);
    } else {
        result->is_err = true;
        result->val.err = take_error(ctx);
    }
    rill_ctx_finish(ctx);
}

void exports_processor_emit(processor_list_window_result_t *results, processor_list_result_list_output_record_string_t *ret) {
    start_results(ret, results->len);
    for (size_t i = 0; i < results->len; i++) {
        processor_window_result_t *w = &results->ptr[i];
        rill_window_result result = {
            .window = {{(const uint8_t *)w->store.ptr, w->store.len}, {w->key.ptr, w->key.len}, w->window.start,
                       w->window.end},
            .value = option_bytes(&w->value),
            .timestamp = w->timestamp,
        };
        rill_ctx ctx;
        rill_ctx_start(&ctx, &instance, NULL);
        finish_result(&ctx, rill_run_emit(&instance, &result, &ctx), &ret->ptr[i]);
    }
    processor_list_window_result_free(results);
}

#ifdef RILL_HAS_JOINS
/* ---- Joins (rill:processor@0.4.0) ------------------------------------- */

void exports_processor_join(processor_list_join_result_t *results,
                            processor_list_result_list_output_record_string_t *ret) {
    start_results(ret, results->len);
    for (size_t i = 0; i < results->len; i++) {
        processor_join_result_t *j = &results->ptr[i];
        rill_join_result result = {
            .join = {(const uint8_t *)j->join.ptr, j->join.len},
            .key = option_bytes(&j->key),
            .left = option_bytes(&j->left),
            .right = option_bytes(&j->right),
            .timestamp = j->timestamp,
        };
        rill_ctx ctx;
        rill_ctx_start(&ctx, &instance, NULL);
        finish_result(&ctx, rill_run_join(&instance, &result, &ctx), &ret->ptr[i]);
    }
    processor_list_join_result_free(results);
}
#endif

bool exports_processor_on_timer(processor_tick_t *tick, processor_list_output_record_t *ret, processor_string_t *err) {
    rill_tick t = {{tick->name.ptr, tick->name.len}, (rill_clock)tick->clock, tick->time};
    rill_ctx ctx;
    rill_ctx_start(&ctx, &instance, NULL);
    bool ok = rill_run_timer(&instance, &t, &ctx) == RILL_OK;
    if (ok) *ret = take_outputs(&ctx);
    else *err = take_error(&ctx);
    rill_ctx_finish(&ctx);
    processor_tick_free(tick);
    return ok;
}
