"""The JSON Schema subset validator (sparselab_torch.schema) and the record checker built on it."""
import json
import math
import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package beside this folder

from sparselab_torch.metrics import RecordChecker, decode_frame, encode_frame, wire_value
from sparselab_torch.schema import SchemaError, ValidationError, Validator

NUMBER_OR_TOKEN = {"anyOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
RECORD = {
    "type": "object",
    "properties": {
        "runId": {"type": "string", "minLength": 1, "maxLength": 8},
        "iteration": {"type": "integer", "minimum": 0},
        "loss": NUMBER_OR_TOKEN,
        "density": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "counts": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
        "threshold": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "level": {"type": "string", "enum": ["info", "warn"]},
        "ok": {"type": "boolean"},
    },
    "required": ["runId", "iteration"],
    "additionalProperties": False,
}


class ValidatorTest(unittest.TestCase):
    def check(self, value):
        Validator(RECORD).validate(value)

    def refused(self, value, path, words):
        with self.assertRaises(ValidationError) as caught:
            self.check(value)
        self.assertEqual(caught.exception.path, path)
        self.assertIn(words, str(caught.exception))

    def test_accepts_a_valid_record(self):
        self.check({"runId": "r1", "iteration": 3, "loss": "NaN", "density": 1, "counts": [1, 2.5],
                    "threshold": None, "level": "warn", "ok": False})
        self.check({"runId": "r1", "iteration": 3.0})  # an integral float is an integer, as in JSON

    def test_types(self):
        self.refused({"runId": 5, "iteration": 0}, "runId", "expected string, got 5")
        self.refused({"runId": "a", "iteration": 1.5}, "iteration", "expected integer")
        self.refused({"runId": "a", "iteration": True}, "iteration", "expected integer, got true")
        self.refused({"runId": "a", "iteration": 0, "ok": 1}, "ok", "expected boolean")
        self.refused({"runId": "a", "iteration": 0, "counts": "x"}, "counts", "expected array")
        self.refused(["a"], "", "expected object")

    def test_non_finite_numbers_only_as_tokens(self):
        self.refused({"runId": "a", "iteration": 0, "loss": math.nan}, "loss", "none of the allowed forms")
        self.refused({"runId": "a", "iteration": 0, "loss": "nan"}, "loss", "none of the allowed forms")

    def test_required_and_unknown_fields(self):
        self.refused({"runId": "a"}, "iteration", "required")
        self.refused({"runId": "a", "iteration": 0, "lose": 1}, "lose", "not a known field")

    def test_bounds_and_lengths(self):
        self.refused({"runId": "a", "iteration": -1}, "iteration", "at least 0")
        self.refused({"runId": "a", "iteration": 0, "density": 0}, "density", "greater than 0")
        self.refused({"runId": "a", "iteration": 0, "density": 1.5}, "density", "at most 1")
        self.refused({"runId": "", "iteration": 0}, "runId", "at least 1 characters")
        self.refused({"runId": "123456789", "iteration": 0}, "runId", "at most 8 characters")
        self.refused({"runId": "a", "iteration": 0, "counts": []}, "counts", "at least 1 items")
        self.refused({"runId": "a", "iteration": 0, "counts": [1, 2, 3, 4]}, "counts", "at most 3 items")
        self.refused({"runId": "a", "iteration": 0, "counts": [1, "2"]}, "counts.1", "expected number")

    def test_enums_and_const(self):
        self.refused({"runId": "a", "iteration": 0, "level": "debug"}, "level", 'one of "info", "warn"')
        Validator({"const": 1}).validate(1)
        with self.assertRaises(ValidationError):
            Validator({"const": 1}).validate(True)  # true is not 1 in JSON

    def test_refs_resolve_in_the_root(self):
        root = {"$defs": {"record": RECORD}, "type": "array", "items": {"$ref": "#/$defs/record"}}
        Validator(root).validate([{"runId": "a", "iteration": 0}])
        with self.assertRaises(ValidationError) as caught:
            Validator(root).validate([{"runId": "a", "iteration": 0}, {"runId": "a"}])
        self.assertEqual(caught.exception.path, "1.iteration")

    def test_an_unsupported_keyword_is_an_error_not_a_pass(self):
        with self.assertRaises(SchemaError):
            Validator({"type": "string", "pattern": "^a"}).validate("b")


class RecordCheckerTest(unittest.TestCase):
    """Against the repository's generated schema (common/records.schema.json)."""

    def setUp(self):
        self.checker = RecordChecker()

    def iteration(self, **overrides):
        record = {"runId": "r", "rank": 0, "iteration": 1, "epoch": 0.1, "loss": 2.3, "lr": 0.1, "density": 0.01,
                  "k": 10, "selected": 10, "bytesSent": 80, "bytesReceived": 80, "wallMs": 5, "computeMs": 3,
                  "compressMs": 1, "exchangeMs": 1, "waitMs": 0, "updateMs": 0.1}
        record.update(overrides)
        return wire_value(record)

    def test_every_kind(self):
        self.checker.check("iteration", self.iteration(rho=0.5, loss=float("nan")))
        self.checker.check("evaluation", {"runId": "r", "iteration": 1, "epoch": 1, "wallMs": 1, "testLoss": 0.3,
                                          "accuracy": 0.9})
        stats = {"d": 10, "k": 1, "selected": 1, "threshold": None, "rho": 0.5, "rhoTopk": 0.5, "boundGeneral": 0.9,
                 "boundGaussian": 0.81, "overlap": 1, "mean": 0, "std": 1, "skewness": 0, "excessKurtosis": 0}
        self.checker.check("layerStats", dict(stats, runId="r", iteration=0, layer="fc.weight"))
        self.checker.check("histogram", {"runId": "r", "iteration": 0, "layer": "fc.weight", "min": -1, "max": 1,
                                         "counts": [1, 2], "mean": 0, "std": 1, "skewness": 0, "excessKurtosis": 0})

    def test_a_bad_record_names_its_kind_and_field(self):
        record = self.iteration()
        del record["loss"]
        with self.assertRaises(ValidationError) as caught:
            self.checker.check("iteration", record)
        self.assertIn("iteration record.loss: required", str(caught.exception))
        with self.assertRaises(ValidationError) as caught:
            self.checker.check("iteration", self.iteration(rank=-1))
        self.assertIn("iteration record.rank", str(caught.exception))
        with self.assertRaises(ValueError):
            self.checker.check("weights", {})

    def test_a_missing_schema_file_says_where_it_looked(self):
        with tempfile.TemporaryDirectory() as folder:
            with self.assertRaises(FileNotFoundError) as caught:
                RecordChecker(Path(folder) / "none.json")
            self.assertIn("none.json", str(caught.exception))
            empty = Path(folder) / "empty.json"
            empty.write_text(json.dumps({"$defs": {}}))
            with self.assertRaises(ValueError) as caught:
                RecordChecker(empty)
            self.assertIn("iteration", str(caught.exception))


class WireTest(unittest.TestCase):
    def test_non_finite_values_travel_as_tokens_and_none_is_left_out(self):
        self.assertEqual(wire_value({"a": float("inf"), "b": [float("-inf"), float("nan")], "c": None, "threshold": None}),
                         {"a": "Infinity", "b": ["-Infinity", "NaN"], "threshold": None})

    def test_frames_round_trip(self):
        frame = encode_frame({"type": "heartbeat", "time": 1.5})
        self.assertEqual(int.from_bytes(frame[:4], "little"), len(frame) - 4)
        self.assertEqual(decode_frame(frame), {"type": "heartbeat", "time": 1.5, "payloadBytes": 0})
        with self.assertRaises(ValueError):
            decode_frame(frame[:-1])
        with self.assertRaises(ValueError):
            encode_frame({"type": "x", "v": float("nan")})  # raw NaN is not JSON: wire_value first


if __name__ == "__main__":
    unittest.main()
