import { HIST_BINS, MASK, magnitudesAbove } from '../cpu/wasm/common.as';
import { mix, mix4 } from '../random/random.as';

let greater: u32 = 0;

/** After a select: how many keys are strictly greater than the returned key. */
export function lastGreater(): u32 {
  return greater;
}

// ------------------------------------------------------------------------------------------
// Radix select: the k-th largest key (1 <= k <= n) from a 16-bit histogram of the high half,
// then of the low half within the boundary bin. lastGreater() is the number of keys strictly
// greater than the result. `hist` is scratch for 4 x 65536 u32 (4 sub-histograms break the
// store-to-load dependency when many keys share a bin).

/** Counts one key in bin `bin` of sub-histogram `sub` (of 4, each `stride` bins long). */
// @ts-ignore: decorator
@inline
function bump(hist: usize, stride: u32, sub: u32, bin: u32): void {
  const at = hist + ((<usize>sub * stride + bin) << 2);
  store<u32>(at, load<u32>(at) + 1);
}

/**
 * Finds the bin, of the first `bins` of 4 sub-histograms `stride` bins long, holding the
 * `need`-th largest; `above` keys lie in higher bins. Sets `greater`.
 */
function scanDown(hist: usize, stride: u32, bins: u32, need: u32, above: u32): u32 {
  const step = <usize>stride << 2;
  let cum = above;
  let b: u32 = bins - 1;
  while (true) {
    const at = hist + (<usize>b << 2);
    const c = load<u32>(at) + load<u32>(at + step) + (load<u32>(at + 2 * step) + load<u32>(at + 3 * step));
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
        bump(hist, SMALL_BINS, sub, (key >>> shift) & (bins - 1));
        sub = (sub + 1) & 3;
      }
    }
    const digit = scanDown(hist, SMALL_BINS, bins, k, above);
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
    bump(hist, HIST_BINS, 0, keyAt(src, p, mask, ms, i) >>> 16);
    bump(hist, HIST_BINS, 1, keyAt(src, p, mask, ms, i + 1) >>> 16);
    bump(hist, HIST_BINS, 2, keyAt(src, p, mask, ms, i + 2) >>> 16);
    bump(hist, HIST_BINS, 3, keyAt(src, p, mask, ms, i + 3) >>> 16);
  }
  for (; i < n; i++) bump(hist, HIST_BINS, 0, keyAt(src, p, mask, ms, i) >>> 16);
  const high = scanDown(hist, HIST_BINS, HIST_BINS, k, 0);
  const above = greater;
  clearHist(hist);
  let sub: u32 = 0;
  for (i = 0; i < n; i++) {
    const key = keyAt(src, p, mask, ms, i);
    if (key >>> 16 == high) {
      bump(hist, HIST_BINS, sub, key & 0xffff);
      sub = (sub + 1) & 3;
    }
  }
  const low = scanDown(hist, HIST_BINS, HIST_BINS, k, above);
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
    let bits = magnitudesAbove(ptr, maskv, tv);
    if (bits == 0) continue;
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
