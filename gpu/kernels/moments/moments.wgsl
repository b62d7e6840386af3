// Power sums in one pass over the data, as a workgroup tree reduction.
// MODE 0 (moments): sum u, sum u^2, sum |u|, max |u| (on bits), first non-finite index (atomicMin).
// MODE 1 (centralMoments): sums of c^2, c^3, c^4 with c = (u - meanHi) - meanLo, non-finite flags.
//
// Each workgroup scales its terms by 2^-e, e the exponent of its largest |term|, so nothing
// overflows float32 (u^2 of 1e20, c^4 of 1e10) and subnormals are decoded from bits. Partials carry
// their e; finishMoments brings a workgroup's share of partials to a common exponent per thread, and
// the host adds the WG per-thread results in float64.

// 0: moments; 1: central moments. An override, not a uniform: SwiftShader evaluates both sides of
// a uniform branch inside the element loop, which doubled the cost of mode 0.
override MODE: u32 = 0u;

struct Params {
  n: u32,
  numBlocks: u32,
  meanHi: f32,
  meanLo: f32,
  pad: u32,
  // Elements per thread.
  items: u32,
  pad0: u32,
  pad1: u32,
}

struct Partial {
  s: vec4<f32>,
  e: i32,
  maxKey: u32,
  pad0: u32,
  pad1: u32,
}

struct Result {
  // Lowest index of a NaN/Inf (MODE 0), 0xffffffff when none.
  firstNonFinite: atomic<u32>,
  // MODE 1: bit 0 NaN term, bit 1 +Inf term, bit 2 -Inf term.
  flags: atomic<u32>,
  pad0: u32,
  pad1: u32,
  threads: array<Partial>,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> partials: array<Partial>;
@group(0) @binding(3) var<storage, read_write> result: Result;

var<workgroup> wgMax: atomic<u32>;
var<workgroup> wgSums: array<vec4<f32>, WG>;

// The term at i: u_i, or c_i in MODE 1 (Inf/NaN cases decided on bits, as in IEEE), as
// (float bits, extra exponent): a c_i that overflows float32 is returned halved, with extra 1.
fn term(i: u32) -> vec2<u32> {
  let bits = data[i];
  if (MODE == 0u) {
    return vec2<u32>(bits, 0u);
  }
  let c = centered(bits);
  if (isNonFinite(c) && !isNonFinite(bits) && !isNonFinite(bitcast<u32>(params.meanHi))) {
    let x = bitcast<f32>(bits);
    return vec2<u32>(bitcast<u32>((x * 0.5 - params.meanHi * 0.5) - params.meanLo * 0.5), 1u);
  }
  return vec2<u32>(c, 0u);
}

// Bits of (u - meanHi) - meanLo in IEEE float32 arithmetic (MODE 1), exact even where the GPU
// flushes subnormals, with IEEE Inf/NaN rules.
fn centered(bits: u32) -> u32 {
  let negHi = bitcast<u32>(params.meanHi) ^ 0x80000000u;
  let negLo = bitcast<u32>(params.meanLo) ^ 0x80000000u;
  return addBits(addBits(bits, negHi), negLo);
}

fn noteNonFinite(i: u32, bits: u32) {
  if (MODE == 0u) {
    atomicMin(&result.firstNonFinite, i);
  } else if (isNaNBits(bits)) {
    atomicOr(&result.flags, 1u);
  } else if ((bits & 0x80000000u) == 0u) {
    atomicOr(&result.flags, 2u);
  } else {
    atomicOr(&result.flags, 4u);
  }
}

@compute @workgroup_size(WG)
fn blockMoments(wg: Workgroup, @builtin(local_invocation_index) lid: u32) {
  let g = blockOf(wg);
  if (g >= params.numBlocks) { return; }
  let n = params.n;
  let items = params.items;
  let base = g * WG * items;
  if (lid == 0u) {
    atomicStore(&wgMax, 0u);
  }
  workgroupBarrier();

  // One pass: each thread keeps its sums scaled by 2^-te, te the exponent of its largest |term|
  // so far, rescaling them on the rare terms that raise it (key >= nextKey). m is the largest
  // magnitude key; with an extra exponent, the key's exponent field is raised by it. Terms are
  // added in chunks of 16, and the chunks Kahan-compensated, since a thread may sum thousands of
  // terms when blocks are large.
  var m = 0u;
  var te = -126;
  var nextKey = u32(te + 128) << 23u;
  // 2^-te as two factors, each a normal float.
  var scaleA = pow2(-(te / 2));
  var scaleB = pow2(-(te - te / 2));
  var s = vec4<f32>(0.0);
  var comp = vec4<f32>(0.0);
  var chunk = vec4<f32>(0.0);
  for (var j = 0u; j < items; j++) {
    let i = base + j * WG + lid;
    if (i < n) {
      let t = term(i);
      let bits = t.x;
      if (isNonFinite(bits)) {
        noteNonFinite(i, bits);
      } else {
        let key = magnitudeKey(bits) + (t.y << 23u);
        m = max(m, key);
        if (key >= nextKey) {
          let ex = exponentOf(key);
          let r = rescale(te - ex);
          s *= r;
          comp *= r;
          chunk *= r;
          te = ex;
          nextKey = u32(te + 128) << 23u;
          scaleA = pow2(-(te / 2));
          scaleB = pow2(-(te - te / 2));
        }
        var y: f32;
        if (((bits & 0x7f800000u) == 0u && (bits & 0x7fffffu) != 0u) || t.y != 0u) {
          // Subnormal (the GPU may flush it) or halved: decode from bits.
          y = scaledValue(bits, te - i32(t.y));
        } else {
          y = bitcast<f32>(bits) * scaleA * scaleB;
        }
        if (MODE == 0u) {
          chunk += vec4<f32>(y, y * y, abs(y), 0.0);
        } else {
          let y2 = y * y;
          chunk += vec4<f32>(y2, y2 * y, y2 * y2, 0.0);
        }
      }
    }
    if ((j & 15u) == 15u || j + 1u == items) {
      let corrected = chunk - comp;
      let next = s + corrected;
      comp = (next - s) - corrected;
      s = next;
      chunk = vec4<f32>(0.0);
    }
  }
  atomicMax(&wgMax, m);
  workgroupBarrier();
  let maxKey = atomicLoad(&wgMax);
  let e = exponentOf(maxKey);
  s *= rescale(te - e);
  wgSums[lid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      wgSums[lid] += wgSums[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partials[g] = Partial(wgSums[0], e, maxKey, 0u, 0u);
  }
}

// Powers of 2^(e_p - E) for the three sums of the mode.
fn rescale(d: i32) -> vec4<f32> {
  if (MODE == 0u) {
    return vec4<f32>(pow2(d), pow2(2 * d), pow2(d), 0.0);
  }
  return vec4<f32>(pow2(2 * d), pow2(3 * d), pow2(4 * d), 0.0);
}

// One workgroup: thread t combines partials t, t + WG, ... at their largest exponent.
@compute @workgroup_size(WG)
fn finishMoments(@builtin(local_invocation_index) lid: u32) {
  let count = params.numBlocks;
  var top = -100000;
  var maxKey = 0u;
  for (var p = lid; p < count; p += WG) {
    top = max(top, partials[p].e);
    maxKey = max(maxKey, partials[p].maxKey);
  }
  var s = vec4<f32>(0.0);
  for (var p = lid; p < count; p += WG) {
    let part = partials[p];
    s += part.s * rescale(part.e - top);
  }
  result.threads[lid] = Partial(s, top, maxKey, 0u, 0u);
}
