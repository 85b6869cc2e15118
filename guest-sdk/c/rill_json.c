/*
 * rill_json.c: the SDK's JSON: a strict parser (RFC 8259, as serde_json:
 * no trailing commas, no control characters or lone surrogates in strings,
 * a nesting limit of 128) into a tree that keeps object keys in source
 * order and numbers as their source text, a compact writer (serde_json's
 * escaping, optionally Gson's U+2028/U+2029 too), and the splice of a member
 * into a raw object's text that spares a parse. Builds on rill_bytes.c,
 * rill_ctx.c (messages) and rill_fields.c (the record's value).
 */
#include "rill_host.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** serde_json's nesting limit. */
#define DEPTH_LIMIT 128

/** `internal` bit: `text` shares the node's allocation (parsed values). */
#define TEXT_INLINE 1u

typedef struct parser {
    const uint8_t *at;
    const uint8_t *start;
    const uint8_t *end;
    int depth;
    const char *error;
    /** Where strings are decoded before they get their own memory. */
    rill_buf scratch;
} parser;

rill_json *rill_json_new(rill_json_kind kind) {
    rill_json *value = calloc(1, sizeof *value);
    if (value) value->kind = kind;
    return value;
}

void rill_json_free(rill_json *value) {
    if (!value) return;
    for (size_t i = 0; i < value->count; i++) {
        free((void *)value->members[i].key.data);
        rill_json_free(value->members[i].value);
    }
    free(value->members);
    if (!(value->internal & TEXT_INLINE)) free(value->text);
    free(value);
}

/** A string or number node holding `len` bytes of text in the same
 *  allocation (one malloc per parsed scalar instead of two). */
static rill_json *text_node(rill_json_kind kind, const void *text, size_t len) {
    rill_json *v = malloc(sizeof *v + len + 1);
    if (!v) return NULL;
    *v = (rill_json){.kind = kind, .text = (char *)(v + 1), .len = len, .internal = TEXT_INLINE};
    if (len) memcpy(v->text, text, len);
    v->text[len] = 0;
    return v;
}

static bool push_member(rill_json *container, rill_bytes key, rill_json *value) {
    if (container->count == container->cap) {
        size_t cap = container->cap ? container->cap * 2 : 8;
        rill_json_member *grown = realloc(container->members, cap * sizeof *grown);
        if (!grown) return false;
        container->members = grown;
        container->cap = cap;
    }
    container->members[container->count++] = (rill_json_member){key, value};
    return true;
}

/* ---- Parsing ---------------------------------------------------------- */

static void skip_ws(parser *p) {
    while (p->at < p->end && (*p->at == ' ' || *p->at == '\t' || *p->at == '\n' || *p->at == '\r')) p->at++;
}

static rill_json *fail(parser *p, const char *why) {
    if (!p->error) p->error = why;
    return NULL;
}

static rill_json *parse_value(parser *p);

