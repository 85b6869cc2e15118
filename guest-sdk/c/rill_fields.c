/*
 * rill_fields.c: field access (rill.h, "Fields"): a record's `[fields]`
 * read by their manifest names, typed reads that fail with a message, and
 * the value's bytes with the fix when the host kept them. Names are the
 * instance's, read from the host once (abi.c, or the test driver, sets them
 * with rill_instance_set_field_names). Builds on rill_bytes.c and
 * rill_ctx.c.
 */
#include "rill_host.h"

#include <stdlib.h>
#include <string.h>

void rill_instance_set_field_names(rill_instance *instance, rill_bytes *names, size_t count) {
    instance->field_names = names;
    instance->field_name_count = count;
    instance->field_names_known = true;
}

static rill_field_value error_value(const char *message) {
    return (rill_field_value){.kind = RILL_FIELD_ERROR, .text = rill_str(message)};
}

/** The declaration index of `name`, or -1 when the manifest has no such field. */
static long index_of(const rill_instance *instance, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i < instance->field_name_count; i++) {
        rill_bytes known = instance->field_names[i];
        if (known.len == len && (len == 0 || memcmp(known.data, name, len) == 0)) return (long)i;
    }
    return -1;
}

size_t rill_field_count(const rill_record *record) {
    return record->fields ? record->fields->instance->field_name_count : 0;
}

rill_field_value rill_field_at(const rill_record *record, size_t index) {
    const rill_fields *fields = record->fields;
    if (!fields) return error_value("the manifest declares no [fields]");
    if (fields->error.data) return (rill_field_value){.kind = RILL_FIELD_ERROR, .text = fields->error};
    if (index >= fields->count) return error_value("no field at that index in the manifest's [fields]");
    return fields->values[index];
}

rill_field_value rill_field(const rill_record *record, const char *name) {
    if (!record->fields) return error_value("the manifest declares no [fields]");
    long index = index_of(record->fields->instance, name);
    if (index < 0) return error_value("not a field of the manifest's [fields]");
    return rill_field_at(record, (size_t)index);
}

/** The kind's name in messages ("found text"). */
static const char *kind_name(rill_field_kind kind) {
    switch (kind) {
    case RILL_FIELD_MISSING: return "nothing";
    case RILL_FIELD_NULL: return "null";
    case RILL_FIELD_BOOL: return "a boolean";
    case RILL_FIELD_NUMBER: return "a number";
    case RILL_FIELD_TEXT: return "text";
    case RILL_FIELD_RAW: return "raw JSON";
    case RILL_FIELD_ERROR: break;
    }
    return "no field";
}

/** `name`'s field when it is of `kind`; RILL_ERROR with why on ctx otherwise. */
static int typed(rill_ctx *ctx, const rill_record *record, const char *name, rill_field_kind kind,
                 rill_field_value *out) {
    if (!record->fields) return rill_fail(ctx, "field `%s`: the manifest declares no [fields]", name);
    const rill_instance *instance = record->fields->instance;
    if (index_of(instance, name) < 0) {
        rill_buf declared = {0};
        for (size_t i = 0; i < instance->field_name_count; i++)
            rill_buf_printf(&declared, "%s%.*s", i ? ", " : "", (int)instance->field_names[i].len,
                            (const char *)instance->field_names[i].data);
        int status = rill_fail(ctx, "field `%s` is not declared in the manifest's [fields] (declared: %s)", name,
                               declared.len ? rill_buf_cstr(&declared) : "none");
        rill_buf_free(&declared);
        return status;
    }
    *out = rill_field(record, name);
    if (out->kind == RILL_FIELD_ERROR) return rill_fail(ctx, "%.*s", (int)out->text.len, (const char *)out->text.data);
    if (out->kind == RILL_FIELD_MISSING) return rill_fail(ctx, "missing field `%s`", name);
    if (out->kind != kind)
        return rill_fail(ctx, "invalid type for field `%s`: expected %s, found %s", name, kind_name(kind),
                         kind_name(out->kind));
    return RILL_OK;
}

int rill_field_number(rill_ctx *ctx, const rill_record *record, const char *name, double *out) {
    rill_field_value v;
    if (typed(ctx, record, name, RILL_FIELD_NUMBER, &v) != RILL_OK) return RILL_ERROR;
    *out = v.number;
    return RILL_OK;
}

int rill_field_text(rill_ctx *ctx, const rill_record *record, const char *name, rill_bytes *out) {
    rill_field_value v;
    if (typed(ctx, record, name, RILL_FIELD_TEXT, &v) != RILL_OK) return RILL_ERROR;
    *out = v.text;
    return RILL_OK;
}

int rill_field_bool(rill_ctx *ctx, const rill_record *record, const char *name, bool *out) {
    rill_field_value v;
    if (typed(ctx, record, name, RILL_FIELD_BOOL, &v) != RILL_OK) return RILL_ERROR;
    *out = v.boolean;
    return RILL_OK;
}

int rill_field_raw(rill_ctx *ctx, const rill_record *record, const char *name, rill_raw_json *out) {
    rill_field_value v;
    if (typed(ctx, record, name, RILL_FIELD_RAW, &v) != RILL_OK) return RILL_ERROR;
    *out = v.raw;
    return RILL_OK;
}

int rill_value(rill_ctx *ctx, const rill_record *record, rill_bytes *out) {
    if (record->value_omitted)
        return rill_fail(ctx, "the record's value was not copied into the processor (the manifest declares "
                              "[fields]); set input-value = \"bytes\" in plugin.toml to read it");
    *out = record->value;
    return RILL_OK;
}
