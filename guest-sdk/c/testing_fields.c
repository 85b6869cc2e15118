/*
 * testing_fields.c: what the host does for `[fields]`, natively, so a C
 * processor's field access is testable without the host: follow each
 * declared path through a JSON value's text, hand over typed scalars or the
 * exact text of the sub-value (raw), and flag raw text that is already
 * canonical. Built into the test driver only (tools/c/test.sh).
 */
#include "rill_host.h"
#include "testing_fields.h"

#include <stdlib.h>
#include <string.h>

/* ---- Walking JSON text (already checked to be valid JSON) ------------ */

static const uint8_t *skip_ws(const uint8_t *at, const uint8_t *end) {
    while (at < end && (*at == ' ' || *at == '\t' || *at == '\n' || *at == '\r')) at++;
    return at;
}

/** The end of the string literal starting at `at` (its opening quote). */
static const uint8_t *skip_string(const uint8_t *at, const uint8_t *end) {
    for (at++; at < end && *at != '"'; at++)
        if (*at == '\\') at++;
    return at < end ? at + 1 : end;
}

/** The end of the value starting at `at`. */
static const uint8_t *skip_value(const uint8_t *at, const uint8_t *end) {
    if (at >= end) return end;
    if (*at == '"') return skip_string(at, end);
    if (*at == '{' || *at == '[') {
        int depth = 0;
        while (at < end) {
            if (*at == '"') {
                at = skip_string(at, end);
                continue;
            }
            if (*at == '{' || *at == '[') depth++;
            if (*at == '}' || *at == ']') depth--;
            at++;
            if (depth == 0) break;
        }
        return at;
    }
    while (at < end && *at != ',' && *at != '}' && *at != ']' && *at != ' ' && *at != '\t' && *at != '\n' &&
           *at != '\r')
        at++;
    return at;
}

/** Whether the string literal [at, end) decodes to `segment`. */
static bool key_is(const uint8_t *at, const uint8_t *end, rill_bytes segment) {
    rill_json *key = rill_json_parse(NULL, rill_bytes_of(at, (size_t)(end - at)));
    bool same = key && key->len == segment.len && (segment.len == 0 || memcmp(key->text, segment.data, segment.len) == 0);
    rill_json_free(key);
    return same;
}

/** A decimal array index without a sign or leading zero. */
static bool index_of(rill_bytes segment, size_t *index) {
    if (segment.len == 0 || segment.len > 18 || (segment.len > 1 && segment.data[0] == '0')) return false;
    size_t n = 0;
    for (size_t i = 0; i < segment.len; i++) {
        if (segment.data[i] < '0' || segment.data[i] > '9') return false;
        n = n * 10 + (size_t)(segment.data[i] - '0');
    }
    *index = n;
    return true;
}

/** The value `segment` names inside the value at [*at, end): an object's
 *  member (the last one, when a key repeats, as serde_json reads it) or an
 *  array's element. False when there is none. */
static bool step(const uint8_t **at, const uint8_t *end, rill_bytes segment) {
    const uint8_t *p = *at;
    if (p >= end || (*p != '{' && *p != '[')) return false;
    bool object = *p == '{';
    size_t wanted = 0;
    if (!object && !index_of(segment, &wanted)) return false;
    const uint8_t *found = NULL;
    p = skip_ws(p + 1, end);
    for (size_t i = 0; p < end && *p != '}' && *p != ']'; i++) {
        bool match = !object && i == wanted;
        if (object) {
            const uint8_t *key_end = skip_string(p, end);
            match = key_is(p, key_end, segment);
            p = skip_ws(skip_ws(key_end, end) + 1, end); /* past the ':' */
        }
        if (match) found = p;
        p = skip_ws(skip_value(p, end), end);
        if (p < end && *p == ',') p = skip_ws(p + 1, end);
    }
    if (!found) return false;
    *at = found;
    return true;
}

/** The path's segments in `path`, one at a time: a JSON Pointer's
 *  (unescaping ~1 and ~0) or a dotted path's. */
static bool next_segment(const char **path, bool pointer, rill_buf *segment) {
    if (**path == 0) return false;
    rill_buf_clear(segment);
    char separator = pointer ? '/' : '.';
    if (pointer) (*path)++; /* the leading '/' of each segment */
    for (; **path && **path != separator; (*path)++) {
        char c = **path;
        if (pointer && c == '~' && ((*path)[1] == '0' || (*path)[1] == '1')) c = (*++*path) == '0' ? '~' : '/';
        rill_buf_append(segment, &c, 1);
    }
    if (!pointer && **path == separator) (*path)++;
    return true;
}

