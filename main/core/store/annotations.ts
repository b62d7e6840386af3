import type { AnnotationPatch, RunAnnotation } from '../../../common/annotations';
import type { Db } from './database';

interface Row {
  id: string;
  name: string | null;
  notes: string;
  tags: string;
}

/**
 * Names, notes and tags of runs (table run_annotations, one row per annotated run, removed with
 * its run). Writes are immediate: they are rare and typed by a person.
 */
export class RunAnnotations {
  /** `db` gives the store's database while it is open (and throws once it is closed). */
  constructor(private readonly db: () => Db) {}

  /** Every annotated run's annotation, by run id. */
  all(): Record<string, RunAnnotation> {
    const rows = this.db()
      .stmt(
        'SELECT r.id AS id, a.name AS name, a.notes AS notes, a.tags AS tags FROM run_annotations a JOIN runs r ON r.pk = a.run_pk',
      )
      .all() as Row[];
    return Object.fromEntries(rows.map((r) => [r.id, toAnnotation(r)]));
  }

  get(runId: string): RunAnnotation {
    const row = this.db()
      .stmt(
        'SELECT r.id AS id, a.name AS name, a.notes AS notes, a.tags AS tags FROM run_annotations a JOIN runs r ON r.pk = a.run_pk WHERE r.id = ?',
      )
      .get(runId) as Row | undefined;
    return row ? toAnnotation(row) : { name: null, notes: '', tags: [] };
  }

  /** Changes the fields given; returns the annotation as stored. */
  update(runId: string, patch: AnnotationPatch): RunAnnotation {
    const db = this.db();
    const pk = db.runPk(runId);
    const current = this.get(runId);
    const next: RunAnnotation = {
      name: patch.name === undefined ? current.name : patch.name === null || patch.name === '' ? null : patch.name,
      notes: patch.notes ?? current.notes,
      tags: patch.tags ? [...new Set(patch.tags)] : current.tags,
    };
    db.stmt(
      `INSERT INTO run_annotations (run_pk, name, notes, tags, updated) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_pk) DO UPDATE SET name = excluded.name, notes = excluded.notes, tags = excluded.tags, updated = excluded.updated`,
    ).run(pk, next.name, next.notes, JSON.stringify(next.tags), db.now());
    return next;
  }
}

function toAnnotation(row: Row): RunAnnotation {
  let tags: unknown;
  try {
    tags = JSON.parse(row.tags);
  } catch {
    tags = [];
  }
  return {
    name: row.name,
    notes: row.notes,
    tags: Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [],
  };
}
