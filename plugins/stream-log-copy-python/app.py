"""stream-log-copy: the seed's SimpleStreamApplication, which copies every
record of `stream_log` to `stream_log_copy` (`stream.to(STREAM_LOG_COPY)`).
Key, value and headers go on byte for byte; the host keeps the timestamp."""

from rill import Context, Record, processor


@processor
def stream_log_copy(record: Record, ctx: Context) -> None:
    """Every record, unchanged, to output `copy`."""
    ctx.emit("copy")
