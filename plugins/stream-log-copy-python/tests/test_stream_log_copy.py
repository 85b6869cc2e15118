"""stream-log-copy against the seed's console session: hello, my, name,
is, jihun in; the same five out, in order."""

from rill.testing import Driver, load_app

app = load_app(__file__)
SEED = ["hello", "my", "name", "is", "jihun"]


def test_the_seed_lines_are_copied_in_order():
    d = Driver(app.stream_log_copy, manifest="plugin.toml")
    for line in SEED:
        d.send("stream_log", value=line)
    assert [o.text() for o in d.outputs("copy")] == SEED
    assert all(o.key is None for o in d.outputs())
    assert d.dead_letters == []


def test_keys_values_and_headers_are_kept_byte_for_byte():
    d = Driver(app.stream_log_copy, manifest="plugin.toml")
    (out,) = d.send("stream_log", key=b"\xff\x00", value=b"\x80not utf-8", headers=[("h", None)])
    assert (out.key, out.value, out.headers[0].key, out.headers[0].value) == (b"\xff\x00", b"\x80not utf-8", "h", None)
    (tomb,) = d.send("stream_log", key="k", value=None)
    assert tomb.value is None
