"""stream-log-filter against the seed's console session: hello, streams,
kafka, world, monday in; streams and monday out."""

from rill.testing import Driver, load_app

app = load_app(__file__)


def driver():
    return Driver(app.stream_log_filter, manifest="plugin.toml")


def test_the_seed_keeps_streams_and_monday():
    d = driver()
    for line in ["hello", "streams", "kafka", "world", "monday"]:
        d.send("stream_log", value=line)
    assert [o.text() for o in d.outputs("long")] == ["streams", "monday"]
    assert d.dead_letters == []


def test_length_counts_characters_as_java_does():
    d = driver()
    kept = [v for v in ["안녕하세요", "안녕하세요!", "ab😀cd", "a😀😀", "abcde"] if d.send("stream_log", value=v)]
    # Five Hangul syllables are five characters (15 bytes); an emoji is two
    # UTF-16 code units, as in Java.
    assert kept == ["안녕하세요!", "ab😀cd"]


def test_a_null_value_is_dead_lettered():
    d = driver()
    assert d.send("stream_log", key="k", value=None) == []
    assert d.dead_letters[0].message == "record has a null value"
