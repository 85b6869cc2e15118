/*
 * stream-log-filter in C: the seed's StreamsFilter,
 * `streamLog.filter((key, value) -> value.length() > 5).to(STREAM_LOG_FILTER)`.
 *
 * Length is counted as Java's `String.length()` counts it (rill_java_length:
 * UTF-16 code units of the value decoded as Kafka's StringDeserializer does),
 * not in bytes: five Hangul syllables are five characters, an emoji two, so
 * the same records pass as in the Kafka Streams original. A null value,
 * which throws in the Java original, dead-letters the record.
 */
#include "rill.h"

/** Records whose value is longer than 5 characters go on, unchanged, to `long`. */
static int stream_log_filter(const rill_record *record, rill_ctx *ctx) {
    if (rill_is_null(record->value)) return rill_fail(ctx, "record has a null value");
    if (rill_java_length(record->value) > 5) return rill_forward(ctx, "long");
    return RILL_OK;
}

RILL_PROCESSOR(.process = stream_log_filter);
