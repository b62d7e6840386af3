// Threshold decisions made on the GPU, so that an operator's selection needs no read-back
// until its result (appended to select.wgsl, whose bindings and State they use).
//
// Gaussian_k: gaussianStart (from moments' result in aux) -> countThresholds -> gaussianWalk.
// DGC_k: gatherSample (into cand), a radix selection of the sample (its state in aux) ->
//        dgcThreshold -> countThresholds -> dgcBranch.
// Both end by setting the selection's K, kRem, floor and done for the tail of select.wgsl.
// The host checks every float decision against its own float64 arithmetic after the read-back
// (deviceSelection.ts) and redoes the selection there on the rare mismatch.

// Float-float arithmetic (value = x + y, |y| <= ulp(x) / 2), about 44 bits: enough to round
// the host's float64 threshold to the same float32 in all but about one case in 2^20.
fn twoSum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  let bb = s - a;
  return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}

fn quickTwoSum(a: f32, b: f32) -> vec2<f32> {
  let s = a + b;
  return vec2<f32>(s, b - (s - a));
}

fn ffAdd(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let s = twoSum(a.x, b.x);
  let t = twoSum(a.y, b.y);
  let u = quickTwoSum(s.x, s.y + t.x);
  return quickTwoSum(u.x, t.y + u.y);
}

fn splitHalves(a: f32) -> vec2<f32> {
  let c = 4097.0 * a;
  let hi = c - (c - a);
  return vec2<f32>(hi, a - hi);
}

fn twoProduct(a: f32, b: f32) -> vec2<f32> {
  let p = a * b;
  let x = splitHalves(a);
  let y = splitHalves(b);
  return vec2<f32>(p, ((x.x * y.x - p) + x.x * y.y + x.y * y.x) + x.y * y.y);
}

fn ffMul(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let p = twoProduct(a.x, b.x);
  return quickTwoSum(p.x, p.y + (a.x * b.y + a.y * b.x));
}

fn ffDiv(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let q1 = a.x / b.x;
  let r = ffAdd(a, -ffMul(b, vec2<f32>(q1, 0.0)));
  let q2 = r.x / b.x;
  let r2 = ffAdd(r, -ffMul(b, vec2<f32>(q2, 0.0)));
  return ffAdd(quickTwoSum(q1, q2), vec2<f32>(r2.x / b.x, 0.0));
}

fn ffSqrt(a: vec2<f32>) -> vec2<f32> {
  if (a.x <= 0.0) {
    return vec2<f32>(0.0);
  }
  let x = sqrt(a.x);
  let r = ffAdd(a, -twoProduct(x, x));
  return quickTwoSum(x, r.x / (2.0 * x));
}

fn ffFromU32(n: u32) -> vec2<f32> {
  let hi = f32(n);
  return vec2<f32>(hi, f32(i32(n) - i32(hi)));
}

// One thread: Gaussian_k's first threshold mu + sigma * z (gaussianThreshold in
// gpu/operators/gaussiank.ts) from moments' per-thread sums, and the two the walk may try next.
@compute @workgroup_size(1)
fn gaussianStart() {
  // aux: moments' Result (moments.wgsl): 4 words, then WG partials of 8 words (s, e, maxKey).
  var top = -100000;
  for (var t = 0u; t < WG; t++) {
    top = max(top, bitcast<i32>(aux[4u + t * 8u + 4u]));
  }
  // Sums scaled by 2^-top (squares by 2^-2 top) so that every term stays in float range.
  var sum = vec2<f32>(0.0);
  var squares = vec2<f32>(0.0);
  for (var t = 0u; t < WG; t++) {
    let base = 4u + t * 8u;
    let e = bitcast<i32>(aux[base + 4u]);
    if (e >= -1000) {
      let scale = pow2(e - top);
      sum = ffAdd(sum, vec2<f32>(bitcast<f32>(aux[base]) * scale, 0.0));
      squares = ffAdd(squares, vec2<f32>(bitcast<f32>(aux[base + 1u]) * scale * scale, 0.0));
    }
  }
  let n = ffFromU32(params.n);
  let mean = ffDiv(sum, n);
  var variance = vec2<f32>(0.0);
  if (params.n > 1u) {
    variance = ffDiv(ffAdd(squares, -ffMul(sum, mean)), ffAdd(n, vec2<f32>(-1.0, 0.0)));
    if (variance.x < 0.0) {
      variance = vec2<f32>(0.0);
    }
  }
  let t = ffAdd(mean, ffMul(ffSqrt(variance), vec2<f32>(params.zHi, params.zLo)));
  // Back to scale, rounded once to float32 (the host's Math.fround).
  let half = pow2(top / 2);
  let start = ((t.x + t.y) * half) * pow2(top - top / 2);
  state.thresholds[0] = bitcast<u32>(start);
  state.thresholds[1] = bitcast<u32>(start * 0.5);
  state.thresholds[2] = bitcast<u32>(start * 1.5);
}

