// WebAssembly SIMD kernels behind gpu/kernels/cpu/index.ts (AssemblyScript, built by
// `npm run build:wasm`). There is no allocator here: the host owns linear memory and passes byte
// offsets. All magnitude comparisons are on float32 bit patterns with the sign cleared, compared
// as signed i32 so that a threshold of -1 admits every coordinate (see gpu/kernels/kernels.ts).
//
// Multi-value results go through two globals read back with lastStop() / lastGreater().

const MASK: i32 = 0x7fffffff;
const EXP_ALL: i32 = 0x7f800000; // |x| bits >= this <=> NaN or +-Inf
// Blocks whose max |x| is outside [2^-40, 2^56] are re-summed in f64: beyond them f32 partial
// sums of squares could overflow, or squares of tiny values underflow.
const BIG_BITS: i32 = (127 + 56) << 23;
const SMALL_BITS: i32 = (127 - 40) << 23;
const BLOCK: u32 = 1024;
const HIST_BINS: u32 = 65536;

let stop: u32 = 0;
let greater: u32 = 0;

export function heapBase(): usize {
  return __heap_base;
}
/** Where the last compaction stopped: the first index it did not examine (== end when done). */
export function lastStop(): u32 {
  return stop;
}
/** After a select: how many keys are strictly greater than the returned key. */
export function lastGreater(): u32 {
  return greater;
}

// ------------------------------------------------------------------------------------------
// randomKey(seed, i) = mix32(i + mix32(seed)), bit-identical to gpu/kernels/random.ts.

// @ts-ignore: decorator
@inline
function mix(x: u32): u32 {
  x ^= x >>> 16;
  x *= 0x7feb352d;
  x ^= x >>> 15;
  x *= 0x846ca68b;
  x ^= x >>> 16;
  return x;
}

// @ts-ignore: decorator
@inline
function mix4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(0x846ca68b));
  x = v128.xor(x, i32x4.shr_u(x, 16));
  return x;
}

export function mix32(x: u32): u32 {
  return mix(x);
}

// ------------------------------------------------------------------------------------------
// Element-wise.

export function addInto(target: usize, addend: usize, n: u32): void {
  const n4 = n & ~3;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const off = <usize>i << 2;
    v128.store(target + off, f32x4.add(v128.load(target + off), v128.load(addend + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(target + off, load<f32>(target + off) + load<f32>(addend + off));
  }
}

// ------------------------------------------------------------------------------------------
// Optimizer. One pass of SGD with momentum in float32, each operation rounded as PyTorch's
// in-place ops round it: v = (momentum * v + scale * g) [+ weightDecay * w]; w = w + (-lr) * v.
// The gradient sum g is consumed: zeroed as it is read, ready for the next step's sum.

export function sgdMomentum(w: usize, v: usize, g: usize, n: u32, lr: f32, momentum: f32, scale: f32, weightDecay: f32): void {
  const n4 = n & ~3;
  const m4 = f32x4.splat(momentum);
  const s4 = f32x4.splat(scale);
  const l4 = f32x4.splat(-lr);
  const d4 = f32x4.splat(weightDecay);
  const zero = f32x4.splat(0);
  const decay = weightDecay != 0;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const off = <usize>i << 2;
    const wi = v128.load(w + off);
    let vi = f32x4.add(f32x4.mul(m4, v128.load(v + off)), f32x4.mul(s4, v128.load(g + off)));
    if (decay) vi = f32x4.add(vi, f32x4.mul(d4, wi));
    v128.store(v + off, vi);
    v128.store(w + off, f32x4.add(wi, f32x4.mul(l4, vi)));
    v128.store(g + off, zero);
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    const wi = load<f32>(w + off);
    let vi = momentum * load<f32>(v + off) + scale * load<f32>(g + off);
    if (decay) vi += weightDecay * wi;
    store<f32>(v + off, vi);
    store<f32>(w + off, wi + -lr * vi);
    store<f32>(g + off, 0);
  }
}

// ------------------------------------------------------------------------------------------
// Moments. out: f64[5] = sum, sumSquares, sumAbs, maxAbs, firstNonFinite (-1 if none).

function firstNonFiniteFrom(p: usize, from: u32, n: u32): u32 {
  for (let i = from; i < n; i++) {
    if ((load<i32>(p + (<usize>i << 2)) & MASK) >= EXP_ALL) return i;
  }
  return n;
}

// @ts-ignore: decorator
@inline
function lanesF64(v: v128): f64 {
  return (
    <f64>f32x4.extract_lane(v, 0) +
    <f64>f32x4.extract_lane(v, 1) +
    (<f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3))
  );
}

