/** Argument schemas of the API (common/api.ts): the core checks every call with them before acting. */
import { z } from 'zod';
import { annotationPatchSchema } from './annotations';
import { ApiError, type ApiMethod, type SparseLabApi } from './api';
import { SPARSE_METHODS } from './bench';
import { LOG_LEVELS, RUN_STATUSES } from './metrics';
import { SERIES_COLUMNS } from './records';

const runId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'is not a run id');
const runIds = z.array(runId).max(100, 'at most 100 runs at once');
const draftKey = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'is not a draft key');
const runStatus = z.enum(RUN_STATUSES);
const runFilter = z
  .object({
    experimentId: z.string().max(128).optional(),
    status: z.union([runStatus, z.array(runStatus)]).optional(),
    limit: z.number().int().positive().max(10_000).optional(),
    offset: z.number().int().nonnegative().optional(),
  })
  .strict();
const logOptions = z
  .object({
    rank: z.number().int().nonnegative().nullable().optional(),
    level: z.enum(LOG_LEVELS).optional(),
    afterId: z.number().int().nonnegative().optional(),
    limit: z.number().int().positive().max(10_000).optional(),
    tail: z.number().int().positive().max(10_000).optional(),
  })
  .strict();

/**
 * Argument schemas, one tuple per method. The experiment itself is checked by the core against
 * experimentSchema (its messages name the field), so here it only has to be an object.
 */
export const apiArgs = {
  info: z.tuple([]),
  templates: z.tuple([]),
  launch: z.tuple([z.record(z.string(), z.unknown()), z.string().max(256).optional()]),
  estimate: z.tuple([z.record(z.string(), z.unknown())]),
  experiments: z.tuple([]),
  runs: z.tuple([runFilter.optional()]),
  run: z.tuple([runId]),
  cancelRun: z.tuple([runId]),
  resumeRun: z.tuple([runId]),
  deleteRun: z.tuple([runId]),
  runAnnotations: z.tuple([]),
  annotateRun: z.tuple([runId, annotationPatchSchema]),
  logs: z.tuple([runId, logOptions.optional()]),
  compare: z.tuple([runIds, z.object({ target: z.number().positive().optional() }).strict().optional()]),
  series: z.tuple([
    runIds,
    z
      .object({
        columns: z.array(z.enum(SERIES_COLUMNS)).optional(),
        points: z.number().int().min(2).max(1_000_000).optional(),
      })
      .strict()
      .optional(),
  ]),
  layerNames: z.tuple([runId]),
  layerStats: z.tuple([runId, z.string().max(256).optional()]),
  histograms: z.tuple([runId, z.string().max(256).optional()]),
  exportRun: z.tuple([runId, z.enum(['csv', 'json']), z.enum(['iterations', 'evaluations', 'layerStats']).optional()]),
  workers: z.tuple([]),
  setLocalWorkers: z.tuple([z.number().int().min(0).max(64)]),
  setLocalGpus: z.tuple([z.array(z.number().int().min(0).max(1023)).max(1024).nullable()]),
  bench: z.tuple([
    z
      .object({
        sizes: z.array(z.number().int().positive().max(100_000_000)).min(1).max(16),
        densities: z.array(z.number().positive().max(1)).min(1).max(8),
        backends: z.array(z.enum(['cpu', 'webgpu'])).min(1),
        methods: z.array(z.enum(SPARSE_METHODS)).min(1),
        repeats: z.number().int().positive().max(50),
        peers: z.boolean(),
      })
      .strict(),
  ]),
  benchHistory: z.tuple([]),
  loadDraft: z.tuple([draftKey]),
  saveDraft: z.tuple([draftKey, z.string().max(1_000_000, 'is longer than 1 MB')]),
} satisfies Record<ApiMethod, z.ZodTuple>;

/** Validates a call's arguments; the error names the method, the argument and the reason. */
export function checkArgs<M extends ApiMethod>(method: M, args: unknown): Parameters<SparseLabApi[M]> {
  if (!Object.hasOwn(apiArgs, method)) throw new ApiError(`unknown method ${JSON.stringify(method)}`);
  const result = apiArgs[method].safeParse(args);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? `argument ${issue.path.join('.')}` : 'arguments';
    throw new ApiError(`${method}: ${where} ${issue.message}`);
  }
  return result.data as Parameters<SparseLabApi[M]>;
}
