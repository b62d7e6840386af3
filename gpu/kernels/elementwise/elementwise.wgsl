// Coordinate-wise kernels (prepended: common.wgsl), one entry point specialised by OP. Each
// workgroup covers WG * params.items coordinates (or listed indices), strided by WG.
//   0 addInto: dst += source          1 addSelf: dst += dst (a buffer cannot be bound twice)
//   2 addTo:   dst = source + data    3 zeroAt:  dst[source[t]] = +0 (out-of-range ignored)
//   4 gather:  dst[t] = data[source[t]] (NaN out of range)
override OP: u32 = 0u;

struct Params {
  // Vector length.
  n: u32,
  // Number of listed indices (zeroAt, gather).
  count: u32,
  numBlocks: u32,
  // Elements (or listed indices) per thread.
  items: u32,
}

@group(0) @binding(0) var<storage, read_write> dst: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> source: array<u32>;
@group(0) @binding(3) var<storage, read> data: array<u32>;

fn apply(t: u32) {
  switch OP {
    case 0u: {
      dst[t] = addBits(dst[t], source[t]);
    }
    case 1u: {
      let x = dst[t];
      dst[t] = addBits(x, x);
    }
    case 2u: {
      dst[t] = addBits(source[t], data[t]);
    }
    case 3u: {
      let i = source[t];
      if (i < params.n) {
        dst[i] = 0u;
      }
    }
    default: {
      let i = source[t];
      dst[t] = select(CANONICAL_NAN, data[i], i < params.n);
    }
  }
}

@compute @workgroup_size(WG)
fn elementwise(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  if (g >= params.numBlocks) { return; }
  // Coordinates for the additions, listed indices for zeroAt and gather.
  let end = select(params.n, params.count, OP >= 3u);
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let t = base + j * WG + lid;
    if (t < end) {
      apply(t);
    }
  }
}
