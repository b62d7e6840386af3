import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpy, parseNpy, readGradientFile } from '../../gpu/io/npy';

/** A .npy file as NumPy writes it, with any header and payload. */
function npyBytes(header: string, payload: Uint8Array, major = 1): Uint8Array {
  const padded = header + ' '.repeat(63 - ((header.length + (major === 1 ? 10 : 12)) % 64)) + '\n';
  const prefix = major === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + padded.length + payload.length);
  out.set([0x93, 78, 85, 77, 80, 89, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded.length, true);
  else view.setUint32(8, padded.length, true);
  out.set(new TextEncoder().encode(padded), prefix);
  out.set(payload, prefix + padded.length);
  return out;
}

const floats = (...xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);

describe('.npy gradient dumps', () => {
  it('reads float32 arrays of any shape in C order, versions 1 and 2', () => {
    for (const major of [1, 2]) {
      const bytes = npyBytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        floats(1, 2, 3, 4, 5, 6),
        major,
      );
      const { data, shape } = parseNpy('g.npy', bytes);
      expect(shape).toEqual([2, 3]);
      expect(Array.from(data)).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('round-trips what it writes (float32 values, uint32 indices)', () => {
    const values = Float32Array.from([0.5, -1.25, 3e-8]);
    expect(Array.from(parseNpy('v.npy', encodeNpy(values)).data)).toEqual(Array.from(values));
    const header = new TextDecoder().decode(encodeNpy(Uint32Array.of(1, 7)).subarray(10, 74));
    expect(header).toContain("'descr': '<u4'");
    // NumPy aligns the data to 64 bytes.
    expect((encodeNpy(values).length - values.byteLength) % 64).toBe(0);
  });

  it('names the file and the problem for truncated, mistyped and foreign files', () => {
    const truncated = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", floats(1, 2, 3));
    expect(() => parseNpy('grad.npy', truncated)).toThrow(
      /grad\.npy: truncated: shape \(4\) needs 16 bytes of float32 data, found 12/,
    );
    const doubles = npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8));
    expect(() => parseNpy('grad.npy', doubles)).toThrow(
      /grad\.npy: expected little-endian float32 \('<f4'\), found '<f8'/,
    );
    const fortran = npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", floats(1));
    expect(() => parseNpy('grad.npy', fortran)).toThrow(/Fortran-ordered/);
    expect(() => parseNpy('grad.npy', new TextEncoder().encode('hello world'))).toThrow(/not a NumPy \.npy file/);
  });

  it('refuses every malformed header and stray bytes, naming the file and the problem', () => {
    const withShape = (shape: string, payload = floats(1, 2)) =>
      npyBytes(`{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`, payload);
    expect(() => parseNpy('g.npy', withShape('(-4, -4)'))).toThrow(
      /g\.npy: malformed \.npy shape \(-4, -4\): '-4' is not a non-negative integer/,
    );
    expect(() => parseNpy('g.npy', withShape('(2.5,)'))).toThrow(/g\.npy: malformed .*'2\.5' is not a non-negative/);
    expect(() => parseNpy('g.npy', withShape('(-1,)'))).toThrow(/g\.npy: malformed .*'-1'/);
    expect(() => parseNpy('g.npy', withShape('(2,,)'))).toThrow(/g\.npy: malformed .*'' is not/);
    expect(() => parseNpy('g.npy', withShape('(99999999999999999999,)'))).toThrow(/g\.npy: shape .* too large/);
    expect(() => parseNpy('g.npy', withShape('(1,)'))).toThrow(
      /g\.npy: trailing bytes: shape \(1\) needs 4 bytes of float32 data, found 8/,
    );
    const version2 = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", floats(1, 2), 2);
    expect(() => parseNpy('g.npy', version2.subarray(0, 10))).toThrow(
      /g\.npy: truncated: a version 2 \.npy file needs 12 bytes before its header, found 10/,
    );
    const notADict = npyBytes("'descr': '<f4', 'fortran_order': False, 'shape': (2,)", floats(1, 2));
    expect(() => parseNpy('g.npy', notADict)).toThrow(/g\.npy: malformed \.npy header/);
    // a 0-d array holds one value
    expect(Array.from(parseNpy('g.npy', withShape('()', floats(7))).data)).toEqual([7]);
  });

  it('reads raw little-endian float32 and refuses a length that is not a multiple of 4', () => {
    const folder = mkdtempSync(join(tmpdir(), 'sparselab-npy-'));
    writeFileSync(join(folder, 'g.f32'), floats(1, -2));
    expect(Array.from(readGradientFile(join(folder, 'g.f32')).data)).toEqual([1, -2]);
    writeFileSync(join(folder, 'bad.f32'), new Uint8Array(7));
    expect(() => readGradientFile(join(folder, 'bad.f32'))).toThrow(
      /bad\.f32: raw float32 needs a multiple of 4 bytes, found 7/,
    );
  });
});