fn thresholdKey(bits: u32) -> i32 {
  if (bitcast<f32>(bits) < 0.0) {
    return -1;
  }
  return i32(magnitudeKey(bits));
}

// How many |u_i| exceed each of state.thresholds[0..params.numThresholds), and (checkFinite)
// the first non-finite coordinate.
@compute @workgroup_size(WG)
fn countThresholds(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  if (g >= params.numBlocks) { return; }
  if (lid < 4u) {
    atomicStore(&wgHist[lid], 0u);
  }
  workgroupBarrier();
  var t = vec4<i32>(0x7fffffff);
  for (var c = 0u; c < params.numThresholds; c++) {
    t[c] = thresholdKey(state.thresholds[c]);
  }
  let n = params.n;
  let base = g * WG * params.items;
  var above = vec4<u32>(0u);
  for (var j = 0u; j < params.items; j++) {
    let i = base + j * WG + lid;
    if (i < n) {
      let bits = data[i];
      if (params.checkFinite != 0u && isNonFinite(bits)) {
        atomicMin(&state.firstNonFinite, i);
      }
      above += select(vec4<u32>(0u), vec4<u32>(1u), vec4<i32>(i32(magnitudeKey(bits))) > t);
    }
  }
  for (var c = 0u; c < 4u; c++) {
    if (above[c] != 0u) {
      atomicAdd(&wgHist[c], above[c]);
    }
  }
  workgroupBarrier();
  if (lid < 4u) {
    let total = atomicLoad(&wgHist[lid]);
    if (total != 0u) {
      atomicAdd(&state.thresholdCounts[lid], total);
    }
  }
}

// The selection of every |u_i| > threshold (bits), as the tail of select.wgsl takes it.
fn selectAbove(bits: u32) {
  let key = thresholdKey(bits);
  state.done = 1u;
  if (key < 0) {
    state.floor = 0u;
    state.K = 0u;
    state.kRem = ALL;
  } else {
    state.floor = u32(key) + 1u;
    state.K = u32(key);
    state.kRem = 0u;
  }
}

// The reference's correction: halve below 2k/3, multiply by 1.5 above 4k/3 (in integers:
// 3 count < 2k, 3 count > 4k); 0xffffffff when the count is in range.
fn corrected(bits: u32, count: u32) -> u32 {
  let k = params.k;
  if (3u * count < 2u * k) {
    return bitcast<u32>(bitcast<f32>(bits) * 0.5);
  }
  if (3u * count > 4u * k) {
    return bitcast<u32>(bitcast<f32>(bits) * 1.5);
  }
  return ALL;
}

// One thread: Gaussian_k's correction walk (walkCorrections, three evaluations at most).
@compute @workgroup_size(1)
fn gaussianWalk() {
  var threshold = state.thresholds[0];
  var slot = 0u;
  for (var evaluation = 1u; evaluation < 3u; evaluation++) {
    let next = corrected(threshold, atomicLoad(&state.thresholdCounts[slot]));
    if (next == ALL) {
      break;
    }
    threshold = next;
    slot = select(2u, 1u, next == state.thresholds[1]);
  }
  state.thresholds[3] = threshold;
  selectAbove(threshold);
}

// DGC_k's sample: the raw bits of u at randomKey(seed, j) mod d for j < sampleSize.
@compute @workgroup_size(WG)
fn gatherSample(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  let base = g * WG * params.items;
  for (var j = 0u; j < params.items; j++) {
    let s = base + j * WG + lid;
    if (s < params.sampleSize) {
      cand[s] = data[randomKeyMixed(params.mixedSeed, s) % params.n];
    }
  }
}

// One thread: DGC_k's threshold, just below the sample's rank-th largest magnitude (the
// sample selection's K in aux), or -1 (admit all) when that is 0 (nextBelow in selectHost.ts).
@compute @workgroup_size(1)
fn dgcThreshold() {
  let sampled = aux[2];
  state.thresholds[0] = select(sampled - 1u, 0xbf800000u, sampled == 0u);
}

// One thread: exact Top_k when more than 4k/3 coordinates exceed the threshold, else those.
@compute @workgroup_size(1)
fn dgcBranch() {
  if (3u * atomicLoad(&state.thresholdCounts[0]) > 4u * params.k) {
    return;
  }
  selectAbove(state.thresholds[0]);
}
