/** Experiment files (YAML or JSON) to and from validated experiments; errors name the field, the line and the reason. */
import { LineCounter, parseDocument, stringify, type Document } from 'yaml';
import type { z } from 'zod';
import { experimentSchema, type Experiment } from './experiment';

/** A malformed experiment file: each problem names the field (and line, for YAML) and the reason. */
export class ExperimentFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length === 1 ? problems[0] : `\n  ${problems.join('\n  ')}`}`);
    this.name = 'ExperimentFileError';
  }
}

/** Parses YAML or JSON (JSON is YAML) and validates it; `overrides` are "dotted.path=value" pairs. */
export function parseExperiment(text: string, file: string, overrides: readonly string[] = []): Experiment {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ExperimentFileError(
      file,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`),
    );
  }
  for (const override of overrides) applyOverride(doc, override, file);
  const result = experimentSchema.safeParse(doc.toJS());
  if (!result.success) throw new ExperimentFileError(file, describeIssues(result.error.issues, doc, lines));
  return result.data;
}

function applyOverride(doc: Document, override: string, file: string): void {
  const match = /^([A-Za-z0-9_.]+)=(.*)$/s.exec(override);
  if (!match)
    throw new ExperimentFileError(file, [
      `--set ${override}: expected key=value, e.g. epochs=2 or arms.0.density=0.01`,
    ]);
  const path = match[1]!.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  doc.setIn(path, parseDocument(match[2]!).toJS());
}

function describeIssues(issues: z.core.$ZodIssue[], doc: Document, lines: LineCounter): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String);
    const where = path.length > 0 ? path.join('.') : '(top level)';
    const line = lineOf(doc, issue.path as (string | number)[], lines);
    return `${where}${line ? ` (line ${line})` : ''}: ${issue.message}`;
  });
}

/** The line of the deepest node along the path that came from the file (not from an override). */
function lineOf(doc: Document, path: (string | number)[], lines: LineCounter): number | null {
  for (let depth = path.length; depth >= 1; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return null;
}

/** The experiment as a YAML (default) or JSON file. */
export function serializeExperiment(experiment: unknown, format: 'yaml' | 'json' = 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(experiment, null, 2)}\n` : stringify(experiment);
}
