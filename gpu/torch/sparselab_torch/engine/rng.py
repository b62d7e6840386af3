"""SparseLab's seeded randomness (gpu/worker/data/random.ts, models/init.ts) in NumPy, bit-identical with it:
the same seed gives the torch engine the native engine's data order, synthetic data and initial weights.

Random is a counter through mix32: the n-th uint32 is mix32(s0 + n * 0x9e3779b9), so a block of draws is one
vectorised expression. Orthogonal initialisation sums in NumPy's order, so it matches to rounding, not bits.
"""
import math

import numpy as np

from ..random import MASK32, mix32, mix32_numpy

GOLDEN = 0x9E3779B9


def derive_seed(seed, *parts):
    """deriveSeed: a seed combined with integers and strings, in order."""
    h = mix32((seed & MASK32) ^ GOLDEN)
    for part in parts:
        if isinstance(part, str):
            for ch in part:
                h = mix32((h ^ ord(ch)) + 0x85EBCA6B)
            h = mix32(h ^ len(part))
        else:
            h = mix32(h ^ mix32((part & MASK32) + 0x632BE5AB))
    return h


class Random:
    """random.ts's Random: uniform, integer and normal draws in the same order."""

    def __init__(self, seed):
        self.state = mix32((seed & MASK32) ^ 0x5BD1E995)
        self.spare = None

    def uint32s(self, n):
        counters = (self.state + GOLDEN * np.arange(1, n + 1, dtype=np.uint64)) & MASK32
        self.state = (self.state + GOLDEN * n) & MASK32
        return mix32_numpy(counters.astype(np.uint32))

    def uniforms(self, n):
        """n draws of next(): [0, 1) with 53 bits, two uint32 each."""
        words = self.uint32s(2 * n).reshape(n, 2)
        hi = (words[:, 0] >> np.uint32(5)).astype(np.float64)
        lo = (words[:, 1] >> np.uint32(6)).astype(np.float64)
        return (hi * 67108864 + lo) / 9007199254740992

    def normals(self, n):
        """n draws of nextNormal() (Box-Muller, cosine then sine of each pair)."""
        if self.spare is not None:
            raise RuntimeError("normals() after an odd draw is not supported")
        pairs = (n + 1) // 2
        uv = self.uniforms(2 * pairs).reshape(pairs, 2)
        if np.any(uv[:, 0] == 0):
            raise RuntimeError("a zero uniform draw (probability 2^-53): redraws are not reproduced here")
        r = np.sqrt(-2 * np.log(uv[:, 0]))
        angle = 2 * math.pi * uv[:, 1]
        out = np.empty(2 * pairs)
        out[0::2] = r * np.cos(angle)
        out[1::2] = r * np.sin(angle)
        if n % 2:
            self.spare = float(out[-1])
        return out[:n]

    def next_int(self, n):
        if n <= 1:
            return 0
        limit = (4294967296 // n) * n
        while True:
            x = int(self.uint32s(1)[0])
            if x < limit:
                return x % n


def permutation(n, seed):
    """random.ts permutation: Fisher-Yates from the top, j = nextInt(i + 1); a rejected draw takes the next word."""
    out = list(range(n))
    random = Random(seed)
    words, used = [], 0
    for i in range(n - 1, 0, -1):
        bound = i + 1
        limit = (4294967296 // bound) * bound
        while True:
            if used == len(words):
                words = random.uint32s(max(64, i)).tolist()
                used = 0
            x = words[used]
            used += 1
            if x < limit:
                break
        j = x % bound
        out[i], out[j] = out[j], out[i]
    return np.array(out, dtype=np.int64)


def fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def initial_values(rule, shape, seed, name):
    """init.ts initialValues: float32 values of a weight in Keras' layout (kernels [.., in, out])."""
    size = int(np.prod(shape))
    random = Random(derive_seed(seed, "init", name))
    fan_in, fan_out = fans(shape)
    kind = rule["kind"]
    if kind == "glorotUniform":
        limit = math.sqrt(6 / (fan_in + fan_out))
        values = (2 * random.uniforms(size) - 1) * limit
    elif kind == "heNormal":
        values = random.normals(size) * math.sqrt(2 / fan_in)
    elif kind == "uniform":
        values = (2 * random.uniforms(size) - 1) * rule["limit"]
    elif kind == "orthogonal":
        values = _orthogonal(shape, random)
    else:
        raise ValueError("unknown initialisation %r" % kind)
    return np.asarray(values, dtype=np.float64).astype(np.float32).reshape(shape)


def _orthogonal(shape, random):
    rows, cols = shape
    count, length = min(rows, cols), max(rows, cols)
    vectors = []
    for _ in range(count):
        u = random.normals(length) if random.spare is None else _normals_after_spare(random, length)
        for w in vectors:
            u = u - np.dot(u, w) * w
        u = u / math.sqrt(float(np.dot(u, u)))
        vectors.append(u)
    v = np.stack(vectors)
    return v if rows <= cols else v.T


def _normals_after_spare(random, n):
    first = random.spare
    random.spare = None
    return np.concatenate([[first], random.normals(n - 1)])
