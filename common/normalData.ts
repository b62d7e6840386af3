/**
 * Standard normal float32 data from a seeded generator (Box-Muller over a xorshift stream): the
 * bench's gradient-like data (main/core/bench), and the tests' the same way.
 */
export function normalData(d: number, seed = 1): Float32Array {
  const out = new Float32Array(d);
  let state = (seed * 2654435761) >>> 0 || 1;
  const uniform = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 1) / 4294967297;
  };
  for (let i = 0; i < d; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < d) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}
