import { MASK, anyLane, laneBits } from '../cpu/wasm/common.as';
import { mix, mix4 } from '../random/random.as';

let stop: u32 = 0;

/** Where the last compaction stopped: the first index it did not examine (== end when done). */
export function lastStop(): u32 {
  return stop;
}

// Compaction: every i in [start, end) whose key passes t, ascending, into outIdx (u32) and
// outVal (u32), at most `cap` of them. Returns the count; lastStop() is `end` when all of
// [start, end) was examined, else the index of the first passing coordinate that did not fit.
// Key sources (as in select.as.ts): 1 = |x_i| bits > t (signed: t = -1 admits all), with x_i's
// raw bits as the value; 2 = randomKey(seed, i) >= t (unsigned), with the key as the value.

// @ts-ignore: decorator
@inline
function compact(src: u32, p: usize, ms: u32, start: u32, end: u32, t: i32, outIdx: usize, outVal: usize, cap: u32): u32 {
  const maskv = i32x4.splat(MASK);
  const tv = i32x4.splat(t);
  const lanes = i32x4(0, 1, 2, 3);
  let c: u32 = 0;
  let i = start;
  const vecEnd = start + ((end - start) & ~15);
  for (; i < vecEnd; i += 16) {
    const ptr = p + (<usize>i << 2);
    // The comparisons are spelled out here, not taken from magnitudesAbove: with the any-lane
    // test inside that inlined helper, compactAbove ran 40% slower (1M floats, 2% passing).
    let g0: v128, g1: v128, g2: v128, g3: v128;
    if (src == 2) {
      const base = i32x4.add(i32x4.splat(i + ms), lanes);
      g0 = i32x4.ge_u(mix4(base), tv);
      g1 = i32x4.ge_u(mix4(i32x4.add(base, i32x4.splat(4))), tv);
      g2 = i32x4.ge_u(mix4(i32x4.add(base, i32x4.splat(8))), tv);
      g3 = i32x4.ge_u(mix4(i32x4.add(base, i32x4.splat(12))), tv);
    } else {
      g0 = i32x4.gt_s(v128.and(v128.load(ptr), maskv), tv);
      g1 = i32x4.gt_s(v128.and(v128.load(ptr, 16), maskv), tv);
      g2 = i32x4.gt_s(v128.and(v128.load(ptr, 32), maskv), tv);
      g3 = i32x4.gt_s(v128.and(v128.load(ptr, 48), maskv), tv);
    }
    if (!anyLane(g0, g1, g2, g3)) continue;
    let bits = laneBits(g0, g1, g2, g3);
    do {
      const j = <u32>ctz(bits);
      if (c >= cap) {
        stop = i + j;
        return c;
      }
      store<u32>(outIdx + (<usize>c << 2), i + j);
      store<u32>(outVal + (<usize>c << 2), src == 2 ? mix(i + j + ms) : load<u32>(ptr + (<usize>j << 2)));
      c++;
      bits &= bits - 1;
    } while (bits != 0);
  }
  for (; i < end; i++) {
    const value = src == 2 ? mix(i + ms) : load<u32>(p + (<usize>i << 2));
    if (src == 2 ? value >= <u32>t : <i32>(value & MASK) > t) {
      if (c >= cap) {
        stop = i;
        return c;
      }
      store<u32>(outIdx + (<usize>c << 2), i);
      store<u32>(outVal + (<usize>c << 2), value);
      c++;
    }
  }
  stop = end;
  return c;
}

export function compactAbove(p: usize, start: u32, end: u32, t: i32, outIdx: usize, outVal: usize, cap: u32): u32 {
  return compact(1, p, 0, start, end, t, outIdx, outVal, cap);
}

/** Like compactAbove on the keys randomKey(seed, i) (ms = mix32(seed)): every key >= t (unsigned). */
export function compactRandom(ms: u32, start: u32, end: u32, t: u32, outIdx: usize, outKey: usize, cap: u32): u32 {
  return compact(2, 0, ms, start, end, <i32>t, outIdx, outKey, cap);
}
