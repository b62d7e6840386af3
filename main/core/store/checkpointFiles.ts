/** Checkpoint files on disk (not SQLite): written atomically, read back only when intact. */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomically } from '../atomicFile';

/** Writes `chunks` to `path` atomically, creating its folder; returns the size and SHA-256 of what was written. */
export async function writeCheckpointFile(
  path: string,
  chunks: readonly Uint8Array[],
): Promise<{ bytes: number; sha256: string }> {
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomically(path, chunks);
  return {
    bytes: chunks.reduce((n, chunk) => n + chunk.byteLength, 0),
    sha256: chunks.reduce((hash, chunk) => hash.update(chunk), createHash('sha256')).digest('hex'),
  };
}

/** The file's bytes if it is there with the recorded size and SHA-256; else why not. */
export async function readIntactFile(
  path: string,
  expected: { bytes: number; sha256: string },
): Promise<Uint8Array | 'missing' | 'damaged'> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch {
    return 'missing';
  }
  if (data.byteLength !== expected.bytes || createHash('sha256').update(data).digest('hex') !== expected.sha256)
    return 'damaged';
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