// @ts-ignore: decorator
@inline
function lanesMax(v: v128): i32 {
  return max(
    max(i32x4.extract_lane(v, 0), i32x4.extract_lane(v, 1)),
    max(i32x4.extract_lane(v, 2), i32x4.extract_lane(v, 3)),
  );
}

export function moments(p: usize, n: u32, out: usize): void {
  const maskv = i32x4.splat(MASK);
  let sum: f64 = 0;
  let sq: f64 = 0;
  let sab: f64 = 0;
  let maxBits: i32 = 0;
  for (let start: u32 = 0; start < n; start += BLOCK) {
    const end = min<u32>(start + BLOCK, n);
    const vecEnd = start + ((end - start) & ~7);
    let s0 = f32x4.splat(0);
    let s1 = s0;
    let q0 = s0;
    let q1 = s0;
    let a0 = s0;
    let a1 = s0;
    let m0 = i32x4.splat(0);
    let m1 = m0;
    let i = start;
    for (; i < vecEnd; i += 8) {
      const ptr = p + (<usize>i << 2);
      const x0 = v128.load(ptr);
      const x1 = v128.load(ptr, 16);
      const b0 = v128.and(x0, maskv);
      const b1 = v128.and(x1, maskv);
      s0 = f32x4.add(s0, x0);
      s1 = f32x4.add(s1, x1);
      q0 = f32x4.add(q0, f32x4.mul(x0, x0));
      q1 = f32x4.add(q1, f32x4.mul(x1, x1));
      a0 = f32x4.add(a0, b0);
      a1 = f32x4.add(a1, b1);
      m0 = i32x4.max_s(m0, b0);
      m1 = i32x4.max_s(m1, b1);
    }
    let blockMax = lanesMax(i32x4.max_s(m0, m1));
    for (let j = i; j < end; j++) blockMax = max(blockMax, load<i32>(p + (<usize>j << 2)) & MASK);
    if (blockMax >= EXP_ALL) {
      store<f64>(out, NaN);
      store<f64>(out, NaN, 8);
      store<f64>(out, NaN, 16);
      store<f64>(out, NaN, 24);
      store<f64>(out, <f64>firstNonFiniteFrom(p, start, end), 32);
      return;
    }
    if (blockMax > BIG_BITS || (blockMax < SMALL_BITS && blockMax != 0)) {
      for (let j = start; j < end; j++) {
        const x = <f64>load<f32>(p + (<usize>j << 2));
        sum += x;
        sq += x * x;
        sab += Math.abs(x);
      }
    } else {
      for (let j = i; j < end; j++) {
        const x = <f64>load<f32>(p + (<usize>j << 2));
        sum += x;
        sq += x * x;
        sab += Math.abs(x);
      }
      sum += lanesF64(f32x4.add(s0, s1));
      sq += lanesF64(f32x4.add(q0, q1));
      sab += lanesF64(f32x4.add(a0, a1));
    }
    maxBits = max(maxBits, blockMax);
  }
  store<f64>(out, sum);
  store<f64>(out, sq, 8);
  store<f64>(out, sab, 16);
  store<f64>(out, <f64>reinterpret<f32>(maxBits), 24);
  store<f64>(out, -1, 32);
}

