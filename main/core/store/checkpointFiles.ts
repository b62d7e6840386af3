/** Checkpoint files on disk (not SQLite): written atomically, read back only when intact. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `chunks` to `path` atomically (temporary file, fsync, rename, fsync of the folder), in order without
 * joining them first; returns the size and SHA-256 of what was written.
 */
export async function writeFileAtomically(
  path: string,
  chunks: readonly Uint8Array[],
): Promise<{ bytes: number; sha256: string }> {
  const dir = dirname(path);
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  await mkdir(dir, { recursive: true });
  try {
    const file = await open(tmp, 'w');
    try {
      for (const chunk of chunks) await file.writeFile(chunk); // at the file's position; loops on short writes
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncFolder(dir);
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

/** fsync of a folder, so a rename in it is on disk; not possible on Windows, where it is skipped. */
async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
