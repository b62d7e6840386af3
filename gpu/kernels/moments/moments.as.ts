import { BIG_BITS, BLOCK, EXP_ALL, MASK, SMALL_BITS } from '../cpu/wasm/common.as';

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
