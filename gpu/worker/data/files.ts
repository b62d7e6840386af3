import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { DatasetError } from './errors';

/** Checks that a dataset folder exists, naming the files expected in it when it does not. */
export function requireFolder(dataset: string, folder: string | undefined, expected: readonly string[]): string {
  const list = expected.join(', ');
  if (!folder) throw new DatasetError(`${dataset}: no folder given; it needs a folder holding ${list}`);
  if (!existsSync(folder)) {
    throw new DatasetError(`${dataset}: folder ${folder} does not exist; it should hold ${list}`, folder);
  }
  if (!statSync(folder).isDirectory()) {
    throw new DatasetError(`${dataset}: ${folder} is not a folder; give the folder holding ${list}`, folder);
  }
  return folder;
}

/** The most a gzipped dataset file may inflate to (a million 28x28 images fit). */
export const MAX_INFLATED_BYTES = 1 << 30;

/** Inflated bytes a format's header is read from before the whole file is inflated. */
const HEAD_BYTES = 64;

export interface DatasetFile {
  /** The file's name as found (with .gz when it was compressed), for messages. */
  name: string;
  path: string;
  bytes: Uint8Array;
}

/**
 * Reads `name` from the folder, or `name.gz` (gunzipped) when only that exists.
 * Throws a DatasetError naming the path and the folder's expected files when neither is there.
 */
export function readDatasetFile(
  dataset: string,
  folder: string,
  name: string,
  expected: readonly string[],
  options: {
    gzip?: boolean;
    /** The size the format's header (given the file's first bytes) implies; it caps inflation. */
    sizeFromHeader?: (head: DatasetFile) => number;
  } = {},
): DatasetFile {
  const plain = join(folder, name);
  if (existsSync(plain)) return { name, path: plain, bytes: readBytes(plain) };
  const gz = `${plain}.gz`;
  if (options.gzip !== false && existsSync(gz)) {
    const compressed = readBytes(gz);
    const file = { name: `${name}.gz`, path: gz };
    const implied = options.sizeFromHeader?.({ ...file, bytes: inflate(file, compressed, HEAD_BYTES, true) });
    if (implied !== undefined && implied > MAX_INFLATED_BYTES) {
      throw new DatasetError(
        `${name}.gz: its header declares ${implied} bytes, more than the ${MAX_INFLATED_BYTES} a dataset file may hold; path ${gz}`,
        gz,
      );
    }
    const bytes = inflate(file, compressed, implied ?? MAX_INFLATED_BYTES, false);
    return { name: `${name}.gz`, path: gz, bytes };
  }
  const alternatives = options.gzip === false ? '' : ` (nor ${name}.gz)`;
  throw new DatasetError(
    `${dataset}: ${plain} not found${alternatives}; the folder ${folder} should hold ${expected.join(', ')}`,
    plain,
  );
}

/**
 * Inflates at most `limit` bytes: the head only (a prefix of the output, never an error for more), or
 * the whole file (more than the limit is a DatasetError: a gzip bomb never exhausts the worker's memory).
 */
function inflate(
  file: { name: string; path: string },
  compressed: Uint8Array,
  limit: number,
  head: boolean,
): Uint8Array {
  try {
    if (head) {
      // A prefix of the stream inflates to a prefix of the file; deflate expands at most ~1032x.
      const prefix = compressed.subarray(0, Math.max(4096, limit));
      return gunzipSync(prefix, { finishFlush: zlibConstants.Z_SYNC_FLUSH }).subarray(0, limit);
    }
    return gunzipSync(compressed, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DatasetError(
        `${file.name}: inflates to more than the ${limit} bytes its format allows (a gzip bomb?); path ${file.path}`,
        file.path,
      );
    }
    throw new DatasetError(
      `${file.name}: not a valid gzip file, or truncated (${(error as Error).message}); path ${file.path}`,
      file.path,
    );
  }
}

function readBytes(path: string): Uint8Array {
  const buffer = readFileSync(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
