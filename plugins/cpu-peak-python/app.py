"""cpu-peak in Python: the same processor as plugins/cpu-peak, output for
output, built against rill:processor@0.2.0 (timers).

Each metricbeat CPU record raises its host's peak system.cpu.total.norm.pct
in the `peaks` store (a float store: 8 big-endian bytes, as the Rust port
stores it); the manifest's timer calls `flush`, which emits every host's
peak since the last firing as {"host":"<name>","peak":<pct>,"until":<ms>}
to output `peak` and clears it.
"""

from rill import Context, Record, Tick, processor


@processor(stores={"peaks": float})
def cpu_peak(record: Record, ctx: Context) -> None:
    """Raises the record's host's peak."""
    try:
        metric = record.json()
        host = metric["host"]["name"]
        pct = float(metric["system"]["cpu"]["total"]["norm"]["pct"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"not a metricbeat CPU record: {error}")
    peaks = ctx.store("peaks")
    if pct > peaks.get(host, default=float("-inf")):
        peaks[host] = pct


@cpu_peak.on_timer("flush")
def flush(tick: Tick, ctx: Context) -> None:
    """Every host's peak since the last firing, then none."""
    peaks = ctx.store("peaks")
    for host, peak in peaks.items():
        ctx.emit("peak", key=host, value={"host": host, "peak": peak, "until": tick.time}, headers=[])
        peaks.delete(host)
