import unittest

from app import WitWorld
from componentize_py_types import Ok
from wit_world.imports.types import InputRecord


def record(value: bytes) -> InputRecord:
    return InputRecord("in", 0, 0, 0, None, value, [])


class FilterTest(unittest.TestCase):
    def test_only_long_values_pass(self):
        world = WitWorld()
        world.init('{"min-length": 5}')
        long, short = world.process([record(b"streams"), record(b"kafka")])
        self.assertEqual(long.value[0].output, "long")
        self.assertEqual(short, Ok([]))


if __name__ == "__main__":
    unittest.main()
