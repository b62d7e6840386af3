"""sparselab_torch.engine: the native engine's randomness, data order, initialisation, schedules and models, and
the exchange's edge cases on 2 gloo ranks. (End to end under torchrun: tests/unit/torchEngine.test.ts.)"""
import os
import sys
import tempfile
import unittest

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package beside this folder

from sparselab_torch.comm import sparse_allgather_mean
from sparselab_torch.engine.data import load_dataset, rank_batches
from sparselab_torch.engine.models import build_model
from sparselab_torch.engine.rng import derive_seed, initial_values, permutation
from sparselab_torch.engine.schedule import density_at, learning_rate_at


class NativeRandomnessTest(unittest.TestCase):
    """Golden values printed by the TypeScript (gpu/worker/data/random.ts, models/init.ts, data/synthetic.ts)."""

    def test_permutation_is_the_native_data_order(self):
        p = permutation(60000, derive_seed(1, "order", 3))
        self.assertEqual(list(p[:5]) + list(p[-5:]), [45789, 41480, 31484, 9220, 51476, 52881, 18404, 24700, 49422, 12353])
        self.assertEqual(sum(int(v) * (i % 7) for i, v in enumerate(p)) % 1000003, 35276)
        self.assertEqual(sorted(p.tolist()), list(range(60000)))

    def test_initial_weights_are_the_native_ones(self):
        w = initial_values({"kind": "glorotUniform"}, [784, 200], 1, "fc1/kernel").reshape(-1)
        self.assertEqual([float(w[0]), float(w[12345]), float(w[156799])],
                         [0.004981667269021273, 0.04820599779486656, -0.06526701152324677])
        h = initial_values({"kind": "heNormal"}, [5, 5, 1, 20], 1, "conv1/kernel").reshape(-1)
        self.assertEqual([float(h[0]), float(h[1]), float(h[499])],
                         [0.14566797018051147, 0.20407482981681824, -0.43900251388549805])

    def test_synthetic_data_is_the_native_task(self):
        s = load_dataset({"name": "synthetic"})
        self.assertEqual((s.train.inputs.shape, s.test.inputs.shape), ((5000, 32), (1000, 32)))
        flat = s.train.inputs.reshape(-1)
        self.assertEqual([float(flat[0]), float(flat[-1]), float(s.test.inputs.reshape(-1)[77])],
                         [0.9456614851951599, 0.7974919676780701, -1.6578516960144043])


class ShardsTest(unittest.TestCase):
    def test_ranks_read_disjoint_full_batches_reshuffled_each_epoch(self):
        s = load_dataset({"name": "synthetic", "trainLimit": 640})
        def labels_of(rank, epoch):
            return [tuple(b[0][:, 0]) for b in rank_batches(s.train, rank, 2, 7, epoch, 32)]
        self.assertEqual(len(labels_of(0, 0)), 10)  # 640 / 2 ranks / 32
        firsts = {x for batch in labels_of(0, 0) for x in batch}
        seconds = {x for batch in labels_of(1, 0) for x in batch}
        self.assertFalse(firsts & seconds)
        self.assertNotEqual(labels_of(0, 0), labels_of(0, 1))
        self.assertEqual(labels_of(0, 1), labels_of(0, 1))


class ScheduleTest(unittest.TestCase):
    def test_schedules_and_warmup_as_common_schedule_ts(self):
        e = {"epochs": 10, "optimizer": {"lr": 0.1, "schedule": {"type": "step", "milestones": [2, 4], "gamma": 0.5},
                                         "warmupEpochs": 1}}
        self.assertAlmostEqual(learning_rate_at(e, 0.5), 0.05)
        self.assertAlmostEqual(learning_rate_at(e, 3), 0.05)
        self.assertAlmostEqual(learning_rate_at(e, 4), 0.025)
        e["optimizer"].update(schedule={"type": "cosine", "minLr": 0}, warmupEpochs=0)
        self.assertAlmostEqual(learning_rate_at(e, 5), 0.05)
        experiment = {"densityWarmup": [0.015625, 0.004]}
        self.assertEqual(density_at(experiment, {"density": 0.001}, 0.5), 0.015625)
        self.assertEqual(density_at(experiment, {"density": 0.001}, 1.2), 0.004)
        self.assertEqual(density_at(experiment, {"density": 0.001}, 2), 0.001)
        self.assertIsNone(density_at(experiment, {"method": "dense"}, 0))


class _Info:
    def __init__(self, shape, classes):
        self.input_shape, self.classes = shape, classes


class ModelsTest(unittest.TestCase):
    def test_the_native_shapes_and_names(self):
        fnn = build_model("fnn", _Info((28, 28, 1), 10), 1)
        self.assertEqual([n for n, _ in fnn.named_tensors()],
                         ["fc1/kernel", "fc1/bias", "fc2/kernel", "fc2/bias", "fc3/kernel", "fc3/bias"])
        self.assertEqual(sum(p.numel() for _, p in fnn.named_tensors()), 784 * 200 + 200 + 200 * 200 + 200 + 2010)
        # The native kernel [in, out] is PyTorch's weight transposed.
        native = initial_values({"kind": "glorotUniform"}, [784, 200], 1, "fc1/kernel")
        self.assertTrue(torch.equal(fnn.fc1.weight.detach(), torch.from_numpy(native).t()))
        self.assertEqual(fnn(torch.zeros(3, 28, 28, 1)).shape, (3, 10))
        cnn = build_model("cnn", _Info((28, 28, 1), 10), 1)
        self.assertEqual(sum(p.numel() for _, p in cnn.named_tensors()), 431080)  # Caffe's LeNet with ReLU
        self.assertEqual(cnn(torch.zeros(2, 28, 28, 1)).shape, (2, 10))
        resnet = build_model("resnet20", _Info((32, 32, 3), 10), 1)
        self.assertEqual(sum(p.numel() for _, p in resnet.named_tensors()), 269722)  # as tests/unit/models.test.ts
        self.assertEqual(resnet(torch.zeros(2, 32, 32, 3)).shape, (2, 10))
        lstm = build_model("lstm", _Info((), 50), 1)
        logits, _ = lstm(torch.zeros(2, 35, dtype=torch.long))
        self.assertEqual(logits.shape, (2, 35, 50))
        self.assertEqual(len(lstm.named_tensors()), 1 + 3 * 2 + 2)  # Keras' tensors: no second LSTM bias
        words = build_model("lstm", _Info((), 10000), 1)
        self.assertEqual(sum(p.numel() for _, p in words.named_tensors()), 4651600)  # as tests/unit/models.test.ts
        synthetic = build_model("synthetic", _Info((32,), 10), 1)
        self.assertEqual(sum(p.numel() for _, p in synthetic.named_tensors()), 6922)


def _exchange_nothing(rank, path, results):
    dist.init_process_group("gloo", init_method="file://" + path, rank=rank, world_size=2)
    empty = torch.zeros(0, dtype=torch.int64)
    mean, times = sparse_allgather_mean(empty, torch.zeros(0), 5)
    results[rank] = (mean.tolist(), times.bytes_sent)
    dist.destroy_process_group()


class EmptyExchangeTest(unittest.TestCase):
    def test_no_rank_selecting_anything_averages_to_zero_instead_of_crashing_gloo(self):
        with tempfile.TemporaryDirectory() as folder:
            results = mp.Manager().dict()
            mp.spawn(_exchange_nothing, args=(os.path.join(folder, "store"), results), nprocs=2)
            self.assertEqual(dict(results), {0: ([0.0] * 5, 4), 1: ([0.0] * 5, 4)})


if __name__ == "__main__":
    unittest.main()
