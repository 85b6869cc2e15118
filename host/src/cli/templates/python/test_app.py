"""{{name}} run natively by pytest: no component, no broker."""

from app import keep_long
from rill.testing import Driver


def driver() -> Driver:
    return Driver(keep_long, manifest="plugin.toml")


def test_values_longer_than_min_length_characters_pass():
    d = driver()
    # Five Hangul syllables are 5 characters (15 bytes): not longer than 5.
    for value in ["kafka", "streams", "안녕하세요", "안녕하세요!"]:
        d.send("{{name}}.in", value=value)
    assert [o.text() for o in d.outputs("long")] == ["streams", "안녕하세요!"]


def test_a_null_value_is_dead_lettered_with_the_reason():
    d = driver()
    d.send("{{name}}.in", key="k", value=None)
    assert d.dead_letters[0].message == "record has a null value"
