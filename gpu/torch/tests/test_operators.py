"""sparselab_torch's operators: parity with SparseLab's golden fixtures (both writers), the
semantics of each operator, error feedback and the refusal of non-finite values.

    /usr/bin/python3 -m unittest discover -s gpu/torch/tests
"""
import glob
import json
import math
import os
import sys
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import sparselab_torch as sl  # noqa: E402
from sparselab_torch import operators_paths as paths  # noqa: E402
from sparselab_torch.operators_cli import read_gradient, run_case  # noqa: E402
from sparselab_torch.operators_select import exact_topk  # noqa: E402
from sparselab_torch.random import mix32, random_key, step_seed  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "main", "core", "bench"))
from peers import reference_threshold_walk  # noqa: E402  (the GaussianK-SGD reference, given moments)

FIXTURES = os.path.join(HERE, "fixtures")


def reference_topk(u: torch.Tensor, k: int) -> torch.Tensor:
    """Top_k by a full stable sort of the bit keys: the slow, obviously right answer."""
    keys = (u.view(torch.int32) & 0x7FFFFFFF).numpy()
    order = np.argsort(-keys.astype(np.int64), kind="stable")
    return torch.from_numpy(np.sort(order[:k]))


class GoldenFixtures(unittest.TestCase):
    def check(self, writer: str):
        paths = sorted(glob.glob(os.path.join(FIXTURES, f"{writer}-*.json")))
        self.assertGreaterEqual(len(paths), 8)
        methods = set()
        for path in paths:
            with open(path) as f:
                fixture = json.load(f)
            u = torch.from_numpy(read_gradient(os.path.join(FIXTURES, fixture["input"])).copy())
            runs = [{key: run[key] for key in run if key not in ("indices", "valuesBits", "thresholdBits", "statistics")} for run in fixture["runs"]]
            for run, expected, got in zip(runs, fixture["runs"], run_case(u, runs)):
                methods.add(run["method"])
                with self.subTest(fixture=fixture["name"], run=run):
                    self.assertEqual(got["indices"], expected["indices"])
                    self.assertEqual(got["valuesBits"], expected["valuesBits"])
                    self.assertEqual(got["thresholdBits"], expected["thresholdBits"])
                    self.assertEqual(got["statistics"], expected["statistics"])
        self.assertEqual(methods, set(sl.METHODS))

    def test_fixtures_written_by_sparselab_cpu_kernels(self):
        self.check("ts")

    def test_fixtures_written_by_sparselab_torch(self):
        self.check("py")


class TorchPathOnCpu(GoldenFixtures):
    """The torch code that CUDA tensors take, run on CPU tensors against the same fixtures."""

    def setUp(self):
        paths.NUMPY_ON_CPU = False

    def tearDown(self):
        paths.NUMPY_ON_CPU = True

    def test_moments_equal_the_numpy_path(self):
        rng = np.random.default_rng(12)
        for data in (rng.standard_normal(70_001), rng.standard_normal(5000) * 1e-20, np.zeros(9)):
            u = torch.from_numpy(data.astype(np.float32))
            torch_moments = sl.moments(u)
            paths.NUMPY_ON_CPU = True
            self.assertEqual(torch_moments, sl.moments(u))
            paths.NUMPY_ON_CPU = False

    def test_random_keys_and_topk_equal_the_reference(self):
        self.assertEqual(sl.random.random_keys(99, 3000).tolist(), [random_key(99, i) for i in range(3000)])
        u = torch.from_numpy(np.random.default_rng(13).standard_t(2, size=100_000).astype(np.float32))
        for k in (1, 100, 5000):
            self.assertTrue(torch.equal(exact_topk(u, k)[0], reference_topk(u, k)))


class Generator(unittest.TestCase):
    def test_bit_identical_with_the_typescript_generator(self):
        # Values printed by gpu/kernels/random/random.ts.
        got = [mix32(0), mix32(1), mix32(0xFFFFFFFF), random_key(5, 0), random_key(5, 123456),
               step_seed(0, 0), step_seed(42, 1000), step_seed(4294967295, 7)]
        self.assertEqual(got, [0, 1753845952, 1734902346, 3568984768, 981582970, 33350994, 3947834634, 3099176011])

    def test_tensor_keys_equal_scalar_keys(self):
        keys = sl.random.random_keys(99, 5000).tolist()
        self.assertEqual(keys, [random_key(99, i) for i in range(5000)])


