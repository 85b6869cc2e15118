"""Field access (manifest `[fields]`, rill:processor@0.3.0) through
rill.testing.Driver, which reads each record's fields out of its JSON value
as the host does: typed scalars, raw slices with their canonical flag,
missing fields, errors for values that are null or not JSON, the value
omitted unless `input-value = "bytes"`, forwarding as the host's
output-value::input, and with_member."""

import pytest

from rill import Error, RawJson, Record, processor, with_member
from rill._types import INPUT
from rill.testing import Driver

FIELDS = {
    "pct": "system.cpu.total.norm.pct",
    "host": {"path": "host", "as": "raw"},
    "name": "host.name",
    "first": "tags.0",
    "dotted": "/a.b/c~1d",
    "flag": "flag",
    "nothing": "nothing",
    "object": "system.cpu",
}

seen = []


@processor
def spy(record, ctx):
    """Keeps what the record says of each field, then forwards it."""
    seen.append({name: record.field(name, "<missing>") for name in record.fields})
    ctx.forward("out")


def driver(**kwargs):
    seen.clear()
    return Driver(spy, outputs={"out": "t"}, fields=FIELDS, **kwargs)


VALUE = ('{"host": {"name":"h1", "n":1.50},"system":{"cpu":{"total":{"norm":{"pct":0.75}}}},'
         '"tags":["x","y"],"a.b":{"c/d":3},"flag":true,"nothing":null}')


def test_fields_are_read_as_the_host_reads_them():
    d = driver()
    d.send("in", value=VALUE)
    (fields,) = seen
    assert fields["pct"] == 0.75 and isinstance(fields["pct"], float)
    assert fields["host"] == RawJson('{"name":"h1", "n":1.50}', canonical=False)
    assert fields["name"] == "h1"
    assert fields["first"] == "x"
    assert fields["dotted"] == 3.0
    assert fields["flag"] is True
    assert fields["nothing"] is None
    assert fields["object"] == RawJson('{"total":{"norm":{"pct":0.75}}}', canonical=True)


def test_attribute_and_item_access_and_missing_fields():
    got = {}

    @processor
    def reader(record, ctx):
        got["pct"] = record.fields.pct
        got["in"] = ("pct" in record.fields, "name" in record.fields)
        got["default"] = record.field("name", None)
        record.fields.name

    d = Driver(reader, fields={"pct": "pct", "name": "host.name"})
    d.send("in", value='{"pct":1}')
    assert got == {"pct": 1.0, "in": (True, False), "default": None}
    assert [x.message for x in d.dead_letters] == ["missing field `name`"]


def test_undeclared_names_and_undeclared_fields_say_so():
    @processor
    def reader(record, ctx):
        record.field(record.text() if record._fields is None else "other")

    d = Driver(reader, fields={"pct": "pct"})
    d.send("in", value="{}")
    assert "'other' is not a field declared in the manifest's [fields] (declared: pct)" in d.dead_letters[0].message
    plain = Driver(reader)
    plain.send("in", value="pct")
    assert "declares no [fields]" in plain.dead_letters[0].message


def test_a_null_or_malformed_value_fails_field_access_with_the_hosts_words():
    d = driver()
    d.send("in", value=None)
    d.send("in", value="{not json")
    d.send("in", value="NaN")
    messages = [x.message for x in d.dead_letters]
    assert messages[0] == "the value is null"
    assert messages[1].startswith("the value is not JSON: ") and messages[2].startswith("the value is not JSON: ")


def test_the_value_is_omitted_unless_the_manifest_asks_for_bytes():
    @processor
    def text(record, ctx):
        ctx.emit("out", value=record.text().upper())

    omitted = Driver(text, fields={"a": "a"})
    omitted.send("in", value='{"a":1}')
    (letter,) = omitted.dead_letters
    assert 'input-value = "bytes"' in letter.message and "record.value" in letter.message
    assert letter.record.value == b'{"a":1}'
    with_bytes = Driver(text, fields={"a": "a"}, input_value="bytes")
    assert [o.text() for o in with_bytes.send("in", value='{"a":1}')] == ['{"A":1}']


def test_forward_sends_the_input_value_as_output_value_input():
    ran = {}

    @processor
    def forward(record, ctx):
        ctx.forward("out")
        ran["outputs"] = list(ctx.outputs)

    d = Driver(forward, fields={"a": "a"})
    (out,) = d.send("in", key="k", value='{"a":1}', timestamp=5)
    assert ran["outputs"][0].value is INPUT
    assert (out.key, out.value, out.timestamp) == (b"k", b'{"a":1}', 5)
    # Without [fields] the value is bytes, as before.
    plain = Driver(forward)
    plain.send("in", value="v")
    assert ran["outputs"][0].value == b"v"


def test_the_manifest_declares_the_fields(tmp_path):
    manifest = tmp_path / "plugin.toml"
    manifest.write_text('input-value = "bytes"\n[outputs]\nout = "t"\n[fields]\n'
                        'b = { path = "x.b", as = "raw" }\na = "x.a"\n')
    d = Driver(spy, manifest=str(manifest))
    seen.clear()
    d.send("in", value='{"x":{"a":"\\u00e9","b":[1, 2]}}')
    assert list(seen[0]) == ["b", "a"]
    assert seen[0] == {"b": RawJson("[1, 2]", False), "a": "é"}
    assert d.input_value == "bytes"


@pytest.mark.parametrize("text,canonical", [
    ('{"a":1,"b":[true,null,"x"]}', True),
    ('{"a":1.50,"b":-0}', True),
    ('{"a": 1}', False),
    ('{"a":1,"a":2}', False),
    ('{"a":1e5}', False),
    ('"\\u001f\\n"', True),
    ('"\\u001F"', False),
    ('"\\/"', False),
    ('"\\u2028"', True),
    ('"\u2028"', False),
    ('"\\u00e9"', False),
    ('"é"', True),
])
def test_canonical_is_the_compact_writers_text(text, canonical):
    d = Driver(spy, fields={"v": {"path": "v", "as": "raw"}})
    seen.clear()
    d.send("in", value='{"v":' + text + "}")
    assert seen[0]["v"] == RawJson(text, canonical)


def test_with_member_splices_only_when_it_cannot_differ():
    host = RawJson('{"name":"h"}', True)
    stamp = RawJson('"2025-01-31T07:55:26.555Z"', True)
    assert with_member(host, "timestamp", stamp) == b'{"name":"h","timestamp":"2025-01-31T07:55:26.555Z"}'
    assert with_member(RawJson("{}", True), "t", stamp) == b'{"t":"2025-01-31T07:55:26.555Z"}'
    assert with_member(RawJson('{"name":"h", "x":1}', False), "timestamp", stamp) is None
    assert with_member(host, "timestamp", RawJson("1e-07", False)) is None
    assert with_member(RawJson("[1]", True), "timestamp", stamp) is None
    assert with_member(RawJson('{"timestamp":1}', True), "timestamp", stamp) is None
    assert with_member(RawJson('{"a":"timestamp"}', True), "timestamp", stamp) is None
    assert with_member(host, 'quo"te', stamp) is None


def test_a_record_built_by_hand_has_its_value_and_no_fields():
    record = Record(value=b"x")
    assert record.value == b"x" and record.text() == "x"
    with pytest.raises(Error, match="no \\[fields\\]"):
        record.field("a")
