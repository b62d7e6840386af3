/**
 * The designer's text tab: YAML or JSON text to an object (with problems that name their line) and back.
 * Editing the form rewrites only the nodes that changed, so the file's comments and layout survive.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Document } from 'yaml';
import type { z } from 'zod';
import { experimentSchema } from '../../../common/experiment';

export type TextFormat = 'yaml' | 'json';

export interface TextProblem {
  /** 1-based line, when known. */
  line: number | null;
  /** "arms.0.density (line 9): must be at most 1", as the CLI words it. */
  message: string;
  /** Dotted field path ('' for syntax errors or the top level). */
  path: string;
}

export interface ParsedText {
  /** The parsed object; null when the text does not parse (syntax errors). */
  value: unknown;
  /** Syntax errors: the text does not parse, the form keeps what it had. */
  syntax: TextProblem[];
  /** Schema problems of the parsed object, with their lines. */
  schema: TextProblem[];
}

/** Parses YAML or JSON (JSON is YAML) and validates it against the experiment schema. */
export function parseText(text: string): ParsedText {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    return {
      value: null,
      syntax: doc.errors.map((e) => {
        // An unclosed [ or { is noticed where the next block starts: report the line that opened it.
        const unclosed = /^Flow (sequence|mapping)\b/.test(e.message) ? unclosedBefore(text, e.pos[0]) : null;
        const at = unclosed ?? e.pos?.[0];
        const line = at !== undefined ? lines.linePos(at).line : (e.linePos?.[0]?.line ?? null);
        const message =
          unclosed !== null
            ? `this ${text[unclosed]} is never closed (with ${text[unclosed] === '[' ? ']' : '}'})`
            : e.message.split('\n')[0];
        return { line, path: '', message: `line ${line ?? '?'}: ${message}` };
      }),
      schema: [],
    };
  }
  const value: unknown = doc.toJS() ?? {};
  const result = experimentSchema.safeParse(value);
  return { value, syntax: [], schema: result.success ? [] : describe(result.error.issues, doc, lines) };
}

/** A field's path as the form numbers its rows: "arms.1.density" is "arm 2 density" (the table counts from 1). */
export function describePath(path: string): string {
  if (path === '') return '(top level)';
  return path.replace(/^arms\.(\d+)(\.|$)/, (_, n: string, dot: string) => `arm ${Number(n) + 1}${dot ? ' ' : ''}`);
}

/** Offset of the last [ or { before `end` that is not closed before it (outside quotes and comments), or null. */
export function unclosedBefore(text: string, end: number): number | null {
  const open: number[] = [];
  let quote: string | null = null;
  for (let i = 0; i < end && i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote && text[i - 1] !== '\\') quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') while (i + 1 < end && text[i + 1] !== '\n') i++;
    else if (c === '[' || c === '{') open.push(i);
    else if (c === ']' || c === '}') open.pop();
  }
  return open.length > 0 ? open[open.length - 1]! : null;
}

function describe(issues: z.core.$ZodIssue[], doc: Document, lines: LineCounter): TextProblem[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const line = lineOf(doc, issue.path as (string | number)[], lines);
    return {
      line,
      path,
      message: `${describePath(path)}${line ? ` (line ${line})` : ''}: ${issue.message}`,
    };
  });
}

function lineOf(doc: Document, path: (string | number)[], lines: LineCounter): number | null {
  for (let depth = path.length; depth >= 1; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return null;
}

/** Which format a file's text is in (by its name, else by its first character). */
export function formatOf(text: string, fileName = ''): TextFormat {
  if (/\.json$/i.test(fileName)) return 'json';
  if (/\.ya?ml$/i.test(fileName)) return 'yaml';
  return text.trimStart().startsWith('{') ? 'json' : 'yaml';
}

export function serialize(value: unknown, format: TextFormat): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The text for `value`, starting from `previous`: in YAML only the nodes whose values changed are
 * rewritten (comments, flow style and key order of the rest stay); JSON, or text that does not parse, is
 * written afresh.
 */
export function updateText(previous: string, value: unknown, format: TextFormat): string {
  if (format === 'json') return serialize(value, 'json');
  const doc = parseDocument(previous);
  if (doc.errors.length > 0 || !isMap(doc.contents)) return serialize(value, 'yaml');
  apply(doc, [], doc.toJS(), value);
  // Numeric lists the way people (and prettier) write them: [0.015625, 0.004], not [ 0.015625, 0.004 ].
  return doc.toString({ lineWidth: 0 }).replace(/^(\s*[A-Za-z]\w*: )\[ ([-+\d.eE, ]*) \]$/gm, '$1[$2]');
}

function apply(doc: Document, path: (string | number)[], before: unknown, after: unknown): void {
  if (same(before, after)) return;
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  const plainObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isMap(node) && plainObject(before) && plainObject(after)) {
    for (const key of Object.keys(before)) if (!(key in after)) doc.deleteIn([...path, key]);
    for (const [key, v] of Object.entries(after)) {
      if (key in before) apply(doc, [...path, key], before[key], v);
      else doc.setIn([...path, key], v);
    }
    return;
  }
  if (isSeq(node) && Array.isArray(before) && Array.isArray(after)) {
    const common = Math.min(before.length, after.length);
    for (let i = 0; i < common; i++) apply(doc, [...path, i], before[i], after[i]);
    for (let i = before.length - 1; i >= after.length; i--) doc.deleteIn([...path, i]);
    for (let i = before.length; i < after.length; i++) {
      const item = doc.createNode(after[i]);
      // A new item looks like its neighbours: { method: topk, density: 0.001 } stays one line.
      const last = node.items[node.items.length - 1];
      if ((isMap(last) || isSeq(last)) && last.flow && (isMap(item) || isSeq(item))) item.flow = true;
      node.items.push(item);
    }
    return;
  }
  if (isScalar(node) && (typeof after !== 'object' || after === null)) {
    node.value = after;
    return;
  }
  doc.setIn(path, after);
}