class TopK(unittest.TestCase):
    def test_ties_go_to_the_lower_index_and_minus_zero_equals_zero(self):
        u = torch.tensor([0.0, -0.0, 1.0, -1.0, 1.0, 0.0])
        self.assertEqual(sl.select("topk", u, k=2).indices.tolist(), [2, 3])
        self.assertEqual(sl.select("topk", u, k=4).indices.tolist(), [0, 2, 3, 4])

    def test_subnormals_are_ordered(self):
        u = torch.from_numpy(np.array([1, 3, 2, 0x80000004], dtype=np.uint32).view(np.float32))
        self.assertEqual(sl.select("topk", u, k=2).indices.tolist(), [1, 3])

    def test_equals_a_full_sort_on_every_path(self):
        rng = np.random.default_rng(3)
        inputs = {
            "normal": rng.standard_normal(200_000),
            "heavy": rng.standard_t(1.2, size=100_000),
            "ties": rng.integers(-3, 4, size=100_000),  # candidates beyond the cap: the whole path
            "constant": np.full(50_000, 2.0),
            "sparse": np.where(rng.random(100_000) < 0.001, rng.standard_normal(100_000), 0.0),
        }
        for name, data in inputs.items():
            u = torch.from_numpy(data.astype(np.float32))
            for k in (1, 7, 100, 1000, u.numel() // 3, u.numel() - 1):
                with self.subTest(input=name, k=k):
                    indices, values = exact_topk(u, k)
                    self.assertTrue(torch.equal(indices, reference_topk(u, k)))
                    self.assertTrue(torch.equal(values, u[indices]))

    def test_agrees_with_torch_topk_without_ties(self):
        u = torch.from_numpy(np.random.default_rng(4).standard_normal(100_000).astype(np.float32))
        expected = torch.sort(torch.topk(u.abs(), 100).indices).values
        self.assertTrue(torch.equal(sl.select("topk", u, k=100).indices, expected))

    def test_k_is_max_one_floor_density_d_and_at_most_d(self):
        self.assertEqual(sl.selection_size(1000, density=0.0005), 1)
        self.assertEqual(sl.selection_size(1000, density=0.0019), 1)
        self.assertEqual(sl.selection_size(1000, density=0.002), 2)
        self.assertEqual(sl.selection_size(10, k=50), 10)
        self.assertEqual(sl.selection_size(10, density=1), 10)


class ReferenceSemantics(unittest.TestCase):
    def test_gaussiank_follows_the_reference_correction_loop(self):
        rng = np.random.default_rng(5)
        for scale, density in ((1.0, 0.001), (1e-3, 0.01), (10.0, 0.05)):
            u = torch.from_numpy((rng.standard_normal(100_000) * scale).astype(np.float32))
            k = sl.selection_size(u.numel(), density)
            m = sl.moments(u)
            mean = m.sum / m.count
            std = math.sqrt((m.sum_squares - m.sum * mean) / (m.count - 1))
            expected = reference_threshold_walk(u, k, mean, std, k / u.numel())
            with self.subTest(scale=scale, density=density):
                self.assertTrue(torch.equal(sl.select("gaussiank", u, density=density).indices, expected))

    def test_trimmedk_selects_exactly_topk(self):
        rng = np.random.default_rng(6)
        u = torch.from_numpy(rng.standard_t(2, size=50_000).astype(np.float32))
        for density in (0.001, 0.1, 0.9):
            trimmed = sl.select("trimmedk", u, density=density)
            self.assertTrue(torch.equal(trimmed.indices, sl.select("topk", u, density=density).indices))

    def test_moments_are_the_float64_values_within_rounding(self):
        u = torch.from_numpy(np.random.default_rng(7).standard_normal(10_000).astype(np.float32))
        m = sl.moments(u)
        x = u.double()
        self.assertAlmostEqual(m.sum, float(x.sum()), delta=1e-6 * float(x.abs().sum()))  # float32 lanes
        self.assertAlmostEqual(m.sum_squares, float((x * x).sum()), delta=1e-6 * float((x * x).sum()))
        self.assertEqual(m.max_abs, float(u.abs().max()))


class Randomised(unittest.TestCase):
    def test_dgck_and_randk_are_reproducible_per_step_and_differ_across_steps(self):
        u = torch.from_numpy(np.random.default_rng(8).standard_normal(30_000).astype(np.float32))
        for method in ("dgck", "randk"):
            a = sl.select(method, u, density=0.01, seed=3, step=5).indices
            self.assertTrue(torch.equal(a, sl.select(method, u, density=0.01, seed=3, step=5).indices))
        r0 = sl.select("randk", u, density=0.01, seed=3, step=0).indices
        r1 = sl.select("randk", u, density=0.01, seed=3, step=1).indices
        self.assertEqual(r0.numel(), 300)
        self.assertFalse(torch.equal(r0, r1))
        self.assertTrue(bool((r0[1:] > r0[:-1]).all()))


class ErrorFeedback(unittest.TestCase):
    def test_u_is_the_sent_part_plus_the_residual_exactly(self):
        rng = np.random.default_rng(9)
        compressor = sl.Compressor("topk", density=0.01, name="w")
        residual = torch.zeros(5000)
        for step in range(4):
            g = torch.from_numpy(rng.standard_normal(5000).astype(np.float32))
            u = residual + g
            out = compressor.compress(g, step)
            rebuilt = compressor.residual.clone()
            rebuilt[out.indices] = out.values
            self.assertTrue(torch.equal(rebuilt, u))
            self.assertTrue(bool((compressor.residual[out.indices] == 0).all()))
            residual = compressor.residual.clone()

    def test_non_finite_gradient_names_the_tensor_and_index_and_leaves_the_residual(self):
        compressor = sl.Compressor("gaussiank", density=0.1, name="fc1.weight")
        compressor.compress(torch.linspace(-1, 1, 100), 0)
        before = compressor.residual.clone()
        bad = torch.ones(100)
        bad[37] = float("nan")
        bad[60] = float("inf")
        with self.assertRaises(sl.NonFiniteGradientError) as caught:
            compressor.compress(bad, 1)
        self.assertEqual((caught.exception.tensor, caught.exception.index, caught.exception.source), ("fc1.weight", 37, "gradient"))
        self.assertIn('"fc1.weight" has NaN at index 37', str(caught.exception))
        self.assertTrue(torch.equal(compressor.residual, before))

    def test_overflow_of_gradient_plus_residual_is_refused_and_the_residual_kept(self):
        compressor = sl.Compressor("topk", k=1, name="b")
        compressor.compress(torch.tensor([3e38, 3e38, 1.0]), 0)  # index 0 sent, 1 and 2 stay
        before = compressor.residual.clone()
        with self.assertRaises(sl.NonFiniteGradientError) as caught:
            compressor.compress(torch.tensor([0.0, 3e38, 0.0]), 1)
        self.assertEqual((caught.exception.index, caught.exception.source), (1, "residual"))
        self.assertIn("overflowed to Infinity at index 1", str(caught.exception))
        self.assertTrue(torch.equal(compressor.residual, before))

    def test_finite_values_whose_sum_overflows_are_accepted(self):
        out = sl.Compressor("topk", k=1, error_feedback=False).compress(torch.tensor([3e38, 3e38, 3.1e38, 1.0]), 0)
        self.assertEqual(out.indices.tolist(), [2])

    def test_bad_configuration_is_refused(self):
        with self.assertRaisesRegex(ValueError, "exactly one of density or k"):
            sl.Compressor("topk")
        with self.assertRaisesRegex(ValueError, "unknown method"):
            sl.select("top", torch.ones(3), k=1)
        with self.assertRaisesRegex(ValueError, "exactly one of density or k"):
            sl.select("randk", torch.ones(3), density=0.5, k=1)


class Statistics(unittest.TestCase):
    def test_rho_bounds_overlap_and_shape(self):
        u = torch.from_numpy(np.random.default_rng(10).standard_normal(20_000).astype(np.float32))
        stats = sl.Compressor("randk", density=0.1, error_feedback=False).compress(u, 0, histogram_bins=10).statistics
        self.assertEqual((stats["d"], stats["k"], stats["selected"]), (20_000, 2000, 2000))
        self.assertAlmostEqual(stats["boundGeneral"], 0.9)
        self.assertAlmostEqual(stats["boundGaussian"], 0.81)
        self.assertLess(stats["rhoTopk"], stats["boundGaussian"])
        self.assertLess(stats["rhoTopk"], stats["rho"])
        self.assertAlmostEqual(stats["rho"], 0.9, delta=0.02)
        self.assertAlmostEqual(stats["overlap"], 0.1, delta=0.03)
        self.assertAlmostEqual(stats["std"], 1.0, delta=0.03)
        self.assertAlmostEqual(stats["excessKurtosis"], 0.0, delta=0.15)
        self.assertEqual(sum(stats["histogram"]["counts"]), 20_000)


@unittest.skipUnless(torch.cuda.is_available(), "CUDA is absent here; gpu/torch/device_check.py checks CUDA tensors")
class Cuda(unittest.TestCase):
    def test_cuda_selects_what_cpu_selects(self):
        u = torch.from_numpy(np.random.default_rng(11).standard_t(3, size=300_000).astype(np.float32))
        for method in sl.METHODS:
            cpu = sl.select(method, u, density=0.001, seed=1)
            cuda = sl.select(method, u.cuda(), density=0.001, seed=1)
            self.assertTrue(torch.equal(cpu.indices, cuda.indices.cpu()), method)


if __name__ == "__main__":
    unittest.main()
