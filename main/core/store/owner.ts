/**
 * One process owns a data folder at a time: the one that trains (the app, `serve`, `run`, `resume`) marks
 * runs it finds running as interrupted and drives the rest, so a second one would take runs from under the
 * first. The owner holds `sparselab.lock` (pid, host, address); a lock whose process is gone is taken over.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

export const LOCK_FILE = 'sparselab.lock';

export interface DataFolderOwner {
  pid: number;
  host: string;
  /** What the owner is: "app", "serve", "run", "resume". */
  role: string;
  /** Where to reach it (its hub, its page), once it listens. */
  address: string | null;
  /** Epoch ms. */
  since: number;
}

export class DataFolderBusyError extends Error {
  override name = 'DataFolderBusyError';
  constructor(
    readonly dataDir: string,
    readonly owner: DataFolderOwner,
  ) {
    const where = owner.address ? `, ${owner.address}` : '';
    super(
      `the data folder ${dataDir} is in use by another SparseLab (${owner.role}, pid ${owner.pid} on ${owner.host}` +
        `${where}, since ${new Date(owner.since).toISOString()}); use that one, stop it, or choose another ` +
        `--data-dir. If that process is gone, delete ${join(dataDir, LOCK_FILE)}`,
    );
  }
}

/** Locks this process holds, by folder: released on release() or, at the latest, when the process exits. */
const held = new Map<string, DataFolderOwner>();
let exitHook = false;

/** Takes the folder for this process, or throws DataFolderBusyError naming the live owner. */
export function claimDataFolder(dataDir: string, role: string): void {
  const dir = resolve(dataDir);
  mkdirSync(dir, { recursive: true });
  const owner: DataFolderOwner = { pid: process.pid, host: hostname(), role, address: null, since: Date.now() };
  const lock = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    if (held.has(dir)) throw new DataFolderBusyError(dir, held.get(dir)!);
    const temporary = `${lock}.${process.pid}.${Date.now()}`;
    writeFileSync(temporary, JSON.stringify(owner));
    try {
      // A hard link either creates the lock whole or fails: no reader sees it half written.
      linkSync(temporary, lock);
      held.set(dir, owner);
      if (!exitHook) {
        exitHook = true;
        process.once('exit', () => [...held.keys()].forEach(releaseDataFolder));
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temporary, { force: true });
    }
    const current = readOwner(lock);
    if (current && !isGone(current)) throw new DataFolderBusyError(dir, current);
    rmSync(lock, { force: true });
  }
  throw new Error(`could not take the data folder ${dir}: another process took it meanwhile`);
}

/** Records where the owner can be reached (shown to a process that finds the folder taken). */
export function describeDataFolderOwner(dataDir: string, address: string): void {
  const dir = resolve(dataDir);
  const owner = held.get(dir);
  if (!owner) return;
  owner.address = address;
  const lock = join(dir, LOCK_FILE);
  writeFileSync(`${lock}.new`, JSON.stringify(owner));
  renameSync(`${lock}.new`, lock);
}

export function releaseDataFolder(dataDir: string): void {
  const dir = resolve(dataDir);
  if (!held.delete(dir)) return;
  const lock = join(dir, LOCK_FILE);
  const current = readOwner(lock);
  if (current?.pid === process.pid && current.host === hostname()) rmSync(lock, { force: true });
}

function readOwner(lock: string): DataFolderOwner | null {
  try {
    const owner = JSON.parse(readFileSync(lock, 'utf8')) as Partial<DataFolderOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return null;
    return {
      pid: owner.pid,
      host: owner.host,
      role: typeof owner.role === 'string' ? owner.role : 'SparseLab',
      address: typeof owner.address === 'string' ? owner.address : null,
      since: typeof owner.since === 'number' ? owner.since : 0,
    };
  } catch {
    // Unreadable or not ours: a lock no live SparseLab stands behind.
    return null;
  }
}

/** On this host, a pid that no longer exists; on another host the owner cannot be checked and is kept. */
function isGone(owner: DataFolderOwner): boolean {
  if (owner.host !== hostname()) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
