// Equal-width histogram, exact to the float64 reference: the host computes, for each bin b >= 1,
// the smallest float32 (as an order-preserving key) whose reference bin is >= b; the shader counts
// how many edges are <= the element's key (prepended: common.wgsl). NaN and +-Inf go to bins the
// host chose (0xffffffff: not counted).

override SHARED_BINS: u32 = 2048u;

struct Params {
  n: u32,
  numBlocks: u32,
  bins: u32,
  numEdges: u32,
  nanBin: u32,
  negInfBin: u32,
  posInfBin: u32,
  // 1 when finite values are not counted at all (the reference's bin is NaN for them).
  finiteSkip: u32,
  // Elements per thread.
  items: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> edges: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

var<workgroup> wgHist: array<atomic<u32>, SHARED_BINS>;

// Order-preserving map of float bits to u32 (-Inf smallest, +Inf largest).
fn orderedKey(bits: u32) -> u32 {
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

fn binOf(bits: u32) -> u32 {
  if (isNonFinite(bits)) {
    if (isNaNBits(bits)) {
      return params.nanBin;
    }
    return select(params.posInfBin, params.negInfBin, (bits & 0x80000000u) != 0u);
  }
  if (params.finiteSkip != 0u) {
    return 0xffffffffu;
  }
  let key = orderedKey(bits);
  var lo = 0u;
  var hi = params.numEdges;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (edges[mid] <= key) {
      lo = mid + 1u;
    } else {
      hi = mid;
    }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn histogram(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  if (g >= params.numBlocks) { return; }
  let useShared = params.bins <= SHARED_BINS;
  if (useShared) {
    for (var b = lid; b < params.bins; b += WG) {
      atomicStore(&wgHist[b], 0u);
    }
  }
  workgroupBarrier();
  let n = params.n;
  let items = params.items;
  let base = g * WG * items;
  for (var j = 0u; j < items; j++) {
    let i = base + j * WG + lid;
    if (i < n) {
      let bin = binOf(data[i]);
      if (bin < params.bins) {
        if (useShared) {
          atomicAdd(&wgHist[bin], 1u);
        } else {
          atomicAdd(&counts[bin], 1u);
        }
      }
    }
  }
  workgroupBarrier();
  if (useShared) {
    for (var b = lid; b < params.bins; b += WG) {
      let c = atomicLoad(&wgHist[b]);
      if (c != 0u) {
        atomicAdd(&counts[b], c);
      }
    }
  }
}
