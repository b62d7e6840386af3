import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomicFile';

/** File of the drafts inside the data folder. */
export const DRAFTS_FILE = 'drafts.json';

/**
 * Text the user typed that must survive a restart, one JSON object in the data folder. Every save
 * rewrites the file atomically (main/core/atomicFile.ts), so a crash leaves the old file or the new
 * one, never half of one. Saves are serialized.
 */
export class Drafts {
  readonly path: string;
  private readonly values = new Map<string, string>();
  private writing: Promise<void> = Promise.resolve();

  constructor(dataDir: string, warn: (message: string) => void = () => {}) {
    mkdirSync(dataDir, { recursive: true });
    this.path = join(dataDir, DRAFTS_FILE);
    let text: string | null = null;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') warn(`cannot read ${this.path}: ${String(error)}`);
    }
    if (text === null) return;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      for (const [key, value] of Object.entries(parsed)) if (typeof value === 'string') this.values.set(key, value);
    } catch (error) {
      // Keep the unreadable file for the user instead of overwriting it with the next save.
      const aside = `${this.path}.unreadable-${Date.now()}`;
      try {
        renameSync(this.path, aside);
      } catch {
        // Nothing more to do; the next save replaces it.
      }
      warn(`${this.path} is not valid JSON (${(error as Error).message}); moved aside to ${aside}`);
    }
  }

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  set(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    const text = JSON.stringify(Object.fromEntries(this.values), null, 1);
    const write = this.writing.then(() => writeFileAtomically(this.path, [text], 0o600));
    this.writing = write.catch(() => {});
    return write;
  }

  /** Resolves when every save so far is on disk. */
  settled(): Promise<void> {
    return this.writing;
  }
}