static int hex4(const uint8_t *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static bool put_utf8(rill_buf *b, uint32_t cp) {
    uint8_t u[4];
    size_t n;
    if (cp < 0x80) u[0] = (uint8_t)cp, n = 1;
    else if (cp < 0x800) u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), u[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
    return rill_buf_append(b, u, n);
}

/** A string literal at p->at (the opening quote), decoded into `out`. */
static bool parse_string(parser *p, rill_buf *out) {
    p->at++;
    /* Most strings have no escape: size the buffer once for them. */
    const uint8_t *scan = p->at;
    while (scan < p->end && *scan != '"' && *scan != '\\' && *scan >= 0x20) scan++;
    if (out->cap < (size_t)(scan - p->at) + 1) {
        uint8_t *data = realloc(out->data, (size_t)(scan - p->at) + 1);
        if (!data) return fail(p, "out of memory"), false;
        out->data = data;
        out->cap = (size_t)(scan - p->at) + 1;
    }
    const uint8_t *run = p->at;
    for (;;) {
        if (p->at >= p->end) return fail(p, "EOF while parsing a string"), false;
        uint8_t c = *p->at;
        if (c == '"' || c == '\\') {
            if (!rill_buf_append(out, run, (size_t)(p->at - run))) return fail(p, "out of memory"), false;
            if (c == '"') {
                p->at++;
                break;
            }
            if (p->end - p->at < 2) return fail(p, "EOF while parsing a string"), false;
            uint8_t e = p->at[1];
            p->at += 2;
            char simple = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b' : e == 'f' ? '\f'
                        : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
            if (simple) {
                if (!rill_buf_append(out, &simple, 1)) return fail(p, "out of memory"), false;
            } else if (e == 'u') {
                if (p->end - p->at < 4) return fail(p, "EOF while parsing a string"), false;
                int cp = hex4(p->at);
                if (cp < 0) return fail(p, "invalid escape"), false;
                p->at += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(p, "lone leading surrogate in hex escape"), false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (p->end - p->at < 6 || p->at[0] != '\\' || p->at[1] != 'u')
                        return fail(p, "unexpected end of hex escape"), false;
                    int low = hex4(p->at + 2);
                    if (low < 0xDC00 || low > 0xDFFF) return fail(p, "lone leading surrogate in hex escape"), false;
                    p->at += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                if (!put_utf8(out, (uint32_t)cp)) return fail(p, "out of memory"), false;
            } else {
                return fail(p, "invalid escape"), false;
            }
            run = p->at;
        } else if (c < 0x20) {
            return fail(p, "control character (\\u0000-\\u001F) found while parsing a string"), false;
        } else {
            p->at++;
        }
    }
    if (rill_utf8_length(rill_buf_bytes(out)) < 0) return fail(p, "invalid unicode code point"), false;
    return true;
}

static rill_json *parse_number(parser *p) {
    const uint8_t *s = p->at;
    if (p->at < p->end && *p->at == '-') p->at++;
    if (p->at >= p->end || *p->at < '0' || *p->at > '9') return fail(p, "invalid number");
    if (*p->at == '0') {
        p->at++;
    } else {
        while (p->at < p->end && *p->at >= '0' && *p->at <= '9') p->at++;
    }
    if (p->at < p->end && *p->at == '.') {
        p->at++;
        if (p->at >= p->end || *p->at < '0' || *p->at > '9') return fail(p, "invalid number");
        while (p->at < p->end && *p->at >= '0' && *p->at <= '9') p->at++;
    }
    if (p->at < p->end && (*p->at == 'e' || *p->at == 'E')) {
        p->at++;
        if (p->at < p->end && (*p->at == '+' || *p->at == '-')) p->at++;
        if (p->at >= p->end || *p->at < '0' || *p->at > '9') return fail(p, "invalid number");
        while (p->at < p->end && *p->at >= '0' && *p->at <= '9') p->at++;
    }
    rill_json *v = text_node(RILL_JSON_NUMBER, s, (size_t)(p->at - s));
    return v ? v : fail(p, "out of memory");
}

static rill_json *parse_literal(parser *p, const char *word, rill_json_kind kind) {
    size_t n = strlen(word);
    if ((size_t)(p->end - p->at) < n || memcmp(p->at, word, n) != 0) return fail(p, "expected value");
    p->at += n;
    rill_json *v = rill_json_new(kind);
    return v ? v : fail(p, "out of memory");
}

static rill_json *parse_container(parser *p, bool object) {
    if (++p->depth > DEPTH_LIMIT) return fail(p, "recursion limit exceeded");
    rill_json *v = rill_json_new(object ? RILL_JSON_OBJECT : RILL_JSON_ARRAY);
    if (!v) return fail(p, "out of memory");
    char close = object ? '}' : ']';
    p->at++;
    skip_ws(p);
    if (p->at < p->end && *p->at == close) {
        p->at++;
        p->depth--;
        return v;
    }
    for (;;) {
        rill_bytes key = RILL_NULL;
        if (object) {
            skip_ws(p);
            if (p->at >= p->end || *p->at != '"') return rill_json_free(v), fail(p, "key must be a string");
            rill_buf_clear(&p->scratch);
            if (!parse_string(p, &p->scratch)) return rill_json_free(v), NULL;
            char *text = rill_strndup(p->scratch.data, p->scratch.len);
            if (!text) return rill_json_free(v), fail(p, "out of memory");
            key = (rill_bytes){(const uint8_t *)text, p->scratch.len};
            skip_ws(p);
            if (p->at >= p->end || *p->at != ':') return free(text), rill_json_free(v), fail(p, "expected `:`");
            p->at++;
        }
        rill_json *item = parse_value(p);
        if (!item) return free((void *)key.data), rill_json_free(v), NULL;
        bool ok;
        if (object) {
            /* A repeated key keeps its first position and takes the last value. */
            size_t i = 0;
            while (i < v->count && !(v->members[i].key.len == key.len &&
                                     memcmp(v->members[i].key.data, key.data, key.len) == 0))
                i++;
            if (i < v->count) {
                rill_json_free(v->members[i].value);
                v->members[i].value = item;
                free((void *)key.data);
                ok = true;
            } else {
                ok = push_member(v, key, item);
            }
        } else {
            ok = push_member(v, RILL_NULL, item);
        }
        if (!ok) return free((void *)key.data), rill_json_free(item), rill_json_free(v), fail(p, "out of memory");
        skip_ws(p);
        if (p->at < p->end && *p->at == ',') {
            p->at++;
            skip_ws(p);
            if (p->at < p->end && *p->at == close) return rill_json_free(v), fail(p, "trailing comma");
            continue;
        }
        if (p->at < p->end && *p->at == close) {
            p->at++;
            p->depth--;
            return v;
        }
        return rill_json_free(v), fail(p, object ? "expected `,` or `}`" : "expected `,` or `]`");
    }
}

static rill_json *parse_value(parser *p) {
    skip_ws(p);
    if (p->at >= p->end) return fail(p, "EOF while parsing a value");
    switch (*p->at) {
    case '{': return parse_container(p, true);
    case '[': return parse_container(p, false);
    case '"': {
        rill_buf_clear(&p->scratch);
        if (!parse_string(p, &p->scratch)) return NULL;
        rill_json *v = text_node(RILL_JSON_STRING, p->scratch.data, p->scratch.len);
        return v ? v : fail(p, "out of memory");
    }
    case 't': return parse_literal(p, "true", RILL_JSON_TRUE);
    case 'f': return parse_literal(p, "false", RILL_JSON_FALSE);
    case 'n': return parse_literal(p, "null", RILL_JSON_NULL);
    default:
        if (*p->at == '-' || (*p->at >= '0' && *p->at <= '9')) return parse_number(p);
        return fail(p, "expected value");
    }
}

rill_json *rill_json_parse(rill_ctx *ctx, rill_bytes text) {
    parser p = {.at = text.data, .start = text.data, .end = text.data + text.len};
    if (!text.data) {
        if (ctx) rill_fail(ctx, "expected JSON, found a null value");
        return NULL;
    }
    rill_json *v = parse_value(&p);
    rill_buf_free(&p.scratch);
    if (v) {
        skip_ws(&p);
        if (p.at != p.end) {
            rill_json_free(v);
            v = fail(&p, "trailing characters");
        }
    }
    if (!v && ctx) {
        /* Line and column as serde_json counts them (1-based). */
        size_t line = 1, column = 0;
        for (const uint8_t *c = p.start; c < p.at && c < p.end; c++) {
            if (*c == '\n') line++, column = 0;
            else column++;
        }
        rill_fail(ctx, "%s at line %zu column %zu", p.error ? p.error : "invalid JSON", line, column + 1);
    }
    return v;
}

rill_json *rill_record_json(rill_ctx *ctx, const rill_record *record) {
    rill_bytes value;
    if (rill_value(ctx, record, &value) != RILL_OK) return NULL;
    if (!value.data) {
        rill_fail(ctx, "record has a null value");
        return NULL;
    }
    return rill_json_parse(ctx, value);
}

/* ---- Reading ---------------------------------------------------------- */

const rill_json *rill_json_get(const rill_json *object, const char *key) {
    if (!object || object->kind != RILL_JSON_OBJECT) return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < object->count; i++)
        if (object->members[i].key.len == len && memcmp(object->members[i].key.data, key, len) == 0)
            return object->members[i].value;
    return NULL;
}