/** out: f64[3] = sums of (x - mean)^2, ^3, ^4, accumulated in f64. */
export function centralMoments(p: usize, n: u32, mean: f64, out: usize): void {
  const meanv = f64x2.splat(mean);
  let m2a = f64x2.splat(0);
  let m3a = m2a;
  let m4a = m2a;
  let m2b = m2a;
  let m3b = m2a;
  let m4b = m2a;
  const n4 = n & ~3;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const x = v128.load(p + (<usize>i << 2));
    const ca = f64x2.sub(f64x2.promote_low_f32x4(x), meanv);
    const cb = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 0, 1)), meanv);
    const c2a = f64x2.mul(ca, ca);
    const c2b = f64x2.mul(cb, cb);
    const c3a = f64x2.mul(c2a, ca);
    const c3b = f64x2.mul(c2b, cb);
    m2a = f64x2.add(m2a, c2a);
    m2b = f64x2.add(m2b, c2b);
    m3a = f64x2.add(m3a, c3a);
    m3b = f64x2.add(m3b, c3b);
    m4a = f64x2.add(m4a, f64x2.mul(c3a, ca));
    m4b = f64x2.add(m4b, f64x2.mul(c3b, cb));
  }
  const m2v = f64x2.add(m2a, m2b);
  const m3v = f64x2.add(m3a, m3b);
  const m4v = f64x2.add(m4a, m4b);
  let m2 = f64x2.extract_lane(m2v, 0) + f64x2.extract_lane(m2v, 1);
  let m3 = f64x2.extract_lane(m3v, 0) + f64x2.extract_lane(m3v, 1);
  let m4 = f64x2.extract_lane(m4v, 0) + f64x2.extract_lane(m4v, 1);
  for (; i < n; i++) {
    const c = <f64>load<f32>(p + (<usize>i << 2)) - mean;
    m2 += c * c;
    m3 += c * c * c;
    m4 += c * c * c * c;
  }
  store<f64>(out, m2);
  store<f64>(out, m3, 8);
  store<f64>(out, m4, 16);
}

// @ts-ignore: decorator
@inline
function binInto(counts: usize, b: f64, last: f64): void {
  if (b != b) return;
  b = b < 0 ? 0 : b > last ? last : b;
  const at = counts + (<usize>(<i32>b) << 2);
  store<u32>(at, load<u32>(at) + 1);
}

/**
 * Equal-width histogram, with exactly the oracle's f64 arithmetic: bin = floor((x - min) / width)
 * clamped to [0, bins - 1]; NaN is not counted; width <= 0 (or NaN) puts everything in bin 0.
 * `counts` is scratch for 4 x bins u32, zeroed by the caller: lane j of each group of 4
 * coordinates counts into copy j (so runs of equal bins don't serialise on one counter), and the
 * caller sums the copies.
 */
export function histogram(p: usize, n: u32, lo: f64, hi: f64, bins: i32, counts: usize): void {
  const width = (hi - lo) / <f64>bins;
  if (!(width > 0)) {
    // The oracle: bin 0 for every coordinate, NaN included.
    store<u32>(counts, load<u32>(counts) + n);
    return;
  }
  const last = <f64>(bins - 1);
  const stride = <usize>bins << 2;
  const c1 = counts + stride;
  const c2 = c1 + stride;
  const c3 = c2 + stride;
  const lov = f64x2.splat(lo);
  const widthv = f64x2.splat(width);
  const n4 = n & ~3;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    const x = v128.load(p + (<usize>i << 2));
    const b01 = f64x2.floor(f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(x), lov), widthv));
    const b23 = f64x2.floor(
      f64x2.div(f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 0, 1)), lov), widthv),
    );
    binInto(counts, f64x2.extract_lane(b01, 0), last);
    binInto(c1, f64x2.extract_lane(b01, 1), last);
    binInto(c2, f64x2.extract_lane(b23, 0), last);
    binInto(c3, f64x2.extract_lane(b23, 1), last);
  }
  for (; i < n; i++) binInto(counts, Math.floor((<f64>load<f32>(p + (<usize>i << 2)) - lo) / width), last);
}