/** The text of the value at `path` in `value`, if it is there. */
static bool locate(rill_bytes value, const char *path, rill_bytes *found) {
    const uint8_t *end = value.data + value.len;
    const uint8_t *at = skip_ws(value.data, end);
    bool pointer = path[0] == '/';
    rill_buf segment = {0};
    bool ok = true;
    while (ok && next_segment(&path, pointer, &segment)) ok = step(&at, end, rill_buf_bytes(&segment));
    rill_buf_free(&segment);
    if (ok) *found = rill_bytes_of(at, (size_t)(skip_value(at, end) - at));
    return ok;
}

/* ---- Canonical text --------------------------------------------------- */

static bool has_exponent(const rill_json *v) {
    if (v->kind == RILL_JSON_NUMBER) return memchr(v->text, 'e', v->len) || memchr(v->text, 'E', v->len);
    for (size_t i = 0; i < v->count; i++)
        if (has_exponent(v->members[i].value)) return true;
    return false;
}

bool rill_json_is_canonical(rill_bytes text) {
    rill_json *v = rill_json_parse(NULL, text);
    if (!v) return false;
    /* The compact writer's own text, with numbers as written: equal text
     * means no whitespace, no repeated key (parsing merged it) and only the
     * writer's escapes. */
    rill_buf written = {0};
    bool same = rill_json_write(&written, v, RILL_JSON_ESCAPE_LINE_SEPARATORS) && written.len == text.len &&
                memcmp(written.data, text.data, text.len) == 0 && !has_exponent(v);
    rill_buf_free(&written);
    rill_json_free(v);
    return same;
}

/* ---- Fields ----------------------------------------------------------- */
/* Messages and choices as the host's (host/src/fields): a repeated key's
 * last value, a numeric segment indexing arrays only. */

/** A field's value from its text, as `as = "value"` hands it over. */
static rill_field_value typed(rill_bytes text, rill_computed_fields *out) {
    switch (text.data[0]) {
    case 'n': return (rill_field_value){.kind = RILL_FIELD_NULL};
    case 't': return (rill_field_value){.kind = RILL_FIELD_BOOL, .boolean = true};
    case 'f': return (rill_field_value){.kind = RILL_FIELD_BOOL, .boolean = false};
    case '{':
    case '[': return (rill_field_value){.kind = RILL_FIELD_RAW, .raw = {text, rill_json_is_canonical(text)}};
    default: break;
    }
    rill_json *v = rill_json_parse(NULL, text);
    if (!v) abort(); /* located in valid JSON: a driver bug */
    rill_field_value field = {.kind = RILL_FIELD_NUMBER};
    if (v->kind == RILL_JSON_STRING) {
        char *copy = rill_strndup(v->text, v->len);
        out->owned = realloc(out->owned, (out->owned_count + 1) * sizeof *out->owned);
        if (!copy || !out->owned) abort();
        out->owned[out->owned_count++] = copy;
        field = (rill_field_value){.kind = RILL_FIELD_TEXT, .text = rill_bytes_of(copy, v->len)};
    } else {
        rill_json_number(v, &field.number);
    }
    rill_json_free(v);
    return field;
}

void rill_compute_fields(const rill_field_decl *decls, size_t count, rill_bytes value, rill_computed_fields *out) {
    *out = (rill_computed_fields){0};
    if (!value.data) {
        static const char null_value[] = "the value is null";
        out->error = rill_strndup(null_value, sizeof null_value - 1);
        return;
    }
    rill_ctx ctx;
    rill_ctx_start(&ctx, NULL, NULL);
    rill_json *parsed = rill_json_parse(&ctx, value);
    if (!parsed) {
        rill_buf message = {0};
        rill_buf_printf(&message, "the value is not JSON: %s", rill_error_message(&ctx));
        out->error = (char *)message.data;
        rill_ctx_finish(&ctx);
        return;
    }
    rill_json_free(parsed);
    rill_ctx_finish(&ctx);
    out->values = calloc(count ? count : 1, sizeof *out->values);
    if (!out->values) abort();
    out->count = count;
    for (size_t i = 0; i < count; i++) {
        rill_bytes text;
        if (!locate(value, decls[i].path, &text)) out->values[i] = (rill_field_value){.kind = RILL_FIELD_MISSING};
        else if (decls[i].raw)
            out->values[i] = (rill_field_value){.kind = RILL_FIELD_RAW, .raw = {text, rill_json_is_canonical(text)}};
        else out->values[i] = typed(text, out);
    }
}

void rill_computed_fields_free(rill_computed_fields *fields) {
    for (size_t i = 0; i < fields->owned_count; i++) free(fields->owned[i]);
    free(fields->owned);
    free(fields->values);
    free(fields->error);
    *fields = (rill_computed_fields){0};
}