const rill_json *rill_json_path(const rill_json *value, ...) {
    va_list keys;
    va_start(keys, value);
    for (const char *key = va_arg(keys, const char *); key && value; key = va_arg(keys, const char *))
        value = rill_json_get(value, key);
    va_end(keys);
    return value;
}

bool rill_json_number(const rill_json *value, double *number) {
    if (!value || value->kind != RILL_JSON_NUMBER) return false;
    *number = strtod(value->text, NULL);
    return true;
}

const char *rill_json_string(const rill_json *value) {
    return value && value->kind == RILL_JSON_STRING ? value->text : NULL;
}

/* ---- Building --------------------------------------------------------- */

rill_json *rill_json_new_string(const char *text, size_t len) {
    rill_json *v = rill_json_new(RILL_JSON_STRING);
    if (v && !(v->text = rill_strndup(text, len))) return free(v), NULL;
    if (v) v->len = len;
    return v;
}

static rill_json *number_from(rill_buf *text) {
    rill_json *v = text->data ? rill_json_new(RILL_JSON_NUMBER) : NULL;
    if (!v || !rill_buf_cstr(text)) return rill_buf_free(text), free(v), NULL;
    v->text = (char *)text->data;
    v->len = text->len;
    return v;
}

rill_json *rill_json_new_f64(double number) {
    if (!isfinite(number)) return rill_json_new(RILL_JSON_NULL);
    rill_buf text = {0};
    rill_json_write_f64(&text, number);
    return number_from(&text);
}

