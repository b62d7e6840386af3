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
