/** A run's checkpoints: files under DATA/checkpoints/RUN_ID (checkpointFiles.ts) and their rows, which say what is intact. */
import { rmSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointInfo, LoadedCheckpoint } from '../../../common/runs';
import { readIntactFile, writeCheckpointFile } from './checkpointFiles';
import { checkId, type Db } from './database';
import { StoreError } from './errors';
import { checkpointFileName } from './paths';

export class Checkpoints {
  constructor(
    private readonly db: Db,
    /** DATA/checkpoints. */
    readonly root: string,
    /** Checkpoints kept per run (0 = all). */
    private readonly kept: number,
    private readonly onError: (error: Error) => void,
  ) {}

  /** DATA/checkpoints/RUN_ID (not created until a checkpoint is written). */
  dir(runId: string): string {
    checkId('run', runId);
    return join(this.root, runId);
  }

  path(runId: string, iteration: number): string {
    return join(this.dir(runId), checkpointFileName(iteration));
  }

  /** Writes the file atomically, then its row; keeps the newest `kept` of the run. See Store.writeCheckpoint. */
  async write(runId: string, iteration: number, content: Uint8Array | readonly Uint8Array[]): Promise<CheckpointInfo> {
    const pk = this.db.runPk(runId);
    if (!Number.isSafeInteger(iteration) || iteration < 0)
      throw new StoreError(`checkpoint iteration must be a non-negative integer, got ${iteration}`, 'BAD_ARGUMENT');
    const path = this.path(runId, iteration);
    const written = await writeCheckpointFile(path, content instanceof Uint8Array ? [content] : content);
    const info: CheckpointInfo = { iteration, path, ...written, created: this.db.now() };
    this.db.assertOpen();
    let doomed: { iteration: number; path: string }[] = [];
    this.db.durable(() => {
      this.db
        .stmt(
          'INSERT OR REPLACE INTO checkpoints (run_pk, iteration, path, bytes, sha256, created) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(pk, iteration, path, info.bytes, info.sha256, info.created);
      if (this.kept > 0) {
        doomed = this.db
          .stmt('SELECT iteration, path FROM checkpoints WHERE run_pk = ? ORDER BY iteration DESC LIMIT -1 OFFSET ?')
          .all(pk, this.kept) as { iteration: number; path: string }[];
        for (const d of doomed)
          this.db.stmt('DELETE FROM checkpoints WHERE run_pk = ? AND iteration = ?').run(pk, d.iteration);
      }
    });
    for (const d of doomed) if (d.path !== path) await unlink(d.path).catch(() => undefined);
    return info;
  }

  /** The newest checkpoint whose file is intact; an older one where the newest is missing or damaged; else null. */
  async latest(runId: string): Promise<LoadedCheckpoint | null> {
    for (const c of this.list(runId).reverse()) {
      const bytes = await readIntactFile(c.path, c);
      if (typeof bytes === 'string') {
        this.onError(new StoreError(`checkpoint ${c.path} of run "${runId}" is ${bytes}`, 'CHECKPOINT'));
        continue;
      }
      return { iteration: c.iteration, bytes, path: c.path };
    }
    return null;
  }

  /** The run's checkpoints, oldest first. */
  list(runId: string): CheckpointInfo[] {
    const pk = this.db.runPk(runId);
    return this.db
      .stmt('SELECT iteration, path, bytes, sha256, created FROM checkpoints WHERE run_pk = ? ORDER BY iteration')
      .all(pk) as CheckpointInfo[];
  }

  /** Files of checkpoints after `iteration`, before their rows are deleted. */
  pathsAfter(pk: number, iteration: number): string[] {
    return (
      this.db.stmt('SELECT path FROM checkpoints WHERE run_pk = ? AND iteration > ?').all(pk, iteration) as {
        path: string;
      }[]
    ).map((r) => r.path);
  }

  /** Removes a run's checkpoint folder. */
  removeFolder(runId: string): void {
    rmSync(this.dir(runId), { recursive: true, force: true });
  }
}