rill_json *rill_json_new_i64(int64_t number) {
    rill_buf text = {0};
    rill_buf_printf(&text, "%lld", (long long)number);
    return number_from(&text);
}

rill_json *rill_json_copy(const rill_json *value) {
    rill_json *copy = rill_json_new(value->kind);
    if (!copy) return NULL;
    if (value->text && !(copy->text = rill_strndup(value->text, value->len))) return rill_json_free(copy), NULL;
    copy->len = value->len;
    for (size_t i = 0; i < value->count; i++) {
        rill_bytes key = value->members[i].key;
        char *k = key.data ? rill_strndup(key.data, key.len) : NULL;
        rill_json *item = rill_json_copy(value->members[i].value);
        if ((key.data && !k) || !item || !push_member(copy, key.data ? rill_bytes_of(k, key.len) : RILL_NULL, item)) {
            free(k);
            rill_json_free(item);
            rill_json_free(copy);
            return NULL;
        }
    }
    return copy;
}

bool rill_json_set(rill_json *object, const char *key, rill_json *value) {
    if (!object || object->kind != RILL_JSON_OBJECT || !value) return rill_json_free(value), false;
    size_t len = strlen(key);
    for (size_t i = 0; i < object->count; i++)
        if (object->members[i].key.len == len && memcmp(object->members[i].key.data, key, len) == 0) {
            rill_json_free(object->members[i].value);
            object->members[i].value = value;
            return true;
        }
    char *k = rill_strndup(key, len);
    if (!k || !push_member(object, rill_bytes_of(k, len), value)) return free(k), rill_json_free(value), false;
    return true;
}

bool rill_json_push(rill_json *array, rill_json *value) {
    if (!array || array->kind != RILL_JSON_ARRAY || !value || !push_member(array, RILL_NULL, value))
        return rill_json_free(value), false;
    return true;
}

/* ---- Writing ---------------------------------------------------------- */

