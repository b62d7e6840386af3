// Coordinate-wise kernels (prepended: common.wgsl). Each workgroup covers WG * params.items
// coordinates (or listed indices), strided by WG.

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

@compute @workgroup_size(WG)
fn addInto(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let i = base + j * WG + lid;
    if (i < params.n) {
      dst[i] = addBits(dst[i], source[i]);
    }
  }
}

// dst = source + data (addTo: the sum in a third vector).
@compute @workgroup_size(WG)
fn addTo(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let i = base + j * WG + lid;
    if (i < params.n) {
      dst[i] = addBits(source[i], data[i]);
    }
  }
}

// dst += dst (addInto with the same vector twice: a buffer cannot be bound twice).
@compute @workgroup_size(WG)
fn addSelf(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let i = base + j * WG + lid;
    if (i < params.n) {
      let x = dst[i];
      dst[i] = addBits(x, x);
    }
  }
}

// dst[source[j]] = +0 for the listed indices (out-of-range ones are ignored).
@compute @workgroup_size(WG)
fn zeroAt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let t = base + j * WG + lid;
    if (t < params.count) {
      let i = source[t];
      if (i < params.n) {
        dst[i] = 0u;
      }
    }
  }
}

// dst[j] = data[source[j]] (NaN for out-of-range indices).
@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let g = groupIndex(wid, nwg);
  if (g >= params.numBlocks) {
    return;
  }
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let t = base + j * WG + lid;
    if (t < params.count) {
      let i = source[t];
      dst[t] = select(CANONICAL_NAN, data[i], i < params.n);
    }
  }
}
