/*
 * rill_ctx.c: the context of one callback: the instance's config and data,
 * the error message a failure leaves, and the outputs a callback emits
 * (emit, forward, map_value). Builds on rill_bytes.c only.
 */
#include "rill_host.h"

#include <stdlib.h>
#include <string.h>

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

int rill_fail_take(rill_ctx *ctx, char *message) {
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
    return rill_fail_take(ctx, message);
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
    size_t name_len = strlen(in->output);
    if (in->topic) {
        /* "<output>:<topic>": the host splits it at the separator. */
        size_t topic_len = strlen(in->topic);
        o.output_len = name_len + 1 + topic_len;
        o.output = malloc(o.output_len + 1);
        if (o.output) {
            memcpy(o.output, in->output, name_len);
            o.output[name_len] = RILL_TOPIC_SEPARATOR;
            memcpy(o.output + name_len + 1, in->topic, topic_len + 1);
        }
    } else {
        o.output_len = name_len;
        o.output = rill_strndup(in->output, o.output_len);
    }
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

int rill_emit_joined(rill_ctx *ctx, const char *output, const rill_join_result *result, rill_bytes value) {
    rill_output o = {
        .output = output, .key = result->key, .value = value, .has_timestamp = true, .timestamp = result->timestamp};
    return rill_emit_output(ctx, &o);
}

int rill_forward(rill_ctx *ctx, const char *output) { return rill_forward_to(ctx, output, NULL); }

int rill_forward_to(rill_ctx *ctx, const char *output, const char *topic) {
    const rill_record *r = ctx->record;
    if (!r) return rill_fail(ctx, "forward needs an input record");
    /* Under [fields] the host holds the value: the output says "the
     * input's", and no bytes are copied out (or in, when omitted). */
    bool from_input = r->fields != NULL;
    rill_output o = {.output = output,
                     .key = r->key,
                     .value = from_input ? RILL_NULL : r->value,
                     .headers = r->headers,
                     .header_count = r->header_count,
                     .has_timestamp = true,
                     .timestamp = r->timestamp,
                     .topic = topic};
    if (rill_emit_output(ctx, &o) != RILL_OK) return RILL_ERROR;
    ctx->outputs[ctx->output_count - 1].value_from_input = from_input;
    return RILL_OK;
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
