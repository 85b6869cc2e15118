"""{{name}}: forwards the records whose value is longer than `min-length`
characters (the manifest's [config]) to output `long`, like Kafka Streams'
`filter((key, value) -> value.length() > minLength)`. A record with a null
value, or one that is not UTF-8, is dead-lettered with the reason.

pytest runs test_app.py natively; `rill build` makes the component and
`rill test` runs tests/*.toml against it."""

from rill import Context, Error, Record, processor


@processor
def keep_long(record: Record, ctx: Context) -> None:
    """Forwards the record to `long` when its value has more than
    min-length characters (code points, not bytes)."""
    if len(record.text()) > ctx.config["min-length"]:
        ctx.forward("long")


@keep_long.init
def check_config(config: dict) -> None:
    """Refuses a [config] table without an integer min-length."""
    if not isinstance(config.get("min-length"), int):
        raise Error("[config] min-length must be an integer, e.g. min-length = 5")
