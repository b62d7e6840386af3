// Counter-based randomness, bit-identical to gpu/kernels/random.ts (u32 arithmetic wraps mod 2^32).
// mix32 is Chris Wellons' "lowbias32" (public domain).

fn mix32(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn randomKey(seed: u32, index: u32) -> u32 {
  return mix32(index + mix32(seed));
}

// randomKey with mix32(seed) already computed.
fn randomKeyMixed(mixedSeed: u32, index: u32) -> u32 {
  return mix32(index + mixedSeed);
}
