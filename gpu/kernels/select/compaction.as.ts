import { MASK } from '../cpu/wasm/common.as';
import { mix, mix4 } from '../random/random.as';

let stop: u32 = 0;

/** Where the last compaction stopped: the first index it did not examine (== end when done). */
export function lastStop(): u32 {
  return stop;
}

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
