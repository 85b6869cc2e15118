"""stream-log-filter: the seed's StreamsFilter,
`streamLog.filter((key, value) -> value.length() > 5).to(STREAM_LOG_FILTER)`.

Length is counted as Java's `String.length()` counts it, in UTF-16 code
units: a character outside the Basic Multilingual Plane (an emoji, say)
counts as two, exactly as in the Kafka Streams original, so both keep the
same records. The value is decoded like Kafka's StringDeserializer (bad
UTF-8 bytes become U+FFFD). A null value, which throws in the Java
original, dead-letters the record here."""

from rill import Context, Record, processor


def java_length(text: str) -> int:
    """`text.length()` in Java: UTF-16 code units, two for a character
    above U+FFFF (counted by hand: the component's CPython has no UTF-16
    codec)."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


@processor
def stream_log_filter(record: Record, ctx: Context) -> None:
    """Records whose value is longer than 5 go on, unchanged, to `long`."""
    if java_length(record.text(errors="replace")) > 5:
        ctx.emit("long")
