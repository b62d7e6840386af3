import { DatasetError } from './errors';
import type { DatasetFile } from './files';

/** IDX magic numbers of unsigned-byte files (the format of MNIST and Fashion-MNIST). */
export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export interface IdxArray {
  dims: number[];
  /** The payload: prod(dims) unsigned bytes, a view into the file's bytes. */
  data: Uint8Array;
}

/**
 * Parses an unsigned-byte IDX file (big-endian magic 0x0000080N, then N big-endian uint32 sizes,
 * then the bytes). `magic` is 2051 for images (3 dims) and 2049 for labels (1 dim); `shape` fixes
 * the sizes after the first (e.g. [28, 28]). Every mismatch is a DatasetError naming the file.
 */
export function parseIdx(file: DatasetFile, magic: number, shape: readonly number[] = []): IdxArray {
  const { name, bytes } = file;
  const { dims, headerBytes, totalBytes } = parseIdxHeader(file, magic, shape);
  if (bytes.length !== totalBytes) {
    throw new DatasetError(
      `${name}: ${totalBytes} bytes expected (header ${headerBytes} + ${dims.join(' x ')}), found ${bytes.length}`,
      file.path,
    );
  }
  return { dims, data: bytes.subarray(headerBytes, totalBytes) };
}

/**
 * The header's sizes and the file size they imply; `file.bytes` may hold only the file's first bytes
 * (a gzipped file's size is checked against it before it is inflated).
 */
export function parseIdxHeader(
  file: DatasetFile,
  magic: number,
  shape: readonly number[] = [],
): { dims: number[]; headerBytes: number; totalBytes: number } {
  const { name, bytes } = file;
  const rank = magic & 0xff;
  if (bytes.length < 4) {
    throw new DatasetError(`${name}: magic ${magic} expected, found only ${bytes.length} bytes`, file.path);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0, false);
  if (found !== magic) {
    throw new DatasetError(`${name}: magic ${magic} expected, found ${found}${describeMagic(found)}`, file.path);
  }
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new DatasetError(
      `${name}: ${headerBytes} header bytes expected (magic and ${rank} sizes), found ${bytes.length}`,
      file.path,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const inner = dims.slice(1);
  if (shape.length > 0 && (inner.length !== shape.length || inner.some((d, i) => d !== shape[i]))) {
    throw new DatasetError(
      `${name}: items of ${shape.join('x')} expected, found ${inner.join('x') || 'scalars'}`,
      file.path,
    );
  }
  return { dims, headerBytes, totalBytes: headerBytes + dims.reduce((a, b) => a * b, 1) };
}

function describeMagic(found: number): string {
  if (found === IDX_IMAGES_MAGIC) return ' (an images file)';
  if (found === IDX_LABELS_MAGIC) return ' (a labels file)';
  if (found >>> 16 === 0x1f8b) {
    return ' (a gzip file: name it with .gz)';
  }
  return '';
}