// ------------------------------------------------------------------------------------------
// countAbove: at most 8 thresholds (i32 magnitude bits, -1 = all) per call, one pass, each
// specialised on the number of thresholds. Branch-free on purpose: skipping blocks that pass
// no threshold looks attractive for tail thresholds, but mispredicts so badly at thresholds
// passed by a few percent of coordinates (the common case) that it costs 2-4x overall.

// @ts-ignore: decorator
@inline
function sum4(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + (i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline
function passing(a0: v128, a1: v128, a2: v128, a3: v128, t: v128): v128 {
  return i32x4.add(i32x4.add(i32x4.gt_s(a0, t), i32x4.gt_s(a1, t)), i32x4.add(i32x4.gt_s(a2, t), i32x4.gt_s(a3, t)));
}

// @ts-ignore: decorator
@inline
function countAboveN(p: usize, n: u32, thr: usize, out: usize, NT: i32): void {
  const maskv = i32x4.splat(MASK);
  const t0 = i32x4.splat(load<i32>(thr, 0));
  const t1 = i32x4.splat(NT > 1 ? load<i32>(thr, 4) : MASK);
  const t2 = i32x4.splat(NT > 2 ? load<i32>(thr, 8) : MASK);
  const t3 = i32x4.splat(NT > 3 ? load<i32>(thr, 12) : MASK);
  const t4 = i32x4.splat(NT > 4 ? load<i32>(thr, 16) : MASK);
  const t5 = i32x4.splat(NT > 5 ? load<i32>(thr, 20) : MASK);
  const t6 = i32x4.splat(NT > 6 ? load<i32>(thr, 24) : MASK);
  const t7 = i32x4.splat(NT > 7 ? load<i32>(thr, 28) : MASK);
  let c0 = i32x4.splat(0);
  let c1 = c0;
  let c2 = c0;
  let c3 = c0;
  let c4 = c0;
  let c5 = c0;
  let c6 = c0;
  let c7 = c0;
  const n16 = n & ~15;
  for (let i: u32 = 0; i < n16; i += 16) {
    const ptr = p + (<usize>i << 2);
    const a0 = v128.and(v128.load(ptr), maskv);
    const a1 = v128.and(v128.load(ptr, 16), maskv);
    const a2 = v128.and(v128.load(ptr, 32), maskv);
    const a3 = v128.and(v128.load(ptr, 48), maskv);
    c0 = i32x4.sub(c0, passing(a0, a1, a2, a3, t0));
    if (NT > 1) c1 = i32x4.sub(c1, passing(a0, a1, a2, a3, t1));
    if (NT > 2) c2 = i32x4.sub(c2, passing(a0, a1, a2, a3, t2));
    if (NT > 3) c3 = i32x4.sub(c3, passing(a0, a1, a2, a3, t3));
    if (NT > 4) c4 = i32x4.sub(c4, passing(a0, a1, a2, a3, t4));
    if (NT > 5) c5 = i32x4.sub(c5, passing(a0, a1, a2, a3, t5));
    if (NT > 6) c6 = i32x4.sub(c6, passing(a0, a1, a2, a3, t6));
    if (NT > 7) c7 = i32x4.sub(c7, passing(a0, a1, a2, a3, t7));
  }
  let r0 = sum4(c0);
  let r1 = sum4(c1);
  let r2 = sum4(c2);
  let r3 = sum4(c3);
  let r4 = sum4(c4);
  let r5 = sum4(c5);
  let r6 = sum4(c6);
  let r7 = sum4(c7);
  for (let i = n16; i < n; i++) {
    const a = load<i32>(p + (<usize>i << 2)) & MASK;
    r0 += <i32>(a > i32x4.extract_lane(t0, 0));
    r1 += <i32>(a > i32x4.extract_lane(t1, 0));
    r2 += <i32>(a > i32x4.extract_lane(t2, 0));
    r3 += <i32>(a > i32x4.extract_lane(t3, 0));
    r4 += <i32>(a > i32x4.extract_lane(t4, 0));
    r5 += <i32>(a > i32x4.extract_lane(t5, 0));
    r6 += <i32>(a > i32x4.extract_lane(t6, 0));
    r7 += <i32>(a > i32x4.extract_lane(t7, 0));
  }
  store<i32>(out, r0, 0);
  if (NT > 1) store<i32>(out, r1, 4);
  if (NT > 2) store<i32>(out, r2, 8);
  if (NT > 3) store<i32>(out, r3, 12);
  if (NT > 4) store<i32>(out, r4, 16);
  if (NT > 5) store<i32>(out, r5, 20);
  if (NT > 6) store<i32>(out, r6, 24);
  if (NT > 7) store<i32>(out, r7, 28);
}

export function countAbove(p: usize, n: u32, thr: usize, nt: i32, out: usize): void {
  switch (nt) {
    case 1:
      countAboveN(p, n, thr, out, 1);
      break;
    case 2:
      countAboveN(p, n, thr, out, 2);
      break;
    case 3:
      countAboveN(p, n, thr, out, 3);
      break;
    case 4:
      countAboveN(p, n, thr, out, 4);
      break;
    case 5:
      countAboveN(p, n, thr, out, 5);
      break;
    case 6:
      countAboveN(p, n, thr, out, 6);
      break;
    case 7:
      countAboveN(p, n, thr, out, 7);
      break;
    default:
      countAboveN(p, n, thr, out, 8);
  }
}

// ------------------------------------------------------------------------------------------
// Compaction: every i in [start, end) with |x_i| bits > t, ascending, into outIdx (u32) and
// outVal (f32, raw bits), at most `cap` of them. Returns the count; lastStop() is `end` when
// all of [start, end) was examined, else the index of the first passing coordinate that did
// not fit.

export function compactAbove(p: usize, start: u32, end: u32, t: i32, outIdx: usize, outVal: usize, cap: u32): u32 {
  const maskv = i32x4.splat(MASK);
  const tv = i32x4.splat(t);
  let c: u32 = 0;
  let i = start;
  const vecEnd = start + ((end - start) & ~15);
  for (; i < vecEnd; i += 16) {
    const ptr = p + (<usize>i << 2);
    const g0 = i32x4.gt_s(v128.and(v128.load(ptr), maskv), tv);
    const g1 = i32x4.gt_s(v128.and(v128.load(ptr, 16), maskv), tv);
    const g2 = i32x4.gt_s(v128.and(v128.load(ptr, 32), maskv), tv);
    const g3 = i32x4.gt_s(v128.and(v128.load(ptr, 48), maskv), tv);
    if (!v128.any_true(v128.or(v128.or(g0, g1), v128.or(g2, g3)))) continue;
    let bits =
      i32x4.bitmask(g0) | (i32x4.bitmask(g1) << 4) | (i32x4.bitmask(g2) << 8) | (i32x4.bitmask(g3) << 12);
    do {
      const j = <u32>ctz(bits);
      if (c >= cap) {
        stop = i + j;
        return c;
      }
      store<u32>(outIdx + (<usize>c << 2), i + j);
      store<u32>(outVal + (<usize>c << 2), load<u32>(ptr + (<usize>j << 2)));
      c++;
      bits &= bits - 1;
    } while (bits != 0);
  }
  for (; i < end; i++) {
    const x = load<u32>(p + (<usize>i << 2));
    if (<i32>(x & MASK) > t) {
      if (c >= cap) {
        stop = i;
        return c;
      }
      store<u32>(outIdx + (<usize>c << 2), i);
      store<u32>(outVal + (<usize>c << 2), x);
      c++;
    }
  }
  stop = end;
  return c;
}

/** Like compactAbove on the keys randomKey(seed, i) (ms = mix32(seed)): every key >= t (unsigned). */
export function compactRandom(ms: u32, start: u32, end: u32, t: u32, outIdx: usize, outKey: usize, cap: u32): u32 {
  const tv = i32x4.splat(t);
  const lanes = i32x4(0, 1, 2, 3);
  let c: u32 = 0;
  let i = start;
  const vecEnd = start + ((end - start) & ~15);
  for (; i < vecEnd; i += 16) {
    const base = i32x4.add(i32x4.splat(i + ms), lanes);
    const k0 = mix4(base);
    const k1 = mix4(i32x4.add(base, i32x4.splat(4)));
    const k2 = mix4(i32x4.add(base, i32x4.splat(8)));
    const k3 = mix4(i32x4.add(base, i32x4.splat(12)));
    const g0 = i32x4.ge_u(k0, tv);
    const g1 = i32x4.ge_u(k1, tv);
    const g2 = i32x4.ge_u(k2, tv);
    const g3 = i32x4.ge_u(k3, tv);
    if (!v128.any_true(v128.or(v128.or(g0, g1), v128.or(g2, g3)))) continue;
    let bits =
      i32x4.bitmask(g0) | (i32x4.bitmask(g1) << 4) | (i32x4.bitmask(g2) << 8) | (i32x4.bitmask(g3) << 12);
    do {
      const j = <u32>ctz(bits);
      if (c >= cap) {
        stop = i + j;
        return c;
      }
      store<u32>(outIdx + (<usize>c << 2), i + j);
      store<u32>(outKey + (<usize>c << 2), mix(i + j + ms));
      c++;
      bits &= bits - 1;
    } while (bits != 0);
  }
  for (; i < end; i++) {
    const key = mix(i + ms);
    if (key >= t) {
      if (c >= cap) {
        stop = i;
        return c;
      }
      store<u32>(outIdx + (<usize>c << 2), i);
      store<u32>(outKey + (<usize>c << 2), key);
      c++;
    }
  }
  stop = end;
  return c;
}

// ------------------------------------------------------------------------------------------
// Radix select: the k-th largest key (1 <= k <= n) from a 16-bit histogram of the high half,
// then of the low half within the boundary bin. lastGreater() is the number of keys strictly
// greater than the result. `hist` is scratch for 4 x 65536 u32 (4 sub-histograms break the
// store-to-load dependency when many keys share a bin).

// @ts-ignore: decorator
@inline
function bump(hist: usize, sub: u32, bin: u32): void {
  const at = hist + ((<usize>sub * HIST_BINS + bin) << 2);
  store<u32>(at, load<u32>(at) + 1);
}

// @ts-ignore: decorator
@inline
function binCount(hist: usize, bin: u32): u32 {
  const at = hist + (<usize>bin << 2);
  return (
    load<u32>(at) +
    load<u32>(at, HIST_BINS * 4) +
    (load<u32>(at, HIST_BINS * 8) + load<u32>(at, HIST_BINS * 12))
  );
}

/** Finds the bin holding the `need`-th largest; `above` keys lie in higher bins. Sets `greater`. */
function scanDown(hist: usize, need: u32, above: u32): u32 {
  let cum = above;
  let b: u32 = HIST_BINS - 1;
  while (true) {
    const c = binCount(hist, b);
    if (cum + c >= need || b == 0) break;
    cum += c;
    b--;
  }
  greater = cum;
  return b;
}

// @ts-ignore: decorator
@inline
function clearHist(hist: usize): void {
  memory.fill(hist, 0, <usize>HIST_BINS * 16);
}

// Key sources: 0 = u32 array & mask, 1 = float vector magnitudes, 2 = randomKey(seed, i).
// @ts-ignore: decorator
@inline
function keyAt(src: u32, p: usize, mask: u32, ms: u32, i: u32): u32 {
  if (src == 2) return mix(i + ms);
  return load<u32>(p + (<usize>i << 2)) & mask;
}

// Below this many keys the select uses 11-, 11- and 10-bit digits (three passes over the keys,
// histograms of 2048 bins) instead of two 16-bit digits: clearing and scanning 4 x 65536 bins
// twice costs more than a third pass over a few thousand keys (about 0.1 ms a call, even for a
// 10-value bias). The result is the same key either way.
const SMALL_SELECT: u32 = 1 << 16;
const SMALL_BINS: u32 = 2048;

/** Like scanDown over `bins` bins of 4 sub-histograms of SMALL_BINS. */
function scanSmall(hist: usize, bins: u32, need: u32, above: u32): u32 {
  let cum = above;
  let b: u32 = bins - 1;
  while (true) {
    const at = hist + (<usize>b << 2);
    const c =
      load<u32>(at) +
      load<u32>(at, SMALL_BINS * 4) +
      (load<u32>(at, SMALL_BINS * 8) + load<u32>(at, SMALL_BINS * 12));
    if (cum + c >= need || b == 0) break;
    cum += c;
    b--;
  }
  greater = cum;
  return b;
}

// @ts-ignore: decorator
@inline
function bumpSmall(hist: usize, sub: u32, bin: u32): void {
  const at = hist + ((<usize>sub * SMALL_BINS + bin) << 2);
  store<u32>(at, load<u32>(at) + 1);
}

// @ts-ignore: decorator
@inline
function selectSmall(src: u32, p: usize, n: u32, mask: u32, ms: u32, k: u32, hist: usize): u32 {
  // Digit d of a key: bits [21, 32), [10, 21), [0, 10).
  let prefix: u32 = 0;
  let above: u32 = 0;
  for (let level: u32 = 0; level < 3; level++) {
    const shift: u32 = level == 0 ? 21 : level == 1 ? 10 : 0;
    const bins: u32 = level == 2 ? 1024 : 2048;
    // Keys that share the digits found so far: key >>> (shift + digit width) == prefix.
    const high: u32 = level == 0 ? 32 : shift + (level == 1 ? 11 : 10);
    memory.fill(hist, 0, <usize>SMALL_BINS * 16);
    let sub: u32 = 0;
    for (let i: u32 = 0; i < n; i++) {
      const key = keyAt(src, p, mask, ms, i);
      if (level == 0 || key >>> high == prefix) {
        bumpSmall(hist, sub, (key >>> shift) & (bins - 1));
        sub = (sub + 1) & 3;
      }
    }
    const digit = scanSmall(hist, bins, k, above);
    above = greater;
    prefix = level == 0 ? digit : (prefix << (level == 1 ? 11 : 10)) | digit;
  }
  return prefix;
}

// @ts-ignore: decorator
@inline
function selectGeneric(src: u32, p: usize, n: u32, mask: u32, ms: u32, k: u32, hist: usize): u32 {
  if (n < SMALL_SELECT) return selectSmall(src, p, n, mask, ms, k, hist);
  clearHist(hist);
  const n4 = n & ~3;
  let i: u32 = 0;
  for (; i < n4; i += 4) {
    bump(hist, 0, keyAt(src, p, mask, ms, i) >>> 16);
    bump(hist, 1, keyAt(src, p, mask, ms, i + 1) >>> 16);
    bump(hist, 2, keyAt(src, p, mask, ms, i + 2) >>> 16);
    bump(hist, 3, keyAt(src, p, mask, ms, i + 3) >>> 16);
  }
  for (; i < n; i++) bump(hist, 0, keyAt(src, p, mask, ms, i) >>> 16);
  const high = scanDown(hist, k, 0);
  const above = greater;
  clearHist(hist);
  let sub: u32 = 0;
  for (i = 0; i < n; i++) {
    const key = keyAt(src, p, mask, ms, i);
    if (key >>> 16 == high) {
      bump(hist, sub, key & 0xffff);
      sub = (sub + 1) & 3;
    }
  }
  const low = scanDown(hist, k, above);
  return (high << 16) | low;
}

export function selectKeys(keys: usize, n: u32, k: u32, mask: u32, hist: usize): u32 {
  return selectGeneric(0, keys, n, mask, 0, k, hist);
}
export function selectFloat(p: usize, n: u32, k: u32, hist: usize): u32 {
  return selectGeneric(1, p, n, MASK, 0, k, hist);
}
export function selectRandom(ms: u32, n: u32, k: u32, hist: usize): u32 {
  return selectGeneric(2, 0, n, 0, ms, k, hist);
}

// ------------------------------------------------------------------------------------------
// Emission of a selection given its boundary key v: every key > v, plus the first `quota` keys
// equal to v, in index order; at most `total` are written.

/** Over candidates (ascending indices with their keys or raw values). outVal 0 = don't write. */
export function emitCandidates(
  idx: usize,
  keys: usize,
  n: u32,
  mask: u32,
  v: u32,
  quota: u32,
  outIdx: usize,
  outVal: usize,
): u32 {
  let c: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const raw = load<u32>(keys + (<usize>i << 2));
    const key = raw & mask;
    if (key > v || (key == v && quota > 0)) {
      if (key == v) quota--;
      store<u32>(outIdx + (<usize>c << 2), load<u32>(idx + (<usize>i << 2)));
      if (outVal != 0) store<u32>(outVal + (<usize>c << 2), raw);
      c++;
    }
  }
  return c;
}

/** Over a whole float vector: magnitude bits > v, plus the first `quota` equal to v. */
export function emitFloat(p: usize, n: u32, v: i32, quota: u32, total: u32, outIdx: usize, outVal: usize): u32 {
  const maskv = i32x4.splat(MASK);
  const tv = i32x4.splat(v - 1); // >= v (v >= 0)
  let c: u32 = 0;
  let i: u32 = 0;
  const n16 = n & ~15;
  for (; i < n16 && c < total; i += 16) {
    const ptr = p + (<usize>i << 2);
    const g0 = i32x4.gt_s(v128.and(v128.load(ptr), maskv), tv);
    const g1 = i32x4.gt_s(v128.and(v128.load(ptr, 16), maskv), tv);
    const g2 = i32x4.gt_s(v128.and(v128.load(ptr, 32), maskv), tv);
    const g3 = i32x4.gt_s(v128.and(v128.load(ptr, 48), maskv), tv);
    if (!v128.any_true(v128.or(v128.or(g0, g1), v128.or(g2, g3)))) continue;
    let bits =
      i32x4.bitmask(g0) | (i32x4.bitmask(g1) << 4) | (i32x4.bitmask(g2) << 8) | (i32x4.bitmask(g3) << 12);
    do {
      const j = <u32>ctz(bits);
      const raw = load<u32>(ptr + (<usize>j << 2));
      const key = <i32>(raw & MASK);
      if (key > v || quota > 0) {
        if (key == v) quota--;
        store<u32>(outIdx + (<usize>c << 2), i + j);
        store<u32>(outVal + (<usize>c << 2), raw);
        c++;
      }
      bits &= bits - 1;
    } while (bits != 0);
  }
  for (; i < n && c < total; i++) {
    const raw = load<u32>(p + (<usize>i << 2));
    const key = <i32>(raw & MASK);
    if (key > v || (key == v && quota > 0)) {
      if (key == v) quota--;
      store<u32>(outIdx + (<usize>c << 2), i);
      store<u32>(outVal + (<usize>c << 2), raw);
      c++;
    }
  }
  return c;
}

/** Over randomKey(seed, i) for i < n: keys > v, plus the first `quota` equal to v. */
export function emitRandom(ms: u32, n: u32, v: u32, quota: u32, total: u32, outIdx: usize): u32 {
  let c: u32 = 0;
  for (let i: u32 = 0; i < n && c < total; i++) {
    const key = mix(i + ms);
    if (key > v || (key == v && quota > 0)) {
      if (key == v) quota--;
      store<u32>(outIdx + (<usize>c << 2), i);
      c++;
    }
  }
  return c;
}

/**
 * Stratified sample of magnitude bits: s (<= n) coordinates, one from each of s equal strata at
 * a hashed offset, so periodic structure in the vector cannot bias it.
 */
export function sampleFloat(p: usize, n: u32, s: u32, salt: u32, out: usize): void {
  for (let j: u32 = 0; j < s; j++) {
    const lo = <u32>((<u64>j * n) / s);
    const hi = <u32>((<u64>(j + 1) * n) / s);
    const pos = lo + (mix(j ^ salt) % (hi - lo));
    store<u32>(out + (<usize>j << 2), load<u32>(p + (<usize>pos << 2)) & MASK);
  }
}
