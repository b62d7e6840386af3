/**
 * `sparselab import FILE`: records an external run that a training script wrote to a JSON Lines file because no
 * SparseLab core was reachable (common/externalRun.ts). The whole file is validated before anything is recorded;
 * an error names the line and what is wrong with it.
 */
import { readFileSync } from 'node:fs';
import { EXTERNAL_RUN_FILE, externalRunFileHeaderSchema, type ExternalRunSpec } from '../../../common/externalRun';
import { describeIssues, workerMessageSchema, type MetricsBatch, type WorkerMessage } from '../../../common/protocol';
import { ExternalRunRecorder } from '../runtime/externalRuns';
import { openStore } from '../store';

type Line = Extract<WorkerMessage, { type: 'metrics' | 'log' | 'status' }>;

export interface ExternalRunFile {
  spec: ExternalRunSpec;
  lines: Line[];
}

/** Thrown for a file that is not an external run: the message names the file and line. */
export class ImportError extends Error {
  override readonly name = 'ImportError';
}

/** Reads and validates an external run file's text. */
export function parseExternalRunFile(text: string, file: string): ExternalRunFile {
  const rows = text.split('\n');
  if (rows.at(-1) === '') rows.pop();
  const at = (n: number, message: string) => new ImportError(`${file}:${n}: ${message}`);
  const json = (row: string, n: number): unknown => {
    try {
      return JSON.parse(row);
    } catch (e) {
      throw at(n, `not JSON: ${(e as Error).message}`);
    }
  };
  if (rows.length === 0) throw new ImportError(`${file}: empty; expected a '${EXTERNAL_RUN_FILE.format}' file`);
  const header = externalRunFileHeaderSchema.safeParse(json(rows[0]!, 1));
  if (!header.success) {
    throw at(1, `not the first line of a '${EXTERNAL_RUN_FILE.format}' file: ${describeIssues(header.error)}`);
  }
  const lines = rows.map((row, i): Line | null => {
    if (i === 0 || row.trim() === '') return null;
    const parsed = workerMessageSchema.safeParse(json(row, i + 1));
    if (!parsed.success) throw at(i + 1, describeIssues(parsed.error));
    const message = parsed.data;
    if (message.type !== 'metrics' && message.type !== 'log' && message.type !== 'status') {
      throw at(i + 1, `a '${message.type}' message has no place in a run's file (metrics, log or status only)`);
    }
    const runIds = message.type === 'metrics' ? message.records.map((r) => r.runId) : [message.runId];
    const other = runIds.find((id) => id !== EXTERNAL_RUN_FILE.runId && id !== undefined && id !== null);
    if (other !== undefined)
      throw at(i + 1, `record of run "${other}"; this file's records carry "${EXTERNAL_RUN_FILE.runId}"`);
    return message;
  });
  return { spec: header.data.spec, lines: lines.filter((l): l is Line => l !== null) };
}

/** Records the file's run in the store at dataDir; returns a line saying what was recorded. */
export function importExternalRun(dataDir: string | undefined, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ImportError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const { spec, lines } = parseExternalRunFile(text, file);
  const store = openStore(dataDir);
  try {
    const recorder = new ExternalRunRecorder(store);
    const runId = recorder.register(spec, `imported from ${file}`);
    let records = 0;
    let ended = false;
    for (const line of lines) {
      if (line.type === 'metrics') {
        const batch = { kind: line.kind, records: line.records.map((r) => ({ ...r, runId })) } as MetricsBatch;
        recorder.metrics(runId, batch);
        records += batch.records.length;
      } else if (line.type === 'log') {
        recorder.log({
          runId,
          workerId: null,
          rank: 0,
          level: line.level,
          message: line.message,
          time: line.time ?? Date.now(),
        });
      } else if (line.state !== 'started') {
        recorder.status(runId, line.state, line.reason ?? null);
        ended = true;
      }
    }
    if (!ended) recorder.lost(runId, `${file} ends before the run finished (the script stopped early?)`);
    const run = store.getRun(runId);
    return `imported ${file} as run ${runId} (${run.experimentName} / ${run.arm}, ${run.status}): ${records} records`;
  } finally {
    store.close();
  }
}
