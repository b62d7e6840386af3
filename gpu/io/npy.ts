/**
 * Gradient dumps: NumPy .npy (float32, any shape, C order) and raw little-endian float32.
 * Errors name the file and say what was expected, so a researcher can fix the dump.
 */
import { readFileSync } from 'node:fs';

const MAGIC = '\x93NUMPY';

export class GradientFileError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'GradientFileError';
  }
}

export interface LoadedArray {
  data: Float32Array;
  shape: number[];
}

export function readGradientFile(file: string): LoadedArray {
  const bytes = readFileSync(file);
  if (file.endsWith('.npy')) return parseNpy(file, bytes);
  if (bytes.length % 4 !== 0) {
    throw new GradientFileError(file, `raw float32 needs a multiple of 4 bytes, found ${bytes.length}`);
  }
  return { data: alignedFloat32(bytes, 0, bytes.length / 4), shape: [bytes.length / 4] };
}

export function parseNpy(file: string, bytes: Uint8Array): LoadedArray {
  if (bytes.length < 8 || String.fromCharCode(...bytes.subarray(0, 6)) !== MAGIC) {
    throw new GradientFileError(file, 'not a NumPy .npy file (magic string \\x93NUMPY missing)');
  }
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new GradientFileError(file, `unsupported .npy format version ${major}`);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) {
    throw new GradientFileError(
      file,
      `truncated: a version ${major} .npy file needs ${headerStart} bytes before its header, found ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw new GradientFileError(file, 'truncated inside the .npy header');
  const header = new TextDecoder().decode(bytes.subarray(headerStart, dataStart));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!/^\{.*\}\s*$/s.test(header) || descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new GradientFileError(file, `malformed .npy header: ${header.trim()}`);
  }
  if (descr !== '<f4' && descr !== '=f4') {
    throw new GradientFileError(
      file,
      `expected little-endian float32 ('<f4'), found '${descr}'; convert with a.astype(np.float32)`,
    );
  }
  if (fortran === 'True') {
    throw new GradientFileError(file, 'Fortran-ordered arrays are not supported; save np.ascontiguousarray(a)');
  }
  const shape = parseShape(file, shapeText);
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = count * 4;
  if (!Number.isSafeInteger(expected)) {
    throw new GradientFileError(file, `shape (${shape.join(', ')}) is too large to load`);
  }
  const available = bytes.length - dataStart;
  if (available !== expected) {
    throw new GradientFileError(
      file,
      `${available < expected ? 'truncated' : 'trailing bytes'}: shape (${shape.join(', ')}) needs ${expected} bytes of float32 data, found ${available}`,
    );
  }
  return { data: alignedFloat32(bytes, dataStart, count), shape };
}

/** The dimensions of a shape tuple's text ("2, 3" or "4," or ""): each a non-negative integer. */
function parseShape(file: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  // A 1-tuple ends with a comma; any other empty entry is malformed.
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0] === '') return [];
  return parts.map((part) => {
    if (!/^\d+$/.test(part)) {
      throw new GradientFileError(file, `malformed .npy shape (${text}): '${part}' is not a non-negative integer`);
    }
    return Number(part);
  });
}

/** A Float32Array over the bytes, copied only when they are not 4-byte aligned. */
function alignedFloat32(bytes: Uint8Array, start: number, count: number): Float32Array {
  const offset = bytes.byteOffset + start;
  if (offset % 4 === 0) return new Float32Array(bytes.buffer, offset, count);
  return new Float32Array(bytes.slice(start, start + count * 4).buffer);
}

/** Serialises a 1-D array as .npy version 1.0. */
export function encodeNpy(data: Float32Array | Uint32Array | Int32Array): Uint8Array {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Uint32Array ? '<u4' : '<i4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${data.length},), }`;
  // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0)), 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
