/** Files replaced whole: after a crash the old file or the new one is there, never part of one. */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `chunks` to `path` atomically: a temporary file beside it written in order (the chunks are not joined
 * first), fsync, rename over `path`, then fsync of the folder so that the rename is on disk too. `mode` is the
 * new file's permissions.
 */
export async function writeFileAtomically(
  path: string,
  chunks: readonly (Uint8Array | string)[],
  mode = 0o666,
): Promise<void> {
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await open(temporary, 'w', mode);
    try {
      for (const chunk of chunks) await file.writeFile(chunk); // at the file's position; loops on short writes
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncFolder(dirname(path));
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
