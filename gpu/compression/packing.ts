import type { Compressed } from './compressor';

/**
 * One rank's compressed tensors of an iteration as the bytes the communicator sends: per tensor
 * a u32 count, then count u32 indices, then count f32 values. Only these cross the wire; each
 * tensor's length stays local (every rank knows the model).
 */
export function packSparse(tensors: readonly Compressed[]): Uint8Array {
  const sparse = tensors.map((t) => {
    if (t.kind !== 'sparse') throw new Error('packSparse takes sparse tensors; Dense goes through allreduce');
    return t;
  });
  const out = new Uint32Array(sparse.reduce((words, t) => words + 1 + 2 * t.indices.length, 0));
  const asFloat = new Float32Array(out.buffer);
  let at = 0;
  for (const t of sparse) {
    out[at++] = t.indices.length;
    out.set(t.indices, at);
    at += t.indices.length;
    asFloat.set(t.values, at);
    at += t.values.length;
  }
  return new Uint8Array(out.buffer);
}

/** The sender is named: a value another rank sent must not read as this rank's own gradient. */
function nonFinite(source: string, tensor: number, index: number, value: number): string {
  return Number.isFinite(value)
    ? `${source} sent ${value} for tensor ${tensor} index ${index}, and the sum overflowed float32; refused`
    : `${source} sent ${value} for tensor ${tensor} index ${index}; a non-finite value from a rank is refused`;
}

/**
 * Adds one rank's packed tensors into dense sums; checks every count and index against the
 * tensor lengths so a corrupted message is an error, not a silent write out of bounds, and every
 * sum for a value that is not finite or that overflows.
 */
export function accumulatePacked(bytes: Uint8Array, sums: readonly Float32Array[], source: string): void {
  if (bytes.byteLength % 4 !== 0)
    throw new Error(`${source}: ${bytes.byteLength} bytes is not a whole number of words`);
  // Read in place where the bytes are word-aligned; else from a copy (a Node Buffer's slice() would be a view).
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : new Uint8Array(bytes);
  const words = new Uint32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const floats = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  let at = 0;
  for (const [t, sum] of sums.entries()) {
    const count = words[at++];
    if (count === undefined || at + 2 * count > words.length) throw new Error(`${source}: tensor ${t} is truncated`);
    for (let j = 0; j < count; j++) {
      const index = words[at + j]!;
      if (index >= sum.length)
        throw new Error(`${source}: tensor ${t} index ${index} is outside its ${sum.length} coordinates`);
      const value = floats[at + count + j]!;
      sum[index] = sum[index]! + value;
      const total = sum[index]!; // as stored: float32 may overflow where the float64 sum did not
      // NaN - NaN and inf - inf are NaN: one test catches a non-finite value sent and a float32 overflow.
      if (total - total !== 0) throw new Error(nonFinite(source, t, index, value));
    }
    at += 2 * count;
  }
  if (at !== words.length)
    throw new Error(`${source}: ${words.length - at} words left over after ${sums.length} tensors`);
}
