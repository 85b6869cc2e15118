/*
 * rill_bytes.c: bytes and growable buffers, the bottom of the C SDK: every
 * other part builds on these and this file needs nothing else of the SDK.
 * Also the text helpers Kafka Streams ports need (UTF-8 and Java lengths).
 */
#include "rill_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
