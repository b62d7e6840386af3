// countAbove: for up to 8 thresholds at once, how many |u_i| > t (prepended: common.wgsl).
// Thresholds are magnitude bit patterns as i32; -1 admits everything.

struct Params {
  n: u32,
  numBlocks: u32,
  numThresholds: u32,
  // Elements per thread.
  items: u32,
  thresholds: array<vec4<i32>, 2>,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> result: array<atomic<u32>, 8>;

var<workgroup> wgCounts: array<atomic<u32>, 8>;

@compute @workgroup_size(WG)
fn countAbove(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  if (g >= params.numBlocks) { return; }
  if (lid < 8u) {
    atomicStore(&wgCounts[lid], 0u);
  }
  workgroupBarrier();
  let n = params.n;
  let m = params.numThresholds;
  let items = params.items;
  let base = g * WG * items;
  // Unused threshold slots hold i32 max, which no magnitude key exceeds.
  let t0 = params.thresholds[0];
  let t1 = params.thresholds[1];
  var c0 = vec4<u32>(0u);
  var c1 = vec4<u32>(0u);
  for (var j = 0u; j < items; j++) {
    let i = base + j * WG + lid;
    if (i < n) {
      let key = vec4<i32>(i32(magnitudeKey(data[i])));
      c0 += select(vec4<u32>(0u), vec4<u32>(1u), key > t0);
      c1 += select(vec4<u32>(0u), vec4<u32>(1u), key > t1);
    }
  }
  for (var t = 0u; t < m; t++) {
    var c: u32;
    if (t < 4u) {
      c = c0[t];
    } else {
      c = c1[t - 4u];
    }
    if (c != 0u) {
      atomicAdd(&wgCounts[t], c);
    }
  }
  workgroupBarrier();
  if (lid < m) {
    let total = atomicLoad(&wgCounts[lid]);
    if (total != 0u) {
      atomicAdd(&result[lid], total);
    }
  }
}
