/** What a researcher writes about a run: a name, notes and tags. Shown in legends, tables and exports. */
import { z } from 'zod';

export interface RunAnnotation {
  /** Shown instead of the arm and seed; null: none given. */
  name: string | null;
  notes: string;
  tags: string[];
}

const tag = z
  .string()
  .trim()
  .min(1, 'is empty')
  .max(40, 'is longer than 40 characters')
  .regex(/^[^,\s][^,]*$/, 'may not contain a comma');

/** A change to a run's annotation: only the fields given change; a name of '' or null clears it. */
export const annotationPatchSchema = z
  .object({
    name: z.string().trim().max(120, 'is longer than 120 characters').nullable().optional(),
    notes: z.string().max(20_000, 'is longer than 20,000 characters').optional(),
    tags: z.array(tag).max(20, 'at most 20 tags').optional(),
  })
  .strict();
export type AnnotationPatch = z.infer<typeof annotationPatchSchema>;

/** Tags typed as one line: "baseline, lr 0.03" -> ["baseline", "lr 0.03"] (empty parts and repeats dropped). */
export function parseTags(text: string): string[] {
  return [
    ...new Set(
      text
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t.length > 0),
    ),
  ];
}
