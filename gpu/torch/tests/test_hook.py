"""The DDP communication hook and the per-tensor API (sparselab_torch.hook, sparselab_torch.comm).

Two gloo ranks (torch.multiprocessing, a FileStore) run every DDP scenario once in setUpClass; each test
checks one property of what they recorded: the hook's mean equals the mean of each rank's compressed
gradient computed independently, bit for bit; the two strategies agree; replicas stay identical; the
residual keeps what was not sent; the bytes are those of the selections.
"""
import os
import sys
import tempfile
import unittest

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package beside this folder

from sparselab_torch import Compressor
from sparselab_torch.comm import limit_to_capacity, sparse_allgather_mean
from sparselab_torch.hook import SparseExchange, register_comm_hook

WORLD = 2
DENSITY = 0.05
SCENARIOS = [(m, s) for m in ("topk", "gaussiank", "dgck", "trimmedk", "randk") for s in ("sizes", "capacity")]


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(40, 30), torch.nn.Tanh(), torch.nn.Linear(30, 5))


def batch(rank, step):
    g = torch.Generator().manual_seed(100 * rank + step)
    return torch.randn(16, 40, generator=g), torch.randint(0, 5, (16,), generator=g)


def local_gradients(model, rank, step):
    model.zero_grad()
    x, y = batch(rank, step)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    return {n.removeprefix("module."): p.grad.detach().clone() for n, p in model.named_parameters()}


def expected_mean(method, all_grads):
    """The mean over ranks of each rank's compressed gradient, with a fresh compressor per rank and tensor."""
    out = {}
    for name in all_grads[0]:
        dense = torch.zeros(all_grads[0][name].numel())
        for grads in all_grads:
            sel = Compressor(method, density=DENSITY, name=name).compress(grads[name], 0)
            dense.index_add_(0, sel.indices, sel.values)
        out[name] = (dense / WORLD).view_as(all_grads[0][name])
    return out


