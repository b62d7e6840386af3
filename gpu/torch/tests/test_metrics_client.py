"""The metrics client without a hub: the JSON Lines file `sparselab import` reads, and its refusals.
(With a hub: tests/unit/externalRun.test.ts runs these clients against the real one.)"""
import json
import os
import socket
import sys
import tempfile
import time
import unittest
import warnings
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package beside this folder

from sparselab_torch import SparseExchange, connect
from sparselab_torch.schema import ValidationError

ARGS = dict(experiment="e", model="m", dataset="d", epochs=1, batch_size=8, lr=0.1)


def lines(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines()]


class FileRunTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.path = Path(self.folder.name) / "run.jsonl"

    def tearDown(self):
        self.folder.cleanup()

    def test_a_run_written_to_a_file(self):
        exchange = SparseExchange("topk", density=0.5, statistics_every=1, histogram_iterations=[0], histogram_bins=4)
        g = torch.tensor([3.0, -1.0, 0.5, 2.0])
        exchange.exchange([("w", g)], 4, g.device, g.dtype)
        exchange.end_step()
        with connect(None, None, arm=exchange, jsonl=str(self.path), iterations_per_epoch=10, **ARGS) as run:
            self.assertEqual(run.id, "local")
            run.iteration(0, 0.1, float("nan"), 0.1)
            run.evaluation(0, 0.1, 0.5, accuracy=0.75)
            run.log("hello")
        first, *rest = lines(self.path)
        self.assertEqual((first["type"], first["format"], first["version"]), ("registerRun", "sparselab-external-run", 1))
        self.assertEqual(first["spec"]["arm"], {"method": "topk", "density": 0.5, "errorFeedback": True, "sampleRatio": 0.01})
        self.assertEqual(first["spec"]["iterationsPerEpoch"], 10)
        self.assertEqual(first["spec"]["framework"]["name"], "torch")
        kinds = [(m["type"], m.get("kind")) for m in rest]
        self.assertIn(("metrics", "iteration"), kinds)
        self.assertIn(("metrics", "layerStats"), kinds)
        self.assertIn(("metrics", "histogram"), kinds)
        self.assertIn(("log", None), kinds)
        self.assertEqual(rest[-1], {"type": "status", "runId": "local", "state": "finished"})
        iteration = next(m for m in rest if m.get("kind") == "iteration")["records"][0]
        self.assertEqual(iteration["loss"], "NaN")
        self.assertEqual((iteration["k"], iteration["selected"], iteration["density"]), (2, 2, 0.5))
        self.assertEqual(iteration["bytesSent"], 4 + 8 * 2)
        self.assertEqual(iteration["rho"], (0.25 + 1) / (9 + 1 + 0.25 + 4))
        evaluation = next(m for m in rest if m.get("kind") == "evaluation")["records"][0]
        self.assertEqual(evaluation["accuracy"], 0.75)
        self.assertNotIn("perplexity", evaluation)

    def test_time_spent_evaluating_is_not_the_next_steps_compute(self):
        exchange = SparseExchange("dense")
        g = torch.ones(3)
        exchange.exchange([("w", g)], 3, g.device, g.dtype)
        exchange.end_step()
        with connect(None, None, arm=exchange, jsonl=str(self.path), **ARGS) as run:
            run.iteration(0, 0.5, 1.0, 0.1)
            time.sleep(0.3)  # evaluating on the test set
            run.evaluation(0, 0.5, 0.9)
            run.iteration(1, 1.0, 1.0, 0.1)
            time.sleep(0.3)  # a slow step
            run.iteration(2, 1.5, 1.0, 0.1)
        records = [r for m in lines(self.path)[1:] if m.get("kind") == "iteration" for r in m["records"]]
        self.assertLess(records[1]["computeMs"], 200)
        self.assertGreater(records[2]["computeMs"], 250)

    def test_an_exception_in_the_script_fails_the_run_with_its_message(self):
        with self.assertRaises(RuntimeError):
            with connect(None, None, arm={"method": "dense"}, jsonl=str(self.path), **ARGS):
                raise RuntimeError("out of memory")
        self.assertEqual(lines(self.path)[-1], {"type": "status", "runId": "local", "state": "failed",
                                                "reason": "RuntimeError: out of memory"})

    def test_a_bad_record_is_refused_in_the_script_naming_the_field(self):
        exchange = SparseExchange("dense")
        g = torch.ones(3)
        exchange.exchange([("w", g)], 3, g.device, g.dtype)
        exchange.end_step()
        run = connect(None, None, arm=exchange, jsonl=str(self.path), **ARGS)
        with self.assertRaises(ValidationError) as caught:
            run.iteration(0, 0, 1.0, 0.1, computeMs="fast")
        self.assertIn("iteration record.computeMs: matches none", str(caught.exception))
        with self.assertRaises(ValidationError) as caught:
            run.iteration(-1, 0, 1.0, 0.1)
        self.assertIn("iteration record.iteration", str(caught.exception))
        with self.assertRaises(ValidationError) as caught:
            run.evaluation(0, 0, "low")
        self.assertIn("testLoss", str(caught.exception))
        run.finish()

    def test_other_ranks_record_nothing(self):
        run = connect(None, None, arm={"method": "dense"}, rank=1, **ARGS)
        self.assertIsNone(run.id)
        run.iteration(0, 0, 1.0, 0.1)
        run.finish()

    def test_without_a_hub_and_without_a_file(self):
        with self.assertRaisesRegex(ValueError, "hub_url"):
            connect(None, None, arm={"method": "dense"}, **ARGS)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        url = "ws://127.0.0.1:%d/" % probe.getsockname()[1]
        probe.close()
        with self.assertRaisesRegex(ConnectionError, "cannot reach the SparseLab hub"):
            connect(url, "t", arm={"method": "dense"}, timeout=2, **ARGS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = connect(url, "t", arm={"method": "dense"}, jsonl=str(self.path), timeout=2, **ARGS)
        run.finish()
        self.assertEqual(lines(self.path)[0]["type"], "registerRun")


if __name__ == "__main__":
    unittest.main()
