import { homedir } from 'node:os';
import { posix, resolve, win32 } from 'node:path';

/** File name of the database inside the data folder. */
export const DB_FILE = 'sparselab.db';
/** Folder of checkpoints inside the data folder: checkpoints/RUN_ID/ITERATION.ckpt. */
export const CHECKPOINTS_DIR = 'checkpoints';

/**
 * The per-user data folder: $SPARSELAB_HOME if set; else $XDG_DATA_HOME/sparselab or ~/.local/share/sparselab
 * (Linux and other Unixes), ~/Library/Application Support/SparseLab (macOS), %APPDATA%\SparseLab (Windows).
 */
export function defaultDataDir(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (env.SPARSELAB_HOME) return resolve(env.SPARSELAB_HOME);
  if (platform === 'win32') return win32.join(env.APPDATA || win32.join(home, 'AppData', 'Roaming'), 'SparseLab');
  if (platform === 'darwin') return posix.join(home, 'Library', 'Application Support', 'SparseLab');
  // XDG: a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME;
  return posix.join(xdg && xdg.startsWith('/') ? xdg : posix.join(home, '.local', 'share'), 'sparselab');
}

/** Checkpoint file name of an iteration; zero-padded so names sort by iteration. */
export function checkpointFileName(iteration: number): string {
  return `${String(iteration).padStart(10, '0')}.ckpt`;
}
