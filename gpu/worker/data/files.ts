import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
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
  options: { gzip?: boolean } = {},
): DatasetFile {
  const plain = join(folder, name);
  if (existsSync(plain)) return { name, path: plain, bytes: readBytes(plain) };
  const gz = `${plain}.gz`;
  if (options.gzip !== false && existsSync(gz)) {
    const compressed = readBytes(gz);
    let bytes: Uint8Array;
    try {
      bytes = gunzipSync(compressed);
    } catch (error) {
      throw new DatasetError(
        `${name}.gz: not a valid gzip file, or truncated (${(error as Error).message}); path ${gz}`,
        gz,
      );
    }
    return { name: `${name}.gz`, path: gz, bytes };
  }
  const alternatives = options.gzip === false ? '' : ` (nor ${name}.gz)`;
  throw new DatasetError(
    `${dataset}: ${plain} not found${alternatives}; the folder ${folder} should hold ${expected.join(', ')}`,
    plain,
  );
}

function readBytes(path: string): Uint8Array {
  const buffer = readFileSync(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
