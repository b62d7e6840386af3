// Helpers shared by every SparseLab kernel module (prepended to each module's source).
// Vectors are bound as array<u32>: float32 bit patterns, so no value is ever canonicalized or
// flushed on the way through, and magnitudes compare as integers.

// Threads per workgroup. Each module's params.items gives the elements per thread, chosen by the
// host per call: a workgroup (block) covers WG * items consecutive coordinates.
override WG: u32 = 256u;

// A data pass's workgroup in its dispatch: an entry-point parameter (uniform across the workgroup,
// which the barriers after `if (g >= ...) { return; }` need; the thread index stays apart).
struct Workgroup {
  @builtin(workgroup_id) id: vec3<u32>,
  @builtin(num_workgroups) count: vec3<u32>,
}

// Linear workgroup index (the block) under a 2-D dispatch (x up to 65535 workgroups, then rows of y).
fn blockOf(wg: Workgroup) -> u32 {
  return wg.id.x + wg.id.y * wg.count.x;
}

// |x| as the float32 bit pattern with the sign cleared: orders magnitudes as unsigned integers.
fn magnitudeKey(bits: u32) -> u32 {
  return bits & 0x7fffffffu;
}

fn isNonFinite(bits: u32) -> bool {
  return (bits & 0x7f800000u) == 0x7f800000u;
}

fn isNaNBits(bits: u32) -> bool {
  return (bits & 0x7fffffffu) > 0x7f800000u;
}

// 2^k for k <= 127 built from bits (no exp2 approximation); 0 below the normal range.
fn pow2(k: i32) -> f32 {
  if (k < -126) {
    return 0.0;
  }
  return bitcast<f32>(u32(k + 127) << 23u);
}

// Unbiased exponent of a non-negative finite magnitude key; subnormals and 0 count as -126.
fn exponentOf(key: u32) -> i32 {
  return max(i32(key >> 23u), 1) - 127;
}

// The float x (given by its bits) times 2^-e, decoded from the bits so subnormal inputs count
// even where the GPU flushes them; terms below 2^-126 after scaling are dropped (negligible in
// sums whose largest term is about 1).
fn scaledValue(bits: u32, e: i32) -> f32 {
  let ex = (bits >> 23u) & 0xffu;
  let mantissa = bits & 0x7fffffu;
  let significand = select(mantissa | 0x800000u, mantissa, ex == 0u);
  let k = max(i32(ex), 1) - 150 - e;
  let v = f32(significand) * pow2(k);
  return select(v, -v, (bits & 0x80000000u) != 0u);
}

const CANONICAL_NAN: u32 = 0x7fc00000u;

// a * 2^32 for |a| < 2^-95 (exponent field < 32), exact, decoded from bits so subnormals count.
fn upscaled(a: u32) -> f32 {
  let ex = (a >> 23u) & 0xffu;
  let mantissa = a & 0x7fffffu;
  let significand = select(mantissa | 0x800000u, mantissa, ex == 0u);
  let v = f32(significand) * pow2(max(i32(ex), 1) - 118);
  return select(v, -v, (a & 0x80000000u) != 0u);
}

// Inverse of upscaled for a correctly rounded sum of two upscaled values.
fn downscaled(s: f32) -> u32 {
  let bits = bitcast<u32>(s);
  let sign = bits & 0x80000000u;
  let mag = abs(s);
  if (mag < 0x1p-94f) {
    // A subnormal (or zero) result: an exact multiple of 2^-117 below 2^-94.
    return sign | u32(mag * 0x1p117f);
  }
  return bitcast<u32>(s * 0x1p-32f);
}

// IEEE float32 a + b, round to nearest even, on bit patterns: exact even where the GPU flushes
// subnormals, and with JavaScript's Inf/NaN rules (NaN results are the canonical quiet NaN).
fn addBits(a: u32, b: u32) -> u32 {
  let ea = (a >> 23u) & 0xffu;
  let eb = (b >> 23u) & 0xffu;
  if (ea == 0xffu || eb == 0xffu) {
    if (isNaNBits(a) || isNaNBits(b)) {
      return CANONICAL_NAN;
    }
    if (ea == 0xffu && eb == 0xffu) {
      return select(CANONICAL_NAN, a, a == b);
    }
    return select(b, a, ea == 0xffu);
  }
  if (ea < 32u && eb < 32u) {
    // Both tiny: add at 2^32 scale, where every operand and subnormal result is a normal float.
    return downscaled(upscaled(a) + upscaled(b));
  }
  // The larger operand is >= 2^-95: a subnormal other operand is below half its ulp, so flushing
  // it changes nothing, and the result is normal (or overflows to Inf).
  let r = bitcast<u32>(bitcast<f32>(a) + bitcast<f32>(b));
  return select(r, CANONICAL_NAN, isNaNBits(r));
}