def worker(rank, store_file, out_dir):
    dist.init_process_group("gloo", init_method="file://" + store_file, rank=rank, world_size=WORLD)
    results = {}
    for method, strategy in SCENARIOS + [("dense", "sizes")]:
        plain = make_model()
        mine = local_gradients(plain, rank, 0)
        gathered = [None] * WORLD
        dist.all_gather_object(gathered, mine)
        model = DDP(make_model())
        exchange = register_comm_hook(model, method, density=None if method == "dense" else DENSITY,
                                      strategy=strategy, statistics_every=1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        hooked = local_gradients(model, rank, 0)
        step0 = dict(exchange.last_step)
        residuals = {n: c.residual.clone() for n, c in exchange.compressors.items() if c.residual is not None}
        optimizer.step()
        for step in range(1, 4):
            local_gradients(model, rank, step)
            optimizer.step()
        weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        replicas = [torch.empty_like(weights) for _ in range(WORLD)]
        dist.all_gather(replicas, weights)
        # The per-tensor API on the same step-0 gradients, on a plain model.
        per_tensor = SparseExchange(method, None if method == "dense" else DENSITY, strategy=strategy)
        plain = make_model()
        local_gradients(plain, rank, 0)
        per_tensor.average_gradients(plain)
        results[(method, strategy)] = {
            "hooked": hooked,
            "expected": expected_mean(method, gathered) if method != "dense" else None,
            "local": mine,
            "step0": step0,
            "residuals": residuals,
            "replicas_identical": all(torch.equal(replicas[0], r) for r in replicas),
            "per_tensor": {n: p.grad.clone() for n, p in plain.named_parameters()},
            "gathered": gathered,
        }
    torch.save(results, os.path.join(out_dir, "rank%d.pt" % rank))
    dist.destroy_process_group()


class DistributedHookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = tempfile.TemporaryDirectory()
        store = os.path.join(cls.folder.name, "store")
        mp.spawn(worker, args=(store, cls.folder.name), nprocs=WORLD, join=True)
        cls.ranks = [torch.load(os.path.join(cls.folder.name, "rank%d.pt" % r)) for r in range(WORLD)]

    @classmethod
    def tearDownClass(cls):
        cls.folder.cleanup()

    def test_the_hook_averages_each_ranks_compressed_gradient_bit_for_bit(self):
        for scenario in SCENARIOS:
            for rank in range(WORLD):
                got = self.ranks[rank][scenario]
                for name, expected in got["expected"].items():
                    self.assertTrue(torch.equal(got["hooked"][name], expected), (scenario, rank, name))

    def test_every_rank_gets_the_same_mean_and_replicas_stay_identical(self):
        for scenario in SCENARIOS + [("dense", "sizes")]:
            a, b = self.ranks[0][scenario], self.ranks[1][scenario]
            for name in a["hooked"]:
                self.assertTrue(torch.equal(a["hooked"][name], b["hooked"][name]), (scenario, name))
            self.assertTrue(a["replicas_identical"] and b["replicas_identical"], scenario)

    def test_the_two_strategies_agree(self):
        for method in ("topk", "randk", "trimmedk"):
            for name, value in self.ranks[0][(method, "sizes")]["hooked"].items():
                self.assertTrue(torch.equal(value, self.ranks[0][(method, "capacity")]["hooked"][name]), (method, name))

    def test_dense_is_the_plain_mean(self):
        got = self.ranks[0][("dense", "sizes")]
        for name, value in got["hooked"].items():
            mean = sum(g[name] for g in got["gathered"]) / WORLD
            torch.testing.assert_close(value, mean, rtol=0, atol=1e-7)

    def test_the_residual_keeps_what_was_not_sent(self):
        for scenario in SCENARIOS:
            got = self.ranks[0][scenario]
            for name, residual in got["residuals"].items():
                g = got["local"][name].reshape(-1)
                sent = Compressor(scenario[0], density=DENSITY, name=name).compress(g, 0).indices
                kept = torch.ones_like(g, dtype=torch.bool)
                kept[sent] = False
                self.assertTrue(torch.equal(residual[kept], g[kept]), (scenario, name))
                self.assertTrue(bool((residual[sent] == 0).all()), (scenario, name))

    def test_the_per_tensor_api_matches_the_hook(self):
        for scenario in SCENARIOS + [("dense", "sizes")]:
            got = self.ranks[1][scenario]
            for name, value in got["per_tensor"].items():
                torch.testing.assert_close(value, got["hooked"][name], rtol=0, atol=0 if scenario[0] != "dense" else 1e-7)

    def test_what_is_sent_is_the_selection(self):
        d = 40 * 30 + 30 + 30 * 5 + 5
        for scenario in SCENARIOS:
            step = self.ranks[0][scenario]["step0"]
            self.assertEqual(step["k"], sum(max(1, int(DENSITY * n)) for n in (1200, 30, 150, 5)))
            self.assertEqual(step["payloadBytes"], 8 * step["selected"])
            self.assertLess(step["bytesSent"], 4 * d / 4, scenario)  # well under a quarter of the dense bytes
            self.assertGreaterEqual(step["bytesSent"], step["payloadBytes"])
            self.assertEqual(step["bytesReceived"], step["bytesSent"] * (WORLD - 1))
            for key in ("rho", "rhoTopk", "boundGeneral", "overlap", "layerStats"):
                self.assertIn(key, step)
        dense = self.ranks[0][("dense", "sizes")]["step0"]
        self.assertEqual(dense["bytesSent"], 4 * d)


class CapacityTest(unittest.TestCase):
    def test_limit_to_capacity_keeps_the_largest_magnitudes_ties_to_the_lower_index(self):
        indices = torch.tensor([2, 5, 7, 9, 11])
        values = torch.tensor([1.0, -3.0, 2.0, -2.0, 0.5])
        kept_i, kept_v, drop_i, drop_v = limit_to_capacity(indices, values, 3)
        self.assertEqual(kept_i.tolist(), [5, 7, 9])
        self.assertEqual(kept_v.tolist(), [-3.0, 2.0, -2.0])
        self.assertEqual(drop_i.tolist(), [2, 11])
        kept_i, _, drop_i, _ = limit_to_capacity(indices, values, 2)
        self.assertEqual((kept_i.tolist(), drop_i.tolist()), ([5, 7], [2, 9, 11]))  # |2| = |-2|: index 7 wins

    def test_an_overflowing_selection_returns_to_the_residual(self):
        # Gaussian_k's threshold, from a normal fit, lets through far more than k on this heavy-tailed u.
        u = torch.cat([torch.full((60,), 8.0), torch.linspace(-1, 1, 940)])
        exchange = SparseExchange("gaussiank", k=10, strategy="capacity", capacity_factor=1)
        mean = exchange.exchange([("u", u)], u.numel(), u.device, u.dtype)
        step = exchange.end_step()
        self.assertGreater(step["selected"], 10)
        self.assertEqual(step["dropped"], step["selected"] - 10)
        sent = mean != 0
        self.assertEqual(int(sent.sum()), 10)
        residual = exchange.compressors["u"].residual
        # Nothing lost: what was sent plus what stays behind is u.
        self.assertTrue(torch.equal(torch.where(sent, mean, residual), u))
        self.assertTrue(bool((residual[sent] == 0).all()))

    def test_a_selection_over_capacity_is_refused_by_the_exchange(self):
        with self.assertRaises(ValueError):
            sparse_allgather_mean(torch.arange(3), torch.ones(3), 10, strategy="capacity", capacity=2)
        with self.assertRaises(ValueError):
            sparse_allgather_mean(torch.arange(3), torch.ones(3), 10, strategy="fastest")

    def test_bad_arguments_name_the_problem(self):
        with self.assertRaisesRegex(ValueError, "unknown method"):
            SparseExchange("top5", density=0.1)
        with self.assertRaisesRegex(ValueError, "exactly one of density or k"):
            SparseExchange("topk")
        with self.assertRaisesRegex(ValueError, "capacity_factor"):
            SparseExchange("topk", density=0.1, capacity_factor=0.5)


if __name__ == "__main__":
    unittest.main()
