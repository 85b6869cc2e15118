/*
 * stream-log-copy in C: the seed's SimpleStreamApplication, which copies
 * every record of `stream_log` to `stream_log_copy`
 * (`stream.to(STREAM_LOG_COPY)`). Key, value, headers and timestamp go on
 * byte for byte.
 */
#include "rill.h"

/** Every record, unchanged, to output `copy`. */
static int stream_log_copy(const rill_record *record, rill_ctx *ctx) {
    (void)record;
    return rill_forward(ctx, "copy");
}

RILL_PROCESSOR(.process = stream_log_copy);
