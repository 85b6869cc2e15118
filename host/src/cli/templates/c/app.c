/*
 * {{name}}: forwards the records whose value is longer than `min-length`
 * characters (the manifest's [config]) to output `long`, like Kafka Streams'
 * filter((key, value) -> value.length() > minLength). Characters are the code
 * points of the value decoded as UTF-8 (rill_utf8_length), not bytes: five
 * Hangul syllables are five characters, an emoji one. A record with a null
 * value, or one that is not UTF-8, is dead-lettered with the reason.
 * tools/c/test.sh runs app_test.c natively; `rill build` makes the component
 * and `rill test` runs the specs in tests/ against it. The C SDK (rill.h) is
 * {{sdk}}.
 */
#include "rill.h"

#include <stdlib.h>
#include <string.h>

/** The processor's own data, read from [config] by `init`. */
typedef struct keep_long {
    /** Values with more characters than this are forwarded. */
    long min_length;
} keep_long;

/** Reads `min-length` from the [config] table; an instance without an
 *  integer one is refused. */
static int init(rill_ctx *ctx) {
    rill_json *config = rill_json_parse(ctx, rill_config(ctx));
    if (!config) return RILL_ERROR;
    const rill_json *field = rill_json_get(config, "min-length");
    double number = 0;
    /* An integer: a JSON number without fraction or exponent, in range. */
    bool integer = field && field->kind == RILL_JSON_NUMBER && !strpbrk(field->text, ".eE") &&
                   rill_json_number(field, &number) && number > -1e15 && number < 1e15;
    rill_json_free(config);
    if (!integer) return rill_fail(ctx, "[config] min-length must be an integer, e.g. min-length = 5");
    keep_long *self = malloc(sizeof *self);
    if (!self) return rill_fail(ctx, "out of memory");
    self->min_length = (long)number;
    rill_set_self(ctx, self);
    return RILL_OK;
}

/** Forwards the record to `long` when its value has more than min-length
 *  characters. */
static int keep_long_values(const rill_record *record, rill_ctx *ctx) {
    if (rill_is_null(record->value)) return rill_fail(ctx, "record has a null value");
    long characters = rill_utf8_length(record->value);
    if (characters < 0) return rill_fail(ctx, "the value is not UTF-8");
    const keep_long *self = rill_self(ctx);
    if (characters > self->min_length) return rill_forward(ctx, "long");
    return RILL_OK;
}

RILL_PROCESSOR(.init = init, .process = keep_long_values, .drop = free);
