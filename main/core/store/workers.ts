/** Workers seen by the hub, kept across restarts. */
import type { WorkerRow, WorkerSeen } from '../../../common/runs';
import type { Db } from './database';

/** A worker connected or reported in: first seen is kept, the rest updated. */
export function workerSeen(db: Db, worker: WorkerSeen): void {
  const now = db.now();
  db.stmt(
    `INSERT INTO workers (id, host, capabilities, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET host = excluded.host, capabilities = excluded.capabilities,
     last_seen = excluded.last_seen`,
  ).run(worker.id, worker.host, JSON.stringify(worker.capabilities ?? null), now, now);
}

/** Most recently seen first. */
export function listWorkers(db: Db): WorkerRow[] {
  const rows = db.stmt('SELECT * FROM workers ORDER BY last_seen DESC, id').all() as {
    id: string;
    host: string;
    capabilities: string;
    first_seen: number;
    last_seen: number;
  }[];
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    capabilities: JSON.parse(r.capabilities) as unknown,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
  }));
}