bool rill_json_write_string(rill_buf *out, rill_bytes text, unsigned flags) {
    static const char hex[] = "0123456789abcdef";
    bool ok = rill_buf_append(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; ok && i < text.len; i++) {
        uint8_t c = text.data[i];
        char esc[7];
        size_t n = 0;
        size_t skip = 1;
        if (c == '"' || c == '\\') esc[0] = '\\', esc[1] = (char)c, n = 2;
        else if (c == '\b') memcpy(esc, "\\b", 2), n = 2;
        else if (c == '\f') memcpy(esc, "\\f", 2), n = 2;
        else if (c == '\n') memcpy(esc, "\\n", 2), n = 2;
        else if (c == '\r') memcpy(esc, "\\r", 2), n = 2;
        else if (c == '\t') memcpy(esc, "\\t", 2), n = 2;
        else if (c < 0x20) memcpy(esc, "\\u00", 4), esc[4] = hex[c >> 4], esc[5] = hex[c & 15], n = 6;
        else if ((flags & RILL_JSON_ESCAPE_LINE_SEPARATORS) && c == 0xE2 && i + 2 < text.len &&
                 text.data[i + 1] == 0x80 && (text.data[i + 2] == 0xA8 || text.data[i + 2] == 0xA9))
            memcpy(esc, text.data[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6), n = 6, skip = 3;
        if (n == 0) continue;
        ok = rill_buf_append(out, text.data + run, i - run) && rill_buf_append(out, esc, n);
        i += skip - 1;
        run = i + 1;
    }
    return ok && rill_buf_append(out, text.data + run, text.len - run) && rill_buf_append(out, "\"", 1);
}

bool rill_json_write(rill_buf *out, const rill_json *v, unsigned flags) {
    switch (v->kind) {
    case RILL_JSON_NULL: return rill_buf_puts(out, "null");
    case RILL_JSON_FALSE: return rill_buf_puts(out, "false");
    case RILL_JSON_TRUE: return rill_buf_puts(out, "true");
    case RILL_JSON_NUMBER: return rill_buf_append(out, v->text, v->len);
    case RILL_JSON_STRING: return rill_json_write_string(out, rill_bytes_of(v->text, v->len), flags);
    case RILL_JSON_ARRAY:
    case RILL_JSON_OBJECT: {
        bool object = v->kind == RILL_JSON_OBJECT;
        bool ok = rill_buf_append(out, object ? "{" : "[", 1);
        for (size_t i = 0; ok && i < v->count; i++) {
            if (i) ok = rill_buf_append(out, ",", 1);
            if (ok && object)
                ok = rill_json_write_string(out, v->members[i].key, flags) && rill_buf_append(out, ":", 1);
            ok = ok && rill_json_write(out, v->members[i].value, flags);
        }
        return ok && rill_buf_append(out, object ? "}" : "]", 1);
    }
    }
    return false;
}

bool rill_json_write_f64(rill_buf *out, double value) {
    if (!isfinite(value)) return rill_buf_puts(out, "null");
    if (value == 0) return rill_buf_puts(out, signbit(value) ? "-0.0" : "0.0");
    /* The shortest digits that read back as `value` (what ryu finds). */
    char sci[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision - 1, value);
        if (strtod(sci, NULL) == value) break;
    }
    const char *s = sci;
    bool negative = *s == '-';
    if (negative) s++;
    char digits[24];
    int length = 0;
    for (; *s != 'e'; s++)
        if (*s != '.') digits[length++] = *s;
    while (length > 1 && digits[length - 1] == '0') length--;
    int e = atoi(s + 1);
    int kk = e + 1; /* where the decimal point goes, counted from the first digit */
    int k = kk - length;
    bool ok = !negative || rill_buf_append(out, "-", 1);
    if (k >= 0 && kk <= 16) {
        ok = ok && rill_buf_append(out, digits, (size_t)length);
        for (int i = 0; ok && i < k; i++) ok = rill_buf_append(out, "0", 1);
        return ok && rill_buf_append(out, ".0", 2);
    }
    if (kk > 0 && kk <= 16)
        return ok && rill_buf_append(out, digits, (size_t)kk) && rill_buf_append(out, ".", 1) &&
               rill_buf_append(out, digits + kk, (size_t)(length - kk));
    if (kk > -5 && kk <= 0) {
        ok = ok && rill_buf_append(out, "0.", 2);
        for (int i = 0; ok && i < -kk; i++) ok = rill_buf_append(out, "0", 1);
        return ok && rill_buf_append(out, digits, (size_t)length);
    }
    ok = ok && rill_buf_append(out, digits, 1);
    if (length > 1) ok = ok && rill_buf_append(out, ".", 1) && rill_buf_append(out, digits + 1, (size_t)(length - 1));
    return ok && rill_buf_printf(out, "e%d", kk - 1);
}

/* ---- Splicing raw text ------------------------------------------------ */

/** Whether `needle` occurs anywhere in `hay`. */
static bool contains(rill_bytes hay, rill_bytes needle) {
    if (needle.len > hay.len) return false;
    for (size_t i = 0; i + needle.len <= hay.len; i++)
        if (hay.data[i] == needle.data[0] && memcmp(hay.data + i, needle.data, needle.len) == 0) return true;
    return false;
}

bool rill_json_with_member(rill_raw_json object, const char *key, rill_raw_json value, rill_buf *out) {
    rill_bytes obj = object.text;
    if (!object.canonical || !value.canonical || !obj.data || !value.text.data || value.text.len == 0 ||
        obj.len < 2 || obj.data[0] != '{' || obj.data[obj.len - 1] != '}')
        return false;
    /* The key as it would be written: a canonical object holding it has
     * exactly this text, so its absence proves the key is not there. */
    rill_buf literal = {0};
    bool ok = rill_json_write_string(&literal, rill_str(key), RILL_JSON_ESCAPE_LINE_SEPARATORS);
    if (!ok || contains(obj, rill_buf_bytes(&literal))) {
        rill_buf_free(&literal);
        return false;
    }
    size_t before = out->len;
    bool empty = obj.len == 2;
    ok = rill_buf_append(out, obj.data, obj.len - 1) && (empty || rill_buf_append(out, ",", 1)) &&
         rill_buf_append(out, literal.data, literal.len) && rill_buf_append(out, ":", 1) &&
         rill_buf_append(out, value.text.data, value.text.len) && rill_buf_append(out, "}", 1);
    rill_buf_free(&literal);
    if (!ok) out->len = before;
    return ok;
}
