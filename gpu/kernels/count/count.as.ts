import { MASK } from '../cpu/wasm/common.as';

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
